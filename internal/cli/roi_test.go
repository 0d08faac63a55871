package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/model"
)

// nfx roi weighs each move from the project's stacks: the text, the
// Markdown and the JSON say the same case, set beside the plan's.
func TestRoiGolden(t *testing.T) {
	t.Setenv(model.TodayEnv, model.RulesDate)
	dir := project(t)
	goldenMoves(t, dir, "roi", [][2]string{{"laptop", "server"}, {"server", "cloud"}}, func(from, to, out string) {
		var got struct {
			PaybackMonth int
			Returns      []struct{ Months int }
			Plan         *struct{ Stated, Why string }
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Returns) != 3 || got.Plan == nil || got.Plan.Why == "" || got.PaybackMonth == 0 {
			t.Errorf("%s -> %s: the JSON lacks the payback, the returns or the plan's case: %s", from, to, out)
		}
	})
}

// Bad input names the flag or key, the value and the fix; nothing is
// weighed on a half-read config.
func TestRoiRefusesBadInput(t *testing.T) {
	dir := project(t)
	bad := filepath.Join(dir, "Pulumi.bad.yaml")
	write(t, bad, "config:\n  nextflow:stage: laptop\n  nextflow:business:\n    margin: 2\n    revenuePerUser: -1\n")
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"same stage", []string{"roi", "--from", "server", "--to", "server"}, ExitUsage, []string{"both are server", "--from laptop --to server"}},
		{"unknown stage", []string{"roi", "--from", "laptop", "--to", "moon"}, ExitUsage, []string{`"moon"`}},
		{"two formats", []string{"roi", "--from", "laptop", "--to", "server", "--json", "--markdown"}, ExitUsage, []string{"choose one"}},
		{"no --to", []string{"roi", "--from", "laptop"}, ExitUsage, []string{"to"}},
		{"bad business figures", []string{"roi", "--from", "laptop", "--from-config", bad, "--to", "server"}, ExitUsage,
			[]string{"nextflow:business.margin", "got 2", "nextflow:business.revenuePerUser", "500000"}},
	}
	// Hostile business figures, each in a stack file of its own.
	for i, h := range []struct{ value, want string }{
		{"growth: .nan", "not a finite number"},
		{"revenuePerUser: 1e-300", "must be >= 1"},
		{"margin: -0.1", "between 0 and 1"},
		{"migrationWeeks: 521", "between 0 and 520"},
		{"revenue: '$(rm -rf /)'", "expected a number"},
		{"teamCost: 1e16", "out of range"},
		{"growth: -100", "above -100"},
	} {
		file := filepath.Join(dir, fmt.Sprintf("Pulumi.hostile%d.yaml", i))
		write(t, file, "config:\n  nextflow:stage: laptop\n  nextflow:business:\n    "+h.value+"\n")
		cases = append(cases, struct {
			name string
			args []string
			code int
			want []string
		}{h.value, []string{"roi", "--from", "laptop", "--from-config", file, "--to", "server"}, ExitUsage, []string{"nextflow:business", h.want}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := nfx(t, dir, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			if out != "" {
				t.Errorf("printed a case on bad input: %s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("%q is not in %q", w, stderr)
				}
			}
		})
	}
}

// The business figures of the from stack drive the case: a margin of a
// tenth earns a tenth, and the move pays back later.
func TestRoiReadsTheBusinessFigures(t *testing.T) {
	dir := project(t)
	payback := func() int {
		code, out, stderr := nfx(t, dir, "roi", "--from", "laptop", "--to", "server", "--json")
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var c struct{ PaybackMonth int }
		if err := json.Unmarshal([]byte(out), &c); err != nil {
			t.Fatal(err)
		}
		return c.PaybackMonth
	}
	whole := payback()
	data, err := os.ReadFile(filepath.Join(dir, "Pulumi.laptop.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "Pulumi.laptop.yaml"), string(data)+"  nextflow:business:\n    margin: 0.1\n")
	if tenth := payback(); whole == 0 || tenth <= whole {
		t.Errorf("payback at a margin of 1: month %d; at 0.1: month %d; want the second later", whole, tenth)
	}
}

// nfx advise weighs the move's payback: a move that does not pay back and
// that no red signal calls for is prepared, not made.
func TestAdviseWeighsThePayback(t *testing.T) {
	dir := project(t)
	code, out, stderr := nfx(t, dir, "advise", "--users", "120", "--p95", "2", "--downtime", "0.1", "--revenue", "60000000", "--team", "3")
	if code != ExitOK || !strings.Contains(out, "UPGRADE NOW") || !strings.Contains(out, "pays back in month") {
		t.Errorf("a growing laptop past its limits: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = nfx(t, dir, "advise", "--users", "120", "--p95", "2", "--downtime", "0.1", "--revenue", "60000000", "--team", "3", "--growth", "-20")
	if code != ExitOK || !strings.Contains(out, "PREPARE") || !strings.Contains(out, "does not pay back") {
		t.Errorf("a shrinking laptop past its limits: exit %d\n%s%s", code, out, stderr)
	}
}
