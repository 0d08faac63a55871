package model

import "time"

// Namespace is the Pulumi config namespace of every nfx key (the project name).
const Namespace = "nextflow"

// Sizing is the CPU and memory of one container: its limits and what it
// reserves. It is embedded in each part's config object.
type Sizing struct {
	// CPUs is the CPU limit, in cores (threads).
	CPUs float64 `json:"cpus"`
	// Memory is the memory limit.
	Memory Bytes `json:"memory"`
	// CPURequest is the CPU reserved for the container.
	CPURequest float64 `json:"cpuRequest"`
	// MemoryRequest is the memory reserved for the container.
	MemoryRequest Bytes `json:"memoryRequest"`
}

// CRMConfig is `nextflow:crm`, the CRM web app.
type CRMConfig struct {
	// Image is the CRM image, pinned to a version tag or digest.
	Image string `json:"image"`
	// Replicas is the number of CRM containers.
	Replicas int `json:"replicas"`
	// Port is the HTTP port the CRM listens on inside its container.
	Port int `json:"port"`
	// HealthPath is the HTTP path that answers 200 when the CRM is healthy.
	HealthPath string `json:"healthPath"`
	// AIAPI is the AI API the CRM calls: ollama (Ollama's own, under
	// OLLAMA_BASE_URL) or openai (OpenAI's, under AI_OPENAI_URL), which
	// every engine nfx runs answers.
	AIAPI string `json:"aiApi"`
	Sizing
}

// AIConfig is `nextflow:ai`, the Ollama LLM server.
type AIConfig struct {
	// Image is the Ollama image, pinned.
	Image string `json:"image"`
	// GPU turns GPU use on or off; unset means "use the host's GPU if it has one".
	GPU *bool `json:"gpu"`
	// Model is the Ollama model pulled at start; unset picks a default that
	// fits the GPU, or a smaller one on CPU.
	Model string `json:"model"`
	// ModelSize is the download size of a model nfx does not know, in
	// binary units (Ollama prints decimal GB: its 4.9 GB is 4.6GiB).
	ModelSize Bytes `json:"modelSize"`
	// Replicas is the number of Ollama nodes.
	Replicas int `json:"replicas"`
	// Parallel is how many requests one Ollama node serves at once
	// (OLLAMA_NUM_PARALLEL): each takes a context slot of KV cache.
	Parallel int `json:"parallel"`
	// EmbeddingModel is the embedding model served beside the LLM, for the
	// CRM's semantic search into Qdrant; "" serves none.
	EmbeddingModel string `json:"embeddingModel"`
	Sizing
}

// PostgresConfig is `nextflow:postgres`.
type PostgresConfig struct {
	// Image is the PostgreSQL image, pinned.
	Image string `json:"image"`
	// Database is the database the CRM uses.
	Database string `json:"database"`
	// User is the database owner the CRM connects as.
	User string `json:"user"`
	// FailedOver records a server-stage failover: postgres-replica holds
	// the writable copy (failover.sh promoted it), and postgres-primary
	// follows it as a streaming replica, its data from before the failover
	// set aside in its volume. Set back to false after a failover the
	// other way. The services keep their names, nodes and volumes; only
	// the role moves.
	FailedOver bool `json:"failedOver"`
	Sizing
}

// RedisConfig is `nextflow:redis`.
type RedisConfig struct {
	// Image is the Redis image, pinned.
	Image string `json:"image"`
	// MaxMemory is Redis's own data limit, kept below the container limit.
	MaxMemory Bytes `json:"maxMemory"`
	// Data says what Redis holds: "state" (sessions, queues: copied when
	// the stack moves) or "cache" (rebuilt: the next stage starts empty).
	Data string `json:"data"`
	Sizing
}

// Redis data kinds.
const (
	RedisState = "state"
	RedisCache = "cache"
)

// Migration modes of the database.
const (
	MigrateDump   = "dump"
	MigrateOnline = "online"
)

