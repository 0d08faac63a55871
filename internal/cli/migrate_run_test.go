package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/migrate"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

const rdsSeed = `
CREATE EXTENSION pgcrypto;
CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL, secret bytea NOT NULL);
CREATE TABLE deals (id bigserial PRIMARY KEY, account_id int NOT NULL REFERENCES accounts(id), stage text, data jsonb);
CREATE VIEW open_deals AS SELECT * FROM deals WHERE stage <> 'won';
INSERT INTO accounts (name, secret) SELECT 'a' || g, digest(g::text, 'sha256') FROM generate_series(1, 5000) g;
INSERT INTO deals (account_id, stage, data) SELECT 1 + g % 5000, 'k' || g % 4, jsonb_build_object('v', g) FROM generate_series(1, 30000) g;`

// server -> cloud through the command line, into a PostgreSQL whose role
// has what RDS grants its master user and no more (no superuser: it
// creates databases and roles and owns its database). The data arrives
// whole, owned by that role; the rendered script verifies it too; no
// secret reaches the output or the journal; rollback gives the source its
// writes back.
func TestMigrateServerToCloudAsRDSMasterUser(t *testing.T) {
	const masterPassword = "Rds-master-'pw'$1"
	src := testutil.StartPostgres(t)
	dst := testutil.StartPostgres(t)
	src.Exec(t, "nextflow", rdsSeed)
	dst.Exec(t, "postgres", "CREATE ROLE crm_admin LOGIN CREATEDB CREATEROLE PASSWORD "+sqlQuote(masterPassword)+"; ALTER DATABASE nextflow OWNER TO crm_admin")
	dst.Exec(t, "postgres", "CREATE DATABASE nfx_rehearsal OWNER crm_admin")
	if dst.Query(t, "postgres", "SELECT rolsuper FROM pg_roles WHERE rolname = 'crm_admin'") != "false" {
		t.Fatal("the master user is a superuser")
	}
	dir := project(t)
	write(t, filepath.Join(dir, "server-cache.yaml"), "config:\n  nextflow:stage: server\n  nextflow:redis: {data: cache}\n")
	t.Setenv("NFX_SOURCE_DB_PASSWORD", src.Password)
	t.Setenv("NFX_TARGET_DB_PASSWORD", masterPassword)
	t.Setenv("NFX_SCRATCH_DB_PASSWORD", masterPassword)
	traffic := filepath.Join(dir, "traffic")
	conn := []string{"--from", "server", "--to", "cloud", "--from-config", "server-cache.yaml",
		"--source-db", src.URL("nextflow", "nextflow") + "?sslmode=disable", "--target-db", dst.URL("crm_admin", "nextflow") + "?sslmode=disable"}
	args := append([]string{"migrate", "run", "--scratch-db", dst.URL("crm_admin", "nfx_rehearsal") + "?sslmode=disable",
		"--cutover-cmd", "echo cloud > " + traffic, "--rollback-cmd", "echo server > " + traffic}, conn...)
	code, out, stderr := nfx(t, dir, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	for _, w := range []string{"[1/10] preflight", "postgres.restore", "verify", "cutover", "writes were stopped for"} {
		if !strings.Contains(out, w) {
			t.Errorf("progress lacks %q:\n%s", w, out)
		}
	}
	_, rep, _ := nfx(t, dir, "migrate", "report", "--from", "server", "--to", "cloud", "--from-config", "server-cache.yaml", "--json")
	var j migrate.Journal
	if err := json.Unmarshal([]byte(rep), &j); err != nil || j.State != migrate.MigrationCutOver || j.Verification == nil || !j.Verification.OK {
		t.Fatalf("report: %v %s", err, rep)
	}
	if j.Verification.Tables["public.deals"].Rows != 30000 || j.Rehearsal == nil || !j.Rehearsal.OK {
		t.Errorf("verification %+v, rehearsal %+v", j.Verification.Tables, j.Rehearsal)
	}
	if got := dst.Query(t, "nextflow", "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'public'"); got != "crm_admin" {
		t.Errorf("the tables belong to %s, not the master user", got)
	}
	if got, want := dst.Query(t, "nextflow", "SELECT count(*) FROM open_deals"), src.Query(t, "nextflow", "SELECT count(*) FROM open_deals"); got != want {
		t.Errorf("the view gives %s rows", got)
	}
	// The report has the migration's section.
	if code, _, stderr := nfx(t, dir, "report", "--out", "report.html"); code != 0 {
		t.Fatal(stderr)
	}
	html, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	for _, w := range []string{"<h2>Migrations</h2>", "server → cloud (dump mode): cut-over", "Measured write downtime: <strong>", "Verification passed: 2 tables", "<code>postgres.restore</code>"} {
		if !strings.Contains(string(html), w) {
			t.Errorf("the report lacks %q", w)
		}
	}
	// The script a user runs by hand verifies the same.
	if code, _, stderr := nfx(t, dir, "migrate", "scripts", "--from", "server", "--to", "cloud", "--from-config", "server-cache.yaml"); code != 0 {
		t.Fatal(stderr)
	}
	pass := filepath.Join(t.TempDir(), "pgpass")
	write(t, pass, "127.0.0.1:*:*:nextflow:"+src.Password+"\n127.0.0.1:*:*:crm_admin:"+strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(masterPassword)+"\n")
	os.Chmod(pass, 0o600)
	cmd := exec.Command(filepath.Join(dir, "out", "cloud", "migrate", "migrate.sh"), "verify")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "PGPASSFILE="+pass, "SOURCE_DB="+src.URL("nextflow", "nextflow")+"?sslmode=disable", "TARGET_DB="+dst.URL("crm_admin", "nextflow")+"?sslmode=disable")
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "verified") {
		t.Errorf("migrate.sh verify: %v\n%s", err, b)
	}
	// No secret in what nfx printed or kept.
	for _, secret := range []string{masterPassword, src.Password} {
		if strings.Contains(out+stderr+rep, secret) {
			t.Error("a password reached the output")
		}
		_ = filepath.Walk(filepath.Join(dir, ".nfx"), func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				if b, _ := os.ReadFile(p); strings.Contains(string(b), secret) {
					t.Errorf("%s holds a password", p)
				}
			}
			return nil
		})
	}
	// Rollback: traffic and writes back on the source.
	if code, _, stderr := nfx(t, dir, append([]string{"migrate", "rollback", "--rollback-cmd", "echo server > " + traffic}, conn...)...); code != 0 {
		t.Fatalf("rollback: %s", stderr)
	}
	if b, _ := os.ReadFile(traffic); strings.TrimSpace(string(b)) != "server" {
		t.Errorf("traffic after rollback: %s", b)
	}
	src.Exec(t, "nextflow", "INSERT INTO accounts (name, secret) VALUES ('after', 'x')")
}

func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
