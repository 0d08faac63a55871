package cli

import (
	"encoding/json"
	"github.com/nextflow-crm/nfx/internal/files"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

func TestRenderDefaultsMatchesGolden(t *testing.T) {
	dir := project(t)
	code, stdout, stderr := nfx(t, dir, "render", "--stage", "laptop")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, err := os.ReadFile(filepath.Join(dir, "out", "laptop", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join(testutil.RepoRoot(t), "stacks", "laptop", "testdata", "default", "compose.yaml"), got)
	if !strings.Contains(stdout, "compose.yaml") {
		t.Errorf("render does not say what it wrote: %q", stdout)
	}
	// Rendering again gives identical bytes.
	if code, _, stderr := nfx(t, dir, "render", "--stage", "laptop"); code != ExitOK {
		t.Fatal(stderr)
	}
	again, _ := os.ReadFile(filepath.Join(dir, "out", "laptop", "compose.yaml"))
	if string(again) != string(got) {
		t.Error("rendering twice gave different bytes")
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "out", "laptop"))
	if len(entries) != 2 || entries[0].Name() != files.MarkerDir || entries[1].Name() != "compose.yaml" {
		t.Errorf("render wrote %v; secret files are for up only", entries)
	}
}

func TestPlanJSONShape(t *testing.T) {
	dir := project(t)
	code, stdout, stderr := nfx(t, dir, "plan", "--stage", "laptop", "--json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var plan struct {
		Stage     string `json:"stage"`
		Resources []struct {
			Type   string         `json:"type"`
			Name   string         `json:"name"`
			Parent string         `json:"parent"`
			Inputs map[string]any `json:"inputs"`
		} `json:"resources"`
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	if err := dec.Decode(&plan); err != nil {
		t.Fatal(err)
	}
	if plan.Stage != "laptop" || len(plan.Resources) != 9 {
		t.Fatalf("plan: stage %q with %d resources", plan.Stage, len(plan.Resources))
	}
	for _, r := range plan.Resources {
		if r.Type == "" || r.Name == "" || r.Parent == "" || r.Inputs == nil {
			t.Errorf("incomplete resource %+v", r)
		}
	}
	code, text, _ := nfx(t, dir, "plan", "--stage", "laptop")
	if code != ExitOK || !strings.Contains(text, "nextflow:laptop:ComposeProject") || !strings.Contains(text, "9 resources on stage laptop") {
		t.Errorf("text plan:\n%s", text)
	}
}

// Each bad config exits 2, names the key path, and leaves no output behind.
func TestBadConfigs(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		config string
		want   []string
	}{
		{"unknown stage", []string{"render", "--stage", "desktop"}, "", []string{`unknown stage "desktop"`}},
		{"replicas 0", []string{"render", "--stage", "laptop"}, "config:\n  nextflow:crm: {replicas: 0}\n", []string{"nextflow:crm.replicas", "got 0"}},
		{"unpinned image", []string{"render", "--stage", "laptop"}, "config:\n  nextflow:qdrant: {image: qdrant/qdrant}\n", []string{"nextflow:qdrant.image", "qdrant/qdrant:<version>"}},
		{"missing required key for managed tunnel", []string{"render", "--stage", "laptop"}, "config:\n  nextflow:tunnel: {mode: managed}\n", []string{"nextflow:tunnel.accountId", "nextflow:tunnel.zoneId"}},
		{"missing tunnel token for up", []string{"up", "--stage", "laptop"}, "config:\n  nextflow:tunnel: {mode: token}\n", []string{"nextflow:tunnelToken", "NFX_TUNNEL_TOKEN"}},
		{"wrong type", []string{"plan", "--stage", "laptop"}, "config:\n  nextflow:ai: {gpu: maybe}\n", []string{"nextflow:ai.gpu", "a boolean", `"maybe"`}},
		{"model larger than VRAM", []string{"render", "--stage", "laptop"}, "config:\n  nextflow:ai: {model: qwen2.5:14b}\n", []string{"nextflow:ai.model", "11.5 GiB", "8.0 GiB of VRAM"}},
		{"invalid tunnel mode", []string{"render", "--stage", "laptop"}, "config:\n  nextflow:tunnel: {mode: ssh}\n", []string{"nextflow:tunnel.mode", `"ssh"`}},
		{"unknown key", []string{"render", "--stage", "laptop"}, "config:\n  nextflow:gpu: true\n", []string{"nextflow:gpu", "unknown config key"}},
		{"not YAML", []string{"render", "--stage", "laptop"}, "config:\n  nextflow:crm: {replicas: 1\n", []string{"not valid YAML"}},
		{"stage mismatch", []string{"render", "--stage", "laptop"}, "config:\n  nextflow:stage: cloud\n", []string{"nextflow:stage", `"cloud"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := project(t)
			args := tc.args
			if tc.config != "" {
				write(t, filepath.Join(dir, "bad.yaml"), tc.config)
				args = append(args, "--config", "bad.yaml")
			}
			out := filepath.Join(dir, "rendered")
			if args[0] == "render" {
				args = append(args, "--out", out)
			}
			code, stdout, stderr := nfx(t, dir, args...)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d; stderr: %s", code, ExitUsage, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("%q is not in:\n%s", w, stderr)
				}
			}
			if stdout != "" {
				t.Errorf("a failed command printed to stdout: %q", stdout)
			}
			for _, d := range []string{out, filepath.Join(dir, "out"), filepath.Join(dir, ".nfx")} {
				if _, err := os.Stat(d); err == nil {
					t.Errorf("%s exists after a failed command", d)
				}
			}
		})
	}
}

// A failed render leaves an earlier render untouched.
func TestFailedRenderKeepsEarlierOutput(t *testing.T) {
	dir := project(t)
	if code, _, stderr := nfx(t, dir, "render", "--stage", "laptop"); code != ExitOK {
		t.Fatal(stderr)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "out", "laptop", "compose.yaml"))
	write(t, filepath.Join(dir, "bad.yaml"), "config:\n  nextflow:crm: {replicas: 0}\n")
	if code, _, _ := nfx(t, dir, "render", "--stage", "laptop", "--config", "bad.yaml"); code != ExitUsage {
		t.Fatalf("exit %d", code)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "out", "laptop", "compose.yaml"))
	if string(before) != string(after) {
		t.Error("a failed render changed the earlier output")
	}
}

// The cloud stage renders its Kubernetes manifests and resources.json.
func TestRenderCloud(t *testing.T) {
	dir := project(t)
	out := filepath.Join(dir, "cloud")
	code, _, stderr := nfx(t, dir, "render", "--stage", "cloud", "--out", out)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	manifests, _ := filepath.Glob(filepath.Join(out, "k8s", "*.yaml"))
	if len(manifests) < 15 {
		t.Errorf("%d manifests", len(manifests))
	}
	js, err := os.ReadFile(filepath.Join(out, "resources.json"))
	if err != nil || !strings.Contains(string(js), `"stage": "cloud"`) || !strings.Contains(string(js), "aws:rds/instance:Instance") {
		t.Errorf("resources.json: %v", err)
	}
}

// The server stage renders the Swarm stack and every file it mounts, the
// same bytes as the package's golden files.
func TestRenderServer(t *testing.T) {
	dir := project(t)
	out := filepath.Join(dir, "srv")
	code, stdout, stderr := nfx(t, dir, "render", "--stage", "server", "--out", out)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	golden := filepath.Join(testutil.RepoRoot(t), "stacks", "server", "testdata", "default")
	n := 0
	err := filepath.WalkDir(golden, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(golden, path)
		got, err := os.ReadFile(filepath.Join(out, rel))
		if err != nil {
			t.Errorf("render did not write %s", rel)
			return nil
		}
		testutil.Golden(t, path, got)
		n++
		return nil
	})
	if err != nil || n < 10 {
		t.Fatalf("compared %d files: %v", n, err)
	}
	if fi, err := os.Stat(filepath.Join(out, "backup", "backup.sh")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("backup.sh is not executable: %v", fi)
	}
	if !strings.Contains(stdout, "stack.yaml") {
		t.Errorf("stdout: %s", stdout)
	}
}
