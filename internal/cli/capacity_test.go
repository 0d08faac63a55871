package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// `nfx capacity` on the project's stack configs: the figures and the
// assumptions they rest on, as text and JSON.
func TestCapacityCommand(t *testing.T) {
	dir := project(t)
	code, out, stderr := nfx(t, dir, "capacity", "--stage", "server")
	if code != 0 {
		t.Fatal(stderr)
	}
	for _, want := range []string{"concurrent users   631", "AI requests/s      94.69", "within", "2 x NVIDIA GeForce RTX 4090", "assumes: a concurrent user makes 0.15 AI requests"} {
		if !strings.Contains(out, want) {
			t.Errorf("%q not in:\n%s", want, out)
		}
	}
	code, out, stderr = nfx(t, dir, "capacity", "--stage", "cloud", "--json")
	if code != 0 {
		t.Fatal(stderr)
	}
	var e struct {
		Stage string  `json:"stage"`
		Users int     `json:"concurrentUsers"`
		AI    float64 `json:"aiRequestsPerSecond"`
		Reach *struct {
			MoreGPUs int `json:"moreGPUs"`
		} `json:"reach"`
		Seed []struct {
			Within bool `json:"within"`
		} `json:"seed"`
	}
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatal(err, out)
	}
	if e.Stage != "cloud" || e.Users == 0 || e.AI == 0 || e.Reach == nil || e.Reach.MoreGPUs == 0 || len(e.Seed) != 4 {
		t.Errorf("cloud estimate %+v", e)
	}
}

// Bad input names the key and the fix, and nothing is printed as a result.
func TestCapacityBadInput(t *testing.T) {
	dir := project(t)
	for _, c := range []struct {
		config string
		want   []string
	}{
		{"config:\n  nextflow:capacity: {aiPerUser: -1}\n", []string{"nextflow:capacity.aiPerUser", "got -1"}},
		{"config:\n  nextflow:ai: {gpu: false}\n", []string{"nextflow:ai.gpu", "CPU"}},
	} {
		write(t, filepath.Join(dir, "bad.yaml"), c.config)
		code, out, stderr := nfx(t, dir, "capacity", "--stage", "laptop", "--config", "bad.yaml")
		if code != ExitUsage {
			t.Errorf("%s: exit %d; out:\n%s", c.config, code, out)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%q not in %q", w, stderr)
			}
		}
		if strings.Contains(out, "METRIC") {
			t.Errorf("a partial estimate was printed:\n%s", out)
		}
	}
	if code, _, stderr := nfx(t, dir, "capacity", "--stage", "moon"); code != ExitUsage || !strings.Contains(stderr, "moon") {
		t.Errorf("unknown stage: exit %d, %q", code, stderr)
	}
}
