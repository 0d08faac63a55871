package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// project copies the files a stack needs (Pulumi.yaml, the stage files and
// the program's main package) into a fresh directory, so tests never touch
// the repository's own stack files or state.
func project(t *testing.T) string {
	t.Helper()
	root := testutil.RepoRoot(t)
	dir := t.TempDir()
	for _, f := range []string{"Pulumi.yaml", "Pulumi.laptop.yaml", "Pulumi.server.yaml", "Pulumi.cloud.yaml", "cmd/nextflow/main.go"} {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// nfx runs the CLI in dir and returns its exit code and output.
func nfx(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, IO{Out: &out, Err: &errb, Dir: dir})
	return code, out.String(), errb.String()
}
