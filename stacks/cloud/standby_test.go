package cloud_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/nextflow-crm/nfx/internal/cost"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/offline"
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
	for _, typ := range []string{"aws:ec2/internetGateway:InternetGateway", "aws:ec2/natGateway:NatGateway", "aws:eks/cluster:Cluster"} {
		for _, r := range byType(res, typ) {
			if r.Provider == provider {
				t.Errorf("the standby region has a %s (%s)", typ, r.Name)
			}
		}
	}
	checkPeering(t, res, provider)
	checkNames(t, res)
	// The standby's alarms are its region's, notify its region's topic,
	// and watch it, not the primary.
	alarms := 0
	for _, a := range byType(res, "aws:cloudwatch/metricAlarm:MetricAlarm") {
		if a.Provider != provider {
			continue
		}
		alarms++
		if fmt.Sprint(a.Inputs["alarmActions"]) != fmt.Sprint(a.Inputs["okActions"]) || a.Inputs["namespace"] != "AWS/RDS" {
			t.Errorf("standby alarm %s: %v", a.Name, a.Inputs)
		}
	}
	if alarms != 4 || len(byType(res, "aws:sns/topic:Topic")) != 2 {
		t.Errorf("%d standby alarms, %d topics; want the database's 4 and a topic in each region", alarms, len(byType(res, "aws:sns/topic:Topic")))
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
		want := []string{"nextflow-standby-alarm-postgres-connections", "nextflow-standby-alarm-postgres-cpu", "nextflow-standby-alarm-postgres-memory",
			"nextflow-standby-alarm-postgres-storage", "nextflow-standby-backups", "nextflow-standby-key", "nextflow-standby-postgres"}
		if c.priced {
			want = nil
		}
		if strings.Join(unpriced, ",") != strings.Join(want, ",") {
			t.Errorf("%s: unpriced %v, want %v", c.region, unpriced, want)
		}
	}
}

// checkPeering: the regions' VPCs are peered, requested from the primary's
// region and accepted in the standby's (AWS's rule for peering across
// regions); the standby's subnets route only to the primary's VPC, through
// the peering, and the primary's private subnets (the nodes') route the
// standby's range through it; the standby's database admits PostgreSQL
// from those subnets only.
func checkPeering(t *testing.T, res *offline.Result, provider string) {
	t.Helper()
	pcx := byType(res, "aws:ec2/vpcPeeringConnection:VpcPeeringConnection")
	acc := byType(res, "aws:ec2/vpcPeeringConnectionAccepter:VpcPeeringConnectionAccepter")
	if len(pcx) != 1 || pcx[0].Provider != "" || pcx[0].Inputs["peerRegion"] != "ap-southeast-1" || pcx[0].Inputs["autoAccept"] != nil {
		t.Fatalf("peering requests: %v (want one, from the primary's region, naming the standby's, not accepting itself)", pcx)
	}
	if len(acc) != 1 || acc[0].Provider != provider || acc[0].Inputs["autoAccept"] != true {
		t.Fatalf("peering accepters: %v (want one, in the standby's region, accepting)", acc)
	}
	plan, err := cloud.SubnetPlan("10.40.0.0/16", 3)
	if err != nil {
		t.Fatal(err)
	}
	var standbyTables, peered int
	for _, rt := range byType(res, "aws:ec2/routeTable:RouteTable") {
		routes, _ := rt.Inputs["routes"].([]any)
		for _, r := range routes {
			m := r.(map[string]any)
			if m["vpcPeeringConnectionId"] == nil {
				if rt.Provider == provider {
					t.Errorf("the standby's route table %s routes %v elsewhere than through the peering", rt.Name, m["cidrBlock"])
				}
				continue
			}
			want := "10.41.0.0/16"
			if rt.Provider == provider {
				want = "10.40.0.0/16"
			} else {
				peered++
			}
			if m["cidrBlock"] != want {
				t.Errorf("%s routes %v through the peering, want %s", rt.Name, m["cidrBlock"], want)
			}
		}
		if rt.Provider == provider {
			standbyTables++
		}
	}
	if standbyTables != 1 || peered != 3 {
		t.Errorf("%d standby route tables, %d of the primary's routing to the standby; want 1 and the 3 private ones", standbyTables, peered)
	}
	for _, sg := range byType(res, "aws:ec2/securityGroup:SecurityGroup") {
		if sg.Provider != provider {
			continue
		}
		in, _ := sg.Inputs["ingress"].([]any)
		if len(in) != 1 {
			t.Fatalf("the standby's security group admits %v", sg.Inputs["ingress"])
		}
		rule := in[0].(map[string]any)
		if rule["fromPort"] != float64(model.PostgresPort) || rule["toPort"] != float64(model.PostgresPort) || fmt.Sprint(rule["cidrBlocks"]) != fmt.Sprint(plan.Private) {
			t.Errorf("the standby's security group admits %v, want PostgreSQL from %v", rule, plan.Private)
		}
	}
}

// promotedValues are standbyValues once `nfx failover` has promoted the
// standby and written it back.
var promotedValues = map[string]string{"cloud": `{"standbyRegion": "ap-southeast-1", "standbyPromoted": "2026-12-07T04:00:00Z"}`}

