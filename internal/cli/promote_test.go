package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/engine"
	"github.com/nextflow-crm/nfx/internal/promote"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// promote through the CLI: a dry run as a pull request's comment, the
// apply, the ledger listing and verifying; a blocking gate exits 3 with
// the target unchanged; release show names a mutable tag.
func TestPromoteCLI(t *testing.T) {
	dir := project(t)
	laptop, server := filepath.Join(dir, "Pulumi.laptop.yaml"), filepath.Join(dir, "Pulumi.server.yaml")
	src, _ := os.ReadFile(laptop)
	write(t, laptop, string(src)+"  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:1.9.0\n")
	code, out, stderr := nfx(t, dir, "promote", "--from", "laptop", "--to", "server", "--dry-run", "--markdown", "--config-only")
	if code != ExitOK || !strings.Contains(out, "| `crm.image` | `ghcr.io/nextflow-crm/crm:1.8.2` | `ghcr.io/nextflow-crm/crm:1.9.0` |") || !strings.Contains(out, "dry run, nothing changed") {
		t.Fatalf("dry run: %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = nfx(t, dir, "promote", "--from", "laptop", "--to", "server", "--json", "--config-only")
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
	if code, out, _ = nfx(t, dir, "ledger"); code != ExitOK || strings.Count(out, "laptop  server") != 3 {
		t.Errorf("ledger:\n%s", out)
	}
	if code, out, _ = nfx(t, dir, "ledger", "--verify"); code != ExitOK || !strings.Contains(out, "3 entries verify") {
		t.Errorf("ledger --verify: %s", out)
	}

	// A mutable tag: exit 3, nothing changed, the refusal recorded.
	write(t, laptop, string(src)+"  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:stable\n")
	if code, out, _ = nfx(t, dir, "release", "show", "--stage", "laptop"); !strings.Contains(out, `mutable tag "stable": promotion refuses it`) {
		t.Errorf("release show: %s", out)
	}
	before, _ := os.ReadFile(server)
	code, out, stderr = nfx(t, dir, "promote", "--from", "laptop", "--to", "server", "--config-only")
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
		{[]string{"promote", "--from", "laptop", "--to", "server", "--at", "NaN", "--dry-run"}, "--at: not an RFC 3339 time"},
		// An apply is judged now: --at cannot move it out of a freeze window.
		{[]string{"promote", "--from", "laptop", "--to", "server", "--at", "2026-12-03T09:00:00Z"}, "for a --dry-run only"},
		{[]string{"promote", "--from", "laptop", "--to", "server", "--json", "--markdown"}, "choose one"},
		{[]string{"promote", "--from", "laptop", "--to", "server", "--backend", "s3://user:hunter2@bucket"}, "credentials are never taken in a URL"},
		{[]string{"promote", "--from", "laptop", "--to", "server", "--backend", "https://api.pulumi.com"}, "file:// or s3:// backend"},
		{[]string{"promote", "--from", "laptop", "--to", "server", "--backend", "s3://"}, "names no bucket"},
		{[]string{"promote", "--from", "laptop", "--to", "server", "--backend", "file://"}, "names no directory"},
		{[]string{"promote", "--from", strings.Repeat("a", 70), "--to", "server"}, "is not a stack name"},
		{[]string{"promote", "--from", "laptop", "--to", "server", "--dry-run", "--deploy-cmd", "rm -rf ~; echo $(id)"}, "not with --config-only or --dry-run"},
		{[]string{"promote", "--from", "laptop", "--to", "server", "--config-only", "--deploy-cmd", "docker stack deploy"}, "not with --config-only or --dry-run"},
		{[]string{"rollback", "--stage", "server", "--config-only", "--deploy-cmd", "x"}, "not with --config-only"},
		{[]string{"rollback", "--stage", "server; reboot"}, "is not a stack name"},
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

// Another stack of the same stage: server-staging promoted to server
// (the config only); then with the real engine: server-staging is up in
// its own state and out/server-staging, a promotion from it runs the
// server's up, and a destroy of server-staging leaves the server's files.
func TestPromoteStagingToServer(t *testing.T) {
	dir := project(t)
	src, _ := os.ReadFile(filepath.Join(dir, "Pulumi.server.yaml"))
	write(t, filepath.Join(dir, "Pulumi.server-staging.yaml"), string(src)+"  nextflow:qdrant:\n    image: qdrant/qdrant:v1.13.6\n")
	code, out, stderr := nfx(t, dir, "promote", "--from", "server-staging", "--to", "server", "--config-only")
	if code != ExitOK || !strings.Contains(out, "qdrant.image: qdrant/qdrant:v1.13.2 -> qdrant/qdrant:v1.13.6") {
		t.Fatalf("%d\n%s\n%s", code, out, stderr)
	}

	// Rendered offline, server-staging's files are its own.
	if code, _, stderr := nfx(t, dir, "render", "--stage", "server-staging"); code != ExitOK {
		t.Fatalf("render server-staging: %s", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "server-staging", "stack.yaml")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "server")); err == nil {
		t.Error("rendering server-staging wrote the server's out/server")
	}

	dir = realEngine(t)
	t.Setenv("NFX_TUNNEL_TOKEN", testutil.TunnelToken("s"))
	write(t, filepath.Join(dir, "Pulumi.server-staging.yaml"), string(src)+"  nextflow:qdrant:\n    image: qdrant/qdrant:v1.13.6\n")
	if code, out, stderr := nfx(t, dir, "up", "--stage", "server-staging"); code != ExitOK || !strings.Contains(out, "out/server-staging") {
		t.Fatalf("up server-staging: %d\n%s\n%s", code, out, stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out", "server-staging", "stack.yaml")); !strings.Contains(string(b), "qdrant/qdrant:v1.13.6") {
		t.Fatal("server-staging's stack.yaml does not run its own release")
	}
	if code, out, stderr := nfx(t, dir, "promote", "--from", "server-staging", "--to", "server"); code != ExitOK || !strings.Contains(out, "applied and up") {
		t.Fatalf("promote: %d\n%s\n%s", code, out, stderr)
	}
	serverStack := filepath.Join(dir, "out", "server", "stack.yaml")
	b, _ := os.ReadFile(serverStack)
	if !strings.Contains(string(b), "qdrant/qdrant:v1.13.6") {
		t.Fatal("the server's stack.yaml does not carry the promoted release")
	}
	if code, _, stderr := nfx(t, dir, "destroy", "--stage", "server-staging"); code != ExitOK {
		t.Fatalf("destroy: %s", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "server-staging", "stack.yaml")); err == nil {
		t.Error("destroy left server-staging's files")
	}
	if after, _ := os.ReadFile(serverStack); !bytes.Equal(after, b) {
		t.Error("destroying server-staging touched the server's files")
	}
	if code, out, _ := nfx(t, dir, "preview", "--stage", "server"); code != ExitOK || !strings.Contains(out, "no changes") {
		t.Errorf("the server after server-staging's destroy: %s", out)
	}
	// A stack that names no stage of its own is refused naming the key.
	write(t, filepath.Join(dir, "Pulumi.qa.yaml"), "config:\n  nextflow:tunnel:\n    mode: none\n")
	if code, _, stderr := nfx(t, dir, "up", "--stage", "qa"); code != ExitUsage || !strings.Contains(stderr, "set nextflow:stage in Pulumi.qa.yaml") {
		t.Errorf("a stack without a stage: %d %s", code, stderr)
	}
}

// With the real engine: the server is up; a promotion into it needs one
// approval; a dry run is approved by someone else; the server's state
// then changes out of band (a destroy and an up): the approved apply is
// refused, the server's file unchanged; a new dry run, approved, applies.
func TestPromoteApprovalAgainstRealState(t *testing.T) {
	dir := realEngine(t)
	t.Setenv("NFX_TUNNEL_TOKEN", testutil.TunnelToken("server"))
	laptop, server := filepath.Join(dir, "Pulumi.laptop.yaml"), filepath.Join(dir, "Pulumi.server.yaml")
	src, _ := os.ReadFile(laptop)
	write(t, laptop, string(src)+"  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:1.9.0\n")
	if code, _, stderr := nfx(t, dir, "up", "--stage", "server"); code != ExitOK {
		t.Fatalf("up: %s", stderr)
	}
	stackYAML := filepath.Join(dir, "out", "server", "stack.yaml")
	orig, err := os.ReadFile(stackYAML)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(server)
	// Under config:, before the encryptionsalt up wrote after it.
	write(t, server, strings.Replace(string(cfg), "config:\n", "config:\n  nextflow:promotion:\n    approvals: 1\n", 1))
	before, _ := os.ReadFile(server)
	t.Setenv("USER", "minh")
	t.Setenv("GITHUB_ACTOR", "")
	t.Setenv("GITLAB_USER_LOGIN", "")
	code, out, stderr := nfx(t, dir, "promote", "--from", "laptop", "--to", "server", "--dry-run", "--json")
	var dry struct{ LedgerEntry int }
	if code != ExitOK || json.Unmarshal([]byte(out), &dry) != nil || dry.LedgerEntry == 0 {
		t.Fatalf("dry run: %d %s %s", code, out, stderr)
	}
	entry := strconv.Itoa(dry.LedgerEntry)
	if code, _, stderr := nfx(t, dir, "approve", entry); code != ExitUsage || !strings.Contains(stderr, "cannot approve it") {
		t.Errorf("self-approval: %d %s", code, stderr)
	}
	t.Setenv("USER", "lan")
	if code, _, stderr := nfx(t, dir, "approve", entry); code != ExitOK {
		t.Fatalf("approve: %s", stderr)
	}
	// Out of band: the server's state moves.
	if code, _, stderr := nfx(t, dir, "destroy", "--stage", "server"); code != ExitOK {
		t.Fatalf("destroy: %s", stderr)
	}
	if code, _, stderr := nfx(t, dir, "up", "--stage", "server"); code != ExitOK {
		t.Fatalf("up: %s", stderr)
	}
	code, out, _ = nfx(t, dir, "promote", "--from", "laptop", "--to", "server", "--approved", entry)
	if code != ExitBlocked || !strings.Contains(out, "state changed since the dry run") {
		t.Fatalf("apply after the state moved: %d\n%s", code, out)
	}
	if after, _ := os.ReadFile(server); !bytes.Equal(before, after) {
		t.Error("a refused apply changed the server's file")
	}
	t.Setenv("USER", "minh")
	code, out, _ = nfx(t, dir, "promote", "--from", "laptop", "--to", "server", "--dry-run", "--json")
	if code != ExitOK || json.Unmarshal([]byte(out), &dry) != nil {
		t.Fatal(out)
	}
	t.Setenv("USER", "lan")
	if code, _, stderr := nfx(t, dir, "approve", strconv.Itoa(dry.LedgerEntry)); code != ExitOK {
		t.Fatal(stderr)
	}
	if code, out, _ = nfx(t, dir, "promote", "--from", "laptop", "--to", "server", "--approved", strconv.Itoa(dry.LedgerEntry)); code != ExitOK || !strings.Contains(out, "applied") {
		t.Fatalf("the approved apply: %d\n%s", code, out)
	}
	// The promotion ran the up: the server's stack.yaml carries the new
	// image; the rollback ran it too: it is the one before, byte for byte.
	if b, _ := os.ReadFile(stackYAML); !strings.Contains(string(b), "ghcr.io/nextflow-crm/crm:1.9.0") {
		t.Error("the deployed stack.yaml does not carry the promoted image")
	}
	if code, out, stderr := nfx(t, dir, "rollback", "--stage", "server"); code != ExitOK || !strings.Contains(out, "crm.image: ghcr.io/nextflow-crm/crm:1.9.0 -> ghcr.io/nextflow-crm/crm:1.8.2") || !strings.Contains(out, "never verified there") {
		t.Fatalf("rollback: %d\n%s\n%s", code, out, stderr)
	}
	if b, _ := os.ReadFile(stackYAML); !bytes.Equal(b, orig) {
		t.Error("after the rollback, stack.yaml differs from the one before the promotion")
	}
	if code, out, _ = nfx(t, dir, "ledger", "--verify"); code != ExitOK {
		t.Errorf("ledger: %s", out)
	}
}

// nfx ci init writes a provider's pipelines, refuses to overwrite any
// (writing none), and names a bad provider.
func TestCIInit(t *testing.T) {
	dir := project(t)
	if code, out, stderr := nfx(t, dir, "ci", "init", "--provider", "gitlab"); code != ExitOK || !strings.Contains(out, "wrote .gitlab-ci.yml") {
		t.Fatalf("%d %s %s", code, out, stderr)
	}
	if err := os.MkdirAll(filepath.Join(dir, ".github", "workflows"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, ".github", "workflows", "nfx-review.yml"), "mine\n")
	code, _, stderr := nfx(t, dir, "ci", "init", "--provider", "github")
	if code != ExitUsage || !strings.Contains(stderr, "nfx-review.yml already exist") {
		t.Errorf("%d %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, ".github", "workflows", "nfx-promote.yml")); err == nil {
		t.Error("a refused init wrote some files")
	}
	if code, _, _ := nfx(t, dir, "ci", "init", "--provider", "github", "--force"); code != ExitOK {
		t.Error("--force")
	}
	for _, p := range []string{"jenkins", "", "github; rm -rf /"} {
		if code, _, stderr := nfx(t, dir, "ci", "init", "--provider", p); code != ExitUsage || !strings.Contains(stderr, "--provider") {
			t.Errorf("provider %q: %d %s", p, code, stderr)
		}
	}
}

// Two promotions into one stack at once: one runs, the other is refused
// at once naming it; an up of the stack would be refused the same way.
func TestPromoteTwoAtOnce(t *testing.T) {
	dir := project(t)
	unlock, err := engine.Lock(dir, "server")
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := nfx(t, dir, "promote", "--from", "laptop", "--to", "server")
	unlock()
	if code == ExitOK || !strings.Contains(stderr, "another nfx run (pid") {
		t.Errorf("a promotion while the stack is held: %d %s", code, stderr)
	}
	if code, _, stderr := nfx(t, dir, "promote", "--from", "laptop", "--to", "server", "--config-only"); code != ExitOK {
		t.Errorf("after the lock is released: %d %s", code, stderr)
	}
}

// nfx verify against a real Prometheus holding two hours of backfilled
// nextflow:crm_up (down for one sample at 10:30) and a page firing from
// 11:50: a window before the dip passes, one over it fails naming the
// fall, one at the end fails on the page; a window older than the series
// is an error, recorded nowhere. A passed verification feeds the soak gate.
func TestVerifyFromPrometheus(t *testing.T) {
	dir := project(t)
	end := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var b strings.Builder
	b.WriteString("# TYPE nextflow:crm_up gauge\n")
	for ts := end.Add(-2 * time.Hour); !ts.After(end); ts = ts.Add(time.Minute) {
		up := 1
		if ts.Equal(time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)) {
			up = 0
		}
		fmt.Fprintf(&b, "nextflow:crm_up{job=\"crm\"} %d %d\n", up, ts.Unix())
	}
	b.WriteString("# TYPE ALERTS gauge\n")
	for ts := end.Add(-10 * time.Minute); !ts.After(end); ts = ts.Add(time.Minute) {
		fmt.Fprintf(&b, "ALERTS{alertname=\"PostgresDown\",alertstate=\"firing\",severity=\"page\"} 1 %d\n", ts.Unix())
	}
	b.WriteString("# EOF\n")
	pdir := t.TempDir()
	om := filepath.Join(pdir, "series.om")
	write(t, om, b.String())
	base := servePrometheus(t, pdir, om)
	for _, tc := range []struct {
		at, window string
		code       int
		want       string
	}{
		{"2026-12-01T10:20:00Z", "15m", ExitOK, "the CRM answered throughout the 15m window"},
		{"2026-12-01T10:40:00Z", "15m", ExitBlocked, "fell to 0"},
		{"2026-12-01T12:00:00Z", "15m", ExitBlocked, "1 page alerts are firing"},
		{"2026-12-01T10:20:00Z", "2h", ExitUsage, "inside the 2h window"},
	} {
		code, out, stderr := nfx(t, dir, "verify", "--stage", "laptop", "--prometheus", base, "--window", tc.window, "--at", tc.at)
		if code != tc.code || !strings.Contains(out+stderr, tc.want) {
			t.Errorf("verify at %s over %s: %d\n%s%s", tc.at, tc.window, code, out, stderr)
		}
	}
	code, out, _ := nfx(t, dir, "ledger", "--json")
	var es []struct{ Kind string }
	if code != ExitOK || json.Unmarshal([]byte(out), &es) != nil || len(es) != 3 {
		t.Errorf("three verifications recorded, the error none: %s", out)
	}
	for _, bad := range [][]string{
		{"verify", "--stage", "laptop", "--prometheus", "http://user:hunter2@127.0.0.1:1"},
		{"verify", "--stage", "laptop", "--prometheus", base, "--window", "NaN"},
		{"verify", "--stage", "laptop", "--prometheus", base, "--at", "2999-01-01T00:00:00Z"},
	} {
		if code, _, stderr := nfx(t, dir, bad...); code != ExitUsage || strings.Contains(stderr, "hunter2") {
			t.Errorf("%v: %d %s", bad, code, stderr)
		}
	}
}

// With the real engine, a promotion runs the target's up and its deploy
// command, then its verification (a health URL for two seconds): a
// healthy release is applied and verified in the ledger; a release whose
// health fails after its up is rolled back on its own (the config, the
// rendered stack.yaml and the deployed copy byte for byte what they were)
// and holds the stack; a release whose deploy fails is rolled back too.
// nfx rollback never goes back to a release that failed there.
func TestPromoteVerifiesAfterUpAndRollsBack(t *testing.T) {
	dir := realEngine(t)
	t.Setenv("NFX_TUNNEL_TOKEN", testutil.TunnelToken("server"))
	var healthy atomic.Bool
	healthy.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	laptop, server := filepath.Join(dir, "Pulumi.laptop.yaml"), filepath.Join(dir, "Pulumi.server.yaml")
	src, _ := os.ReadFile(laptop)
	release := func(tag string) {
		write(t, laptop, string(src)+"  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:"+tag+"\n")
	}
	if code, _, stderr := nfx(t, dir, "up", "--stage", "server"); code != ExitOK {
		t.Fatalf("up: %s", stderr)
	}
	cfg, _ := os.ReadFile(server)
	write(t, server, strings.Replace(string(cfg), "config:\n", "config:\n  nextflow:promotion:\n    verify:\n      health: ["+srv.URL+"/healthz]\n      seconds: 2\n", 1))
	// The deploy fails for 1.9.2, and copies the rendered stack otherwise.
	deploy := "grep -q crm:1.9.2 out/server/stack.yaml && exit 7; cp out/server/stack.yaml deployed.yaml"
	stackYAML, deployed := filepath.Join(dir, "out", "server", "stack.yaml"), filepath.Join(dir, "deployed.yaml")

	release("1.9.0")
	code, out, stderr := nfx(t, dir, "promote", "--from", "laptop", "--to", "server", "--deploy-cmd", deploy)
	if code != ExitOK || !gateLine(out, "pass", "verification") || !strings.Contains(out, "applied and up") || !gateLine(out, "pass", "preview") {
		t.Fatalf("a healthy release: %d\n%s\n%s", code, out, stderr)
	}
	if b, _ := os.ReadFile(deployed); !strings.Contains(string(b), "crm:1.9.0") {
		t.Fatal("the deploy command did not run after the up")
	}
	good, _ := os.ReadFile(stackYAML)
	goodCfg, _ := os.ReadFile(server)

	// Unhealthy after its up: rolled back, exit 3, held.
	healthy.Store(false)
	release("1.9.1")
	code, out, stderr = nfx(t, dir, "promote", "--from", "laptop", "--to", "server", "--deploy-cmd", deploy)
	if code != ExitBlocked || !gateLine(out, "BLOCK", "verification") || !strings.Contains(out, "did not answer 2xx within 2 s") || !strings.Contains(out, "rolled back") {
		t.Fatalf("an unhealthy release: %d\n%s\n%s", code, out, stderr)
	}
	for _, f := range []struct {
		name string
		want []byte
	}{{server, goodCfg}, {stackYAML, good}, {deployed, good}} {
		if b, _ := os.ReadFile(f.name); !bytes.Equal(b, f.want) {
			t.Errorf("after the automatic rollback %s differs from before the promotion", filepath.Base(f.name))
		}
	}
	healthy.Store(true)
	if code, out, _ = nfx(t, dir, "promote", "--from", "laptop", "--to", "server", "--deploy-cmd", deploy); code != ExitBlocked || !gateLine(out, "BLOCK", "hold") {
		t.Fatalf("promotion into the held stack: %d\n%s", code, out)
	}

	// The deploy fails: rolled back; the error says so.
	release("1.9.2")
	code, _, stderr = nfx(t, dir, "promote", "--from", "laptop", "--to", "server", "--deploy-cmd", deploy, "--lift-hold")
	if code == ExitOK || !strings.Contains(stderr, "--deploy-cmd: exit status 7") || !strings.Contains(stderr, "rolled back to release") {
		t.Fatalf("a failing deploy: %d\n%s", code, stderr)
	}
	if b, _ := os.ReadFile(server); !bytes.Equal(b, goodCfg) {
		t.Error("after a failed deploy the config is not the one before")
	}
	var es []struct {
		Kind  string
		Gates []struct{ Passed bool }
	}
	_, out, _ = nfx(t, dir, "ledger", "--json")
	if err := json.Unmarshal([]byte(out), &es); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range es {
		k := e.Kind
		if k == "verify" && !e.Gates[0].Passed {
			k = "verify-failed"
		}
		kinds = append(kinds, k)
	}
	if got := strings.Join(kinds, " "); got != "promote verify done promote verify-failed rollback done blocked promote lift verify-failed rollback done" {
		t.Errorf("ledger kinds: %s", got)
	}
	// nfx rollback: 1.9.1 and 1.9.2 failed there: back to 1.8.2.
	if code, out, stderr := nfx(t, dir, "rollback", "--stage", "server", "--deploy-cmd", deploy); code != ExitOK || !strings.Contains(out, "crm:1.9.0 -> ghcr.io/nextflow-crm/crm:1.8.2") {
		t.Fatalf("rollback: %d\n%s\n%s", code, out, stderr)
	}
	if code, out, _ = nfx(t, dir, "ledger", "--verify"); code != ExitOK {
		t.Errorf("ledger: %s", out)
	}
}

// gateLine says whether promote's text output has the gate with the verdict.
func gateLine(out, verdict, gate string) bool {
	return regexp.MustCompile(`(?m)^  ` + verdict + ` +` + gate + ` `).MatchString(out)
}

// An S3 state backend (an S3 API served for the test): the real engine
// keeps the server's state in the bucket and nfx its ledger beside it, one
// object an entry. A second checkout of the project, with nothing of the
// first one's .nfx, sees the ledger and verifies it: what CI on a fresh
// machine sees. The approval binds the state in the bucket; an entry
// edited in the bucket is found; appends at once each get their own
// number.
func TestPromoteWithAnS3Backend(t *testing.T) {
	dir := realEngine(t)
	backend := testutil.S3(t, "nfx-state")
	t.Setenv("NFX_TUNNEL_TOKEN", testutil.TunnelToken("3"))
	laptop := filepath.Join(dir, "Pulumi.laptop.yaml")
	src, _ := os.ReadFile(laptop)
	write(t, laptop, string(src)+"  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:1.9.0\n")
	if code, _, stderr := nfx(t, dir, "up", "--stage", "server", "--backend", backend); code != ExitOK {
		t.Fatalf("up: %s", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, ".nfx", "state")); err == nil {
		t.Error("an S3 backend left state in the project")
	}
	code, out, stderr := nfx(t, dir, "promote", "--from", "laptop", "--to", "server", "--backend", backend, "--dry-run", "--json")
	var dry struct{ LedgerEntry int }
	if code != ExitOK || json.Unmarshal([]byte(out), &dry) != nil || dry.LedgerEntry != 1 {
		t.Fatalf("dry run: %d %s %s", code, out, stderr)
	}
	if code, out, stderr := nfx(t, dir, "promote", "--from", "laptop", "--to", "server", "--backend", backend); code != ExitOK || !strings.Contains(out, "applied and up") {
		t.Fatalf("promote: %d\n%s\n%s", code, out, stderr)
	}

	// A fresh checkout: the project's files, none of the first one's state;
	// the passphrase is the stack's, as CI gives it.
	fresh := realEngine(t)
	t.Setenv("PULUMI_CONFIG_PASSPHRASE_FILE", filepath.Join(dir, ".nfx", "passphrase"))
	cfg, _ := os.ReadFile(filepath.Join(dir, "Pulumi.server.yaml"))
	write(t, filepath.Join(fresh, "Pulumi.server.yaml"), string(cfg))
	code, out, _ = nfx(t, fresh, "ledger", "--backend", backend)
	if code != ExitOK || strings.Count(out, "laptop  server") != 3 || !strings.Contains(out, "dry-run") || !strings.Contains(out, "promote") {
		t.Fatalf("the ledger from a fresh checkout: %d\n%s", code, out)
	}
	if code, out, _ = nfx(t, fresh, "ledger", "--verify", "--backend", backend); code != ExitOK || !strings.Contains(out, "3 entries verify") {
		t.Errorf("ledger --verify: %s", out)
	}
	// The fresh checkout runs the rollback against the same state: the
	// engine finds the stack in the bucket.
	if code, out, stderr := nfx(t, fresh, "rollback", "--stage", "server", "--backend", backend); code != ExitOK || !strings.Contains(out, "crm:1.9.0 -> ghcr.io/nextflow-crm/crm:1.8.2") || !strings.Contains(out, "up: ") {
		t.Fatalf("rollback from the fresh checkout: %d\n%s\n%s", code, out, stderr)
	}

	// Appends at once: each its own number, the chain whole.
	b, err := openBackend(context.Background(), fresh, backend)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := promote.Reject(b.Ledger, fmt.Sprintf("sha256:%064d", i), "ci", "at once", time.Now()); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if n, err := b.Ledger.Verify(); err != nil || n != 11 {
		t.Fatalf("after 6 appends at once: %d entries, %v", n, err)
	}
	bucket := b.Ledger.Bucket
	ctx := context.Background()
	// The last entry deleted from the bucket is found: the head records it.
	last, err := bucket.ReadAll(ctx, ".nfx/ledger/000000000011.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := bucket.Delete(ctx, ".nfx/ledger/000000000011.json"); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := nfx(t, fresh, "ledger", "--verify", "--backend", backend); code == ExitOK || !strings.Contains(stderr, "its head records entry 11") {
		t.Errorf("a deleted last entry in the bucket verifies: %d %s", code, stderr)
	}
	if err := bucket.WriteAll(ctx, ".nfx/ledger/000000000011.json", last, nil); err != nil {
		t.Fatal(err)
	}
	// An entry edited in the bucket is found.
	data, err := bucket.ReadAll(ctx, ".nfx/ledger/000000000002.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := bucket.WriteAll(ctx, ".nfx/ledger/000000000002.json", bytes.Replace(data, []byte(`"actor":"`), []byte(`"actor":"x`), 1), nil); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := nfx(t, fresh, "ledger", "--verify", "--backend", backend); code == ExitOK || !strings.Contains(stderr, "entry 2") {
		t.Errorf("an edited entry in the bucket verifies: %d %s", code, stderr)
	}
	// Credentials in the URL are refused, never echoed.
	if code, _, stderr := nfx(t, fresh, "ledger", "--backend", "s3://AKIA:hunter2@nfx-state"); code != ExitUsage || strings.Contains(stderr, "hunter2") || !strings.Contains(stderr, "credentials are never taken in a URL") {
		t.Errorf("credentials in the URL: %d %s", code, stderr)
	}
}
