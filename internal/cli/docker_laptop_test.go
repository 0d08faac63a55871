package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/imagefacts"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// The laptop stage on a real Docker engine: `nfx up --stage laptop` with a
// configuration this 2-core machine can hold (the CPU variant: there is no
// GPU), then Compose v2's `up -d --wait` on what it wrote, with the stand-in
// images under the pinned names (test/standin). Every service must become
// healthy: the CRM's health check writes to PostgreSQL and Redis through
// their secrets as an unprivileged user, cloudflared reads its token as
// nonroot, the exporters read theirs as nobody and 59000. The CRM answers
// through the tunnel at the ingress nfx gives it, and no secret is in any
// container's configuration.
func TestLaptopServesOnDocker(t *testing.T) {
	d := testutil.DockerEngine(t)
	dir := realEngine(t)
	token := testutil.TunnelToken("laptop-" + strings.Repeat("k", 20))
	t.Setenv("NFX_TUNNEL_TOKEN", token)
	cfg := filepath.Join(dir, "Pulumi.laptop.yaml")
	data, _ := os.ReadFile(cfg)
	write(t, cfg, strings.Replace(string(data), "config:\n", "config:\n  nextflow:ai:\n    gpu: false\n    cpus: 2\n", 1))

	if code, stdout, stderr := nfx(t, dir, "up", "--stage", "laptop"); code != ExitOK {
		t.Fatalf("nfx up: exit %d\n%s\n%s", code, stdout, stderr)
	}
	out := filepath.Join(dir, "out", "laptop")
	project := "nfxlaptop" + fmt.Sprint(time.Now().UnixNano()%100000)
	compose := func(args ...string) (string, error) {
		return d.ComposeRun(out, append([]string{"-p", project}, args...)...)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := compose("logs", "--no-color", "--tail", "30")
			t.Logf("compose logs:\n%s", logs)
			ids, _ := d.Try("ps", "-aq", "--filter", "label=com.docker.compose.project="+project, "--filter", "health=unhealthy")
			for _, id := range strings.Fields(ids) {
				h, _ := d.Try("inspect", "-f", "{{.Name}}: {{json .State.Health}}", id)
				t.Logf("health: %s", h)
			}
		}
		if o, err := compose("down", "-v", "--timeout", "5"); err != nil {
			t.Logf("compose down: %v\n%s", err, o)
		}
	})
	if o, err := compose("up", "-d", "--wait", "--wait-timeout", "300"); err != nil {
		ps, _ := compose("ps", "-a")
		t.Fatalf("compose up --wait: %v\n%s\n%s", err, o, ps)
	}

	// Every service runs and is healthy.
	ps, err := compose("ps", "-a", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(ps), "\n") {
		var c struct{ Service, State, Health string }
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("compose ps: %v: %s", err, line)
		}
		seen[c.Service] = true
		if c.State != "running" || c.Health != "healthy" {
			t.Errorf("service %s is %s/%s, want running/healthy", c.Service, c.State, c.Health)
		}
	}
	for _, s := range []string{"crm", "ai", "postgres", "redis", "qdrant", "tunnel", "prometheus", "node-exporter"} {
		if !seen[s] {
			t.Errorf("service %s is not running", s)
		}
	}

	// The CRM through the tunnel, at the ingress a Cloudflare route sends
	// its hostname to: the CRM's service name and port on the frontend.
	id := strings.TrimSpace(d.Run(t, "ps", "-q", "--filter", "label=com.docker.compose.project="+project, "--filter", "label=com.docker.compose.service=tunnel"))
	ip := strings.TrimSpace(d.Run(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id))
	req, _ := http.NewRequest(http.MethodGet, "http://"+ip+":8080/healthz", nil)
	req.Header.Set("X-Standin-Origin", fmt.Sprintf("http://%s:%d", model.PartCRM, 3000))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("the CRM through the tunnel: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the CRM through the tunnel answers %d: %s", resp.StatusCode, body)
	}

	// Qdrant asks for its API key: the CRM's container reaches it with the
	// key's file (the CRM is healthy) and is refused without it.
	crmID := strings.TrimSpace(d.Run(t, "ps", "-q", "--filter", "label=com.docker.compose.project="+project, "--filter", "label=com.docker.compose.service=crm"))
	for _, tc := range []struct{ with, want string }{
		{`-H @<(printf 'api-key: %s\n' "$(cat /run/secrets/qdrant_api_key)")`, "200"},
		{"", "401"},
	} {
		code, _ := d.Try("exec", crmID, "bash", "-c", `curl -s -o /dev/null -w '%{http_code}' `+tc.with+` http://qdrant:6333/collections`)
		if strings.TrimSpace(code) != tc.want {
			t.Errorf("Qdrant's /collections from the CRM's container (key: %v) answers %q, want %s", tc.with != "", code, tc.want)
		}
	}

	grafanaServesTheOverview(t, d, project, filepath.Join(out, "secrets", "grafana_admin_password"))

	// No secret in any container's configuration (environment, command,
	// labels, mounts): each reaches its container as a file only.
	ids := strings.Fields(d.Run(t, "ps", "-aq", "--filter", "label=com.docker.compose.project="+project))
	inspect := d.Run(t, append([]string{"inspect"}, ids...)...)
	secrets := map[string]string{"tunnel_token": token}
	for _, name := range []string{"postgres_password", "redis_password", "qdrant_api_key", "grafana_admin_password"} {
		b, err := os.ReadFile(filepath.Join(out, "secrets", name))
		if err != nil {
			t.Fatal(err)
		}
		secrets[name] = strings.TrimSpace(string(b))
	}
	for name, v := range secrets {
		if len(v) < 8 {
			t.Fatalf("secret %s is too short to look for", name)
		}
		if strings.Contains(inspect, v) {
			t.Errorf("the value of %s is in a container's configuration (docker inspect)", name)
		}
	}
}

