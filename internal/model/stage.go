package model

import (
	"fmt"
	"sort"
	"strings"
)

// Stage is one step of NextFlow's growth: laptop, server or cloud.
type Stage string

// The stages, in the order a product grows through them.
const (
	Laptop Stage = "laptop"
	Server Stage = "server"
	Cloud  Stage = "cloud"
)

// Stages lists every stage in growth order.
var Stages = []Stage{Laptop, Server, Cloud}

// ParseStage checks a stage name.
func ParseStage(s string) (Stage, error) {
	if _, ok := Profiles[Stage(s)]; ok {
		return Stage(s), nil
	}
	return "", fmt.Errorf("unknown stage %q; use one of %s", s, strings.Join(StageNames(), ", "))
}

// ProfileOf returns the stage's profile, or an error naming the known stages.
func ProfileOf(s Stage) (Profile, error) {
	p, ok := Profiles[s]
	if !ok {
		return Profile{}, fmt.Errorf("unknown stage %q; use one of %s", s, strings.Join(StageNames(), ", "))
	}
	return p, nil
}

// Index is the stage's place in the growth order, or -1.
func (s Stage) Index() int {
	for i, st := range Stages {
		if st == s {
			return i
		}
	}
	return -1
}

// Next is the stage a product grows into from s, or "" for the last.
func (s Stage) Next() Stage {
	if i := s.Index(); i >= 0 && i+1 < len(Stages) {
		return Stages[i+1]
	}
	return ""
}

// Hardware is the machine a self-hosted stage runs on. It is also the
// `nextflow:host` config object, whose fields override the stage profile.
type Hardware struct {
	// CPU is the processor model, for reports.
	CPU string `json:"cpu"`
	// Threads is the number of hardware threads.
	Threads int `json:"threads"`
	// Memory is the installed RAM.
	Memory Bytes `json:"memory"`
	// GPU is the graphics card model; empty when the host has none.
	GPU string `json:"gpu"`
	// GPUCount is how many of those cards the host has.
	GPUCount int `json:"gpuCount"`
	// VRAM is the memory of one GPU.
	VRAM Bytes `json:"vram"`
	// ReserveMemory is the RAM left to the operating system and desktop:
	// container limits together must leave it free.
	ReserveMemory Bytes `json:"reserveMemory"`
	// ReserveThreads is the number of threads left to the operating system.
	ReserveThreads int `json:"reserveThreads"`
	// Nodes is how many machines of this kind the stage runs on (a Swarm
	// cluster on the server stage; 1 on the laptop).
	Nodes int `json:"nodes"`
	// GPUNodes is how many of those machines have the GPU.
	GPUNodes int `json:"gpuNodes"`
	// Disk is each machine's storage.
	Disk Bytes `json:"disk"`
}

// HasGPU reports whether the host has a usable GPU.
func (h Hardware) HasGPU() bool { return h.GPU != "" && h.GPUCount > 0 && h.VRAM > 0 }

// Hosting says who runs a stage's machines.
type Hosting string

const (
	// SelfHosted stages run on machines the team owns or leases.
	SelfHosted Hosting = "self-hosted"
	// Provider stages run on a cloud provider's managed services.
	Provider Hosting = "provider"
)

// UptimeModel says how a stage's availability is estimated.
type UptimeModel string

const (
	// UptimeSingleHost: one machine; every failure takes every part down.
	UptimeSingleHost UptimeModel = "single-host"
	// UptimeCluster: several nodes; a node's failure costs what its
	// redundancy does not hide.
	UptimeCluster UptimeModel = "cluster"
	// UptimeProviderSLA: the provider's published SLAs of the parts in series.
	UptimeProviderSLA UptimeModel = "provider-sla"
)

// Limits are one stage's row of the seed's decision matrix: where the next
// stage becomes needed.
type Limits struct {
	// Users is the peak concurrent users at which the stage is outgrown.
	Users float64
	// ResponseSeconds and DowntimePercent must be exceeded to fire.
	ResponseSeconds float64
	DowntimePercent float64
	// Revenue is VND a month.
	Revenue float64
	// Team is the first team size past the stage's range.
	Team float64
	// Compliance is the first compliance level (index) the stage cannot meet.
	Compliance float64
	// Seed holds the seed's own wording of each limit, by metric.
	Seed map[string]string
}

