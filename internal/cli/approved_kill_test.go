package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// kill -9 of an approved promotion after its up (in its deploy command):
// the rerun with the same --approved completes it (a resume, not a
// refusal because its own up moved the state the approval bound), the
// ledger ends with its done entry, and the approval is then spent.
func TestKilledApprovedPromoteResumes(t *testing.T) {
	dir := realEngine(t)
	t.Setenv("NFX_TUNNEL_TOKEN", testutil.TunnelToken("a"))
	t.Setenv("GITHUB_ACTOR", "")
	t.Setenv("GITLAB_USER_LOGIN", "")
	t.Setenv("USER", "ci")
	laptop, server := filepath.Join(dir, "Pulumi.laptop.yaml"), filepath.Join(dir, "Pulumi.server.yaml")
	if code, _, stderr := nfx(t, dir, "up", "--stage", "server"); code != ExitOK {
		t.Fatalf("up: %s", stderr)
	}
	src, _ := os.ReadFile(laptop)
	write(t, laptop, string(src)+"  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:1.9.0\n")
	cfg, _ := os.ReadFile(server)
	write(t, server, strings.Replace(string(cfg), "config:\n", "config:\n  nextflow:promotion:\n    approvals: 1\n", 1))
	code, out, stderr := nfx(t, dir, "promote", "--from", "laptop", "--to", "server", "--dry-run", "--json")
	var dry struct{ LedgerEntry int }
	if code != ExitOK || json.Unmarshal([]byte(out), &dry) != nil {
		t.Fatalf("dry run: %d %s %s", code, out, stderr)
	}
	t.Setenv("USER", "lan")
	if code, _, stderr := nfx(t, dir, "approve", strconv.Itoa(dry.LedgerEntry)); code != ExitOK {
		t.Fatalf("approve: %s", stderr)
	}
	t.Setenv("USER", "ci")
	args := []string{"promote", "--from", "laptop", "--to", "server", "--approved", strconv.Itoa(dry.LedgerEntry)}
	cmd := helper(dir, append(args, "--deploy-cmd", "kill -9 $PPID")...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the promotion was not killed (%v):\n%s", err, buf.String())
	}
	code, stdout, stderr := nfx(t, dir, args...)
	if code != ExitOK && strings.Contains(stderr, "nfx cancel --stage server") {
		if code, _, stderr := nfx(t, dir, "cancel", "--stage", "server"); code != ExitOK {
			t.Fatalf("cancel: %s", stderr)
		}
		code, stdout, stderr = nfx(t, dir, args...)
	}
	if code != ExitOK || !gateLine(stdout, "pass", "resume") || !strings.Contains(stdout, " up (") {
		t.Fatalf("the rerun with the same approval: %d\n%s\n%s", code, stdout, stderr)
	}
	if got := strings.Join(ledgerKinds(t, dir), " "); got != "dry-run approval promote done" {
		t.Errorf("the ledger: %s", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out", "server", "stack.yaml")); !strings.Contains(string(b), "crm:1.9.0") {
		t.Error("the server's stack.yaml does not carry the release")
	}
	code, stdout, _ = nfx(t, dir, args...)
	if code != ExitBlocked || !strings.Contains(stdout, "an approval is spent once") {
		t.Errorf("the spent approval again: %d\n%s", code, stdout)
	}
}
