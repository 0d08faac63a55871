package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/stacks/internal/composex"
)

// StackFile is the name of the rendered Swarm stack.
const StackFile = "stack.yaml"

// SecretFile is the path of a secret's file, relative to StackFile.
func SecretFile(name string) string { return "secrets/" + name }

// mounted is a rendered file a service mounts as a Swarm config.
type mounted struct {
	key  string // the config's key in stack.yaml
	path string // the file, relative to stack.yaml
	exec bool
	data []byte
}

// Render returns stack.yaml and every file its services mount, without
// the secret files. Rendering twice gives the same bytes.
func Render(app *model.App) (files.Set, error) {
	if app.Config.Stage != model.Server {
		return nil, fmt.Errorf("server: cannot render the %s stage", app.Config.Stage)
	}
	mounts, err := renderMounts(app)
	if err != nil {
		return nil, err
	}
	p, err := Project(app, mounts)
	if err != nil {
		return nil, err
	}
	p.Name = "" // the v3 schema has no name: `docker stack deploy -c stack.yaml nextflow` gives it
	stack, err := p.MarshalYAML()
	if err != nil {
		return nil, fmt.Errorf("server: marshal stack: %w", err)
	}
	if stack, err = swarmCompat(stack); err != nil {
		return nil, err
	}
	set := files.Set{{Path: StackFile, Data: stack}}
	for _, m := range mounts {
		set = append(set, files.File{Path: m.path, Data: m.data, Exec: m.exec})
	}
	return set.Sorted(), nil
}

func renderMounts(app *model.App) ([]mounted, error) {
	pg := PostgresDefaults(app)
	rd := RedisDefaults(app)
	bk := BackupDefaults(app)
	list := []struct {
		key, path, tmpl string
		exec            bool
		data            any
	}{
		{"nginx_conf", "nginx/nginx.conf", "nginx.conf.tmpl", false, NginxDefaults(app)},
		{"postgresql_conf", "postgres/postgresql.conf", "postgresql.conf.tmpl", false, pg},
		{"pg_hba_conf", "postgres/pg_hba.conf", "pg_hba.conf.tmpl", false, pg},
		{"postgres_init_primary", "postgres/init-primary.sh", "init-primary.sh.tmpl", true, pg},
		{"postgres_replica_entrypoint", "postgres/replica-entrypoint.sh", "replica-entrypoint.sh.tmpl", true, pg},
		{"postgres_failover", "postgres/failover.sh", "failover.sh.tmpl", true, pg},
		{"redis_start", "redis/redis-start.sh", "redis-start.sh.tmpl", true, rd},
		{"sentinel_start", "redis/sentinel-start.sh", "sentinel-start.sh.tmpl", true, rd},
		{"backup_script", "backup/backup.sh", "backup.sh.tmpl", true, bk},
		{"restore_script", "backup/restore.sh", "restore.sh.tmpl", true, bk},
		{"", "gpu/configure-gpu-node.sh", "configure-gpu-node.sh.tmpl", true, struct{ GPUKind string }{GPUKind}},
	}
	var out []mounted
	for _, f := range list {
		data, err := execute(f.tmpl, f.data)
		if err != nil {
			return nil, err
		}
		out = append(out, mounted{key: f.key, path: f.path, exec: f.exec, data: data})
	}
	return out, nil
}

