package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/migrate"
	"github.com/nextflow-crm/nfx/internal/model"
)

// seedSQL is a CRM's data: sequences, an identity column, jsonb, a large
// text column and foreign keys, 220,000 rows over three tables.
const seedSQL = `
CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL, profile jsonb NOT NULL);
CREATE TABLE contacts (id bigserial PRIMARY KEY, account_id int NOT NULL REFERENCES accounts(id), email text, notes text);
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, contact_id bigint REFERENCES contacts(id), kind text, payload jsonb, at timestamptz NOT NULL DEFAULT '2026-01-01');
CREATE INDEX ON contacts (account_id);
INSERT INTO accounts (name, profile) SELECT 'acct ' || g, jsonb_build_object('tier', g % 5, 'tags', jsonb_build_array('a', g)) FROM generate_series(1, 20000) g;
INSERT INTO contacts (account_id, email, notes) SELECT 1 + g % 20000, 'c' || g || '@example.com', repeat(md5(g::text), 20) FROM generate_series(1, 120000) g;
INSERT INTO events (contact_id, kind, payload) SELECT 1 + g % 120000, 'k' || g % 7, jsonb_build_object('n', g) FROM generate_series(1, 80000) g;`

// startLaptopPostgres runs a PostgreSQL as the laptop's container does: one
// server, the CRM's user and database, scram logins.
func startLaptopPostgres(t *testing.T, s *sandbox, name string, extra ...string) pgNode {
	t.Helper()
	port := freePort(t)
	s.write("secrets/"+name+"_password", []byte(pgPassword), 0o600)
	s.run(nil, "initdb", "-D", s.path(name), "-U", "nextflow", "--pwfile", s.path("secrets/"+name+"_password"), "--auth=scram-sha-256")
	opts := fmt.Sprintf("-c port=%d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s %s", port, s.dir, strings.Join(extra, " "))
	s.run(nil, "pg_ctl", "-D", s.path(name), "-o", opts, "-l", s.path(name+".log"), "-w", "-t", "60", "start")
	t.Cleanup(func() { _ = s.cmd(nil, "pg_ctl", "-D", s.path(name), "-m", "immediate", "-w", "stop").Run() })
	s.run([]string{"PGPASSWORD=" + pgPassword}, "createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "nextflow", "nextflow")
	return pgNode{s: s, port: port}
}

func dbOf(name string, n pgNode, database string) *migrate.DB {
	return &migrate.DB{Name: name, Host: "127.0.0.1", Port: n.port, User: "nextflow", Database: database, Password: pgPassword, SSLMode: "disable"}
}

func mustPsql(t *testing.T, n pgNode, sql string) string {
	t.Helper()
	out, err := n.psql(sql)
	if err != nil {
		t.Fatalf("%s: %v\n%s", sql, err, out)
	}
	return out
}

type migration struct {
	t                *testing.T
	s                *sandbox
	source           pgNode
	primary, replica pgNode
	plan             *migrate.Plan
	dir              string
	before           *migrate.Snapshot
}

// newMigration starts the laptop's PostgreSQL with the seeded data and the
// server's primary and streaming replica from the rendered files.
func newMigration(t *testing.T) *migration {
	bin := pgBin(t)
	s := newSandbox(t, bin)
	p := pgParams(t, s)
	m := &migration{t: t, s: s}
	m.primary = startPrimary(t, s, p)
	m.replica = startReplica(t, s, p)
	eventually(t, 60*time.Second, "streaming replication", func() (bool, string) {
		out, err := m.primary.psql("SELECT state FROM pg_stat_replication WHERE application_name <> 'pg_basebackup'")
		return err == nil && out == "streaming", out + s.logTail("replica.log")
	})
	mustPsql(t, m.primary, "CREATE DATABASE nfx_rehearsal")
	m.source = startLaptopPostgres(t, s, "laptop")
	mustPsql(t, m.source, seedSQL)
	laptop, ds := model.Load("laptop", model.Raw{Values: map[string]string{"redis": `{"data": "cache"}`}, Secret: map[string]bool{}}, model.LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	server, _ := model.Load("server", model.Raw{Values: map[string]string{}, Secret: map[string]bool{}}, model.LoadOptions{})
	var err error
	if m.plan, err = migrate.NewPlan(laptop, server); err != nil {
		t.Fatal(err)
	}
	m.dir = filepath.Join(t.TempDir(), "migration")
	if m.before, err = migrate.TakeSnapshot(context.Background(), *dbOf("source", m.source, "nextflow")); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *migration) run() *migrate.Run {
	cut := filepath.Join(m.dir, "..", "traffic")
	return &migrate.Run{
		Plan: m.plan, Dir: m.dir, Jobs: 4, RedisCompareAll: 1000, MaxFreeze: time.Minute,
		E: migrate.Endpoints{
			SourceDB: dbOf("source", m.source, "nextflow"), TargetDB: dbOf("target", m.primary, "nextflow"),
			TargetReplica: dbOf("replica", m.replica, "nextflow"), Scratch: dbOf("scratch", m.primary, "nfx_rehearsal"),
			Cutover: "echo server > " + cut, Rollback: "echo laptop > " + cut,
		},
	}
}

func (m *migration) traffic() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "..", "traffic"))
	return strings.TrimSpace(string(b))
}

