package cloud

import (
	"encoding/json"
	"strings"
	"testing"
)

// The replication role reads only the source's versions and writes only
// replicas into the destination, and uses each region's key only through
// S3 in that region, for that bucket's objects.
func TestReplicationPolicy(t *testing.T) {
	src, dst, key := "arn:aws:s3:::nextflow-cloud-backups-a", "arn:aws:s3:::nextflow-cloud-backups-b", "arn:aws:kms:ap-southeast-1:123456789012:key/k"
	doc, err := replicationPolicy(src, dst, key, "us-east-1", "ap-southeast-1")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Statement []struct {
			Resource  string
			Action    any
			Condition map[string]map[string]any
		}
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	byResource := map[string]string{}
	for _, s := range p.Statement {
		acts, _ := json.Marshal(s.Action)
		if strings.Contains(string(acts), "*") {
			t.Errorf("a wildcard action: %s", acts)
		}
		byResource[s.Resource] += string(acts)
		if strings.Contains(string(acts), "kms:") {
			via, _ := s.Condition["StringLike"]["kms:ViaService"].(string)
			ctx, _ := s.Condition["StringLike"]["kms:EncryptionContext:aws:s3:arn"].([]any)
			// The bucket's ARN (S3 Bucket Keys) and its objects'.
			if !strings.HasPrefix(via, "s3.") || len(ctx) != 2 || !strings.HasSuffix(ctx[1].(string), "/*") || ctx[0].(string)+"/*" != ctx[1] {
				t.Errorf("%s: conditions %v", acts, s.Condition)
			}
		}
	}
	// Each key through S3 in its own region: swapped, S3 could not use them.
	for _, st := range p.Statement {
		via, _ := st.Condition["StringLike"]["kms:ViaService"].(string)
		switch st.Resource {
		case "*":
			if via != "s3.us-east-1.amazonaws.com" {
				t.Errorf("the source's objects are decrypted through %q", via)
			}
		case key:
			if via != "s3.ap-southeast-1.amazonaws.com" {
				t.Errorf("the standby's key is used through %q", via)
			}
		}
	}
	for res, want := range map[string]string{src: "s3:GetReplicationConfiguration", src + "/*": "s3:GetObjectVersionForReplication", dst + "/*": "s3:ReplicateObject", key: "kms:Encrypt", "*": "kms:Decrypt"} {
		if !strings.Contains(byResource[res], want) {
			t.Errorf("%s: %q, want %s", res, byResource[res], want)
		}
	}
	if strings.Contains(byResource[dst+"/*"], "Get") || strings.Contains(byResource[src+"/*"], "Replicate") {
		t.Errorf("reads the destination or writes the source: %v", byResource)
	}
}
