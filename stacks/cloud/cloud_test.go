package cloud_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/offline"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// variants are cloud configurations under test; each has golden manifests.
var variants = map[string]map[string]string{
	"default": nil,
	// Another region, no GPU pool, one NAT gateway, a public API endpoint
	// for one office range, and a read replica.
	"singapore-cpu": {"cloud": `{"region": "ap-southeast-1", "gpuPool": false, "singleNat": true,
		"publicAccessCidrs": ["203.0.113.0/24"], "dbReadReplica": true, "admins": ["arn:aws:iam::123456789012:role/ci-deploy"]}`, "tunnel": `{"mode": "managed", "hostname": "crm.nextflow.example", "accountId": "0123456789abcdef0123456789abcdef", "zoneId": "0123456789abcdef0123456789abcdef"}`},
	// The user's own services, with Cloudflare's DNS in front, and the CRM
	// on another port.
	"services": {"services": testutil.ServicesConfig, "secrets": testutil.ServicesSecrets,
		"tunnel": `{"mode": "managed", "hostname": "crm.nextflow.example", "accountId": "0123456789abcdef0123456789abcdef", "zoneId": "0123456789abcdef0123456789abcdef"}`, "crm": `{"port": 8080}`},
	// vLLM serves the models, to a CRM that calls OpenAI's API.
	"vllm": vllmValues,
	// The data's copy in a second region.
	"standby": standbyValues,
	// A second region with a cluster, promoted by a failover, on vLLM.
	"standby-cluster": clusterValues(true, model.EngineVLLM),
	// Cloudflare's load balancers in front of both regions, idle, for the
	// CRM and the user's public services.
	"load-balanced": func() map[string]string {
		v := lbValues(false)
		v["services"], v["secrets"] = testutil.ServicesConfig, testutil.ServicesSecrets
		return v
	}(),
}

// standbyValues keep a copy of the data in Singapore.
var standbyValues = map[string]string{"cloud": `{"standbyRegion": "ap-southeast-1"}`}

// vllmValues sets the cloud's models to vLLM.
var vllmValues = map[string]string{"cloud": `{"aiEngine": "vllm"}`, "crm": `{"aiApi": "openai"}`}

func raw(values map[string]string) model.Raw {
	r := model.Raw{Values: map[string]string{}, Secret: map[string]bool{}, Complete: true}
	for k, v := range values {
		r.Values[k] = v
	}
	for _, k := range model.Keys {
		if k.Secret {
			r.Values[k.Name], r.Secret[k.Name] = "s3ntinel", true
		}
	}
	return r
}

func run(t *testing.T, values map[string]string) (*offline.Result, *offline.Recorder) {
	t.Helper()
	rec := &offline.Recorder{}
	res, err := offline.RunWith(model.Cloud, raw(values), rec)
	if err != nil {
		t.Fatal(err)
	}
	return res, rec
}

// clusterViews are a plan's views one cluster each: the primary's
// resources, and the standby region's where a cluster runs there (its
// providers' resources).
func clusterViews(res *offline.Result) []*offline.Result {
	var primary, standby []offline.Resource
	for _, r := range res.Plan.Resources {
		if strings.Contains(r.Provider, "-standby-") {
			standby = append(standby, r)
		} else {
			primary = append(primary, r)
		}
	}
	views := []*offline.Result{res}
	if len(byType(res, "aws:eks/cluster:Cluster")) > 1 {
		views = nil
		for _, rs := range [][]offline.Resource{primary, standby} {
			v := *res
			v.Plan.Resources = rs
			views = append(views, &v)
		}
	}
	return views
}

