package cli

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/promote"
)

// `nfx capacity` on the project's stack configs: the figures and the
// assumptions they rest on, as text and JSON.
func TestCapacityCommand(t *testing.T) {
	dir := project(t)
	code, out, stderr := nfx(t, dir, "capacity", "--stage", "server")
	if code != 0 {
		t.Fatal(stderr)
	}
	for _, want := range []string{"concurrent users   662", "AI requests/s      99.30", "within", "2 x NVIDIA GeForce RTX 4090", "assumes: a concurrent user makes 0.15 AI requests"} {
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

// With a second region's cluster, nfx capacity counts the promotion the
// stack's latest rehearsal measured (the ledger's), in place of the
// assumed 10 minutes; another stack's rehearsal, a ledger that does not
// verify and a figure that is no promotion's leave the assumption, said.
func TestCapacityCountsTheRehearsal(t *testing.T) {
	dir := project(t)
	write(t, filepath.Join(dir, "two.yaml"), `config:
  nextflow:cloud: {standbyRegion: ap-southeast-1, standbyCluster: true, loadBalancer: true}
  nextflow:tunnel: {mode: managed, hostname: crm.nextflow.example, accountId: 0123456789abcdef0123456789abcdef, zoneId: 0123456789abcdef0123456789abcdef}
`)
	capacityOf := func() (string, string) {
		t.Helper()
		code, out, stderr := nfx(t, dir, "capacity", "--stage", "cloud", "--config", "two.yaml")
		if code != 0 {
			t.Fatal(stderr)
		}
		return out, stderr
	}
	out, _ := capacityOf()
	if !strings.Contains(out, "uptime (%)         99.988") || !strings.Contains(out, "10 to promote (nfx failover --unplanned; assumed") {
		t.Fatalf("without a rehearsal:\n%s", out)
	}
	path := filepath.Join(dir, ".nfx", "state", ".nfx", "ledger.jsonl")
	l := promote.Ledger{Path: path}
	at := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	for _, e := range []promote.Entry{
		{Time: at, Kind: promote.KindRehearsal, To: "cloud", Gates: promote.MeasuredGate("measured", map[string]float64{promote.FigureRTO: 900})},
		{Time: at.Add(time.Hour), Kind: promote.KindRehearsal, To: "cloud", Gates: promote.MeasuredGate("measured", map[string]float64{promote.FigureRTO: 330, promote.FigurePromote: 300})},
		{Time: at.Add(2 * time.Hour), Kind: promote.KindRehearsal, To: "cloud-staging", Gates: promote.MeasuredGate("measured", map[string]float64{promote.FigureRTO: 60})},
	} {
		if _, err := l.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	out, _ = capacityOf()
	for _, want := range []string{"uptime (%)         99.990", "5.5 to promote and move the names, as the rehearsal of 2026-12-01T04:00:00Z (ledger entry 2) measured"} {
		if !strings.Contains(out, want) {
			t.Errorf("%q not in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "to reach the seed's uptime") {
		t.Errorf("a 16.5-minute failover is said to miss the seed's uptime:\n%s", out)
	}
	// A figure that is no promotion's.
	if _, err := l.Append(promote.Entry{Time: at.Add(3 * time.Hour), Kind: promote.KindRehearsal, To: "cloud", Gates: promote.MeasuredGate("measured", map[string]float64{promote.FigureRTO: 1e9})}); err != nil {
		t.Fatal(err)
	}
	out, stderr := capacityOf()
	if !strings.Contains(out, "99.988") || !strings.Contains(stderr, "recorded an RTO of 1000000000 s, not a promotion's") {
		t.Errorf("a huge figure:\n%s\n%s", out, stderr)
	}
	// A ledger edited by hand does not verify.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	write(t, path, strings.Replace(string(data), `"rtoSeconds":330`, `"rtoSeconds":30`, 1))
	out, stderr = capacityOf()
	if !strings.Contains(out, "99.988") || !strings.Contains(stderr, "cannot be read") {
		t.Errorf("a tampered ledger:\n%s\n%s", out, stderr)
	}
}

// nfx diff and roi (and report, through the same side) count the cloud's
// failover rehearsal as nfx capacity does, from the ledger of the backend
// --backend names (the project's own when unset, empty here): one
// backend's rehearsal is not another's.
func TestMoveCommandsCountTheBackendsRehearsal(t *testing.T) {
	dir := project(t)
	write(t, filepath.Join(dir, "two.yaml"), `config:
  nextflow:cloud: {standbyRegion: ap-southeast-1, standbyCluster: true, loadBalancer: true}
  nextflow:tunnel: {mode: managed, hostname: crm.nextflow.example, accountId: 0123456789abcdef0123456789abcdef, zoneId: 0123456789abcdef0123456789abcdef}
`)
	state := t.TempDir()
	l := promote.Ledger{Path: files.LedgerIn(state)}
	if _, err := l.Append(promote.Entry{Time: time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC), Kind: promote.KindRehearsal, To: "cloud",
		Gates: promote.MeasuredGate("measured", map[string]float64{promote.FigureRTO: 330, promote.FigurePromote: 300})}); err != nil {
		t.Fatal(err)
	}
	uptime := func(cmd string, backend ...string) float64 {
		t.Helper()
		args := append([]string{cmd, "--from", "server", "--to", "cloud", "--to-config", "two.yaml", "--json"}, backend...)
		code, out, stderr := nfx(t, dir, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		type stage struct {
			Uptime float64 `json:"uptimePercent"`
		}
		if cmd == "diff" {
			var d struct{ Capacity []stage }
			if err := json.Unmarshal([]byte(out), &d); err != nil || len(d.Capacity) != 2 {
				t.Fatalf("%v: %s", err, out)
			}
			return d.Capacity[1].Uptime
		}
		var r struct{ To stage }
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		return r.To.Uptime
	}
	for _, cmd := range []string{"diff", "roi"} {
		// 99.988 % on the assumed 10 minutes' promotion, 99.990 % on the
		// rehearsal's 5.5 (TestCapacityCountsTheRehearsal).
		if got := uptime(cmd); math.Abs(got-99.988) > 0.0005 {
			t.Errorf("%s without the backend: uptime %v, want the assumed promotion's 99.988", cmd, got)
		}
		if got := uptime(cmd, "--backend", "file://"+state); math.Abs(got-99.990) > 0.0005 {
			t.Errorf("%s --backend: uptime %v, want the rehearsal's 99.990", cmd, got)
		}
	}
}
