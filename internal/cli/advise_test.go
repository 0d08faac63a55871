package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestAdviseCommand(t *testing.T) {
	code, out, stderr := nfx(t, t.TempDir(), "advise", "--users", "150", "--p95", "6", "--downtime", "1", "--revenue", "30000000", "--team", "2", "--json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var a struct {
		Recommendation, TargetStage string
		Reasons                     []struct{ Metric, State string }
	}
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatal(err, out)
	}
	if a.Recommendation != "upgrade" || a.TargetStage != "server" || len(a.Reasons) < 2 {
		t.Errorf("advice: %+v", a)
	}
	code, out, _ = nfx(t, t.TempDir(), "advise", "--users", "20", "--p95", "1", "--downtime", "0", "--revenue", "0", "--team", "1")
	if code != ExitOK || !strings.HasPrefix(out, "STAY") {
		t.Errorf("exit %d: %s", code, out)
	}
	for _, bad := range [][]string{
		{"--users", "-5", "--p95", "1", "--downtime", "0", "--revenue", "0", "--team", "1"},
		{"--users", "5", "--p95", "1", "--downtime", "0", "--revenue", "0", "--team", "1", "--stage", "moon"},
		{"--users", "5", "--p95", "1", "--downtime", "0", "--revenue", "0", "--team", "1", "--compliance", "soc9"},
		{"--users", "5"},
	} {
		code, out, stderr := nfx(t, t.TempDir(), append([]string{"advise"}, bad...)...)
		if code != ExitUsage || out != "" || !(strings.Contains(stderr, "--") || strings.Contains(stderr, "required flag")) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", bad, code, out, stderr)
		}
	}
}

// Inside a project, advise weighs the users against the current stack's
// estimated capacity (74 users on the laptop's defaults); outside one, or
// without the stage's stack file, the matrix alone decides.
func TestAdviseUsesTheStackCapacity(t *testing.T) {
	dir := project(t)
	args := []string{"advise", "--users", "65", "--p95", "2", "--downtime", "0.5", "--revenue", "10000000", "--team", "2"}
	code, out, stderr := nfx(t, dir, args...)
	if code != ExitOK || !strings.HasPrefix(out, "PREPARE") || !strings.Contains(out, "within 20 % of what the current laptop stack is estimated to serve (74") {
		t.Errorf("in the project: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, _ = nfx(t, t.TempDir(), args...); code != ExitOK || !strings.HasPrefix(out, "STAY") {
		t.Errorf("outside a project: exit %d\n%s", code, out)
	}
	// A stack of the user's own: the server's AI on one node halves what it serves.
	write(t, filepath.Join(dir, "one-ai.yaml"), "config:\n  nextflow:ai: {replicas: 1}\n")
	code, out, stderr = nfx(t, dir, "advise", "--stage", "server", "--config", "one-ai.yaml", "--users", "400", "--p95", "1", "--downtime", "0.1", "--revenue", "100000000", "--team", "5")
	if code != ExitOK || !strings.Contains(out, "at or past what the current server stack is estimated to serve (331") {
		t.Errorf("server with one AI node: exit %d\n%s%s", code, out, stderr)
	}
	// A broken stack file is an error, not a silent fallback.
	write(t, filepath.Join(dir, "bad.yaml"), "config:\n  nextflow:capacity: {aiPerUser: 0}\n")
	if code, _, stderr = nfx(t, dir, append(args, "--config", "bad.yaml")...); code != ExitUsage || !strings.Contains(stderr, "nextflow:capacity.aiPerUser") {
		t.Errorf("bad config: exit %d, %q", code, stderr)
	}
}