func byType(res *offline.Result, typ string) []offline.Resource {
	var out []offline.Resource
	for _, r := range res.Plan.Resources {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// The policies a user relies on, asserted on every resource's inputs.
func TestCloudPolicies(t *testing.T) {
	for name, values := range variants {
		t.Run(name, func(t *testing.T) {
			full, rec := run(t, values)
			for _, res := range clusterViews(full) {
				dbs := byType(res, "aws:rds/instance:Instance")
				if len(dbs) == 0 {
					t.Fatal("no RDS instance")
				}
				for _, db := range dbs {
					in := db.Inputs
					if in["storageEncrypted"] != true || in["publiclyAccessible"] != false || in["deletionProtection"] != true {
						t.Errorf("%s: encrypted %v, public %v, deletion protection %v", db.Name, in["storageEncrypted"], in["publiclyAccessible"], in["deletionProtection"])
					}
					if in["replicateSourceDb"] != nil {
						continue // a read replica inherits backups and Multi-AZ settings
					}
					// The master password is the stack's secret, which the
					// CRM's Secret carries too: an RDS-managed one rotates
					// every 7 days and the CRM's copy goes stale.
					if in["multiAz"] != true || in["manageMasterUserPassword"] == true {
						t.Errorf("%s: Multi-AZ %v, RDS-managed (rotating) password %v", db.Name, in["multiAz"], in["manageMasterUserPassword"])
					}
					if days, _ := in["backupRetentionPeriod"].(float64); days < 7 {
						t.Errorf("%s keeps %v days of backups", db.Name, in["backupRetentionPeriod"])
					}
					if in["password"] != offline.Secret {
						t.Errorf("%s: the master password is %v, not the stack's secret", db.Name, in["password"])
					}
				}
				for _, rg := range byType(res, "aws:elasticache/replicationGroup:ReplicationGroup") {
					in := rg.Inputs
					if in["atRestEncryptionEnabled"] != true || in["transitEncryptionEnabled"] != true || in["automaticFailoverEnabled"] != true || in["multiAzEnabled"] != true {
						t.Errorf("cache: %v", in)
					}
					if n, _ := in["numCacheClusters"].(float64); n < 2 {
						t.Errorf("cache has %v nodes", in["numCacheClusters"])
					}
					if in["authToken"] != offline.Secret {
						t.Errorf("cache auth token: %v", in["authToken"])
					}
				}
				clusters := byType(res, "aws:eks/cluster:Cluster")
				if len(clusters) != 1 {
					t.Fatalf("%d clusters", len(clusters))
				}
				eks := clusters[0].Inputs
				if logs, _ := eks["enabledClusterLogTypes"].([]any); len(logs) != 5 {
					t.Errorf("control-plane logs: %v", eks["enabledClusterLogTypes"])
				}
				vpc := eks["vpcConfig"].(map[string]any)
				if vpc["endpointPublicAccess"] == true {
					cidrs, _ := vpc["publicAccessCidrs"].([]any)
					if len(cidrs) == 0 {
						t.Error("the public endpoint is open to every address")
					}
					for _, c := range cidrs {
						if c == "0.0.0.0/0" {
							t.Error("the public endpoint is open to 0.0.0.0/0")
						}
					}
				}
				if enc, _ := eks["encryptionConfig"].(map[string]any); enc == nil {
					t.Error("secrets are not encrypted with KMS")
				}
				if len(byType(res, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")) != 1 {
					t.Error("no OIDC provider for IRSA")
				}
				for _, sg := range byType(res, "aws:ec2/securityGroup:SecurityGroup") {
					rules, _ := sg.Inputs["ingress"].([]any)
					for _, r := range rules {
						rule := r.(map[string]any)
						if cidrs, _ := rule["cidrBlocks"].([]any); len(cidrs) > 0 {
							for _, c := range cidrs {
								if c == "0.0.0.0/0" {
									t.Errorf("%s opens port %v to 0.0.0.0/0", sg.Name, rule["fromPort"])
								}
							}
						}
					}
				}
				for _, b := range byType(res, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock") {
					for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
						if b.Inputs[k] != true {
							t.Errorf("backup bucket: %s is %v", k, b.Inputs[k])
						}
					}
				}
				for _, typ := range []string{"aws:s3/bucketVersioningV2:BucketVersioningV2", "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2", "aws:sns/topic:Topic"} {
					// One in the cluster's region (its provider's).
					n := 0
					for _, r := range byType(res, typ) {
						if r.Provider == clusters[0].Provider {
							n++
						}
					}
					if n != 1 {
						t.Errorf("want one %s in the cluster's region, got %d", typ, n)
					}
				}
				alarms := byType(res, "aws:cloudwatch/metricAlarm:MetricAlarm")
				namespaces := map[string]int{}
				for _, a := range alarms {
					namespaces[a.Inputs["namespace"].(string)]++
					if acts, _ := a.Inputs["alarmActions"].([]any); len(acts) != 1 {
						t.Errorf("alarm %s sends nowhere", a.Name)
					}
				}
				if namespaces["AWS/RDS"] == 0 || namespaces["AWS/ElastiCache"] == 0 || namespaces["AWS/AutoScaling"] == 0 {
					t.Errorf("alarms by namespace: %v", namespaces)
				}
				if bad, total := rec.UnsecretInputs(); len(bad) > 0 || total == 0 {
					t.Errorf("password-like inputs that are not secrets: %v (of %d)", bad, total)
				}
				plan, _ := json.Marshal(res.Plan)
				if strings.Contains(string(plan), "s3ntinel") {
					t.Error("a secret value reached the plan")
				}
			}
		})
	}
}

func TestCloudNodeGroupsAndNat(t *testing.T) {
	res, _ := run(t, nil)
	groups := byType(res, "aws:eks/nodeGroup:NodeGroup")
	if len(groups) != 2 {
		t.Fatalf("%d node groups", len(groups))
	}
	for _, g := range groups {
		if g.Name != "nextflow-gpu" {
			continue
		}
		in := g.Inputs
		taints := in["taints"].([]any)
		taint := taints[0].(map[string]any)
		if in["amiType"] != "AL2023_x86_64_NVIDIA" || taint["key"] != "nvidia.com/gpu" || taint["value"] != "true" || taint["effect"] != "NO_SCHEDULE" {
			t.Errorf("GPU node group: %v", in)
		}
		if types := in["instanceTypes"].([]any); types[0] != "g5.xlarge" {
			t.Errorf("GPU instance type %v", types)
		}
		tags := in["tags"].(map[string]any)
		if tags["k8s.io/cluster-autoscaler/enabled"] != "true" {
			t.Error("the GPU node group is not discoverable by Cluster Autoscaler")
		}
	}
	for _, ss := range byType(res, "kubernetes:apps/v1:StatefulSet") {
		spec := ss.Inputs["spec"].(map[string]any)
		want := map[string]float64{"nextflow-qdrant": 3, "nextflow-ai": 2}[ss.Name]
		if spec["replicas"] != want {
			t.Errorf("%s has %v replicas, want %v", ss.Name, spec["replicas"], want)
		}
	}
	for _, hpa := range byType(res, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler") {
		spec := hpa.Inputs["spec"].(map[string]any)
		if min, _ := spec["minReplicas"].(float64); min < 10 {
			t.Errorf("the CRM scales down to %v pods, want 10 or more", spec["minReplicas"])
		}
	}
	if n := len(byType(res, "aws:ec2/natGateway:NatGateway")); n != 3 {
		t.Errorf("%d NAT gateways, want one per zone", n)
	}
	res, _ = run(t, variants["singapore-cpu"])
	if n := len(byType(res, "aws:ec2/natGateway:NatGateway")); n != 1 {
		t.Errorf("single NAT: %d gateways", n)
	}
	if n := len(byType(res, "aws:eks/nodeGroup:NodeGroup")); n != 1 {
		t.Errorf("no GPU pool: %d node groups", n)
	}
	var charts []string
	for _, r := range byType(res, "kubernetes:helm.sh/v3:Release") {
		charts = append(charts, fmt.Sprint(r.Inputs["chart"]))
	}
	sort.Strings(charts)
	if got := strings.Join(charts, " "); got != "cluster-autoscaler kube-prometheus-stack" {
		t.Errorf("no GPU pool: helm releases %s, want the Cluster Autoscaler and the monitoring, no device plugin", got)
	}
	for _, r := range byType(res, "kubernetes:apps/v1:DaemonSet") {
		t.Errorf("no GPU pool: DaemonSet %s", r.Name)
	}
}

func manifests(t *testing.T, res *offline.Result) (string, files.Set) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cloud")
	if err := files.WriteDir(dir, res.Files); err != nil {
		t.Fatal(err)
	}
	return dir, res.Files
}

func TestCloudManifestsGolden(t *testing.T) {
	for name, values := range variants {
		t.Run(name, func(t *testing.T) {
			res, _ := run(t, values)
			again, _ := run(t, values)
			if len(res.Files) != len(again.Files) {
				t.Fatal("rendering twice gave different files")
			}
			got := map[string][]byte{}
			for i, f := range res.Files {
				if string(f.Data) != string(again.Files[i].Data) {
					t.Errorf("%s: rendering twice gave different bytes", f.Path)
				}
				got[f.Path] = f.Data
			}
			testutil.GoldenDir(t, filepath.Join("testdata", name), got)
		})
	}
}

// kubeconform, strict, against schemas generated from the Kubernetes
// swagger of the pulumi-kubernetes provider module: zero invalid, zero skipped.
func TestKubeconformStrict(t *testing.T) {
	kubeconform := testutil.Tool(t, "kubeconform")
	schemas := filepath.Join(testutil.RepoRoot(t), "bin", "k8s-schemas")
	if _, err := os.Stat(filepath.Join(schemas, "deployment-apps-v1.json")); err != nil {
		if os.Getenv(testutil.RequireToolsEnv) == "1" {
			t.Fatalf("no schemas in %s; run scripts/build-k8s-tools.sh", schemas)
		}
		t.Skip("no generated schemas; run scripts/build-k8s-tools.sh")
	}
	for name, values := range variants {
		t.Run(name, func(t *testing.T) {
			res, _ := run(t, values)
			dir, _ := manifests(t, res)
			out, err := exec.Command(kubeconform, "-strict", "-summary", "-output", "json",
				"-schema-location", filepath.Join(schemas, "{{ .ResourceKind }}{{ .KindSuffix }}.json"),
				filepath.Join(dir, "k8s")).CombinedOutput()
			var report struct {
				Summary struct{ Valid, Invalid, Errors, Skipped int } `json:"summary"`
			}
			if jerr := json.Unmarshal(out, &report); jerr != nil {
				t.Fatalf("kubeconform: %v %v\n%s", err, jerr, out)
			}
			s := report.Summary
			if err != nil || s.Invalid != 0 || s.Errors != 0 || s.Skipped != 0 || s.Valid < 15 {
				t.Errorf("kubeconform: %+v (%v)\n%s", s, err, out)
			}
			t.Logf("kubeconform: %d valid, %d invalid, %d skipped", s.Valid, s.Invalid, s.Skipped)
		})
	}
}

// kube-score reports no CRITICAL finding, except those in the allow-list,
// each with its reason.
func TestKubeScore(t *testing.T) {
	kubeScore := testutil.Tool(t, "kube-score")
	allow := readAllowList(t)
	for name, values := range variants {
		t.Run(name, func(t *testing.T) {
			res, _ := run(t, values)
			dir, _ := manifests(t, res)
			yamls, _ := filepath.Glob(filepath.Join(dir, "k8s", "*.yaml"))
			out, _ := exec.Command(kubeScore, append([]string{"score", "-o", "json"}, yamls...)...).Output()
			var objects []struct {
				ObjectName string `json:"object_name"`
				TypeMeta   struct {
					Kind string `json:"kind"`
				} `json:"type_meta"`
				Checks []struct {
					Check struct {
						ID string `json:"id"`
					} `json:"check"`
					Grade   int  `json:"grade"`
					Skipped bool `json:"skipped"`
				} `json:"checks"`
			}
			if err := json.Unmarshal(out, &objects); err != nil || len(objects) == 0 {
				t.Fatalf("kube-score: %v\n%s", err, out)
			}
			critical := 0
			for _, o := range objects {
				for _, c := range o.Checks {
					// kube-score grades: 1 critical, 5 warning, 7 almost OK, 10 OK.
					if c.Skipped || c.Grade > 1 {
						continue
					}
					key := c.Check.ID + " " + o.TypeMeta.Kind + "/" + o.ObjectName
					if _, ok := allow[key]; ok {
						continue
					}
					critical++
					t.Errorf("CRITICAL %s", key)
				}
			}
			t.Logf("kube-score: %d objects, %d critical outside the allow-list", len(objects), critical)
		})
	}
}

// readAllowList reads kube-score-allow.txt: "<check-id> <Kind>/<name>: <reason>".
func readAllowList(t *testing.T) map[string]string {
	data, err := os.ReadFile("kube-score-allow.txt")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, reason, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(reason) == "" {
			t.Fatalf("kube-score-allow.txt: %q has no reason", line)
		}
		out[strings.TrimSpace(key)] = strings.TrimSpace(reason)
	}
	return out
}

