package server

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// localNginx renders nginx.conf for loopback upstreams and private paths.
func localNginx(t *testing.T, crm, ai []string) (NginxParams, string) {
	dir := t.TempDir()
	p := NginxDefaults(testApp(t, "server", nil))
	p.Listen = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p.CRM, p.AI = crm, ai
	if p.Grafana != "" {
		// Grafana's location goes to the CRM's upstream here: a request to
		// it shows the path nginx passes on.
		p.Grafana = crm[0]
	}
	// The test client is one address sending fast: allow it, as a busy
	// office behind one NAT would need.
	p.RateLimit, p.Burst, p.AIBurst = 10000, 10000, 10000
	p.PidFile = filepath.Join(dir, "nginx.pid")
	p.AccessLog = filepath.Join(dir, "access.log")
	p.ErrorLog = filepath.Join(dir, "error.log")
	p.TempDir = dir
	p.StatusListen = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	// Loopback addresses, and Debian's nginx 1.22 here has no `resolve`.
	p.Resolver = ""
	conf, err := NginxConf(p)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, file
}

// The Swarm nginx.conf as rendered passes `nginx -t`. Service names do not
// resolve here, so upstream hosts are swapped for loopback ones; every
// other line is the rendered one.
func TestNginxConfigPassesNginxT(t *testing.T) {
	for name, values := range serverVariants {
		t.Run(name, func(t *testing.T) { nginxT(t, values) })
	}
}

func nginxT(t *testing.T, values map[string]string) {
	nginx := testutil.Tool(t, "nginx")
	files := renderServer(t, values)
	conf := string(files["nginx/nginx.conf"])
	p := NginxDefaults(testApp(t, "server", values))
	ups := append(p.CRM, p.AI...)
	for _, site := range p.Sites {
		ups = append(ups, site.Servers...)
	}
	if p.Grafana != "" {
		ups = append(ups, p.Grafana)
	}
	for _, up := range ups {
		host, port, _ := strings.Cut(up, ":")
		conf = strings.ReplaceAll(conf, "server "+host+":"+port+" ", "server 127.0.0.1:"+port+" ")
	}
	dir := t.TempDir()
	conf = strings.ReplaceAll(conf, "pid /tmp/nginx.pid;", "pid "+dir+"/nginx.pid;")
	conf = withoutResolve(t, conf)
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(nginx, "-t", "-q", "-c", file, "-e", filepath.Join(dir, "error.log")).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t rejects the rendered config: %v\n%s", err, out)
	}
	for _, up := range p.AI {
		if !strings.Contains(conf, "server "+strings.Replace(up, strings.Split(up, ":")[0], "127.0.0.1", 1)) {
			t.Errorf("AI node %s is not in the ai upstream", up)
		}
	}
	for _, want := range []string{"server_tokens off;", "max_fails=3 fail_timeout=10s", "proxy_next_upstream error timeout http_502", "keepalive 32;", "limit_req zone=per_client", "client_max_body_size 20m;", "proxy_buffering off;", "$connection_upgrade", "upstream=$upstream_addr"} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
}

