package model

import "fmt"

// Instance is one service a stage runs: a part's container in one role
// (the PostgreSQL primary, the second AI node) or a stage's own helper
// (nginx, a backup job), with its sizing and replica count. The
// self-hosted stages render exactly these services, and the host fit
// counts exactly these: one list for both.
type Instance struct {
	// Name is the service's name on the stage.
	Name string
	// Part is the part it runs ("" for a stage's helper).
	Part string
	// Role is its role within the part: "", primary, replica, sentinel,
	// node, or the helper's kind (loadbalancer, backup).
	Role string
	// Node is the node index of a per-node service (1-based), else 0.
	Node     int
	Sizing   Sizing
	Replicas int
	// Exporter is a monitoring service's kind: prometheus, alertmanager,
	// or the exporter it runs (node, blackbox, postgres, redis, nginx, gpu,
	// ollama: the probe of Ollama's API).
	Exporter string
	// Watches is the service an exporter reads, "" for the others.
	Watches string
}

// Group is what cost and capacity count the instance under: its part, or
// "monitoring" for the monitoring's services, or its own name for the
// stage's other helpers.
func (in Instance) Group() string {
	switch {
	case in.Part != "":
		return in.Part
	case in.Role == RoleMonitoring:
		return RoleMonitoring
	}
	return in.Name
}

// Instance roles.
const (
	RolePrimary      = "primary"
	RoleReplica      = "replica"
	RoleSentinel     = "sentinel"
	RoleNode         = "node"
	RoleLoadBalancer = "loadbalancer"
	RoleBackup       = "backup"
	RoleMonitoring   = "monitoring"
)

// NginxService is the name of a stage's load balancer service.
const NginxService = "nginx"

// Instances lists every service the stage of c runs, in part order, then
// the stage's helpers. A provider's managed parts run none.
func Instances(c *Config) []Instance {
	return instancesOf(c, parts(c))
}

// Instances lists every service the app's stage runs (see Instances).
func (a *App) Instances() []Instance { return instancesOf(a.Config, a.Parts) }

// InstancesOf returns the services that run part name.
func (a *App) InstancesOf(name string) []Instance {
	for i := range a.Parts {
		if a.Parts[i].Name == name {
			return partInstances(a.Config, &a.Parts[i], nil)
		}
	}
	return nil
}

func instancesOf(c *Config, ps []Part) []Instance {
	t := Profiles[c.Stage].Topology
	var out []Instance
	for i := range ps {
		out = partInstances(c, &ps[i], out)
	}
	if t.LoadBalancers > 0 {
		out = append(out, Instance{Name: NginxService, Role: RoleLoadBalancer, Sizing: NginxSizing, Replicas: t.LoadBalancers})
	}
	if t.Backups {
		for _, k := range BackupKinds {
			out = append(out, Instance{Name: "backup-" + k, Role: RoleBackup, Sizing: BackupSizing, Replicas: 1})
		}
	}
	if MonitoringRuns(c) {
		out = append(out, monitoringOf(c, out)...)
	}
	return out
}

// GrafanaService is the name of Grafana's service where nfx runs it.
const GrafanaService = "grafana"

// GrafanaRuns says c's stage runs nfx's Grafana: where it runs its own
// monitoring services.
func GrafanaRuns(c *Config) bool { return MonitoringRuns(c) }

// MonitoringRuns says c's stage runs its monitoring services.
func MonitoringRuns(c *Config) bool {
	return Profiles[c.Stage].Topology.Monitoring && c.Monitoring.Enabled
}

// Monitoring's services and their sizing. The exporters are small; the
// sizing of Prometheus holds a month of the stage's series.
var (
	PrometheusSizing  = Sizing{CPUs: 0.4, Memory: 1 * GiB, CPURequest: 0.1, MemoryRequest: 256 * MiB}
	ExporterSizing    = Sizing{CPUs: 0.1, Memory: 128 * MiB, CPURequest: 0.02, MemoryRequest: 32 * MiB}
	GPUExporterSizing = Sizing{CPUs: 0.2, Memory: 512 * MiB, CPURequest: 0.05, MemoryRequest: 128 * MiB}
	// GrafanaSizing holds Grafana's server with a handful of users (it
	// serves queries from Prometheus; it keeps only its SQLite database).
	GrafanaSizing = Sizing{CPUs: 0.25, Memory: 384 * MiB, CPURequest: 0.05, MemoryRequest: 128 * MiB}
)