// The source's content, before and after: untouched.
func (m *migration) sourceUntouched() {
	m.t.Helper()
	after, err := migrate.TakeSnapshot(context.Background(), *dbOf("source", m.source, "nextflow"))
	if err != nil {
		m.t.Fatal(err)
	}
	if bad := migrate.CompareSnapshots(m.before, after); len(bad) > 0 || len(after.Tables) != 3 {
		m.t.Errorf("the migration changed the source: %v", bad)
	}
}

// laptop -> server in dump mode, for real: 220,000 rows into the server's
// primary with its streaming replica, started from the rendered files.
// Nothing is lost (counts and content checksums equal on the primary and
// the replica), the sequences are ahead of their columns, the source is
// frozen and untouched, the traffic is switched; writes on the target
// after the cutover make rollback refuse, unless discarded.
func TestMigrateLaptopToServerDump(t *testing.T) {
	m := newMigration(t)
	ctx := context.Background()
	j, err := m.run().Execute(ctx)
	if err != nil {
		t.Fatalf("%v\n%s", err, m.s.logTail("primary.log"))
	}
	if j.State != migrate.MigrationCutOver || m.traffic() != "server" {
		t.Fatalf("state %s, traffic %q", j.State, m.traffic())
	}
	v := j.Verification
	if v == nil || !v.OK || len(v.Tables) != 3 || v.ReplicaLSN == "" {
		t.Fatalf("verification: %+v", v)
	}
	var rows int64
	for _, s := range v.Tables {
		rows += s.Rows
	}
	if rows != 220000 {
		t.Errorf("%d rows verified, want 220000", rows)
	}
	for _, n := range []pgNode{m.primary, m.replica} {
		if got := mustPsql(t, n, "SELECT count(*) FROM contacts"); got != "120000" {
			t.Errorf("port %d: %s contacts", n.port, got)
		}
	}
	if r := j.Rehearsal; r == nil || !r.OK || r.Tables != 3 || r.Rows != 220000 || r.RTOSeconds <= 0 {
		t.Errorf("rehearsal: %+v", r)
	}
	if j.DowntimeSeconds <= 0 || j.FrozenAt.IsZero() {
		t.Errorf("downtime %.2f s", j.DowntimeSeconds)
	}
	// New rows on the target take the next ids: the sequences came along.
	if got := strings.SplitN(mustPsql(t, m.primary, "INSERT INTO contacts (account_id, email) VALUES (1, 'new') RETURNING id"), "\n", 2)[0]; got != "120001" {
		t.Errorf("the next contact id on the target is %s", got)
	}
	// The source is frozen: it refuses writes, and its data is untouched.
	if out, err := m.source.psql("INSERT INTO accounts (name, profile) VALUES ('late', '{}')"); err == nil || !strings.Contains(out, "read-only") {
		t.Errorf("the frozen source took a write: %v %s", err, out)
	}
	m.sourceUntouched()
	// A rerun does nothing more.
	if j, err := m.run().Execute(ctx); err != nil || j.State != migrate.MigrationCutOver {
		t.Errorf("rerun: %v %v", err, j.State)
	}
	// The target took a write after the cutover: rollback would lose it.
	if _, err := m.run().Rollback(ctx, false); err == nil || !strings.Contains(err.Error(), "public.contacts") {
		t.Fatalf("rollback over a target write: %v", err)
	}
	if m.traffic() != "server" {
		t.Error("a refused rollback moved the traffic")
	}
	j, err = m.run().Rollback(ctx, true)
	if err != nil || j.State != migrate.MigrationRolledBack || m.traffic() != "laptop" {
		t.Fatalf("rollback: %v %v %q", err, j.State, m.traffic())
	}
	if _, err := m.source.psql("INSERT INTO accounts (name, profile) VALUES ('after rollback', '{}')"); err != nil {
		t.Errorf("the source refuses writes after the rollback: %v", err)
	}
	if got := mustPsql(t, m.source, "SELECT count(*) FROM contacts"); got != "120000" {
		t.Errorf("the source lost rows written before the cutover: %s contacts", got)
	}
}

