package capacity

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/provider/aws"
)

func compute(t *testing.T, cfg *model.Config) *Estimate {
	t.Helper()
	e, err := Compute(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func close(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Abs(b) }

// The laptop's AI figures against the roofline worked by hand.
func TestLaptopAIByHand(t *testing.T) {
	e := compute(t, load(t, model.Laptop, nil))
	// RTX 4060 Laptop: 256 GB/s x 0.7 = 179.2 GB/s; 58 TFLOPS x 0.4 = 23.2 TFLOPS.
	// llama3.1:8b: Ollama's 4.9 GB = 4,900,000,000 bytes; 8.03e9 parameters; 131,072 B of KV per token.
	// One decode step with 4 busy slots reads the weights and 4 x (400 + 60/2) tokens of KV:
	// (4,900,000,000 + 4 x 430 x 131,072) / 179.2e9 = 5,125,443,840 / 179.2e9 = 0.0286018 s.
	step := (4_900_000_000.0 + 4*430*131_072) / 179.2e9
	if !close(e.AI.TokenSeconds, step, 1e-6) {
		t.Errorf("step %v, want %v", e.AI.TokenSeconds, step)
	}
	// Prefill: 23.2e12 / (2 x 8.03e9) = 1,444.58 tokens/s.
	if !close(e.AI.PrefillTokensPerSecond, 1444.58, 1e-5) {
		t.Errorf("prefill %v", e.AI.PrefillTokensPerSecond)
	}
	// A generation: 400 / 1,444.58 + 60 x 0.0286018 / 4 = 0.27690 + 0.42903 = 0.70592 GPU-s.
	if !close(e.AI.GenerateSeconds, 0.70592, 1e-4) {
		t.Errorf("generation %v", e.AI.GenerateSeconds)
	}
	// An embedding reads nomic-embed-text's 274 MB once: 274,000,000 / 179.2e9 = 0.0015290 s
	// (its compute, 128 x 2 x 0.137e9 / 23.2e12 = 0.0015117 s, is less).
	if !close(e.AI.EmbedSeconds, 0.0015290, 1e-4) {
		t.Errorf("embedding %v", e.AI.EmbedSeconds)
	}
	// Mean work 0.9 x 0.0015290 + 0.1 x 0.70592 = 0.071968 s; at 80 %: 0.8 / 0.071968 = 11.116 req/s.
	if !close(e.AIRequestsPerSecond, 11.116, 1e-3) {
		t.Errorf("AI requests/s %v", e.AIRequestsPerSecond)
	}
	// Users: 11.116 / 0.15 = 74 (the CRM's 1 x 2 cores x 100 x 0.8 / 0.5 = 320 is not the bound).
	if e.ConcurrentUsers != 74 || e.Bottleneck != "ai" || e.CRM.Users != 320 {
		t.Errorf("users %d (%s), CRM %d", e.ConcurrentUsers, e.Bottleneck, e.CRM.Users)
	}
	// Response: 0.27690 + 60 x 0.0286018 + 0.8 x 0.071968 / 0.2 = 0.27690 + 1.71611 + 0.28787 = 2.2809 s.
	if !close(e.ResponseSeconds, 2.2809, 1e-4) {
		t.Errorf("response %v", e.ResponseSeconds)
	}
	// Uptime: (4 x 2 + 2 x 1 + 1 x 3) = 13 h down in 20 x 730.5 / 24 = 608.75 h: 97.864 %.
	if !close(e.UptimePercent, 97.8645, 1e-5) || e.DowntimeHoursPerMonth != 13 {
		t.Errorf("uptime %v, downtime %v", e.UptimePercent, e.DowntimeHoursPerMonth)
	}
}

// With the repository's stack configs, the laptop and the server land in
// the seed's ranges for users and AI requests; the cloud's shortfall is
// reported with what would close it.
func TestSeedFiguresWithDefaultConfigs(t *testing.T) {
	for _, st := range []model.Stage{model.Laptop, model.Server} {
		e := compute(t, loadStack(t, st))
		for _, c := range e.Seed {
			if !c.Within {
				t.Errorf("%s %s: %.2f outside the seed's %s", st, c.Metric, c.Estimate, c.Seed)
			}
		}
		if e.Reach != nil {
			t.Errorf("%s: reach %+v for a stage within the seed", st, e.Reach)
		}
	}
	e := compute(t, loadStack(t, model.Cloud))
	if e.AIRequestsPerSecond >= 1000 || e.Reach == nil {
		t.Fatalf("cloud AI %v, reach %+v: the README's explanation of the shortfall is out of date", e.AIRequestsPerSecond, e.Reach)
	}
	// 10,000 users x 0.15 = 1,500 AI requests/s is the target.
	if e.Reach.AIRequestsPerSecond != 1500 {
		t.Errorf("target %v", e.Reach.AIRequestsPerSecond)
	}
	// Adding the GPUs it names reaches the target; one fewer does not.
	more := func(n int) float64 {
		cfg := loadStack(t, model.Cloud)
		cfg.AI.Replicas += n
		return compute(t, cfg).AIRequestsPerSecond
	}
	if got := more(e.Reach.MoreGPUs); got < 1500 {
		t.Errorf("%d more GPUs give %v", e.Reach.MoreGPUs, got)
	}
	if got := more(e.Reach.MoreGPUs - 1); got >= 1500 {
		t.Errorf("%d more GPUs already give %v", e.Reach.MoreGPUs-1, got)
	}
	// So does the API budget it names.
	cfg := loadStack(t, model.Cloud)
	cfg.Costs.AIAPI = e.Reach.APIBudget
	if got := compute(t, cfg).AIRequestsPerSecond; !close(got, 1500, 1e-9) {
		t.Errorf("API budget %v gives %v", e.Reach.APIBudget, got)
	}
	// Cloud uptime is the SLA product: 0.9999^2 x 0.9995 = 99.930 %.
	if !close(e.UptimePercent, 99.93001, 1e-6) {
		t.Errorf("cloud uptime %v", e.UptimePercent)
	}
}

// The AI API's share grows with its budget; the GPUs' with their count.
func TestCapacityFollowsResources(t *testing.T) {
	base := compute(t, load(t, model.Cloud, nil))
	doubled := compute(t, load(t, model.Cloud, map[string]string{"costs": `{"aiApi": 200000000}`}))
	if !close(doubled.AI.API, 2*base.AI.API, 1e-9) || doubled.AI.SelfHosted != base.AI.SelfHosted {
		t.Errorf("API %v -> %v", base.AI.API, doubled.AI.API)
	}
	one := compute(t, load(t, model.Server, map[string]string{"ai": `{"replicas": 1}`}))
	two := compute(t, load(t, model.Server, nil))
	if !close(two.AI.SelfHosted, 2*one.AI.SelfHosted, 1e-9) {
		t.Errorf("1 AI node %v, 2 nodes %v", one.AI.SelfHosted, two.AI.SelfHosted)
	}
	// Each AI node reserves one GPU: a second card in the host adds nothing.
	twoCards := compute(t, load(t, model.Server, map[string]string{"host": `{"gpuCount": 2}`}))
	if twoCards.AIRequestsPerSecond != two.AIRequestsPerSecond {
		t.Errorf("two cards per node %v, one %v", twoCards.AIRequestsPerSecond, two.AIRequestsPerSecond)
	}
	// More request slots decode more tokens per step; a bigger model fewer.
	wide := compute(t, load(t, model.Server, map[string]string{"ai": `{"parallel": 16}`}))
	if wide.AI.DecodeTokensPerSecond <= two.AI.DecodeTokensPerSecond || wide.AIRequestsPerSecond <= two.AIRequestsPerSecond {
		t.Errorf("16 slots %v tok/s, 4 slots %v", wide.AI.DecodeTokensPerSecond, two.AI.DecodeTokensPerSecond)
	}
	big := compute(t, load(t, model.Server, map[string]string{"ai": `{"model": "qwen2.5:14b"}`}))
	if big.AIRequestsPerSecond >= two.AIRequestsPerSecond || big.ResponseSeconds <= two.ResponseSeconds {
		t.Errorf("14b %v req/s %v s, 8b %v req/s %v s", big.AIRequestsPerSecond, big.ResponseSeconds, two.AIRequestsPerSecond, two.ResponseSeconds)
	}
	// A cloud whose CRM ceiling is below the seed's users: the reach names
	// the replicas, 10,000 x 0.5 / (0.8 x 2 x 100) = 31.25, so 32.
	low := compute(t, load(t, model.Cloud, map[string]string{"cloud": `{"crmMaxReplicas": 20}`}))
	if low.Reach == nil || low.Reach.CRMReplicas != 32 {
		t.Errorf("reach %+v", low.Reach)
	}
	if base.Reach == nil || base.Reach.CRMReplicas != 0 {
		t.Errorf("default cloud reach %+v", base.Reach)
	}
	// The CRM bounds the users once the AI no longer does.
	light := compute(t, load(t, model.Server, map[string]string{"capacity": `{"aiPerUser": 0.01}`}))
	if light.Bottleneck != "crm" || light.ConcurrentUsers != light.CRM.Users {
		t.Errorf("bottleneck %s, users %d, CRM %d", light.Bottleneck, light.ConcurrentUsers, light.CRM.Users)
	}
	// The cloud's CRM counts at its autoscaling ceiling: 40 x 2 x 100 x 0.8 / 0.5.
	if base.CRM.Users != 12800 {
		t.Errorf("cloud CRM users %d", base.CRM.Users)
	}
}

// Redundancy shortens the downtime of a node fault.
func TestUptimeFollowsRedundancy(t *testing.T) {
	redundant := compute(t, load(t, model.Server, nil))
	lone := compute(t, load(t, model.Server, map[string]string{"crm": `{"replicas": 1}`}))
	if lone.UptimePercent >= redundant.UptimePercent {
		t.Errorf("one CRM replica %v %%, three %v %%", lone.UptimePercent, redundant.UptimePercent)
	}
	// 3 nodes x 0.25 faults, each (0.5 h + 30 s + 0) / 3; plus 5 min, 0.4 h and 2 h.
	want := 0.75*(0.5+30.0/3600)/3 + 5.0/60 + 0.4 + 2
	if !close(redundant.DowntimeHoursPerMonth, want, 1e-9) {
		t.Errorf("server downtime %v h, want %v", redundant.DowntimeHoursPerMonth, want)
	}
	// Fewer service hours, the same outages: less uptime.
	short := compute(t, load(t, model.Laptop, map[string]string{"costs": `{"hoursPerDay": 16}`}))
	long := compute(t, load(t, model.Laptop, nil))
	if short.UptimePercent >= long.UptimePercent {
		t.Errorf("16 h %v %%, 20 h %v %%", short.UptimePercent, long.UptimePercent)
	}
}

// What the model cannot estimate is an error naming the key and the fix.
func TestUnestimableStacks(t *testing.T) {
	for _, c := range []struct {
		name   string
		stage  model.Stage
		values map[string]string
		want   []string
	}{
		{"CPU only", model.Laptop, map[string]string{"ai": `{"gpu": false}`}, []string{"nextflow:ai.gpu", "CPU", "nextflow:host"}},
		{"cloud without a GPU pool", model.Cloud, map[string]string{"cloud": `{"gpuPool": false}`}, []string{"nextflow:cloud.gpuPool", "CPU nodes", "gpuPool true"}},
		{"unknown GPU", model.Laptop, map[string]string{"host": `{"gpu": "Voodoo 5", "gpuCount": 1, "vram": "32GiB"}`}, []string{"nextflow:host.gpu", `"Voodoo 5"`, "NVIDIA GeForce RTX 4090"}},
	} {
		_, err := Compute(load(t, c.stage, c.values))
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q not in %q", c.name, w, err)
			}
		}
	}
}

