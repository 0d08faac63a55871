package cli

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

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

// The lean nfx hands every command that realises the cloud, whole and
// before it has done anything, to nfx-cloud: each command with a
// --stage, --from or --to naming the cloud or a stack of it, and the
// report (every stage); a laptop or server command, and a name nfx cannot
// resolve, stay in the lean nfx.
func TestLeanNfxHandsTheCloudToNfxCloud(t *testing.T) {
	leanNfx(t)
	dir := project(t)
	write(t, filepath.Join(dir, "Pulumi.cloud-staging.yaml"), "config:\n  nextflow:stage: cloud\n")
	write(t, filepath.Join(dir, "Pulumi.server-staging.yaml"), "config:\n  nextflow:stage: server\n")
	run := func(args ...string) (delegated []string, code int) {
		var out, errb strings.Builder
		code = Main(t.Context(), args, IO{Out: &out, Err: &errb, Dir: dir, Delegate: func(a []string) int {
			delegated = a
			return 7
		}})
		return delegated, code
	}
	everyStageCommands := [][]string{{"report"}}
	checked := 0
	for _, path := range commandPaths(NewCmdRoot(IO{}), nil) {
		cmd, _, _ := NewCmdRoot(IO{Dir: dir}).Find(path)
		if slices.ContainsFunc(everyStageCommands, func(p []string) bool { return slices.Equal(p, path) }) {
			if got, code := run(path...); !slices.Equal(got, path) || code != 7 {
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
				if got, code := run(args...); !slices.Equal(got, args) || code != 7 {
					t.Errorf("nfx %s: delegated %q, exit %d; want the command line, exit 7", strings.Join(args, " "), got, code)
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
