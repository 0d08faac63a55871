package model

import (
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
)

// Raw is configuration as read from its source, before decoding: the values
// of keys in the `nextflow:` namespace, keyed by their short name. Strings
// are kept as written; objects are JSON, as Pulumi passes them to programs.
type Raw struct {
	Values map[string]string
	// Secret marks keys whose value is a Pulumi secret. Their values are
	// never read by the model.
	Secret map[string]bool
	// Complete is true when Values holds every key of the source (a stack
	// file), so that unknown keys can be reported.
	Complete bool
	// Source names where the values came from, for messages.
	Source string
}

// LoadOptions tunes Load.
type LoadOptions struct {
	// RequireSecrets makes missing secret values an error. Offline commands
	// leave it off: they never need secret values.
	RequireSecrets bool
}

// Load turns raw configuration into a validated Config for stage. It runs
// these phases in order, each collecting diagnostics:
//
//  1. stage: the stage must be known, and `nextflow:stage`, if set, must match it.
//  2. keys: every key must be one nfx reads (when the source is complete).
//  3. defaults: the stage's profile and defaults (Defaults).
//  4. decode: each key decoded strictly over the defaults: unknown fields and
//     wrongly typed values are reported, field by field.
//  5. structure: each value on its own: ranges, pinned images, enums, names.
//  6. references: values that depend on each other: the tunnel mode and the
//     keys it needs, secrets, request against limit.
//  7. capabilities: what the stage's host can hold: GPU or CPU for the
//     model, the model's size against VRAM or RAM, limits against the host.
//
// Load stops after a phase that found errors, so later phases can rely on
// the earlier ones. The returned Diagnostics hold warnings too.
func Load(stage string, raw Raw, opts LoadOptions) (*Config, Diagnostics) {
	var ds Diagnostics
	st := phaseStage(stage, raw, &ds)
	if ds.HasErrors() {
		return nil, ds
	}
	phaseKeys(raw, &ds)
	cfg := Defaults(st)
	phaseDecode(raw, &cfg, &ds)
	if ds.HasErrors() {
		return nil, ds
	}
	phaseStructure(&cfg, &ds)
	if ds.HasErrors() {
		return nil, ds
	}
	phaseReferences(&cfg, opts, &ds)
	if ds.HasErrors() {
		return nil, ds
	}
	phaseCapabilities(&cfg, &ds)
	if ds.HasErrors() {
		return nil, ds
	}
	return &cfg, ds
}

func phaseStage(stage string, raw Raw, ds *Diagnostics) Stage {
	st, err := ParseStage(stage)
	if err != nil {
		ds.Errorf("stage", "use one of "+strings.Join(StageNames(), ", "), "unknown stage %q", stage)
		return ""
	}
	if v, ok := raw.Values["stage"]; ok && v != "" && v != stage {
		ds.Errorf(FullKey("stage"), fmt.Sprintf("set it to %q or remove it (it defaults to the stack name)", stage),
			"is %q but the stack being run is the %q stage", v, stage)
	}
	return st
}

func phaseKeys(raw Raw, ds *Diagnostics) {
	if !raw.Complete {
		return
	}
	names := make([]string, 0, len(raw.Values))
	for k := range raw.Values {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if _, ok := LookupKey(k); !ok {
			known := make([]string, 0, len(Keys))
			for _, key := range Keys {
				known = append(known, key.Name)
			}
			ds.Errorf(FullKey(k), "remove it or use one of "+strings.Join(known, ", "), "unknown config key")
		}
	}
}

func phaseDecode(raw Raw, cfg *Config, ds *Diagnostics) {
	for _, k := range Keys {
		v, ok := raw.Values[k.Name]
		if !ok {
			continue
		}
		if k.Secret {
			if v == "" { // Pulumi.yaml's empty default: unset
				continue
			}
			if !raw.Secret[k.Name] {
				ds.Errorf(FullKey(k.Name), fmt.Sprintf("set it with `pulumi config set --secret %s <value>`", FullKey(k.Name)),
					"is stored in plaintext but must be a secret (its value is not shown)")
				continue
			}
			cfg.SecretsSet[k.Name] = v != ""
			continue
		}
		if raw.Secret[k.Name] {
			ds.Errorf(FullKey(k.Name), "set it without --secret", "is a secret, but it is not a secret key")
			continue
		}
		switch dst := k.field(cfg).(type) {
		case *Stage:
			if v != "" {
				*dst = Stage(v)
			}
		default:
			decodeObject(FullKey(k.Name), v, dst, ds)
		}
	}
}

