package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/nextflow-crm/nfx/components"
	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
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
	plan, err := monitoringPlan(app)
	if err != nil {
		return nil, err
	}
	mon, err := monitoringMounts(plan)
	return append(out, mon...), err
}

// Project builds the typed Swarm stack: each part's services from the
// stage's provisioner for its kind, then the stage's own load balancer and
// backups. The result holds exactly the services of app.Instances(),
// which the host fit counts.
func Project(app *model.App, mounts []mounted) (*types.Project, error) {
	s := &stack{app: app, p: &types.Project{
		Name: StackName, Services: types.Services{}, Networks: types.Networks{},
		Volumes: types.Volumes{}, Secrets: types.Secrets{}, Configs: types.Configs{},
	}, mounts: map[string]mounted{}, lookup: addrs(app)}
	var err error
	if s.mon, err = monitoringPlan(app); err != nil {
		return nil, err
	}
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
	// Both overlays are encrypted between nodes (IPsec): the frontend
	// carries the CRM's plain HTTP from cloudflared and nginx across them.
	s.p.Networks[model.NetFrontend] = types.NetworkConfig{Driver: "overlay", DriverOpts: types.Options{"encrypted": "true"}, Labels: labels("network", model.NetFrontend)}
	s.p.Networks[model.NetBackend] = types.NetworkConfig{
		Driver: "overlay", Internal: true, Attachable: false,
		DriverOpts: types.Options{"encrypted": "true"},
		Labels:     labels("network", model.NetBackend),
	}
	for _, sec := range append(app.Secrets, model.SecretSpec{Name: SecretReplicationPassword, Key: model.KeyReplicationPassword}) {
		s.p.Secrets[sec.Name] = types.SecretConfig{File: "./" + SecretFile(sec.Name)}
	}
	byPart := map[string][]model.Instance{}
	var helpers []model.Instance
	for _, in := range app.Instances() {
		if in.Part == "" {
			helpers = append(helpers, in)
			continue
		}
		byPart[in.Part] = append(byPart[in.Part], in)
	}
	for i := range app.Parts {
		part := &app.Parts[i]
		pr, ok := Provisioners[part.Kind]
		if !ok {
			return nil, &components.NoProvisionerError{Stage: app.Config.Stage, Part: part}
		}
		for _, in := range byPart[part.Name] {
			pr.service(s, part, in)
		}
	}
	for _, in := range helpers {
		switch in.Role {
		case model.RoleLoadBalancer:
			s.nginx(in)
		case model.RoleBackup:
			s.backup(in)
		case model.RoleMonitoring:
			s.monitor(in)
		default:
			return nil, fmt.Errorf("server: no service for the stage's %s helper %s", in.Role, in.Name)
		}
	}
	if s.err != nil {
		return nil, s.err
	}
	if err := checkInstances(app, s.p); err != nil {
		return nil, err
	}
	return s.p, nil
}

// checkInstances holds the rendered services to the stage's layout.
func checkInstances(app *model.App, p *types.Project) error {
	want := app.Instances()
	if len(want) != len(p.Services) {
		return fmt.Errorf("server: rendered %d services but the stage's layout has %d", len(p.Services), len(want))
	}
	for _, in := range want {
		svc, ok := p.Services[in.Name]
		if !ok || svc.Deploy == nil || svc.Deploy.Replicas == nil || *svc.Deploy.Replicas != in.Replicas {
			return fmt.Errorf("server: the stage's layout has %s x%d, which the stack does not render", in.Name, in.Replicas)
		}
	}
	return nil
}

type stack struct {
	app    *model.App
	p      *types.Project
	mounts map[string]mounted
	lookup model.Addrs
	// mon is the stage's monitoring, nil when it is turned off.
	mon *monitoring.Plan
	err error
}