// withoutResolve is the rendered config as Debian's nginx 1.22 (this
// machine's, and the stand-in's) takes it: the pinned nginx 1.27.3 has
// `resolve` on upstream servers, which 1.22 refuses. The lines it drops
// are checked by TestNginxFollowsUpstreamAddresses.
func withoutResolve(t *testing.T, conf string) string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(conf, "\n") {
		switch f := strings.Fields(line); {
		case len(f) > 0 && (f[0] == "resolver" || f[0] == "resolver_timeout"):
			continue
		case len(f) > 1 && f[0] == "server" && strings.HasSuffix(line, " resolve;"):
			line = strings.TrimSuffix(line, " resolve;") + ";"
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// The pinned nginx (1.27.3) re-resolves each upstream server's name while
// it runs when the server has `resolve`, in an upstream with a shared
// memory zone, with a resolver defined; without `resolve` it resolves a
// name once, at start, and refuses to start when it does not resolve
// (nginx release-1.27.3, src/http/ngx_http_upstream.c: `resolve` is parsed
// only with NGX_HTTP_UPSTREAM_ZONE and sets u.no_resolve; CHANGES 1.27.3).
// Every service is DNS round robin: its tasks' addresses change on an
// update, and a name with no task (an AI node lost) does not resolve. So
// every upstream server of every render resolves at run time through the
// engine's DNS.
func TestNginxFollowsUpstreamAddresses(t *testing.T) {
	for name, values := range serverVariants {
		t.Run(name, func(t *testing.T) {
			conf := string(renderServer(t, values)["nginx/nginx.conf"])
			if !strings.Contains(conf, "\n    resolver "+DockerDNS+" valid=5s ipv6=off;\n") {
				t.Errorf("no resolver at the http level naming the engine's DNS (%s)", DockerDNS)
			}
			servers := 0
			var upstream string
			zoned := map[string]bool{}
			for _, line := range strings.Split(conf, "\n") {
				f := strings.Fields(line)
				switch {
				case len(f) == 3 && f[0] == "upstream" && f[2] == "{":
					upstream = f[1]
				case len(f) > 1 && f[0] == "zone" && upstream != "":
					zoned[upstream] = true
				case len(f) == 1 && f[0] == "}":
					upstream = ""
				case len(f) > 1 && f[0] == "server" && upstream != "":
					servers++
					if f[len(f)-1] != "resolve;" {
						t.Errorf("upstream %s: %q is resolved only at start", upstream, strings.TrimSpace(line))
					}
					if !zoned[upstream] {
						t.Errorf("upstream %s: `resolve` needs a zone before its servers", upstream)
					}
				}
			}
			if servers < 3 {
				t.Errorf("checked only %d upstream servers", servers)
			}
		})
	}
}

// nginx from the rendered config, in front of three stub CRM backends,
// keeps serving when one backend is killed in the middle of a run.
func TestNginxSurvivesABackendDying(t *testing.T) {
	nginx := testutil.Tool(t, "nginx")
	var served [3]atomic.Int64
	var backends [3]*httptest.Server
	var addrs []string
	for i := range backends {
		i := i
		backends[i] = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			served[i].Add(1)
			fmt.Fprintf(w, "crm-%d", i)
		}))
		defer backends[i].Close()
		addrs = append(addrs, strings.TrimPrefix(backends[i].URL, "http://"))
	}
	ai := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ai") }))
	defer ai.Close()
	p, file := localNginx(t, addrs, []string{strings.TrimPrefix(ai.URL, "http://")})

	base, client := runNginx(t, nginx, p, file)
	// The nginx exporter's stub_status, on its own listener only.
	for url, want := range map[string]string{"http://" + p.StatusListen + "/stub_status": "Active connections", base + "/stub_status": ""} {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want != "" && (resp.StatusCode != 200 || !strings.Contains(string(body), want)) || want == "" && strings.Contains(string(body), "Active connections") {
			t.Errorf("%s: %d %s", url, resp.StatusCode, body)
		}
	}

	const requests = 600
	failed := 0
	for i := 0; i < requests; i++ {
		if i == requests/3 {
			// Kill one backend mid-run: its connections close and its port refuses.
			backends[1].CloseClientConnections()
			backends[1].Close()
		}
		resp, err := client.Get(base + "/contacts")
		if err != nil {
			failed++
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "crm-") {
			failed++
		}
	}
	if failed != 0 {
		t.Errorf("%d of %d requests failed while a backend died", failed, requests)
	}
	if served[0].Load() == 0 || served[2].Load() == 0 || served[1].Load() == 0 {
		t.Errorf("load was not balanced: %d %d %d", served[0].Load(), served[1].Load(), served[2].Load())
	}
	// The security headers reach clients, and the AI API goes to the AI upstream.
	resp, err := client.Get(base + "/ai/api/tags")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ai" || resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Server") != "nginx" {
		t.Errorf("ai route: %q, headers %v", body, resp.Header)
	}
	// The AI API is the stack's own: a visitor through the tunnel (a public
	// CF-Connecting-IP) is refused, the overlay's services pass, and model
	// management is refused to all.
	for _, tc := range []struct {
		method, path, visitor string
		code                  int
	}{
		{"POST", "/ai/api/generate", "", 200},
		{"POST", "/ai/api/embed", "10.0.3.7", 200},
		{"POST", "/ai/api/generate", "203.0.113.9", 403},
		{"GET", "/ai/api/tags", "2001:db8::1", 403},
		{"POST", "/ai/api/chat", "198.51.100.20", 403},
		{"POST", "/ai/api/pull", "", 403},
		{"DELETE", "/ai/api/delete", "", 403},
		{"POST", "/ai/api/create", "10.0.3.7", 403},
		{"POST", "/ai/api/copy", "", 403},
		{"POST", "/ai/api/push", "", 403},
		{"HEAD", "/ai/api/blobs/sha256:00", "", 403},
		{"GET", "/contacts", "203.0.113.9", 200},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader("{}"))
		if tc.visitor != "" {
			req.Header.Set("CF-Connecting-IP", tc.visitor)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s %s from %q: %d, want %d", tc.method, tc.path, tc.visitor, resp.StatusCode, tc.code)
		}
	}
	t.Logf("%d requests, %d failed; served %d/%d/%d", requests, failed, served[0].Load(), served[1].Load(), served[2].Load())
}

