package cli

import (
	"encoding/json"
	"github.com/nextflow-crm/nfx/internal/model"
	"path/filepath"
	"testing"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// goldenMoves runs a command on each move in every format, holds each
// output to its golden file (testdata/<cmd>-<from>-<to>.<ext>) and hands
// the JSON to check.
func goldenMoves(t *testing.T, dir, command string, moves [][2]string, check func(from, to, out string)) {
	t.Helper()
	for _, c := range moves {
		for _, format := range []string{"text", "markdown", "json"} {
			args := []string{command, "--from", c[0], "--to", c[1]}
			if format != "text" {
				args = append(args, "--"+format)
			}
			code, out, stderr := nfx(t, dir, args...)
			if code != ExitOK {
				t.Fatalf("%v: exit %d: %s", args, code, stderr)
			}
			ext := map[string]string{"text": "txt", "markdown": "md", "json": "json"}[format]
			testutil.Golden(t, filepath.Join("testdata", command+"-"+c[0]+"-"+c[1]+"."+ext), []byte(out))
			if format == "json" {
				check(c[0], c[1], out)
			}
		}
	}
}

func TestDiffGolden(t *testing.T) {
	// The cloud's figures hold as of the day the rules were read: a later
	// day may price the control plane at the extended-support rate.
	t.Setenv(model.TodayEnv, model.RulesDate)
	dir := project(t)
	goldenMoves(t, dir, "diff", [][2]string{{"laptop", "server"}, {"server", "cloud"}, {"laptop", "cloud"}}, func(_, _, out string) {
		var d map[string]any
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"from", "to", "monthlyCostDelta", "parts", "capacityDelta", "business"} {
			if _, ok := d[k]; !ok {
				t.Errorf("diff JSON lacks %s", k)
			}
		}
		if parts, _ := d["parts"].([]any); len(parts) < 5 {
			t.Errorf("parts: %v", d["parts"])
		}
	})
	if code, _, stderr := nfx(t, dir, "diff", "--from", "laptop", "--to", "moon"); code != ExitUsage {
		t.Errorf("unknown stage: exit %d %s", code, stderr)
	}
}
