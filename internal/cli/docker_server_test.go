package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// serverConfig is the server stage sized for three Swarm nodes that share
// this machine's 2 CPUs: the same services, replicas and placement as the
// defaults, with small CPU reservations so that every task is placed; the
// backups in a local volume, since this kernel has no NFS client.
const serverConfig = `config:
  nextflow:stage: server
  nextflow:crm: {replicas: 3, cpuRequest: 0.05}
  nextflow:ai: {replicas: 2, cpus: 2, cpuRequest: 0.05}
  nextflow:postgres: {cpuRequest: 0.05}
  nextflow:qdrant: {cpuRequest: 0.05}
  nextflow:redis: {cpuRequest: 0.05}
  nextflow:backup: {nfsServer: ""}
  nextflow:tunnel: {mode: token, hostname: crm.nextflow.example}
`

// The server stage on a real three-node Swarm (scripts/engine.sh: three
// dockerd daemons in network namespaces of their own, stand-in images
// under the pinned names): `nfx up --stage server`, then `docker stack
// deploy` of what it wrote, unmodified. Every service converges to all its
// replicas, healthy; the services are what nfx meant (secrets, configs, the
// Redis tmpfs, resources); a row written on the primary reaches the
// replica; the CRM answers through the tunnel and nginx.
func TestServerServesOnSwarm(t *testing.T) {
	sw := testutil.SwarmEngine(t)
	mgr := sw.Nodes[0]
	dir := realEngine(t)
	t.Setenv("NFX_TUNNEL_TOKEN", testutil.TunnelToken("server-"+strings.Repeat("s", 20)))
	write(t, filepath.Join(dir, "Pulumi.server.yaml"), serverConfig)
	if code, stdout, stderr := nfx(t, dir, "up", "--stage", "server"); code != ExitOK {
		t.Fatalf("nfx up: exit %d\n%s\n%s", code, stdout, stderr)
	}
	out := filepath.Join(dir, "out", "server")

	// The placement the README's deploy steps give the nodes.
	labels := [][]string{
		{"nextflow.postgres=primary", "nextflow.redis=primary", "nextflow.ai=1", "nextflow.qdrant=1", "nextflow.gpu=true", "nextflow.monitoring=true"},
		{"nextflow.postgres=replica", "nextflow.redis=replica", "nextflow.ai=2", "nextflow.qdrant=2", "nextflow.gpu=true"},
		{"nextflow.qdrant=3"},
	}
	for i, n := range sw.Nodes {
		self := strings.TrimSpace(n.Run(t, "info", "-f", "{{.Swarm.NodeID}}"))
		args := []string{"node", "update"}
		for _, l := range labels[i] {
			args = append(args, "--label-add", l)
		}
		mgr.Run(t, append(args, self)...)
	}
	const stack = "nextflow"
	t.Cleanup(func() {
		if t.Failed() {
			ps, _ := mgr.Try("stack", "ps", stack, "--no-trunc", "--format", "{{.Name}} {{.Node}} {{.CurrentState}} {{.Error}}")
			t.Logf("stack ps:\n%s", ps)
			// The Redis failover's witnesses, whatever their tasks' state.
			for _, svc := range []string{"redis-sentinel", "redis-replica", "redis-primary"} {
				if logs, _ := mgr.Try("service", "logs", "--tail", "40", "--no-trunc", stack+"_"+svc); logs != "" {
					t.Logf("%s:\n%s", svc, logs)
				}
			}
			for _, line := range strings.Split(ps, "\n") {
				if f := strings.Fields(line); len(f) > 2 && f[2] == "Failed" {
					svc, _, _ := strings.Cut(f[0], ".")
					if logs, _ := mgr.Try("service", "logs", "--tail", "6", "--no-trunc", svc); logs != "" {
						t.Logf("%s:\n%s", svc, logs)
					}
				}
			}
		}
		mgr.Try("stack", "rm", stack)
		time.Sleep(10 * time.Second)
		for _, n := range sw.Nodes {
			n.Try("volume", "prune", "-f")
		}
	})
	deployStack(t, mgr, out, stack)
	converge(t, mgr, stack)

	// What Swarm made of the services is what nfx meant.
	var redis []struct {
		Spec struct {
			TaskTemplate struct {
				ContainerSpec struct {
					Mounts  []struct{ Type, Target string }
					Secrets []struct {
						File struct {
							Name, UID, GID string
							Mode           uint32
						}
					}
				}
				Resources struct {
					Limits struct{ NanoCPUs, MemoryBytes int64 }
				}
			}
			EndpointSpec struct{ Mode string }
		}
	}
	if err := json.Unmarshal([]byte(mgr.Run(t, "service", "inspect", stack+"_redis-primary")), &redis); err != nil || len(redis) != 1 {
		t.Fatalf("service inspect: %v", err)
	}
	spec := redis[0].Spec
	tmpfs := false
	for _, m := range spec.TaskTemplate.ContainerSpec.Mounts {
		tmpfs = tmpfs || (m.Type == "tmpfs" && m.Target == "/run/redis")
	}
	if !tmpfs {
		t.Errorf("redis-primary has no tmpfs at /run/redis: %+v", spec.TaskTemplate.ContainerSpec.Mounts)
	}
	if len(spec.TaskTemplate.ContainerSpec.Secrets) == 0 || spec.TaskTemplate.ContainerSpec.Secrets[0].File.Mode != 0o444 {
		t.Errorf("redis-primary's secret: %+v", spec.TaskTemplate.ContainerSpec.Secrets)
	}
	if spec.EndpointSpec.Mode != "dnsrr" || spec.TaskTemplate.Resources.Limits.MemoryBytes == 0 {
		t.Errorf("redis-primary: endpoint %q, limits %+v", spec.EndpointSpec.Mode, spec.TaskTemplate.Resources.Limits)
	}

	// A row written on the primary reaches the replica.
	psql := func(service, sql string) string {
		t.Helper()
		node, id := task(t, sw, stack+"_"+service)
		o, err := node.Try("exec", id, "sh", "-c", `PGPASSWORD="$(cat /run/secrets/postgres_password)" psql -U nextflow -d nextflow -tAc "$0"`, sql)
		if err != nil {
			t.Fatalf("psql on %s: %v\n%s", service, err, o)
		}
		return strings.TrimSpace(o)
	}
	psql("postgres-primary", "CREATE TABLE IF NOT EXISTS swarm_check (v text); INSERT INTO swarm_check VALUES ('from the primary')")
	var got string
	for i := 0; i < 30; i++ {
		if got = psql("postgres-replica", "SELECT count(*) FROM swarm_check WHERE v = 'from the primary'"); got == "1" {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if got != "1" {
		t.Errorf("the primary's row did not reach the replica: %q", got)
	}

	// A request takes the public path: the tunnel (the stand-in's edge,
	// at the ingress a token tunnel is pointed at, http://nginx:80), nginx,
	// a CRM replica, whose health check writes to PostgreSQL and Redis.
	viaTunnel := func() (string, error) {
		node, id := task(t, sw, stack+"_nginx")
		return node.Try("exec", id, "curl", "-fsS", "-m", "10", "-H", "X-Standin-Origin: http://nginx:80", "http://tunnel:8080/healthz")
	}
	if o, err := viaTunnel(); err != nil {
		t.Fatalf("the CRM through the tunnel and nginx: %v\n%s", err, o)
	}

	redisFailover(t, sw, stack, viaTunnel)
	postgresFailover(t, sw, dir, out, stack, viaTunnel)
	backupKilledThenRestored(t, sw, stack)
	qdrantBackedUpThenRestored(t, sw, stack)

	// Node 3 is lost (its daemon stops): the Swarm keeps its quorum, the
	// tasks it ran that may run elsewhere move, and the public path serves.
	if o, err := sw.Nodes[2].Try("info"); err != nil {
		t.Fatal(o)
	}
	stopNode(t, 3)
	serves(t, "losing node 3", 4*time.Minute, viaTunnel)
}

// serves waits until the CRM answers on the public path.
func serves(t *testing.T, after string, d time.Duration, viaTunnel func() (string, error)) {
	t.Helper()
	until(t, d, "the CRM answering through the tunnel after "+after, func() (bool, string) {
		o, err := viaTunnel()
		return err == nil, fmt.Sprintf("%v\n%s", err, o)
	})
}

// deployStack deploys the rendered stack with one change, and only one:
// this kernel has no IPsec, and an encrypted overlay passes no traffic
// between nodes here (a TCP connect across nodes times out; unencrypted,
// it connects). The overlays' encryption is checked as rendered, then left
// out of the copy deployed.
func deployStack(t *testing.T, mgr testutil.Docker, out, stack string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, "stack.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"backend", "frontend"} {
		net, _ := doc["networks"].(map[string]any)[name].(map[string]any)
		opts, _ := net["driver_opts"].(map[string]any)
		if opts["encrypted"] != "true" {
			t.Fatalf("the %s overlay is not encrypted as rendered: %v", name, net)
		}
		delete(opts, "encrypted")
	}
	here, _ := yaml.Marshal(doc)
	write(t, filepath.Join(out, "stack.here.yaml"), string(here))
	if o, err := mgr.TryIn(out, "stack", "deploy", "-c", "stack.here.yaml", stack); err != nil {
		t.Fatalf("stack deploy: %v\n%s", err, o)
	}
}

// converge waits until every service of the stack runs all its replicas
// (a task with a health check counts once it is healthy).
func converge(t *testing.T, mgr testutil.Docker, stack string) {
	t.Helper()
	deadline := time.Now().Add(8 * time.Minute)
	for {
		var pending []string
		ls := mgr.Run(t, "service", "ls", "--filter", "label=com.docker.stack.namespace="+stack, "--format", "{{.Name}} {{.Replicas}}")
		n := 0
		for _, line := range strings.Split(strings.TrimSpace(ls), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			n++
			var run, want int
			fmt.Sscanf(f[1], "%d/%d", &run, &want)
			if run != want || want == 0 {
				pending = append(pending, line)
			}
		}
		if n > 20 && len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 8 minutes, services not converged:\n%s", strings.Join(pending, "\n"))
		}
		time.Sleep(10 * time.Second)
	}
}

// stopNode stops a Swarm node's daemon, as losing the machine would.
func stopNode(t *testing.T, n int) {
	t.Helper()
	pidFile := filepath.Join(testutil.RepoRoot(t), "bin", "engine", fmt.Sprintf("node%d", n), "dockerd.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("node %d's pid: %v", n, err)
	}
	var pid int
	fmt.Sscan(strings.TrimSpace(string(b)), &pid)
	if p, err := os.FindProcess(pid); err != nil || p.Kill() != nil {
		t.Fatalf("stopping node %d (pid %d) failed", n, pid)
	}
}

// task finds a running task of a service: the node it runs on and its
// container there.
func task(t *testing.T, sw testutil.Swarm, service string) (testutil.Docker, string) {
	t.Helper()
	for _, n := range sw.Nodes {
		id := strings.Fields(n.Run(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+service))
		if len(id) > 0 {
			return n, id[0]
		}
	}
	t.Fatalf("no running task of %s", service)
	return testutil.Docker{}, ""
}
