package cloud_test

import (
	"net"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/cost"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/stacks/cloud"
)

// The second region's resources all go to its own provider, tagged with
// the region, and nothing else does: a standby resource created in the
// primary's region would share its outages, unseen. The replica is the
// primary's, encrypted with the standby's key, single-AZ, private, in
// subnets of the standby's VPC that route nowhere; the backups replicate
// there, encrypted with that key, without their deletions.
func TestStandbyRegion(t *testing.T) {
	res, _ := run(t, standbyValues)
	const region, provider = "ap-southeast-1", "nextflow-standby-aws"
	var named, onProvider int
	for _, r := range res.Plan.Resources {
		if r.Type == "pulumi:providers:aws" {
			if r.Name != provider || r.Inputs["region"] != region {
				t.Errorf("AWS provider %s in %v", r.Name, r.Inputs["region"])
			}
			continue
		}
		// Named for the standby, on its provider, and tagged with its
		// region where the type takes tags: all three or none.
		isNamed := strings.HasPrefix(r.Name, "nextflow-standby-")
		tags, hasTags := r.Inputs["tags"].(map[string]any)
		if isNamed != (r.Provider == provider) || (hasTags && (tags[cloud.RegionTag] == region) != isNamed) {
			t.Errorf("%s %s: provider %q, region tag %v", r.Type, r.Name, r.Provider, tags[cloud.RegionTag])
		}
		if isNamed {
			named++
		}
		if r.Provider == provider {
			onProvider++
		}
	}
	if named < 12 || onProvider != named {
		t.Errorf("%d resources named for the standby region, %d on its provider", named, onProvider)
	}
	var replica map[string]any
	for _, db := range byType(res, "aws:rds/instance:Instance") {
		if db.Provider == provider {
			replica = db.Inputs
		}
	}
	if replica == nil {
		t.Fatal("no database in the standby region")
	}
	for k, want := range map[string]any{"storageEncrypted": true, "multiAz": false, "publiclyAccessible": false, "deletionProtection": true, "instanceClass": "db.r6g.large"} {
		if replica[k] != want {
			t.Errorf("standby replica: %s = %v, want %v", k, replica[k], want)
		}
	}
	for _, k := range []string{"replicateSourceDb", "kmsKeyId", "dbSubnetGroupName", "parameterGroupName"} {
		if replica[k] == nil {
			t.Errorf("standby replica: no %s", k)
		}
	}
	for _, k := range []string{"password", "username", "engine", "allocatedStorage"} {
		if replica[k] != nil {
			t.Errorf("standby replica sets %s, which a replica takes from its source", k)
		}
	}
	_, vpc, _ := net.ParseCIDR("10.41.0.0/16")
	subnets := 0
	for _, sn := range byType(res, "aws:ec2/subnet:Subnet") {
		if sn.Provider != provider {
			continue
		}
		subnets++
		ip, _, err := net.ParseCIDR(sn.Inputs["cidrBlock"].(string))
		if err != nil || !vpc.Contains(ip) {
			t.Errorf("standby subnet %s outside the standby's VPC", sn.Inputs["cidrBlock"])
		}
	}
	if subnets != 2 {
		t.Errorf("%d standby subnets; an RDS subnet group takes two zones", subnets)
	}
	for _, typ := range []string{"aws:ec2/internetGateway:InternetGateway", "aws:ec2/natGateway:NatGateway", "aws:eks/cluster:Cluster", "aws:ec2/routeTable:RouteTable"} {
		for _, r := range byType(res, typ) {
			if r.Provider == provider {
				t.Errorf("the standby region has a %s (%s)", typ, r.Name)
			}
		}
	}
	for _, sg := range byType(res, "aws:ec2/securityGroup:SecurityGroup") {
		if sg.Provider == provider && sg.Inputs["ingress"] != nil {
			t.Errorf("the standby's security group admits %v", sg.Inputs["ingress"])
		}
	}
	reps := byType(res, "aws:s3/bucketReplicationConfig:BucketReplicationConfig")
	if len(reps) != 1 || reps[0].Provider != "" {
		t.Fatalf("replication configs: %v (want one, on the primary's bucket, in its region)", reps)
	}
	rules, _ := reps[0].Inputs["rules"].([]any)
	if len(rules) != 1 {
		t.Fatalf("replication rules: %v", reps[0].Inputs["rules"])
	}
	rule := rules[0].(map[string]any)
	dest, _ := rule["destination"].(map[string]any)
	enc, _ := dest["encryptionConfiguration"].(map[string]any)
	ssec, _ := rule["sourceSelectionCriteria"].(map[string]any)
	kmsObjs, _ := ssec["sseKmsEncryptedObjects"].(map[string]any)
	dm, _ := rule["deleteMarkerReplication"].(map[string]any)
	if rule["status"] != "Enabled" || rule["filter"] == nil || dm["status"] != "Disabled" || kmsObjs["status"] != "Enabled" || enc["replicaKmsKeyId"] == nil || dest["bucket"] == nil {
		t.Errorf("replication rule: %v", rule)
	}
	for _, role := range byType(res, "aws:iam/role:Role") {
		if strings.HasSuffix(role.Name, "backups-replication") && !strings.Contains(role.Inputs["assumeRolePolicy"].(string), `"s3.amazonaws.com"`) {
			t.Errorf("the replication role trusts %v", role.Inputs["assumeRolePolicy"])
		}
	}
}

// The standby is priced at its own region's prices, line by line; where
// nfx has no prices for the region, its priced resources are listed
// unpriced, by name, and its free ones are not.
func TestStandbyCost(t *testing.T) {
	for _, c := range []struct {
		region   string
		priced   bool
		dbPerMon float64
	}{{"ap-southeast-1", true, 0.287 * 730}, {"us-west-2", false, 0}} {
		values := map[string]string{"cloud": `{"standbyRegion": "` + c.region + `"}`}
		res, _ := run(t, values)
		cfg, ds := model.Load("cloud", raw(values), model.LoadOptions{})
		if ds.HasErrors() {
			t.Fatal(ds)
		}
		e, err := cost.Compute(cfg, &res.Plan, cost.USD)
		if err != nil {
			t.Fatal(err)
		}
		lines := map[string]float64{}
		for _, l := range e.Lines {
			lines[l.Item] = l.Monthly
		}
		got := lines["database nextflow-standby-postgres"]
		if c.priced && (got < c.dbPerMon-0.01 || got > c.dbPerMon+0.01) {
			t.Errorf("%s: the standby database costs %v a month, want %v (single-AZ at the region's price)", c.region, got, c.dbPerMon)
		}
		// A month's new backups cross: 500 GB kept 90 days.
		if got, want := lines["backup replication to the standby"], 500*30.0/90*0.02; got < want-0.01 || got > want+0.01 { // lines are to the cent
			t.Errorf("%s: backup replication %v, want %v", c.region, got, want)
		}
		var unpriced []string
		for _, u := range e.Unpriced {
			unpriced = append(unpriced, u.Name)
		}
		want := []string{"nextflow-standby-backups", "nextflow-standby-key", "nextflow-standby-postgres"}
		if c.priced {
			want = nil
		}
		if strings.Join(unpriced, ",") != strings.Join(want, ",") {
			t.Errorf("%s: unpriced %v, want %v", c.region, unpriced, want)
		}
	}
}
