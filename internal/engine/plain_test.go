package engine_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// copyProject copies what `go build ./cmd/nextflow` and the stacks need
// (the module's sources, templates and stack files, no tests and no
// build outputs) into a fresh directory, with the program nfx's Makefile
// built, so that the language host finds it up to date.
func copyProject(t *testing.T) string {
	t.Helper()
	root := testutil.RepoRoot(t)
	dst := t.TempDir()
	skip := map[string]bool{".git": true, "bin": true, "out": true, ".nfx": true, "testdata": true, "tools": true}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if skip[d.Name()] && rel != "." {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if strings.HasSuffix(p, "_test.go") || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nextflow", "nextflow-cloud"} {
		if prog, err := os.ReadFile(filepath.Join(root, "bin", name)); err == nil {
			os.MkdirAll(filepath.Join(dst, "bin"), 0o755)
			if err := os.WriteFile(filepath.Join(dst, "bin", name), prog, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dst
}

type plain struct {
	t       *testing.T
	dir     string
	pulumi  string
	env     []string
	outputs bytes.Buffer
}

// run runs the Pulumi CLI in the project, as a user types it, with stdin.
func (p *plain) run(stdin string, args ...string) (string, error) {
	p.t.Helper()
	cmd := exec.Command(p.pulumi, args...)
	cmd.Dir = p.dir
	cmd.Env = p.env
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	p.outputs.Write(out.Bytes())
	return out.String(), err
}

func (p *plain) must(stdin string, args ...string) string {
	p.t.Helper()
	out, err := p.run(stdin, args...)
	if err != nil {
		p.t.Fatalf("pulumi %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// The plain Pulumi path, through Pulumi's Go language host as on a user's
// machine: for the laptop and the server stacks, `pulumi up` writes the
// files where the README says (out/<stage> in the project), a no-change
// `preview` finds nothing to do, a changed config value is an update, and
// `destroy` empties the stack. No sentinel secret is in plaintext in any
// file written (state, stack config, output, Pulumi home) or in any
// output, outside its own secret file.
func TestPlainPulumiPath(t *testing.T) {
	pulumi := testutil.Tool(t, "pulumi")
	host := testutil.Tool(t, "pulumi-language-go")
	dir := copyProject(t)
	p := &plain{t: t, dir: dir, pulumi: pulumi}
	p.env = append(os.Environ(),
		"PATH="+filepath.Dir(host)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PULUMI_BACKEND_URL=file://"+filepath.Join(dir, ".state"),
		"PULUMI_HOME="+filepath.Join(dir, ".pulumi-home"),
		"PULUMI_CONFIG_PASSPHRASE=plain-path-passphrase",
		"PULUMI_SKIP_UPDATE_CHECK=true",
	)
	os.MkdirAll(filepath.Join(dir, ".state"), 0o700)
	sentinels := map[string]string{
		"postgresPassword":     "Sentinel-PG-plain-4e1",
		"redisPassword":        "Sentinel-RD-plain-8c2",
		"tunnelToken":          testutil.TunnelToken("Sentinel-TK-plain-3a7"),
		"replicationPassword":  "Sentinel-RP-plain-9d5",
		"qdrantApiKey":         "Sentinel-QK-plain-5b3",
		"grafanaAdminPassword": "Sentinel-GF-plain-6d4",
	}
	for _, stage := range []string{"laptop", "server"} {
		t.Run(stage, func(t *testing.T) {
			p.t = t
			p.must("", "stack", "init", stage, "--non-interactive")
			for key, v := range sentinels {
				if key == "replicationPassword" && stage != "server" {
					continue
				}
				p.must(v, "config", "set", "--secret", "-s", stage, "nextflow:"+key)
			}
			p.must("", "up", "--yes", "--non-interactive", "-s", stage)
			out := filepath.Join(dir, "out", stage)
			entry := map[string]string{"laptop": "compose.yaml", "server": "stack.yaml"}[stage]
			data, err := os.ReadFile(filepath.Join(out, entry))
			if err != nil {
				t.Fatalf("pulumi up did not write %s where the README says: %v", filepath.Join("out", stage, entry), err)
			}
			if _, err := os.Stat(filepath.Join(dir, "cmd", "nextflow", "out")); err == nil {
				t.Error("pulumi up wrote files into the program's directory")
			}
			golden := filepath.Join(testutil.RepoRoot(t), "stacks", stage, "testdata", "default", entry)
			testutil.Golden(t, golden, data)
			fi, err := os.Stat(filepath.Join(out, "secrets", "postgres_password"))
			if err != nil || fi.Mode().Perm() != 0o444 {
				t.Errorf("secret file: %v %v", fi, err)
			}
			if got := p.must("", "preview", "--expect-no-changes", "--non-interactive", "-s", stage); !strings.Contains(got, "unchanged") {
				t.Errorf("preview:\n%s", got)
			}
			cfg := filepath.Join(dir, "Pulumi."+stage+".yaml")
			text, _ := os.ReadFile(cfg)
			os.WriteFile(cfg, []byte(strings.Replace(string(text), "config:\n", "config:\n  nextflow:redis:\n    cpus: 0.75\n", 1)), 0o644)
			if got, err := p.run("", "preview", "--expect-no-changes", "--non-interactive", "-s", stage); err == nil || !strings.Contains(got, "nextflow-redis") {
				t.Errorf("a changed redis.cpus is not a change:\n%s", got)
			}
			p.must("", "up", "--yes", "--non-interactive", "-s", stage)
			if data, _ := os.ReadFile(filepath.Join(out, entry)); !bytes.Contains(data, []byte(`"0.75"`)) && !bytes.Contains(data, []byte("0.75")) {
				t.Error("up did not write the changed limit")
			}
			p.must("", "destroy", "--yes", "--non-interactive", "-s", stage)
			if got := p.must("", "stack", "--show-urns", "-s", stage); strings.Contains(got, "nextflow:index:Crm") {
				t.Errorf("destroy left resources:\n%s", got)
			}
		})
	}
	// A cloud stack's run goes from the lean program to nextflow-cloud,
	// under the real engine: the run reaches the cloud's resources, which
	// need the AWS provider's plugin this machine cannot download (no
	// credentials either): the engine's error names it, which only the
	// cloud's program can have caused.
	t.Run("cloud", func(t *testing.T) {
		p.t = t
		p.must("", "stack", "init", "cloud", "--non-interactive")
		for key, v := range map[string]string{
			"postgresPassword": sentinels["postgresPassword"], "redisPassword": sentinels["redisPassword"],
			"qdrantApiKey": sentinels["qdrantApiKey"], "aiApiKey": "Sentinel-AI-plain-7f1", "tunnelSecret": "Sentinel-TS-plain-2c8",
			"grafanaAdminPassword": sentinels["grafanaAdminPassword"],
		} {
			sentinels[key] = v
			p.must(v, "config", "set", "--secret", "-s", "cloud", "nextflow:"+key)
		}
		got, err := p.run("", "preview", "--non-interactive", "-s", "cloud")
		if err == nil || !strings.Contains(got, "aws") || !strings.Contains(got, "plugin") {
			t.Errorf("preview -s cloud did not reach the AWS provider (err %v):\n%s", err, got)
		}
		if _, err := os.Stat(filepath.Join(dir, "bin", "nextflow-cloud")); err != nil {
			t.Errorf("bin/nextflow-cloud: %v", err)
		}
	})
	p.t = t
	count := 0
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() || strings.HasPrefix(path, filepath.Join(dir, "bin")) {
			return nil
		}
		data, _ := os.ReadFile(path)
		inSecrets := strings.Contains(path, string(filepath.Separator)+"secrets"+string(filepath.Separator))
		for _, v := range sentinels {
			if n := bytes.Count(data, []byte(v)); n > 0 && !(inSecrets && string(data) == v) {
				rel, _ := filepath.Rel(dir, path)
				t.Errorf("%s holds a secret in plaintext", rel)
				count += n
			}
		}
		return nil
	})
	for _, v := range sentinels {
		count += strings.Count(p.outputs.String(), v)
	}
	if count != 0 {
		t.Errorf("%d plaintext secret occurrences", count)
	}
}