// Project builds the typed Swarm stack.
func Project(app *model.App, mounts []mounted) (*types.Project, error) {
	c := app.Config
	topo := model.Profiles[c.Stage].Topology
	s := &stack{app: app, p: &types.Project{
		Name: StackName, Services: types.Services{}, Networks: types.Networks{},
		Volumes: types.Volumes{}, Secrets: types.Secrets{}, Configs: types.Configs{},
	}, mounts: map[string]mounted{}}
	for _, m := range mounts {
		if m.key == "" {
			continue
		}
		s.mounts[m.key] = m
		// Swarm configs cannot change in place: the name carries the content's
		// hash, so a changed file rolls the services that mount it.
		sum := sha256.Sum256(m.data)
		s.p.Configs[m.key] = types.ConfigObjConfig{
			Name: fmt.Sprintf("%s_%s_%s", StackName, m.key, hex.EncodeToString(sum[:])[:10]),
			File: "./" + m.path,
		}
	}
	s.p.Networks[model.NetFrontend] = types.NetworkConfig{Driver: "overlay", Labels: labels("network", model.NetFrontend)}
	s.p.Networks[model.NetBackend] = types.NetworkConfig{
		Driver: "overlay", Internal: true, Attachable: false,
		DriverOpts: types.Options{"encrypted": "true"},
		Labels:     labels("network", model.NetBackend),
	}
	for _, sec := range append(app.Secrets, model.SecretSpec{Name: SecretReplicationPassword, Key: model.KeyReplicationPassword}) {
		s.p.Secrets[sec.Name] = types.SecretConfig{File: "./" + SecretFile(sec.Name)}
	}

	s.nginx(topo.LoadBalancers)
	s.crm()
	for i := 1; i <= c.AI.Replicas; i++ {
		s.ai(i)
	}
	s.postgres(PGPrimary)
	s.postgres(PGReplica)
	s.redis(RedisPrimary)
	s.redis(RedisReplica)
	s.sentinel(topo.Sentinels)
	for i := 1; i <= topo.QdrantNodes; i++ {
		s.qdrant(i)
	}
	if c.Tunnel.Mode != model.TunnelNone {
		s.tunnel()
	}
	s.backups()
	return s.p, s.err
}

type stack struct {
	app    *model.App
	p      *types.Project
	mounts map[string]mounted
	err    error
}

func labels(kind, name string) types.Labels {
	return types.Labels{"dev.nfx.stage": string(model.Server), "dev.nfx." + kind: name}
}

func u64(v uint64) *uint64 { return &v }

// base is what every service shares: image, restart policy, resources,
// logging, labels and networks.
func (s *stack) base(name, part, image string, sz model.Sizing, replicas int, networks ...string) types.ServiceConfig {
	svc := types.ServiceConfig{
		Name: name,
		ContainerSpec: types.ContainerSpec{
			Image:    image,
			Labels:   labels("part", part),
			Networks: map[string]*types.ServiceNetworkConfig{},
			Logging: &types.LoggingConfig{
				Driver: "json-file", Options: types.Options{"max-size": "20m", "max-file": "5"},
			},
		},
		Deploy: &types.DeployConfig{
			Mode:     "replicated",
			Replicas: &replicas,
			Labels:   labels("part", part),
			Resources: types.Resources{
				Limits:       &types.Resource{NanoCPUs: types.NanoCPUs(sz.CPUs), MemoryBytes: types.UnitBytes(sz.Memory)},
				Reservations: &types.Resource{NanoCPUs: types.NanoCPUs(sz.CPURequest), MemoryBytes: types.UnitBytes(sz.MemoryRequest)},
			},
			RestartPolicy: &types.RestartPolicy{
				Condition: "any", Delay: composex.Duration(5 * time.Second), Window: composex.Duration(2 * time.Minute),
			},
		},
	}
	for _, n := range networks {
		svc.Networks[n] = nil
	}
	return svc
}

func (s *stack) add(svc types.ServiceConfig) { s.p.Services[svc.Name] = svc }

// mount adds a config file to a service.
func (s *stack) mount(svc *types.ServiceConfig, key, target string) {
	m, ok := s.mounts[key]
	if !ok {
		s.err = fmt.Errorf("server: service %s mounts unknown config %s", svc.Name, key)
		return
	}
	mode := types.FileMode(0o444)
	if m.exec {
		mode = 0o555
	}
	svc.Configs = append(svc.Configs, types.ServiceConfigObjConfig{Source: key, Target: target, Mode: &mode})
}

func secret(svc *types.ServiceConfig, name string) {
	svc.Secrets = append(svc.Secrets, types.ServiceSecretConfig{Source: name, Target: name})
}

func env(svc *types.ServiceConfig, kv map[string]string) {
	if svc.Environment == nil {
		svc.Environment = types.MappingWithEquals{}
	}
	for k, v := range composex.Environment(kv, nil) {
		svc.Environment[k] = v
	}
}

func shellHealth(cmd string, interval time.Duration, start time.Duration) *types.HealthCheckConfig {
	return composex.HealthCheck(model.Health{Shell: cmd, Interval: interval, Timeout: 5 * time.Second, Retries: 5, StartPeriod: start})
}

func placement(svc *types.ServiceConfig, constraints ...string) {
	svc.Deploy.Placement.Constraints = append(svc.Deploy.Placement.Constraints, constraints...)
}

