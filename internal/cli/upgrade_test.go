package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// ledgerKinds is the ledger's entries' kinds, in order.
func ledgerKinds(t *testing.T, dir string) []string {
	t.Helper()
	code, out, stderr := nfx(t, dir, "ledger", "--json")
	if code != ExitOK {
		t.Fatalf("ledger: %s", stderr)
	}
	var es []struct{ Kind string }
	if err := json.Unmarshal([]byte(out), &es); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range es {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

// nfx upgrade laptop -> server end to end with the real engine is a
// promotion with the migration as a step: a rejected release is blocked
// by the promotion's gate before anything runs; a failed deploy stops it
// before the source is touched, recorded as the release failing there;
// the rerun runs the gates again, the up (nothing to change), the
// migration of a real PostgreSQL with its rehearsal, verification and
// cutover, and records each step in the ledger; --rollback gives the
// source its writes back, recorded too.
func TestUpgradeLaptopToServer(t *testing.T) {
	dir := realEngine(t)
	t.Setenv("NFX_TUNNEL_TOKEN", testutil.TunnelToken("y"))
	src := testutil.StartPostgres(t)
	dst := testutil.StartPostgres(t)
	src.Exec(t, "nextflow", rdsSeed)
	dst.Exec(t, "postgres", "CREATE DATABASE nfx_rehearsal")
	t.Setenv("NFX_SOURCE_DB_PASSWORD", src.Password)
	t.Setenv("NFX_TARGET_DB_PASSWORD", dst.Password)
	t.Setenv("NFX_SCRATCH_DB_PASSWORD", dst.Password)
	traffic := filepath.Join(dir, "traffic")
	args := []string{"upgrade", "--from", "laptop", "--to", "server", "--from-config", "laptop.yaml",
		"--source-db", src.URL("nextflow", "nextflow") + "?sslmode=disable", "--target-db", dst.URL("nextflow", "nextflow") + "?sslmode=disable",
		"--scratch-db", dst.URL("nextflow", "nfx_rehearsal") + "?sslmode=disable",
		"--cutover-cmd", "echo server > " + traffic, "--rollback-cmd", "echo laptop > " + traffic}
	migration := filepath.Join(dir, ".nfx", "migrations", "laptop-to-server")

	// A rejected release: the promotion's gate blocks, nothing runs.
	laptop := "config:\n  nextflow:stage: laptop\n  nextflow:redis: {data: cache}\n"
	write(t, filepath.Join(dir, "laptop.yaml"), laptop+"  nextflow:crm: {image: ghcr.io/nextflow-crm/crm:9.9.9}\n")
	code, out, _ := nfx(t, dir, "release", "show", "--stage", "laptop", "--config", "laptop.yaml", "--json")
	var rel struct{ Digest string }
	if code != ExitOK || json.Unmarshal([]byte(out), &rel) != nil {
		t.Fatalf("release show: %s", out)
	}
	if code, _, stderr := nfx(t, dir, "reject", rel.Digest, "--reason", "a bad build"); code != ExitOK {
		t.Fatalf("reject: %s", stderr)
	}
	server0, _ := os.ReadFile(filepath.Join(dir, "Pulumi.server.yaml"))
	code, out, stderr := nfx(t, dir, append(args, "--deploy-cmd", "true")...)
	if code != ExitBlocked || !strings.Contains(out, "BLOCK  rejected") || !strings.Contains(out, "a bad build") {
		t.Fatalf("a rejected release: exit %d\n%s\n%s", code, out, stderr)
	}
	if _, err := os.Stat(migration); err == nil {
		t.Error("a blocked upgrade started the migration")
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "Pulumi.server.yaml")); string(now) != string(server0) {
		t.Error("a blocked upgrade changed the target's config")
	}
	// The next build is not rejected.
	write(t, filepath.Join(dir, "laptop.yaml"), laptop)

	code, out, stderr = nfx(t, dir, append(args, "--deploy-cmd", "echo no swarm here >&2; exit 7")...)
	if code != ExitFailed || !strings.Contains(stderr, "--deploy-cmd") || !strings.Contains(stderr, "no swarm here") {
		t.Fatalf("a failing deploy: exit %d\n%s\n%s", code, out, stderr)
	}
	if src.Query(t, "nextflow", "SELECT count(*) FROM pg_db_role_setting") != "0" {
		t.Error("a failed upgrade froze the source before the migration")
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "server", "stack.yaml")); err != nil {
		t.Errorf("up wrote no server stack: %v", err)
	}
	if got := strings.Join(ledgerKinds(t, dir), " "); got != "reject blocked promote verify" {
		t.Errorf("the ledger after a failed deploy: %s", got)
	}
	code, out, stderr = nfx(t, dir, append(args, "--deploy-cmd", "true")...)
	if code != 0 {
		t.Fatalf("the rerun: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"pass  migration", "cut-over; writes stopped for", "upgraded: traffic on server"} {
		if !strings.Contains(out, want) {
			t.Errorf("the rerun does not say %q:\n%s", want, out)
		}
	}
	if got := strings.Join(ledgerKinds(t, dir), " "); got != "reject blocked promote verify promote migrate done" {
		t.Errorf("the ledger after the upgrade: %s", got)
	}
	if got := dst.Query(t, "nextflow", "SELECT count(*) FROM deals"); got != "30000" {
		t.Errorf("%s deals on the target", got)
	}
	if b, _ := os.ReadFile(traffic); strings.TrimSpace(string(b)) != "server" {
		t.Errorf("traffic: %q", b)
	}
	if code, _, stderr := nfx(t, dir, "ledger", "--verify"); code != ExitOK {
		t.Errorf("the ledger does not verify: %s", stderr)
	}
	code, out, stderr = nfx(t, dir, append(args, "--rollback", "--discard-target-writes")...)
	if code != 0 || !strings.Contains(out, "rolled back") {
		t.Fatalf("rollback: exit %d\n%s\n%s", code, out, stderr)
	}
	if b, _ := os.ReadFile(traffic); strings.TrimSpace(string(b)) != "laptop" {
		t.Errorf("traffic after the rollback: %q", b)
	}
	if kinds := ledgerKinds(t, dir); kinds[len(kinds)-1] != "migrate" {
		t.Errorf("the rollback is not recorded: %v", kinds)
	}
	src.Exec(t, "nextflow", "INSERT INTO accounts (name, secret) VALUES ('back', 'x')")
}
