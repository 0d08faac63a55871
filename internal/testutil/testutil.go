// Package testutil holds what nfx's tests share: golden files refreshed
// with `go test ./... -update`, and outside tools that a plain `go test`
// may skip but the README's test command and CI must run. Every test
// package imports it, so that -update is defined everywhere.
package testutil

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
)

// Update rewrites golden files instead of comparing with them.
var Update = flag.Bool("update", false, "rewrite golden files")

// Golden compares got with the golden file at path, or rewrites it with -update.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file %s: %v (run `go test ./... -update` to create it)", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendered output; review the change and run `go test ./... -update`\n%s", path, firstDiff(want, got))
	}
}

func firstDiff(want, got []byte) string {
	wl, gl := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return fmt.Sprintf("line %d:\n  golden: %s\n  got:    %s", i+1, w, g)
		}
	}
	return ""
}

// RequireToolsEnv, set to 1 by the README's test command and CI, turns a
// missing outside tool from a skip into a failure.
const RequireToolsEnv = "NFX_REQUIRE_TOOLS"

// Tool returns the path of an outside binary: on PATH, or in the
// repository's bin/. Without it the test skips, or fails under
// NFX_REQUIRE_TOOLS=1.
func Tool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := filepath.Join(RepoRoot(t), "bin", name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if os.Getenv(RequireToolsEnv) == "1" {
		t.Fatalf("%s is required (%s=1) but is neither on PATH nor in bin/; run .ci/run or scripts/build-pulumi.sh", name, RequireToolsEnv)
	}
	t.Skipf("%s is not installed; skipping (the README's test command installs it)", name)
	return ""
}

// RepoRoot is the directory holding go.mod and Pulumi.yaml.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// GoldenDir compares every rendered file with its golden file under dir,
// and fails on a golden file that nothing renders any more (-update
// removes it), so that a renamed output cannot leave a stale golden
// behind.
func GoldenDir(t testing.TB, dir string, got map[string][]byte) {
	t.Helper()
	for path, data := range got {
		Golden(t, filepath.Join(dir, filepath.FromSlash(path)), data)
	}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if _, ok := got[filepath.ToSlash(rel)]; ok {
			return nil
		}
		if *Update {
			return os.Remove(p)
		}
		t.Errorf("golden file %s is rendered by nothing; run `go test ./... -update` to remove it", p)
		return nil
	})
}

// ServicesConfig is a nextflow:services value the stage tests share: a
// worker that needs the database and the cache and mounts a secret, a
// public web app that needs the AI and the read replica, and an internal
// web app checked by a command.
const ServicesConfig = `[
  {"name": "worker", "kind": "worker", "image": "ghcr.io/acme/worker:1.2.0",
   "command": ["node", "worker.js"], "needs": ["db", "cache"],
   "env": {"DATABASE_URL": "${db.url}", "REDIS_URL": "${cache.url}", "REDIS_SENTINELS": "${cache.sentinels?}", "PRICE": "$5"},
   "secrets": [{"name": "workerApiKey", "env": "API_KEY_FILE"}],
   "health": {"command": "test -f /tmp/healthy", "interval": "20s"},
   "cpus": 1.5, "memory": "768MiB", "replicas": {"server": 3, "cloud": 4}},
  {"name": "admin", "kind": "web", "image": "ghcr.io/acme/admin:2.0.1", "port": 8080,
   "needs": ["ai", "db-read"], "env": {"PUBLIC_URL": "${public.url}", "AI_URL": "${ai.url}", "READ_URL": "${db-read.url}"},
   "health": {"http": "/healthz?deep=1"}, "public": {"hostname": "admin.nextflow.example", "localPort": 3001}},
  {"name": "reports", "kind": "web", "image": "ghcr.io/acme/reports:0.3.0", "port": 9000,
   "needs": ["vector"], "env": {"QDRANT": "${vector.url}"}, "health": {"command": "wget -q -O /dev/null http://127.0.0.1:9000/ready"}}
]`

// ServicesSecrets is the nextflow:secrets value ServicesConfig needs, as a
// stack file holds it.
const ServicesSecrets = `{"workerApiKey": {"secure": "v1:c2VjcmV0"}}`

// TunnelToken is a token of the shape cloudflared takes (base64 of
// {"a","s","t"}, cloudflared 2025.4.0's TunnelToken), its secret from
// seed: distinct seeds give distinct tokens. The test stand-in for a
// Cloudflare Tunnel's token, which nfx checks the shape of.
func TunnelToken(seed string) string {
	b, _ := json.Marshal(map[string]string{"a": "0123456789abcdef0123456789abcdef", "t": "6ff42ae2-765d-4adf-8112-31c55c1551ef",
		"s": base64.StdEncoding.EncodeToString([]byte("tunnel-secret-" + seed))})
	return base64.StdEncoding.EncodeToString(b)
}

// secretPathRE is a container's secret file, as the stages mount them.
var secretPathRE = regexp.MustCompile(`/run/secrets/([A-Za-z0-9_.-]+)`)

// LocalSecrets rewrites a rendered file of dir that names secret files
// under /run/secrets (where a container finds them) to files of the
// test's own, each holding "k3y", so that a tool that opens them (promtool
// checks a scrape's credentials_file) runs here. It returns the names.
func LocalSecrets(t testing.TB, dir, file string) []string {
	t.Helper()
	path := filepath.Join(dir, file)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	secrets := filepath.Join(dir, "secrets")
	if err := os.MkdirAll(secrets, 0o755); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range secretPathRE.FindAllStringSubmatch(string(data), -1) {
		names = append(names, m[1])
		if err := os.WriteFile(filepath.Join(secrets, m[1]), []byte("k3y"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data = secretPathRE.ReplaceAll(data, []byte(secrets+"/$1"))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return names
}
