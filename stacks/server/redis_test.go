package server

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

const redisPassword = "redis-Secret-77"

type redisNode struct {
	s    *sandbox
	port int
}

// cli runs redis-cli against a node, authenticated, feeding stdin if given.
func (n redisNode) cli(stdin string, args ...string) (string, error) {
	c := n.s.cmd([]string{"REDISCLI_AUTH=" + redisPassword}, "redis-cli", append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(n.port)}, args...)...)
	if stdin != "" {
		c.Stdin = strings.NewReader(stdin)
	}
	out, err := c.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func info(n redisNode, field string) string {
	out, _ := n.cli("", "INFO", "replication")
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == field {
			return v
		}
	}
	return ""
}

// redisCluster is the server's Redis: a primary, a replica and three
// Sentinels, started from the rendered scripts.
type redisCluster struct {
	s                *sandbox
	primary, replica redisNode
	sentinels        []redisNode
	primaryCmd       *exec.Cmd
	common           []string
}

func startRedisCluster(t *testing.T) *redisCluster {
	server := testutil.Tool(t, "redis-server")
	testutil.Tool(t, "redis-cli")
	s := newSandboxAs(t, filepath.Dir(server), "redis")
	p := RedisDefaults(testApp(t, "server", nil))
	start, err := execute("redis-start.sh.tmpl", p)
	if err != nil {
		t.Fatal(err)
	}
	sentinel, err := execute("sentinel-start.sh.tmpl", p)
	if err != nil {
		t.Fatal(err)
	}
	s.write("redis-start.sh", start, 0o755)
	s.write("sentinel-start.sh", sentinel, 0o755)
	s.write("secrets/redis_password", []byte(redisPassword), 0o600)

	primaryPort, replicaPort := testutil.FreePort(t), testutil.FreePort(t)
	common := []string{
		"REDIS_BIND=127.0.0.1", "REDIS_PASSWORD_FILE=" + s.path("secrets/redis_password"),
		"REDIS_PRIMARY_HOST=127.0.0.1", "REDIS_PRIMARY_PORT=" + strconv.Itoa(primaryPort),
		// On loopback every instance is 127.0.0.1, told apart by its port;
		// no Sentinel answers the first start (the role decides).
		"REDIS_ANNOUNCE_HOST=127.0.0.1", "SENTINEL_HOST=127.0.0.1", "SENTINEL_PORT=1",
	}
	instance := func(name, role string, port int) *exec.Cmd {
		return s.start(append(common, "REDIS_PORT="+strconv.Itoa(port), "REDIS_CONF_DIR="+s.path(name+"/conf"), "REDIS_DATA_DIR="+s.path(name)),
			name+".log", "sh", s.path("redis-start.sh"), role)
	}
	s.mkdir("primary")
	s.mkdir("replica")
	primaryCmd := instance("primary", "primary", primaryPort)
	primary, replica := redisNode{s, primaryPort}, redisNode{s, replicaPort}
	eventually(t, 10*time.Second, "the primary answering", func() (bool, string) {
		out, _ := primary.cli("", "PING")
		return out == "PONG", out + s.logTail("primary.log")
	})
	instance("replica", "replica", replicaPort)
	eventually(t, 20*time.Second, "the replica linked to the primary", func() (bool, string) {
		st := info(replica, "master_link_status")
		return st == "up", st + s.logTail("replica.log")
	})

	var sentinels []redisNode
	for i := 0; i < 3; i++ {
		port := testutil.FreePort(t)
		name := fmt.Sprintf("sentinel%d", i)
		s.mkdir(name)
		s.start(append(common, "SENTINEL_BIND=127.0.0.1", "SENTINEL_PORT="+strconv.Itoa(port), "SENTINEL_CONF="+s.path(name+"/sentinel.conf"),
			"SENTINEL_DOWN_AFTER_MS=1000", "SENTINEL_FAILOVER_TIMEOUT_MS=10000"), name+".log", "sh", s.path("sentinel-start.sh"))
		sentinels = append(sentinels, redisNode{s, port})
	}
	eventually(t, 30*time.Second, "the Sentinels finding each other and the replica", func() (bool, string) {
		out, _ := sentinels[0].cli("", "SENTINEL", "MASTER", MasterName)
		lines := strings.Split(out, "\n")
		fields := map[string]string{}
		for i := 0; i+1 < len(lines); i += 2 {
			fields[lines[i]] = lines[i+1]
		}
		return fields["num-other-sentinels"] == "2" && fields["num-slaves"] == "1", out + s.logTail("sentinel0.log")
	})

	return &redisCluster{s: s, primary: primary, replica: replica, sentinels: sentinels, primaryCmd: primaryCmd, common: common}
}

