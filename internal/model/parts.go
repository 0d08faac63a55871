package model

import (
	"fmt"
	"sort"

	"github.com/nextflow-crm/nfx/internal/provider/aws"
)

// Kind is what a part is for. Each stage has one provisioner per kind: a
// database is a container on the laptop, a primary and a replica on the
// server, RDS in the cloud.
type Kind string

// The part kinds.
const (
	// KindWeb is an HTTP app: the CRM, a user's admin app.
	KindWeb Kind = "web"
	// KindWorker is a process without inbound traffic: a queue worker, a scheduler.
	KindWorker Kind = "worker"
	// KindAI is the LLM server.
	KindAI Kind = "ai"
	// KindDatabase is the relational database.
	KindDatabase Kind = "database"
	// KindCache is the cache and queue store.
	KindCache Kind = "cache"
	// KindVector is the vector store.
	KindVector Kind = "vector"
	// KindEdge is what brings outside traffic in: a tunnel, or DNS.
	KindEdge Kind = "edge"
)

// Kinds lists every part kind; every stage provisions each of them.
var Kinds = []Kind{KindEdge, KindWeb, KindWorker, KindAI, KindDatabase, KindCache, KindVector}

// Built-in part names. Each is also its config key and its service's name.
const (
	PartCRM      = "crm"
	PartAI       = "ai"
	PartPostgres = "postgres"
	PartRedis    = "redis"
	PartQdrant   = "qdrant"
	PartTunnel   = "tunnel"
)

// ServiceType is the component type token of a user's own service.
const ServiceType = "nextflow:index:Service"

// PartDef declares one built-in part, once: its name (also its config key),
// kind, component type, the endpoints it offers and needs, and how its
// config becomes the platform-neutral service. Every list of parts (config
// keys, Pulumi.yaml, checks, the host fit, the components, the diff, the
// report) is derived from BuiltinParts.
type PartDef struct {
	Name string
	Kind Kind
	// Type is the component type token. Type tokens and names are API:
	// changing one replaces the resources of every existing stack.
	Type string
	// Doc says what the part is, for Pulumi.yaml and reports.
	Doc    string
	Offers []Endpoint
	Needs  []Endpoint
	// config returns the part's config object, decoded from nextflow:<Name>.
	config func(*Config) any
	// image and sizing return the part's image and sizing fields.
	image  func(*Config) string
	sizing func(*Config) Sizing
	// replicas is the part's configured replica count (1 when it has none).
	replicas func(*Config) int
	// public says where the part is reachable from outside, if it is.
	public func(*Config) *Public
	// service builds the part's neutral container description.
	service func(*Config) Service
	// runs reports whether the part runs a container of its own on c
	// (the edge runs none without a tunnel); nil means always.
	runs func(*Config) bool
	// autoscale lets a stage that autoscales grow the part past its
	// replicas, to the provider's ceiling.
	autoscale bool
	// Holds names the data the part keeps ("" for none): the one fact from
	// which the backups (BackupKinds), the migration's stores and the
	// promotion's stateful gate (DataTypes) are derived.
	Holds string
}