// The target killed in the middle of the import, then a rerun: it
// completes, with no row twice, and the source is untouched.
func TestMigrateResumesAfterTheTargetDies(t *testing.T) {
	m := newMigration(t)
	ctx := context.Background()
	// Kill the primary once the restore has run for a moment.
	go func() {
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			j, _ := migrate.LoadJournal(m.dir)
			if j != nil {
				for _, st := range j.Steps {
					if st.ID == "postgres.restore" && st.State == migrate.StateRunning {
						time.Sleep(300 * time.Millisecond)
						_ = m.s.cmd(nil, "pg_ctl", "-D", m.s.path("primary"), "-m", "immediate", "-w", "stop").Run()
						return
					}
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	_, err := m.run().Execute(ctx)
	if err == nil {
		t.Fatal("the restore finished before the target was killed; the fault was not injected")
	}
	if !strings.Contains(err.Error(), "postgres.restore") || !strings.Contains(err.Error(), "resumes here") {
		t.Fatalf("the failure: %v", err)
	}
	p := pgParams(t, m.s)
	p.Port = m.primary.port
	opts := fmt.Sprintf("-c config_file=%s -c hba_file=%s -c port=%d", m.s.path("etc/postgresql.conf"), m.s.path("etc/pg_hba.conf"), m.primary.port)
	m.s.run(nil, "pg_ctl", "-D", m.s.path("primary"), "-o", opts, "-l", m.s.path("primary.log"), "-w", "-t", "60", "start")
	j, err := m.run().Execute(ctx)
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if j.State != migrate.MigrationCutOver || !j.Verification.OK {
		t.Fatalf("state %s, verification %+v", j.State, j.Verification)
	}
	for _, st := range j.Steps {
		if st.ID == "postgres.restore" && st.Attempts != 2 {
			t.Errorf("the restore ran %d times", st.Attempts)
		}
	}
	if got := mustPsql(t, m.primary, "SELECT count(*), count(DISTINCT id) FROM contacts"); got != "120000|120000" {
		t.Errorf("contacts after the rerun: %s", got)
	}
	m.sourceUntouched()
}

// A target that already holds tables the migration did not restore is
// refused before anything is written to it.
func TestMigrateRefusesATargetWithData(t *testing.T) {
	m := newMigration(t)
	mustPsql(t, m.primary, "CREATE TABLE precious (id int PRIMARY KEY); INSERT INTO precious VALUES (1)")
	_, err := m.run().Execute(context.Background())
	if err == nil || !strings.Contains(err.Error(), "holds 1 tables") {
		t.Fatalf("want a refusal, got %v", err)
	}
	if got := mustPsql(t, m.primary, "SELECT count(*) FROM precious"); got != "1" {
		t.Error("the target's table was touched")
	}
	if frozen, _ := migrate.Frozen(context.Background(), *dbOf("source", m.source, "nextflow")); frozen {
		t.Error("a refused migration froze the source")
	}
}