// A primary, a replica and three Sentinels from the rendered scripts: kill
// the primary and a new one is elected; writes acknowledged with WAIT survive.
func TestRedisSentinelFailover(t *testing.T) {
	rc := startRedisCluster(t)
	s, primary, replica, sentinels, primaryCmd := rc.s, rc.primary, rc.replica, rc.sentinels, rc.primaryCmd
	// Writes acknowledged by the replica with WAIT.
	const keys = 200
	var batch strings.Builder
	for i := 0; i < keys; i++ {
		fmt.Fprintf(&batch, "SET contact:%d v%d\nWAIT 1 2000\n", i, i)
	}
	out, err := primary.cli(batch.String())
	if err != nil {
		t.Fatal(err, out)
	}
	acked := 0
	for i, line := range strings.Split(out, "\n") {
		if i%2 == 1 && strings.TrimSpace(line) == "1" {
			acked++
		}
	}
	if acked != keys {
		t.Fatalf("%d of %d writes acknowledged by the replica", acked, keys)
	}

	// The primary dies.
	kill(primaryCmd)
	eventually(t, 40*time.Second, "Sentinel electing the replica", func() (bool, string) {
		out, _ := sentinels[1].cli("", "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MasterName)
		return strings.HasSuffix(out, strconv.Itoa(replica.port)), out + s.logTail("sentinel1.log")
	})
	eventually(t, 20*time.Second, "the replica becoming the primary", func() (bool, string) {
		role := info(replica, "role")
		return role == "master", role
	})
	if out, _ := replica.cli("", "DBSIZE"); out != strconv.Itoa(keys) {
		t.Errorf("the new primary holds %s keys, want %d", out, keys)
	}
	if out, _ := replica.cli("", "GET", fmt.Sprintf("contact:%d", keys-1)); out != fmt.Sprintf("v%d", keys-1) {
		t.Errorf("the last acknowledged write is lost: %q", out)
	}
	if out, err := replica.cli("", "SET", "after", "failover"); err != nil || out != "OK" {
		t.Errorf("the new primary refuses writes: %v %s", err, out)
	}
	// A Sentinel that missed the failover (started since, knowing only the
	// old primary, which is down: it learns of nothing else) still names
	// the old primary, with the configuration epoch before the failover.
	stalePort := testutil.FreePort(t)
	s.mkdir("stale")
	s.start(append(rc.common, "REDIS_PRIMARY_PORT="+strconv.Itoa(primary.port), "SENTINEL_BIND=127.0.0.1", "SENTINEL_PORT="+strconv.Itoa(stalePort),
		"SENTINEL_CONF="+s.path("stale/sentinel.conf")), "stale.log", "sh", s.path("sentinel-start.sh"))
	stale := redisNode{s, stalePort}
	eventually(t, 20*time.Second, "the stale Sentinel naming the old primary", func() (bool, string) {
		out, _ := stale.cli("", "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MasterName)
		return strings.HasSuffix(out, strconv.Itoa(primary.port)), out + s.logTail("stale.log")
	})
	// The old primary's task starts again (as Swarm restarts it, its
	// service still saying primary): it asks every Sentinel, the stale one
	// first, and joins the promoted primary as its replica, instead of
	// being a second primary.
	addrs := []string{"127.0.0.1:" + strconv.Itoa(stalePort)}
	for _, n := range sentinels {
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(n.port))
	}
	s.start(append(rc.common, "REDIS_PORT="+strconv.Itoa(primary.port), "REDIS_CONF_DIR="+s.path("primary/conf"), "REDIS_DATA_DIR="+s.path("primary"),
		"SENTINEL_PORT="+strconv.Itoa(stalePort), "SENTINEL_ADDRS="+strings.Join(addrs, " ")), "primary-again.log", "sh", s.path("redis-start.sh"), "primary")
	eventually(t, 10*time.Second, "the old primary deciding its role", func() (bool, string) {
		log := s.logTail("primary-again.log")
		return strings.Contains(log, "starts as"), log
	})
	// Were it to start as a primary, clients would write to it until a
	// Sentinel turned it into a replica, and lose those writes.
	if log, _ := os.ReadFile(s.path("primary-again.log")); !strings.Contains(string(log), "starts as replica (Sentinel primary: 127.0.0.1:"+strconv.Itoa(replica.port)+")") {
		t.Errorf("the old primary, restarted, did not start as the promoted primary's replica:%s", log)
	}
	eventually(t, 30*time.Second, "the old primary rejoining as a replica of the new one", func() (bool, string) {
		role, link := info(primary, "role"), info(primary, "master_link_status")
		return role == "slave" && link == "up", role + " " + link + s.logTail("primary-again.log")
	})
	if out, _ := primary.cli("", "GET", "after"); out != "failover" {
		t.Errorf("the rejoined old primary does not hold the write made after the failover: %q", out)
	}
	// Clients without the password are refused.
	c := s.cmd(nil, "redis-cli", "-h", "127.0.0.1", "-p", strconv.Itoa(replica.port), "GET", "after")
	if out, _ := c.CombinedOutput(); !strings.Contains(string(out), "NOAUTH") {
		t.Errorf("an unauthenticated client got %q", out)
	}
}

// The Redis and model backups restore to the same data.
func TestBackupThenRestoreRedisAndModels(t *testing.T) {
	server := testutil.Tool(t, "redis-server")
	s := newSandboxAs(t, filepath.Dir(server), "redis")
	p := RedisDefaults(testApp(t, "server", nil))
	start, _ := execute("redis-start.sh.tmpl", p)
	bk := BackupDefaults(testApp(t, "server", nil))
	backup, err := execute("backup.sh.tmpl", bk)
	if err != nil {
		t.Fatal(err)
	}
	restore, _ := execute("restore.sh.tmpl", bk)
	s.write("redis-start.sh", start, 0o755)
	s.write("backup.sh", backup, 0o755)
	s.write("restore.sh", restore, 0o755)
	s.write("secrets/redis_password", []byte(redisPassword), 0o600)
	s.mkdir("data")
	port := testutil.FreePort(t)
	s.start([]string{"REDIS_BIND=127.0.0.1", "REDIS_PORT=" + strconv.Itoa(port), "REDIS_CONF_DIR=" + s.path("conf"),
		"REDIS_DATA_DIR=" + s.path("data"), "REDIS_PASSWORD_FILE=" + s.path("secrets/redis_password")},
		"redis.log", "sh", s.path("redis-start.sh"), "primary")
	node := redisNode{s, port}
	eventually(t, 10*time.Second, "redis answering", func() (bool, string) {
		out, _ := node.cli("", "PING")
		return out == "PONG", out
	})
	var batch strings.Builder
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&batch, "HSET session:%d user u%d\n", i, i)
	}
	if out, err := node.cli(batch.String()); err != nil {
		t.Fatal(err, out)
	}
	nas := s.mkdir("nas")
	env := []string{"BACKUP_DIR=" + nas, "REDIS_HOST=127.0.0.1", "REDIS_PORT=" + strconv.Itoa(port), "REDIS_PASSWORD_FILE=" + s.path("secrets/redis_password")}
	s.run(env, "bash", s.path("backup.sh"), "redis")
	rdbs, _ := filepath.Glob(filepath.Join(nas, "redis", "redis-*.rdb"))
	if len(rdbs) != 1 {
		t.Fatalf("rdb backups: %v", rdbs)
	}
	out := s.run(env, "bash", s.path("restore.sh"), "redis", rdbs[0])
	if !strings.Contains(out, "matches its checksum") {
		t.Errorf("restore: %s", out)
	}
	// The steps restore into the instance the Sentinels name the primary
	// (after a failover, the replica), the command to ask them printed as
	// it is to be run.
	for _, w := range []string{`docker exec "$(docker ps -q -f name=nextflow_redis-sentinel | head -n1)" sh -c \`,
		`'REDISCLI_AUTH="$(cat /run/secrets/redis_password)" redis-cli -p 26379 sentinel get-master-addr-by-name nextflow'`,
		"to the volume of the instance step 1 named"} {
		if !strings.Contains(out, w) {
			t.Errorf("the Redis restore steps lack %q:\n%s", w, out)
		}
	}
	// Start a fresh Redis on the backup file, as the restore steps say.
	s.mkdir("restored")
	data, err := os.ReadFile(rdbs[0])
	if err != nil {
		t.Fatal(err)
	}
	s.write("restored/dump.rdb", data, 0o600)
	port2 := testutil.FreePort(t)
	s.start(nil, "restored.log", "redis-server", "--port", strconv.Itoa(port2), "--bind", "127.0.0.1", "--dir", s.path("restored"), "--requirepass", redisPassword)
	restored := redisNode{s, port2}
	eventually(t, 10*time.Second, "the restored redis holding the keys", func() (bool, string) {
		out, _ := restored.cli("", "DBSIZE")
		return out == "300", out
	})

	// Models: a tarball of the model directory, unpacked byte for byte.
	models := s.mkdir("models")
	s.write("models/blobs/sha256-abc", []byte(strings.Repeat("weights", 1000)), 0o644)
	s.write("models/manifests/registry.ollama.ai/library/llama3.1/8b", []byte(`{"layers":[]}`), 0o644)
	s.run([]string{"BACKUP_DIR=" + nas, "MODELS_DIR=" + models}, "bash", s.path("backup.sh"), "models")
	tars, _ := filepath.Glob(filepath.Join(nas, "models", "models-*.tar.gz"))
	if len(tars) != 1 {
		t.Fatalf("model backups: %v", tars)
	}
	into := s.mkdir("models-restored")
	s.run([]string{"MODELS_DIR=" + into}, "bash", s.path("restore.sh"), "models", tars[0])
	got, err := os.ReadFile(filepath.Join(into, "blobs", "sha256-abc"))
	if err != nil || string(got) != strings.Repeat("weights", 1000) {
		t.Errorf("restored model blob: %v", err)
	}
}

// A Redis task whose volume holds data (the stack restarted, after a
// failover perhaps) waits for the Sentinels, which start with it, instead
// of starting in its service's role: here "replica", of a primary that the
// Sentinel, once up, says this very instance replaced. An empty volume
// (the stack's first start) starts at once in its role.
func TestRedisStartWaitsForTheSentinels(t *testing.T) {
	server := testutil.Tool(t, "redis-server")
	testutil.Tool(t, "redis-cli")
	s := newSandboxAs(t, filepath.Dir(server), "redis")
	p := RedisDefaults(testApp(t, "server", nil))
	for _, f := range []string{"redis-start.sh", "sentinel-start.sh"} {
		b, err := execute(f+".tmpl", p)
		if err != nil {
			t.Fatal(err)
		}
		s.write(f, b, 0o755)
	}
	s.write("secrets/redis_password", []byte(redisPassword), 0o600)
	self, sentinelPort, elsewhere := testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
	common := []string{"REDIS_BIND=127.0.0.1", "REDIS_PASSWORD_FILE=" + s.path("secrets/redis_password"), "REDIS_ANNOUNCE_HOST=127.0.0.1",
		"SENTINEL_ADDRS=127.0.0.1:" + strconv.Itoa(sentinelPort), "REDIS_START_WAIT=40"}

	// First start, an empty volume: no Sentinel, the role decides at once.
	s.mkdir("fresh")
	s.start(append(common, "REDIS_PORT="+strconv.Itoa(elsewhere), "REDIS_CONF_DIR="+s.path("fresh-conf"), "REDIS_DATA_DIR="+s.path("fresh"),
		"REDIS_PRIMARY_HOST=127.0.0.1", "REDIS_PRIMARY_PORT="+strconv.Itoa(elsewhere)), "fresh.log", "sh", s.path("redis-start.sh"), "primary")
	eventually(t, 10*time.Second, "the first start as the primary", func() (bool, string) {
		log := s.logTail("fresh.log")
		return strings.Contains(log, "starts as primary (Sentinel primary: none known)"), log
	})

	// A restart on a volume with data: it waits for the Sentinel.
	s.mkdir("data")
	s.write("data/appendonly-marker", []byte("x"), 0o600)
	s.start(append(common, "REDIS_PORT="+strconv.Itoa(self), "REDIS_CONF_DIR="+s.path("conf"), "REDIS_DATA_DIR="+s.path("data"),
		"REDIS_PRIMARY_HOST=127.0.0.1", "REDIS_PRIMARY_PORT="+strconv.Itoa(elsewhere)), "restart.log", "sh", s.path("redis-start.sh"), "replica")
	eventually(t, 10*time.Second, "the restart waiting for the Sentinels", func() (bool, string) {
		log := s.logTail("restart.log")
		return strings.Contains(log, "the Sentinels do not answer; waiting"), log
	})
	if log := s.logTail("restart.log"); strings.Contains(log, "starts as") {
		t.Fatalf("the restart did not wait for the Sentinels:%s", log)
	}
	// The Sentinel comes up, knowing this instance as the primary.
	s.mkdir("sentinel")
	s.start(append(common, "REDIS_PRIMARY_HOST=127.0.0.1", "REDIS_PRIMARY_PORT="+strconv.Itoa(self), "SENTINEL_BIND=127.0.0.1",
		"SENTINEL_PORT="+strconv.Itoa(sentinelPort), "SENTINEL_CONF="+s.path("sentinel/sentinel.conf")), "sentinel.log", "sh", s.path("sentinel-start.sh"))
	eventually(t, 30*time.Second, "the restart following the Sentinel", func() (bool, string) {
		log := s.logTail("restart.log")
		return strings.Contains(log, "starts as primary (Sentinel primary: 127.0.0.1:"+strconv.Itoa(self)+")"), log + s.logTail("sentinel.log")
	})
}