// MigrationConfig is `nextflow:migration`: how the stack's data moves to
// the next stage (`nfx migrate`).
// PromotionConfig is `nextflow:promotion`: the gates a release passes to
// be promoted into this stack.
type PromotionConfig struct {
	// BudgetVND is the highest monthly total the stack may cost after the
	// promotion; 0 sets none.
	BudgetVND float64 `json:"budgetVND"`
	// MaxIncreasePercent is the largest rise of the monthly total a
	// promotion may bring; 0 sets none.
	MaxIncreasePercent float64 `json:"maxIncreasePercent"`
	// Users is how many concurrent users the stack must carry; 0 takes the
	// stage's lower bound.
	Users int `json:"users"`
	// Freeze are the windows in which promotion is allowed or denied.
	Freeze []FreezeWindow `json:"freeze"`
	// SoakMinutes is how long the release must have run on the source
	// stack (since its promotion there, in the ledger); 0 needs none.
	SoakMinutes int `json:"soakMinutes"`
	// Compliance are the frameworks whose controls a promotion's plan must
	// not fail (nfx compliance): soc2, iso27001, gdpr.
	Compliance []string `json:"compliance"`
	// FailoverDays is how recent the target's last failover or failover
	// rehearsal (nfx failover, in the ledger) must be, in days, when the
	// target has a standby region (cloud.standbyRegion); 0 needs none.
	FailoverDays int `json:"failoverDays"`
	// Approvals is how many people other than the one who ran the dry run
	// must approve it before it is applied (nfx approve); 0 needs none.
	Approvals int `json:"approvals"`
	// Levels makes a gate advisory (reported, never blocking) or blocking,
	// by name: cost, capacity, freeze, pinned. valid and policy always block.
	Levels map[string]string `json:"levels"`
	// Verify is what the stack must pass after a promotion's up; a failure
	// rolls the promotion back.
	Verify VerifyConfig `json:"verify"`
}

// VerifyConfig is `nextflow:promotion.verify`: the checks of a stack
// after a promotion's up.
type VerifyConfig struct {
	// Health are URLs that must answer 2xx, such as
	// https://crm.example.com/healthz.
	Health []string `json:"health"`
	// Prometheus is the stack's Prometheus (http://host:9090): the CRM must
	// have answered throughout the check and no page alert may fire.
	Prometheus string `json:"prometheus"`
	// Seconds is how long after up the health URLs must keep answering;
	// 0 checks them once.
	Seconds int `json:"seconds"`
}

// FreezeWindow is a weekly window (days and a time span) or a date range,
// in an IANA time zone.
type FreezeWindow struct {
	// Kind is deny (no promotion inside) or allow (promotion only inside
	// some allow window). Deny wins.
	Kind string `json:"kind"`
	// Days are weekdays (Mon..Sun); with From and To (HH:MM, To after
	// From, or 24:00) they make a weekly window. Empty means every day.
	Days []string `json:"days"`
	From string   `json:"from"`
	To   string   `json:"to"`
	// Start and End (YYYY-MM-DD, End included) make a date range instead.
	Start string `json:"start"`
	End   string `json:"end"`
	// TimeZone is the zone the window is in, such as Asia/Ho_Chi_Minh.
	TimeZone string `json:"timeZone"`
	// Reason is said when the window blocks.
	Reason string `json:"reason"`
}

// Gate levels.
const (
	GateBlocking = "blocking"
	GateAdvisory = "advisory"
)

type MigrationConfig struct {
	// Mode is dump (a write freeze for the whole copy) or online (logical
	// replication, a short freeze at the end).
	Mode string `json:"mode"`
	// Jobs is pg_restore's parallel jobs.
	Jobs int `json:"jobs"`
	// RedisCompareAll compares every Redis value up to this many keys;
	// above it, a sample of this many.
	RedisCompareAll int `json:"redisCompareAll"`
	// MaxFreezeSeconds bounds the online mode's write freeze: a replica
	// that does not catch up within it aborts the migration.
	MaxFreezeSeconds int `json:"maxFreezeSeconds"`
}

// QdrantConfig is `nextflow:qdrant`.
type QdrantConfig struct {
	// Image is the Qdrant image, pinned.
	Image string `json:"image"`
	Sizing
}

