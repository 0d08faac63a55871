package monitoring

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

func waitFor(t *testing.T, what string, d time.Duration, ok func() (bool, string)) {
	t.Helper()
	testutil.Eventually(t, d, 500*time.Millisecond, what, ok)
}

func getJSON(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s: %s", u, resp.Status, body)
	}
	return json.Unmarshal(body, v)
}

// A real Prometheus, started from the server's rendered configuration and
// rules with the targets pointed at loopback, scrapes real exporters of a
// real PostgreSQL, Redis and nginx, the node, the blackbox exporter probing
// stub CRM and Ollama HTTP servers, and Alertmanager: every target is up.
// Stopping PostgreSQL fires PostgresDown, and Alertmanager receives it.
// Qdrant's metrics come from a server that asks for its API key as Qdrant
// v1.13.2 does (a bearer token or the api-key header, 401 without): the
// scrape reads it from the configuration's credentials file. cloudflared
// and the GPU exporter cannot run here: their jobs are left out.
func TestPrometheusScrapesRealExporters(t *testing.T) {
	prom := testutil.Tool(t, "prometheus")
	bins := map[string]string{}
	for _, b := range []string{"prometheus-node-exporter", "prometheus-postgres-exporter", "prometheus-redis-exporter",
		"prometheus-nginx-exporter", "prometheus-blackbox-exporter", "prometheus-alertmanager", "redis-server", "nginx"} {
		bins[b] = testutil.Tool(t, b)
	}
	dir := t.TempDir()
	// No Swarm here: the replicated services are one process each.
	p := plan(t, "server", Settings{Alertmanager: true, Interval: 2 * time.Second})
	keep := map[string]bool{"node": true, "prometheus": true, "alertmanager": true, "postgres": true, "redis": true,
		"nginx": true, "crm": true, "crm-app": true, "ollama": true, "qdrant": true}
	var jobs []Job
	for _, name := range []string{"crm", "ollama", "gpu", "tunnel"} {
		if j, ok := p.Job(name); ok && j.Swarm != "" {
			t.Fatalf("%s discovers Swarm tasks with no stack", name)
		}
	}
	for _, j := range p.Jobs {
		if keep[j.Name] {
			// One process of each: the first target (the primary).
			j.Targets = j.Targets[:1]
			jobs = append(jobs, j)
		}
	}
	p.Jobs = jobs

	// The services, on loopback.
	pg := testutil.StartPostgres(t)
	redisPort := testutil.FreePort(t)
	testutil.Daemon(t, dir, "redis", nil, bins["redis-server"], "--port", strconv.Itoa(redisPort), "--bind", "127.0.0.1", "--save", "", "--dir", dir)
	nginxStatus := testutil.FreePort(t)
	nginxConf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(nginxConf, []byte(fmt.Sprintf(`pid %s/nginx.pid;
error_log %s/nginx-error.log;
events {}
http {
  access_log off;
  server {
    listen 127.0.0.1:%d;
    location = /nginx_status { stub_status; }
  }
}
`, dir, dir, nginxStatus)), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Daemon(t, dir, "nginx", nil, bins["nginx"], "-c", nginxConf, "-e", filepath.Join(dir, "nginx-error.log"), "-g", "daemon off;")
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
		case "/metrics":
			fmt.Fprintf(w, "# TYPE %s gauge\n%s 42\n", ActiveUsersMetric, ActiveUsersMetric)
		default:
			http.NotFound(w, r)
		}
	}))
	defer crm.Close()
	ollama := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/version" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `{"version":"0.5.7"}`)
	}))
	defer ollama.Close()
	qdrant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("api-key") != "k3y" && r.Header.Get("Authorization") != "Bearer k3y" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "# TYPE app_info gauge\napp_info{name=\"qdrant\",version=\"1.13.2\"} 1\n")
	}))
	defer qdrant.Close()

	// The exporters, each reading the service it watches.
	ports := map[string]int{}
	for _, name := range []string{"node", "postgres", "redis", "nginx", "blackbox", "prometheus", "alertmanager"} {
		ports[name] = testutil.FreePort(t)
	}
	files, err := p.Files()
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	listen := func(job string) string { return fmt.Sprintf("127.0.0.1:%d", ports[job]) }
	textfiles := filepath.Join(dir, "textfile")
	if err := os.Mkdir(textfiles, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Daemon(t, dir, "node-exporter", nil, bins["prometheus-node-exporter"], "--web.listen-address="+listen("node"),
		"--collector.textfile.directory="+textfiles)
	testutil.Daemon(t, dir, "postgres-exporter",
		[]string{fmt.Sprintf("DATA_SOURCE_NAME=postgresql://nextflow:%s@127.0.0.1:%d/nextflow?sslmode=disable", pg.Password, pg.Port)},
		bins["prometheus-postgres-exporter"], "--web.listen-address="+listen("postgres"), "--extend.query-path="+filepath.Join(dir, PostgresQueries))
	testutil.Daemon(t, dir, "redis-exporter", nil, bins["prometheus-redis-exporter"], "-web.listen-address="+listen("redis"),
		fmt.Sprintf("-redis.addr=redis://127.0.0.1:%d", redisPort))
	testutil.Daemon(t, dir, "nginx-exporter", nil, bins["prometheus-nginx-exporter"], "-web.listen-address="+listen("nginx"),
		fmt.Sprintf("-nginx.scrape-uri=http://127.0.0.1:%d/nginx_status", nginxStatus))
	testutil.Daemon(t, dir, "blackbox", nil, bins["prometheus-blackbox-exporter"], "--web.listen-address="+listen("blackbox"),
		"--config.file="+filepath.Join(dir, BlackboxFile))
	testutil.Daemon(t, dir, "alertmanager", nil, bins["prometheus-alertmanager"], "--web.listen-address="+listen("alertmanager"),
		"--config.file="+filepath.Join(dir, AlertmanagerFile), "--storage.path="+filepath.Join(dir, "am"),
		"--cluster.listen-address=")

	// Point the rendered configuration at loopback, then start Prometheus on it.
	hostOf := func(u string) string { x, _ := url.Parse(u); return x.Host }
	p.Retarget(func(job, addr string) string {
		switch job {
		case "crm", "crm-app":
			return hostOf(crm.URL)
		case "ollama":
			return hostOf(ollama.URL)
		case "qdrant":
			return hostOf(qdrant.URL)
		case "prometheus":
			return listen("prometheus")
		}
		return listen(job)
	})
	cfg, err := p.PrometheusConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, PrometheusFile), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	// The API key's file ("k3y"), where the test can write it.
	testutil.LocalSecrets(t, dir, PrometheusFile)
	testutil.Daemon(t, dir, "prometheus", nil, prom, "--config.file="+filepath.Join(dir, PrometheusFile),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--storage.tsdb.retention.time="+p.RetentionFlag(),
		"--web.listen-address="+listen("prometheus"))
	api := "http://" + listen("prometheus") + "/api/v1/"

	type target struct {
		Labels    map[string]string `json:"labels"`
		Health    string            `json:"health"`
		LastError string            `json:"lastError"`
	}
	waitFor(t, "every target up", 60*time.Second, func() (bool, string) {
		var r struct {
			Data struct {
				ActiveTargets []target `json:"activeTargets"`
			} `json:"data"`
		}
		if err := getJSON(api+"targets", &r); err != nil {
			return false, err.Error()
		}
		var bad []string
		for _, tg := range r.Data.ActiveTargets {
			if tg.Health != "up" {
				bad = append(bad, fmt.Sprintf("%s %s: %s %s", tg.Labels["job"], tg.Labels["instance"], tg.Health, tg.LastError))
			}
		}
		if len(r.Data.ActiveTargets) != len(p.Jobs) {
			return false, fmt.Sprintf("%d targets, want %d", len(r.Data.ActiveTargets), len(p.Jobs))
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
	query := func(q string) (float64, bool) {
		var r struct {
			Data struct {
				Result []struct {
					Value []any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := getJSON(api+"query?query="+url.QueryEscape(q), &r); err != nil || len(r.Data.Result) == 0 {
			return 0, false
		}
		v, _ := strconv.ParseFloat(r.Data.Result[0].Value[1].(string), 64)
		return v, true
	}
	// Each exporter reports its service, not just itself.
	for q, want := range map[string]float64{
		"pg_up": 1, "nextflow_pg_in_recovery": 0, "redis_up": 1, "nginx_up": 1, ActiveUsersMetric: 42,
		`probe_success{job="crm"}`: 1, `probe_success{job="ollama"}`: 1, `app_info{job="qdrant"}`: 1,
	} {
		waitFor(t, q, 20*time.Second, func() (bool, string) {
			v, ok := query(q)
			return ok && v == want, fmt.Sprintf("%s = %v (present %v), want %v", q, v, ok, want)
		})
	}
	// The disk estimate's series per target holds for the real exporters.
	var counts struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(api+"query?query="+url.QueryEscape(`count by (job) ({__name__=~".+"})`), &counts); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{"node": "node", "postgres": "postgres", "redis": "redis", "nginx": "nginx",
		"prometheus": "prometheus", "alertmanager": "alertmanager", "crm": "probe", "ollama": "probe"}
	var measured []string
	for _, r := range counts.Data.Result {
		job := r.Metric["job"]
		n, _ := strconv.Atoi(fmt.Sprint(r.Value[1]))
		measured = append(measured, fmt.Sprintf("%s %d", job, n))
		if kind, ok := kinds[job]; ok && n > model.SeriesPerTarget[kind] {
			t.Errorf("%s has %d series, above the disk estimate's %d for %s", job, n, model.SeriesPerTarget[kind], kind)
		}
	}
	sort.Strings(measured)
	t.Logf("series per target: %s", strings.Join(measured, ", "))
	waitFor(t, "the CRM's recorded availability", 20*time.Second, func() (bool, string) {
		v, ok := query(CRMUp)
		return ok && v == 1, fmt.Sprintf("%s = %v", CRMUp, v)
	})

	// PostgreSQL stops: its exporter says so and the alert fires after its
	// minute pending, and reaches Alertmanager.
	stopped := time.Now()
	pg.Stop(t)
	waitFor(t, "PostgresDown firing", 2*time.Minute, func() (bool, string) {
		var r struct {
			Data struct {
				Alerts []struct {
					Labels map[string]string `json:"labels"`
					State  string            `json:"state"`
				} `json:"alerts"`
			} `json:"data"`
		}
		if err := getJSON(api+"alerts", &r); err != nil {
			return false, err.Error()
		}
		for _, a := range r.Data.Alerts {
			if a.Labels["alertname"] == "PostgresDown" && a.State == "firing" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", r.Data.Alerts)
	})
	t.Logf("PostgresDown fired %.0f s after PostgreSQL stopped", time.Since(stopped).Seconds())
	waitFor(t, "Alertmanager has PostgresDown", 30*time.Second, func() (bool, string) {
		var alerts []struct {
			Labels map[string]string `json:"labels"`
		}
		if err := getJSON("http://"+listen("alertmanager")+"/api/v2/alerts", &alerts); err != nil {
			return false, err.Error()
		}
		for _, a := range alerts {
			if a.Labels["alertname"] == "PostgresDown" && a.Labels["stage"] == "server" && a.Labels["severity"] == SeverityPage {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d alerts", len(alerts))
	})
}
