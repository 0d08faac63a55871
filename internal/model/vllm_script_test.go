package model

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// fakeVLLMEnv makes the test binary play `vllm serve` (TestFakeVLLMServe).
const fakeVLLMEnv = "NFX_TEST_FAKE_VLLM"

// TestFakeVLLMServe is `vllm serve REPO --served-model-name NAME --port N
// ...` when the AI container's script runs it in the tests below: it logs
// its start to $FAKE_LOG, listens on the port after $FAKE_LOAD_<NAME>
// seconds (a model's load), answers /health 200 (or 503 with
// $FAKE_DEAD_<NAME>), exits with $FAKE_EXIT_<NAME> after
// $FAKE_LIFE_<NAME> seconds if set, and logs a SIGTERM before it stops.
func TestFakeVLLMServe(t *testing.T) {
	if os.Getenv(fakeVLLMEnv) != "1" {
		t.Skip("run by the AI container's script only")
	}
	args := flagArgs()
	name, port := args["--served-model-name"], args["--port"]
	key := strings.NewReplacer(":", "_", ".", "_", "-", "_").Replace(name)
	logf := func(format string, a ...any) {
		f, err := os.OpenFile(os.Getenv("FAKE_LOG"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, format+"\n", a...)
			f.Close()
		}
	}
	logf("start %s %s", name, strings.Join(os.Args[len(os.Args)-len(args)*2:], " "))
	term := make(chan os.Signal, 1)
	signalNotify(term)
	if s := os.Getenv("FAKE_LIFE_" + key); s != "" {
		d, _ := strconv.ParseFloat(s, 64)
		go func() {
			time.Sleep(time.Duration(d * float64(time.Second)))
			code, _ := strconv.Atoi(os.Getenv("FAKE_EXIT_" + key))
			logf("exit %s %d", name, code)
			os.Exit(code)
		}()
	}
	if s := os.Getenv("FAKE_LOAD_" + key); s != "" {
		d, _ := strconv.ParseFloat(s, 64)
		time.Sleep(time.Duration(d * float64(time.Second)))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		logf("listen %s: %v", name, err)
		os.Exit(2)
	}
	logf("ready %s", name)
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && os.Getenv("FAKE_DEAD_"+key) == "1" {
			w.WriteHeader(503)
		}
	}))
	<-term
	logf("term %s", name)
	os.Exit(0)
}

// flagArgs reads the --flag value pairs after `serve REPO`.
func flagArgs() map[string]string {
	out := map[string]string{}
	a := os.Args
	for i := range a {
		if strings.HasPrefix(a[i], "--") && i+1 < len(a) && !strings.HasPrefix(a[i+1], "--") {
			out[a[i]] = a[i+1]
		}
	}
	return out
}