// Tunnel modes.
const (
	// TunnelManaged creates the tunnel, its ingress rules and DNS with Cloudflare's API.
	TunnelManaged = "managed"
	// TunnelToken runs cloudflared with an existing tunnel's token.
	TunnelToken = "token"
	// TunnelNone leaves the tunnel out; the CRM is published on 127.0.0.1.
	TunnelNone = "none"
)

// TunnelModes lists the valid tunnel modes.
var TunnelModes = []string{TunnelManaged, TunnelToken, TunnelNone}

// TunnelConfig is `nextflow:tunnel`, the Cloudflare Tunnel in front of the CRM.
type TunnelConfig struct {
	// Mode is managed, token or none.
	Mode string `json:"mode"`
	// Image is the cloudflared image, pinned.
	Image string `json:"image"`
	// Hostname is the public hostname of the CRM.
	Hostname string `json:"hostname"`
	// AccountID is the Cloudflare account (managed mode).
	AccountID string `json:"accountId"`
	// ZoneID is the Cloudflare zone of Hostname (managed mode).
	ZoneID string `json:"zoneId"`
	// LocalPort is the loopback port the CRM is published on when Mode is none.
	LocalPort int `json:"localPort"`
	// Standby renders the stage's cloudflared stopped (no replicas): a
	// migration's target, sharing the source's tunnel token, takes no
	// public traffic before its cutover starts it.
	Standby bool `json:"standby"`
}

// NginxConfig is `nextflow:nginx`, the load balancer of the server stage.
type NginxConfig struct {
	// Image is the nginx image, pinned.
	Image string `json:"image"`
	// HTTPPort is the port nginx publishes when there is no tunnel.
	HTTPPort int `json:"httpPort"`
	// RateLimit is the steady request rate allowed per client address, per second.
	RateLimit int `json:"rateLimit"`
	// BodyLimit is the largest request body accepted.
	BodyLimit Bytes `json:"bodyLimit"`
}

// BackupConfig is `nextflow:backup`, the scheduled backups of the server stage.
type BackupConfig struct {
	// NFSServer is the NAS's address.
	NFSServer string `json:"nfsServer"`
	// NFSPath is the exported directory backups are written to.
	NFSPath string `json:"nfsPath"`
	// Time is the daily backup time, HH:MM UTC.
	Time string `json:"time"`
	// RetentionDays is how long backups are kept.
	RetentionDays int `json:"retentionDays"`
}

// MonitoringConfig is `nextflow:monitoring`: the stage's Prometheus, the
// exporters of the parts it runs, and the alert rules.
type MonitoringConfig struct {
	// Enabled runs the monitoring on the stages that render it.
	Enabled bool `json:"enabled"`
	// RetentionDays is how long Prometheus keeps samples; the advisor
	// reads 30 days.
	RetentionDays int `json:"retentionDays"`
	// ScrapeSeconds is how often every target is scraped.
	ScrapeSeconds int `json:"scrapeSeconds"`
	// PrometheusPort is the loopback port Prometheus is published on, on a
	// stage that publishes it (the laptop).
	PrometheusPort int `json:"prometheusPort"`
	// GrafanaPort is the loopback port Grafana is published on, on a stage
	// that publishes it (the laptop); the server's Grafana is behind its
	// nginx at /grafana/.
	GrafanaPort int `json:"grafanaPort"`
	// DiskGB is Prometheus's volume; 0 sizes it from the estimate
	// (PrometheusVolume). Prometheus also stops at it by size.
	DiskGB int `json:"diskGB"`
}

