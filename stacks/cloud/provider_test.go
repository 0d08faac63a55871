package cloud_test

import (
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/provider/aws"
)

// The AWS facts nfx reads plans with are spelt as the program's SDK writes
// them: every resource token the cost, the compliance report and the
// promotion gates match on is one some variant of the cloud stage plans,
// and every AWS type any variant plans is priced or known to be free.
func TestProviderTokensMatchThePlan(t *testing.T) {
	planned := map[string]bool{}
	all := map[string]map[string]string{"alarm e-mail": {"cloud": `{"alarmEmail": "ops@nextflow.example"}`}}
	for name, values := range variants {
		all[name] = values
	}
	for name, values := range all {
		res, _ := run(t, values)
		for _, r := range res.Plan.Resources {
			planned[r.Type] = true
			if !strings.HasPrefix(r.Type, "aws:") {
				continue
			}
			if _, free := aws.Free[r.Type]; !free && !priced[r.Type] {
				t.Errorf("%s plans %s, which is neither priced nor in aws.Free", name, r.Type)
			}
		}
	}
	for _, tok := range []string{aws.Cluster, aws.NodeGroup, aws.NATGateway, aws.EIP, aws.SecurityGroup,
		aws.DBInstance, aws.DBParameterGroup, aws.CacheGroup, aws.Bucket, aws.BucketVersioning,
		aws.BucketEncryption, aws.BucketLifecycle, aws.MetricAlarm, aws.KMSKey, aws.RolePolicy, aws.RolePolicyAttachment} {
		if !planned[tok] {
			t.Errorf("%s is in internal/provider/aws but no variant of the cloud stage plans it: a misspelt token matches nothing", tok)
		}
	}
	for tok := range aws.Free {
		if !planned[tok] {
			t.Errorf("aws.Free lists %s, which no variant plans", tok)
		}
	}
}

// priced are the AWS types internal/cost prices from aws.Prices.
var priced = map[string]bool{aws.Cluster: true, aws.NodeGroup: true, aws.NATGateway: true, aws.EIP: true,
	aws.DBInstance: true, aws.CacheGroup: true, aws.Bucket: true, aws.MetricAlarm: true, aws.KMSKey: true}
