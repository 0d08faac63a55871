package model

import (
	"fmt"
	"math"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
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
	// Stack names the stack in the fixes of errors; empty means the stage's.
	Stack string
	// Today is the day the versions' support windows are checked on (and
	// the cost model prices them on); zero means now.
	Today time.Time
}

func (o LoadOptions) stack(c *Config) string {
	if o.Stack != "" {
		return o.Stack
	}
	return string(c.Stage)
}

// TodayEnv names the environment variable that sets the day a
// configuration is checked and priced on (LoadOptions.Today).
const TodayEnv = "NFX_TODAY"

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
	cfg.Today = opts.Today
	if cfg.Today.IsZero() {
		cfg.Today = time.Now().UTC()
		// NFX_TODAY checks and prices a configuration as of another day
		// (a version's end of support, its extended-support price), and
		// keeps a test's figures from moving with the calendar.
		if v := os.Getenv(TodayEnv); v != "" {
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				ds.Errorf(TodayEnv, "write a date as YYYY-MM-DD, such as "+RulesDate, "%q is not a date", v)
				return nil, ds
			}
			cfg.Today = t
		}
	}
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

// StageOfStack is the stage a stack runs: a stage's own stack (laptop,
// server, cloud) runs that stage, whatever its nextflow:stage says (Load
// reports a different one); another stack runs its nextflow:stage.
func StageOfStack(stack string, raw Raw) string {
	if _, err := ParseStage(stack); err == nil {
		return stack
	}
	if v := raw.Values["stage"]; v != "" {
		return v
	}
	return stack
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
		if raw.Secret[k.Name] && k.Name != KeyAppSecrets {
			ds.Errorf(FullKey(k.Name), "set it without --secret", "is a secret, but it is not a secret key")
			continue
		}
		if k.Name == KeyAppSecrets {
			decodeAppSecrets(v, raw.Secret[k.Name], cfg, ds)
			continue
		}
		switch dst := k.field(cfg).(type) {
		case *Stage:
			if v != "" {
				*dst = Stage(v)
			}
		case *[]ServiceConfig:
			decodeServices(FullKey(k.Name), v, dst, ds)
		default:
			decodeObject(FullKey(k.Name), v, dst, ds)
		}
	}
}