// CostConfig is `nextflow:costs`: what running a stage costs beyond its
// resources, and the assumptions of the cost model. Money is in VND unless
// the field says USD.
type CostConfig struct {
	// Tariff is the electricity price, VND per kWh.
	Tariff float64 `json:"tariff"`
	// HoursPerDay is how long a self-hosted stage runs each day.
	HoursPerDay float64 `json:"hoursPerDay"`
	// DevicePowerW is the average draw of one machine (laptop or node), watts.
	DevicePowerW float64 `json:"devicePowerW"`
	// CoolingPowerW is the average draw of the cooling the machines need, watts.
	CoolingPowerW float64 `json:"coolingPowerW"`
	// NASPowerW is the backup NAS's draw (server), watts.
	NASPowerW float64 `json:"nasPowerW"`
	// Internet, Maintenance and Lease are monthly, VND.
	Internet    float64 `json:"internet"`
	Maintenance float64 `json:"maintenance"`
	Lease       float64 `json:"lease"`
	// Investment is the one-time hardware purchase, VND.
	Investment float64 `json:"investment"`
	// AmortizationMonths spreads Investment over the months.
	AmortizationMonths int `json:"amortizationMonths"`
	// UsdVnd is the exchange rate, VND per USD.
	UsdVnd float64 `json:"usdVnd"`
	// The cloud's lines that are not infrastructure, monthly, VND.
	AIAPI      float64 `json:"aiApi"`
	Monitoring float64 `json:"monitoring"`
	DevOps     float64 `json:"devops"`
	// Usage assumptions of the cloud, per month.
	DataTransferGB float64 `json:"dataTransferGB"`
	NatGB          float64 `json:"natGB"`
	S3GB           float64 `json:"s3GB"`
	LogsGB         float64 `json:"logsGB"`
}

// CapacityConfig is `nextflow:capacity`: the workload the capacity model
// assumes and the efficiencies it applies to the hardware's published
// figures. The defaults are the same on every stage: only the hardware
// differs between stages.
type CapacityConfig struct {
	// EmbedShare is the share of AI requests that are embeddings (search,
	// record indexing); the rest are generations.
	EmbedShare float64 `json:"embedShare"`
	// EmbedTokens is the text one embedding request embeds, in tokens.
	EmbedTokens int `json:"embedTokens"`
	// PromptTokens and OutputTokens size one generation request.
	PromptTokens int `json:"promptTokens"`
	OutputTokens int `json:"outputTokens"`
	// AIPerUser is the AI requests one concurrent user makes per second.
	AIPerUser float64 `json:"aiPerUser"`
	// CRMPerUser is the CRM HTTP requests one concurrent user makes per second.
	CRMPerUser float64 `json:"crmPerUser"`
	// CRMPerCore is the requests per second one CRM core serves.
	CRMPerCore float64 `json:"crmPerCore"`
	// Utilization is the load, as a share of peak throughput, at which
	// capacity is quoted; above it queues grow without bound.
	Utilization float64 `json:"utilization"`
	// BandwidthEfficiency and ComputeEfficiency are the shares of a GPU's
	// published memory bandwidth and FP16 tensor throughput that inference
	// reaches.
	BandwidthEfficiency float64 `json:"bandwidthEfficiency"`
	ComputeEfficiency   float64 `json:"computeEfficiency"`
	// The AI API the cloud stage pays for (costs.aiApi), USD per million
	// tokens: prompt, output and embedding.
	APIPriceInput  float64 `json:"apiPriceInput"`
	APIPriceOutput float64 `json:"apiPriceOutput"`
	APIPriceEmbed  float64 `json:"apiPriceEmbed"`
	// APIBusyHours is the busy hours a month over which the AI API budget
	// is spent.
	APIBusyHours float64 `json:"apiBusyHours"`
}

// BusinessConfig is the product's business figures, which weigh a move
// between stages (nfx roi). Money is in VND. The defaults are the plan's
// own: its decision matrix puts 100, 1,000 and 10,000 concurrent users at
// 50M, 500M and 5B VND of revenue a month (500K VND a user), a stage's
// revenue by default is where the matrix calls for its next move (its
// limit), and the plan's stages take users from 100 to 1,000 in the twelve
// months of the server stage (21.15 % a month).
type BusinessConfig struct {
	// Revenue is the revenue of the current month, VND.
	Revenue float64 `json:"revenue"`
	// Growth is the month-on-month growth of the demand, in percent.
	Growth float64 `json:"growth"`
	// RevenuePerUser is the revenue a month per concurrent user at peak
	// (the capacity model's unit), VND.
	RevenuePerUser float64 `json:"revenuePerUser"`
	// Margin is the share of revenue that a move's added revenue earns
	// (1 counts it whole, as the plan does; a gross margin is truer).
	Margin float64 `json:"margin"`
	// DowntimeHourCost is what an hour of downtime costs, VND; 0 counts
	// the hour's share of the revenue served (at the margin).
	DowntimeHourCost float64 `json:"downtimeHourCost"`
	// TeamCost is the monthly cost of the team that carries out a move,
	// VND; the move's labour is TeamCost for MigrationWeeks.
	TeamCost float64 `json:"teamCost"`
	// MigrationWeeks is how long a move occupies the team: the plan's
	// laptop to server move is two weeks of preparation, a day and a week
	// after (3.2 weeks).
	MigrationWeeks float64 `json:"migrationWeeks"`
}