// resolved is a part's environment with its references resolved on the
// server; an error stops the render.
func (s *stack) resolved(part *model.Part) map[string]string {
	env, err := model.ExpandEnv(part.Service.Env, s.lookup.Lookup(s.app.Config, part))
	if err != nil && s.err == nil {
		s.err = fmt.Errorf("server: service %s: %w", part.Name, err)
	}
	return env
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
			// Every service is found by DNS round robin over its tasks'
			// addresses, never a virtual IP: a VIP is an IPVS load
			// balancer, which drops a connection idle for 15 minutes
			// (PostgreSQL's, Redis's, nginx's keep-alive upstreams) and
			// does not exist on a kernel without IPVS. The price: a client
			// must re-resolve the name when it reconnects (libpq, the Redis
			// clients and nginx's resolver do), and a port can be
			// published only on the nodes that run a task (mode host).
			EndpointMode: "dnsrr",
			Labels:       labels("part", part),
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

func (s *stack) nginx(in model.Instance) {
	c := s.app.Config
	svc := s.base(in.Name, "loadbalancer", c.Nginx.Image, in.Sizing, in.Replicas, model.NetFrontend)
	s.mount(&svc, "nginx_conf", "/etc/nginx/nginx.conf")
	// The image's own command: nginx follows its upstreams' addresses
	// itself (`resolve`, nginx.conf), so no reload loop beside it.
	svc.HealthCheck = shellHealth("curl -fsS http://127.0.0.1/nginx-health >/dev/null", 10*time.Second, 10*time.Second)
	if c.Tunnel.Mode == model.TunnelNone {
		// On the nodes that run nginx (one per node): a DNS-round-robin
		// service cannot publish through the routing mesh.
		svc.Ports = []types.ServicePortConfig{{Target: 80, Published: strconv.Itoa(c.Nginx.HTTPPort), Protocol: "tcp", Mode: "host"}}
	}
	svc.Deploy.Placement.MaxReplicas = 1
	svc.Deploy.UpdateConfig = &types.UpdateConfig{Parallelism: u64(1), Delay: types.Duration(5 * time.Second), Order: "start-first", FailureAction: "rollback", Monitor: types.Duration(30 * time.Second)}
	s.add(svc)
}

// backup adds one scheduled backup job, for one kind of data, on an image
// that has the kind's client and bash, writing to the NAS over NFS.
func (s *stack) backup(in model.Instance) {
	c := s.app.Config
	nas := "nas"
	s.p.Volumes[nas] = types.VolumeConfig{Labels: labels("volume", nas)}
	if c.Backup.NFSServer != "" {
		// Without a NAS (backup.nfsServer empty) the backups stay in a
		// local volume on the job's node.
		s.p.Volumes[nas] = types.VolumeConfig{
			Driver: "local",
			DriverOpts: types.Options{
				"type":   "nfs",
				"o":      fmt.Sprintf("addr=%s,nfsvers=4.1,rw,hard,timeo=600", c.Backup.NFSServer),
				"device": ":" + c.Backup.NFSPath,
			},
			Labels: labels("volume", nas),
		}
	}
	kind := strings.TrimPrefix(in.Name, "backup-")
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
	default:
		s.err = fmt.Errorf("server: no backup job for %q", kind)
		return
	}
	svc := s.base(in.Name, "backup", image, in.Sizing, in.Replicas, networks...)
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
	case "qdrant":
		secret(&svc, model.SecretQdrantAPIKey)
	case "models":
		volume(&svc, model.VolModels, "/models")
		env(&svc, map[string]string{"MODELS_DIR": "/models/models"})
	}
	if kind == "models" || c.Backup.NFSServer == "" {
		// The models job reads the first AI node's volume. Without a NAS the
		// backups' volume is a node's own: every job runs on that one node,
		// or a rescheduled job would write to, and a restore look in,
		// another node's volume.
		placement(&svc, "node.labels.nextflow.ai == 1")
	}
	if s.mon != nil {
		// The last success, for the node exporter on this node.
		volume(&svc, VolBackupMetrics, "/metrics")
		env(&svc, map[string]string{"METRICS_DIR": "/metrics"})
	}
	// Healthy while the NAS is mounted and writable.
	svc.HealthCheck = shellHealth("timeout 10 sh -c 'test -w /backups'", time.Minute, 10*time.Second)
	s.add(svc)
}
