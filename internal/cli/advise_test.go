package cli

import (
	"encoding/json"
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