func volume(svc *types.ServiceConfig, name, target string) {
	svc.Volumes = append(svc.Volumes, types.ServiceVolumeConfig{Type: types.VolumeTypeVolume, Source: name, Target: target})
}

func (s *stack) declareVolume(name string) {
	s.p.Volumes[name] = types.VolumeConfig{Labels: labels("volume", name)}
}

func modelService(app *model.App, part string) model.Service {
	svc, _ := app.Service(part)
	return svc
}

func (s *stack) nginx(replicas int) {
	c := s.app.Config
	svc := s.base(NginxService, "loadbalancer", c.Nginx.Image, model.NginxSizing, replicas, model.NetFrontend)
	s.mount(&svc, "nginx_conf", "/etc/nginx/nginx.conf")
	// Reload when the CRM's task addresses change (a rolling update, a
	// rescheduled replica): nginx resolves upstream names only on (re)load.
	svc.Command = types.ShellCommand{"/bin/sh", "-c", composex.Escape(fmt.Sprintf(`prev=""
(while sleep 10; do
  cur=$(getent ahostsv4 tasks.%s | awk '{print $1}' | sort -u | tr '\n' ' ')
  if [ -n "$prev" ] && [ "$cur" != "$prev" ]; then nginx -s reload; fi
  prev=$cur
done) &
exec nginx -g 'daemon off;'`, model.PartCRM))}
	svc.HealthCheck = shellHealth("curl -fsS http://127.0.0.1/nginx-health >/dev/null", 10*time.Second, 10*time.Second)
	if c.Tunnel.Mode == model.TunnelNone {
		svc.Ports = []types.ServicePortConfig{{Target: 80, Published: strconv.Itoa(c.Nginx.HTTPPort), Protocol: "tcp", Mode: "ingress"}}
	}
	svc.Deploy.Placement.MaxReplicas = 1
	svc.Deploy.UpdateConfig = &types.UpdateConfig{Parallelism: u64(1), Delay: types.Duration(5 * time.Second), Order: "start-first", FailureAction: "rollback", Monitor: types.Duration(30 * time.Second)}
	s.add(svc)
}

