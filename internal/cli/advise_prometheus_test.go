package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/monitoring"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// backfill writes days of generated series ending at end, 5 minutes apart,
// as OpenMetrics: the CRM's active users (peaking at 120 once), its request
// histogram, and the recorded availability with one sample in 89 down.
func backfill(t *testing.T, file string, end time.Time, days int, withUsers bool) {
	t.Helper()
	var b strings.Builder
	n := days * 24 * 12
	ts := func(i int) int64 { return end.Add(-time.Duration(n-1-i) * 5 * time.Minute).Unix() }
	if withUsers {
		b.WriteString("# TYPE " + monitoring.ActiveUsersMetric + " gauge\n")
		for i := 0; i < n; i++ {
			users := 30 + (i%288)/4 // a daily ramp, 30 to 101
			if i == n/2 {
				users = 120
			}
			fmt.Fprintf(&b, "%s{job=\"crm-app\",instance=\"crm:3000\"} %d %d\n", monitoring.ActiveUsersMetric, users, ts(i))
		}
	}
	b.WriteString("# TYPE " + monitoring.RequestDurationMetric + " histogram\n")
	per := []struct {
		le string
		n  int
	}{{"0.5", 40}, {"1", 60}, {"2", 80}, {"3", 90}, {"5", 97}, {"10", 100}, {"+Inf", 100}}
	for i := 0; i < n; i++ {
		for _, p := range per {
			fmt.Fprintf(&b, "%s_bucket{job=\"crm-app\",instance=\"crm:3000\",le=%q} %d %d\n", monitoring.RequestDurationMetric, p.le, p.n*(i+1), ts(i))
		}
		fmt.Fprintf(&b, "%s_sum{job=\"crm-app\",instance=\"crm:3000\"} %d %d\n", monitoring.RequestDurationMetric, 150*(i+1), ts(i))
		fmt.Fprintf(&b, "%s_count{job=\"crm-app\",instance=\"crm:3000\"} %d %d\n", monitoring.RequestDurationMetric, 100*(i+1), ts(i))
	}
	b.WriteString("# TYPE " + monitoring.CRMUp + " gauge\n")
	for i := 0; i < n; i++ {
		up := 1
		if i%(n/100) == 7 {
			up = 0
		}
		fmt.Fprintf(&b, "%s{job=\"crm\"} %d %d\n", monitoring.CRMUp, up, ts(i))
	}
	b.WriteString("# EOF\n")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startPrometheus backfills the series and serves them from a real Prometheus.
func startPrometheus(t *testing.T, end time.Time, days int, withUsers bool) string {
	t.Helper()
	dir := t.TempDir()
	om := filepath.Join(dir, "series.om")
	backfill(t, om, end, days, withUsers)
	return servePrometheus(t, dir, om)
}

// servePrometheus serves the OpenMetrics file om from a real Prometheus,
// backfilled with promtool.
func servePrometheus(t *testing.T, dir, om string) string {
	t.Helper()
	prom := testutil.Tool(t, "prometheus")
	promtool := testutil.Tool(t, "promtool")
	tsdb := filepath.Join(dir, "tsdb")
	if out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=240h", om, tsdb).CombinedOutput(); err != nil {
		t.Fatalf("promtool tsdb create-blocks-from openmetrics: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global: {scrape_interval: 1m}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	testutil.Daemon(t, dir, "prometheus", nil, prom, "--config.file="+cfg, "--storage.tsdb.path="+tsdb,
		"--storage.tsdb.retention.time=400d", "--web.listen-address="+addr)
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus not ready: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// advise --prometheus against a real Prometheus holding 31 days of
// backfilled series gives byte for byte the JSON of the same figures typed
// as flags; the documented PromQL gives those figures.
func TestAdviseFromPrometheus(t *testing.T) {
	end := time.Now().UTC().Truncate(time.Hour)
	at := end.Format(time.RFC3339)
	base := startPrometheus(t, end, 31, true)
	obs, err := monitoring.Observe(context.Background(), http.DefaultClient, base, 30*24*time.Hour, end)
	if err != nil {
		t.Fatal(err)
	}
	// The generated series: a peak of 120 users; 5 % of requests above 3 s,
	// 3 % of them above 5 s (p95 between 3 and 5 s); one probe in 89 down (1.12 %).
	if obs.Users != 120 || obs.P95 <= 3 || obs.P95 >= 5 || obs.Downtime < 1.0 || obs.Downtime > 1.2 {
		t.Fatalf("observed %+v", obs)
	}
	dir := t.TempDir()
	for _, stage := range []string{"laptop", "server"} {
		code, fromProm, stderr := nfx(t, dir, "advise", "--stage", stage, "--prometheus", base, "--at", at, "--revenue", "60000000", "--team", "3", "--json")
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		code, fromFlags, stderr := nfx(t, dir, "advise", "--stage", stage, "--users", strconv.Itoa(obs.Users),
			"--p95", strconv.FormatFloat(obs.P95, 'g', -1, 64), "--downtime", strconv.FormatFloat(obs.Downtime, 'g', -1, 64),
			"--revenue", "60000000", "--team", "3", "--json")
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if fromProm != fromFlags {
			t.Errorf("%s: --prometheus gives\n%s\nthe same figures as flags give\n%s", stage, fromProm, fromFlags)
		}
	}
	// The text names the series behind each reason and the budget spent.
	code, out, stderr := nfx(t, dir, "advise", "--stage", "server", "--prometheus", base, "--at", at, "--revenue", "60000000", "--team", "3")
	if code != ExitOK || !strings.Contains(out, "(from "+monitoring.CRMUp+")") || !strings.Contains(out, "error budget:") ||
		!strings.Contains(out, "(from http_request_duration_seconds_bucket") {
		t.Errorf("exit %d:\n%s%s", code, out, stderr)
	}
	t.Logf("nfx advise --stage server --prometheus:\n%s", out)
	// In the project, the observed peak is weighed against the laptop
	// stack's estimate (74 users on its defaults).
	code, out, stderr = nfx(t, project(t), "advise", "--prometheus", base, "--at", at, "--revenue", "60000000", "--team", "3")
	if code != ExitOK || !strings.Contains(out, "load: a peak of 120 concurrent users observed, 162 % of the 74 `nfx capacity` estimates") {
		t.Errorf("in the project: exit %d:\n%s%s", code, out, stderr)
	}
}

// A series shorter than the window, or missing, is an error naming the
// flag, the series and the fix; nothing is advised on a zero.
func TestAdvisePrometheusSeriesErrors(t *testing.T) {
	end := time.Now().UTC().Truncate(time.Hour)
	at := end.Format(time.RFC3339)
	short := startPrometheus(t, end, 10, true)
	noUsers := startPrometheus(t, end, 31, false)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"ten days for a 30-day window", []string{"--prometheus", short, "--at", at},
			[]string{"--users: series nextflow_crm_active_users{job=\"crm-app\"} starts at", "less than the 30d window", "fix:"}},
		{"no users series", []string{"--prometheus", noUsers, "--at", at},
			[]string{"--users: Prometheus has no series nextflow_crm_active_users", "fix:"}},
		{"flags and Prometheus both", []string{"--prometheus", short, "--users", "5"}, []string{"--users: read from --prometheus"}},
		{"window without Prometheus", []string{"--users", "5", "--p95", "1", "--downtime", "0", "--window", "7d"}, []string{"--window: only with --prometheus"}},
		{"bad window", []string{"--prometheus", short, "--window", "NaNd"}, []string{"--window: \"NaNd\" is not a window"}},
		{"zero window", []string{"--prometheus", short, "--window", "0d"}, []string{"--window"}},
		{"bad time", []string{"--prometheus", short, "--at", "yesterday; rm -rf /"}, []string{"--at: \"yesterday; rm -rf /\" is not a time"}},
		{"not a URL", []string{"--prometheus", "file:///etc/passwd"}, []string{"--prometheus: not a Prometheus URL"}},
		{"credentials in the URL", []string{"--prometheus", "http://admin:s3cret-pw@127.0.0.1:1"}, []string{"--prometheus: the URL holds credentials"}},
		{"credentials in a URL of another scheme", []string{"--prometheus", "ftp://admin:s3cret-pw@127.0.0.1:1"}, []string{"--prometheus: the URL holds credentials"}},
		{"credentials in an unparseable URL", []string{"--prometheus", "http://admin:s3cret-pw@[::1"}, []string{"--prometheus: the URL holds credentials"}},
		{"nothing listening", []string{"--prometheus", "http://127.0.0.1:1"}, []string{"--users: Prometheus:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := nfx(t, dir, append([]string{"advise", "--revenue", "1", "--team", "1"}, tc.args...)...)
			if code != ExitUsage || out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q", code, out, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, "s3cret-pw") {
				t.Errorf("the password is echoed: %s", stderr)
			}
		})
	}
	// A window the data covers: 7 days of 10 works.
	if code, _, stderr := nfx(t, dir, "advise", "--prometheus", short, "--at", at, "--window", "7d", "--revenue", "1", "--team", "1"); code != ExitOK {
		t.Errorf("7d of 10 days: exit %d: %s", code, stderr)
	}
}