var (
	hostnameRE = lazy(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	identRE    = lazy(`^[a-z_][a-z0-9_]{0,62}$`)
	cfIDRE     = lazy(`^[0-9a-f]{32}$`)
	timeRE     = lazy(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
	// A reference is name[:tag][@digest]; the name may carry a registry with a port.
	imageRE = lazy(`^[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$`)
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

// MaxImageRef bounds an image reference: a registry's repository name is at
// most 255 characters, a tag 128, a digest 71.
const MaxImageRef = 255 + 1 + 128 + 72

func checkImage(path, ref string, ds *Diagnostics) {
	name, _, _ := strings.Cut(ref, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	switch {
	case len(ref) > MaxImageRef || len(name) > 255:
		ds.Errorf(path, "use a registry's image reference: a name of at most 255 characters, a tag of at most 128", "is %d characters long", len(ref))
	case !imageRE.MatchString(ref):
		ds.Errorf(path, "write an image reference such as postgres:16.6-bookworm", "%q is not a valid image reference", ref)
	case !imagePinned(ref):
		ds.Errorf(path, "pin a version tag or digest, for example "+pinExample(ref), "image %q is not pinned to a version", ref)
	}
}

// cloudflaredTagRE is cloudflared's release tag: year.month.patch.
var cloudflaredTagRE = lazy(`:(\d{4})\.(\d{1,2})\.(\d+)(@.*)?$`)

// checkTunnelVersion: every stage runs `cloudflared tunnel run
// --token-file`, a flag cloudflared added in 2025.4.0 (its commit
// 8f94f54e); an older release stops with "flag provided but not defined".
// A tag that is not a release version (a digest) is taken as it is.
func checkTunnelVersion(path, ref string, ds *Diagnostics) {
	m := cloudflaredTagRE.FindStringSubmatch(ref)
	if m == nil {
		return
	}
	y, _ := strconv.Atoi(m[1])
	mo, _ := strconv.Atoi(m[2])
	if y < 2025 || y == 2025 && mo < 4 {
		ds.Errorf(path, "use cloudflare/cloudflared:2025.4.0 or later", "%q has no `tunnel run --token-file`, which nfx runs it with (cloudflared 2025.4.0 added it)", ref)
	}
}

func pinExample(ref string) string {
	base, _, _ := strings.Cut(ref, "@")
	if i := strings.LastIndex(base, ":"); i > strings.LastIndex(base, "/") {
		base = base[:i]
	}
	return base + ":<version>"
}

// MinCPUs is the smallest CPU limit Docker takes (--cpus 0.01), and
// CPUStep the finest Kubernetes expresses (1m).
const (
	MinCPUs = 0.01
	CPUStep = 0.001
)

func checkSizing(path string, s Sizing, ds *Diagnostics) {
	if s.CPUs <= 0 {
		ds.Errorf(path+".cpus", "set a CPU limit above 0, such as 1 or 0.5", "must be > 0, got %g", s.CPUs)
	} else if s.CPUs < MinCPUs {
		ds.Errorf(path+".cpus", fmt.Sprintf("set at least %g, the smallest limit Docker takes", MinCPUs), "%g is below Docker's minimum", s.CPUs)
	}
	if s.CPURequest > 0 && s.CPURequest < CPUStep {
		ds.Errorf(path+".cpuRequest", fmt.Sprintf("set 0 or at least %g (1m)", CPUStep), "%g is finer than Kubernetes' 1m", s.CPURequest)
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
	prof := Profiles[c.Stage]
	checkNumbers(c, ds)
	checkTunnelVersion(k("tunnel.image"), c.Tunnel.Image, ds)
	for _, p := range BuiltinParts {
		checkImage(k(p.Name+".image"), p.image(c), ds)
		if p.sizing != nil && p.Kind != KindEdge {
			checkSizing(k(p.Name), p.sizing(c), ds)
		}
	}
	if c.CRM.Replicas < 1 {
		ds.Errorf(k("crm.replicas"), "set it to 1 or more", "must be >= 1, got %d", c.CRM.Replicas)
	}
	if c.AI.Replicas < 1 {
		ds.Errorf(k("ai.replicas"), "set it to 1 or more", "must be >= 1, got %d", c.AI.Replicas)
	}
	checkPort(k("crm.port"), c.CRM.Port, ds)
	checkPort(k("tunnel.localPort"), c.Tunnel.LocalPort, ds)
	if !httpPathRE.MatchString(c.CRM.HealthPath) {
		ds.Errorf(k("crm.healthPath"), "use an absolute path of URL characters, without quotes, spaces or backslashes, such as /healthz",
			"must be an absolute HTTP path, got %q", c.CRM.HealthPath)
	}
	if c.CRM.AIAPI != AIAPIOllama && c.CRM.AIAPI != AIAPIOpenAI {
		ds.Errorf(k("crm.aiApi"), "use ollama (the CRM calls Ollama's own API under OLLAMA_BASE_URL) or openai (OpenAI's, under AI_OPENAI_URL)", "%q is not an AI API nfx knows", c.CRM.AIAPI)
	}
	if c.AI.ModelSize < 0 {
		ds.Errorf(k("ai.modelSize"), "set the model's download size in binary units, such as 4.6GiB (Ollama prints GB of 10^9 bytes: its 4.9 GB is 4.6GiB, and nfx reads 4.9GB as GiB, as Docker does)", "must be > 0, got %s", c.AI.ModelSize)
	}
	if !identRE.MatchString(c.Postgres.Database) {
		ds.Errorf(k("postgres.database"), "use lower-case letters, digits and underscores", "%q is not a plain PostgreSQL identifier", c.Postgres.Database)
	}
	if !identRE.MatchString(c.Postgres.User) {
		ds.Errorf(k("postgres.user"), "use lower-case letters, digits and underscores", "%q is not a plain PostgreSQL identifier", c.Postgres.User)
	}
	if c.Postgres.FailedOver && c.Stage != Server {
		ds.Errorf(k("postgres.failedOver"), "leave it false: only the server stage runs PostgreSQL's replica itself (the laptop has one server, the cloud's RDS fails over on its own)",
			"is true on the %s stage", c.Stage)
	}
	if c.Redis.MaxMemory < MiB {
		ds.Errorf(k("redis.maxMemory"), "set at least 1MiB, such as 768MiB", "must be >= 1MiB, got %s", c.Redis.MaxMemory)
	}
	switch {
	case c.Tunnel.Standby && (c.Stage == Laptop || c.Tunnel.Mode == TunnelNone):
		ds.Errorf(k("tunnel.standby"), "leave it false: it is for a migration's target (server or cloud) that shares the source's tunnel",
			"is true, but the %s stage with tunnel.mode %s is never a migration's target that runs the source's tunnel", c.Stage, c.Tunnel.Mode)
	case c.Tunnel.Standby:
		ds.Warnf(k("tunnel.standby"), "set it false once the cutover has started this stack's cloudflared, or the next up stops it again",
			"is true: this stack's cloudflared is rendered stopped and serves no public traffic")
	}
	if !contains(TunnelModes, c.Tunnel.Mode) {
		ds.Errorf(k("tunnel.mode"), "use one of "+strings.Join(TunnelModes, ", "), "unknown tunnel mode %q", c.Tunnel.Mode)
	}
	if !hostnameRE.MatchString(c.Tunnel.Hostname) {
		ds.Errorf(k("tunnel.hostname"), "use a DNS name such as crm.example.com", "%q is not a valid hostname", c.Tunnel.Hostname)
	}
	checkServices(c, ds)
	if c.Redis.Data != RedisState && c.Redis.Data != RedisCache {
		ds.Errorf(k("redis.data"), "use state (copied when the stack moves) or cache (the next stage starts empty)", "unknown data kind %q", c.Redis.Data)
	}
	if m := c.Migration; m.Mode != MigrateDump && m.Mode != MigrateOnline {
		ds.Errorf(k("migration.mode"), "use dump or online", "unknown migration mode %q", m.Mode)
	}
	if m := c.Migration; m.Jobs < 1 || m.Jobs > 64 {
		ds.Errorf(k("migration.jobs"), "use 1 to 64 parallel restore jobs", "got %d", m.Jobs)
	}
	if m := c.Migration; m.RedisCompareAll < 1 {
		ds.Errorf(k("migration.redisCompareAll"), "use 1 or more keys", "got %d", m.RedisCompareAll)
	}
	if m := c.Migration; m.MaxFreezeSeconds < 1 || m.MaxFreezeSeconds > 3600 {
		ds.Errorf(k("migration.maxFreezeSeconds"), "use 1 to 3600 seconds", "got %d", m.MaxFreezeSeconds)
	}
	checkPromotion(c.Promotion, ds)
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
	if m := c.Monitoring; m.RetentionDays < 1 || m.RetentionDays > 3660 {
		ds.Errorf(k("monitoring.retentionDays"), "keep samples 31 days or more, the advisor's 30-day window and a day", "must be 1 to 3660 days, got %d", m.RetentionDays)
	} else if m.Enabled && m.RetentionDays < 31 && Profiles[c.Stage].Topology.Monitoring {
		ds.Warnf(k("monitoring.retentionDays"), "set it to 31 or more", "is %d: `nfx advise --prometheus` reads a 30-day window", m.RetentionDays)
	}
	if m := c.Monitoring; m.ScrapeSeconds < 5 || m.ScrapeSeconds > 300 {
		ds.Errorf(k("monitoring.scrapeSeconds"), "scrape every 5 to 300 seconds, such as 30", "got %d", m.ScrapeSeconds)
	}
	checkPort(k("monitoring.prometheusPort"), c.Monitoring.PrometheusPort, ds)
	checkPort(k("monitoring.grafanaPort"), c.Monitoring.GrafanaPort, ds)
	if c.Monitoring.GrafanaPort == c.Monitoring.PrometheusPort {
		ds.Errorf(k("monitoring.grafanaPort"), "give Grafana a port of its own, such as 3300", "%d is also nextflow:monitoring.prometheusPort", c.Monitoring.GrafanaPort)
	}
	checkPrometheusDisk(c, ds)
	if c.Backup.RetentionDays < 1 {
		ds.Errorf(k("backup.retentionDays"), "keep backups for 1 day or more, such as 14", "must be >= 1, got %d", c.Backup.RetentionDays)
	}
	switch {
	case c.Backup.NFSServer == "":
		if c.Stage == Server {
			ds.Warnf(k("backup.nfsServer"), "set the NAS's address to keep backups off the nodes",
				"is empty: backups go to a local volume on one node (the one labelled nextflow.ai=1, where every backup job runs), and are lost with that node")
		}
	case !hostnameRE.MatchString(c.Backup.NFSServer) && net.ParseIP(c.Backup.NFSServer) == nil:
		ds.Errorf(k("backup.nfsServer"), "use the NAS's DNS name or IP address, or leave it empty for a local volume", "%q is not a host", c.Backup.NFSServer)
	}
	if !strings.HasPrefix(c.Backup.NFSPath, "/") {
		ds.Errorf(k("backup.nfsPath"), "use the absolute path the NAS exports, such as /srv/nextflow-backups", "must be absolute, got %q", c.Backup.NFSPath)
	}
	checkCosts(c.Costs, ds)
	checkCapacity(c.Capacity, ds)
	checkBusiness(c.Business, ds)
	h := c.Host
	if prof.Hosting == Provider {
		p, ok := providers[prof.Provider]
		if !ok {
			ds.Errorf(k("stage"), "use a stage whose provider nfx knows", "the %s stage's provider %q has no checks in nfx", c.Stage, prof.Provider)
			return
		}
		p.check(c, ds)
		return // no single host: the provider's node groups size it
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

// RequiredSecret is a secret key a stack needs, and why.
type RequiredSecret struct {
	Key string
	Why string
}

// RequiredSecrets lists the secret keys a loaded configuration needs
// before `up`: the passwords of what the stage runs, the tunnel's token or
// seed in its mode.
func RequiredSecrets(c *Config) []RequiredSecret {
	out := []RequiredSecret{{KeyPostgresPassword, "for the database"}, {KeyRedisPassword, "for Redis"}, {KeyQdrantAPIKey, "for Qdrant"}}
	if NeedsReplication(c.Stage) {
		out = append(out, RequiredSecret{KeyReplicationPassword, "for PostgreSQL streaming replication"})
	}
	if AIAsksForKey(c) {
		out = append(out, RequiredSecret{KeyAIAPIKey, "for the AI API"})
	}
	if GrafanaRuns(c) {
		out = append(out, RequiredSecret{KeyGrafanaPassword, "for Grafana's admin user"})
	}
	if HFTokenNeeded(c) {
		out = append(out, RequiredSecret{KeyHFToken, "for vLLM to download a gated model from Hugging Face: accept the model's licence on huggingface.co, create a read token there (Settings > Access Tokens) and set it with `pulumi config set --secret nextflow:hfToken`"})
	}
	if tunnelRuns(c) && c.Tunnel.Mode == TunnelToken {
		out = append(out, RequiredSecret{KeyTunnelToken, "when nextflow:tunnel.mode is token (or set nextflow:tunnel.mode to none to run without the tunnel)"})
	}
	if tunnelRuns(c) && c.Tunnel.Mode == TunnelManaged {
		out = append(out, RequiredSecret{KeyTunnelSecret, "when nextflow:tunnel.mode is managed"})
	}
	return out
}

func phaseReferences(c *Config, opts LoadOptions, ds *Diagnostics) {
	k := FullKey
	secret := func(name, why string) {
		if c.SecretsSet[name] {
			return
		}
		key, _ := LookupKey(name)
		fix := fmt.Sprintf("set it with `pulumi config set --secret %s <value> -s %s`", k(name), opts.stack(c))
		if key.Generated {
			fix += ", or let `nfx up` generate it"
		} else {
			fix += fmt.Sprintf(", or export %s for `nfx up` to store it", SecretEnv(name))
		}
		ds.Errorf(k(name), fix, "is required %s", why)
	}
	if opts.RequireSecrets {
		for _, r := range RequiredSecrets(c) {
			secret(r.Key, r.Why)
		}
	}
	if Profiles[c.Stage].Hosting == Provider && len(c.Cloud.PublicAccessCidrs) == 0 {
		// Offline commands only warn: they never reach the cluster.
		report := ds.Warnf
		if opts.RequireSecrets {
			report = ds.Errorf
		}
		report(k("cloud.publicAccessCidrs"), fmt.Sprintf("set it to the addresses `pulumi up` runs from, such as `pulumi config set --path 'nextflow:cloud.publicAccessCidrs[0]' <your address>/32 -s %s` (and your CI runners')", opts.stack(c)),
			"is empty: the EKS API would be private, and `pulumi up`, whose Kubernetes provider and Helm releases run on the deployer's machine outside the VPC, could not reach the cluster it creates")
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
	type sized struct {
		path string
		s    Sizing
	}
	var all []sized
	for _, p := range BuiltinParts {
		if p.Kind != KindEdge {
			all = append(all, sized{p.Name, p.sizing(c)})
		}
	}
	for i, s := range c.Services {
		all = append(all, sized{fmt.Sprintf("services[%d]", i), s.Sizing})
		for j, sec := range s.Secrets {
			if !c.AppSecretsSet[sec.Name] && opts.RequireSecrets {
				ds.Errorf(fmt.Sprintf("%s[%d].secrets[%d]", k("services"), i, j),
					fmt.Sprintf("set it with `pulumi config set --secret --path '%s.%s' <value> -s %s`", k(KeyAppSecrets), sec.Name, opts.stack(c)),
					"refers to %s.%s, which has no value", k(KeyAppSecrets), sec.Name)
			}
		}
	}
	for _, p := range all {
		if p.s.CPURequest > p.s.CPUs {
			ds.Errorf(k(p.path+".cpuRequest"), fmt.Sprintf("keep it at or below %s.cpus (%g)", p.path, p.s.CPUs),
				"reserves more CPU than the limit: %g > %g", p.s.CPURequest, p.s.CPUs)
		}
		if p.s.MemoryRequest > p.s.Memory {
			ds.Errorf(k(p.path+".memoryRequest"), fmt.Sprintf("keep it at or below %s.memory (%s)", p.path, p.s.Memory),
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
	prof := Profiles[c.Stage]
	if prof.Hosting == Provider {
		// A provider stage's "host" for Ollama is one node of its GPU pool.
		if p, ok := providers[prof.Provider]; ok {
			c.Host = p.host(c)
		}
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
		ds.Errorf(k("ai.model"), "set nextflow:ai.modelSize to its download size in binary units (`ollama list` prints GB of 10^9 bytes: its 4.9 GB is 4.6GiB), or pick one of "+Names(Catalog),
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
	what := fmt.Sprintf("%s needs %.1f GiB (%.1f GiB weights + %.0f%% runtime", c.AI.Model, c.ModelNeed.GiB(), size.GiB(), ModelOverhead*100)
	if c.Embedding.Size > 0 {
		what += fmt.Sprintf(", %.1f GiB for %s", ModelNeed(c.Embedding.Size).GiB(), c.Embedding.Name)
	}
	if slots > 0 {
		what += fmt.Sprintf(", %.1f GiB of KV cache for %d more request slots", slots.GiB(), c.AI.Parallel-1)
	}
	what += ")"
	if c.UseGPU {
		if c.ModelNeed > h.VRAM {
			ds.Errorf(k("ai.model"), fmt.Sprintf("choose a model that fits %.1f GiB, such as %s; lower ai.parallel; or set ai.gpu false to run it on CPU", h.VRAM.GiB(), largestFitting(h.VRAM, c.Embedding, c.AI.Parallel)),
				"%s but the %s has %.1f GiB of VRAM", what, h.GPU, h.VRAM.GiB())
		}
	} else if c.ModelNeed > c.AI.Memory {
		ds.Errorf(k("ai.model"), fmt.Sprintf("choose a model that fits %.1f GiB, such as %s; lower ai.parallel; or raise ai.memory", c.AI.Memory.GiB(), largestFitting(c.AI.Memory, c.Embedding, c.AI.Parallel)),
			"%s of RAM on CPU but ai.memory is %.1f GiB", what, c.AI.Memory.GiB())
	}
	checkReplicas(c, ds)
	checkGPUs(c, ds)
	if prof.Topology.EdgeReplicas == 0 && c.Tunnel.Mode != TunnelNone {
		ds.Warnf(k("tunnel.mode"), "set tunnel.mode none",
			"is %q, but the %s stage runs no cloudflared: its edge is the provider's load balancer behind Cloudflare's proxied DNS", c.Tunnel.Mode, c.Stage)
	}
	if prof.Hosting == Provider {
		checkPodFit(c, ds)
		checkVLLM(c, ds)
		return
	}
	topo := prof.Topology
	if need := max(topo.PostgresInstances, topo.RedisInstances); need > h.Nodes {
		ds.Errorf(k("host.nodes"), fmt.Sprintf("set it to %d or more", need),
			"the %s stage places the PostgreSQL primary and replica on different nodes, but host.nodes is %d", c.Stage, h.Nodes)
	}
	// Limits against the hosts, with the OS reserve left free on each:
	// every container the stage runs, from the list its renderer builds.
	// The monitoring's share, offered as a fix where it runs.
	var mem, monMem Bytes
	var cpus, monCPUs float64
	for _, in := range Instances(c) {
		m, n := in.Sizing.Memory*Bytes(in.Replicas), in.Sizing.CPUs*float64(in.Replicas)
		mem, cpus = mem+m, cpus+n
		if in.Role == RoleMonitoring {
			monMem, monCPUs = monMem+m, monCPUs+n
		}
	}
	offMonitoring := ""
	if monCPUs > 0 {
		offMonitoring = fmt.Sprintf(", or set nextflow:monitoring.enabled false (its services take %g cpus and %.1f GiB)", roundCPUs(monCPUs), monMem.GiB())
	}
	nodes := max(h.Nodes, 1)
	hostWord := "the host has"
	if nodes > 1 {
		hostWord = fmt.Sprintf("%d nodes have", nodes)
	}
	if avail := (h.Memory - h.ReserveMemory) * Bytes(nodes); mem > avail {
		ds.Errorf(k("host.memory"), fmt.Sprintf("lower the parts' memory limits by %.1f GiB, or describe a larger host%s", (mem-avail).GiB(), offMonitoring),
			"container memory limits add up to %.1f GiB but %s %.1f GiB each with %.1f GiB kept for the OS (%.1f GiB available)",
			mem.GiB(), hostWord, h.Memory.GiB(), h.ReserveMemory.GiB(), avail.GiB())
	}
	if avail := float64((h.Threads - h.ReserveThreads) * nodes); cpus > avail+1e-9 {
		ds.Errorf(k("host.threads"), fmt.Sprintf("lower the parts' cpus by %g, or describe a larger host%s", roundCPUs(cpus-avail), offMonitoring),
			"container CPU limits add up to %g but %s %d threads each with %d kept for the OS (%g available)",
			roundCPUs(cpus), hostWord, h.Threads, h.ReserveThreads, avail)
	}
}

// roundCPUs drops the float noise of summed CPU limits, to Docker's 0.001.
func roundCPUs(v float64) float64 { return math.Round(v*1000) / 1000 }

// checkReplicas refuses more than one replica on a stage that runs one
// container per service, naming each key.
func checkReplicas(c *Config, ds *Diagnostics) {
	if Profiles[c.Stage].Replicated {
		return
	}
	k := FullKey
	next := "a stage that load-balances replicas"
	for st := c.Stage.Next(); st != ""; st = st.Next() {
		if Profiles[st].Replicated {
			next = fmt.Sprintf("the %s stage, which load-balances replicas", st)
			break
		}
	}
	if c.CRM.Replicas > 1 {
		ds.Errorf(k("crm.replicas"), fmt.Sprintf("set it to 1 on the %s stage, or move to %s", c.Stage, next),
			"the %s stage runs one CRM container with no load balancer, got %d", c.Stage, c.CRM.Replicas)
	}
	if c.AI.Replicas > 1 {
		ds.Errorf(k("ai.replicas"), fmt.Sprintf("set it to 1 on the %s stage; one GPU serves one Ollama node", c.Stage),
			"the %s stage runs one Ollama node, got %d", c.Stage, c.AI.Replicas)
	}
	for i, s := range c.Services {
		if n := serviceReplicas(s, c.Stage); n > 1 {
			ds.Errorf(fmt.Sprintf("%s[%d].replicas.%s", k("services"), i, c.Stage), fmt.Sprintf("set it to 1; the %s stage runs one container per service", c.Stage),
				"got %d", n)
		}
	}
}

// checkGPUs counts the GPUs the AI nodes and the GPU services take. Where a
// stage hands out whole GPUs (Swarm's generic resources, Kubernetes'
// nvidia.com/gpu), every GPU task needs a GPU of its own; where it shares
// one (Compose's device reservations), their VRAM adds up.
func checkGPUs(c *Config, ds *Diagnostics) {
	k := FullKey
	h := c.Host
	prof := Profiles[c.Stage]
	gpuKey := prof.GPUKey
	var svcTasks int
	var svcVRAM Bytes
	for i, s := range c.Services {
		if !s.GPU {
			continue
		}
		if !h.HasGPU() {
			ds.Errorf(fmt.Sprintf("%s[%d].gpu", k("services"), i), "set gpu false, or describe the GPU in nextflow:"+gpuKey,
				"the %s stage's host has no GPU", c.Stage)
			continue
		}
		if s.GPUMemory > h.VRAM {
			ds.Errorf(fmt.Sprintf("%s[%d].gpuMemory", k("services"), i), fmt.Sprintf("keep it within the %s's %.1f GiB", h.GPU, h.VRAM.GiB()),
				"%s is more than one GPU holds", s.GPUMemory)
		}
		svcTasks += serviceReplicas(s, c.Stage)
		svcVRAM += s.GPUMemory
	}
	aiTasks := 0
	if c.UseGPU {
		aiTasks = c.AI.Replicas
	}
	if !prof.Topology.ExclusiveGPUs {
		if need := c.ModelNeed*Bytes(min(aiTasks, 1)) + svcVRAM; svcVRAM > 0 && need > h.VRAM {
			ds.Errorf(k("services"), fmt.Sprintf("lower the services' gpuMemory or the model; the %s shares its %.1f GiB", h.GPU, h.VRAM.GiB()),
				"Ollama's %.1f GiB and the GPU services' %.1f GiB do not fit one GPU", c.ModelNeed.GiB(), svcVRAM.GiB())
		}
		return
	}
	gpus := h.GPUNodes * max(h.GPUCount, 1)
	if !h.HasGPU() {
		gpus = 0
	}
	if aiTasks > h.GPUNodes || aiTasks > gpus {
		gpus = min(gpus, h.GPUNodes)
		fix := fmt.Sprintf("run at most %d AI nodes, or raise host.gpuNodes", gpus)
		what := fmt.Sprintf("host.gpuNodes is %d", h.GPUNodes)
		if prof.Hosting == Provider {
			fix = fmt.Sprintf("run at most %d AI nodes, or raise cloud.gpuMax", gpus)
			what = fmt.Sprintf("the GPU pool has at most %d nodes", gpus)
		}
		ds.Errorf(k("ai.replicas"), fix, "each AI node needs a GPU node of its own, but %d AI nodes were asked for and %s", aiTasks, what)
		return
	}
	if aiTasks+svcTasks > gpus {
		ds.Errorf(k("services"), fmt.Sprintf("free %d GPUs: fewer GPU service replicas or AI nodes, or more GPUs (nextflow:%s)", aiTasks+svcTasks-gpus, gpuKey),
			"the %d AI nodes and %d GPU service replicas each need a GPU of their own, and the stage has %d", aiTasks, svcTasks, gpus)
	}
}

// NeedsReplication reports whether the stage runs a PostgreSQL replica of
// its own, which needs the replication password.
func NeedsReplication(st Stage) bool {
	t := Profiles[st].Topology
	return !t.IsManaged(KindDatabase) && t.PostgresInstances > 1
}

// Fixed sizings of the helper containers.
var (
	TunnelSizing   = Sizing{CPUs: 0.5, Memory: 256 * MiB, CPURequest: 0.1, MemoryRequest: 64 * MiB}
	SentinelSizing = Sizing{CPUs: 0.25, Memory: 128 * MiB, CPURequest: 0.05, MemoryRequest: 32 * MiB}
	NginxSizing    = Sizing{CPUs: 1, Memory: 512 * MiB, CPURequest: 0.25, MemoryRequest: 128 * MiB}
	BackupSizing   = Sizing{CPUs: 1, Memory: 1 * GiB, CPURequest: 0.1, MemoryRequest: 128 * MiB}
	// AIProxySizing is the nginx in front of each cloud AI pod's Ollama,
	// which checks the AI API's key and streams the answers through.
	AIProxySizing = Sizing{CPUs: 0.5, Memory: 128 * MiB, CPURequest: 0.05, MemoryRequest: 32 * MiB}
)

// BackupKinds are what the server stage backs up, each by its own job:
// the data of every part that holds some (PartDef.Holds).
var BackupKinds = dataKinds()

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

func checkBusiness(c BusinessConfig, ds *Diagnostics) {
	k := func(f string) string { return FullKey("business." + f) }
	for name, v := range map[string]float64{"revenue": c.Revenue, "downtimeHourCost": c.DowntimeHourCost, "teamCost": c.TeamCost} {
		if v < 0 {
			ds.Errorf(k(name), "use VND, 0 or more", "must be >= 0, got %g", v)
		}
	}
	if !(c.RevenuePerUser >= 1) {
		ds.Errorf(k("revenuePerUser"), "use the revenue a month per concurrent user at peak, 1 VND or more, such as 500000", "must be >= 1, got %g", c.RevenuePerUser)
	}
	if c.Growth <= -100 || c.Growth > 1000 {
		ds.Errorf(k("growth"), "use the month-on-month growth in percent, above -100 and at most 1000, such as 21.15", "must be above -100 and at most 1000, got %g", c.Growth)
	}
	if c.Margin < 0 || c.Margin > 1 {
		ds.Errorf(k("margin"), "use a share of revenue between 0 and 1, such as 0.7 for a 70 % gross margin", "must be between 0 and 1, got %g", c.Margin)
	}
	if c.MigrationWeeks < 0 || c.MigrationWeeks > 520 {
		ds.Errorf(k("migrationWeeks"), "use the weeks a move occupies the team, such as 3.2", "must be between 0 and 520, got %g", c.MigrationWeeks)
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

// checkPrometheusDisk holds Prometheus's volume to what the retention
// needs, and to the host's disk on a self-hosted stage.
func checkPrometheusDisk(c *Config, ds *Diagnostics) {
	k := FullKey
	m := c.Monitoring
	if m.DiskGB < 0 || m.DiskGB > 1_000_000 {
		ds.Errorf(k("monitoring.diskGB"), "set Prometheus's volume in GB, or 0 to size it from the estimate", "must be 0 to 1000000, got %d", m.DiskGB)
		return
	}
	if !m.Enabled || !Profiles[c.Stage].Topology.Monitoring || m.ScrapeSeconds < 5 || m.RetentionDays < 1 {
		return
	}
	need := PrometheusDisk(c)
	what := fmt.Sprintf("%d days of about %d series scraped every %d s need about %.1f GiB", m.RetentionDays, PrometheusSeries(c), m.ScrapeSeconds, need.GiB())
	if m.DiskGB > 0 && Bytes(m.DiskGB)*GiB < need {
		ds.Errorf(k("monitoring.diskGB"), fmt.Sprintf("raise it to %d or more, lower monitoring.retentionDays, or raise monitoring.scrapeSeconds", int(math.Ceil(need.GiB()))),
			"%s but monitoring.diskGB is %d", what, m.DiskGB)
		return
	}
	if h := c.Host; Profiles[c.Stage].Hosting == SelfHosted && PrometheusVolume(c) > h.Disk {
		ds.Errorf(k("host.disk"), "describe the host's real disk, lower monitoring.retentionDays, or set nextflow:monitoring.enabled false",
			"Prometheus's volume takes %.1f GiB (%s) but the host's disk is %.1f GiB", PrometheusVolume(c).GiB(), what, h.Disk.GiB())
	}
}
