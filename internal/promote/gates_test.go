package promote

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// The gates are one table: the levels nextflow:promotion.levels may set
// are its configurable gates, every gate says when it runs and what it
// reads, and the README's table of gates names each of them.
func TestGatesAreOneTable(t *testing.T) {
	var configurable, names []string
	for _, g := range Gates {
		if g.Configurable {
			configurable = append(configurable, g.Name)
		}
		if g.When == "" || g.Reads == "" || (g.run == nil) != (g.When == AfterUp) {
			t.Errorf("gate %s: when %q, reads %q, a check: %v", g.Name, g.When, g.Reads, g.run != nil)
		}
		if slices.Contains(names, g.Name) {
			t.Errorf("gate %s is declared twice", g.Name)
		}
		names = append(names, g.Name)
	}
	if !slices.Equal(configurable, model.PromotionGates) {
		t.Errorf("configurable gates %v, but nextflow:promotion.levels takes %v", configurable, model.PromotionGates)
	}
	readme, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !strings.Contains(string(readme), "| `"+n+"` |") && !strings.Contains(string(readme), "`"+n+"` / ") && !strings.Contains(string(readme), " / `"+n+"` |") {
			t.Errorf("the README's table of gates does not name %s", n)
		}
	}
}

// A target that requires a framework is not promoted into while its plan
// fails one of the framework's controls; advisory, the gate reports and
// lets the promotion through; a target that requires none runs no gate.
func TestComplianceGate(t *testing.T) {
	gate := func(res *Result) *GateResult {
		for i, g := range res.Gates {
			if g.Name == "compliance" {
				return &res.Gates[i]
			}
		}
		return nil
	}
	dir := project(t)
	o := opts(dir, at(t, "2026-12-03T03:00:00Z"))
	o.DryRun = true
	o.Rehearsals = filepath.Join(dir, ".nfx", "rehearsals", "server")
	res, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	if g := gate(res); g != nil {
		t.Fatalf("a target requiring no framework ran the gate: %+v", g)
	}
	appendConfig(t, o.To.File, "  nextflow:promotion:\n    compliance: [soc2]\n")
	if res, err = Run(o); err != nil {
		t.Fatal(err)
	}
	g := gate(res)
	if g == nil || g.Passed || !res.Blocked || !strings.Contains(g.Detail, "restore-rehearsal") || !strings.Contains(g.Detail, "network-exposure") {
		t.Fatalf("the server's plan fails SOC 2 controls, the gate says %+v (blocked %v)", g, res.Blocked)
	}
	appendConfig(t, o.To.File, "    levels: {compliance: advisory}\n")
	if res, err = Run(o); err != nil {
		t.Fatal(err)
	}
	if g := gate(res); g == nil || g.Passed || res.Blocked {
		t.Errorf("advisory: %+v, blocked %v", g, res.Blocked)
	}
}