// Every GPU nfx offers on the cloud has published figures.
func TestCloudGPUsHaveFigures(t *testing.T) {
	for name, g := range aws.GPUInstances {
		if _, ok := GPUs[g.GPU]; !ok {
			t.Errorf("%s: %s has no figures", name, g.GPU)
		}
	}
	for _, p := range model.Profiles {
		if p.Hardware.GPU != "" {
			if _, ok := GPUs[p.Hardware.GPU]; !ok {
				t.Errorf("%s: %s has no figures", p.Stage, p.Hardware.GPU)
			}
		}
	}
}

func BenchmarkCompute(b *testing.B) {
	for _, st := range model.Stages {
		cfg, ds := model.Load(string(st), model.Raw{Values: map[string]string{}, Secret: map[string]bool{}}, model.LoadOptions{})
		if ds.HasErrors() {
			b.Fatal(ds)
		}
		b.Run(string(st), func(b *testing.B) {
			for b.Loop() {
				if _, err := Compute(cfg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Any configuration that loads gives finite, non-negative figures or a
// clear error, never a panic.
func FuzzCompute(f *testing.F) {
	f.Add("laptop", `{}`, `{}`, `{}`)
	f.Add("server", `{"aiPerUser": 0.001, "utilization": 0.95}`, `{"parallel": 64, "model": "llama3.2:1b"}`, `{"aiApi": 1}`)
	f.Add("cloud", `{"embedShare": 0, "outputTokens": 2000, "promptTokens": 48}`, `{"replicas": 1}`, `{"aiApi": 0}`)
	f.Fuzz(func(t *testing.T, stage, capacity, ai, costs string) {
		cfg, ds := model.Load(stage, model.Raw{Values: map[string]string{"capacity": capacity, "ai": ai, "costs": costs}, Secret: map[string]bool{}}, model.LoadOptions{})
		if ds.HasErrors() {
			return
		}
		e, err := Compute(cfg)
		if err != nil {
			if !strings.Contains(err.Error(), "nextflow:") {
				t.Fatalf("error names no key: %v", err)
			}
			return
		}
		for name, v := range map[string]float64{"users": float64(e.ConcurrentUsers), "ai": e.AIRequestsPerSecond, "response": e.ResponseSeconds, "uptime": e.UptimePercent, "downtime": e.DowntimeHoursPerMonth} {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Fatalf("%s = %v for %s %s %s", name, v, capacity, ai, costs)
			}
		}
		if e.UptimePercent > 100 {
			t.Fatalf("uptime %v", e.UptimePercent)
		}
	})
}

// A second region that holds a copy of the data says what a lost region
// costs in data and how the stage comes back, and does not raise the
// uptime: no cluster runs there.
func TestStandbyDoesNotRaiseTheUptime(t *testing.T) {
	one, err := Compute(load(t, model.Cloud, map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	two, err := Compute(load(t, model.Cloud, map[string]string{"cloud": `{"standbyRegion": "ap-southeast-1"}`}))
	if err != nil {
		t.Fatal(err)
	}
	if one.Standby != nil {
		t.Errorf("one region: standby %v", one.Standby)
	}
	if two.Standby == nil || two.Standby.Region != "ap-southeast-1" || !strings.Contains(two.Standby.DataLost, "replica") || !strings.Contains(two.Standby.Recovery, "not counted") {
		t.Fatalf("standby: %+v", two.Standby)
	}
	if two.UptimePercent != one.UptimePercent || two.DowntimeHoursPerMonth != one.DowntimeHoursPerMonth {
		t.Errorf("uptime %v%% with the standby, %v%% without", two.UptimePercent, one.UptimePercent)
	}
}

// A warm standby cluster turns the primary region's outages into
// failovers: each costs the failover's minutes, both regions down at once
// all of it; the uptime rises above one region's, and the failover time
// that would reach the seed's 99.99 % is said, and reaches it.
func TestTwoRegionsUptime(t *testing.T) {
	one, err := Compute(load(t, model.Cloud, map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	two, err := Compute(load(t, model.Cloud, map[string]string{"cloud": `{"standbyRegion": "ap-southeast-1", "standbyCluster": true}`}))
	if err != nil {
		t.Fatal(err)
	}
	down := 1 - one.UptimePercent/100
	outages := down * hoursPerMonth / regionOutageHours
	failover := failoverDetectMinutes + failoverPromoteMinutes + failoverServeMinutes
	want := outages*failover/60 + down*down*hoursPerMonth
	if math.Abs(two.DowntimeHoursPerMonth-want) > 1e-9 || two.UptimePercent <= one.UptimePercent {
		t.Errorf("two regions: %v h down a month (%v %%), want %v; one region %v %%", two.DowntimeHoursPerMonth, two.UptimePercent, want, one.UptimePercent)
	}
	sb := two.Standby
	if sb == nil || sb.FailoverMinutes != failover || sb.FailoverMinutesForSeed <= 0 || sb.FailoverMinutesForSeed >= failover {
		t.Fatalf("standby: %+v", sb)
	}
	at := outages*sb.FailoverMinutesForSeed/60 + down*down*hoursPerMonth
	if got := 100 * (1 - at/hoursPerMonth); math.Abs(got-model.Profiles[model.Cloud].Uptime) > 1e-9 {
		t.Errorf("a failover of %v minutes gives %v %%, not the seed's %v", sb.FailoverMinutesForSeed, got, model.Profiles[model.Cloud].Uptime)
	}
	for _, c := range two.Seed {
		if c.Metric == "uptime (%)" && c.Within {
			t.Errorf("%v %% counted within the seed's %v", c.Estimate, c.Seed)
		}
	}
	// Behind load balancers the standby's connectors run already: its
	// failover is the switch's minute shorter than the connectors' start,
	// and the uptime higher.
	lb, err := Compute(load(t, model.Cloud, map[string]string{
		"cloud":  `{"standbyRegion": "ap-southeast-1", "standbyCluster": true, "loadBalancer": true}`,
		"tunnel": `{"mode": "managed", "hostname": "crm.nextflow.example", "accountId": "0123456789abcdef0123456789abcdef", "zoneId": "0123456789abcdef0123456789abcdef"}`}))
	if err != nil {
		t.Fatal(err)
	}
	lbFailover := failoverDetectMinutes + failoverPromoteMinutes + failoverSwitchMinutes
	lbWant := outages*lbFailover/60 + down*down*hoursPerMonth
	if lb.Standby == nil || lb.Standby.FailoverMinutes != lbFailover || math.Abs(lb.DowntimeHoursPerMonth-lbWant) > 1e-9 || lb.UptimePercent <= two.UptimePercent {
		t.Errorf("load balanced: %+v, %v h down (want %v), %v %% against %v %%", lb.Standby, lb.DowntimeHoursPerMonth, lbWant, lb.UptimePercent, two.UptimePercent)
	}
	// A rehearsal's measured promotion takes the assumed 10 minutes'
	// place: 5m30s makes the balanced failover 16.5 minutes, within the
	// 17 the seed's 99.99 % allows.
	lbCfg := load(t, model.Cloud, map[string]string{
		"cloud":  `{"standbyRegion": "ap-southeast-1", "standbyCluster": true, "loadBalancer": true}`,
		"tunnel": `{"mode": "managed", "hostname": "crm.nextflow.example", "accountId": "0123456789abcdef0123456789abcdef", "zoneId": "0123456789abcdef0123456789abcdef"}`})
	src := "the rehearsal of 2026-12-01T03:00:00Z (ledger entry 7)"
	fast, err := ComputeMeasured(lbCfg, Measured{Promote: 5*time.Minute + 30*time.Second, PromoteSource: src})
	if err != nil {
		t.Fatal(err)
	}
	fastFailover := failoverDetectMinutes + 5.5 + failoverSwitchMinutes
	if fast.Standby.FailoverMinutes != fastFailover || fast.Standby.PromoteMeasured != src || !strings.Contains(fast.Uptime[0].Detail, src) {
		t.Errorf("measured: %+v, %q", fast.Standby, fast.Uptime[0].Detail)
	}
	for _, c := range fast.Seed {
		if c.Metric == "uptime (%)" && (!c.Within || c.Estimate < 99.99) {
			t.Errorf("a %v-minute failover gives %v %%, want the seed's %v", fastFailover, c.Estimate, c.Seed)
		}
	}
	// A slow one counts as slow: the model does not keep the assumption.
	slow, err := ComputeMeasured(lbCfg, Measured{Promote: 42 * time.Minute, PromoteSource: src})
	if err != nil || slow.Standby.FailoverMinutes != failoverDetectMinutes+42+failoverSwitchMinutes || slow.UptimePercent >= lb.UptimePercent {
		t.Errorf("a 42-minute promotion: %+v, %v %% (err %v)", slow.Standby, slow.UptimePercent, err)
	}
	for _, bad := range []time.Duration{-time.Second, 25 * time.Hour} {
		if _, err := ComputeMeasured(lbCfg, Measured{Promote: bad, PromoteSource: src}); err == nil {
			t.Errorf("a measured promotion of %s is taken", bad)
		}
	}
}