// MonitoringInstances are the monitoring services of c's stage, whether or
// not the stage runs them yet: Prometheus, the node and blackbox
// exporters, an exporter per PostgreSQL, Redis and Sentinel service and
// per load balancer, the GPU exporter where the AI has a GPU, Grafana with
// the stage's dashboards, and Alertmanager where the stage has a team on
// call (the replicated stages).
func MonitoringInstances(c *Config) []Instance {
	var watched []Instance
	for _, in := range Instances(c) {
		if in.Role != RoleMonitoring {
			watched = append(watched, in)
		}
	}
	return monitoringOf(c, watched)
}

func monitoringOf(c *Config, watched []Instance) []Instance {
	prof := Profiles[c.Stage]
	mon := func(name, exporter, watches string, sz Sizing, n int) Instance {
		return Instance{Name: name, Role: RoleMonitoring, Exporter: exporter, Watches: watches, Sizing: sz, Replicas: n}
	}
	out := []Instance{mon("prometheus", "prometheus", "", PrometheusSizing, 1), mon(GrafanaService, "grafana", "", GrafanaSizing, 1)}
	if prof.Replicated {
		out = append(out, mon("alertmanager", "alertmanager", "", ExporterSizing, 1))
	}
	nodes := 1
	if prof.Hosting == SelfHosted {
		nodes = max(c.Host.Nodes, 1)
	}
	out = append(out, mon("node-exporter", "node", "", ExporterSizing, nodes), mon("blackbox", "blackbox", "", ExporterSizing, 1))
	ai := false
	for _, in := range watched {
		d, _ := LookupPart(in.Part)
		switch p := d.Kind; {
		case in.Role == RoleLoadBalancer:
			out = append(out, mon(in.Name+"-exporter", "nginx", in.Name, ExporterSizing, 1))
		case p == KindDatabase:
			out = append(out, mon(in.Name+"-exporter", "postgres", in.Name, ExporterSizing, 1))
		case p == KindCache:
			out = append(out, mon(in.Name+"-exporter", "redis", in.Name, ExporterSizing, 1))
		case p == KindAI:
			ai = true
		}
	}
	if ai && AIEngineOf(c) == EngineOllama {
		// Ollama's service level, measured by a probe of its API (vLLM
		// measures its own).
		out = append(out, mon("ollama-probe", "ollama", "", ExporterSizing, 1))
	}
	if c.UseGPU || prof.Topology.ExclusiveGPUs {
		out = append(out, mon("gpu-exporter", "gpu", "", GPUExporterSizing, max(c.Host.GPUNodes, 1)))
	}
	return out
}

// partInstances appends to out the services that run part p on c's stage.
func partInstances(c *Config, p *Part, out []Instance) []Instance {
	t := Profiles[c.Stage].Topology
	one := func(p *Part, name, role string, node int, sz Sizing, n int) {
		out = append(out, Instance{Name: name, Part: p.Name, Role: role, Node: node, Sizing: sz, Replicas: n})
	}
	perNode := func(p *Part, n int) {
		for i := 1; i <= n; i++ {
			one(p, fmt.Sprintf("%s-%d", p.Name, i), RoleNode, i, p.Service.Sizing, 1)
		}
	}
	// pair runs a primary and a replica where the stage has two instances.
	pair := func(p *Part, n int) {
		if n < 2 {
			one(p, p.Name, "", 0, p.Service.Sizing, 1)
			return
		}
		one(p, p.Name+"-"+RolePrimary, RolePrimary, 0, p.Service.Sizing, 1)
		one(p, p.Name+"-"+RoleReplica, RoleReplica, 0, p.Service.Sizing, 1)
	}
	if !p.Runs || t.IsManaged(p.Kind) {
		return out
	}
	sz := p.Service.Sizing
	switch p.Kind {
	case KindDatabase:
		pair(p, t.PostgresInstances)
	case KindCache:
		pair(p, t.RedisInstances)
		if t.Sentinels > 0 {
			one(p, p.Name+"-"+RoleSentinel, RoleSentinel, 0, SentinelSizing, t.Sentinels)
		}
	case KindVector:
		if t.PerNode && t.QdrantNodes > 1 {
			perNode(p, t.QdrantNodes)
		} else {
			one(p, p.Name, "", 0, sz, max(t.QdrantNodes, 1))
		}
	case KindAI:
		if t.PerNode {
			perNode(p, p.Replicas)
		} else {
			one(p, p.Name, "", 0, sz, p.Replicas)
		}
	case KindEdge:
		if t.EdgeReplicas > 0 {
			n := t.EdgeReplicas
			if c.Tunnel.Standby {
				n = 0 // started by the migration's cutover
			}
			one(p, p.Name, "", 0, sz, n)
		}
	default:
		one(p, p.Name, "", 0, sz, p.Replicas)
	}
	return out
}
