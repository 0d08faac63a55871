package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nextflow-crm/nfx/internal/migrate"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/testutil"
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
	port := testutil.FreePort(t)
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
func newMigration(t *testing.T, mode string) *migration {
	return newMigrationOf(t, mode, model.RedisCache)
}

// newMigrationOf is newMigration with the source's redis.data.
func newMigrationOf(t *testing.T, mode, redisData string) *migration {
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
	m.source = startLaptopPostgres(t, s, "laptop", "-c wal_level=logical")
	mustPsql(t, m.source, seedSQL)
	laptop, ds := model.Load("laptop", model.Raw{Values: map[string]string{"redis": `{"data": "` + redisData + `"}`, "migration": `{"mode": "` + mode + `"}`}, Secret: map[string]bool{}}, model.LoadOptions{})
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
		Plan: m.plan, Dir: m.dir, Jobs: 4, Out: testLog{m.t}, RedisCompareAll: 1000, MaxFreeze: time.Minute,
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
	m := newMigration(t, model.MigrateDump)
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
	m := newMigration(t, model.MigrateDump)
	ctx := context.Background()
	// Kill the primary once the restore, which reads the dump as it is
	// written, has run for a moment: the dump completes all the same, and
	// the restore step restores its file, once the target is back.
	go func() {
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			j, _ := migrate.LoadJournal(m.dir)
			if j != nil {
				for _, st := range j.Steps {
					if st.ID == "postgres.dump" && st.State == migrate.StateRunning {
						time.Sleep(150 * time.Millisecond)
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
	// The killed server's backends may hold its shared memory a moment
	// longer on a loaded machine: start again as an operator would.
	for try := 1; ; try++ {
		out, err := m.s.cmd(nil, "pg_ctl", "-D", m.s.path("primary"), "-o", opts, "-l", m.s.path("primary.log"), "-w", "-t", "60", "start").CombinedOutput()
		if err == nil {
			break
		}
		if try == 5 {
			log, _ := os.ReadFile(m.s.path("primary.log"))
			t.Fatalf("restart the target: %v\n%s\n%s", err, out, log)
		}
		time.Sleep(time.Second)
	}
	j, err := m.run().Execute(ctx)
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if j.State != migrate.MigrationCutOver || !j.Verification.OK {
		t.Fatalf("state %s, verification %+v", j.State, j.Verification)
	}
	for _, st := range j.Steps {
		if st.ID == "postgres.dump" && st.Attempts != 1 || st.ID == "postgres.restore" && st.Attempts != 2 {
			t.Errorf("%s ran %d times", st.ID, st.Attempts)
		}
	}
	if j.Streamed {
		t.Error("the journal says the stream restored the target, which was killed during it")
	}
	if got := mustPsql(t, m.primary, "SELECT count(*), count(DISTINCT id) FROM contacts"); got != "120000|120000" {
		t.Errorf("contacts after the rerun: %s", got)
	}
	m.sourceUntouched()
}

// A target that already holds tables the migration did not restore is
// refused before anything is written to it.
func TestMigrateRefusesATargetWithData(t *testing.T) {
	m := newMigration(t, model.MigrateDump)
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

// writer is a CRM writing through the whole migration: a bounded loop of
// inserts against the stage that has the traffic, every acknowledged id
// recorded, the gap between the last write the source acknowledged and
// the first the target did measured.
type writer struct {
	acked       []int64
	onSource    int
	failures    int
	lastSource  time.Time
	firstTarget time.Time
	done        chan struct{}
	stop        chan struct{}
}

func startWriter(t *testing.T, m *migration) *writer {
	w := &writer{done: make(chan struct{}), stop: make(chan struct{})}
	go func() {
		defer close(w.done)
		ctx := context.Background()
		var c *pgx.Conn
		var on string
		afterCutover := 0
		for i := 0; i < 200000 && afterCutover < 200; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			side := m.traffic()
			if side == "" {
				side = "laptop"
			}
			if c == nil || side != on {
				if c != nil {
					c.Close(ctx)
				}
				n := m.source
				if side == "server" {
					n = m.primary
				}
				var err error
				if c, err = pgx.Connect(ctx, fmt.Sprintf("postgres://nextflow:%s@127.0.0.1:%d/nextflow?sslmode=disable", pgPassword, n.port)); err != nil {
					c = nil
					w.failures++
					time.Sleep(10 * time.Millisecond)
					continue
				}
				on = side
			}
			var id int64
			if err := c.QueryRow(ctx, "INSERT INTO writes (side) VALUES ($1) RETURNING id", on).Scan(&id); err != nil {
				w.failures++
				c.Close(ctx)
				c = nil
				time.Sleep(10 * time.Millisecond)
				continue
			}
			w.acked = append(w.acked, id)
			if on == "laptop" {
				w.lastSource = time.Now()
				w.onSource++
			} else {
				if w.firstTarget.IsZero() {
					w.firstTarget = time.Now()
				}
				afterCutover++
			}
			time.Sleep(2 * time.Millisecond)
		}
		if c != nil {
			c.Close(ctx)
		}
	}()
	t.Cleanup(func() {
		select {
		case <-w.done:
		default:
			close(w.stop)
			<-w.done
		}
	})
	return w
}

// online mode, with a writer running through the whole migration: every
// acknowledged write is on the target, ids included (the sequences came
// along), and the write-unavailability window is measured.
func TestMigrateLaptopToServerOnline(t *testing.T) {
	m := newMigration(t, model.MigrateOnline)
	mustPsql(t, m.source, "CREATE TABLE writes (id bigserial PRIMARY KEY, side text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())")
	w := startWriter(t, m)
	time.Sleep(300 * time.Millisecond)
	j, err := m.run().Execute(context.Background())
	if err != nil {
		t.Fatalf("%v\n%s", err, m.s.logTail("primary.log"))
	}
	select {
	case <-w.done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the writer did not reach the target after the cutover")
	}
	if j.State != migrate.MigrationCutOver || !j.Verification.OK || j.Online == nil || j.Online.Sequences < 4 {
		t.Fatalf("state %s, verification %+v, online %+v", j.State, j.Verification, j.Online)
	}
	if w.lastSource.IsZero() || w.firstTarget.IsZero() {
		t.Fatalf("the writer wrote on one side only (%d writes)", len(w.acked))
	}
	onSource := w.onSource
	got := mustPsql(t, m.primary, fmt.Sprintf("SELECT count(*), count(DISTINCT id) FROM writes WHERE id = ANY('{%s}'::bigint[])", joinIDs(w.acked)))
	if want := fmt.Sprintf("%d|%d", len(w.acked), len(w.acked)); got != want {
		t.Errorf("acknowledged writes on the target: %s, want %s: writes were lost", got, want)
	}
	if got := mustPsql(t, m.primary, "SELECT count(*) FROM writes WHERE side = 'laptop'"); got != strconv.Itoa(onSource) {
		t.Errorf("%s source writes on the target, %d acknowledged by the source before the freeze", got, onSource)
	}
	t.Logf("online: %d writes acknowledged (%d by the source, %d failed attempts); writes unavailable for %.2f s as the writer saw it; journal: frozen %.2f s, catch-up %.3f s of %d B lag, initial copy %.1f s",
		len(w.acked), onSource, w.failures, w.firstTarget.Sub(w.lastSource).Seconds(), j.DowntimeSeconds, j.Online.CatchupSeconds, j.Online.LagBytes, j.Online.CopySeconds)
	for q, want := range map[string]string{
		"SELECT count(*) FROM pg_publication": "0", "SELECT count(*) FROM pg_replication_slots": "0",
	} {
		if got := mustPsql(t, m.source, q); got != want {
			t.Errorf("source after the migration: %s = %s, want %s", q, got, want)
		}
	}
	if got := mustPsql(t, m.primary, "SELECT count(*) FROM pg_subscription"); got != "0" {
		t.Errorf("the subscription is left on the target: %s", got)
	}
}

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}

// A table without a primary key makes online mode refuse, naming it,
// before anything changes on either side.
func TestMigrateOnlineRefusesATableWithoutKey(t *testing.T) {
	m := newMigration(t, model.MigrateOnline)
	mustPsql(t, m.source, "CREATE TABLE audit_log (at timestamptz, line text); CREATE TABLE \"odd \"\"name\" (v int)")
	_, err := m.run().Execute(context.Background())
	var nid *migrate.NoIdentityError
	if !errors.As(err, &nid) || !strings.Contains(err.Error(), "public.audit_log") || !strings.Contains(err.Error(), `public.odd "name`) {
		t.Fatalf("want a refusal naming the tables, got %v", err)
	}
	if got := mustPsql(t, m.primary, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"); got != "0" {
		t.Errorf("the target has %s tables after the refusal", got)
	}
	if frozen, _ := migrate.Frozen(context.Background(), *dbOf("source", m.source, "nextflow")); frozen {
		t.Error("a refused migration froze the source")
	}
	if got := mustPsql(t, m.source, "SELECT (SELECT count(*) FROM pg_publication) + (SELECT count(*) FROM pg_replication_slots)"); got != "0" {
		t.Errorf("a refused migration left %s publications or slots on the source", got)
	}
}

// testLog shows a migration's progress in the test's log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