func waitHTTP(t *testing.T, c *http.Client, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer in 10s", url)
}

// What each upstream receives through nginx: the CRM and the AI the
// request's Host, the client's address and the scheme the tunnel served
// (a location's own proxy_set_header drops the server's, so each location
// sets them again); Grafana its path as it is (it serves from /grafana/)
// with the Host as the browser sent it, to the stage's own network only.
func TestNginxPassesTheRequestOn(t *testing.T) {
	nginx := testutil.Tool(t, "nginx")
	type seen struct{ host, path, realIP, proto string }
	got := make(chan seen, 8)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Host, r.URL.Path, r.Header.Get("X-Real-IP"), r.Header.Get("X-Forwarded-Proto")}
		fmt.Fprint(w, "ok")
	}))
	defer backend.Close()
	addr := strings.TrimPrefix(backend.URL, "http://")
	p, file := localNginx(t, []string{addr}, []string{addr})
	if p.Grafana == "" {
		t.Fatal("the server's nginx has no Grafana location")
	}
	base, client := runNginx(t, nginx, p, file)
	for _, tc := range []struct {
		path, fromIP   string
		status         int
		host, upstream string
	}{
		{"/leads", "", 200, "crm.example", "/leads"},
		{"/ai/api/tags", "", 200, "crm.example", "/api/tags"},
		{"/grafana/api/health", "", 200, "crm.example:" + strings.Split(p.Listen, ":")[1], "/grafana/api/health"},
		// Through the tunnel, Cloudflare names the visitor's public address.
		{"/grafana/login", "203.0.113.9", 403, "", ""},
	} {
		req, _ := http.NewRequest(http.MethodGet, base+tc.path, nil)
		req.Host = "crm.example:" + strings.Split(p.Listen, ":")[1]
		if tc.fromIP != "" {
			req.Header.Set("CF-Connecting-IP", tc.fromIP)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", tc.path, resp.StatusCode, tc.status)
			continue
		}
		if tc.status != 200 {
			continue
		}
		s := <-got
		if s.host != tc.host || s.path != tc.upstream || s.realIP != "127.0.0.1" || (tc.upstream != "/grafana/api/health" && s.proto != "https") {
			t.Errorf("%s reached its upstream as %+v; want host %s, path %s, the client's address and https", tc.path, s, tc.host, tc.upstream)
		}
	}
}

// runNginx starts nginx on the rendered file until the test ends, and
// returns its address and a client once it answers.
func runNginx(t *testing.T, nginx string, p NginxParams, file string) (string, *http.Client) {
	t.Helper()
	cmd := exec.Command(nginx, "-c", file, "-e", p.ErrorLog, "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_, _ = cmd.Process.Wait()
	})
	base := "http://" + p.Listen
	client := &http.Client{Timeout: 5 * time.Second}
	waitHTTP(t, client, base+"/nginx-health")
	return base, client
}