// Upgrading a managed-tunnel stack made by an earlier nfx: its proxied
// records (then under each public part, named nextflow-dns[-part]) move
// under the tunnel instead of a second record for the same name, which
// Cloudflare refuses; the tunnel's name carries the stack, so that two
// stacks in one account (the server's and the cloud's) do not collide,
// and a tunnel made before keeps its name (a new one replaces the tunnel).
func TestManagedTunnelKeepsWhatEarlierReleasesMade(t *testing.T) {
	res, _ := run(t, variants["services"])
	tunnels := byType(res, "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared")
	if len(tunnels) != 1 {
		t.Fatalf("tunnels: %d", len(tunnels))
	}
	if name := tunnels[0].Inputs["name"]; name != "nextflow-cloudflare-cloud" {
		t.Errorf("the tunnel is named %v, not after its stack", name)
	}
	if fmt.Sprint(tunnels[0].IgnoreChanges) != "[name]" {
		t.Errorf("an existing tunnel's name is not kept: ignoreChanges %v", tunnels[0].IgnoreChanges)
	}
	want := map[string]string{"crm.nextflow.example": "name=nextflow-dns parent=nextflow-crm"}
	records := byType(res, "cloudflare:index/record:Record")
	for _, r := range records {
		host := fmt.Sprint(r.Inputs["name"])
		if w, ok := want[host]; ok && (len(r.Aliases) != 1 || r.Aliases[0] != w) {
			t.Errorf("the record for %s moves from %v, want %q", host, r.Aliases, w)
		}
		if len(r.Aliases) != 1 || !strings.HasPrefix(r.Aliases[0], "name=nextflow-dns") {
			t.Errorf("the record for %s has no alias to the record an earlier release made: %v", host, r.Aliases)
		}
	}
	if len(records) < 2 {
		t.Fatalf("records: %d", len(records))
	}
}