// The stand-in images start as the user the facts table gives the real
// image (or its entrypoint drops to it), so a secret unreadable there is
// unreadable here.
func TestStandInsRunAsTheirImages(t *testing.T) {
	d := testutil.DockerEngine(t)
	n := 0
	for ref, im := range imagefacts.Images {
		if im.CloudOnly {
			continue // no stage runs it on Docker
		}
		out, err := d.Try("image", "inspect", "-f", "{{.Config.User}}", ref)
		if err != nil {
			t.Errorf("no stand-in image for %s: add it to scripts/engine.sh and test/standin/images", ref)
			continue
		}
		n++
		user := strings.TrimSpace(out)
		want := map[string]bool{fmt.Sprintf("%d:%d", im.User.UID, im.User.GID): true, fmt.Sprint(im.User.UID): true}
		if im.User.UID == 0 {
			want[""], want["root"], want["0"] = true, true, true
		}
		if im.User.UID == 65534 {
			want["nobody"] = true
		}
		if !want[user] {
			t.Errorf("the stand-in %s runs as %q, the image as %d:%d", ref, user, im.User.UID, im.User.GID)
		}
	}
	if n < 12 {
		t.Errorf("only %d stand-in images found", n)
	}
}

// grafanaServesTheOverview: Grafana (the stand-in, which provisions as
// Grafana does) holds the admin password of the stack's secret, has
// loaded nfx's overview from the provisioned files, and every panel's
// query runs through its data source on the stage's real Prometheus with
// the stage's rules; the service level's recorded series has data.
func grafanaServesTheOverview(t *testing.T, d testutil.Docker, project, passwordFile string) {
	t.Helper()
	pw, err := os.ReadFile(passwordFile)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(d.Run(t, "ps", "-q", "--filter", "label=com.docker.compose.project="+project, "--filter", "label=com.docker.compose.service="+model.GrafanaService))
	ip := strings.TrimSpace(d.Run(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", id))
	base := fmt.Sprintf("http://%s:%d", strings.Fields(ip)[0], monitoring.GrafanaPort)
	get := func(path string, auth bool) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if auth {
			req.SetBasicAuth("admin", strings.TrimSpace(string(pw)))
		}
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("Grafana %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, _ := get("/api/dashboards/uid/"+monitoring.DashboardUID, false); code != http.StatusUnauthorized {
		t.Errorf("Grafana answers %d without the admin password", code)
	}
	code, body := get("/api/dashboards/uid/"+monitoring.DashboardUID, true)
	var got struct{ Dashboard monitoring.Dashboard }
	if code != http.StatusOK || json.Unmarshal(body, &got) != nil || len(got.Dashboard.Panels) == 0 {
		t.Fatalf("Grafana has not provisioned nfx's overview: %d %s", code, body)
	}
	for _, p := range got.Dashboard.Panels {
		for _, tg := range p.Targets {
			var r struct{ Status, Error string }
			code, body := get("/api/datasources/proxy/uid/"+tg.Datasource.UID+"/api/v1/query?query="+url.QueryEscape(tg.Expr), true)
			if code != http.StatusOK || json.Unmarshal(body, &r) != nil || r.Status != "success" {
				t.Errorf("panel %q: %s through Grafana's data source: %d %s", p.Title, tg.Expr, code, body)
			}
		}
	}
	// The rules record the CRM's availability within two evaluations.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var r struct {
			Data struct{ Result []any }
		}
		_, body := get("/api/datasources/proxy/uid/"+monitoring.DatasourceUID+"/api/v1/query?query="+url.QueryEscape(monitoring.CRMUp), true)
		if json.Unmarshal(body, &r) == nil && len(r.Data.Result) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%s has no data through Grafana after two minutes: %s", monitoring.CRMUp, body)
			break
		}
		time.Sleep(5 * time.Second)
	}
}
