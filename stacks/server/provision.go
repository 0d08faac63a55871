package server

import (
	"fmt"
	"strconv"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/nextflow-crm/nfx/components"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/stacks/internal/composex"
)

// provisioner realises the parts of one kind as Swarm services, one per
// instance of the stage's layout.
type provisioner interface {
	components.Provisioner
	service(s *stack, p *model.Part, in model.Instance)
}

// Provisioners are the server's provisioners, one per part kind.
var Provisioners = map[model.Kind]provisioner{
	model.KindWeb:      replicated{web: true},
	model.KindWorker:   replicated{},
	model.KindAI:       aiNodes{},
	model.KindDatabase: postgresPair{},
	model.KindCache:    redisSentinel{},
	model.KindVector:   qdrantCluster{},
	model.KindEdge:     tunnel{},
}

func inputs(app *model.App, p *model.Part) map[string]any {
	return components.ContainerInputs(app, p, nil)
}

// addrs are where the server serves each endpoint: writes to the primary,
// reads from the replica, Redis through Sentinel, the AI API through
// nginx's balancer, Qdrant at its first peer.
func addrs(app *model.App) model.Addrs {
	c := app.Config
	return model.Addrs{
		DB:      model.HostPort{Host: PGWriter(c), Port: model.PostgresPort},
		DBRead:  model.HostPort{Host: dbRead(c), Port: model.PostgresPort},
		SSLMode: "disable",
		Cache:   model.HostPort{Host: RedisPrimary, Port: model.RedisPort},
		// Clients that speak Sentinel find the primary after a failover.
		Sentinels: fmt.Sprintf("%s:%d", SentinelService, SentinelPort), Master: MasterName,
		Vector: model.HostPort{Host: qdrantName(1), Port: model.QdrantHTTPPort}, VectorGRPCPort: model.QdrantGRPCPort,
		AI: model.HostPort{Host: NginxService, Port: 80}, AIURL: fmt.Sprintf("http://%s/ai", NginxService),
		Public: func(p *model.Part) (string, string, bool) {
			if c.Tunnel.Mode != model.TunnelNone {
				return "https://" + p.Public.Hostname, p.Public.Hostname, true
			}
			if p.Name == model.PartCRM {
				return fmt.Sprintf("http://127.0.0.1:%d", c.Nginx.HTTPPort), "127.0.0.1", true
			}
			return fmt.Sprintf("http://%s:%d", p.Public.Hostname, c.Nginx.HTTPPort), p.Public.Hostname, true
		},
	}
}

// dbRead is where the CRM reads: the follower, except after a failover,
// when the follower is being rebuilt (a clone of the whole database, which
// serves nothing until it is done) and the writer serves the reads too.
func dbRead(c *model.Config) string {
	if c.Postgres.FailedOver {
		return PGWriter(c)
	}
	return PGFollower(c)
}

// containerSpec applies what every part's container shares: the
// environment resolved on the server, its secrets as files, its health
// check, command and GPU.
func (s *stack) containerSpec(svc *types.ServiceConfig, p *model.Part) {
	m := p.Service
	svc.Entrypoint = composex.EscapeAll(m.Entrypoint)
	svc.Command = composex.EscapeAll(m.Command)
	env(svc, s.resolved(p))
	for _, sec := range m.Secrets {
		secret(svc, sec.Secret)
		if sec.FileEnv != "" {
			env(svc, map[string]string{sec.FileEnv: sec.Path()})
		}
	}
	svc.HealthCheck = composex.HealthCheck(m.Health)
	if m.GPUs > 0 {
		gpu(svc, m.GPUs)
	}
}

// gpu places a service on a GPU node and reserves whole GPUs: Swarm has no
// device reservations, so the GPU is a generic resource each GPU node
// advertises (gpu/configure-gpu-node.sh).
func gpu(svc *types.ServiceConfig, n int) {
	placement(svc, "node.labels.nextflow.gpu == true")
	svc.Deploy.Resources.Reservations.GenericResources = []types.GenericResource{{
		DiscreteResourceSpec: &types.DiscreteGenericResource{Kind: GPUKind, Value: int64(n)},
	}}
}

// replicated runs a web app or a worker as one replicated service, rolled
// one task at a time, the new task up before the old one stops, rolled
// back when it fails. nginx balances a web app itself, over every task.
type replicated struct{ web bool }