// Profile is what a stage is, per the seed: its hardware, runtime and
// targets, and the facts that renderers, cost, capacity and advice read
// instead of branching on stage names.
type Profile struct {
	Stage Stage
	// Runtime is how containers run: "docker-compose", "docker-swarm" or "kubernetes".
	Runtime string
	// Hosting is self-hosted or a provider; Provider names the provider
	// ("aws"), whose provisioners and prices realise the stage.
	Hosting  Hosting
	Provider string
	// Replicated says the stage runs more than one replica of a service,
	// behind a load balancer; false runs one container per service.
	Replicated bool
	// Autoscaled says web apps scale between their replicas and the
	// provider's ceiling (cloud.crmMaxReplicas for the CRM).
	Autoscaled bool
	// Uptime is how availability is estimated.
	UptimeModel UptimeModel
	// GPUKey is the config key that says which GPU serves Ollama.
	GPUKey string
	// Hardware is the default host (zero for a provider stage, which has node groups).
	Hardware Hardware
	// Users is the concurrent-user range the stage is designed for.
	Users [2]int
	// AIRequests is the AI requests per second the stage is designed for
	// (0 as the high end means "or more").
	AIRequests [2]float64
	// Response is the response time range the seed gives, in seconds.
	Response [2]float64
	// Uptime is the availability target, in percent; UptimeHigh the top of
	// the seed's range where it gives one.
	Uptime     float64
	UptimeHigh float64
	// Topology is how many instances of each backing part the stage runs.
	Topology Topology
	// Replicas are the default replica counts of the built-in parts, by part.
	Replicas map[string]int
	// Sizing overrides the default sizing of built-in parts on the stage,
	// by part (the cloud's AI fits its GPU node).
	Sizing map[string]Sizing
	// ServiceReplicas is the default replica count of a user's service.
	ServiceReplicas int
	// Costs are the cost model's defaults on the stage.
	Costs CostConfig
	// Limits is the stage's row of the decision matrix.
	Limits Limits
}

// Topology is the shape of a stage's parts: the counts that make a part
// redundant. A count of 0 means the stage does not run that piece itself
// (a managed service, or no load balancer).
type Topology struct {
	// PostgresInstances is 1 (one container) or 2 (primary and streaming replica).
	PostgresInstances int
	// RedisInstances is 1, or 2 (primary and replica) with Sentinels watching them.
	RedisInstances int
	Sentinels      int
	// QdrantNodes is the Qdrant cluster size.
	QdrantNodes int
	// LoadBalancers is the number of nginx replicas in front of the web apps.
	LoadBalancers int
	// EdgeReplicas is the number of cloudflared containers when a tunnel runs.
	EdgeReplicas int
	// PerNode runs one service per node for the clustered parts (each AI
	// node, each Qdrant peer), pinned by node labels; otherwise one service
	// with replicas.
	PerNode bool
	// ExclusiveGPUs says a GPU task gets a whole GPU (Swarm's generic
	// resources, Kubernetes' nvidia.com/gpu); otherwise the containers of
	// the one host share its GPU.
	ExclusiveGPUs bool
	// Backups says whether the stage runs scheduled backups to a NAS.
	Backups bool
	// Monitoring says the stage runs its Prometheus and exporters as
	// services (nextflow:monitoring.enabled turns them off).
	Monitoring bool
	// Managed lists the part kinds the provider runs as managed services.
	Managed []Kind
}

// IsManaged reports whether the stage's provider runs parts of kind k.
func (t Topology) IsManaged(k Kind) bool {
	for _, m := range t.Managed {
		if m == k {
			return true
		}
	}
	return false
}

