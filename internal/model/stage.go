package model

import (
	"fmt"
	"sort"
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
	for _, st := range Stages {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown stage %q; use one of laptop, server, cloud", s)
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
}

// HasGPU reports whether the host has a usable GPU.
func (h Hardware) HasGPU() bool { return h.GPU != "" && h.GPUCount > 0 && h.VRAM > 0 }

// Profile is what a stage is, per the seed: its hardware, runtime and targets.
type Profile struct {
	Stage Stage
	// Runtime is how containers run: "docker-compose", "docker-swarm" or "kubernetes".
	Runtime string
	// Hardware is the default host (zero for the cloud, which has node groups).
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
}

// Topology is the shape of a stage's self-hosted parts: the counts that
// make a part redundant. A count of 0 means the stage does not run that
// piece itself (a managed service, or no load balancer).
type Topology struct {
	// PostgresInstances is 1 (one container) or 2 (primary and streaming replica).
	PostgresInstances int
	// RedisInstances is 1, or 2 (primary and replica) with Sentinels watching them.
	RedisInstances int
	Sentinels      int
	// QdrantNodes is the Qdrant cluster size.
	QdrantNodes int
	// LoadBalancers is the number of nginx replicas in front of the CRM.
	LoadBalancers int
	// Backups says whether the stage runs scheduled backups to a NAS.
	Backups bool
}

// Profiles holds the seed's stage profiles.
var Profiles = map[Stage]Profile{
	Laptop: {
		Stage:   Laptop,
		Runtime: "docker-compose",
		Hardware: Hardware{
			CPU: "Intel Core i9-13900HX", Threads: 24, Memory: 40 * GiB,
			GPU: "NVIDIA GeForce RTX 4060 Laptop", GPUCount: 1, VRAM: 8 * GiB,
			ReserveMemory: 8 * GiB, ReserveThreads: 4,
			Nodes: 1, GPUNodes: 1,
		},
		Users:      [2]int{50, 100},
		AIRequests: [2]float64{10, 20},
		Response:   [2]float64{2, 5},
		Uptime:     95, UptimeHigh: 98,
		Topology: Topology{PostgresInstances: 1, RedisInstances: 1, QdrantNodes: 1},
	},
	Server: {
		Stage:   Server,
		Runtime: "docker-swarm",
		Hardware: Hardware{
			CPU: "2x Intel Xeon (dual socket)", Threads: 64, Memory: 128 * GiB,
			GPU: "NVIDIA GeForce RTX 4090", GPUCount: 1, VRAM: 24 * GiB,
			ReserveMemory: 16 * GiB, ReserveThreads: 8,
			// Three nodes: the smallest Swarm whose managers keep quorum when
			// one fails, with the GPU in the two AI nodes.
			Nodes: 3, GPUNodes: 2,
		},
		Users:      [2]int{500, 1000},
		AIRequests: [2]float64{50, 100},
		Response:   [2]float64{1, 3},
		Uptime:     99.5,
		Topology:   Topology{PostgresInstances: 2, RedisInstances: 2, Sentinels: 3, QdrantNodes: 3, LoadBalancers: 2, Backups: true},
	},
	Cloud: {
		Stage:   Cloud,
		Runtime: "kubernetes",
		// No single host: the GPU node group's instance type (nextflow:cloud) gives the GPU.
		Users:      [2]int{10000, 0},
		AIRequests: [2]float64{1000, 0},
		Response:   [2]float64{0.5, 2},
		Uptime:     99.99,
		// Managed PostgreSQL and Redis; Qdrant runs as a StatefulSet of three.
		Topology: Topology{QdrantNodes: 3},
	},
}

// StageNames returns the stage names sorted, for messages.
func StageNames() []string {
	out := make([]string, 0, len(Stages))
	for _, s := range Stages {
		out = append(out, string(s))
	}
	sort.Strings(out)
	return out
}
