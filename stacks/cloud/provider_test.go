package cloud_test

import (
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/cost"
	"github.com/nextflow-crm/nfx/internal/model"
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
		}
		cfg, ds := model.Load("cloud", raw(values), model.LoadOptions{})
		if ds.HasErrors() {
			t.Fatal(ds)
		}
		e, err := cost.Compute(cfg, &res.Plan, cost.VND)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range e.Unpriced {
			if strings.HasPrefix(u.Type, "aws:") {
				t.Errorf("%s plans %s (%s), which nfx neither prices nor knows to be free: %s", name, u.Type, u.Name, u.Reason)
			}
		}
	}
	for _, tok := range []string{aws.Cluster, aws.NodeGroup, aws.NATGateway, aws.EIP, aws.SecurityGroup,
		aws.DBInstance, aws.DBParameterGroup, aws.CacheGroup, aws.Bucket, aws.BucketVersioning,
		aws.BucketEncryption, aws.BucketLifecycle, aws.MetricAlarm, aws.KMSKey, aws.RolePolicy, aws.RolePolicyAttachment, aws.BucketReplication} {
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
