package model

import (
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Port is a port a service listens on, inside the app's networks. Whether
// it is reachable from outside is the part's (Part.Public), and each stage
// decides how: nothing is ever published by the port itself.
type Port struct {
	Name string
	Port int
}

// Mount attaches a named volume to a path.
type Mount struct {
	Volume string
	Path   string
}

// SecretUse gives a service a secret as a file under /run/secrets, and
// optionally names the `*_FILE` variable that points the image at it.
type SecretUse struct {
	Secret  string
	FileEnv string
}

// Path is where the secret's file appears in the container.
func (s SecretUse) Path() string { return "/run/secrets/" + s.Secret }

// Health is a service's health check, run in the container: a shell
// command, or Exec for images without a shell.
type Health struct {
	Shell string
	Exec  []string
	// HTTPPath and Port, when set, say the check is an HTTP GET of the
	// path on the port: a stage with native HTTP probes uses them.
	HTTPPath    string
	Port        int
	Interval    time.Duration
	Timeout     time.Duration
	Retries     int
	StartPeriod time.Duration
}

// Dependency is a service another one waits for.
type Dependency struct {
	Service string
	// Healthy waits for the service's health check; otherwise for its start.
	Healthy bool
}

// Service is one container image run as part of NextFlow, independent of the
// runtime that runs it. Shell text in Entrypoint, Command and Health is
// plain shell: renderers escape it for their target format.
type Service struct {
	Name       string
	Part       string
	Image      string
	Entrypoint []string
	Command    []string
	Env        map[string]string
	Secrets    []SecretUse
	Ports      []Port
	Volumes    []Mount
	// Tmpfs lists in-memory mounts.
	Tmpfs     []string
	Health    Health
	Sizing    Sizing
	Replicas  int
	GPUs      int
	DependsOn []Dependency
	Networks  []string
}

// SecretSpec is a secret the app's containers use and where its value
// comes from: a secret config key, or a field of `nextflow:secrets`.
type SecretSpec struct {
	// Name is the container secret, mounted at /run/secrets/<Name>.
	Name string
	// Key is the config key (without the namespace).
	Key string
	// Field, if set, is the field of the object key Key (nextflow:secrets).
	Field string
}

// Network is a network services share. Internal networks have no route out.
type Network struct {
	Name     string
	Internal bool
}

// App is NextFlow on one stage: every part, and the services, volumes,
// secrets and networks of those that run containers.
type App struct {
	Config *Config
	// Parts are the built-in parts in table order, then the user's services.
	Parts []Part
	// Services are the containers of the parts that run one, sorted by name.
	Services []Service
	Volumes  []string
	Secrets  []SecretSpec
	Networks []Network
}

// SecretNames lists the names of the secrets the app's containers use.
func (a *App) SecretNames() []string {
	out := make([]string, 0, len(a.Secrets))
	for _, s := range a.Secrets {
		out = append(out, s.Name)
	}
	return out
}

// Service returns the named service.
func (a *App) Service(name string) (Service, bool) {
	for _, s := range a.Services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// Secret names used in containers.
const (
	SecretPostgresPassword = "postgres_password"
	SecretRedisPassword    = "redis_password"
	SecretTunnelToken      = "tunnel_token"
	SecretQdrantAPIKey     = "qdrant_api_key"
	// SecretGrafanaPassword is Grafana's admin password, where the stage
	// runs its monitoring.
	SecretGrafanaPassword = "grafana_admin_password"
)

// QdrantKeyFileEnv names the file of Qdrant's API key in the environment
// of the CRM and of every service that needs the vector store.
const QdrantKeyFileEnv = "QDRANT_API_KEY_FILE"

// SecretAIAPIKey and AIKeyFileEnv are the AI API's bearer token, where the
// stage asks for one (AIAsksForKey), and the variable naming its file for
// the CRM and every service that needs the AI.
const (
	SecretAIAPIKey = "ai_api_key"
	AIKeyFileEnv   = "OLLAMA_API_KEY_FILE"
)

// SecretHFToken is the Hugging Face token vLLM downloads with.
const SecretHFToken = "hf_token"

// HFTokenUsed says the AI pods download with nextflow:hfToken: vLLM
// serves the cloud's models and the token is set, or a model is gated.
func HFTokenUsed(c *Config) bool {
	if Profiles[c.Stage].Hosting != Provider || c.Cloud.AIEngine != EngineVLLM {
		return false
	}
	return c.SecretsSet[KeyHFToken] || HFTokenNeeded(c)
}

// HFTokenNeeded says a model vLLM serves is gated on Hugging Face.
func HFTokenNeeded(c *Config) bool {
	if Profiles[c.Stage].Hosting != Provider || c.Cloud.AIEngine != EngineVLLM {
		return false
	}
	// The repositories only: RequiredSecrets runs before the model and
	// the GPU are resolved.
	llm, emb, err := vllmRepos(c)
	return err == nil && (llm.Gated || emb.Gated)
}

// AIAsksForKey says the stage's AI API asks for a bearer token. Ollama
// has no authentication of its own: on a provider's stage a proxy in each
// AI pod asks for it. On the laptop the API is on the Compose project's
// internal network only; on the server nginx admits the overlay's private
// addresses only.
func AIAsksForKey(c *Config) bool { return Profiles[c.Stage].Hosting == Provider }

// Network names.
const (
	NetFrontend = "frontend"
	NetBackend  = "backend"
)

// Volume names.
const (
	VolPostgres = "postgres-data"
	VolRedis    = "redis-data"
	VolQdrant   = "qdrant-data"
	VolModels   = "ollama-models"
)

// Service ports inside the app's networks.
const (
	PostgresPort   = 5432
	RedisPort      = 6379
	QdrantHTTPPort = 6333
	QdrantGRPCPort = 6334
	OllamaPort     = 11434
	TunnelMetrics  = 2000
)

// Build describes NextFlow for a loaded configuration. It is pure: the same
// Config always gives the same App.
func Build(c *Config) *App {
	app := &App{
		Config: c,
		Secrets: []SecretSpec{
			{Name: SecretPostgresPassword, Key: KeyPostgresPassword},
			{Name: SecretRedisPassword, Key: KeyRedisPassword},
			{Name: SecretQdrantAPIKey, Key: KeyQdrantAPIKey},
		},
		Networks: []Network{{NetBackend, true}, {NetFrontend, false}},
	}
	app.Parts = parts(c)
	vols := map[string]bool{}
	for i := range app.Parts {
		p := &app.Parts[i]
		p.Service.DependsOn = dependsOn(app.Parts, p)
		if !p.Runs {
			continue
		}
		app.Services = append(app.Services, p.Service)
		for _, m := range p.Service.Volumes {
			vols[m.Volume] = true
		}
	}
	if tunnelRuns(c) {
		app.Secrets = append(app.Secrets, SecretSpec{Name: SecretTunnelToken, Key: KeyTunnelToken})
	}
	if AIAsksForKey(c) {
		app.Secrets = append(app.Secrets, SecretSpec{Name: SecretAIAPIKey, Key: KeyAIAPIKey})
	}
	if GrafanaRuns(c) {
		app.Secrets = append(app.Secrets, SecretSpec{Name: SecretGrafanaPassword, Key: KeyGrafanaPassword})
	}
	if HFTokenUsed(c) {
		app.Secrets = append(app.Secrets, SecretSpec{Name: SecretHFToken, Key: KeyHFToken})
	}
	for _, name := range c.AppSecrets() {
		app.Secrets = append(app.Secrets, SecretSpec{Name: AppSecretName(name), Key: KeyAppSecrets, Field: name})
	}
	app.Volumes = SortedKeys(vols)
	sort.Slice(app.Services, func(i, j int) bool { return app.Services[i].Name < app.Services[j].Name })
	return app
}

// crmEnv is the CRM's environment, the same on every stage: each stage
// resolves the references to what it runs.
var crmEnv = map[string]string{
	"PUBLIC_URL":         "${public.url}",
	"DATABASE_HOST":      "${db.host}",
	"DATABASE_PORT":      "${db.port}",
	"DATABASE_NAME":      "${db.name}",
	"DATABASE_USER":      "${db.user}",
	"DATABASE_SSLMODE":   "${db.sslmode}",
	"DATABASE_URL":       "${db.url}",
	"DATABASE_READ_HOST": "${db-read.host}",
	"DATABASE_READ_URL":  "${db-read.url}",
	"REDIS_URL":          "${cache.url}",
	"REDIS_TLS":          "${cache.tls}",
	"REDIS_SENTINELS":    "${cache.sentinels?}",
	"REDIS_MASTER_NAME":  "${cache.master?}",
	"QDRANT_URL":         "${vector.url}",
	"OLLAMA_BASE_URL":    "${ai.url}",
	"AI_OPENAI_URL":      "${ai.url}/v1",
	"OLLAMA_MODEL":       "${ai.model}",
	"OLLAMA_EMBED_MODEL": "${ai.embedModel}",
}

func crmService(c *Config) Service {
	// AI_API says which of the AI's APIs the CRM is to call (crm.aiApi).
	env := map[string]string{"PORT": strconv.Itoa(c.CRM.Port), "AI_API": c.CRM.AIAPI}
	for k, v := range crmEnv {
		env[k] = v
	}
	secrets := []SecretUse{
		{SecretPostgresPassword, "DATABASE_PASSWORD_FILE"},
		{SecretRedisPassword, "REDIS_PASSWORD_FILE"},
		{SecretQdrantAPIKey, QdrantKeyFileEnv},
	}
	if AIAsksForKey(c) {
		secrets = append(secrets, SecretUse{SecretAIAPIKey, AIKeyFileEnv})
	}
	return Service{
		Name: PartCRM, Part: PartCRM, Image: c.CRM.Image,
		// The DSNs carry no password: the CRM reads it from DATABASE_PASSWORD_FILE.
		Env:     env,
		Secrets: secrets,
		Ports:   []Port{{Name: "http", Port: c.CRM.Port}},
		Health: Health{
			// The CRM image is the product's own: either wget or curl answers.
			Shell: HTTPCheck(c.CRM.Port, c.CRM.HealthPath), HTTPPath: c.CRM.HealthPath, Port: c.CRM.Port,
			Interval: 15 * time.Second, Timeout: 5 * time.Second, Retries: 5, StartPeriod: 60 * time.Second,
		},
		Sizing:   c.CRM.Sizing,
		Replicas: c.CRM.Replicas,
		Networks: []string{NetBackend, NetFrontend},
	}
}

// ollamaStart runs the server, pulls the configured models once the server
// answers, and then waits on the server, so that a failed pull restarts the
// container instead of leaving it half ready.
const ollamaStart = `ollama serve & server=$!
i=0
until ollama list >/dev/null 2>&1; do
  i=$((i+1)); [ "$i" -le 60 ] || { echo "ollama did not start" >&2; kill "$server"; exit 1; }
  sleep 1
done
for m in "$NFX_MODEL" $NFX_EMBED_MODEL; do
  ollama pull "$m" || { echo "pulling $m failed" >&2; kill "$server"; exit 1; }
done
wait "$server"`

func aiService(c *Config) Service {
	s := Service{
		Name: PartAI, Part: PartAI, Image: c.AI.Image,
		Entrypoint: []string{"/bin/sh", "-c", ollamaStart},
		Env: map[string]string{
			"OLLAMA_HOST":         fmt.Sprintf("0.0.0.0:%d", OllamaPort),
			"OLLAMA_KEEP_ALIVE":   "24h",
			"OLLAMA_NUM_PARALLEL": strconv.Itoa(c.AI.Parallel),
			"NFX_MODEL":           c.AI.Model,
			"NFX_EMBED_MODEL":     c.AI.EmbeddingModel,
		},
		Ports:   []Port{{Name: "api", Port: OllamaPort}},
		Volumes: []Mount{{VolModels, "/root/.ollama"}},
		Health: Health{
			// Healthy only once the model is pulled and loadable.
			Shell:    `ollama show "$NFX_MODEL" >/dev/null && { [ -z "$NFX_EMBED_MODEL" ] || ollama show "$NFX_EMBED_MODEL" >/dev/null; }`,
			Interval: 30 * time.Second, Timeout: 10 * time.Second, Retries: 5, StartPeriod: 30 * time.Minute,
		},
		Sizing:   c.AI.Sizing,
		Replicas: c.AI.Replicas,
		// The frontend network gives Ollama the route out it needs to pull models.
		Networks: []string{NetBackend, NetFrontend},
	}
	// On CPU, Ollama 0.5.7 has no server-wide thread setting (its
	// envconfig has no OLLAMA_NUM_THREADS; threads are the per-request
	// num_thread option, defaulting to the host's physical cores): the
	// container's CPU limit is what bounds it.
	if c.UseGPU {
		s.GPUs = 1
	}
	if AIEngineOf(c) == EngineVLLM {
		return vllmService(c, s)
	}
	return s
}

func postgresService(c *Config) Service {
	return Service{
		Name: PartPostgres, Part: PartPostgres, Image: c.Postgres.Image,
		Env: map[string]string{
			"POSTGRES_DB":   c.Postgres.Database,
			"POSTGRES_USER": c.Postgres.User,
			"PGDATA":        "/var/lib/postgresql/data/pgdata",
		},
		Secrets: []SecretUse{{SecretPostgresPassword, "POSTGRES_PASSWORD_FILE"}},
		Ports:   []Port{{Name: "postgres", Port: PostgresPort}},
		Volumes: []Mount{{VolPostgres, "/var/lib/postgresql/data"}},
		Health: Health{
			Shell:    fmt.Sprintf("pg_isready -h 127.0.0.1 -p %d -U %s -d %s", PostgresPort, c.Postgres.User, c.Postgres.Database),
			Interval: 10 * time.Second, Timeout: 5 * time.Second, Retries: 6, StartPeriod: 30 * time.Second,
		},
		Command: postgresCommand(c),
		Sizing:  c.Postgres.Sizing, Replicas: 1,
		Networks: []string{NetBackend},
	}
}

// postgresCommand starts PostgreSQL with logical WAL when the stage
// migrates online; otherwise the image's own command.
func postgresCommand(c *Config) []string {
	if c.WALLevel() != "logical" {
		return nil
	}
	return []string{"postgres", "-c", "wal_level=logical"}
}

// redisStart writes an ACL file holding only the SHA-256 of the password on
// a tmpfs, then starts Redis through the image's entrypoint, which drops to
// the redis user. The password never appears in a command line.
func redisStart(c *Config) string {
	return fmt.Sprintf(`set -eu
umask 077
hash=$(printf '%%s' "$(cat /run/secrets/%s)" | sha256sum | cut -d' ' -f1)
printf 'user default on #%%s ~* &* +@all\n' "$hash" > /run/redis/users.acl
chown redis:redis /run/redis/users.acl
exec docker-entrypoint.sh redis-server --aclfile /run/redis/users.acl --appendonly yes --maxmemory %d --maxmemory-policy %s`,
		SecretRedisPassword, int64(c.Redis.MaxMemory), c.Redis.EvictionPolicy())
}

// RedisStartPeriod is Redis's health check's start period: on the server,
// its start may first wait for the Sentinels (redis-start.sh).
const RedisStartPeriod = 60 * time.Second

func redisService(c *Config) Service {
	return Service{
		Name: PartRedis, Part: PartRedis, Image: c.Redis.Image,
		Entrypoint: []string{"/bin/sh", "-c", redisStart(c)},
		Secrets:    []SecretUse{{Secret: SecretRedisPassword}},
		Ports:      []Port{{Name: "redis", Port: RedisPort}},
		Volumes:    []Mount{{VolRedis, "/data"}},
		Tmpfs:      []string{"/run/redis"},
		Health: Health{
			Shell:    fmt.Sprintf(`REDISCLI_AUTH="$(cat /run/secrets/%s)" redis-cli -p %d ping | grep -q PONG`, SecretRedisPassword, RedisPort),
			Interval: 10 * time.Second, Timeout: 5 * time.Second, Retries: 6, StartPeriod: RedisStartPeriod,
		},
		Sizing: c.Redis.Sizing, Replicas: 1,
		Networks: []string{NetBackend},
	}
}

// QdrantKeyed is a bash line that starts Qdrant (run) with its API key
// from the secret's file: Qdrant v1.13.2 reads the key from its
// environment or its configuration file only (QDRANT__SERVICE__API_KEY),
// never from a file of its own. An empty or missing file stops the start:
// Qdrant would otherwise serve without a key, or with an empty one.
func QdrantKeyed(run string) string {
	key := SecretUse{Secret: SecretQdrantAPIKey}.Path()
	return `if ! key=$(cat ` + key + `) || [ -z "$key" ]; then echo "qdrant: no API key in ` + key + `" >&2; exit 1; fi
export QDRANT__SERVICE__API_KEY="$key"; unset key
` + run
}

func qdrantService(c *Config) Service {
	return Service{
		Name: PartQdrant, Part: PartQdrant, Image: c.Qdrant.Image,
		// The image's own entrypoint.sh (its recovery from an OOM kill at
		// start), with the key; a stage's arguments go to ./qdrant.
		Entrypoint: []string{"/bin/bash", "-c", QdrantKeyed(`exec ./entrypoint.sh "$@"`), "qdrant"},
		Env: map[string]string{
			"QDRANT__TELEMETRY_DISABLED": "true",
		},
		Secrets: []SecretUse{{Secret: SecretQdrantAPIKey}},
		Ports:   []Port{{Name: "http", Port: QdrantHTTPPort}, {Name: "grpc", Port: QdrantGRPCPort}},
		Volumes: []Mount{{VolQdrant, "/qdrant/storage"}},
		Health: Health{
			// The Qdrant image has bash but neither curl nor wget.
			Shell:    fmt.Sprintf(`bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d && printf "GET /readyz HTTP/1.0\r\n\r\n" >&3 && head -n 1 <&3 | grep -q " 200 "'`, QdrantHTTPPort),
			Interval: 10 * time.Second, Timeout: 5 * time.Second, Retries: 6, StartPeriod: 20 * time.Second,
		},
		Sizing: c.Qdrant.Sizing, Replicas: 1,
		Networks: []string{NetBackend},
	}
}

func tunnelService(c *Config) Service {
	metrics := fmt.Sprintf("127.0.0.1:%d", TunnelMetrics)
	if MonitoringRuns(c) {
		// Prometheus scrapes cloudflared's metrics over the network.
		metrics = fmt.Sprintf("0.0.0.0:%d", TunnelMetrics)
	}
	return Service{
		Name: PartTunnel, Part: PartTunnel, Image: c.Tunnel.Image,
		Command: []string{"tunnel", "--no-autoupdate", "--metrics", metrics, "run", "--token-file", SecretUse{Secret: SecretTunnelToken}.Path()},
		Secrets: []SecretUse{{Secret: SecretTunnelToken}},
		Health: Health{
			// The cloudflared image has no shell: the check is its own "ready" command.
			Exec:     []string{"cloudflared", "tunnel", "--metrics", metrics, "ready"},
			Interval: 30 * time.Second, Timeout: 10 * time.Second, Retries: 3, StartPeriod: 20 * time.Second,
		},
		Sizing: TunnelSizing, Replicas: 1,
		Networks: []string{NetFrontend},
	}
}