// BuiltinParts is the part table of NextFlow.
var BuiltinParts = []PartDef{
	{
		Name: PartCRM, Kind: KindWeb, Type: "nextflow:index:Crm", Doc: "the CRM web app",
		Needs:     []Endpoint{EndpointDB, EndpointDBRead, EndpointCache, EndpointVector, EndpointAI},
		config:    func(c *Config) any { return &c.CRM },
		image:     func(c *Config) string { return c.CRM.Image },
		sizing:    func(c *Config) Sizing { return c.CRM.Sizing },
		replicas:  func(c *Config) int { return c.CRM.Replicas },
		public:    func(c *Config) *Public { return &Public{Hostname: c.Tunnel.Hostname, LocalPort: c.Tunnel.LocalPort} },
		service:   crmService,
		autoscale: true,
	},
	{
		Name: PartAI, Kind: KindAI, Type: "nextflow:index:Ai", Doc: "the Ollama LLM server",
		Offers:   []Endpoint{EndpointAI},
		config:   func(c *Config) any { return &c.AI },
		image:    func(c *Config) string { return c.AI.Image },
		sizing:   func(c *Config) Sizing { return c.AI.Sizing },
		replicas: func(c *Config) int { return c.AI.Replicas },
		service:  aiService,
		Holds:    DataModels,
	},
	{
		Name: PartPostgres, Kind: KindDatabase, Type: "nextflow:index:Postgres", Doc: "PostgreSQL",
		Offers:  []Endpoint{EndpointDB, EndpointDBRead},
		config:  func(c *Config) any { return &c.Postgres },
		image:   func(c *Config) string { return c.Postgres.Image },
		sizing:  func(c *Config) Sizing { return c.Postgres.Sizing },
		service: postgresService,
		Holds:   DataPostgres,
	},
	{
		Name: PartRedis, Kind: KindCache, Type: "nextflow:index:Redis", Doc: "Redis",
		Offers:  []Endpoint{EndpointCache},
		config:  func(c *Config) any { return &c.Redis },
		image:   func(c *Config) string { return c.Redis.Image },
		sizing:  func(c *Config) Sizing { return c.Redis.Sizing },
		service: redisService,
		Holds:   DataRedis,
	},
	{
		Name: PartQdrant, Kind: KindVector, Type: "nextflow:index:Qdrant", Doc: "the Qdrant vector database",
		Offers:  []Endpoint{EndpointVector},
		config:  func(c *Config) any { return &c.Qdrant },
		image:   func(c *Config) string { return c.Qdrant.Image },
		sizing:  func(c *Config) Sizing { return c.Qdrant.Sizing },
		service: qdrantService,
		Holds:   DataQdrant,
	},
	{
		Name: PartTunnel, Kind: KindEdge, Type: "nextflow:index:Tunnel", Doc: "the Cloudflare Tunnel",
		config:  func(c *Config) any { return &c.Tunnel },
		image:   func(c *Config) string { return c.Tunnel.Image },
		sizing:  func(*Config) Sizing { return TunnelSizing },
		service: tunnelService,
		runs:    tunnelRuns,
	},
}

// The data the parts hold (PartDef.Holds), as backups and migrations name
// them.
const (
	DataPostgres = "postgres"
	DataRedis    = "redis"
	DataQdrant   = "qdrant"
	DataModels   = "models"
)

// DataParts are the built-in parts that hold data: the stores in the
// table's order, then the AI part's models (the largest, restored last).
func DataParts() []PartDef {
	var out []PartDef
	for _, p := range BuiltinParts {
		if p.Holds != "" {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Kind != KindAI && out[j].Kind == KindAI })
	return out
}

// dataKinds is the data the parts hold, in DataParts' order.
func dataKinds() []string {
	var out []string
	for _, p := range DataParts() {
		out = append(out, p.Holds)
	}
	return out
}

// DataTypes are the provider resources whose replacement or deletion
// loses a part's data, by the part's kind, on the stages that provision
// the part as such a resource (RDS and ElastiCache in the cloud, the
// workloads' StatefulSets and volume claims on Kubernetes); BackupTypes
// hold the backups. The promotion's stateful gate reads them for every
// part that holds data.
var (
	DataTypes = map[Kind][]string{
		KindDatabase: {aws.DBInstance, "kubernetes:apps/v1:StatefulSet", "kubernetes:core/v1:PersistentVolumeClaim"},
		KindCache:    {aws.CacheGroup, "kubernetes:apps/v1:StatefulSet", "kubernetes:core/v1:PersistentVolumeClaim"},
		KindVector:   {"kubernetes:apps/v1:StatefulSet", "kubernetes:core/v1:PersistentVolumeClaim"},
		KindAI:       {"kubernetes:apps/v1:StatefulSet", "kubernetes:core/v1:PersistentVolumeClaim"},
	}
	BackupTypes = []string{aws.Bucket, aws.LegacyBucket}
)

// StatefulTypes is every resource type whose replacement or deletion
// loses data: those of each part that holds data, and the backups'.
func StatefulTypes() map[string]bool {
	out := map[string]bool{}
	for _, p := range DataParts() {
		for _, t := range DataTypes[p.Kind] {
			out[t] = true
		}
	}
	for _, t := range BackupTypes {
		out[t] = true
	}
	return out
}

// tunnelRuns says the stage runs cloudflared: a tunnel mode is set and the
// stage's edge runs containers (a provider's edge is DNS).
func tunnelRuns(c *Config) bool {
	return c.Tunnel.Mode != TunnelNone && Profiles[c.Stage].Topology.EdgeReplicas > 0
}

// LookupPart finds a built-in part by name.
func LookupPart(name string) (PartDef, bool) {
	for _, p := range BuiltinParts {
		if p.Name == name {
			return p, true
		}
	}
	return PartDef{}, false
}

