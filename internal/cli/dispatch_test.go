package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/stacks"
)

// leanNfx makes this test binary the lean nfx: without the cloud stage,
// as cmd/nfx is built.
func leanNfx(t *testing.T) {
	t.Helper()
	saved := stacks.Stages[model.Cloud]
	delete(stacks.Stages, model.Cloud)
	t.Cleanup(func() { stacks.Stages[model.Cloud] = saved })
}

// handing runs nfx in dir with a hand-over that records the command line
// it is given (its first word the binary) and exits 7; it returns that
// line (nil when nothing was handed over), the exit code and stderr.
func handing(t *testing.T, dir string, args ...string) (handed []string, code int, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	code = Main(t.Context(), args, IO{Out: &out, Err: &errb, Dir: dir, Delegate: func(a []string) int {
		handed = a
		return 7
	}})
	return handed, code, errb.String()
}

// commandPaths lists every runnable command of the tree, as its words.
func commandPaths(c *cobra.Command, prefix []string) [][]string {
	var out [][]string
	for _, sub := range c.Commands() {
		words := append(slices.Clone(prefix), sub.Name())
		if sub.Runnable() {
			out = append(out, words)
		}
		out = append(out, commandPaths(sub, words)...)
	}
	return out
}

// The lean nfx hands every command that runs the cloud's program, whole
// and before it has done anything, to nfx-cloud: each such command with a
// --stage, --from or --to naming the cloud or a stack of it, and the
// report (every stage); a laptop or server command, a name nfx cannot
// resolve, and a command that runs no program (capacity, migrate, release
// show) stay in the lean nfx.
func TestLeanNfxHandsTheCloudToNfxCloud(t *testing.T) {
	leanNfx(t)
	dir := project(t)
	write(t, filepath.Join(dir, "Pulumi.cloud-staging.yaml"), "config:\n  nextflow:stage: cloud\n")
	write(t, filepath.Join(dir, "Pulumi.server-staging.yaml"), "config:\n  nextflow:stage: server\n")
	run := func(args ...string) ([]string, int) {
		handed, code, _ := handing(t, dir, args...)
		return handed, code
	}
	everyStageCommands := [][]string{{"report"}}
	checked := 0
	for _, path := range commandPaths(NewCmdRoot(IO{}), nil) {
		cmd, _, _ := NewCmdRoot(IO{Dir: dir}).Find(path)
		if slices.ContainsFunc(everyStageCommands, func(p []string) bool { return slices.Equal(p, path) }) {
			if got, code := run(path...); !slices.Equal(got, append([]string{"nfx-cloud"}, path...)) || code != 7 {
				t.Errorf("nfx %s: delegated %q, exit %d; want the command line, exit 7", strings.Join(path, " "), got, code)
			}
			checked++
			continue
		}
		for _, flag := range []string{"stage", "from", "to"} {
			if cmd.Flags().Lookup(flag) == nil {
				continue
			}
			for _, value := range []string{"cloud", "cloud-staging"} {
				args := append(slices.Clone(path), "--"+flag, value)
				// The other flags the command requires, given.
				cmd.Flags().VisitAll(func(f *pflag.Flag) {
					if f.Name != flag && len(f.Annotations[cobra.BashCompOneRequiredFlag]) > 0 {
						v := "1"
						if slices.Contains(stageFlags, f.Name) {
							v = "laptop"
						}
						args = append(args, "--"+f.Name, v)
					}
				})
				// advise's own check wants its measured figures too.
				if path[0] == "advise" {
					args = append(args, "--users", "1", "--p95", "1", "--downtime", "1")
				}
				// failover's, which of its two ways.
				if path[0] == "failover" {
					args = append(args, "--planned")
				}
				if _, program := cmd.Annotations[needsPulumi]; !program {
					// Not run: it would do its work here.
					if err := cmd.Flags().Set(flag, value); err != nil {
						t.Fatal(err)
					}
					if to := handTo(cmd, IO{Dir: dir}); to != "" {
						t.Errorf("nfx %s goes to %s; it runs no program", strings.Join(args, " "), to)
					}
					continue
				}
				want := []string{"nfx-cloud"}
				if when := cloudWhen[cmd.Annotations[needsPulumi]]; when != nil {
					// Handed over only when it says so (capacity: a ledger
					// to read; both ways in TestFrontNfxHandsTheProgramsToNfxPulumi).
					if err := cmd.Flags().Set(flag, value); err != nil {
						t.Fatal(err)
					}
					if !when(cmd, IO{Dir: dir}) {
						want = nil
					}
				}
				if got, code := run(args...); want != nil && (!slices.Equal(got, append(want, args...)) || code != 7) || want == nil && (got != nil || code != 0) {
					t.Errorf("nfx %s: delegated %q, exit %d; want %q", strings.Join(args, " "), got, code, want)
				}
			}
			// Not run: a laptop command would do its work here.
			for _, value := range []string{"laptop", "server-staging", "nowhere", "Cloud;rm", "../cloud", ""} {
				if err := cmd.Flags().Set(flag, value); err != nil {
					t.Fatal(err)
				}
				if cloudCommand(cmd, IO{Dir: dir}) {
					t.Errorf("nfx %s --%s %q goes to nfx-cloud", strings.Join(path, " "), flag, value)
				}
			}
			checked++
		}
	}
	if checked < 15 {
		t.Errorf("checked %d command flags; the tree has more", checked)
	}
}