// Config is the whole typed configuration of one stack.
type Config struct {
	Stage    Stage
	Host     Hardware
	CRM      CRMConfig
	AI       AIConfig
	Postgres PostgresConfig
	Redis    RedisConfig
	Qdrant   QdrantConfig
	Tunnel   TunnelConfig
	Nginx    NginxConfig
	Backup   BackupConfig
	// Monitoring is the stage's Prometheus and exporters.
	Monitoring MonitoringConfig
	Cloud      CloudConfig
	Costs      CostConfig
	Capacity   CapacityConfig
	// Business is the product's business figures (nfx roi).
	Business BusinessConfig
	// Migration is how the data moves to the next stage.
	Migration MigrationConfig
	// Promotion is the gates of a promotion into this stack.
	Promotion PromotionConfig
	// Services are the user's own services (nextflow:services).
	Services []ServiceConfig
	// Today is the day the configuration was loaded on (LoadOptions.Today).
	Today time.Time `json:"-"`
	// SecretsSet says which secret keys have a value. The values themselves
	// stay Pulumi secrets and never enter the model.
	SecretsSet map[string]bool
	// AppSecretsSet says which fields of nextflow:secrets have a value.
	AppSecretsSet map[string]bool

	// Resolved by the stage-capability phase.

	// UseGPU is whether Ollama runs on the GPU.
	UseGPU bool
	// ModelNeed is the memory the chosen model needs (weights plus runtime).
	ModelNeed Bytes
	// LLM is the chosen model: its size, parameters and KV cache per token,
	// from the catalog or estimated from ai.modelSize.
	LLM LLM
	// Embedding is the embedding model (zero when ai.embeddingModel is "").
	Embedding LLM
}

// Secret config keys.
const (
	KeyPostgresPassword    = "postgresPassword"
	KeyRedisPassword       = "redisPassword"
	KeyTunnelToken         = "tunnelToken"
	KeyTunnelSecret        = "tunnelSecret"
	KeyReplicationPassword = "replicationPassword"
	KeyQdrantAPIKey        = "qdrantApiKey"
	KeyAIAPIKey            = "aiApiKey"
	KeyGrafanaPassword     = "grafanaAdminPassword"
	// KeyHFToken is a Hugging Face read token, for vLLM to download a
	// gated model's weights.
	KeyHFToken = "hfToken"
	// KeyAppSecrets is the object of the user's services' secrets, each
	// field a Pulumi secret.
	KeyAppSecrets = "secrets"
)

// Key describes one config key under `nextflow:`. Pulumi.yaml declares the
// same keys with the same types; a test keeps the two in step.
type Key struct {
	// Name is the key without the namespace.
	Name string
	// Type is the Pulumi project config type: string, integer, boolean or object.
	Type string
	// Secret keys hold passwords and tokens; they must be set with --secret.
	Secret bool
	// Generated secrets are created by `nfx up` when unset.
	Generated bool
	// Doc says what the key is for.
	Doc string
	// field returns the config field the key decodes into.
	field func(*Config) any
}

// Keys lists every config key nfx reads, in documentation order: the
// stage and host, one key per built-in part (from BuiltinParts), the
// stages' own settings, the models' assumptions, the user's services, then
// the secrets.
var Keys = buildKeys()