func (r replicated) Describe(app *model.App, p *model.Part) string {
	switch {
	case p.Name == model.PartCRM:
		return fmt.Sprintf("%d replicas behind %d nginx (Docker Swarm, rolling updates)", p.Replicas, model.Profiles[app.Config.Stage].Topology.LoadBalancers)
	case r.web && p.Public != nil:
		return fmt.Sprintf("%d replicas behind nginx at %s (Docker Swarm, rolling updates)", p.Replicas, p.Public.Hostname)
	case r.web:
		return fmt.Sprintf("%d replicas on the internal network (Docker Swarm, rolling updates)", p.Replicas)
	}
	return fmt.Sprintf("%d replicas (Docker Swarm, rolling updates)", p.Replicas)
}

func (replicated) Inputs(app *model.App, p *model.Part) map[string]any { return inputs(app, p) }

func (r replicated) service(s *stack, p *model.Part, in model.Instance) {
	m := p.Service
	svc := s.base(in.Name, p.Name, m.Image, in.Sizing, in.Replicas, m.Networks...)
	s.containerSpec(&svc, p)
	svc.Deploy.Placement.Preferences = []types.PlacementPreferences{{Spread: "node.id"}}
	// The monitor window covers the health check's start period plus its retries.
	window := m.Health.StartPeriod + time.Duration(m.Health.Retries)*m.Health.Interval
	svc.Deploy.UpdateConfig = &types.UpdateConfig{
		Parallelism: u64(1), Delay: types.Duration(10 * time.Second), Order: "start-first",
		FailureAction: "rollback", Monitor: types.Duration(window), MaxFailureRatio: 0,
	}
	svc.Deploy.RollbackConfig = &types.UpdateConfig{
		Parallelism: u64(1), Delay: types.Duration(5 * time.Second), Order: "start-first",
		FailureAction: "pause", Monitor: types.Duration(window),
	}
	s.add(svc)
}

// aiNodes runs one Ollama service per AI node, each pinned to its node and
// its GPU, with the models on the node's volume.
type aiNodes struct{}

func (aiNodes) Describe(app *model.App, p *model.Part) string {
	c := app.Config
	if !c.UseGPU {
		return fmt.Sprintf("%d Ollama nodes on CPU (%s)", p.Replicas, c.AI.Model)
	}
	return fmt.Sprintf("%d Ollama nodes, one %s each (%s)", p.Replicas, c.Host.GPU, c.AI.Model)
}

func (aiNodes) Inputs(app *model.App, p *model.Part) map[string]any { return inputs(app, p) }

func (aiNodes) service(s *stack, p *model.Part, in model.Instance) {
	m := p.Service
	svc := s.base(in.Name, p.Name, m.Image, in.Sizing, in.Replicas, model.NetBackend, model.NetFrontend)
	placement(&svc, fmt.Sprintf("node.labels.nextflow.ai == %d", in.Node))
	s.containerSpec(&svc, p)
	volume(&svc, model.VolModels, "/root/.ollama")
	s.declareVolume(model.VolModels)
	s.add(svc)
}

// postgresPair runs PostgreSQL's writer and its streaming replica on nodes
// the operator labels, never the same one. The services keep their names,
// nodes and volumes for good; postgres.failedOver moves the writer's role
// from postgres-primary to postgres-replica (and back), so a failover never
// starts a server on another node's (empty or older) volume.
type postgresPair struct{}

func (postgresPair) Describe(app *model.App, _ *model.Part) string {
	if app.Config.Postgres.FailedOver {
		return "failed over: postgres-replica writes, postgres-primary rebuilt as its streaming replica; daily pg_dump to the NAS"
	}
	return "primary + streaming replica on different nodes, daily pg_dump to the NAS"
}

func (postgresPair) Inputs(app *model.App, p *model.Part) map[string]any { return inputs(app, p) }

