// Package monitoring derives a stage's monitoring from the model: what
// Prometheus scrapes (the exporters each running part needs, the parts'
// own metrics, blackbox probes of what users reach), the alert rules, the
// service-level objective's burn-rate alerts for the stage's uptime target,
// and the files Prometheus, Alertmanager and the exporters read.
//
// The plan is pure: the same App always gives the same files. The stages'
// renderers run the exporters as services next to the parts they watch,
// named as the plan names them.
package monitoring

import (
	"fmt"
	"sort"
	"time"

	"github.com/nextflow-crm/nfx/internal/model"
)

// Exporter ports, the upstream defaults.
const (
	NodeExporterPort     = 9100
	PostgresExporterPort = 9187
	RedisExporterPort    = 9121
	NginxExporterPort    = 9113
	BlackboxPort         = 9115
	PrometheusPort       = 9090
	AlertmanagerPort     = 9093
	GPUExporterPort      = 9400
)

// Names of the monitoring's own services.
const (
	PrometheusService   = "prometheus"
	AlertmanagerService = "alertmanager"
	NodeExporterService = "node-exporter"
	BlackboxService     = "blackbox"
	GPUExporterService  = "gpu-exporter"
)

// DefaultRetention covers the advisor's 30-day window with a day to spare.
const DefaultRetention = 31 * 24 * time.Hour

// Job is one scrape job of the stage's Prometheus.
type Job struct {
	// Name is the job label; the alert rules select by it.
	Name string
	// Targets are host:port addresses (or URLs, for a probe).
	Targets []string
	// MetricsPath is the path scraped, "" for /metrics.
	MetricsPath string
	// Module, when set, makes the job a blackbox probe of Targets with
	// that module, through the blackbox exporter at Prober: each target
	// host:port is probed at http://host:port<Path>.
	Module string
	Prober string
	Path   string
	// Swarm, when set, discovers the targets as the tasks of a Swarm
	// service instead (every replica of it), scraped at SwarmPort.
	Swarm     string
	SwarmPort int
	// SwarmNetwork is the network the tasks are scraped on, one Prometheus
	// shares with them ("" for the stage's internal one).
	SwarmNetwork string
	// Secret, when set, is the secret whose file holds the bearer token
	// the target asks for (Qdrant's API key): Prometheus reads it from
	// the file at each scrape, and the file is mounted in its container.
	Secret string
}

// Exporter is a service the monitoring runs beside a part: its name, the
// upstream exporter it is, and what it watches.
type Exporter struct {
	Name string
	// Kind is node, postgres, redis, nginx, blackbox or gpu; it serves
	// at ExporterPort(Kind).
	Kind string
	// Watches is the service the exporter reads (host:port), "" for node,
	// blackbox and gpu.
	Watches string
}

// Plan is a stage's monitoring.
type Plan struct {
	Stage model.Stage
	// Interval is how often every target is scraped.
	Interval time.Duration
	// Retention is how long Prometheus keeps samples.
	Retention time.Duration
	// RetentionSize, when set, is the most its samples may take: the
	// oldest go first beyond it, before the volume fills.
	RetentionSize model.Bytes
	// UptimeTarget is the stage's availability objective, in percent.
	UptimeTarget float64
	Jobs         []Job
	Exporters    []Exporter
	// Alertmanager is Alertmanager's address where the stage runs one.
	Alertmanager string
	// Stack is the Swarm stack's name, for service discovery ("" off Swarm).
	Stack string
	// Replicated says the database and Redis run a primary and a replica.
	Replicated bool
	// GPU says the stage's AI runs on a GPU whose memory is watched.
	GPU bool
	// AIEngine is the engine serving the models (model.AIEngineOf).
	AIEngine string
	// VLLMGPUUse is the share of the GPU's memory vLLM holds by design,
	// where it serves the models (model.VLLMGPUUse).
	VLLMGPUUse float64
	// Backups are the kinds the stage's backup jobs back up, each job
	// reporting its last success to the node exporter.
	Backups []string
	// BackupCronJobs are the kinds backed up by a Kubernetes CronJob
	// (BackupCronJob(kind) in CronJobNamespace), whose last success
	// kube-state-metrics reports.
	BackupCronJobs []string
}

// CronJobNamespace is the namespace of the cloud's CronJobs.
const CronJobNamespace = "nextflow"

// BackupCronJob is the name of the CronJob that backs up a kind.
func BackupCronJob(kind string) string { return "backup-" + kind }

// Settings are what a stage chooses of its monitoring.
type Settings struct {
	Interval      time.Duration
	Retention     time.Duration
	RetentionSize model.Bytes
	// Alertmanager runs one where the stage sends alerts on.
	Alertmanager bool
	// Swarm discovers the replicated services' tasks (stack name).
	Swarm string
}

