package proc

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A cloud binary is taken as it is only when nothing it is built from is
// newer: a Go file, a directory (a file removed), go.mod or go.sum; the
// build outputs, state and VCS data do not count.
func TestCloudBinaryUpToDate(t *testing.T) {
	old := time.Now().Add(-time.Hour)
	for _, c := range []struct {
		name    string
		touch   string
		current bool
	}{
		{"nothing newer", "", true},
		{"a Go file", "stacks/a.go", false},
		{"go.sum", "go.sum", false},
		{"a new directory", "stacks/new/", false},
		{"a new file beside the sources", "Pulumi.cloud-staging.yaml", false},
		{"a rendered file", "out/cloud/k8s/x.yaml", true},
		{"another binary", "bin/nfx", true},
		{"state", ".nfx/state/x.json", true},
		{"a text file edited", "README.md", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			for _, f := range []string{"go.mod", "go.sum", "stacks/a.go", "bin/" + CloudCLI, "README.md", "out/cloud/k8s/old.yaml", ".nfx/state/old.json"} {
				p := filepath.Join(root, f)
				os.MkdirAll(filepath.Dir(p), 0o755)
				os.WriteFile(p, []byte("x"), 0o644)
			}
			filepath.Walk(root, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, old, old) })
			bin := filepath.Join(root, "bin", CloudCLI)
			os.Chtimes(bin, old.Add(time.Minute), old.Add(time.Minute))
			if c.touch != "" {
				p := filepath.Join(root, c.touch)
				if c.touch[len(c.touch)-1] == '/' {
					os.MkdirAll(p, 0o755)
				} else {
					os.MkdirAll(filepath.Dir(p), 0o755)
					os.WriteFile(p, []byte("y"), 0o644)
				}
			}
			if got := upToDate(root, bin); got != c.current {
				t.Errorf("upToDate = %v, want %v", got, c.current)
			}
		})
	}
	if upToDate(t.TempDir(), "/nonexistent/"+CloudCLI) {
		t.Error("a missing binary is up to date")
	}
}