func (postgresPair) service(s *stack, p *model.Part, in model.Instance) {
	m := p.Service
	c := s.app.Config
	svc := s.base(in.Name, p.Name, m.Image, in.Sizing, in.Replicas, model.NetBackend)
	env(&svc, m.Env)
	env(&svc, map[string]string{
		"POSTGRES_PASSWORD_FILE":    "/run/secrets/" + model.SecretPostgresPassword,
		"REPLICATION_PASSWORD_FILE": "/run/secrets/" + SecretReplicationPassword,
	})
	secret(&svc, model.SecretPostgresPassword)
	secret(&svc, SecretReplicationPassword)
	s.mount(&svc, "postgresql_conf", "/etc/postgresql/postgresql.conf")
	s.mount(&svc, "pg_hba_conf", "/etc/postgresql/pg_hba.conf")
	s.mount(&svc, "postgres_failover", "/usr/local/bin/failover.sh")
	args := types.ShellCommand{"-c", "config_file=/etc/postgresql/postgresql.conf", "-c", "hba_file=/etc/postgresql/pg_hba.conf"}
	if in.Name == PGWriter(c) && in.Role == model.RolePrimary {
		// The image's own entrypoint: initdb on the first start.
		s.mount(&svc, "postgres_init_primary", "/docker-entrypoint-initdb.d/10-replication.sh")
		svc.Command = append(types.ShellCommand{"postgres"}, args...)
		svc.HealthCheck = composex.HealthCheck(m.Health)
	} else {
		// The follower clones the writer; a promoted replica writes on its
		// own data and never initialises an empty one.
		s.mount(&svc, "postgres_replica_entrypoint", "/usr/local/bin/replica-entrypoint.sh")
		if in.Name == PGWriter(c) {
			env(&svc, map[string]string{"NFX_POSTGRES_ROLE": "writer"})
		} else {
			env(&svc, map[string]string{"PRIMARY_HOST": PGWriter(c)})
		}
		svc.Entrypoint = types.ShellCommand{"/usr/local/bin/replica-entrypoint.sh"}
		svc.Command = args
		svc.HealthCheck = composex.HealthCheck(ReplicaHealth(m.Health))
	}
	vol := in.Name + "-data"
	volume(&svc, vol, "/var/lib/postgresql/data")
	s.declareVolume(vol)
	svc.StopGracePeriod = composex.Duration(60 * time.Second)
	// The two never share a node: the operator labels one node of each.
	placement(&svc, "node.labels.nextflow.postgres == "+in.Role)
	s.add(svc)
}

// redisSentinel runs the Redis primary and replica and the Sentinels that
// fail over between them.
type redisSentinel struct{}

func (redisSentinel) Describe(app *model.App, _ *model.Part) string {
	return fmt.Sprintf("primary + replica, %d Sentinels for failover", model.Profiles[app.Config.Stage].Topology.Sentinels)
}

func (redisSentinel) Inputs(app *model.App, p *model.Part) map[string]any { return inputs(app, p) }

// resolverOptions bound each name lookup of Redis and Sentinel to one
// second (glibc reads RES_OPTIONS as resolv.conf's options line). Both
// resolve a peer's name synchronously, on their one thread, and retry every
// second while it is down; a name with no task does not resolve, and Docker
// before 23.0.11, 25.0.4 and 26.0.0 (Debian 12's is 20.10) gives a
// container on an internal network no answer at all for it (moby#47538), so
// the lookup waits glibc's default 2 x 5 s: Sentinel enters TILT mode and
// the replica being promoted stops answering, and the failover never
// happens (seen on the Swarm here).
var resolverOptions = map[string]string{"RES_OPTIONS": "timeout:1 attempts:1"}

func (redisSentinel) service(s *stack, p *model.Part, in model.Instance) {
	m := p.Service
	if in.Role == model.RoleSentinel {
		svc := s.base(in.Name, p.Name, m.Image, in.Sizing, in.Replicas, model.NetBackend)
		env(&svc, resolverOptions)
		s.mount(&svc, "sentinel_start", "/usr/local/bin/sentinel-start.sh")
		svc.Entrypoint = types.ShellCommand{"/bin/sh", "/usr/local/bin/sentinel-start.sh"}
		secret(&svc, model.SecretRedisPassword)
		volume(&svc, "sentinel-data", "/data")
		s.declareVolume("sentinel-data")
		svc.HealthCheck = shellHealth(fmt.Sprintf(`REDISCLI_AUTH="$(cat /run/secrets/%s)" redis-cli -p %d ping | grep -q PONG`, model.SecretRedisPassword, SentinelPort), 10*time.Second, 10*time.Second)
		// One Sentinel per node, so losing a node loses at most one vote.
		svc.Deploy.Placement.MaxReplicas = 1
		s.add(svc)
		return
	}
	svc := s.base(in.Name, p.Name, m.Image, in.Sizing, in.Replicas, model.NetBackend)
	env(&svc, resolverOptions)
	s.mount(&svc, "redis_start", "/usr/local/bin/redis-start.sh")
	svc.Entrypoint = types.ShellCommand{"/bin/sh", "/usr/local/bin/redis-start.sh", in.Role}
	secret(&svc, model.SecretRedisPassword)
	// A tmpfs mount, not the service's tmpfs: key, which Swarm's stack
	// converter drops without a word (stacks/server/engine_facts_test.go):
	// the password's config file would land on the container's disk layer.
	svc.Volumes = append(svc.Volumes, types.ServiceVolumeConfig{Type: types.VolumeTypeTmpfs, Target: "/run/redis",
		Tmpfs: &types.ServiceVolumeTmpfs{Size: types.UnitBytes(1 << 20)}})
	vol := in.Name + "-data"
	volume(&svc, vol, "/data")
	s.declareVolume(vol)
	svc.HealthCheck = composex.HealthCheck(m.Health)
	placement(&svc, "node.labels.nextflow.redis == "+in.Role)
	s.add(svc)
}