// Profiles holds the seed's stage profiles.
var Profiles = map[Stage]Profile{
	Laptop: {
		Stage:       Laptop,
		Runtime:     "docker-compose",
		Hosting:     SelfHosted,
		UptimeModel: UptimeSingleHost,
		GPUKey:      "host.gpu",
		Hardware: Hardware{
			CPU: "Intel Core i9-13900HX", Threads: 24, Memory: 40 * GiB,
			GPU: "NVIDIA GeForce RTX 4060 Laptop", GPUCount: 1, VRAM: 8 * GiB,
			ReserveMemory: 8 * GiB, ReserveThreads: 4,
			Nodes: 1, GPUNodes: 1, Disk: 1e12, // the seed's 1 TB SSD
		},
		Users:      [2]int{50, 100},
		AIRequests: [2]float64{10, 20},
		Response:   [2]float64{2, 5},
		Uptime:     95, UptimeHigh: 98,
		Topology:        Topology{PostgresInstances: 1, RedisInstances: 1, QdrantNodes: 1, EdgeReplicas: 1, Monitoring: true},
		Replicas:        map[string]int{PartCRM: 1, PartAI: 1},
		ServiceReplicas: 1,
		Costs: CostConfig{
			// The seed's 2.5-3.5M VND of electricity is more than a laptop draws:
			// it runs 16-20 h a day in a cooled room, and the cooling dominates.
			HoursPerDay: 20, DevicePowerW: 250, CoolingPowerW: 1000,
			Internet: 1_000_000, Maintenance: 500_000,
		},
		Limits: Limits{Users: 100, ResponseSeconds: 5, DowntimePercent: 2, Revenue: 50e6, Team: 4, Compliance: 1,
			Seed: map[string]string{MetricUsers: "100+", MetricResponse: "> 5 s", MetricDowntime: "> 2 %", MetricRevenue: "50M+ VND", MetricTeam: "1-3 people", MetricCompliance: "basic"}},
	},
	Server: {
		Stage:       Server,
		Runtime:     "docker-swarm",
		Hosting:     SelfHosted,
		Replicated:  true,
		UptimeModel: UptimeCluster,
		GPUKey:      "host.gpu",
		Hardware: Hardware{
			CPU: "2x Intel Xeon (dual socket)", Threads: 64, Memory: 128 * GiB,
			GPU: "NVIDIA GeForce RTX 4090", GPUCount: 1, VRAM: 24 * GiB,
			ReserveMemory: 16 * GiB, ReserveThreads: 8,
			// Three nodes: the smallest Swarm whose managers keep quorum when
			// one fails, with the GPU in the two AI nodes.
			Nodes: 3, GPUNodes: 2, Disk: 10e12, // the seed's 10 TB NVMe RAID
		},
		Users:      [2]int{500, 1000},
		AIRequests: [2]float64{50, 100},
		Response:   [2]float64{1, 3},
		Uptime:     99.5,
		Topology: Topology{PostgresInstances: 2, RedisInstances: 2, Sentinels: 3, QdrantNodes: 3, LoadBalancers: 2, Monitoring: true,
			EdgeReplicas: 2, PerNode: true, ExclusiveGPUs: true, Backups: true},
		Replicas:        map[string]int{PartCRM: 3, PartAI: 2},
		ServiceReplicas: 2,
		Costs: CostConfig{
			HoursPerDay: 24, DevicePowerW: 550, CoolingPowerW: 500, NASPowerW: 60,
			Internet: 4_000_000, Maintenance: 2_500_000, Lease: 17_500_000,
			// The seed's 80-120M VND investment, at its middle.
			Investment: 100_000_000,
		},
		Limits: Limits{Users: 1000, ResponseSeconds: 3, DowntimePercent: 0.5, Revenue: 500e6, Team: 11, Compliance: 2,
			Seed: map[string]string{MetricUsers: "1000+", MetricResponse: "> 3 s", MetricDowntime: "> 0.5 %", MetricRevenue: "500M+ VND", MetricTeam: "5-10 people", MetricCompliance: "medium"}},
	},
	Cloud: {
		Stage:       Cloud,
		Runtime:     "kubernetes",
		Hosting:     Provider,
		Provider:    "aws",
		Replicated:  true,
		Autoscaled:  true,
		UptimeModel: UptimeProviderSLA,
		GPUKey:      "cloud.gpuInstanceType",
		// No single host: the GPU node group's instance type (nextflow:cloud) gives the GPU.
		Users:      [2]int{10000, 0},
		AIRequests: [2]float64{1000, 0},
		Response:   [2]float64{0.5, 2},
		Uptime:     99.99,
		// Managed PostgreSQL and Redis; Qdrant runs as a StatefulSet of three.
		Topology: Topology{QdrantNodes: 3, EdgeReplicas: 2, ExclusiveGPUs: true, Monitoring: true, Managed: []Kind{KindDatabase, KindCache}},
		Replicas: map[string]int{PartCRM: 10, PartAI: 2},
		// A g5.xlarge has 4 vCPUs and 16 GiB: Ollama on its GPU needs few
		// cores, and the node keeps some of each for itself.
		Sizing:          map[string]Sizing{PartAI: {CPUs: 3.5, Memory: 12 * GiB, CPURequest: 2, MemoryRequest: 4 * GiB}},
		ServiceReplicas: 2,
		Costs: CostConfig{
			AIAPI: 100_000_000, Monitoring: 15_000_000, DevOps: 150_000_000,
			DataTransferGB: 2000, NatGB: 1000, S3GB: 500, LogsGB: 20,
		},
		// The cloud's row is its own scale: beyond it the cloud grows within itself.
		Limits: Limits{Users: 10000, ResponseSeconds: 2, DowntimePercent: 0.01, Revenue: 5e9, Team: 20, Compliance: 3,
			Seed: map[string]string{MetricUsers: "10000+", MetricResponse: "> 2 s", MetricDowntime: "> 0.01 %", MetricRevenue: "5B+ VND", MetricTeam: "20+ people", MetricCompliance: "enterprise"}},
	},
}

// The metrics of the decision matrix, in the seed's order.
const (
	MetricUsers      = "concurrent users"
	MetricResponse   = "response time (p95)"
	MetricDowntime   = "downtime per month"
	MetricRevenue    = "revenue per month"
	MetricTeam       = "team size"
	MetricCompliance = "compliance needs"
)

// StageNames returns the stage names sorted, for messages.
func StageNames() []string {
	out := make([]string, 0, len(Profiles))
	for s := range Profiles {
		out = append(out, string(s))
	}
	sort.Strings(out)
	return out
}