func (s *stack) crm() {
	c := s.app.Config
	m := modelService(s.app, model.PartCRM)
	svc := s.base(model.PartCRM, model.PartCRM, m.Image, m.Sizing, c.CRM.Replicas, model.NetFrontend, model.NetBackend)
	e := m.EnvCopy()
	// The server topology: writes to the primary, reads from the replica,
	// Redis through Sentinel, the AI API through nginx's balancer.
	e["DATABASE_HOST"] = PGPrimary
	e["DATABASE_READ_HOST"] = PGReplica
	e["DATABASE_URL"] = model.PostgresDSN(PGPrimary, c)
	e["DATABASE_READ_URL"] = model.PostgresDSN(PGReplica, c)
	e["REDIS_SENTINELS"] = fmt.Sprintf("%s:%d", SentinelService, SentinelPort)
	e["REDIS_MASTER_NAME"] = MasterName
	e["REDIS_URL"] = fmt.Sprintf("redis://%s:%d/0", RedisPrimary, model.RedisPort)
	e["QDRANT_URL"] = fmt.Sprintf("http://%s:%d", qdrantName(1), model.QdrantHTTPPort)
	e["OLLAMA_BASE_URL"] = fmt.Sprintf("http://%s/ai", NginxService)
	if c.Tunnel.Mode == model.TunnelNone {
		e["PUBLIC_URL"] = fmt.Sprintf("http://127.0.0.1:%d", c.Nginx.HTTPPort)
	}
	env(&svc, e)
	for _, sec := range m.Secrets {
		secret(&svc, sec.Secret)
		if sec.FileEnv != "" {
			env(&svc, map[string]string{sec.FileEnv: sec.Path()})
		}
	}
	svc.HealthCheck = composex.HealthCheck(m.Health)
	// nginx balances the replicas itself: tasks.crm must list every task.
	svc.Deploy.EndpointMode = "dnsrr"
	svc.Deploy.Placement.Preferences = []types.PlacementPreferences{{Spread: "node.id"}}
	// One at a time, the new task up before the old one stops, rolled back
	// when it fails; the monitor window covers the health check's start
	// period plus its retries.
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

func (s *stack) ai(i int) {
	c := s.app.Config
	m := modelService(s.app, model.PartAI)
	name := aiName(i)
	svc := s.base(name, model.PartAI, m.Image, m.Sizing, 1, model.NetBackend, model.NetFrontend)
	svc.Entrypoint = composex.EscapeAll(m.Entrypoint)
	env(&svc, m.Env)
	volume(&svc, model.VolModels, "/root/.ollama")
	svc.HealthCheck = composex.HealthCheck(m.Health)
	placement(&svc, fmt.Sprintf("node.labels.nextflow.ai == %d", i))
	if c.UseGPU {
		placement(&svc, "node.labels.nextflow.gpu == true")
		// Swarm has no device reservations: the GPU is a generic resource the
		// node advertises (gpu/configure-gpu-node.sh).
		svc.Deploy.Resources.Reservations.GenericResources = []types.GenericResource{{
			DiscreteResourceSpec: &types.DiscreteGenericResource{Kind: GPUKind, Value: 1},
		}}
	}
	s.declareVolume(model.VolModels)
	s.add(svc)
}

func (s *stack) postgres(name string) {
	m := modelService(s.app, model.PartPostgres)
	svc := s.base(name, model.PartPostgres, m.Image, m.Sizing, 1, model.NetBackend)
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
	role := "primary"
	if name == PGPrimary {
		s.mount(&svc, "postgres_init_primary", "/docker-entrypoint-initdb.d/10-replication.sh")
		svc.Command = append(types.ShellCommand{"postgres"}, args...)
	} else {
		role = "replica"
		s.mount(&svc, "postgres_replica_entrypoint", "/usr/local/bin/replica-entrypoint.sh")
		env(&svc, map[string]string{"PRIMARY_HOST": PGPrimary})
		svc.Entrypoint = types.ShellCommand{"/usr/local/bin/replica-entrypoint.sh"}
		svc.Command = args
	}
	vol := name + "-data"
	volume(&svc, vol, "/var/lib/postgresql/data")
	s.declareVolume(vol)
	svc.HealthCheck = composex.HealthCheck(m.Health)
	svc.StopGracePeriod = composex.Duration(60 * time.Second)
	// The two never share a node: the operator labels one node of each.
	placement(&svc, "node.labels.nextflow.postgres == "+role)
	s.add(svc)
}

func (s *stack) redis(name string) {
	m := modelService(s.app, model.PartRedis)
	role := "primary"
	if name == RedisReplica {
		role = "replica"
	}
	svc := s.base(name, model.PartRedis, m.Image, m.Sizing, 1, model.NetBackend)
	s.mount(&svc, "redis_start", "/usr/local/bin/redis-start.sh")
	svc.Entrypoint = types.ShellCommand{"/bin/sh", "/usr/local/bin/redis-start.sh", role}
	secret(&svc, model.SecretRedisPassword)
	svc.Tmpfs = types.StringList{"/run/redis"}
	vol := name + "-data"
	volume(&svc, vol, "/data")
	s.declareVolume(vol)
	svc.HealthCheck = composex.HealthCheck(m.Health)
	// Sentinel hands out task addresses: the name must resolve to the task.
	svc.Deploy.EndpointMode = "dnsrr"
	placement(&svc, "node.labels.nextflow.redis == "+role)
	s.add(svc)
}

func (s *stack) sentinel(replicas int) {
	m := modelService(s.app, model.PartRedis)
	svc := s.base(SentinelService, model.PartRedis, m.Image, model.SentinelSizing, replicas, model.NetBackend)
	s.mount(&svc, "sentinel_start", "/usr/local/bin/sentinel-start.sh")
	svc.Entrypoint = types.ShellCommand{"/bin/sh", "/usr/local/bin/sentinel-start.sh"}
	secret(&svc, model.SecretRedisPassword)
	volume(&svc, "sentinel-data", "/data")
	s.declareVolume("sentinel-data")
	svc.HealthCheck = shellHealth(fmt.Sprintf(`REDISCLI_AUTH="$(cat /run/secrets/%s)" redis-cli -p %d ping | grep -q PONG`, model.SecretRedisPassword, SentinelPort), 10*time.Second, 10*time.Second)
	svc.Deploy.EndpointMode = "dnsrr"
	// One Sentinel per node, so losing a node loses at most one vote.
	svc.Deploy.Placement.MaxReplicas = 1
	s.add(svc)
}

func (s *stack) qdrant(i int) {
	m := modelService(s.app, model.PartQdrant)
	name := qdrantName(i)
	svc := s.base(name, model.PartQdrant, m.Image, m.Sizing, 1, model.NetBackend)
	e := m.EnvCopy()
	e["QDRANT__CLUSTER__ENABLED"] = "true"
	e["QDRANT__CLUSTER__P2P__PORT"] = strconv.Itoa(QdrantP2PPort)
	// Every collection the CRM creates keeps two copies of each shard.
	e["QDRANT__STORAGE__COLLECTION__REPLICATION_FACTOR"] = "2"
	e["QDRANT__STORAGE__COLLECTION__WRITE_CONSISTENCY_FACTOR"] = "1"
	env(&svc, e)
	self := fmt.Sprintf("http://%s:%d", name, QdrantP2PPort)
	if i == 1 {
		svc.Command = types.ShellCommand{"./qdrant", "--uri", self}
	} else {
		svc.Command = types.ShellCommand{"./qdrant", "--bootstrap", fmt.Sprintf("http://%s:%d", qdrantName(1), QdrantP2PPort), "--uri", self}
	}
	vol := name + "-data"
	volume(&svc, vol, "/qdrant/storage")
	s.declareVolume(vol)
	svc.HealthCheck = composex.HealthCheck(m.Health)
	placement(&svc, fmt.Sprintf("node.labels.nextflow.qdrant == %d", i))
	s.add(svc)
}

func (s *stack) tunnel() {
	m := modelService(s.app, model.PartTunnel)
	svc := s.base(model.PartTunnel, model.PartTunnel, m.Image, m.Sizing, 2, model.NetFrontend)
	svc.Command = composex.EscapeAll(m.Command)
	for _, sec := range m.Secrets {
		secret(&svc, sec.Secret)
	}
	svc.HealthCheck = composex.HealthCheck(m.Health)
	svc.Deploy.Placement.MaxReplicas = 1
	s.add(svc)
}

// backups adds one scheduled backup job per kind of data, each on an image
// that has the kind's client and bash, writing to the NAS over NFS.
func (s *stack) backups() {
	c := s.app.Config
	nas := "nas"
	s.p.Volumes[nas] = types.VolumeConfig{
		Driver: "local",
		DriverOpts: types.Options{
			"type":   "nfs",
			"o":      fmt.Sprintf("addr=%s,nfsvers=4.1,rw,hard,timeo=600", c.Backup.NFSServer),
			"device": ":" + c.Backup.NFSPath,
		},
		Labels: labels("volume", nas),
	}
	for _, kind := range model.BackupKinds {
		var image string
		var networks = []string{model.NetBackend}
		switch kind {
		case "postgres":
			image = c.Postgres.Image
		case "redis":
			image = c.Redis.Image
		case "qdrant":
			image = c.Nginx.Image // Debian with bash and curl
		case "models":
			image = c.AI.Image
			networks = nil
		}
		svc := s.base("backup-"+kind, "backup", image, model.BackupSizing, 1, networks...)
		s.mount(&svc, "backup_script", "/usr/local/bin/backup.sh")
		s.mount(&svc, "restore_script", "/usr/local/bin/restore.sh")
		svc.Entrypoint = types.ShellCommand{"/bin/bash", "/usr/local/bin/backup.sh", "schedule", kind}
		env(&svc, map[string]string{"BACKUP_DIR": "/backups", "BACKUP_TIME": c.Backup.Time, "RETENTION_DAYS": strconv.Itoa(c.Backup.RetentionDays)})
		volume(&svc, nas, "/backups")
		switch kind {
		case "postgres":
			secret(&svc, model.SecretPostgresPassword)
		case "redis":
			secret(&svc, model.SecretRedisPassword)
		case "models":
			volume(&svc, model.VolModels, "/models")
			env(&svc, map[string]string{"MODELS_DIR": "/models/models"})
			placement(&svc, "node.labels.nextflow.ai == 1")
		}
		// Healthy while the NAS is mounted and writable.
		svc.HealthCheck = shellHealth("timeout 10 sh -c 'test -w /backups'", time.Minute, 10*time.Second)
		s.add(svc)
	}
}
