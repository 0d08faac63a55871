package cloud

import (
	"regexp"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/model"
	_ "github.com/nextflow-crm/nfx/internal/testutil"
)

func TestSubnetPlan(t *testing.T) {
	s, err := SubnetPlan("10.40.0.0/16", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := "10.40.0.0/19 10.40.32.0/19 10.40.64.0/19 | 10.40.192.0/22 10.40.196.0/22 10.40.200.0/22"
	if got := strings.Join(s.Private, " ") + " | " + strings.Join(s.Public, " "); got != want {
		t.Errorf("got %s", got)
	}
	if NatGateways(model.CloudConfig{AvailabilityZones: 3, SingleNat: true}) != 1 || NatGateways(model.CloudConfig{AvailabilityZones: 3}) != 3 {
		t.Error("NAT gateway count")
	}
}

// Pulumi's stack names take dots, underscores, capitals and 100
// characters; EKS cluster names and S3 bucket prefixes do not.
func TestStackNamesMakeValidAWSNames(t *testing.T) {
	cluster := regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9_-]*$`)
	bucket := regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*-$`)
	long := strings.Repeat("Very.Long_Stack-", 7)[:100]
	seen := map[string]string{}
	for _, stack := range []string{"cloud", "prod", "Prod.EU_1", "prod-eu-1", "prod.eu.1", "-lead", "a--b", "x", long, long[:99] + "Z", "ümlaut", "..."} {
		c, b := ClusterName(stack), BucketPrefix(stack)
		if !cluster.MatchString(c) || len(c) > 100 {
			t.Errorf("%q: cluster name %q breaks EKS's rules", stack, c)
		}
		if !bucket.MatchString(b) || len(b) > 37 || strings.Contains(b, "--") {
			t.Errorf("%q: bucket prefix %q breaks S3's rules", stack, b)
		}
		if prev, dup := seen[c]; dup {
			t.Errorf("stacks %q and %q share the cluster name %q", prev, stack, c)
		}
		seen[c] = stack
	}
	// A stack whose name AWS takes keeps the names it always had.
	if ClusterName("cloud") != "nextflow-cloud" || BucketPrefix("cloud") != "nextflow-cloud-backups-" {
		t.Errorf("names of the cloud stack moved: %s, %s", ClusterName("cloud"), BucketPrefix("cloud"))
	}
}