// Public says where a web part is reachable from outside: its hostname
// (through the tunnel, nginx or the cloud's load balancer) and, where a
// stage has no edge, the loopback port it is published on.
type Public struct {
	Hostname  string
	LocalPort int
}

// Part is one logical part of NextFlow on a stage, built-in or the user's
// own: what it is, what it offers and needs, and the container that runs
// it where the stage runs one.
type Part struct {
	Name string
	Kind Kind
	Type string
	// Key is the config key the part comes from, for messages:
	// nextflow:crm, or nextflow:services[2].
	Key     string
	BuiltIn bool
	Doc     string
	Offers  []Endpoint
	Needs   []Endpoint
	// Replicas is the part's replica count on this stage.
	Replicas int
	// Public is set for a part reachable from outside.
	Public *Public
	// Runs is false for a part that runs no container of its own here.
	Runs bool
	// Service is the part's neutral container (Runs or not: a provider
	// stage realises some parts without containers).
	Service Service
	// GPUMemory is the VRAM a user's GPU service needs (0 for built-ins:
	// Ollama's need is the model's).
	GPUMemory Bytes
	// Autoscale lets a stage that autoscales grow the part past Replicas.
	Autoscale bool
}

// Offering returns the part that offers endpoint e.
func (a *App) Offering(e Endpoint) (*Part, bool) {
	for i := range a.Parts {
		for _, o := range a.Parts[i].Offers {
			if o == e {
				return &a.Parts[i], true
			}
		}
	}
	return nil, false
}

// Part returns the named part.
func (a *App) Part(name string) (*Part, bool) {
	for i := range a.Parts {
		if a.Parts[i].Name == name {
			return &a.Parts[i], true
		}
	}
	return nil, false
}

// PartsOf returns the parts of kind k, in order.
func (a *App) PartsOf(k Kind) []*Part {
	var out []*Part
	for i := range a.Parts {
		if a.Parts[i].Kind == k {
			out = append(out, &a.Parts[i])
		}
	}
	return out
}

// PublicParts are the parts reachable from outside, the CRM first.
func (a *App) PublicParts() []*Part {
	var out []*Part
	for i := range a.Parts {
		if a.Parts[i].Public != nil {
			out = append(out, &a.Parts[i])
		}
	}
	return out
}

// RoutedParts are the public parts a tunnel routes to: those with a port.
func (a *App) RoutedParts() []*Part {
	var out []*Part
	for _, p := range a.PublicParts() {
		if len(p.Service.Ports) > 0 {
			out = append(out, p)
		}
	}
	return out
}

// parts builds every part of c: the built-in ones from the table, then the
// user's services, in config order.
func parts(c *Config) []Part {
	var out []Part
	for _, d := range BuiltinParts {
		p := Part{
			Name: d.Name, Kind: d.Kind, Type: d.Type, Key: FullKey(d.Name), BuiltIn: true, Doc: d.Doc,
			Offers: d.Offers, Needs: d.Needs, Replicas: 1, Runs: d.runs == nil || d.runs(c), Autoscale: d.autoscale,
		}
		if d.replicas != nil {
			p.Replicas = d.replicas(c)
		}
		if d.public != nil {
			p.Public = d.public(c)
		}
		p.Service = d.service(c)
		out = append(out, p)
	}
	for i, s := range c.Services {
		out = append(out, userPart(c, i, s))
	}
	return out
}

// dependsOn derives a part's start order from what it needs: it waits for
// each offering part to be healthy, and for the AI only to start (pulling
// a model takes minutes). The edge waits for the public web apps.
func dependsOn(all []Part, p *Part) []Dependency {
	seen := map[string]bool{}
	var out []Dependency
	add := func(q *Part) {
		if q.Name == p.Name || seen[q.Name] || !q.Runs {
			return
		}
		seen[q.Name] = true
		out = append(out, Dependency{Service: q.Name, Healthy: q.Kind != KindAI})
	}
	for _, e := range p.Needs {
		for i := range all {
			if slicesContains(all[i].Offers, e) {
				add(&all[i])
			}
		}
	}
	if p.Kind == KindEdge {
		for i := range all {
			if all[i].Public != nil {
				add(&all[i])
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out
}

func slicesContains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// NeedsPath names the config key of a part's needs, for messages.
func (p *Part) NeedsPath() string {
	if p.BuiltIn {
		return p.Key
	}
	return p.Key + ".needs"
}

func (p *Part) String() string { return fmt.Sprintf("%s (%s)", p.Name, p.Kind) }

// PartText says how a stage runs one part, for diffs and reports.
type PartText struct {
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	Text string `json:"text"`
}
