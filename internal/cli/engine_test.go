package cli

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// realEngine prepares a project for the real Pulumi engine: the pinned CLI
// in its bin/, a private PULUMI_HOME, and no passphrase from the caller.
func realEngine(t *testing.T) string {
	t.Helper()
	pulumi := testutil.Tool(t, "pulumi")
	dir := project(t)
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(pulumi, filepath.Join(dir, "bin", "pulumi")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PULUMI_HOME", filepath.Join(dir, ".pulumi-home"))
	t.Setenv("PULUMI_CONFIG_PASSPHRASE", "")
	t.Setenv("PULUMI_CONFIG_PASSPHRASE_FILE", "")
	t.Setenv("PULUMI_BACKEND_URL", "")
	os.Unsetenv("PULUMI_CONFIG_PASSPHRASE")
	os.Unsetenv("PULUMI_CONFIG_PASSPHRASE_FILE")
	os.Unsetenv("PULUMI_BACKEND_URL")
	return dir
}

func TestEngineUpPreviewChangeDestroy(t *testing.T) {
	dir := realEngine(t)
	t.Setenv("NFX_TUNNEL_TOKEN", testutil.TunnelToken("x"))

	code, stdout, stderr := nfx(t, dir, "up", "--stage", "laptop")
	if code != ExitOK {
		t.Fatalf("up: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "create=10") {
		t.Errorf("up did not create the 10 resources:\n%s", stdout)
	}
	out := filepath.Join(dir, "out", "laptop")
	compose, err := os.ReadFile(filepath.Join(out, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join(testutil.RepoRoot(t), "stacks", "laptop", "testdata", "default", "compose.yaml"), compose)
	for _, name := range []string{"postgres_password", "redis_password", "qdrant_api_key", "tunnel_token"} {
		fi, err := os.Stat(filepath.Join(out, "secrets", name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o444 {
			t.Errorf("%s has mode %v, want 0444 (in a 0700 directory)", name, fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(filepath.Join(out, "secrets")); fi == nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the secrets directory is not 0700")
	}
	if fi, _ := os.Stat(filepath.Join(dir, ".nfx", "passphrase")); fi == nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the generated passphrase file is not 0600")
	}

	code, stdout, stderr = nfx(t, dir, "preview", "--stage", "laptop")
	if code != ExitOK {
		t.Fatalf("preview: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "nfx: preview of laptop: no changes (same=10)") {
		t.Errorf("a second preview with nothing changed shows changes:\n%s", stdout)
	}

	// render after up keeps the secret files up wrote, and the user's files.
	write(t, filepath.Join(out, "compose.override.yaml"), "services: {}\n")
	if code, _, stderr := nfx(t, dir, "render", "--stage", "laptop"); code != ExitOK {
		t.Fatalf("render after up: %s", stderr)
	}
	for _, name := range []string{"secrets/postgres_password", "secrets/redis_password", "secrets/tunnel_token", "compose.override.yaml"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("render after up took away %s", name)
		}
	}
	if code, stdout, _ := nfx(t, dir, "preview", "--stage", "laptop"); code != ExitOK || !strings.Contains(stdout, "no changes") {
		t.Errorf("preview after render shows changes:\n%s", stdout)
	}
	// A secret file deleted by hand shows in preview; up writes it back.
	if err := os.Remove(filepath.Join(out, "secrets", "redis_password")); err != nil {
		t.Fatal(err)
	}
	if code, stdout, _ := nfx(t, dir, "preview", "--stage", "laptop"); code != ExitOK || !strings.Contains(stdout, "update=1") || !strings.Contains(stdout, "inSync") {
		t.Errorf("preview does not see the deleted secret file:\n%s", stdout)
	}
	if code, _, stderr := nfx(t, dir, "up", "--stage", "laptop"); code != ExitOK {
		t.Fatalf("up: %s", stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "secrets", "redis_password")); err != nil {
		t.Error("up did not write the deleted secret file back")
	}
	if code, stdout, _ := nfx(t, dir, "preview", "--stage", "laptop"); code != ExitOK || !strings.Contains(stdout, "no changes") {
		t.Errorf("preview after up shows changes:\n%s", stdout)
	}

	// A changed config value shows as an update.
	cfgFile := filepath.Join(dir, "Pulumi.laptop.yaml")
	data, _ := os.ReadFile(cfgFile)
	changed := strings.Replace(string(data), "config:\n", "config:\n  nextflow:crm:\n    cpus: 3\n", 1)
	write(t, cfgFile, changed)
	code, stdout, stderr = nfx(t, dir, "preview", "--stage", "laptop")
	if code != ExitOK {
		t.Fatalf("preview after a change: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "update=2") || !strings.Contains(stdout, "nextflow-crm") {
		t.Errorf("the changed crm.cpus does not show as an update of the CRM and the compose project:\n%s", stdout)
	}

	code, stdout, stderr = nfx(t, dir, "destroy", "--stage", "laptop")
	if code != ExitOK {
		t.Fatalf("destroy: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "compose.yaml")); err == nil {
		t.Error("destroy left the stage's files behind")
	}
	if entries, _ := os.ReadDir(out); len(entries) != 1 || entries[0].Name() != "compose.override.yaml" {
		t.Errorf("destroy must leave the user's file and nothing else: %v", entries)
	}
}

// Render and up with sentinel secrets, then count the sentinels in every
// file written (state, config, output, Pulumi home) and in all output. The
// only place a secret may be in plaintext is its own secret file.
func TestSentinelSecretsNeverInPlaintext(t *testing.T) {
	dir := realEngine(t)
	sentinels := map[string]string{
		"NFX_POSTGRES_PASSWORD": "Sentinel-PG-7f3a9c",
		"NFX_REDIS_PASSWORD":    "Sentinel-RD-91b2e4",
		"NFX_TUNNEL_TOKEN":      testutil.TunnelToken("Sentinel-TK-5d8e01"),
	}
	for k, v := range sentinels {
		t.Setenv(k, v)
	}
	// Watch every process's command line while nfx runs: a secret passed
	// as an argument is readable by every local user.
	stop := make(chan struct{})
	seen := make(chan string, 1)
	go func() {
		for {
			select {
			case <-stop:
				close(seen)
				return
			default:
			}
			procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
			for _, p := range procs {
				data, _ := os.ReadFile(p)
				for _, v := range sentinels {
					if bytes.Contains(data, []byte(v)) {
						select {
						case seen <- strings.ReplaceAll(string(data), "\x00", " "):
						default:
						}
					}
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var transcript bytes.Buffer
	for _, args := range [][]string{
		{"render", "--stage", "laptop"},
		{"plan", "--stage", "laptop", "--json"},
		{"up", "--stage", "laptop"},
		{"preview", "--stage", "laptop"},
	} {
		code, stdout, stderr := nfx(t, dir, args...)
		transcript.WriteString(stdout + stderr)
		if code != ExitOK {
			t.Fatalf("%v: exit %d\n%s\n%s", args, code, stdout, stderr)
		}
	}
	close(stop)
	if cmdline, ok := <-seen; ok {
		t.Errorf("a secret was on a command line: %.80s...", cmdline)
	}
	secretFiles := map[string]string{
		filepath.Join(dir, "out", "laptop", "secrets", "postgres_password"): sentinels["NFX_POSTGRES_PASSWORD"],
		filepath.Join(dir, "out", "laptop", "secrets", "redis_password"):    sentinels["NFX_REDIS_PASSWORD"],
		filepath.Join(dir, "out", "laptop", "secrets", "tunnel_token"):      sentinels["NFX_TUNNEL_TOKEN"],
	}
	count := 0
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if want, ok := secretFiles[path]; ok {
			if string(data) != want {
				t.Errorf("%s does not hold exactly its secret", path)
			}
			return nil
		}
		for _, s := range sentinels {
			if n := bytes.Count(data, []byte(s)); n > 0 {
				rel, _ := filepath.Rel(dir, path)
				t.Errorf("%s holds a secret in plaintext %d times", rel, n)
				count += n
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sentinels {
		count += strings.Count(transcript.String(), s)
	}
	if count != 0 {
		t.Errorf("plaintext secret occurrences: %d, want 0", count)
	}
	if files < 8 {
		t.Errorf("searched only %d files; the state and output are missing", files)
	}
	t.Logf("searched %d files and %d bytes of output: %d plaintext occurrences", files, transcript.Len(), count)
}

// The server stack with the tunnel in token mode needs no provider: the
// real engine runs it end to end.
func TestEngineServerStack(t *testing.T) {
	dir := realEngine(t)
	t.Setenv("NFX_TUNNEL_TOKEN", testutil.TunnelToken("server"))
	code, stdout, stderr := nfx(t, dir, "up", "--stage", "server")
	if code != ExitOK {
		t.Fatalf("up: exit %d\n%s\n%s", code, stdout, stderr)
	}
	out := filepath.Join(dir, "out", "server")
	for _, f := range []string{"stack.yaml", "nginx/nginx.conf", "postgres/failover.sh", "backup/backup.sh"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("up did not write %s", f)
		}
	}
	for _, name := range []string{"postgres_password", "redis_password", "replication_password", "qdrant_api_key", "tunnel_token"} {
		fi, err := os.Stat(filepath.Join(out, "secrets", name))
		if err != nil || fi.Mode().Perm() != 0o444 || fi.Size() == 0 {
			t.Errorf("secret %s: %v %v", name, fi, err)
		}
	}
	code, stdout, stderr = nfx(t, dir, "preview", "--stage", "server")
	if code != ExitOK || !strings.Contains(stdout, "no changes (same=10)") {
		t.Errorf("preview after up: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := nfx(t, dir, "destroy", "--stage", "server"); code != ExitOK {
		t.Fatalf("destroy: %s", stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("destroy left the server's files")
	}
}
