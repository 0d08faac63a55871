// Package scripts holds the project's shell scripts; its test runs the
// tool cache's functions (tool-cache.sh) as the build scripts do.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The tool cache keeps a build whole or not at all, gives it back to
// another checkout, and never fails a build nor writes outside the cache
// when the cache cannot be written.
func TestToolCache(t *testing.T) {
	lib, err := filepath.Abs("tool-cache.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		// script runs in a checkout with bin/tool (and bin/dir/f), with
		// $CACHE a fresh directory; want is its output, in order.
		script string
		want   []string
	}{
		{"kept, then reused by another checkout", `
tool_save tool k1 "$PWD" bin/tool bin/dir
mkdir ../other && cd ../other
tool_restore tool k1 "$PWD" bin/tool bin/dir && cat bin/tool bin/dir/f`, []string{"tool: reused the build k1", "built", "inner"}},
		{"another key is not reused", `
tool_save tool k1 "$PWD" bin/tool
rm bin/tool
tool_restore tool k2 "$PWD" bin/tool || echo "no k2"
[ ! -e bin/tool ] && echo "nothing restored"`, []string{"no k2", "nothing restored"}},
		{"an entry without its mark is not one", `
mkdir -p "$CACHE/tool-k1/bin" && echo partial > "$CACHE/tool-k1/bin/tool"
tool_restore tool k1 "$PWD" bin/tool || echo "not complete"
cat bin/tool`, []string{"not complete", "built"}},
		{"an entry lacking a path is not one", `
tool_save tool k1 "$PWD" bin/tool
tool_restore tool k1 "$PWD" bin/tool bin/dir || echo "lacks bin/dir"`, []string{"lacks bin/dir"}},
		{"a second save keeps the first", `
tool_save tool k1 "$PWD" bin/tool
echo changed > bin/tool
tool_save tool k1 "$PWD" bin/tool
cat "$CACHE/tool-k1/bin/tool"; ls -A "$CACHE" | wc -l`, []string{"built", "1"}},
		{"a path that is missing keeps nothing", `
tool_save tool k1 "$PWD" bin/tool bin/missing 2>/dev/null
ls -A "$CACHE" | wc -l`, []string{"0"}},
		{"off: nothing kept, nothing reused", `
NFX_TOOLS_CACHE=off tool_save tool k1 "$PWD" bin/tool
NFX_TOOLS_CACHE=off tool_restore tool k1 "$PWD" bin/tool || echo "not reused"
ls -A "$CACHE" | wc -l`, []string{"not reused", "0"}},
		{"a cache that cannot be written", `
NFX_TOOLS_CACHE="$PWD/bin/tool/cache" tool_save tool k1 "$PWD" bin/tool 2>&1 | grep -o "could not keep the build"
echo "rc $?"
# An empty temporary directory would have put the copy under /.
[ ! -e /bin/tool ] && [ ! -e /.complete ] && echo "nothing under /"`, []string{"could not keep the build", "rc 0", "nothing under /"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			co := filepath.Join(dir, "checkout")
			if err := os.MkdirAll(filepath.Join(co, "bin", "dir"), 0o755); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(co, "bin", "tool"), []byte("built\n"), 0o755)
			os.WriteFile(filepath.Join(co, "bin", "dir", "f"), []byte("inner\n"), 0o644)
			cache := filepath.Join(dir, "cache")
			os.Mkdir(cache, 0o755)
			cmd := exec.Command("bash", "-c", "set -euo pipefail; . "+lib+"\n"+tc.script)
			cmd.Dir = co
			cmd.Env = append(os.Environ(), "NFX_TOOLS_CACHE="+cache, "CACHE="+cache)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			got := strings.Split(strings.TrimSpace(string(out)), "\n")
			for i := range got {
				if j := strings.Index(got[i], " from "); j > 0 {
					got[i] = got[i][:j]
				}
				got[i] = strings.TrimSpace(got[i])
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
