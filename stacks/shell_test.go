package stacks_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// The inline shell every stage runs (entrypoints and health checks) passes
// shellcheck as POSIX sh, the shell the images run it with.
func TestInlineShellPassesShellcheck(t *testing.T) {
	shellcheck := testutil.Tool(t, "shellcheck")
	dir := t.TempDir()
	n := 0
	for _, st := range model.Stages {
		for _, variant := range []map[string]string{{}, {"ai": `{"embeddingModel": ""}`}} {
			cfg, ds := model.Load(string(st), model.Raw{Values: variant, Secret: map[string]bool{}}, model.LoadOptions{})
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			for _, s := range model.Build(cfg).Services {
				var scripts []string
				if len(s.Entrypoint) == 3 && s.Entrypoint[1] == "-c" {
					scripts = append(scripts, s.Entrypoint[2])
				}
				if len(s.Command) == 3 && s.Command[1] == "-c" {
					scripts = append(scripts, s.Command[2])
				}
				if s.Health.Shell != "" {
					scripts = append(scripts, s.Health.Shell)
				}
				for _, sc := range scripts {
					n++
					// The container's environment is set at run time: tell
					// shellcheck which variables it provides.
					text := "#!/bin/sh\n# shellcheck disable=SC2154\n" + sc + "\n"
					path := filepath.Join(dir, string(st)+"-"+s.Name+"-"+string(rune('a'+n%26))+".sh")
					if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
						t.Fatal(err)
					}
					if out, err := exec.Command(shellcheck, "--severity=style", "-s", "sh", path).CombinedOutput(); err != nil {
						t.Errorf("%s %s: %v\n%s", st, s.Name, err, out)
					}
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("checked only %d scripts", n)
	}
}
