package server

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// pgBin finds PostgreSQL's server programs (Debian keeps them off PATH).
func pgBin(t *testing.T) string {
	t.Helper()
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p)
		}
		testutil.Tool(t, "initdb") // skips, or fails under NFX_REQUIRE_TOOLS=1
	}
	return filepath.Dir(matches[len(matches)-1])
}

// sandbox is a directory the postgres user can use, removed after the test.
type sandbox struct {
	t    *testing.T
	dir  string
	uid  int
	gid  int
	user string
	env  []string
}

func newSandbox(t *testing.T, bin string) *sandbox { return newSandboxAs(t, bin, "postgres") }

// newSandboxAs makes a sandbox whose programs run as the given system user.
func newSandboxAs(t *testing.T, bin, name string) *sandbox {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		if os.Getenv(testutil.RequireToolsEnv) == "1" {
			t.Fatalf("no %s user: %v", name, err)
		}
		t.Skipf("no %s user to run the server as", name)
	}
	dir, err := os.MkdirTemp("", "nfx-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	return &sandbox{t: t, dir: dir, uid: uid, gid: gid, user: name, env: []string{"PATH=" + bin + ":/usr/bin:/bin", "LC_ALL=C", "HOME=" + dir}}
}

func (s *sandbox) path(name string) string { return filepath.Join(s.dir, name) }