var (
	hostnameRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	identRE    = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
	cfIDRE     = regexp.MustCompile(`^[0-9a-f]{32}$`)
	timeRE     = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
	// A reference is name[:tag][@digest]; the name may carry a registry with a port.
	imageRE = regexp.MustCompile(`^[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$`)
)

// imagePinned reports whether an image reference names a fixed version: a
// digest, or a tag other than latest.
func imagePinned(ref string) bool {
	if strings.Contains(ref, "@sha256:") {
		return true
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	_, tag, ok := strings.Cut(last, ":")
	return ok && tag != "" && tag != "latest"
}

func checkImage(path, ref string, ds *Diagnostics) {
	switch {
	case !imageRE.MatchString(ref):
		ds.Errorf(path, "write an image reference such as postgres:16.6-bookworm", "%q is not a valid image reference", ref)
	case !imagePinned(ref):
		ds.Errorf(path, "pin a version tag or digest, for example "+pinExample(ref), "image %q is not pinned to a version", ref)
	}
}

func pinExample(ref string) string {
	base, _, _ := strings.Cut(ref, "@")
	if i := strings.LastIndex(base, ":"); i > strings.LastIndex(base, "/") {
		base = base[:i]
	}
	return base + ":<version>"
}

func checkSizing(path string, s Sizing, ds *Diagnostics) {
	if s.CPUs <= 0 {
		ds.Errorf(path+".cpus", "set a CPU limit above 0, such as 1 or 0.5", "must be > 0, got %g", s.CPUs)
	}
	if s.Memory < 16*MiB {
		ds.Errorf(path+".memory", "set a memory limit of at least 16MiB, such as 1GiB", "must be >= 16MiB, got %s", s.Memory)
	}
	if s.CPURequest < 0 {
		ds.Errorf(path+".cpuRequest", "set 0 or more", "must be >= 0, got %g", s.CPURequest)
	}
	if s.MemoryRequest < 0 {
		ds.Errorf(path+".memoryRequest", "set 0 or more", "must be >= 0, got %s", s.MemoryRequest)
	}
}

func checkPort(path string, p int, ds *Diagnostics) {
	if p < 1 || p > 65535 {
		ds.Errorf(path, "use a TCP port between 1 and 65535", "must be a TCP port, got %d", p)
	}
}

func phaseStructure(c *Config, ds *Diagnostics) {
	k := FullKey
	checkImage(k("crm.image"), c.CRM.Image, ds)
	checkImage(k("ai.image"), c.AI.Image, ds)
	checkImage(k("postgres.image"), c.Postgres.Image, ds)
	checkImage(k("redis.image"), c.Redis.Image, ds)
	checkImage(k("qdrant.image"), c.Qdrant.Image, ds)
	checkImage(k("tunnel.image"), c.Tunnel.Image, ds)

	if c.CRM.Replicas < 1 {
		ds.Errorf(k("crm.replicas"), "set it to 1 or more", "must be >= 1, got %d", c.CRM.Replicas)
	}
	if c.AI.Replicas < 1 {
		ds.Errorf(k("ai.replicas"), "set it to 1 or more", "must be >= 1, got %d", c.AI.Replicas)
	}
	checkPort(k("crm.port"), c.CRM.Port, ds)
	checkPort(k("tunnel.localPort"), c.Tunnel.LocalPort, ds)
	if !strings.HasPrefix(c.CRM.HealthPath, "/") {
		ds.Errorf(k("crm.healthPath"), "start it with a slash, such as /healthz", "must be an absolute HTTP path, got %q", c.CRM.HealthPath)
	}
	checkSizing(k("crm"), c.CRM.Sizing, ds)
	checkSizing(k("ai"), c.AI.Sizing, ds)
	checkSizing(k("postgres"), c.Postgres.Sizing, ds)
	checkSizing(k("redis"), c.Redis.Sizing, ds)
	checkSizing(k("qdrant"), c.Qdrant.Sizing, ds)
	if c.AI.ModelSize < 0 {
		ds.Errorf(k("ai.modelSize"), "set the model's download size, such as 4.9GiB", "must be > 0, got %s", c.AI.ModelSize)
	}
	if !identRE.MatchString(c.Postgres.Database) {
		ds.Errorf(k("postgres.database"), "use lower-case letters, digits and underscores", "%q is not a plain PostgreSQL identifier", c.Postgres.Database)
	}
	if !identRE.MatchString(c.Postgres.User) {
		ds.Errorf(k("postgres.user"), "use lower-case letters, digits and underscores", "%q is not a plain PostgreSQL identifier", c.Postgres.User)
	}
	if c.Redis.MaxMemory < MiB {
		ds.Errorf(k("redis.maxMemory"), "set at least 1MiB, such as 768MiB", "must be >= 1MiB, got %s", c.Redis.MaxMemory)
	}
	if !contains(TunnelModes, c.Tunnel.Mode) {
		ds.Errorf(k("tunnel.mode"), "use one of "+strings.Join(TunnelModes, ", "), "unknown tunnel mode %q", c.Tunnel.Mode)
	}
	if !hostnameRE.MatchString(c.Tunnel.Hostname) {
		ds.Errorf(k("tunnel.hostname"), "use a DNS name such as crm.example.com", "%q is not a valid hostname", c.Tunnel.Hostname)
	}
	checkImage(k("nginx.image"), c.Nginx.Image, ds)
	checkPort(k("nginx.httpPort"), c.Nginx.HTTPPort, ds)
	if c.Nginx.RateLimit < 1 {
		ds.Errorf(k("nginx.rateLimit"), "set requests per second per client, such as 20", "must be >= 1, got %d", c.Nginx.RateLimit)
	}
	if c.Nginx.BodyLimit < MiB {
		ds.Errorf(k("nginx.bodyLimit"), "set at least 1MiB, such as 20MiB", "must be >= 1MiB, got %s", c.Nginx.BodyLimit)
	}
	if !timeRE.MatchString(c.Backup.Time) {
		ds.Errorf(k("backup.time"), "write the daily time as HH:MM, such as 03:00", "%q is not a time of day", c.Backup.Time)
	}
	if c.Backup.RetentionDays < 1 {
		ds.Errorf(k("backup.retentionDays"), "keep backups for 1 day or more, such as 14", "must be >= 1, got %d", c.Backup.RetentionDays)
	}
	if !hostnameRE.MatchString(c.Backup.NFSServer) && net.ParseIP(c.Backup.NFSServer) == nil {
		ds.Errorf(k("backup.nfsServer"), "use the NAS's DNS name or IP address", "%q is not a host", c.Backup.NFSServer)
	}
	if !strings.HasPrefix(c.Backup.NFSPath, "/") {
		ds.Errorf(k("backup.nfsPath"), "use the absolute path the NAS exports, such as /srv/nextflow-backups", "must be absolute, got %q", c.Backup.NFSPath)
	}
	checkCosts(c.Costs, ds)
	checkCapacity(c.Capacity, ds)
	h := c.Host
	if c.Stage == Cloud {
		checkCloud(c, ds)
		return // no single host: node groups size the cloud
	}
	if h.Nodes < 1 {
		ds.Errorf(k("host.nodes"), "set the number of machines, 1 or more", "must be >= 1, got %d", h.Nodes)
	}
	if h.GPUNodes < 0 || h.GPUNodes > h.Nodes {
		ds.Errorf(k("host.gpuNodes"), fmt.Sprintf("keep it between 0 and host.nodes (%d)", h.Nodes), "got %d", h.GPUNodes)
	}
	if h.Threads < 1 {
		ds.Errorf(k("host.threads"), "set the host's hardware thread count", "must be >= 1, got %d", h.Threads)
	}
	if h.Memory < GiB {
		ds.Errorf(k("host.memory"), "set the host's RAM, such as 40GiB", "must be >= 1GiB, got %s", h.Memory)
	}
	if h.ReserveThreads < 0 || h.ReserveThreads >= h.Threads && h.Threads > 0 {
		ds.Errorf(k("host.reserveThreads"), "keep it between 0 and host.threads - 1", "must leave threads for containers, got %d of %d", h.ReserveThreads, h.Threads)
	}
	if h.ReserveMemory < 0 || h.ReserveMemory >= h.Memory && h.Memory > 0 {
		ds.Errorf(k("host.reserveMemory"), "keep it below host.memory", "must leave memory for containers, got %s of %s", h.ReserveMemory, h.Memory)
	}
	if h.GPU != "" && (h.GPUCount < 1 || h.VRAM <= 0) {
		ds.Errorf(k("host.gpu"), "set host.gpuCount >= 1 and host.vram, or set host.gpu to \"\" for a host without a GPU",
			"GPU %q needs gpuCount >= 1 and vram > 0, got %d and %s", h.GPU, h.GPUCount, h.VRAM)
	}
}

func phaseReferences(c *Config, opts LoadOptions, ds *Diagnostics) {
	k := FullKey
	secret := func(name, why string) {
		if c.SecretsSet[name] {
			return
		}
		key, _ := LookupKey(name)
		fix := fmt.Sprintf("set it with `pulumi config set --secret %s <value> -s %s`", k(name), c.Stage)
		if key.Generated {
			fix += ", or let `nfx up` generate it"
		} else {
			fix += fmt.Sprintf(", or export %s for `nfx up` to store it", SecretEnv(name))
		}
		ds.Errorf(k(name), fix, "is required %s", why)
	}
	if opts.RequireSecrets {
		secret(KeyPostgresPassword, "for the database")
		secret(KeyRedisPassword, "for Redis")
		if Profiles[c.Stage].Topology.PostgresInstances > 1 {
			secret(KeyReplicationPassword, "for PostgreSQL streaming replication")
		}
		if c.Tunnel.Mode == TunnelToken {
			secret(KeyTunnelToken, "when nextflow:tunnel.mode is token (or set nextflow:tunnel.mode to none to run without the tunnel)")
		}
		if c.Tunnel.Mode == TunnelManaged {
			secret(KeyTunnelSecret, "when nextflow:tunnel.mode is managed")
		}
	}
	if c.Tunnel.Mode == TunnelManaged {
		if !cfIDRE.MatchString(c.Tunnel.AccountID) {
			ds.Errorf(k("tunnel.accountId"), "set the 32-hex-digit Cloudflare account ID, or use tunnel.mode token",
				"must be a Cloudflare account ID when tunnel.mode is managed, got %q", c.Tunnel.AccountID)
		}
		if !cfIDRE.MatchString(c.Tunnel.ZoneID) {
			ds.Errorf(k("tunnel.zoneId"), "set the 32-hex-digit Cloudflare zone ID of tunnel.hostname",
				"must be a Cloudflare zone ID when tunnel.mode is managed, got %q", c.Tunnel.ZoneID)
		}
	}
	for _, p := range []struct {
		name string
		s    Sizing
	}{{"crm", c.CRM.Sizing}, {"ai", c.AI.Sizing}, {"postgres", c.Postgres.Sizing}, {"redis", c.Redis.Sizing}, {"qdrant", c.Qdrant.Sizing}} {
		if p.s.CPURequest > p.s.CPUs {
			ds.Errorf(k(p.name+".cpuRequest"), fmt.Sprintf("keep it at or below %s.cpus (%g)", p.name, p.s.CPUs),
				"reserves more CPU than the limit: %g > %g", p.s.CPURequest, p.s.CPUs)
		}
		if p.s.MemoryRequest > p.s.Memory {
			ds.Errorf(k(p.name+".memoryRequest"), fmt.Sprintf("keep it at or below %s.memory (%s)", p.name, p.s.Memory),
				"reserves more memory than the limit: %s > %s", p.s.MemoryRequest, p.s.Memory)
		}
	}
	if c.Redis.MaxMemory > c.Redis.Memory {
		ds.Errorf(k("redis.maxMemory"), fmt.Sprintf("keep it below redis.memory (%s), leaving room for Redis's own overhead", c.Redis.Memory),
			"is above the container limit: %s > %s", c.Redis.MaxMemory, c.Redis.Memory)
	}
}

func phaseCapabilities(c *Config, ds *Diagnostics) {
	k := FullKey
	if c.Stage == Cloud {
		// The cloud's "host" for Ollama is one node of its GPU pool.
		c.Host = cloudHost(c)
	}
	h := c.Host
	// GPU or CPU.
	wantGPU := h.HasGPU()
	if c.AI.GPU != nil {
		wantGPU = *c.AI.GPU
		if wantGPU && !h.HasGPU() {
			ds.Warnf(k("ai.gpu"), "set ai.gpu false, or describe the host's GPU in nextflow:host",
				"is true but the host has no GPU; Ollama runs on CPU instead")
			wantGPU = false
		}
	}
	c.UseGPU = wantGPU
	if c.AI.Model == "" {
		c.AI.Model = DefaultCPUModel
		if c.UseGPU {
			c.AI.Model = DefaultGPUModel
		}
	}
	llm, known := LookupLLM(c.AI.Model)
	if c.AI.ModelSize != 0 {
		llm = LLM{Name: c.AI.Model, Size: c.AI.ModelSize, Params: llm.Params, KVPerToken: llm.KVPerToken}
		if !known {
			llm.Params = EstimatedParams(c.AI.ModelSize)
			llm.KVPerToken = EstimatedKVPerToken(llm.Params)
		}
	} else if !known {
		ds.Errorf(k("ai.model"), "set nextflow:ai.modelSize to its download size (see `ollama show`), or pick one of "+Names(Catalog),
			"the size of model %q is unknown to nfx", c.AI.Model)
		return
	}
	c.LLM = llm
	size := llm.Size
	if c.AI.EmbeddingModel != "" {
		e, ok := LookupEmbedding(c.AI.EmbeddingModel)
		if !ok {
			ds.Errorf(k("ai.embeddingModel"), "use one of "+Names(EmbeddingCatalog)+", or \"\" to serve none",
				"embedding model %q is unknown to nfx", c.AI.EmbeddingModel)
			return
		}
		c.Embedding = e
	}
	if c.AI.Parallel < 1 || c.AI.Parallel > 64 {
		ds.Errorf(k("ai.parallel"), "use 1 to 64; 4 is Ollama's usual choice", "must be between 1 and 64, got %d", c.AI.Parallel)
		return
	}
	// The model's weights and runtime (with one context slot), the
	// embedding model, and the KV cache of every further slot.
	slots := SlotsKV(llm, c.AI.Parallel)
	c.ModelNeed = NeedWith(llm, c.Embedding, c.AI.Parallel)
	what := fmt.Sprintf("%s needs %.1f GB (%.1f GB weights + %.0f%% runtime", c.AI.Model, c.ModelNeed.GB(), size.GB(), ModelOverhead*100)
	if c.Embedding.Size > 0 {
		what += fmt.Sprintf(", %.1f GB for %s", ModelNeed(c.Embedding.Size).GB(), c.Embedding.Name)
	}
	if slots > 0 {
		what += fmt.Sprintf(", %.1f GB of KV cache for %d more request slots", slots.GB(), c.AI.Parallel-1)
	}
	what += ")"
	if c.UseGPU {
		if c.ModelNeed > h.VRAM {
			ds.Errorf(k("ai.model"), fmt.Sprintf("choose a model that fits %.1f GB, such as %s; lower ai.parallel; or set ai.gpu false to run it on CPU", h.VRAM.GB(), largestFitting(h.VRAM, c.Embedding, c.AI.Parallel)),
				"%s but the %s has %.1f GB of VRAM", what, h.GPU, h.VRAM.GB())
		}
	} else if c.ModelNeed > c.AI.Memory {
		ds.Errorf(k("ai.model"), fmt.Sprintf("choose a model that fits %.1f GB, such as %s; lower ai.parallel; or raise ai.memory", c.AI.Memory.GB(), largestFitting(c.AI.Memory, c.Embedding, c.AI.Parallel)),
			"%s of RAM on CPU but ai.memory is %.1f GB", what, c.AI.Memory.GB())
	}
	if c.Stage == Cloud {
		return
	}
	if c.Stage == Laptop && c.CRM.Replicas > 1 {
		ds.Errorf(k("crm.replicas"), "set it to 1 on the laptop, or move to the server stage, which load-balances replicas",
			"the laptop stage runs one CRM container with no load balancer, got %d", c.CRM.Replicas)
	}
	if c.Stage == Laptop && c.AI.Replicas > 1 {
		ds.Errorf(k("ai.replicas"), "set it to 1 on the laptop; one GPU serves one Ollama node",
			"the laptop stage runs one Ollama node, got %d", c.AI.Replicas)
	}
	topo := Profiles[c.Stage].Topology
	if c.UseGPU && c.AI.Replicas > h.GPUNodes {
		ds.Errorf(k("ai.replicas"), fmt.Sprintf("run at most %d AI nodes, or raise host.gpuNodes", h.GPUNodes),
			"each AI node needs a GPU node, but %d AI nodes were asked for and host.gpuNodes is %d", c.AI.Replicas, h.GPUNodes)
	}
	if need := max(topo.PostgresInstances, topo.RedisInstances); need > h.Nodes {
		ds.Errorf(k("host.nodes"), fmt.Sprintf("set it to %d or more", need),
			"the %s stage places the PostgreSQL primary and replica on different nodes, but host.nodes is %d", c.Stage, h.Nodes)
	}
	// Limits against the hosts, with the OS reserve left free on each.
	var mem Bytes
	var cpus float64
	for _, p := range c.Placed() {
		mem += p.Sizing.Memory * Bytes(p.Count)
		cpus += p.Sizing.CPUs * float64(p.Count)
	}
	nodes := max(h.Nodes, 1)
	hostWord := "the host has"
	if nodes > 1 {
		hostWord = fmt.Sprintf("%d nodes have", nodes)
	}
	if avail := (h.Memory - h.ReserveMemory) * Bytes(nodes); mem > avail {
		ds.Errorf(k("host.memory"), fmt.Sprintf("lower the parts' memory limits by %.1f GB, or describe a larger host", (mem-avail).GB()),
			"container memory limits add up to %.1f GB but %s %.1f GB each with %.1f GB kept for the OS (%.1f GB available)",
			mem.GB(), hostWord, h.Memory.GB(), h.ReserveMemory.GB(), avail.GB())
	}
	if avail := float64((h.Threads - h.ReserveThreads) * nodes); cpus > avail+1e-9 {
		ds.Errorf(k("host.threads"), fmt.Sprintf("lower the parts' cpus by %g, or describe a larger host", cpus-avail),
			"container CPU limits add up to %g but %s %d threads each with %d kept for the OS (%g available)",
			cpus, hostWord, h.Threads, h.ReserveThreads, avail)
	}
}

// PlacedPart is one part's sizing and container count on a self-hosted host.
type PlacedPart struct {
	Name   string
	Sizing Sizing
	Count  int
}

// Placed lists the containers a self-hosted stage places on its host, with
// their sizing, for the fit check and reports.
func (c *Config) Placed() []PlacedPart {
	t := Profiles[c.Stage].Topology
	out := []PlacedPart{
		{"crm", c.CRM.Sizing, c.CRM.Replicas},
		{"ai", c.AI.Sizing, c.AI.Replicas},
		{"postgres", c.Postgres.Sizing, t.PostgresInstances},
		{"redis", c.Redis.Sizing, t.RedisInstances},
		{"sentinel", SentinelSizing, t.Sentinels},
		{"qdrant", c.Qdrant.Sizing, t.QdrantNodes},
		{"nginx", NginxSizing, t.LoadBalancers},
	}
	if c.Tunnel.Mode != TunnelNone {
		out = append(out, PlacedPart{"tunnel", TunnelSizing, 1})
	}
	if t.Backups {
		out = append(out, PlacedPart{"backup", BackupSizing, len(BackupKinds)})
	}
	var kept []PlacedPart
	for _, p := range out {
		if p.Count > 0 {
			kept = append(kept, p)
		}
	}
	return kept
}

// Fixed sizings of the helper containers.
var (
	TunnelSizing   = Sizing{CPUs: 0.5, Memory: 256 * MiB, CPURequest: 0.1, MemoryRequest: 64 * MiB}
	SentinelSizing = Sizing{CPUs: 0.25, Memory: 128 * MiB, CPURequest: 0.05, MemoryRequest: 32 * MiB}
	NginxSizing    = Sizing{CPUs: 1, Memory: 512 * MiB, CPURequest: 0.25, MemoryRequest: 128 * MiB}
	BackupSizing   = Sizing{CPUs: 1, Memory: 1 * GiB, CPURequest: 0.1, MemoryRequest: 128 * MiB}
)

// BackupKinds are what the server stage backs up, each by its own job.
var BackupKinds = []string{"postgres", "redis", "qdrant", "models"}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func checkCosts(c CostConfig, ds *Diagnostics) {
	k := func(f string) string { return FullKey("costs." + f) }
	for name, v := range map[string]float64{
		"tariff": c.Tariff, "devicePowerW": c.DevicePowerW, "coolingPowerW": c.CoolingPowerW, "nasPowerW": c.NASPowerW,
		"internet": c.Internet, "maintenance": c.Maintenance, "lease": c.Lease, "investment": c.Investment,
		"aiApi": c.AIAPI, "monitoring": c.Monitoring, "devops": c.DevOps,
		"dataTransferGB": c.DataTransferGB, "natGB": c.NatGB, "s3GB": c.S3GB, "logsGB": c.LogsGB,
	} {
		if v < 0 {
			ds.Errorf(k(name), "use 0 or more", "must be >= 0, got %g", v)
		}
	}
	if c.HoursPerDay < 0 || c.HoursPerDay > 24 {
		ds.Errorf(k("hoursPerDay"), "use hours between 0 and 24", "must be between 0 and 24, got %g", c.HoursPerDay)
	}
	if c.UsdVnd <= 0 {
		ds.Errorf(k("usdVnd"), "set the day's rate, such as 26000", "must be > 0, got %g", c.UsdVnd)
	}
	if c.AmortizationMonths < 1 {
		ds.Errorf(k("amortizationMonths"), "spread the investment over 1 month or more, such as 36", "must be >= 1, got %d", c.AmortizationMonths)
	}
}

func checkCapacity(c CapacityConfig, ds *Diagnostics) {
	k := func(f string) string { return FullKey("capacity." + f) }
	share := func(name string, v float64, lo, hi float64, fix string) {
		if v < lo || v > hi || v != v {
			ds.Errorf(k(name), fix, "must be between %g and %g, got %g", lo, hi, v)
		}
	}
	share("embedShare", c.EmbedShare, 0, 1, "use a share between 0 and 1, such as 0.9")
	share("utilization", c.Utilization, 0.05, 0.95, "quote capacity at a load between 0.05 and 0.95 of peak, such as 0.8")
	share("bandwidthEfficiency", c.BandwidthEfficiency, 0.05, 1, "use a share of the published bandwidth, such as 0.7")
	share("computeEfficiency", c.ComputeEfficiency, 0.05, 1, "use a share of the published FP16 tensor peak, such as 0.4")
	share("apiBusyHours", c.APIBusyHours, 1, 744, "use the busy hours in a month, such as 220 (10 h on 22 working days)")
	for name, v := range map[string]int{"embedTokens": c.EmbedTokens, "promptTokens": c.PromptTokens, "outputTokens": c.OutputTokens} {
		if v < 1 || v > ContextTokens {
			ds.Errorf(k(name), fmt.Sprintf("use a token count from 1 to %d, such as 128, 400 or 60", ContextTokens), "must be between 1 and %d, got %d", ContextTokens, v)
		}
	}
	if c.PromptTokens >= 1 && c.OutputTokens >= 1 && c.PromptTokens+c.OutputTokens > ContextTokens {
		ds.Errorf(k("promptTokens"), fmt.Sprintf("keep promptTokens + outputTokens within Ollama's %d-token context per request slot", ContextTokens),
			"a generation of %d prompt and %d output tokens does not fit one request slot", c.PromptTokens, c.OutputTokens)
	}
	// Per-user rates below one request in about 17 minutes would make the
	// user counts meaningless (and overflow).
	for name, v := range map[string]float64{"aiPerUser": c.AIPerUser, "crmPerUser": c.CRMPerUser} {
		if !(v >= 0.001) {
			ds.Errorf(k(name), "use requests a second per user of 0.001 or more, such as 0.15", "must be >= 0.001, got %g", v)
		}
	}
	if !(c.CRMPerCore > 0) || c.CRMPerCore > 1e6 {
		ds.Errorf(k("crmPerCore"), "use the requests a second one CRM core serves, such as 100", "must be above 0 and at most 1000000, got %g", c.CRMPerCore)
	}
	for name, v := range map[string]float64{"apiPriceInput": c.APIPriceInput, "apiPriceOutput": c.APIPriceOutput, "apiPriceEmbed": c.APIPriceEmbed} {
		if !(v >= 0) {
			ds.Errorf(k(name), "use the provider's USD price per million tokens, 0 or more", "must be >= 0, got %g", v)
		}
	}
}