func buildKeys() []Key {
	keys := []Key{
		{Name: "stage", Type: "string", Doc: "the stage this stack realises (laptop, server or cloud); defaults to the stack name", field: func(c *Config) any { return &c.Stage }},
		{Name: "host", Type: "object", Doc: "the machine of a self-hosted stage; overrides the stage profile", field: func(c *Config) any { return &c.Host }},
	}
	for _, p := range BuiltinParts {
		keys = append(keys, Key{Name: p.Name, Type: "object", Doc: p.Doc, field: p.config})
	}
	keys = append(keys,
		Key{Name: "nginx", Type: "object", Doc: "the nginx load balancer of the server stage", field: func(c *Config) any { return &c.Nginx }},
		Key{Name: "backup", Type: "object", Doc: "scheduled backups to a NAS on the server stage", field: func(c *Config) any { return &c.Backup }},
		Key{Name: "monitoring", Type: "object", Doc: "the stage's Prometheus, exporters and alert rules", field: func(c *Config) any { return &c.Monitoring }},
		Key{Name: "cloud", Type: "object", Doc: "AWS and EKS on the cloud stage", field: func(c *Config) any { return &c.Cloud }},
		Key{Name: "costs", Type: "object", Doc: "the cost model's inputs", field: func(c *Config) any { return &c.Costs }},
		Key{Name: "capacity", Type: "object", Doc: "the capacity model's workload and efficiencies", field: func(c *Config) any { return &c.Capacity }},
		Key{Name: "business", Type: "object", Doc: "the product's business figures that weigh a move between stages (nfx roi)", field: func(c *Config) any { return &c.Business }},
		Key{Name: "promotion", Type: "object", Doc: "the gates a release passes to be promoted into this stack (nfx promote)", field: func(c *Config) any { return &c.Promotion }},
		Key{Name: "migration", Type: "object", Doc: "how the stack's data moves to the next stage (nfx migrate)", field: func(c *Config) any { return &c.Migration }},
		Key{Name: "services", Type: "array", Doc: "your own services (workers, schedulers, internal apps), rendered on every stage", field: func(c *Config) any { return &c.Services }},
		Key{Name: KeyAppSecrets, Type: "object", Doc: "your services' secrets, each set with `pulumi config set --secret --path 'nextflow:secrets.<name>' <value>`"},
		Key{Name: KeyPostgresPassword, Type: "string", Secret: true, Generated: true, Doc: "the PostgreSQL password of the CRM's user"},
		Key{Name: KeyRedisPassword, Type: "string", Secret: true, Generated: true, Doc: "the Redis password"},
		Key{Name: KeyTunnelToken, Type: "string", Secret: true, Doc: "the token of an existing Cloudflare tunnel (tunnel.mode token)"},
		Key{Name: KeyTunnelSecret, Type: "string", Secret: true, Generated: true, Doc: "the secret of a tunnel nfx creates (tunnel.mode managed)"},
		Key{Name: KeyReplicationPassword, Type: "string", Secret: true, Generated: true, Doc: "the password of PostgreSQL's replication user (server stage)"},
		Key{Name: KeyQdrantAPIKey, Type: "string", Secret: true, Generated: true, Doc: "Qdrant's API key, which its REST and gRPC APIs ask for but on its health checks and web UI (the CRM, the backups, Prometheus send it)"},
		Key{Name: KeyAIAPIKey, Type: "string", Secret: true, Generated: true, Doc: "the bearer token the cloud stage's AI API asks for (cloud stage)"},
		Key{Name: KeyGrafanaPassword, Type: "string", Secret: true, Generated: true, Doc: "the password of Grafana's admin user, set when Grafana first starts (the stages that run the monitoring)"},
		Key{Name: KeyHFToken, Type: "string", Secret: true, Doc: "a Hugging Face read token, with which vLLM downloads a gated model's weights (cloud.aiEngine vllm)"},
	)
	return keys
}

// Field returns the Go value a non-secret key decodes into, for
// documentation (nil for secret keys and nextflow:secrets).
func (k Key) Field() any {
	if k.field == nil {
		return nil
	}
	c := Config{}
	return k.field(&c)
}