// qdrantCluster runs one Qdrant peer per labelled node; the first starts
// the cluster and the others join it.
type qdrantCluster struct{}

func (qdrantCluster) Describe(app *model.App, _ *model.Part) string {
	return fmt.Sprintf("%d-node cluster, replication factor 2", model.Profiles[app.Config.Stage].Topology.QdrantNodes)
}

func (qdrantCluster) Inputs(app *model.App, p *model.Part) map[string]any { return inputs(app, p) }

func (qdrantCluster) service(s *stack, p *model.Part, in model.Instance) {
	m := p.Service
	svc := s.base(in.Name, p.Name, m.Image, in.Sizing, in.Replicas, model.NetBackend)
	// The part's container (its entrypoint with the API key, the key's
	// secret, its health check), clustered.
	s.containerSpec(&svc, p)
	env(&svc, map[string]string{
		"QDRANT__CLUSTER__ENABLED":   "true",
		"QDRANT__CLUSTER__P2P__PORT": strconv.Itoa(QdrantP2PPort),
		// Every collection the CRM creates keeps two copies of each shard.
		"QDRANT__STORAGE__COLLECTION__REPLICATION_FACTOR":       "2",
		"QDRANT__STORAGE__COLLECTION__WRITE_CONSISTENCY_FACTOR": "1",
	})
	self := fmt.Sprintf("http://%s:%d", in.Name, QdrantP2PPort)
	if in.Node == 1 {
		svc.Command = types.ShellCommand{"--uri", self}
	} else {
		svc.Command = types.ShellCommand{"--bootstrap", fmt.Sprintf("http://%s:%d", qdrantName(1), QdrantP2PPort), "--uri", self}
	}
	vol := in.Name + "-data"
	volume(&svc, vol, "/qdrant/storage")
	s.declareVolume(vol)
	placement(&svc, fmt.Sprintf("node.labels.nextflow.qdrant == %d", in.Node))
	s.add(svc)
}

// tunnel runs cloudflared, one per node, to nginx.
type tunnel struct{}

func (tunnel) Describe(app *model.App, _ *model.Part) string {
	c := app.Config
	if c.Tunnel.Mode == model.TunnelNone {
		return fmt.Sprintf("none: nginx published on port %d", c.Nginx.HTTPPort)
	}
	if c.Tunnel.Standby {
		return fmt.Sprintf("cloudflared on standby (0 until the cutover; %s mode) to nginx", c.Tunnel.Mode)
	}
	return fmt.Sprintf("cloudflared x%d (%s mode) to nginx", model.Profiles[app.Config.Stage].Topology.EdgeReplicas, c.Tunnel.Mode)
}

func (tunnel) Inputs(app *model.App, p *model.Part) map[string]any {
	return components.ContainerInputs(app, p, map[string]any{"mode": app.Config.Tunnel.Mode})
}

func (tunnel) service(s *stack, p *model.Part, in model.Instance) {
	m := p.Service
	svc := s.base(in.Name, p.Name, m.Image, in.Sizing, in.Replicas, model.NetFrontend)
	svc.Command = composex.EscapeAll(m.Command)
	for _, sec := range m.Secrets {
		secret(&svc, sec.Secret)
	}
	svc.HealthCheck = composex.HealthCheck(m.Health)
	svc.Deploy.Placement.MaxReplicas = 1
	s.add(svc)
}

// Routes are where the server's tunnel sends each public hostname: to
// nginx, which routes by host.
func Routes(app *model.App) []components.Route {
	var out []components.Route
	for _, p := range app.PublicParts() {
		out = append(out, components.Route{Hostname: p.Public.Hostname, Service: fmt.Sprintf("http://%s:80", NginxService)})
	}
	return out
}
