package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// promote through the CLI: a dry run as a pull request's comment, the
// apply, the ledger listing and verifying; a blocking gate exits 3 with
// the target unchanged; release show names a mutable tag.
func TestPromoteCLI(t *testing.T) {
	dir := project(t)
	laptop, server := filepath.Join(dir, "Pulumi.laptop.yaml"), filepath.Join(dir, "Pulumi.server.yaml")
	src, _ := os.ReadFile(laptop)
	write(t, laptop, string(src)+"  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:1.9.0\n")
	code, out, stderr := nfx(t, dir, "promote", "--from", "laptop", "--to", "server", "--dry-run", "--markdown")
	if code != ExitOK || !strings.Contains(out, "| `crm.image` | `ghcr.io/nextflow-crm/crm:1.8.2` | `ghcr.io/nextflow-crm/crm:1.9.0` |") || !strings.Contains(out, "dry run, nothing changed") {
		t.Fatalf("dry run: %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = nfx(t, dir, "promote", "--from", "laptop", "--to", "server", "--json")
	var res struct {
		Applied bool
		Release struct{ Digest string }
	}
	if code != ExitOK || json.Unmarshal([]byte(out), &res) != nil || !res.Applied {
		t.Fatalf("promote: %d\n%s\n%s", code, out, stderr)
	}
	if b, _ := os.ReadFile(server); !strings.Contains(string(b), "crm:1.9.0") {
		t.Error("the server's file does not carry the release")
	}
	code, out, _ = nfx(t, dir, "release", "show", "--stage", "server", "--json")
	if code != ExitOK || !strings.Contains(out, res.Release.Digest) {
		t.Errorf("release show on the server: %s, want %s", out, res.Release.Digest)
	}
	if code, out, _ = nfx(t, dir, "ledger"); code != ExitOK || strings.Count(out, "laptop  server") != 2 {
		t.Errorf("ledger:\n%s", out)
	}
	if code, out, _ = nfx(t, dir, "ledger", "--verify"); code != ExitOK || !strings.Contains(out, "2 entries verify") {
		t.Errorf("ledger --verify: %s", out)
	}

	// A mutable tag: exit 3, nothing changed, the refusal recorded.
	write(t, laptop, string(src)+"  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:stable\n")
	if code, out, _ = nfx(t, dir, "release", "show", "--stage", "laptop"); !strings.Contains(out, `mutable tag "stable": promotion refuses it`) {
		t.Errorf("release show: %s", out)
	}
	before, _ := os.ReadFile(server)
	code, out, stderr = nfx(t, dir, "promote", "--from", "laptop", "--to", "server")
	if code != ExitBlocked || !strings.Contains(out, "BLOCK  pinned") || !strings.Contains(stderr, "blocked by pinned") {
		t.Fatalf("blocked: %d\n%s\n%s", code, out, stderr)
	}
	if after, _ := os.ReadFile(server); !bytes.Equal(before, after) {
		t.Error("a blocked promotion changed the target")
	}
	// An edited ledger is found.
	ledger := filepath.Join(dir, ".nfx", "state", ".nfx", "ledger.jsonl")
	b, err := os.ReadFile(ledger)
	if err != nil {
		t.Fatal(err)
	}
	write(t, ledger, strings.Replace(string(b), `"kind":"dry-run"`, `"kind":"promote"`, 1))
	if code, _, stderr = nfx(t, dir, "ledger", "--verify"); code == ExitOK || !strings.Contains(stderr, "entry 1") {
		t.Errorf("an edited ledger verifies: %d %s", code, stderr)
	}
}

// Hostile promote invocations: each is refused naming the flag, and
// nothing is written.
func TestPromoteHostileInputs(t *testing.T) {
	dir := project(t)
	server := filepath.Join(dir, "Pulumi.server.yaml")
	before, _ := os.ReadFile(server)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"promote", "--to", "server"}, "--from and --to are required"},
		{[]string{"promote", "--from", "server", "--to", "server"}, "both \"server\""},
		{[]string{"promote", "--from", "laptop; rm -rf /", "--to", "server"}, "--from: \"laptop; rm -rf /\" is not a stack name"},
		{[]string{"promote", "--from", "../../etc/passwd", "--to", "server"}, "is not a stack name"},
		{[]string{"promote", "--from", "laptop", "--to", "staging"}, "--to staging"},
		{[]string{"promote", "--from", "laptop", "--to", "server", "--at", "NaN"}, "--at: not an RFC 3339 time"},
		{[]string{"promote", "--from", "laptop", "--to", "server", "--json", "--markdown"}, "choose one"},
		{[]string{"promote", "--from", "laptop", "--to", "server", "--backend", "s3://user:hunter2@bucket"}, "file:// backend"},
		{[]string{"promote", "--from", strings.Repeat("a", 70), "--to", "server"}, "is not a stack name"},
	} {
		code, _, stderr := nfx(t, dir, tc.args...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "hunter2") {
			t.Errorf("%v: exit %d, %s", tc.args, code, stderr)
		}
	}
	if after, _ := os.ReadFile(server); !bytes.Equal(before, after) {
		t.Error("a refused invocation changed the target")
	}
	if _, err := os.Stat(filepath.Join(dir, ".nfx", "state", ".nfx", "ledger.jsonl")); err == nil {
		t.Error("a refused invocation wrote the ledger")
	}
}

// Another stack of the same stage: server-staging promoted to server.
func TestPromoteStagingToServer(t *testing.T) {
	dir := project(t)
	src, _ := os.ReadFile(filepath.Join(dir, "Pulumi.server.yaml"))
	write(t, filepath.Join(dir, "Pulumi.server-staging.yaml"), string(src)+"  nextflow:qdrant:\n    image: qdrant/qdrant:v1.13.6\n")
	code, out, stderr := nfx(t, dir, "promote", "--from", "server-staging", "--to", "server")
	if code != ExitOK || !strings.Contains(out, "qdrant.image: qdrant/qdrant:v1.13.2 -> qdrant/qdrant:v1.13.6") {
		t.Fatalf("%d\n%s\n%s", code, out, stderr)
	}
}