// The claims' size patches as Pulumi's Kubernetes provider handles them:
// no await (the provider takes a bound claim of a WaitForFirstConsumer
// class for not ready, and the create would time out), and left in place
// on delete (giving up a size field the patch alone owns is refused by
// the API server, which would fail a scale-down or a destroy).
func TestClaimPatchesSurviveTheProvider(t *testing.T) {
	res, _ := run(t, nil)
	patches := byType(res, "kubernetes:core/v1:PersistentVolumeClaimPatch")
	if len(patches) != 5 {
		t.Fatalf("%d claim patches, want 5 (two Ollama replicas, three Qdrant peers)", len(patches))
	}
	for _, p := range patches {
		ann, _ := p.Inputs["metadata"].(map[string]any)["annotations"].(map[string]any)
		if ann["pulumi.com/skipAwait"] != "true" || ann["pulumi.com/patchForce"] != "true" {
			t.Errorf("%s: annotations %v", p.Name, ann)
		}
		if !p.RetainOnDelete {
			t.Errorf("%s is not retained on delete", p.Name)
		}
	}
	for _, s := range byType(res, "kubernetes:apps/v1:StatefulSet") {
		if fmt.Sprint(s.IgnoreChanges) != "[spec.volumeClaimTemplates]" {
			t.Errorf("%s ignores %v", s.Name, s.IgnoreChanges)
		}
	}
}

