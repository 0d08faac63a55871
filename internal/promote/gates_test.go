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