// A command line that reaches the cloud's program in the lean nfx all
// the same fails naming nfx-cloud and how to build it, having written
// nothing.
func TestLeanNfxWithoutTheCloudFailsNamingNfxCloud(t *testing.T) {
	leanNfx(t)
	dir := project(t)
	out := filepath.Join(dir, "rendered")
	var o, e strings.Builder
	// Called as a library would, without Main's hand-over.
	root := NewCmdRoot(IO{Out: &o, Err: &e, Dir: dir})
	root.SetArgs([]string{"render", "--stage", "cloud", "--out", out})
	root.SetOut(&o)
	root.SetErr(&e)
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "make nfx-cloud") {
		t.Fatalf("got %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(out, "*")); len(m) > 0 {
		t.Errorf("wrote %v", m)
	}
}

// frontNfx makes this test binary the front nfx: without the cloud stage
// and without the runners of the commands that need the Pulumi SDK, as
// cmd/nfx is built (-tags nfxfront).
func frontNfx(t *testing.T) {
	t.Helper()
	leanNfx(t)
	saved := runners
	runners = map[string]runner{}
	for k := range frontKeys {
		runners[k] = saved[k]
	}
	t.Cleanup(func() { runners = saved })
}

// The front nfx hands every command that runs a stage's program to
// nfx-pulumi, whole and before it has done anything, and the cloud's to
// nfx-cloud; the commands that need no program run in it. Which is which
// is read from the tree: a command marked as needing the SDK has a runner
// in nfx-pulumi, and every runner marks a command.
func TestFrontNfxHandsTheProgramsToNfxPulumi(t *testing.T) {
	dir := project(t)
	marked := map[string]bool{}
	lean := map[string]bool{}
	for _, path := range commandPaths(NewCmdRoot(IO{}), nil) {
		cmd, _, _ := NewCmdRoot(IO{Dir: dir}).Find(path)
		if key, ok := cmd.Annotations[needsPulumi]; ok {
			if runners[key] == nil {
				t.Errorf("nfx %s needs runner %q, which nfx-pulumi lacks", strings.Join(path, " "), key)
			}
			marked[key] = true
		} else {
			lean[strings.Join(path, " ")] = true
		}
	}
	for key := range runners {
		if !marked[key] {
			t.Errorf("runner %q runs no command", key)
		}
	}
	// What the front runs itself: the commands that need no program.
	want := []string{"ci init", "migrate confirm", "migrate plan", "migrate rehearse", "migrate report", "migrate rollback", "migrate run", "migrate scripts", "migrate verify", "release show"}
	var got []string
	for p := range lean {
		got = append(got, p)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("the front runs %q itself, want %q", got, want)
	}
	savedRunners := runners
	frontNfx(t)
	run := func(args ...string) ([]string, int, string) { return handing(t, dir, args...) }
	for _, c := range []struct {
		args []string
		to   string
	}{
		{[]string{"render", "--stage", "laptop", "--out", filepath.Join(dir, "o")}, "nfx-pulumi"},
		{[]string{"plan", "--stage", "server", "--json"}, "nfx-pulumi"},
		{[]string{"up", "--stage", "laptop"}, "nfx-pulumi"},
		{[]string{"promote", "--from", "laptop", "--to", "server", "--dry-run"}, "nfx-pulumi"},
		{[]string{"ledger", "--verify"}, "nfx-pulumi"},
		{[]string{"approve", "3"}, "nfx-pulumi"},
		{[]string{"roi", "--from", "laptop", "--to", "server"}, "nfx-pulumi"},
		{[]string{"render", "--stage", "cloud"}, "nfx-cloud"},
		{[]string{"report"}, "nfx-cloud"},
		// The cloud's capacity reads a ledger's rehearsals there.
		{[]string{"capacity", "--stage", "cloud", "--backend", "file:///srv/state"}, "nfx-cloud"},
	} {
		got, code, stderr := run(c.args...)
		if want := append([]string{c.to}, c.args...); !slices.Equal(got, want) || code != 7 {
			t.Errorf("nfx %q: handed %q, exit %d, want %q, exit 7\n%s", c.args, got, code, want, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "o")); err == nil {
		t.Error("the front wrote the render's output")
	}
	for _, args := range [][]string{
		{"capacity", "--stage", "server", "--json"},
		{"capacity", "--stage", "laptop"},
		// No ledger yet: no rehearsal to count, nothing nfx-cloud must do.
		{"capacity", "--stage", "cloud", "--json"},
		{"release", "show", "--stage", "laptop"},
		{"migrate", "plan", "--from", "laptop", "--to", "server"},
		{"--help"},
		{"render", "--help"},
	} {
		if got, code, stderr := run(args...); got != nil || code != 0 {
			t.Errorf("nfx %q: handed %q, exit %d; want it run in the front\n%s", args, got, code, stderr)
		}
	}
	// A standby cluster and the project's ledger: a rehearsal may be there
	// to count, which nfx-cloud reads; without the standby, nothing is.
	write(t, filepath.Join(dir, "two.yaml"), "config:\n  nextflow:cloud: {standbyRegion: ap-southeast-1, standbyCluster: true}\n")
	write(t, filepath.Join(dir, "one.yaml"), "config:\n  nextflow:cloud: {standbyRegion: ap-southeast-1}\n")
	if err := os.MkdirAll(filepath.Join(dir, ".nfx", "state", ".nfx"), 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, ".nfx", "state", ".nfx", "ledger.jsonl"), "")
	if got, code, stderr := run("capacity", "--stage", "cloud", "--config", "two.yaml"); !slices.Equal(got, []string{"nfx-cloud", "capacity", "--stage", "cloud", "--config", "two.yaml"}) || code != 7 {
		t.Errorf("a standby cluster with a ledger: handed %q, exit %d\n%s", got, code, stderr)
	}
	if got, code, stderr := run("capacity", "--stage", "cloud", "--config", "one.yaml"); got != nil || code != 0 {
		t.Errorf("a standby without a cluster: handed %q, exit %d\n%s", got, code, stderr)
	}
	// Bad flags are refused by the front, before any hand-over, with the
	// message nfx-pulumi gives: the flags' own checks in cobra's order.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"render", "--stage", "laptop", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"approve"}, "accepts 1 arg(s), received 0"},
		{[]string{"diff", "--from", "laptop"}, `required flag(s) "to" not set`},
		{[]string{"advise", "--stage", "laptop", "--team", "3"}, `required flag(s) "users", "p95", "downtime" not set`},
		{[]string{"advise", "--stage", "laptop", "--window", "1d", "--revenue", "1", "--team", "1"}, "--window: only with --prometheus"},
	} {
		got, code, stderr := run(c.args...)
		if got != nil || code != ExitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("nfx %q: handed %q, exit %d, %q; want exit %d in the front, %q", c.args, got, code, stderr, ExitUsage, c.want)
		}
		// nfx-pulumi says the same.
		saved := runners
		runners = savedRunners
		var out, errb strings.Builder
		if code := Main(t.Context(), c.args, IO{Out: &out, Err: &errb, Dir: dir}); code != ExitUsage || errb.String() != stderr {
			t.Errorf("nfx-pulumi %q: exit %d, %q; the front said %q", c.args, code, errb.String(), stderr)
		}
		runners = saved
	}
}
