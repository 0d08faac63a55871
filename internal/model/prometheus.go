package model

import "math"

// SeriesPerTarget is how many series one scrape target of each kind
// holds. The upstream exporters' and Prometheus's own are measured on
// real processes by internal/monitoring's scrape test (which fails when a
// real exporter exceeds its figure here); the Kubernetes ones (the API
// server, kubelet with cAdvisor per node, kube-state-metrics) are the
// usual order of a small EKS cluster under kube-prometheus-stack, not
// measured here; vLLM's (a server's histograms of latencies and token
// counts by model, vllm/v1/metrics/loggers.py) is an estimate, not measured
// either: nothing here runs vLLM.
var SeriesPerTarget = map[string]int{
	"prometheus": 1500, "alertmanager": 300, "node": 1500, "probe": 40,
	"postgres": 600, "redis": 600, "nginx": 60, "gpu": 200, "ollama": 40, "vllm": 600,
	"crm-app": 300, "qdrant": 300, "tunnel": 200,
	"apiserver": 20000, "kube-state-metrics": 6000, "kubelet": 3000,
}

// Sample and disk figures of the estimate: Prometheus documents 1 to 2
// bytes per compressed sample (the upper is taken); the write-ahead log,
// the head block and compaction's temporary blocks add a quarter.
const (
	bytesPerSample = 2
	diskHeadroom   = 1.25
	// MinPrometheusVolume is the smallest volume sized from the estimate.
	MinPrometheusVolume = 10 * GiB
)

// PrometheusSeries estimates the series the stage's Prometheus holds: its
// exporters', the parts' own metrics and the probes; on a provider, the
// cluster's (its API server, kube-state-metrics and a kubelet per node at
// the node groups' maximum).
func PrometheusSeries(c *Config) int {
	n := 0
	add := func(kind string, targets int) { n += SeriesPerTarget[kind] * targets }
	for _, in := range MonitoringInstances(c) {
		switch in.Exporter {
		case "blackbox":
		case "ollama":
			add("ollama", 1)
		default:
			add(in.Exporter, in.Replicas)
		}
	}
	for _, in := range Instances(c) {
		d, _ := LookupPart(in.Part)
		switch {
		case in.Part == PartCRM:
			add("crm-app", in.Replicas)
			add("probe", in.Replicas)
		case d.Kind == KindAI:
			add("probe", in.Replicas)
			if AIEngineOf(c) == EngineVLLM {
				// The pod's two servers' own metrics.
				add("vllm", 2*in.Replicas)
			}
		case d.Kind == KindVector:
			add("qdrant", in.Replicas)
		case d.Kind == KindEdge:
			add("tunnel", in.Replicas)
		}
	}
	if Profiles[c.Stage].Hosting == Provider {
		add("apiserver", 1)
		add("kube-state-metrics", 1)
		nodes := c.Cloud.NodeMax
		if c.Cloud.GPUPool {
			nodes += c.Cloud.GPUMax
		}
		add("kubelet", nodes)
		add("node", nodes-1) // the node exporter runs on every node
	}
	return n
}

// PrometheusDisk estimates the disk the stage's samples take over
// monitoring.retentionDays at monitoring.scrapeSeconds.
func PrometheusDisk(c *Config) Bytes {
	m := c.Monitoring
	if m.ScrapeSeconds <= 0 || m.RetentionDays <= 0 {
		return 0
	}
	samples := float64(PrometheusSeries(c)) * 86400 / float64(m.ScrapeSeconds) * float64(m.RetentionDays)
	return Bytes(math.Ceil(samples * bytesPerSample * diskHeadroom))
}

// PrometheusVolume is the volume Prometheus gets: monitoring.diskGB, or
// twice the estimate and at least MinPrometheusVolume, in whole GiB.
func PrometheusVolume(c *Config) Bytes {
	if c.Monitoring.DiskGB > 0 {
		return Bytes(c.Monitoring.DiskGB) * GiB
	}
	v := max(2*PrometheusDisk(c), MinPrometheusVolume)
	return (v + GiB - 1) / GiB * GiB
}