// write writes a file owned by postgres.
func (s *sandbox) write(name string, data []byte, mode os.FileMode) string {
	s.t.Helper()
	p := s.path(name)
	s.mkdir(filepath.Dir(name))
	if err := os.WriteFile(p, data, mode); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Chown(p, s.uid, s.gid); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// mkdir makes a directory (and its parents) owned by the sandbox's user.
func (s *sandbox) mkdir(name string) string {
	s.t.Helper()
	p := s.dir
	for _, part := range strings.Split(filepath.Clean(name), string(filepath.Separator)) {
		if part == "." || part == "" {
			continue
		}
		p = filepath.Join(p, part)
		if err := os.Mkdir(p, 0o755); err != nil && !os.IsExist(err) {
			s.t.Fatal(err)
		}
		if err := os.Chown(p, s.uid, s.gid); err != nil {
			s.t.Fatal(err)
		}
	}
	return p
}

// cmd runs a program as the postgres user with extra environment.
func (s *sandbox) cmd(env []string, name string, args ...string) *exec.Cmd {
	full := append([]string{"-u", s.user, "--", "env"}, append(append(append([]string(nil), s.env...), env...), append([]string{name}, args...)...)...)
	c := exec.Command("runuser", full...)
	c.Dir = s.dir
	return c
}

func (s *sandbox) run(env []string, name string, args ...string) string {
	s.t.Helper()
	var out bytes.Buffer
	c := s.cmd(env, name, args...)
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		s.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// start runs a long-lived process and stops it at cleanup.
func (s *sandbox) start(env []string, logName, name string, args ...string) *exec.Cmd {
	s.t.Helper()
	log, err := os.Create(s.path(logName))
	if err != nil {
		s.t.Fatal(err)
	}
	c := s.cmd(env, name, args...)
	c.Stdout, c.Stderr = log, log
	// A process group of its own, so that the server under runuser can be
	// killed with its wrapper.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGINT)
		done := make(chan struct{})
		go func() { _, _ = c.Process.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
		log.Close()
	})
	return c
}

// kill ends a started process group at once, as a crash would.
func kill(c *exec.Cmd) {
	_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	_, _ = c.Process.Wait()
}

func (s *sandbox) logTail(name string) string {
	b, _ := os.ReadFile(s.path(name))
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// eventually retries f for up to d; loops are bounded in count and time.
func eventually(t *testing.T, d time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	testutil.Eventually(t, d, 200*time.Millisecond, what, f)
}

type pgNode struct {
	s    *sandbox
	port int
}

// psql runs one statement against a node over TCP as the CRM's user.
func (n pgNode) psql(sql string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := n.s.cmd([]string{"PGPASSWORD=" + pgPassword}, "psql", "-h", "127.0.0.1", "-p", strconv.Itoa(n.port), "-U", "nextflow", "-d", "nextflow", "-v", "ON_ERROR_STOP=1", "-tAc", sql)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	done := make(chan error, 1)
	if err := c.Start(); err != nil {
		return "", err
	}
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		return strings.TrimSpace(out.String()), err
	case <-ctx.Done():
		_ = c.Process.Kill()
		return out.String(), ctx.Err()
	}
}

const (
	pgPassword   = "pg-Secret-42"
	replPassword = "repl-Secret:with\\odd-chars"
)

// startPrimary initialises and starts a primary from the rendered files.
func startPrimary(t *testing.T, s *sandbox, p PostgresParams) pgNode {
	t.Helper()
	conf, err := execute("postgresql.conf.tmpl", p)
	if err != nil {
		t.Fatal(err)
	}
	hba, err := execute("pg_hba.conf.tmpl", p)
	if err != nil {
		t.Fatal(err)
	}
	initScript, err := execute("init-primary.sh.tmpl", p)
	if err != nil {
		t.Fatal(err)
	}
	s.write("etc/postgresql.conf", conf, 0o644)
	s.write("etc/pg_hba.conf", hba, 0o644)
	s.write("init-primary.sh", initScript, 0o755)
	s.write("secrets/postgres_password", []byte(pgPassword), 0o600)
	s.write("secrets/replication_password", []byte(replPassword), 0o600)
	s.run(nil, "initdb", "-D", s.path("primary"), "-U", "nextflow", "--pwfile", s.path("secrets/postgres_password"), "--auth=scram-sha-256")
	opts := fmt.Sprintf("-c config_file=%s -c hba_file=%s", s.path("etc/postgresql.conf"), s.path("etc/pg_hba.conf"))
	s.run(nil, "pg_ctl", "-D", s.path("primary"), "-o", opts, "-l", s.path("primary.log"), "-w", "-t", "60", "start")
	t.Cleanup(func() {
		_ = s.cmd(nil, "pg_ctl", "-D", s.path("primary"), "-m", "immediate", "-w", "stop").Run()
	})
	node := pgNode{s: s, port: p.Port}
	env := []string{"PGPASSWORD=" + pgPassword, "PGHOST=127.0.0.1", "PGPORT=" + strconv.Itoa(p.Port)}
	s.run(env, "createdb", "-U", "nextflow", "nextflow")
	// The image's entrypoint runs init-primary.sh once, on an empty volume.
	s.run(append(env, "POSTGRES_USER=nextflow", "POSTGRES_DB=nextflow", "REPLICATION_PASSWORD_FILE="+s.path("secrets/replication_password")),
		"bash", s.path("init-primary.sh"))
	return node
}

func pgParams(t *testing.T, s *sandbox) PostgresParams {
	p := PostgresDefaults(testApp(t, "server", nil))
	p.ListenAddresses = "127.0.0.1"
	p.Port = testutil.FreePort(t)
	p.PrimaryHost = "127.0.0.1"
	p.PrimaryPort = p.Port
	p.SocketDir = s.dir
	p.Networks = []string{"127.0.0.1/32"}
	p.WaitTries = 30
	return p
}

// startReplica starts the streaming replica with the rendered entrypoint,
// and waits until the primary streams to it.
func startReplica(t *testing.T, s *sandbox, p PostgresParams) pgNode {
	t.Helper()
	replicaScript, err := execute("replica-entrypoint.sh.tmpl", p)
	if err != nil {
		t.Fatal(err)
	}
	s.write("replica-entrypoint.sh", replicaScript, 0o755)
	replicaPort := testutil.FreePort(t)
	s.start([]string{
		"PGDATA=" + s.path("replica"),
		"REPLICATION_PASSWORD_FILE=" + s.path("secrets/replication_password"),
		"PGPASSFILE=" + s.path("replica.pgpass"),
	}, "replica.log", "bash", s.path("replica-entrypoint.sh"),
		"-c", "config_file="+s.path("etc/postgresql.conf"), "-c", "hba_file="+s.path("etc/pg_hba.conf"),
		"-c", "port="+strconv.Itoa(replicaPort))
	return pgNode{s: s, port: replicaPort}
}

// A primary and a replica from the rendered configs and scripts stream; the
// replica refuses writes until the rendered failover promotes it.
func TestPostgresReplicationAndFailover(t *testing.T) {
	bin := pgBin(t)
	s := newSandbox(t, bin)
	p := pgParams(t, s)
	primary := startPrimary(t, s, p)

	replica := startReplica(t, s, p)
	replicaPort := replica.port
	failover, err := execute("failover.sh.tmpl", p)
	if err != nil {
		t.Fatal(err)
	}
	s.write("failover.sh", failover, 0o755)

	// The replica's own WAL receiver, not pg_basebackup's stream, must be streaming.
	eventually(t, 60*time.Second, "streaming replication", func() (bool, string) {
		out, err := primary.psql("SELECT state FROM pg_stat_replication WHERE application_name <> 'pg_basebackup'")
		return err == nil && out == "streaming", out + s.logTail("replica.log")
	})
	if out, err := replica.psql("SELECT status FROM pg_stat_wal_receiver"); err != nil || out != "streaming" {
		t.Errorf("the replica's WAL receiver: %q %v", out, err)
	}
	if out, _ := primary.psql("SELECT active FROM pg_replication_slots WHERE slot_name = '" + ReplicationSlot + "'"); out != "t" {
		t.Errorf("the replication slot is not in use: %q", out)
	}
	// pg_basebackup -R wrote the standby settings, without the password.
	auto, err := os.ReadFile(s.path("replica/postgresql.auto.conf"))
	if err != nil || !strings.Contains(string(auto), "primary_conninfo") || !strings.Contains(string(auto), ReplicationSlot) {
		t.Errorf("postgresql.auto.conf: %v\n%s", err, auto)
	}
	if strings.Contains(string(auto), "Secret") {
		t.Error("the replication password is in the replica's data directory")
	}

	if _, err := primary.psql("CREATE TABLE contacts (id serial PRIMARY KEY, name text); INSERT INTO contacts (name) SELECT 'c' || g FROM generate_series(1, 500) g"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "rows reaching the replica", func() (bool, string) {
		out, err := replica.psql("SELECT count(*) FROM contacts")
		return err == nil && out == "500", out
	})
	if out, err := replica.psql("INSERT INTO contacts (name) VALUES ('nope')"); err == nil || !strings.Contains(out, "read-only") {
		t.Fatalf("the replica accepted a write: %v %s", err, out)
	}

	// Fail over with the rendered procedure.
	var out bytes.Buffer
	c := s.cmd([]string{
		"REPLICA_HOST=127.0.0.1", "REPLICA_PORT=" + strconv.Itoa(replicaPort),
		"POSTGRES_PASSWORD_FILE=" + s.path("secrets/postgres_password"),
	}, "bash", s.path("failover.sh"))
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		t.Fatalf("failover.sh: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "accepts writes") {
		t.Errorf("failover output: %s", out.String())
	}
	// The next steps fence the old writer and record the failover in the
	// configuration, which re-points the CRM and rebuilds the old writer.
	for _, v := range []string{"docker service scale nextflow_postgres-primary=0",
		"pulumi config set --path nextflow:postgres.failedOver true -s server", "docker stack deploy -c out/server/stack.yaml nextflow"} {
		if !strings.Contains(out.String(), v) {
			t.Errorf("failover's next steps lack %q:\n%s", v, out.String())
		}
	}
	if _, err := replica.psql("INSERT INTO contacts (name) VALUES ('after failover')"); err != nil {
		t.Fatalf("the promoted replica refuses writes: %v", err)
	}
	if out, _ := replica.psql("SELECT count(*) FROM contacts"); out != "501" {
		t.Errorf("rows after failover: %s, want 501", out)
	}
	// Running it again is refused: there is nothing left to promote.
	c = s.cmd([]string{"REPLICA_HOST=127.0.0.1", "REPLICA_PORT=" + strconv.Itoa(replicaPort),
		"POSTGRES_PASSWORD_FILE=" + s.path("secrets/postgres_password")}, "bash", s.path("failover.sh"))
	if err := c.Run(); err == nil {
		t.Error("failover.sh promoted a server that is already primary")
	}
}

// After a failover the old primary's data is never started beside the
// promoted server: run as the follower (postgres.failedOver), the rendered
// entrypoint refuses while the other side is not promoted, then, once it
// is, sets the old data aside in the volume, clones the promoted server
// through a slot it creates there, and streams. A clone that was cut off
// is started over, never served.
func TestOldPrimaryRebuildsAsFollower(t *testing.T) {
	bin := pgBin(t)
	s := newSandbox(t, bin)
	p := pgParams(t, s)
	primary := startPrimary(t, s, p)
	replica := startReplica(t, s, p)
	eventually(t, 60*time.Second, "streaming replication", func() (bool, string) {
		out, err := primary.psql("SELECT state FROM pg_stat_replication WHERE application_name <> 'pg_basebackup'")
		return err == nil && out == "streaming", out + s.logTail("replica.log")
	})
	if _, err := primary.psql("CREATE TABLE contacts (id int PRIMARY KEY); INSERT INTO contacts SELECT generate_series(1, 300)"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "rows reaching the replica", func() (bool, string) {
		out, err := replica.psql("SELECT count(*) FROM contacts")
		return err == nil && out == "300", out
	})
	// The primary is lost.
	s.run(nil, "pg_ctl", "-D", s.path("primary"), "-m", "fast", "-w", "stop")

	// follower starts the old primary's data as the follower of the
	// promoted side: it returns the entrypoint's exit and output, or, once
	// the server answers, a node to query (stopped at the test's end).
	follower := func(env ...string) (pgNode, string, error) {
		port := testutil.FreePort(t)
		var out bytes.Buffer
		c := s.cmd(append([]string{
			"PGDATA=" + s.path("primary"), "PRIMARY_HOST=127.0.0.1", "PRIMARY_PORT=" + strconv.Itoa(replica.port),
			"REPLICATION_PASSWORD_FILE=" + s.path("secrets/replication_password"), "PGPASSFILE=" + s.path("old.pgpass"),
		}, env...), "bash", s.path("replica-entrypoint.sh"),
			"-c", "config_file="+s.path("etc/postgresql.conf"), "-c", "hba_file="+s.path("etc/pg_hba.conf"),
			"-c", "port="+strconv.Itoa(port))
		c.Stdout, c.Stderr = &out, &out
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		node := pgNode{s: s, port: port}
		for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
			select {
			case err := <-done:
				return pgNode{}, out.String(), err
			default:
			}
			if _, err := node.psql("SELECT 1"); err == nil {
				t.Cleanup(func() { _ = syscall.Kill(-c.Process.Pid, syscall.SIGINT); <-done })
				return node, out.String(), nil
			}
		}
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		t.Fatalf("the follower neither served nor exited in 90 s:\n%s", out.String())
		return pgNode{}, "", nil
	}

	// The other side cannot be asked (a wrong replication password): said,
	// and the old data left alone.
	s.write("secrets/wrong_password", []byte("not-it"), 0o600)
	_, out, err := follower("REPLICATION_PASSWORD_FILE=" + s.path("secrets/wrong_password"))
	if err == nil || !strings.Contains(out, "cannot ask 127.0.0.1") {
		t.Fatalf("a follower that cannot ask the writer for its timeline: %v\n%s", err, out)
	}
	// Not promoted yet: the old primary's data must not start.
	_, out, err = follower()
	if err == nil || !strings.Contains(out, "refusing to start a second writer") {
		t.Fatalf("the old primary started as a follower of an unpromoted replica: %v\n%s", err, out)
	}
	if _, err := os.Stat(s.path("primary/PG_VERSION")); err != nil {
		t.Fatalf("the refused start touched the old data: %v", err)
	}

	failover, err := execute("failover.sh.tmpl", p)
	if err != nil {
		t.Fatal(err)
	}
	s.write("failover.sh", failover, 0o755)
	s.run([]string{"REPLICA_HOST=127.0.0.1", "REPLICA_PORT=" + strconv.Itoa(replica.port),
		"POSTGRES_PASSWORD_FILE=" + s.path("secrets/postgres_password")}, "bash", s.path("failover.sh"))
	if _, err := replica.psql("INSERT INTO contacts SELECT generate_series(301, 400)"); err != nil {
		t.Fatal(err)
	}

	rebuilt, out, err := follower()
	if err != nil {
		t.Fatalf("the old primary did not rebuild as a follower: %v\n%s", err, out)
	}
	streams := func(want string) {
		t.Helper()
		eventually(t, 60*time.Second, "the rebuilt follower streaming the promoted server's rows", func() (bool, string) {
			out, err := rebuilt.psql("SELECT count(*) FROM contacts")
			return err == nil && out == want, out
		})
		if out, err := rebuilt.psql("SELECT pg_is_in_recovery()"); err != nil || out != "t" {
			t.Errorf("the rebuilt server is not a standby: %q %v", out, err)
		}
	}
	streams("400")
	if out, _ := replica.psql("SELECT active FROM pg_replication_slots WHERE slot_name = '" + ReplicationSlot + "'"); out != "t" {
		t.Errorf("the promoted server's slot is not in use: %q", out)
	}
	if _, err := os.Stat(s.path("primary.cloning")); !os.IsNotExist(err) {
		t.Errorf("the clone's marker is left after a finished clone: %v", err)
	}
	aside, _ := filepath.Glob(s.path("primary.before-failover-*"))
	if len(aside) != 1 {
		t.Fatalf("the old data was not set aside: %v", aside)
	}
	if _, err := os.Stat(filepath.Join(aside[0], "PG_VERSION")); err != nil {
		t.Errorf("the set-aside data is not the old data directory: %v", err)
	}

	// A clone cut off (the marker is still there): started over on the
	// next start, never served as it is.
	s.run(nil, "pg_ctl", "-D", s.path("primary"), "-m", "immediate", "-w", "stop")
	s.write("primary.cloning", nil, 0o600)
	s.write("primary/half-copied", []byte("x"), 0o600)
	if _, err := replica.psql("INSERT INTO contacts SELECT generate_series(401, 450)"); err != nil {
		t.Fatal(err)
	}
	if rebuilt, out, err = follower(); err != nil {
		t.Fatalf("the follower did not start over its cut-off clone: %v\n%s", err, out)
	}
	if !strings.Contains(out, "did not finish; starting it over") {
		t.Errorf("the restart did not say it starts the clone over:\n%s", out)
	}
	streams("450")
	if _, err := os.Stat(s.path("primary/half-copied")); !os.IsNotExist(err) {
		t.Errorf("the cut-off clone's files are still there: %v", err)
	}
}
