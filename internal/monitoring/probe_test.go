package monitoring

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"

	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// stubOllama answers /api/generate as Ollama 0.5 does with stream false
// (its duration fields in nanoseconds), or 503 as a full queue does, and
// /api/ps with one model partly in VRAM.
func stubOllama(t *testing.T, status int, seen *atomic.Value) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/generate":
			body, _ := io.ReadAll(r.Body)
			if seen != nil {
				seen.Store(string(body))
			}
			if status != 200 {
				http.Error(w, `{"error":"server busy, please try again.  maximum pending requests exceeded"}`, status)
				return
			}
			// The answer's text holds what looks like a field: the probe
			// must read the top-level one.
			fmt.Fprint(w, `{"model":"llama3.1:8b","created_at":"2026-12-03T09:00:00Z","response":"OK \"eval_count\":999",`+
				`"done":true,"done_reason":"length","context":[1,2,3],"total_duration":1500000000,"load_duration":200000000,`+
				`"prompt_eval_count":14,"prompt_eval_duration":50000000,"eval_count":8,"eval_duration":160000000}`)
		case "/api/ps":
			fmt.Fprint(w, `{"models":[{"name":"llama3.1:8b","model":"llama3.1:8b","size":6654289920,"digest":"46e0c10c039e",`+
				`"details":{"parent_model":"","format":"gguf","family":"llama","families":["llama"],"parameter_size":"8.0B","quantization_level":"Q4_K_M"},`+
				`"expires_at":"2026-12-03T09:05:00Z","size_vram":5368709120}]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func writeProbe(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), ProbeFile)
	if err := os.WriteFile(p, ProbeScript(), 0o755); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(testutil.Tool(t, "shellcheck"), p).CombinedOutput(); err != nil {
		t.Fatalf("shellcheck %s: %v\n%s", ProbeFile, err, b)
	}
	return p
}

// One probe round over a healthy node, a node whose queue is full and a
// node that does not answer: tokens/s and time to first token from
// Ollama's fields, the 503 as a full queue, the VRAM of what is loaded,
// in a file promtool accepts. A model name with quotes reaches Ollama as
// valid JSON.
func TestOllamaProbeMeasuresWhatUsersFeel(t *testing.T) {
	promtool := testutil.Tool(t, "promtool")
	testutil.Tool(t, "curl")
	var seen atomic.Value
	ok := stubOllama(t, 200, &seen)
	busy := stubOllama(t, 503, nil)
	down := fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t))
	out := t.TempDir()
	script := writeProbe(t)
	model := `llama3.1:8b"weird\name`
	{
		cmd := exec.Command("bash", script, "once")
		cmd.Env = append(os.Environ(), "OUT_DIR="+out, "OLLAMA_MODEL="+model, "PROBE_TIMEOUT=5",
			fmt.Sprintf("OLLAMA_TARGETS=ai-1=%s ai-2=%s ai-3=%s", ok.URL, busy.URL, down))
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("probe: %v\n%s", err, b)
		}
	}
	var req struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	if err := json.Unmarshal([]byte(seen.Load().(string)), &req); err != nil || req.Model != model || req.Stream {
		t.Fatalf("the probe sent %q (%v)", seen.Load(), err)
	}
	metrics, err := os.ReadFile(filepath.Join(out, "metrics"))
	if err != nil {
		t.Fatal(err)
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = bytes.NewReader(metrics)
	if b, err := check.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\n%s", err, b, metrics)
	}
	for _, want := range []string{
		ProbeSuccess + `{target="ai-1"} 1`,
		TokensPerSec + `{target="ai-1"} 50`,  // 8 tokens in 0.16 s
		TimeToFirst + `{target="ai-1"} 0.25`, // 0.2 s load + 0.05 s prompt
		ModelVRAM + `{target="ai-1",model="llama3.1:8b"} 5368709120`,
		ModelSize + `{target="ai-1",model="llama3.1:8b"} 6654289920`,
		`nextflow_ollama_probes_total{target="ai-1",result="ok"} 1`,
		ProbeSuccess + `{target="ai-2"} 0`,
		ProbeQueueFull + `{target="ai-2"} 1`,
		`nextflow_ollama_probe_status_code{target="ai-2"} 503`,
		`nextflow_ollama_probes_total{target="ai-2",result="failed"} 1`,
		ProbeSuccess + `{target="ai-3"} 0`,
		ProbeQueueFull + `{target="ai-3"} 0`,
		`nextflow_ollama_probe_status_code{target="ai-3"} 0`,
	} {
		if !strings.Contains(string(metrics), want+"\n") {
			t.Errorf("the metrics lack %q:\n%s", want, metrics)
		}
	}
	if strings.Contains(string(metrics), TokensPerSec+`{target="ai-2"}`) {
		t.Error("a failed probe reports a speed")
	}
}

// serve: nginx serves the probe's file and the file is refreshed.
func TestOllamaProbeServes(t *testing.T) {
	testutil.Tool(t, "nginx")
	testutil.Tool(t, "curl")
	ok := stubOllama(t, 200, nil)
	port := testutil.FreePort(t)
	out := t.TempDir()
	// As in the container, where the probe's directory is under /tmp:
	// nginx's unprivileged workers must reach it.
	for d := out; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755)
	}
	cmd := exec.Command("bash", writeProbe(t), "serve")
	cmd.Env = append(os.Environ(), "OUT_DIR="+out, "OLLAMA_MODEL=llama3.1:8b", "PROBE_SECONDS=1",
		fmt.Sprintf("PROBE_PORT=%d", port), "OLLAMA_TARGETS=ai="+ok.URL)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	stamps := map[string]bool{}
	waitFor(t, "two rounds served", 20*time.Second, func() (bool, string) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
		if err != nil {
			return false, err.Error() + "\n" + log.String()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			return false, "content type " + resp.Header.Get("Content-Type")
		}
		for _, l := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(l, "nextflow_ollama_probes_total") && strings.Contains(l, `result="ok"`) {
				stamps[l] = true
			}
		}
		return len(stamps) >= 2, string(body)
	})
}

// The probe is its service's PID 1: SIGTERM stops it at once (its EXIT
// trap makes bash handle SIGTERM; without a handler the kernel drops the
// signal there, and the engine kills it after the grace period).
func TestOllamaProbeStopsOnSIGTERM(t *testing.T) {
	testutil.Tool(t, "nginx")
	testutil.Tool(t, "curl")
	ok := stubOllama(t, 200, nil)
	out := t.TempDir()
	for d := out; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755)
	}
	log, err := testutil.StopsAsPID1(t, []string{"OUT_DIR=" + out, "OLLAMA_MODEL=llama3.1:8b", "PROBE_SECONDS=3600",
		fmt.Sprintf("PROBE_PORT=%d", testutil.FreePort(t)), "OLLAMA_TARGETS=ai=" + ok.URL}, 2*time.Second, 3*time.Second,
		"bash", writeProbe(t), "serve")
	if err != nil {
		t.Fatalf("the probe as PID 1 does not stop on SIGTERM: %v\n%s", err, log)
	}
}