// podSpecs are the pod templates of a variant's workloads, by name.
func podSpecs(res *offline.Result) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, kind := range []string{"Deployment", "StatefulSet", "DaemonSet", "CronJob"} {
		for _, obj := range objects(res, kind) {
			spec := asMap(obj["spec"])
			if kind == "CronJob" {
				spec = asMap(asMap(asMap(spec["jobTemplate"])["spec"]))
			}
			tpl := asMap(spec["template"])
			out[kind+"/"+fmt.Sprint(asMap(obj["metadata"])["name"])] = tpl
		}
	}
	return out
}

// A probe the kubelet sends to a port, or a Service's traffic, reaches the
// pod's IP: a container that listens only on loopback there (Ollama behind
// the AI pods' key check) would be killed by its liveness probe and get
// nothing from its Service. Every TCP and HTTP probe's port is one its own
// container declares, and every Service's target port one that a
// container of the pods it selects declares.
func TestProbesAndServicesReachWhatListens(t *testing.T) {
	for name, values := range variants {
		t.Run(name, func(t *testing.T) {
			res, _ := run(t, values)
			declared := func(c map[string]any) map[string]bool {
				ports := map[string]bool{}
				for _, p := range asList(c["ports"]) {
					ports[fmt.Sprint(asMap(p)["containerPort"])] = true
					if n, ok := asMap(p)["name"]; ok {
						ports[fmt.Sprint(n)] = true
					}
				}
				return ports
			}
			pods := podSpecs(res)
			for wl, tpl := range pods {
				for _, c := range asList(asMap(tpl["spec"])["containers"]) {
					c := asMap(c)
					ports := declared(c)
					for _, probe := range []string{"startupProbe", "readinessProbe", "livenessProbe"} {
						p := asMap(c[probe])
						for _, action := range []string{"tcpSocket", "httpGet"} {
							if a := asMap(p[action]); a != nil && !ports[fmt.Sprint(a["port"])] {
								t.Errorf("%s: container %s's %s %s port %v is not a port it declares (%v)", wl, c["name"], probe, action, a["port"], ports)
							}
						}
					}
				}
			}
			for _, svc := range objects(res, "Service") {
				md, spec := asMap(svc["metadata"]), asMap(svc["spec"])
				sel := asMap(spec["selector"])
				listening := map[string]bool{}
				matched := false
				for _, tpl := range pods {
					labels := asMap(asMap(tpl["metadata"])["labels"])
					if len(sel) == 0 {
						continue
					}
					ok := true
					for k, v := range sel {
						if labels[k] != v {
							ok = false
						}
					}
					if !ok {
						continue
					}
					matched = true
					for _, c := range asList(asMap(tpl["spec"])["containers"]) {
						for p := range declared(asMap(c)) {
							listening[p] = true
						}
					}
				}
				if !matched {
					continue // a chart's or a controller's pods
				}
				for _, p := range asList(spec["ports"]) {
					if tp := fmt.Sprint(asMap(p)["targetPort"]); !listening[tp] {
						t.Errorf("Service %s/%s sends port %v to %s, which no container of its pods declares", md["namespace"], md["name"], asMap(p)["port"], tp)
					}
				}
			}
		})
	}
}
