package cloud

import (
	"encoding/json"
	"testing"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
)

// The alert watches the CronJob the stage renders.
func TestBackupJobIsTheOneTheAlertWatches(t *testing.T) {
	if BackupJob != monitoring.BackupCronJob(model.PartQdrant) || Namespace != monitoring.CronJobNamespace {
		t.Fatalf("the job is %s/%s, the alert watches %s/%s", Namespace, BackupJob, monitoring.CronJobNamespace, monitoring.BackupCronJob(model.PartQdrant))
	}
}

func TestCronSchedule(t *testing.T) {
	for in, want := range map[string]string{"03:00": "0 3 * * *", "23:59": "59 23 * * *", "00:05": "5 0 * * *", "7:30": "30 7 * * *"} {
		if got, err := CronSchedule(in); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "24:00", "12:60", "-1:00", "noon", "12"} {
		if got, err := CronSchedule(bad); err == nil {
			t.Errorf("%q: accepted as %q", bad, got)
		}
	}
}

// The backup role may touch the bucket's qdrant/ prefix only: not the
// other objects a user keeps there, not another bucket, not the bucket's
// settings.
func TestBackupPolicyIsLimitedToItsPrefix(t *testing.T) {
	doc, err := backupPolicy("arn:aws:s3:::nextflow-cloud-backups-0a1b", "", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Statement []struct {
			Effect    string
			Resource  string
			Action    []string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	for _, st := range p.Statement {
		switch st.Resource {
		case "arn:aws:s3:::nextflow-cloud-backups-0a1b/qdrant/*":
		case "arn:aws:s3:::nextflow-cloud-backups-0a1b":
			if len(st.Action) != 1 || st.Action[0] != "s3:ListBucket" || st.Condition["StringLike"]["s3:prefix"] != "qdrant/*" {
				t.Errorf("on the bucket itself: %v %v", st.Action, st.Condition)
			}
		default:
			t.Errorf("the role reaches %s", st.Resource)
		}
		for _, a := range st.Action {
			if a == "s3:*" || a == "*" || a == "s3:PutBucketPolicy" || a == "s3:DeleteBucket" || a == "s3:PutLifecycleConfiguration" {
				t.Errorf("the role may %s", a)
			}
		}
	}
}

// In the standby region the role also decrypts the replicated backups with
// the standby's key, through S3 in that region only, and nothing more.
func TestBackupPolicyDecryptsTheReplicas(t *testing.T) {
	const key = "arn:aws:kms:ap-southeast-1:111122223333:key/0a1b"
	doc, err := backupPolicy("arn:aws:s3:::nextflow-cloud-backups-0a1b", key, "ap-southeast-1")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Statement []struct {
			Resource  string
			Action    []string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	var onKey int
	for _, st := range p.Statement {
		if st.Resource != key {
			continue
		}
		onKey++
		if len(st.Action) != 1 || st.Action[0] != "kms:Decrypt" || st.Condition["StringEquals"]["kms:ViaService"] != "s3.ap-southeast-1.amazonaws.com" {
			t.Errorf("on the standby's key: %v %v", st.Action, st.Condition)
		}
	}
	if onKey != 1 || len(p.Statement) != 3 {
		t.Errorf("%d statements, %d on the key: %s", len(p.Statement), onKey, doc)
	}
}

// The job asks every peer of the StatefulSet, through its headless service.
func TestBackupAsksEveryPeer(t *testing.T) {
	cfg, ds := model.Load("cloud", model.Raw{Values: map[string]string{}, Secret: map[string]bool{}}, model.LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	app := model.Build(cfg)
	vec, _ := app.Part(model.PartQdrant)
	want := "http://qdrant-0.qdrant-headless.nextflow.svc.cluster.local:6333 http://qdrant-1.qdrant-headless.nextflow.svc.cluster.local:6333 http://qdrant-2.qdrant-headless.nextflow.svc.cluster.local:6333"
	if got := cloudQdrantURLs(app, vec); got != want {
		t.Errorf("peers %q, want %q", got, want)
	}
	// 3 peers of 50 GB holding 2 copies: 75 GB of shards, twice (a
	// restore's archive and what it unpacks), and a part.
	if got := backupScratchGB(app, vec); got != 151 {
		t.Errorf("scratch %d GB, want 151", got)
	}
}