// Once promoted, the standby's instance is what the failover made of it
// (no source, Multi-AZ), its deletion takes a final snapshot, the
// database's names point at it, the former primary's parameter group
// keeps the fence, and nothing else changes: the workloads reach the
// database by its names, which stay, and every other resource's inputs
// are those of the replicating standby's program.
func TestStandbyPromoted(t *testing.T) {
	address := func(typ, name string) resource.PropertyMap {
		if typ == "aws:rds/instance:Instance" {
			return resource.PropertyMap{"address": resource.NewStringProperty(name + ".rds.test")}
		}
		return nil
	}
	before, after := &offline.Recorder{Computed: address}, &offline.Recorder{Computed: address}
	resBefore, err := offline.RunWith(model.Cloud, raw(standbyValues), before)
	if err != nil {
		t.Fatal(err)
	}
	resAfter, err := offline.RunWith(model.Cloud, raw(promotedValues), after)
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range []*offline.Result{resBefore, resAfter} {
		if got := crmEnv(t, res)["DATABASE_HOST"]; got != cloud.WriterName("cloud") {
			t.Errorf("the CRM's database is %q, want %s", got, cloud.WriterName("cloud"))
		}
		// An up never promotes it: Pulumi's state keeps the source a
		// failover removed, and the provider would promote again.
		for _, db := range byType(res, "aws:rds/instance:Instance") {
			if db.Name == "nextflow-standby-postgres" && !slices.Contains(db.IgnoreChanges, "replicateSourceDb") {
				t.Errorf("the standby's source is not kept from updates: ignoreChanges %v", db.IgnoreChanges)
			}
		}
	}
	was := map[string]offline.Resource{}
	for _, r := range resBefore.Plan.Resources {
		was[r.Type+" "+r.Name] = r
	}
	changed := map[string]string{}
	for _, r := range resAfter.Plan.Resources {
		old, ok := was[r.Type+" "+r.Name]
		if !ok {
			t.Errorf("promoted: a new %s %s", r.Type, r.Name)
			continue
		}
		delete(was, r.Type+" "+r.Name)
		if d := inputDiff(old.Inputs, r.Inputs); d != "" {
			changed[r.Name] = d
		}
	}
	for k := range was {
		t.Errorf("promoted: %s is gone", k)
	}
	const fence = `{"applyMethod":"immediate","name":"default_transaction_read_only","value":"1"}`
	moved := `records: -"nextflow-postgres.rds.test" +"nextflow-standby-postgres.rds.test"`
	want := map[string]string{
		"nextflow-standby-postgres": `backupWindow: <nil> -> "03:00-04:00"; enabledCloudwatchLogsExports: <nil> -> ["postgresql","upgrade"]; finalSnapshotIdentifier: <nil> -> "nextflow-standby-postgres-final"; ` +
			`maintenanceWindow: <nil> -> "sun:04:30-sun:05:30"; multiAz: false -> true; password: <nil> -> "[secret]"; performanceInsightsEnabled: <nil> -> true; replicateSourceDb: "[unknown]" -> <nil>; skipFinalSnapshot: true -> false`,
		"nextflow-postgres-params": "parameters: +" + fence,
		"nextflow-db-name":         moved,
		"nextflow-db-read-name":    moved,
	}
	for name, d := range changed {
		if want[name] != d {
			t.Errorf("promoted: %s changed: %s\n want: %s", name, d, want[name])
		}
		delete(want, name)
	}
	for name, d := range want {
		t.Errorf("promoted: %s unchanged, want %s", name, d)
	}
}

// inputDiff says how a resource's inputs changed, key by key: scalars as
// old -> new (JSON), lists by the items added (+) and removed (-).
func inputDiff(old, cur map[string]any) string {
	js := func(v any) string {
		if v == nil {
			return "<nil>"
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	keys := map[string]bool{}
	for k := range old {
		keys[k] = true
	}
	for k := range cur {
		keys[k] = true
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		a, b := old[k], cur[k]
		if js(a) == js(b) {
			continue
		}
		la, okA := a.([]any)
		lb, okB := b.([]any)
		if !okA || !okB {
			out = append(out, fmt.Sprintf("%s: %s -> %s", k, js(a), js(b)))
			continue
		}
		count := map[string]int{}
		for _, e := range la {
			count[js(e)]--
		}
		for _, e := range lb {
			count[js(e)]++
		}
		var ch []string
		for _, e := range slices.Sorted(maps.Keys(count)) {
			switch n := count[e]; {
			case n > 0:
				ch = append(ch, "+"+e)
			case n < 0:
				ch = append(ch, "-"+e)
			}
		}
		out = append(out, k+": "+strings.Join(ch, " "))
	}
	return strings.Join(out, "; ")
}

func crmEnv(t *testing.T, res *offline.Result) map[string]any {
	return envOf(at(object(t, res, "Deployment", "crm"), "spec", "template", "spec", "containers", 0))
}

// checkNames: the database's names are in a private zone of both regions'
// VPCs, each region named (a zone of another region's VPC must say so),
// as CNAMEs short enough for a failover to move them in half a minute.
func checkNames(t *testing.T, res *offline.Result) {
	t.Helper()
	zones := byType(res, "aws:route53/zone:Zone")
	if len(zones) != 1 || zones[0].Inputs["name"] != cloud.PrivateZone("cloud") {
		t.Fatalf("private zones: %v", zones)
	}
	var regions []string
	for _, v := range zones[0].Inputs["vpcs"].([]any) {
		regions = append(regions, fmt.Sprint(v.(map[string]any)["vpcRegion"]))
	}
	if fmt.Sprint(regions) != "[us-east-1 ap-southeast-1]" {
		t.Errorf("the private zone is in the VPCs of %v", regions)
	}
	names := map[any]bool{}
	for _, r := range byType(res, "aws:route53/record:Record") {
		in := r.Inputs
		if in["type"] != "CNAME" || in["ttl"] != float64(cloud.NameTTL) || len(in["records"].([]any)) != 1 {
			t.Errorf("record %s: %v", r.Name, in)
		}
		names[in["name"]] = true
	}
	if len(names) != 2 || !names[cloud.WriterName("cloud")] || !names[cloud.ReaderName("cloud")] {
		t.Errorf("the database's names: %v", names)
	}
}