// For builds the monitoring of the app's stage from the services the
// stage runs (model.Instances): one exporter per PostgreSQL and Redis
// instance, the Sentinels, nginx and node; Qdrant's and cloudflared's own
// metrics; blackbox probes of the CRM's health URL and of Ollama's API.
func For(app *model.App, s Settings) (*Plan, error) {
	c := app.Config
	prof, err := model.ProfileOf(c.Stage)
	if err != nil {
		return nil, err
	}
	if s.Interval <= 0 {
		s.Interval = 30 * time.Second
	}
	if s.Retention <= 0 {
		s.Retention = DefaultRetention
	}
	p := &Plan{Stage: c.Stage, Interval: s.Interval, Retention: s.Retention, RetentionSize: s.RetentionSize, UptimeTarget: prof.Uptime,
		Stack: s.Swarm, Replicated: prof.Topology.PostgresInstances > 1, GPU: c.UseGPU || prof.Topology.ExclusiveGPUs,
		AIEngine: model.AIEngineOf(c)}
	if p.AIEngine == model.EngineVLLM {
		p.VLLMGPUUse = model.VLLMGPUUse(c)
	}
	if prof.Topology.Backups {
		p.Backups = model.BackupKinds
	}
	if vec, ok := app.Part(model.PartQdrant); ok && vec.Runs && c.Stage == model.Cloud {
		// RDS and ElastiCache back themselves up; the vector store is the
		// cloud's own job.
		p.BackupCronJobs = []string{model.PartQdrant}
	}
	if s.Alertmanager {
		p.Alertmanager = fmt.Sprintf("%s:%d", AlertmanagerService, AlertmanagerPort)
	}
	prober := fmt.Sprintf("%s:%d", BlackboxService, BlackboxPort)
	// The exporters are the model's monitoring services: the host fit, the
	// cost and the renderers count the same list.
	watching := map[string]model.Instance{}
	for _, m := range model.MonitoringInstances(c) {
		if m.Watches != "" {
			watching[m.Watches] = m
		}
		if m.Exporter != "prometheus" && m.Exporter != "alertmanager" {
			p.Exporters = append(p.Exporters, Exporter{Name: m.Name, Kind: m.Exporter})
		}
	}
	var missing error
	jobs := map[string]*Job{}
	add := func(name string, j Job) {
		if jobs[name] == nil {
			j.Name = name
			jobs[name] = &j
			return
		}
		jobs[name].Targets = append(jobs[name].Targets, j.Targets...)
	}
	add("node", Job{Targets: []string{fmt.Sprintf("%s:%d", NodeExporterService, NodeExporterPort)}})
	add("prometheus", Job{Targets: []string{fmt.Sprintf("localhost:%d", PrometheusPort)}})
	if p.Alertmanager != "" {
		add("alertmanager", Job{Targets: []string{p.Alertmanager}})
	}
	exporter := func(kind, watched string, port, wport int) string {
		m, ok := watching[watched]
		if !ok || m.Exporter != kind {
			missing = fmt.Errorf("monitoring: the %s stage has no %s exporter for %s", c.Stage, kind, watched)
			return ""
		}
		for i := range p.Exporters {
			if p.Exporters[i].Name == m.Name {
				p.Exporters[i].Watches = fmt.Sprintf("%s:%d", watched, wport)
			}
		}
		return fmt.Sprintf("%s:%d", m.Name, port)
	}
	for _, in := range app.Instances() {
		part, _ := app.Part(in.Part)
		switch {
		case in.Role == model.RoleLoadBalancer:
			add("nginx", Job{Targets: []string{exporter("nginx", in.Name, NginxExporterPort, NginxStatusPort)}})
		case in.Role == model.RoleBackup:
			// The backup jobs report their last success through the node
			// exporter's textfile collector.
		case part == nil:
		case part.Kind == model.KindDatabase:
			add("postgres", Job{Targets: []string{exporter("postgres", in.Name, PostgresExporterPort, model.PostgresPort)}})
		case part.Kind == model.KindCache && in.Role == model.RoleSentinel:
			add("sentinel", Job{Targets: []string{exporter("redis", in.Name, RedisExporterPort, SentinelPort)}})
		case part.Kind == model.KindCache:
			add("redis", Job{Targets: []string{exporter("redis", in.Name, RedisExporterPort, model.RedisPort)}})
		case part.Kind == model.KindVector:
			// Qdrant answers /metrics only with its API key.
			add("qdrant", Job{Targets: []string{fmt.Sprintf("%s:%d", in.Name, model.QdrantHTTPPort)}, Secret: model.SecretQdrantAPIKey})
		case part.Kind == model.KindEdge:
			// cloudflared sits on the frontend network only.
			j := p.swarmOr(in, model.TunnelMetrics)
			j.SwarmNetwork = model.NetFrontend
			add("tunnel", j)
		case part.Kind == model.KindAI && p.AIEngine == model.EngineVLLM:
			// vLLM's health check, through the pod's proxy, and its own
			// metrics: the LLM's server's and the embedding model's.
			target := []string{fmt.Sprintf("%s:%d", in.Name, model.OllamaPort)}
			add(VLLMJob, Job{Module: "http_2xx", Prober: prober, Path: "/health", Targets: target})
			add(VLLMMetricsJob, Job{Targets: target})
		case part.Kind == model.KindAI:
			add("ollama", Job{Module: "http_2xx", Prober: prober, Path: "/api/version", Targets: []string{fmt.Sprintf("%s:%d", in.Name, model.OllamaPort)}})
		case part.Name == model.PartCRM:
			j := p.swarmOr(in, c.CRM.Port)
			j.Module, j.Prober, j.Path = "http_2xx", prober, c.CRM.HealthPath
			add("crm", j)
			// The CRM's own metrics: active users and request durations.
			add("crm-app", p.swarmOr(in, c.CRM.Port))
		}
	}
	for _, e := range p.Exporters {
		if e.Kind == "ollama" {
			add("ollama-sli", Job{Targets: []string{fmt.Sprintf("%s:%d", e.Name, ProbePort)}})
		}
	}
	if p.GPU {
		// NVIDIA's DCGM exporter, on every GPU node.
		if p.Stack != "" {
			add("gpu", Job{Swarm: GPUExporterService, SwarmPort: GPUExporterPort})
		} else {
			add("gpu", Job{Targets: []string{fmt.Sprintf("%s:%d", GPUExporterService, GPUExporterPort)}})
		}
	}
	if missing != nil {
		return nil, missing
	}
	names := make([]string, 0, len(jobs))
	for n := range jobs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p.Jobs = append(p.Jobs, *jobs[n])
	}
	return p, nil
}