// runAIScript runs the AI container's script as the cloud's pod does, with
// a `vllm` on PATH that is this test binary, and the environment the model
// gives it plus extra.
func runAIScript(t *testing.T, cfg *Config, extra ...string) (*exec.Cmd, string) {
	t.Helper()
	testutil.Tool(t, "curl")
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	stub := fmt.Sprintf("#!/bin/sh\nexec %q -test.run='^TestFakeVLLMServe$' -- \"$@\"\n", self)
	if err := os.WriteFile(filepath.Join(dir, "vllm"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	svc := aiService(cfg)
	llm, emb := testutil.FreePort(t), testutil.FreePort(t)
	env := append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), fakeVLLMEnv+"=1", "FAKE_LOG="+filepath.Join(dir, "log"))
	for k, v := range svc.Env {
		switch k {
		case "NFX_LLM_PORT":
			v = strconv.Itoa(llm)
		case "NFX_EMBED_PORT":
			v = strconv.Itoa(emb)
		case "HOME", "XDG_CACHE_HOME", "HF_HOME", "VLLM_CACHE_ROOT":
			v = dir
		}
		env = append(env, k+"="+v)
	}
	cmd := exec.Command(svc.Entrypoint[0], svc.Entrypoint[1:]...)
	cmd.Env = append(env, extra...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	return cmd, filepath.Join(dir, "log")
}

func readLog(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	for s := bufio.NewScanner(f); s.Scan(); {
		out = append(out, s.Text())
	}
	return out
}

// waitLog waits for a line of the fakes' log.
func waitLog(t *testing.T, path, line string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range readLog(path) {
			if strings.HasPrefix(l, line) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %q in the log: %v", line, readLog(path))
}

// The AI container's script, run for real with two fake vLLM servers: the
// embedding model's starts first and the LLM's only once it answers its
// health check (vLLM checks its memory share against the free memory at
// start); either one ending ends the container with its status, the other
// stopped; SIGTERM from the kubelet stops both; without an embedding model
// only the LLM's runs. The readiness and liveness checks answer as the
// probes need.
func TestVLLMContainerScript(t *testing.T) {
	cfg, ds := Load("cloud", raw(vllmOn(nil)), LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	exitOf := func(err error) int {
		if e, ok := err.(*exec.ExitError); ok {
			return e.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	}
	t.Run("the embedder first, then the LLM, and the LLM's end ends both", func(t *testing.T) {
		t.Parallel()
		cmd, log := runAIScript(t, cfg, "FAKE_LOAD_nomic_embed_text=1", "FAKE_LIFE_llama3_1_8b=2", "FAKE_EXIT_llama3_1_8b=3")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		status := exitOf(cmd.Wait())
		lines := strings.Join(readLog(log), "\n")
		order := []string{"start nomic-embed-text", "ready nomic-embed-text", "start llama3.1:8b", "ready llama3.1:8b", "exit llama3.1:8b 3", "term nomic-embed-text"}
		at := 0
		for _, want := range order {
			i := strings.Index(lines[at:], want)
			if i < 0 {
				t.Fatalf("the log lacks %q after position %d:\n%s", want, at, lines)
			}
			at += i
		}
		if status != 3 {
			t.Errorf("the container ended with %d, want the LLM's 3", status)
		}
		for _, flag := range []string{"--runner pooling", "--trust-remote-code", "--gpu-memory-utilization 0.08", "--gpu-memory-utilization 0.82", "--max-model-len 2048", "--max-num-seqs 256", "--host 127.0.0.1"} {
			if !strings.Contains(lines, flag) {
				t.Errorf("no server was started with %s:\n%s", flag, lines)
			}
		}
	})
	t.Run("an embedder that dies before it is healthy ends the container, and the LLM never starts", func(t *testing.T) {
		t.Parallel()
		cmd, log := runAIScript(t, cfg, "FAKE_LOAD_nomic_embed_text=30", "FAKE_LIFE_nomic_embed_text=0.5", "FAKE_EXIT_nomic_embed_text=0")
		out, err := cmd.CombinedOutput()
		if status := exitOf(err); status == 0 || strings.Contains(strings.Join(readLog(log), "\n"), "start llama3.1:8b") {
			t.Errorf("status %d, log %v", status, readLog(log))
		}
		if !strings.Contains(string(out), "stopped before it was healthy") {
			t.Errorf("no word of the embedder's end: %s", out)
		}
	})
	t.Run("a server that ends with 0 still ends the container as failed", func(t *testing.T) {
		t.Parallel()
		cmd, _ := runAIScript(t, cfg, "FAKE_LIFE_nomic_embed_text=2", "FAKE_EXIT_nomic_embed_text=0")
		if status := exitOf(cmd.Run()); status != 1 {
			t.Errorf("status %d, want 1", status)
		}
	})
	t.Run("SIGTERM stops both", func(t *testing.T) {
		t.Parallel()
		cmd, log := runAIScript(t, cfg)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitLog(t, log, "ready llama3.1:8b")
		// Ready and alive, as the probes run them.
		for _, check := range []string{aiService(cfg).Health.Shell, VLLMAlive} {
			probe := exec.Command("/bin/bash", "-c", check)
			probe.Env = cmd.Env
			if out, err := probe.CombinedOutput(); err != nil {
				t.Errorf("%q fails on healthy servers: %v %s", check, err, out)
			}
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if status := exitOf(cmd.Wait()); status != 143 {
			t.Errorf("status %d after SIGTERM, want 143", status)
		}
		lines := strings.Join(readLog(log), "\n")
		if !strings.Contains(lines, "term llama3.1:8b") || !strings.Contains(lines, "term nomic-embed-text") {
			t.Errorf("not both servers were stopped:\n%s", lines)
		}
	})
	t.Run("a dead engine fails the liveness check, a slow one does not", func(t *testing.T) {
		t.Parallel()
		cmd, log := runAIScript(t, cfg, "FAKE_DEAD_nomic_embed_text=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The embedder answers 503 from the start: the script waits for it.
		waitLog(t, log, "ready nomic-embed-text")
		time.Sleep(time.Second)
		if strings.Contains(strings.Join(readLog(log), "\n"), "start llama3.1:8b") {
			t.Error("the LLM started beside an unhealthy embedder")
		}
		probe := exec.Command("/bin/bash", "-c", VLLMAlive)
		probe.Env = cmd.Env
		if err := probe.Run(); err == nil {
			t.Error("the liveness check passes on a server answering 503")
		}
		// A port nothing listens on yet (the LLM's, still to start) is
		// not a dead engine.
		probe = exec.Command("/bin/bash", "-c", VLLMAlive)
		probe.Env = append(append([]string{}, cmd.Env...), "NFX_EMBED_REPO=")
		if out, err := probe.CombinedOutput(); err != nil {
			t.Errorf("the liveness check fails on a server still loading: %v %s", err, out)
		}
	})
	const llmRev, codeRev = "0123456789abcdef0123456789abcdef01234567", "89abcdef0123456789abcdef0123456789abcdef"
	pinned, ds := Load("cloud", raw(vllmOn(map[string]string{"cloud": `{"aiEngine": "vllm", "vllmRevisions": {"meta-llama/Llama-3.1-8B-Instruct": "` + llmRev + `", "nomic-ai/nomic-bert-2048": "` + codeRev + `"}}`})), LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	t.Run("the pinned commits reach the servers' flags", func(t *testing.T) {
		t.Parallel()
		cmd, log := runAIScript(t, pinned, "FAKE_LIFE_llama3_1_8b=1", "FAKE_EXIT_llama3_1_8b=5")
		if status := exitOf(cmd.Run()); status != 5 {
			t.Errorf("status %d, want 5", status)
		}
		lines := readLog(log)
		var llm, emb string
		for _, l := range lines {
			if strings.HasPrefix(l, "start llama3.1:8b") {
				llm = l
			}
			if strings.HasPrefix(l, "start nomic-embed-text") {
				emb = l
			}
		}
		if !strings.Contains(llm, "--revision "+llmRev+" --tokenizer-revision "+llmRev) || strings.Contains(emb, "--revision") || !strings.Contains(emb, "--code-revision "+codeRev) {
			t.Errorf("flags:\n%s\n%s", llm, emb)
		}
	})
	noEmbed, ds := Load("cloud", raw(vllmOn(map[string]string{"ai": `{"embeddingModel": ""}`})), LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	t.Run("no embedding model: the LLM's server alone", func(t *testing.T) {
		t.Parallel()
		cmd, log := runAIScript(t, noEmbed, "FAKE_LIFE_llama3_1_8b=1", "FAKE_EXIT_llama3_1_8b=7")
		if status := exitOf(cmd.Run()); status != 7 {
			t.Errorf("status %d, want 7", status)
		}
		if lines := strings.Join(readLog(log), "\n"); strings.Contains(lines, "nomic") || !strings.Contains(lines, "start llama3.1:8b") {
			t.Errorf("log:\n%s", lines)
		}
	})
}

func signalNotify(c chan os.Signal) { signal.Notify(c, syscall.SIGTERM) }
