package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/migrate"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// nfx upgrade laptop -> server end to end with the real engine: cost,
// capacity, preview and up of the server's stack, then the migration of a
// real PostgreSQL with its rehearsal, verification and cutover. A failed
// deploy stops it before the source is touched; the rerun resumes without
// running preview or up again; --rollback gives the source its writes back.
func TestUpgradeLaptopToServer(t *testing.T) {
	dir := realEngine(t)
	t.Setenv("NFX_TUNNEL_TOKEN", "tok-"+strings.Repeat("y", 40))
	src := testutil.StartPostgres(t)
	dst := testutil.StartPostgres(t)
	src.Exec(t, "nextflow", rdsSeed)
	dst.Exec(t, "postgres", "CREATE DATABASE nfx_rehearsal")
	write(t, filepath.Join(dir, "laptop.yaml"), "config:\n  nextflow:stage: laptop\n  nextflow:redis: {data: cache}\n")
	t.Setenv("NFX_SOURCE_DB_PASSWORD", src.Password)
	t.Setenv("NFX_TARGET_DB_PASSWORD", dst.Password)
	t.Setenv("NFX_SCRATCH_DB_PASSWORD", dst.Password)
	traffic := filepath.Join(dir, "traffic")
	args := []string{"upgrade", "--from", "laptop", "--to", "server", "--from-config", "laptop.yaml",
		"--source-db", src.URL("nextflow", "nextflow") + "?sslmode=disable", "--target-db", dst.URL("nextflow", "nextflow") + "?sslmode=disable",
		"--scratch-db", dst.URL("nextflow", "nfx_rehearsal") + "?sslmode=disable",
		"--cutover-cmd", "echo server > " + traffic, "--rollback-cmd", "echo laptop > " + traffic}
	code, out, stderr := nfx(t, dir, append(args, "--deploy-cmd", "echo no swarm here >&2; exit 7")...)
	if code != ExitFailed || !strings.Contains(stderr, "upgrade step deploy") || !strings.Contains(stderr, "no swarm here") {
		t.Fatalf("a failing deploy: exit %d\n%s\n%s", code, out, stderr)
	}
	if src.Query(t, "nextflow", "SELECT count(*) FROM pg_db_role_setting") != "0" {
		t.Error("a failed upgrade froze the source before the migration")
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "server", "stack.yaml")); err != nil {
		t.Errorf("up wrote no server stack: %v", err)
	}
	code, out, stderr = nfx(t, dir, append(args, "--deploy-cmd", "true")...)
	if code != 0 {
		t.Fatalf("the rerun: exit %d\n%s\n%s", code, out, stderr)
	}
	if strings.Contains(out, "] preview") || strings.Contains(out, "] up") || !strings.Contains(out, "] migrate") {
		t.Errorf("the rerun did not resume at deploy:\n%s", out)
	}
	b, err := os.ReadFile(upgradePath(dir, "laptop", "server"))
	if err != nil {
		t.Fatal(err)
	}
	var rec UpgradeRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.State != migrate.MigrationCutOver || rec.MonthlyCost[1] <= rec.MonthlyCost[0] || rec.Users <= 0 || rec.Up["create"] == 0 {
		t.Errorf("the record: %+v", rec)
	}
	for _, st := range rec.Steps {
		if want := map[string]int{"deploy": 2, "migrate": 1}[st.ID]; want == 0 && st.Attempts != 1 || want != 0 && st.Attempts != want {
			t.Errorf("step %s ran %d times", st.ID, st.Attempts)
		}
	}
	if got := dst.Query(t, "nextflow", "SELECT count(*) FROM deals"); got != "30000" {
		t.Errorf("%s deals on the target", got)
	}
	if b, _ := os.ReadFile(traffic); strings.TrimSpace(string(b)) != "server" {
		t.Errorf("traffic: %q", b)
	}
	code, out, stderr = nfx(t, dir, append(args, "--rollback", "--discard-target-writes")...)
	if code != 0 || !strings.Contains(out, "rolled back") {
		t.Fatalf("rollback: exit %d\n%s\n%s", code, out, stderr)
	}
	src.Exec(t, "nextflow", "INSERT INTO accounts (name, secret) VALUES ('back', 'x')")
}