// swarmOr scrapes every task of a replicated Swarm service, else the one
// container by name.
func (p *Plan) swarmOr(in model.Instance, port int) Job {
	if p.Stack != "" && in.Replicas > 1 {
		return Job{Swarm: in.Name, SwarmPort: port}
	}
	return Job{Targets: []string{fmt.Sprintf("%s:%d", in.Name, port)}}
}

// Job returns the named job.
func (p *Plan) Job(name string) (*Job, bool) {
	for i := range p.Jobs {
		if p.Jobs[i].Name == name {
			return &p.Jobs[i], true
		}
	}
	return nil, false
}

// Retarget rewrites every address the plan scrapes or probes, for running
// the rendered configuration somewhere the services have other names (a
// test on loopback). f gets and returns host:port, or a URL for a probe.
func (p *Plan) Retarget(f func(job, addr string) string) {
	for i := range p.Jobs {
		j := &p.Jobs[i]
		for k, t := range j.Targets {
			j.Targets[k] = f(j.Name, t)
		}
		if j.Prober != "" {
			j.Prober = f("blackbox", j.Prober)
		}
	}
	if p.Alertmanager != "" {
		p.Alertmanager = f("alertmanager", p.Alertmanager)
	}
}

// exporterPorts are where each kind of exporter serves its metrics.
var exporterPorts = map[string]int{"node": NodeExporterPort, "blackbox": BlackboxPort, "postgres": PostgresExporterPort,
	"redis": RedisExporterPort, "nginx": NginxExporterPort, "gpu": GPUExporterPort, "ollama": ProbePort}

// ExporterPort is where an exporter of kind serves its metrics.
func ExporterPort(kind string) int { return exporterPorts[kind] }

// Ports the exporters read that the model does not name.
const (
	// NginxStatusPort is where nginx serves stub_status to its exporter.
	NginxStatusPort = 8081
	SentinelPort    = 26379
)

// Images are the monitoring's images, pinned: Prometheus and Alertmanager,
// and the upstream exporters.
var Images = map[string]string{
	"prometheus":   "prom/prometheus:v2.55.1",
	"alertmanager": "prom/alertmanager:v0.27.0",
	"node":         "prom/node-exporter:v1.8.2",
	"blackbox":     "prom/blackbox-exporter:v0.25.0",
	"postgres":     "quay.io/prometheuscommunity/postgres-exporter:v0.16.0",
	"redis":        "oliver006/redis_exporter:v1.67.0-alpine",
	"nginx":        "nginx/nginx-prometheus-exporter:1.4.0",
	"gpu":          "nvcr.io/nvidia/k8s/dcgm-exporter:3.3.9-3.6.1-ubuntu22.04",
	// Grafana's Alpine image (user 472, /run.sh reads GF_*__FILE).
	"grafana": "grafana/grafana:11.4.0",
}
