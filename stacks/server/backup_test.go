package server

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/monitoring"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// Backup with the rendered script, restore into a fresh database with the
// rendered restore script: every table's row count and checksum match.
func TestBackupThenRestorePostgres(t *testing.T) {
	bin := pgBin(t)
	s := newSandbox(t, bin)
	p := pgParams(t, s)
	db := startPrimary(t, s, p)
	if _, err := db.psql(`
		CREATE TABLE contacts (id serial PRIMARY KEY, name text, email text, created timestamptz DEFAULT now());
		CREATE TABLE deals (id serial PRIMARY KEY, contact_id int REFERENCES contacts(id), amount numeric(12,2), note text);
		INSERT INTO contacts (name, email) SELECT 'name ' || g, 'c' || g || '@example.com' FROM generate_series(1, 3000) g;
		INSERT INTO deals (contact_id, amount, note) SELECT 1 + g % 3000, g * 1.25, repeat('x', g % 50) FROM generate_series(1, 5000) g;
		CREATE TABLE embeddings_meta (id bigint PRIMARY KEY, payload jsonb);
		INSERT INTO embeddings_meta SELECT g, jsonb_build_object('k', g, 'tags', jsonb_build_array('a', g % 7)) FROM generate_series(1, 1000) g;`); err != nil {
		t.Fatal(err)
	}
	bk := BackupDefaults(testApp(t, "server", nil))
	backup, err := execute("backup.sh.tmpl", bk)
	if err != nil {
		t.Fatal(err)
	}
	restore, err := execute("restore.sh.tmpl", bk)
	if err != nil {
		t.Fatal(err)
	}
	s.write("backup.sh", backup, 0o755)
	s.write("restore.sh", restore, 0o755)
	nas := s.mkdir("nas")
	// An expired backup, older than the retention, is removed by the next run.
	s.mkdir("nas/postgres")
	old := s.write("nas/postgres/postgres-20200101T000000Z.dump", []byte("old"), 0o644)
	past := time.Now().Add(-time.Duration(bk.RetentionDays+2) * 24 * time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	metrics := s.mkdir("metrics")
	env := []string{
		"BACKUP_DIR=" + nas, "PGHOST=127.0.0.1", "PGPORT=" + strconv.Itoa(p.Port),
		"POSTGRES_PASSWORD_FILE=" + s.path("secrets/postgres_password"), "METRICS_DIR=" + metrics,
	}
	before := time.Now().Unix()
	out := s.run(env, "bash", s.path("backup.sh"), "postgres")
	if !strings.Contains(out, "postgres: wrote") || !strings.Contains(out, "expired") {
		t.Errorf("backup output: %s", out)
	}
	if _, err := os.Stat(old); err == nil {
		t.Error("the expired backup was kept")
	}
	dumps, _ := filepath.Glob(filepath.Join(nas, "postgres", "postgres-*.dump"))
	if len(dumps) != 1 {
		t.Fatalf("dumps: %v", dumps)
	}
	if _, err := os.Stat(dumps[0] + ".sha256"); err != nil {
		t.Fatal("no checksum beside the dump")
	}
	if partial, _ := filepath.Glob(filepath.Join(nas, "postgres", ".partial-*")); len(partial) != 0 {
		t.Errorf("partial files left: %v", partial)
	}
	// The node exporter reports the success; a failed run leaves it alone.
	reported := backupReport(t, metrics, "postgres")
	if st, _ := os.Stat(dumps[0]); reported.at < float64(before) || reported.at > float64(time.Now().Unix()) || reported.size != float64(st.Size()) {
		t.Errorf("the node exporter reports %+v for a %d-byte dump made after %d", reported, st.Size(), before)
	}
	time.Sleep(1100 * time.Millisecond)
	bad := append(append([]string(nil), env...), "PGPORT=1")
	if msg, err := s.cmd(bad, "bash", s.path("backup.sh"), "postgres").CombinedOutput(); err == nil {
		t.Fatalf("a backup of an unreachable database succeeded: %s", msg)
	}
	if again := backupReport(t, metrics, "postgres"); again != reported {
		t.Errorf("a failed backup changed the report: %+v, was %+v", again, reported)
	}

	s.run([]string{"PGPASSWORD=" + pgPassword, "PGHOST=127.0.0.1", "PGPORT=" + strconv.Itoa(p.Port)}, "createdb", "-U", "nextflow", "restored")
	out = s.run(env, "bash", s.path("restore.sh"), "postgres", dumps[0], "restored")
	if !strings.Contains(out, "matches its checksum") {
		t.Errorf("restore output: %s", out)
	}
	restored := pgNode{s: s, port: p.Port}
	for _, table := range []string{"contacts", "deals", "embeddings_meta"} {
		q := "SELECT count(*) || ' ' || md5(string_agg(t::text, '|' ORDER BY id)) FROM " + table + " t"
		want, err := db.psql(q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := restored.psqlDB("restored", q)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: restored %q, original %q", table, got, want)
		}
	}

	// A damaged backup is refused.
	f, err := os.OpenFile(dumps[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("corruption")
	f.Close()
	c := s.cmd(env, "bash", s.path("restore.sh"), "postgres", dumps[0], "restored")
	if msg, err := c.CombinedOutput(); err == nil || !strings.Contains(string(msg), "does not match its checksum") {
		t.Errorf("a corrupted backup was restored: %v %s", err, msg)
	}
}

type report struct{ at, size float64 }

// backupReport is what a real node exporter, reading dir with its textfile
// collector, reports of kind's last backup.
func backupReport(t *testing.T, dir, kind string) report {
	t.Helper()
	port := testutil.FreePort(t)
	testutil.Daemon(t, t.TempDir(), "node-exporter", nil, testutil.Tool(t, "prometheus-node-exporter"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--collector.disable-defaults", "--collector.textfile",
		"--collector.textfile.directory="+dir)
	var body string
	for i := 0; i < 50; i++ {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(body, "\nnode_textfile_scrape_error 1\n") {
		t.Fatalf("the node exporter cannot read the backup's metrics:\n%s", body)
	}
	var r report
	for _, l := range strings.Split(body, "\n") {
		name, value, _ := strings.Cut(l, " ")
		v, _ := strconv.ParseFloat(value, 64)
		switch name {
		case monitoring.BackupMetric + `{kind="` + kind + `"}`:
			r.at = v
		case `nextflow_backup_last_size_bytes{kind="` + kind + `"}`:
			r.size = v
		}
	}
	if r.at == 0 {
		t.Fatalf("the node exporter reports no %s backup:\n%s", kind, body)
	}
	return r
}

// psqlDB is psql against another database of the node.
func (n pgNode) psqlDB(db, sql string) (string, error) {
	c := n.s.cmd([]string{"PGPASSWORD=" + pgPassword}, "psql", "-h", "127.0.0.1", "-p", strconv.Itoa(n.port), "-U", "nextflow", "-d", db, "-v", "ON_ERROR_STOP=1", "-tAc", sql)
	out, err := c.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
