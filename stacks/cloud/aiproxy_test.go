package cloud

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// fakeLoopbackOllama answers as Ollama 0.5.7 bound to loopback does
// (server/routes.go, allowedHostsMiddleware and allowedHost at v0.5.7): a
// request whose Host is not a loopback, private or unspecified address,
// localhost or a .localhost, .local or .internal name gets 403.
// /api/version answers its version; /api/generate streams three chunks,
// flushed one by one; everything else 404. It records each request's
// Authorization header.
type fakeLoopbackOllama struct {
	mu   sync.Mutex
	auth []string
}

func (f *fakeLoopbackOllama) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	allowed := host == "" || host == "localhost" || strings.HasSuffix(host, ".localhost") || strings.HasSuffix(host, ".local") || strings.HasSuffix(host, ".internal")
	if a, err := netip.ParseAddr(host); err == nil && (a.IsLoopback() || a.IsPrivate() || a.IsUnspecified()) {
		allowed = true
	}
	if !allowed {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	f.mu.Lock()
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	switch r.URL.Path {
	case "/api/version":
		fmt.Fprint(w, `{"version":"0.5.7"}`)
	case "/api/generate":
		for i, tok := range []string{"Hel", "lo", ""} {
			fmt.Fprintf(w, `{"response":%q,"done":%v}`+"\n", tok, i == 2)
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
	default:
		http.NotFound(w, r)
	}
}

// startAIProxy runs this machine's nginx on the AI pod's proxy
// configuration, its paths and ports moved to the test's own and the
// upstreams' addresses replaced as given; it returns the directory and
// the proxy's URL.
func startAIProxy(t *testing.T, conf, key string, upstreams ...[2]string) (string, string) {
	t.Helper()
	nginx := testutil.Tool(t, "nginx")
	dir := t.TempDir()
	port := testutil.FreePort(t)
	for _, r := range append([][2]string{
		{"/tmp/", dir + "/"},
		{"/etc/nfx-ai", dir},
		{fmt.Sprintf("listen %d;", model.OllamaPort), fmt.Sprintf("listen 127.0.0.1:%d;", port)},
	}, upstreams...) {
		if !strings.Contains(conf, r[0]) {
			t.Fatalf("the proxy's configuration has no %q", r[0])
		}
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	for _, d := range []string{"key", "conf"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for path, data := range map[string]string{"conf/nginx.conf": conf, "key/" + aiProxyKeyFile: AIProxyKeyLine(key)} {
		if err := os.WriteFile(filepath.Join(dir, path), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(nginx, "-t", "-c", filepath.Join(dir, "conf", "nginx.conf"), "-e", filepath.Join(dir, "error.log")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	testutil.Daemon(t, dir, "nginx", nil, nginx, "-c", filepath.Join(dir, "conf", "nginx.conf"), "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nginx does not listen")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return dir, fmt.Sprintf("http://127.0.0.1:%d", port)
}

// askProxy sends one request through the AI pod's proxy (with auth as its
// Authorization header and host as its Host, where given) and checks the
// answer's status, its body where want gives one, and that a 401 names
// the Bearer scheme.
func askProxy(t *testing.T, method, url, auth, host, body string, want int, wantBody string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want || (wantBody != "" && string(got) != wantBody) {
		t.Fatalf("%s %s answers %d %q, want %d %q", method, url, resp.StatusCode, got, want, wantBody)
	}
	if want == 401 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("a 401 without WWW-Authenticate: Bearer")
	}
}

// The AI pod's proxy, the rendered nginx configuration run by this
// machine's nginx in front of a loopback Ollama: only "Bearer <the key>"
// passes (compared whatever its case: a key differing in case is refused),
// the key does not reach Ollama, Ollama accepts the proxied Host, answers
// stream through, /api/version passes without a key, model management is
// refused with one. The monitoring's probe, given the key's file, measures
// through it.
func TestAIProxyAsksForTheKey(t *testing.T) {
	const key = "Ai-Key.0_~+/=@%^*!,-zZ"
	ollama := &fakeLoopbackOllama{}
	upstream := httptest.NewServer(ollama)
	defer upstream.Close()
	dir, base := startAIProxy(t, AIProxyConf(), key, [2]string{OllamaLoopback, strings.TrimPrefix(upstream.URL, "http://")})
	for _, tc := range []struct {
		name, method, path, auth string
		want                     int
		body                     string
	}{
		{"no key", "POST", "/api/generate", "", 401, ""},
		{"a wrong key", "POST", "/api/generate", "Bearer not-the-key", 401, ""},
		{"the key in another case", "POST", "/api/generate", "Bearer " + strings.ToLower(key), 401, ""},
		{"the key without Bearer", "POST", "/api/generate", key, 401, ""},
		{"the key with more after it", "POST", "/api/generate", "Bearer " + key + "x", 401, ""},
		{"the key", "POST", "/api/generate", "Bearer " + key, 200, `{"response":"Hel","done":false}` + "\n" + `{"response":"lo","done":false}` + "\n" + `{"response":"","done":true}` + "\n"},
		{"the key, OpenAI's API", "POST", "/v1/chat/completions", "Bearer " + key, 404, ""},
		{"the version, no key", "GET", "/api/version", "", 200, `{"version":"0.5.7"}`},
		{"a pull with the key", "POST", "/api/pull", "Bearer " + key, 403, ""},
		{"a delete with the key", "DELETE", "/api/delete", "Bearer " + key, 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ollama.mu.Lock()
			ollama.auth = nil
			ollama.mu.Unlock()
			// The CRM's Host, the Service's name: Ollama must not see it.
			askProxy(t, tc.method, base+tc.path, tc.auth, "ai:11434", `{"model":"llama3.1:8b","prompt":"hi"}`, tc.want, tc.body)
			ollama.mu.Lock()
			defer ollama.mu.Unlock()
			reached := len(ollama.auth) > 0
			if wantReach := tc.want == 200 || tc.want == 404; reached != wantReach {
				t.Errorf("Ollama reached: %v, want %v", reached, wantReach)
			}
			for _, a := range ollama.auth {
				if a != "" {
					t.Errorf("the key reached Ollama: %q", a)
				}
			}
		})
	}

	// The monitoring's probe, with the key's file, measures through it;
	// without it, it sees the 401.
	keyFile := filepath.Join(dir, "ai_api_key")
	if err := os.WriteFile(keyFile, []byte(key), 0o400); err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(dir, monitoring.ProbeFile)
	if err := os.WriteFile(probe, monitoring.ProbeScript(), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"with the key", []string{model.AIKeyFileEnv + "=" + keyFile}, `nextflow_ollama_probe_status_code{target="ai-0"} 200`},
		{"without", nil, `nextflow_ollama_probe_status_code{target="ai-0"} 401`},
	} {
		out := filepath.Join(dir, "probe-"+strings.ReplaceAll(tc.name, " ", "-"))
		cmd := exec.Command("bash", probe, "once")
		cmd.Env = append(append(os.Environ(), "OUT_DIR="+out, "OLLAMA_MODEL=llama3.1:8b", "PROBE_TIMEOUT=5", "OLLAMA_TARGETS=ai-0="+base), tc.env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("probe %s: %v\n%s", tc.name, err, b)
		}
		metrics, _ := os.ReadFile(filepath.Join(out, "metrics"))
		if !strings.Contains(string(metrics), tc.want+"\n") {
			t.Errorf("probe %s: the metrics lack %q:\n%s", tc.name, tc.want, metrics)
		}
		if strings.Contains(string(metrics), key) {
			t.Errorf("probe %s: the metrics hold the key", tc.name)
		}
	}
}

// fakeVLLM answers as one of vLLM's OpenAI-compatible servers does
// (vllm/entrypoints: /health, /metrics, /v1/models; the chat and
// completion routes only on a generating model's server, /v1/embeddings
// only on a pooling one's). It records each request's path and
// Authorization header.
type fakeVLLM struct {
	name  string
	embed bool
	mu    sync.Mutex
	seen  []string
}

func (f *fakeVLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, r.URL.Path+" "+r.Header.Get("Authorization"))
	f.mu.Unlock()
	switch p := r.URL.Path; {
	case p == "/health":
	case p == "/metrics":
		fmt.Fprintf(w, "vllm:num_requests_waiting{model_name=%q} 0\n", f.name)
	case p == "/v1/models":
		fmt.Fprintf(w, `{"data":[{"id":%q}]}`, f.name)
	case p == "/v1/embeddings" && f.embed:
		fmt.Fprintf(w, `{"model":%q}`, f.name)
	case (p == "/v1/chat/completions" || p == "/v1/completions") && !f.embed:
		for _, tok := range []string{"Hel", "lo"} {
			fmt.Fprintf(w, "data: {\"model\":%q,\"content\":%q}\n\n", f.name, tok)
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	default:
		http.NotFound(w, r)
	}
}

// The AI pod's proxy in front of vLLM, run by this machine's nginx before
// two fake vLLM servers: OpenAI's API only with the key (compared exactly,
// never passed on), the embeddings to the embedding model's server and the
// rest to the LLM's, answers streamed; the health check and both servers'
// metrics without the key; Ollama's API and anything else refused before
// either server. Without an embedding model, its routes are gone.
func TestVLLMProxyRoutesAndAsksForTheKey(t *testing.T) {
	const key = "Ai-Key.0_~+/=@%^*!,-zZ"
	for _, embed := range []bool{true, false} {
		t.Run(fmt.Sprintf("embed=%v", embed), func(t *testing.T) {
			llm, emb := &fakeVLLM{name: "llama3.1:8b"}, &fakeVLLM{name: "nomic-embed-text", embed: true}
			ls, es := httptest.NewServer(llm), httptest.NewServer(emb)
			defer ls.Close()
			defer es.Close()
			upstreams := [][2]string{{fmt.Sprintf("127.0.0.1:%d", model.VLLMLLMPort), strings.TrimPrefix(ls.URL, "http://")}}
			if embed {
				upstreams = append(upstreams, [2]string{fmt.Sprintf("127.0.0.1:%d", model.VLLMEmbedPort), strings.TrimPrefix(es.URL, "http://")})
			}
			_, base := startAIProxy(t, VLLMProxyConf(embed), key, upstreams...)
			stream := "data: {\"model\":\"llama3.1:8b\",\"content\":\"Hel\"}\n\ndata: {\"model\":\"llama3.1:8b\",\"content\":\"lo\"}\n\ndata: [DONE]\n\n"
			embedWant, embedAt, metricsWant := 200, emb, 200
			if !embed {
				embedWant, embedAt, metricsWant = 404, nil, 404
			}
			for _, tc := range []struct {
				name, method, path, auth string
				want                     int
				at                       *fakeVLLM
				body                     string
			}{
				{"chat, no key", "POST", "/v1/chat/completions", "", 401, nil, ""},
				{"chat, a wrong key", "POST", "/v1/chat/completions", "Bearer not-the-key", 401, nil, ""},
				{"chat, the key in another case", "POST", "/v1/chat/completions", "Bearer " + strings.ToUpper(key), 401, nil, ""},
				{"chat, the key without Bearer", "POST", "/v1/chat/completions", key, 401, nil, ""},
				{"chat, the key", "POST", "/v1/chat/completions", "Bearer " + key, 200, llm, stream},
				{"completions, the key", "POST", "/v1/completions", "Bearer " + key, 200, llm, stream},
				{"models, the key", "GET", "/v1/models", "Bearer " + key, 200, llm, `{"data":[{"id":"llama3.1:8b"}]}`},
				{"embeddings, no key", "POST", "/v1/embeddings", "", 401, nil, ""},
				{"embeddings, the key", "POST", "/v1/embeddings", "Bearer " + key, embedWant, embedAt, ""},
				{"health, no key", "GET", "/health", "", 200, llm, ""},
				{"the LLM's metrics, no key", "GET", "/metrics", "", 200, llm, "vllm:num_requests_waiting{model_name=\"llama3.1:8b\"} 0\n"},
				{"the embedder's metrics, no key", "GET", model.VLLMEmbedMetrics, "", metricsWant, embedAt, ""},
				{"Ollama's API, the key", "POST", "/api/generate", "Bearer " + key, 404, nil, ""},
				{"the version, no key", "GET", "/version", "", 404, nil, ""},
				{"the root", "GET", "/", "Bearer " + key, 404, nil, ""},
				// Paths that a looser match would take elsewhere.
				{"embeddings with a slash after, no key", "POST", "/v1/embeddings/", "", 401, nil, ""},
				{"embeddings with a slash after, the key", "POST", "/v1/embeddings/", "Bearer " + key, 404, llm, ""},
				{"a doubled slash, no key", "POST", "//v1/chat/completions", "", 401, nil, ""},
				{"an encoded slash, no key", "POST", "/v1%2Fchat/completions", "", 401, nil, ""},
				{"up from the health check, no key", "POST", "/health/../v1/chat/completions", "", 401, nil, ""},
				{"the metrics with more after, no key", "GET", "/metrics/../v1/models", "", 401, nil, ""},
				{"an encoded dot-dot, no key", "GET", "/metrics/%2e%2e/v1/models", "", 401, nil, ""},
				{"HEAD, no key", "HEAD", "/v1/models", "", 401, nil, ""},
				{"OPTIONS, no key", "OPTIONS", "/v1/chat/completions", "", 401, nil, ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					for _, f := range []*fakeVLLM{llm, emb} {
						f.mu.Lock()
						f.seen = nil
						f.mu.Unlock()
					}
					askProxy(t, tc.method, base+tc.path, tc.auth, "", `{"model":"llama3.1:8b","messages":[]}`, tc.want, tc.body)
					for _, f := range []*fakeVLLM{llm, emb} {
						f.mu.Lock()
						seen := f.seen
						f.mu.Unlock()
						if reached := len(seen) > 0; reached != (f == tc.at) {
							t.Errorf("%s reached: %v (%v)", f.name, reached, seen)
						}
						for _, s := range seen {
							if strings.Contains(s, key) {
								t.Errorf("the key reached %s", f.name)
							}
						}
					}
				})
			}
		})
	}
}
