package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// nfx compliance on each stage's own plan: the report is the golden one,
// the command exits 1 naming each control the plan fails, and the JSON
// lists every control with its identifiers.
func TestComplianceGolden(t *testing.T) {
	t.Setenv(model.TodayEnv, model.RulesDate)
	dir := project(t)
	for _, stage := range []string{"laptop", "server", "cloud"} {
		code, out, stderr := nfx(t, dir, "compliance", "--stage", stage, "--markdown")
		if code != ExitFailed || !strings.Contains(stderr, "fails") || !strings.Contains(stderr, "restore-rehearsal") {
			t.Errorf("%s: exit %d: %s", stage, code, stderr)
		}
		testutil.Golden(t, filepath.Join("testdata", "compliance-"+stage+".md"), []byte(out))
		_, out, _ = nfx(t, dir, "compliance", "--stage", stage, "--json", "--framework", "gdpr")
		var r struct {
			Findings []struct {
				ID     string
				Status string
				IDs    map[string][]string
			}
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%s: %v\n%s", stage, err, out)
		}
		for _, f := range r.Findings {
			if len(f.IDs["gdpr"]) == 0 {
				t.Errorf("%s: %s is in the GDPR report without a GDPR identifier", stage, f.ID)
			}
		}
	}
}

// A recorded, verified and recent rehearsal passes its control; bad flags
// are refused with the fix.
func TestComplianceReadsTheRehearsalAndRefusesBadFlags(t *testing.T) {
	t.Setenv(model.TodayEnv, "2026-12-06")
	dir := project(t)
	rehearsals := filepath.Join(dir, ".nfx", "rehearsals", "cloud")
	if err := os.MkdirAll(rehearsals, 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(rehearsals, "latest.json"), `{"at": "2026-12-01T03:00:00Z", "ok": true, "rtoSeconds": 41, "rpoSeconds": 3600}`)
	_, out, stderr := nfx(t, dir, "compliance", "--stage", "cloud")
	if !strings.Contains(out, "[PASS] restore-rehearsal") || strings.Contains(stderr, "restore-rehearsal") {
		t.Errorf("a rehearsal five days old does not pass:\n%s\n%s", out, stderr)
	}
	for _, tc := range []struct{ args, want []string }{
		{[]string{"compliance", "--stage", "cloud", "--framework", "pci"}, []string{`"pci"`, "soc2, iso27001, gdpr"}},
		{[]string{"compliance", "--stage", "laptop", "--json", "--markdown"}, []string{"choose one"}},
		{[]string{"compliance", "--stage", "moon"}, []string{`"moon"`}},
	} {
		code, out, stderr := nfx(t, dir, tc.args...)
		if code != ExitUsage || out != "" {
			t.Errorf("%v: exit %d, printed %q", tc.args, code, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: %q is not in %q", tc.args, w, stderr)
			}
		}
	}
}