// LookupKey finds a key by name.
func LookupKey(name string) (Key, bool) {
	for _, k := range Keys {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

// FullKey returns "nextflow:<name>".
func FullKey(name string) string { return Namespace + ":" + name }

// Default images, pinned. Bump them here and in the golden files together.
const (
	DefaultCRMImage      = "ghcr.io/nextflow-crm/crm:1.8.2"
	DefaultOllamaImage   = "ollama/ollama:0.5.7"
	DefaultPostgresImage = "postgres:16.6-bookworm"
	DefaultRedisImage    = "redis:7.4.2-bookworm"
	DefaultQdrantImage   = "qdrant/qdrant:v1.13.2"
	DefaultTunnelImage   = "cloudflare/cloudflared:2025.4.0"
	DefaultNginxImage    = "nginx:1.27.3-bookworm"
)

// Defaults returns the configuration of a stage before the stack's own
// values are applied.
func Defaults(stage Stage) Config {
	prof := Profiles[stage]
	c := Config{
		Stage:     stage,
		Promotion: PromotionConfig{Verify: VerifyConfig{Seconds: 60}},
		Host:      prof.Hardware,
		CRM: CRMConfig{
			Image: DefaultCRMImage, Replicas: 1, Port: 3000, HealthPath: "/healthz", AIAPI: AIAPIOllama,
			Sizing: Sizing{CPUs: 2, Memory: 2 * GiB, CPURequest: 0.5, MemoryRequest: 512 * MiB},
		},
		AI: AIConfig{
			Image: DefaultOllamaImage, Replicas: 1, Parallel: 4, EmbeddingModel: DefaultEmbeddingModel,
			Sizing: Sizing{CPUs: 8, Memory: 16 * GiB, CPURequest: 2, MemoryRequest: 4 * GiB},
		},
		Postgres: PostgresConfig{
			Image: DefaultPostgresImage, Database: "nextflow", User: "nextflow",
			Sizing: Sizing{CPUs: 2, Memory: 4 * GiB, CPURequest: 0.5, MemoryRequest: 1 * GiB},
		},
		Redis: RedisConfig{
			Image: DefaultRedisImage, MaxMemory: 768 * MiB, Data: RedisState,
			Sizing: Sizing{CPUs: 1, Memory: 1 * GiB, CPURequest: 0.25, MemoryRequest: 256 * MiB},
		},
		Qdrant: QdrantConfig{
			Image:  DefaultQdrantImage,
			Sizing: Sizing{CPUs: 2, Memory: 4 * GiB, CPURequest: 0.5, MemoryRequest: 1 * GiB},
		},
		Tunnel: TunnelConfig{
			Mode: TunnelToken, Image: DefaultTunnelImage, Hostname: "crm.nextflow.example", LocalPort: 3000,
		},
		Nginx: NginxConfig{Image: DefaultNginxImage, HTTPPort: 80, RateLimit: 20, BodyLimit: 20 * MiB},
		Backup: BackupConfig{
			NFSServer: "nas.nextflow.internal", NFSPath: "/srv/nextflow-backups", Time: "03:00", RetentionDays: 14,
		},
		Monitoring: MonitoringConfig{Enabled: true, RetentionDays: 31, ScrapeSeconds: 30, PrometheusPort: 9090, GrafanaPort: 3300},
		Cloud: CloudConfig{
			Region: "us-east-1", AvailabilityZones: 3, VpcCidr: "10.40.0.0/16", KubernetesVersion: "1.35",
			NodeInstanceType: "m6i.xlarge", NodeMin: 3, NodeDesired: 4, NodeMax: 12,
			GPUPool: true, GPUInstanceType: "g5.xlarge", GPUMin: 1, GPUDesired: 2, GPUMax: 4,
			AIEngine: EngineOllama, VLLMImage: DefaultVLLMImage,
			DBInstanceClass: "db.r6g.large", DBEngineVersion: "16", DBStorageGB: 100, DBBackupDays: 7, DeletionProtected: true,
			CacheNodeType: "cache.r6g.large", CacheNodes: 2, CacheEngineVersion: "7.1",
			CRMMaxReplicas: 40, QdrantStorageGB: 50, ModelStorageGB: 100, BackupRetentionDays: 90,
			StandbyVpcCidr: "10.41.0.0/16",
			// The product's visitors are in Viet Nam (SEED.md), in
			// Cloudflare's Southeast Asia.
			HealthCheckRegion: "SEAS",
		},
		Costs:         defaultCosts(prof.Costs),
		Capacity:      DefaultCapacity,
		Business:      DefaultBusiness,
		Migration:     MigrationConfig{Mode: MigrateDump, Jobs: 4, RedisCompareAll: 100000, MaxFreezeSeconds: 60},
		SecretsSet:    map[string]bool{},
		AppSecretsSet: map[string]bool{},
	}
	c.Business.Revenue = prof.Limits.Revenue
	if prof.Topology.EdgeReplicas == 0 {
		// A stage whose edge runs no cloudflared (a provider's DNS) has no tunnel.
		c.Tunnel.Mode = TunnelNone
	}
	if n, ok := prof.Replicas[PartCRM]; ok {
		c.CRM.Replicas = n
	}
	if n, ok := prof.Replicas[PartAI]; ok {
		c.AI.Replicas = n
	}
	if sz, ok := prof.Sizing[PartAI]; ok {
		c.AI.Sizing = sz
	}
	return c
}

// DefaultCapacity is the capacity model's workload: a CRM whose AI
// requests are mostly embeddings (every search and saved record), with one
// in ten a short generation (a suggested reply, a record's summary, a lead
// score with its reason). The output length is the one figure calibrated
// on the seed: 60 tokens puts the laptop inside its 10-20 AI requests/s;
// every other stage follows from its hardware. The efficiencies are
// typical of llama.cpp-based serving: decode reaches about 70 % of the
// memory bandwidth, prefill about 40 % of the FP16 tensor peak. The API
// prices are list prices of a small hosted model (2026).
var DefaultCapacity = CapacityConfig{
	EmbedShare: 0.9, EmbedTokens: 128, PromptTokens: 400, OutputTokens: 60,
	AIPerUser: 0.15, CRMPerUser: 0.5, CRMPerCore: 100, Utilization: 0.8,
	BandwidthEfficiency: 0.7, ComputeEfficiency: 0.4,
	APIPriceInput: 0.15, APIPriceOutput: 0.60, APIPriceEmbed: 0.02, APIBusyHours: 220,
}

// DefaultBusiness is the plan's own business figures (BusinessConfig).
var DefaultBusiness = BusinessConfig{
	Revenue: 50_000_000, Growth: 21.15, RevenuePerUser: 500_000, Margin: 1, MigrationWeeks: 3.2,
}

// SecretEnv is the environment variable `nfx up` takes an unset secret key
// from, such as NFX_TUNNEL_TOKEN for tunnelToken.
func SecretEnv(key string) string {
	out := []rune("NFX_")
	for i, r := range key {
		if r >= 'A' && r <= 'Z' && i > 0 {
			out = append(out, '_')
		}
		if r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		out = append(out, r)
	}
	return string(out)
}

// DefaultUsdVnd is the default exchange rate, VND per USD, an assumption
// dated 2026-11-27: set nextflow:costs.usdVnd to the day's rate.
const DefaultUsdVnd = 26000

// defaultCosts are the cost model's defaults: the stage profile's lines
// over what every stage shares. The seed gives the running costs' ranges;
// where it names a line, the default sits inside it.
func defaultCosts(stage CostConfig) CostConfig {
	c := stage
	// EVN's top residential tier (over 400 kWh a month), VND/kWh.
	c.Tariff, c.UsdVnd, c.AmortizationMonths = 3460, DefaultUsdVnd, 36
	return c
}

// EvictionPolicy is Redis's maxmemory-policy for the data it holds: state
// is never evicted (a full Redis refuses writes instead), a cache evicts
// the least recently used keys.
func (r RedisConfig) EvictionPolicy() string {
	if r.Data == RedisCache {
		return "allkeys-lru"
	}
	return "noeviction"
}

// WALLevel is the WAL level the stage's PostgreSQL runs with: logical when
// it is to be migrated online (the publication needs it), else replica.
func (c *Config) WALLevel() string {
	if c.Migration.Mode == MigrateOnline {
		return "logical"
	}
	return "replica"
}
