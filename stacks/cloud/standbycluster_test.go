package cloud_test

import (
	"encoding/json"
	"fmt"
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

const standbyAWS, standbyK8s = "nextflow-standby-aws", "nextflow-standby-k8s"

// clusterValues are a standby region with a cluster, idle or promoted,
// on the given engine.
func clusterValues(promoted bool, engine string) map[string]string {
	c := map[string]any{"standbyRegion": "ap-southeast-1", "standbyCluster": true, "aiEngine": engine}
	v := map[string]string{}
	if promoted {
		c["standbyPromoted"] = "2026-12-07T04:00:00Z"
	}
	if engine == model.EngineVLLM {
		v["crm"] = `{"aiApi": "openai"}`
	}
	js, _ := json.Marshal(c)
	v["cloud"] = string(js)
	return v
}

// standbyObject is the standby cluster's object of kind and name, or nil;
// primaryObject the primary's.
func standbyObject(res *offline.Result, kind, name string) map[string]any {
	return clusterObject(res, standbyK8s, kind, name)
}

func primaryObject(res *offline.Result, kind, name string) map[string]any {
	return clusterObject(res, "nextflow-k8s", kind, name)
}

func clusterObject(res *offline.Result, provider, kind, name string) map[string]any {
	for _, r := range res.Plan.Resources {
		md, _ := r.Inputs["metadata"].(map[string]any)
		if r.Provider == provider && r.Inputs["kind"] == kind && md["name"] == name {
			return r.Inputs
		}
	}
	return nil
}

// A standby cluster is a whole second site, in its own region only: every
// resource of it on the region's providers and tagged with the region, and
// nothing of the primary's there; a whole network whose private subnets
// reach the Internet through the region's NAT and the primary through the
// peering, keeping the ranges the data-only standby's subnets had; EKS
// with the primary's node groups, the GPU pool at zero; each region's
// database open to the other's nodes; a cache of its own; and, idle, no AI
// pod, no tunnel connector, no monitoring, the vector store's backup
// suspended and its restore ready on the primary's copies.
func TestStandbyCluster(t *testing.T) {
	rec := &offline.Recorder{Computed: func(typ, name string) resource.PropertyMap {
		if typ == "aws:elasticache/replicationGroup:ReplicationGroup" {
			return resource.PropertyMap{"primaryEndpointAddress": resource.NewStringProperty(name + ".cache.test")}
		}
		return nil
	}}
	res, err := offline.RunWith(model.Cloud, raw(clusterValues(false, model.EngineOllama)), rec)
	if err != nil {
		t.Fatal(err)
	}
	const region = "ap-southeast-1"
	for _, r := range res.Plan.Resources {
		if strings.HasPrefix(r.Type, "pulumi:providers:") {
			continue
		}
		isNamed := strings.HasPrefix(r.Name, "nextflow-standby-")
		onStandby := r.Provider == standbyAWS || r.Provider == standbyK8s
		tags, hasTags := r.Inputs["tags"].(map[string]any)
		if isNamed != onStandby || (hasTags && (tags[cloud.RegionTag] == region) != isNamed) {
			t.Errorf("%s %s: provider %q, region tag %v", r.Type, r.Name, r.Provider, tags[cloud.RegionTag])
		}
	}
	of := func(typ string) []offline.Resource {
		var out []offline.Resource
		for _, r := range byType(res, typ) {
			if r.Provider == standbyAWS {
				out = append(out, r)
			}
		}
		return out
	}
	// The network.
	full, _ := cloud.SubnetPlan("10.41.0.0/16", 3)
	// Adding a cluster to a data-only standby keeps its subnets where
	// they are (same names, ranges and zones) and its database's subnet
	// group on them.
	dataOnlyRes, _ := run(t, standbyValues)
	subnetsOf := func(res *offline.Result) map[string]string {
		out := map[string]string{}
		for _, sn := range byType(res, "aws:ec2/subnet:Subnet") {
			out[sn.Name] = fmt.Sprint(sn.Inputs["cidrBlock"], " ", sn.Inputs["availabilityZone"], " ", sn.Inputs["vpcId"])
		}
		return out
	}
	withCluster := subnetsOf(res)
	for name, was := range subnetsOf(dataOnlyRes) {
		if withCluster[name] != was {
			t.Errorf("subnet %s: %s with a cluster, %s without", name, withCluster[name], was)
		}
	}
	for _, g := range byType(res, "aws:rds/subnetGroup:SubnetGroup") {
		if n := len(g.Inputs["subnetIds"].([]any)); g.Provider == standbyAWS && n != 2 {
			t.Errorf("the standby database's subnet group spans %d subnets; a cluster's third would be taken away with it", n)
		}
	}
	var cidrs []string
	for _, sn := range of("aws:ec2/subnet:Subnet") {
		cidrs = append(cidrs, sn.Inputs["cidrBlock"].(string))
	}
	slices.Sort(cidrs)
	want := append(append([]string{}, full.Private...), full.Public...)
	slices.Sort(want)
	if !slices.Equal(cidrs, want) {
		t.Errorf("standby subnets %v, want %v", cidrs, want)
	}
	if len(of("aws:ec2/internetGateway:InternetGateway")) != 1 || len(of("aws:ec2/natGateway:NatGateway")) != 3 {
		t.Errorf("the standby's network lacks its Internet gateway or NAT")
	}
	private := 0
	for _, rt := range of("aws:ec2/routeTable:RouteTable") {
		got := map[string]string{}
		for _, r := range rt.Inputs["routes"].([]any) {
			m := r.(map[string]any)
			via := "?"
			switch {
			case m["natGatewayId"] != nil:
				via = "nat"
			case m["vpcPeeringConnectionId"] != nil:
				via = "peering"
			case m["gatewayId"] != nil:
				via = "igw"
			}
			got[fmt.Sprint(m["cidrBlock"])] = via
		}
		if got["0.0.0.0/0"] == "igw" {
			continue
		}
		private++
		if fmt.Sprint(got) != "map[0.0.0.0/0:nat 10.40.0.0/16:peering]" {
			t.Errorf("standby route table %s: %v", rt.Name, got)
		}
	}
	if private != 3 {
		t.Errorf("%d private route tables in the standby, want one per zone", private)
	}
	// EKS and its node groups.
	primary, standbyEKS := byType(res, "aws:eks/cluster:Cluster")[0], of("aws:eks/cluster:Cluster")
	if len(standbyEKS) != 1 || standbyEKS[0].Inputs["name"] != primary.Inputs["name"] || standbyEKS[0].Inputs["version"] != primary.Inputs["version"] {
		t.Fatalf("standby clusters: %v", standbyEKS)
	}
	for _, ng := range of("aws:eks/nodeGroup:NodeGroup") {
		sc := fmt.Sprint(ng.Inputs["scalingConfig"])
		wantSC := "map[desiredSize:4 maxSize:12 minSize:3]"
		if strings.HasSuffix(ng.Name, "-gpu") {
			wantSC = "map[desiredSize:0 maxSize:4 minSize:0]"
		}
		if sc != wantSC {
			t.Errorf("standby node group %s scales %s, want %s", ng.Name, sc, wantSC)
		}
	}
	// Each region's database admits the other's nodes, and the standby's
	// its own.
	primaryPlan, _ := cloud.SubnetPlan("10.40.0.0/16", 3)
	groups := 0
	for _, sg := range byType(res, "aws:ec2/securityGroup:SecurityGroup") {
		if !strings.HasSuffix(sg.Name, "postgres-sg") {
			continue
		}
		groups++
		var cidrs []string
		for _, rule := range sg.Inputs["ingress"].([]any) {
			blocks, _ := at(rule, "cidrBlocks").([]any)
			for _, c := range blocks {
				cidrs = append(cidrs, c.(string))
			}
		}
		want := full.Private
		if sg.Provider == standbyAWS {
			want = append(append([]string{}, primaryPlan.Private...), full.Private...)
		}
		if !slices.Equal(cidrs, want) {
			t.Errorf("%s admits %v, want %v", sg.Name, cidrs, want)
		}
	}
	if groups != 2 {
		t.Errorf("%d database security groups, want one in each region", groups)
	}
	// Each region's autoscaler resizes its own region's node groups (the
	// clusters share a name), and knows a new GPU node for one.
	for _, p := range byType(res, "aws:iam/rolePolicy:RolePolicy") {
		if !strings.HasSuffix(p.Name, "cluster-autoscaler-policy") {
			continue
		}
		region := "us-east-1"
		if p.Provider == standbyAWS {
			region = "ap-southeast-1"
		}
		if !strings.Contains(fmt.Sprint(p.Inputs["policy"]), `"aws:RequestedRegion":"`+region+`"`) {
			t.Errorf("%s may resize other regions' groups: %v", p.Name, p.Inputs["policy"])
		}
	}
	for _, ng := range byType(res, "aws:eks/nodeGroup:NodeGroup") {
		if strings.HasSuffix(ng.Name, "-gpu") && at(ng.Inputs, "labels", cloud.AcceleratorLabel) != "nvidia-a10g" {
			t.Errorf("%s: no accelerator label for the autoscaler: %v", ng.Name, ng.Inputs["labels"])
		}
	}
	// A cache of its own, and the region's alarms on it and the nodes.
	if len(of("aws:elasticache/replicationGroup:ReplicationGroup")) != 1 {
		t.Error("the standby has no cache of its own")
	}
	var alarms []string
	for _, a := range of("aws:cloudwatch/metricAlarm:MetricAlarm") {
		alarms = append(alarms, strings.TrimPrefix(a.Name, "nextflow-standby-alarm-"))
	}
	slices.Sort(alarms)
	if fmt.Sprint(alarms) != "[nodes-general postgres-connections postgres-cpu postgres-memory postgres-storage redis-cpu redis-evictions redis-memory]" {
		t.Errorf("standby alarms: %v", alarms)
	}
	// The workloads, idle.
	if n := at(standbyObject(res, "StatefulSet", model.PartAI), "spec", "replicas"); n != 0.0 && n != 0 {
		t.Errorf("the idle standby runs %v AI pods", n)
	}
	if n := at(standbyObject(res, "Deployment", model.PartTunnel), "spec", "replicas"); n != 0.0 && n != 0 {
		t.Errorf("the idle standby runs %v tunnel connectors", n)
	}
	if n := at(primaryObject(res, "Deployment", model.PartTunnel), "spec", "replicas"); n != 2.0 && n != 2 {
		t.Errorf("the primary runs %v tunnel connectors, want 2", n)
	}
	if at(standbyObject(res, "CronJob", cloud.BackupJob), "spec", "suspend") != true || standbyObject(res, "CronJob", cloud.RestoreJob) == nil {
		t.Error("the idle standby backs its empty vector store up, or cannot restore")
	}
	if standbyObject(res, "Namespace", "monitoring") != nil {
		t.Error("the idle standby runs monitoring")
	}
	env := envOf(at(standbyObject(res, "Deployment", model.PartCRM), "spec", "template", "spec", "containers", 0))
	if env["DATABASE_HOST"] != cloud.WriterName("cloud") {
		t.Errorf("the standby's CRM uses the database at %v", env["DATABASE_HOST"])
	}
	if url := fmt.Sprint(env["REDIS_URL"]); !strings.Contains(url, "//nextflow-standby-redis.cache.test:") {
		t.Errorf("the standby's CRM uses the cache at %s", url)
	}
	// Its manifests apart from the primary's.
	standbyFiles := 0
	for _, f := range res.Files {
		if strings.HasPrefix(f.Path, cloud.StandbyManifests+"/") {
			standbyFiles++
		}
	}
	if standbyFiles == 0 || len(res.Files)-standbyFiles != len(dataOnlyRes.Files) {
		t.Errorf("%d files, %d of the standby's; %d without a standby cluster", len(res.Files), standbyFiles, len(dataOnlyRes.Files))
	}
	// The network's ranges do not overlap the primary's.
	_, p16, _ := net.ParseCIDR("10.40.0.0/16")
	for _, c := range cidrs {
		if ip, _, _ := net.ParseCIDR(c); p16.Contains(ip) {
			t.Errorf("standby subnet %s inside the primary's range", c)
		}
	}
}

// Once promoted, the standby region serves: its AI runs (Ollama's count,
// or vLLM's handed to its autoscaler), its tunnel connectors run and the
// primary's stop, its vector store is backed up, and its monitoring runs;
// nothing of the primary's region is added or removed.
func TestStandbyClusterPromoted(t *testing.T) {
	for _, engine := range []string{model.EngineOllama, model.EngineVLLM} {
		t.Run(engine, func(t *testing.T) {
			idle, _ := run(t, clusterValues(false, engine))
			promoted, _ := run(t, clusterValues(true, engine))
			was := map[string]offline.Resource{}
			for _, r := range idle.Plan.Resources {
				was[r.Type+" "+r.Name] = r
			}
			var changed, added []string
			for _, r := range promoted.Plan.Resources {
				old, ok := was[r.Type+" "+r.Name]
				delete(was, r.Type+" "+r.Name)
				switch {
				case !ok:
					added = append(added, r.Name)
					if r.Provider != standbyK8s {
						t.Errorf("promoted: a new %s %s outside the standby's cluster", r.Type, r.Name)
					}
				case inputDiff(old.Inputs, r.Inputs) != "":
					changed = append(changed, r.Name)
				}
			}
			for k := range was {
				t.Errorf("promoted: %s is gone", k)
			}
			slices.Sort(changed)
			set := "nextflow-standby-ai"
			if engine == model.EngineVLLM {
				set = "nextflow-standby-ai-vllm"
			}
			// The GPU pool's desired size, which an up leaves to the
			// autoscaler (ignoreChanges), for the cost.
			for _, ng := range byType(promoted, "aws:eks/nodeGroup:NodeGroup") {
				if ng.Name == "nextflow-standby-gpu" && !slices.Contains(ng.IgnoreChanges, "scalingConfig.desiredSize") {
					t.Errorf("an up would set the promoted standby's GPU count: ignoreChanges %v", ng.IgnoreChanges)
				}
			}
			wantChanged := []string{"nextflow-backup-qdrant", "nextflow-postgres-params", set, "nextflow-standby-backup-qdrant", "nextflow-standby-gpu", "nextflow-standby-postgres", "nextflow-standby-tunnel", "nextflow-tunnel"}
			slices.Sort(wantChanged)
			if !slices.Equal(changed, wantChanged) {
				t.Errorf("promoted: changed %v, want %v", changed, wantChanged)
			}
			if !slices.Contains(added, "nextflow-standby-kube-prometheus-stack") {
				t.Errorf("promoted: the standby's monitoring is not added: %v", added)
			}
			// The former primary's vector store is not backed up: its
			// stale copy would replicate over the standby's.
			if at(primaryObject(promoted, "CronJob", cloud.BackupJob), "spec", "suspend") != true {
				t.Error("promoted: the former primary still backs its vector store up")
			}
			ai := standbyObject(promoted, "StatefulSet", model.PartAI)
			hpa := standbyObject(promoted, "HorizontalPodAutoscaler", model.PartAI)
			if engine == model.EngineVLLM {
				ai = standbyObject(promoted, "StatefulSet", cloud.VLLMSet)
				if ai == nil {
					t.Fatal("promoted: no vLLM set in the standby")
				}
				if at(ai, "spec", "replicas") != nil || hpa == nil {
					t.Errorf("promoted vLLM: replicas %v, HPA %v; want the count left to the HPA", at(ai, "spec", "replicas"), hpa != nil)
				}
				if idleHPA := standbyObject(idle, "HorizontalPodAutoscaler", model.PartAI); idleHPA != nil {
					t.Error("the idle standby has an HPA on its AI, which would hold a pod")
				}
			} else if n, want := at(ai, "spec", "replicas"), at(primaryObject(promoted, "StatefulSet", model.PartAI), "spec", "replicas"); ai == nil || n != want {
				t.Errorf("promoted: %v AI pods, the primary's %v", n, want)
			}
			if n := at(standbyObject(promoted, "Deployment", model.PartTunnel), "spec", "replicas"); n != 2.0 && n != 2 {
				t.Errorf("promoted: the standby runs %v tunnel connectors, want 2", n)
			}
			if n := at(primaryObject(promoted, "Deployment", model.PartTunnel), "spec", "replicas"); n != 0.0 && n != 0 {
				t.Errorf("promoted: the primary still runs %v tunnel connectors", n)
			}
			if at(standbyObject(promoted, "CronJob", cloud.BackupJob), "spec", "suspend") != false {
				t.Error("promoted: the standby's vector store is not backed up")
			}
		})
	}
}

// The standby's cluster is priced at its region's prices: its nodes, NAT
// and volumes, the objects' by the cluster they run in; idle, its GPU pool
// costs nothing at its desired size and its maximum at the most; promoted,
// the primary's desired count. Where nfx has no prices for the region, its
// priced resources are listed unpriced and its free objects are not.
func TestStandbyClusterCost(t *testing.T) {
	lines := func(region string, promoted bool) (map[string]cost.Line, []string) {
		values := clusterValues(promoted, model.EngineOllama)
		values["cloud"] = strings.Replace(values["cloud"], "ap-southeast-1", region, 1)
		res, _ := run(t, values)
		cfg, ds := model.Load("cloud", raw(values), model.LoadOptions{})
		if ds.HasErrors() {
			t.Fatal(ds)
		}
		e, err := cost.Compute(cfg, &res.Plan, cost.USD)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]cost.Line{}
		for _, l := range e.Lines {
			out[l.Item] = l
		}
		var unpriced []string
		for _, u := range e.Unpriced {
			unpriced = append(unpriced, u.Name)
		}
		return out, unpriced
	}
	const h = 730
	idle, unpriced := lines("ap-southeast-1", false)
	if len(unpriced) != 0 {
		t.Errorf("unpriced: %v", unpriced)
	}
	for item, want := range map[string][2]float64{
		"nodes nextflow-standby-general":               {4 * 0.240 * h, 12 * 0.240 * h},
		"nodes nextflow-standby-gpu":                   {0, 4 * 1.258 * h},
		"NAT gateways, standby in ap-southeast-1":      {3 * 0.059 * h, 3 * 0.059 * h},
		"EKS control plane, standby in ap-southeast-1": {0.10 * h, 0.10 * h},
		"volumes nextflow-standby-ai":                  {0, 0},
	} {
		l, ok := idle[item]
		if !ok || l.Monthly < want[0]-0.01 || l.Monthly > want[0]+0.01 || l.MonthlyMax < want[1]-0.01 || l.MonthlyMax > want[1]+0.01 {
			t.Errorf("idle %s: %v, want %v a month, %v at most", item, l, want[0], want[1])
		}
	}
	// The volumes at the region's gp3 price: $0.096 against $0.080.
	if got, want := idle["volumes nextflow-standby-qdrant"].Monthly, idle["volumes nextflow-qdrant"].Monthly*0.096/0.080; got < want-0.01 || got > want+0.01 {
		t.Errorf("the standby's Qdrant volumes cost %v, want %v", got, want)
	}
	promoted, _ := lines("ap-southeast-1", true)
	if got, want := promoted["nodes nextflow-standby-gpu"].Monthly, 2*1.258*h; got < want-0.01 || got > want+0.01 {
		t.Errorf("promoted: the standby's GPU nodes cost %v, want %v", got, want)
	}
	if _, ok := promoted["volumes prometheus, standby in ap-southeast-1"]; !ok {
		t.Error("promoted: the standby's Prometheus volume is not priced in its region")
	}
	_, unpriced = lines("us-west-2", false)
	for _, n := range unpriced {
		if !strings.HasPrefix(n, "nextflow-standby-") {
			t.Errorf("unpriced %s, not the standby's", n)
		}
	}
	for _, n := range []string{"nextflow-standby-general", "nextflow-standby-qdrant", "nextflow-standby-redis", "nextflow-standby-eks"} {
		if !slices.Contains(unpriced, n) {
			t.Errorf("%s not listed unpriced: %v", n, unpriced)
		}
	}
	if slices.Contains(unpriced, "nextflow-standby-crm") {
		t.Error("a Deployment, which costs nothing itself, is listed unpriced")
	}
}
