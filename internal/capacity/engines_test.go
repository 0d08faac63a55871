package capacity

import (
	"math"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/provider/aws"
)

// Each measurement is transcribed as its source gives it: its published
// output throughput is its generated tokens over its duration (the
// source's own arithmetic), and its load is one the model can replay.
func TestMeasurementsAsPublished(t *testing.T) {
	for _, m := range Measurements {
		if got := float64(m.GeneratedTokens) / m.DurationSeconds; !close(got, m.OutputTokensPerSecond, 1e-3) {
			t.Errorf("%s: %d tokens in %g s is %.2f tokens/s, the source says %.2f", m.URL, m.GeneratedTokens, m.DurationSeconds, got, m.OutputTokensPerSecond)
		}
		if m.Concurrency < 1 || m.Requests < m.Concurrency || m.InputTokens < 1 || m.MedianTPOTms <= 0 || m.P99TTFTms < m.MedianTTFTms {
			t.Errorf("%s: an incomplete or inconsistent load: %+v", m.URL, m)
		}
		if _, ok := GPUs[m.GPU]; !ok {
			t.Errorf("%s: measured on %s, which has no figures", m.URL, m.GPU)
		}
	}
}

// The bandwidth efficiency the measurement implies, worked by hand: the
// bytes of one decode step of its 50 sequences over its median time a
// token, against the A40's bandwidth.
func TestCalibrationByHand(t *testing.T) {
	m := Measurements[0]
	eff, err := vllmEfficiency(m)
	if err != nil {
		t.Fatal(err)
	}
	// 2 x 8.03e9 + 50 x (100 + 22,170/50/2) x 131,072 = 16.06e9 + 2.0983e9 = 18.158e9 bytes
	// a step, in 35.96 ms: 504.96 GB/s of the A40's 696, 0.72552.
	if !close(eff, 0.72552, 1e-3) {
		t.Errorf("efficiency %v, want 0.72552", eff)
	}
}

// The cloud's engines on its defaults, worked by hand where the figures
// are closed-form, and held to the laws they follow where they are solved.
func TestCloudEngines(t *testing.T) {
	cfg := load(t, model.Cloud, nil)
	e := compute(t, cfg)
	if len(e.Engines) != 2 || e.Engines[0].Engine != EngineOllama || e.Engines[1].Engine != EngineVLLM {
		t.Fatalf("engines %+v", e.Engines)
	}
	ollama, vllm := e.Engines[0], e.Engines[1]
	// Ollama's row is the stage's own AI figures, a GPU at a time.
	if !close(ollama.PerGPU*float64(e.AI.GPUs), e.AI.SelfHosted, 1e-9) || ollama.Batch != e.AI.Slots {
		t.Errorf("ollama %+v against the AI figures %+v", ollama, e.AI)
	}
	// Its waits: M/G/1 at 80 %, lambda 24.1875; E[S^2] = 0.9 x 0.00070144^2 + 0.1 x 0.324436^2 = 0.0105262;
	// mean wait 24.1875 x 0.0105262 / 0.4 = 0.63652 s; the 95th percentile 0.63652 / 0.8 x ln(16) = 2.2060 s,
	// plus the prefill 400 / 3,113.3 = 0.12848 s.
	if !close(ollama.TTFTP95, 2.2060+0.12848, 1e-3) {
		t.Errorf("ollama first token p95 %v, want %v", ollama.TTFTP95, 2.2060+0.12848)
	}
	// vLLM's KV cache: 0.9 x 25,769,803,776 - 16.06e9 - 1.5e9 = 5.6328e9 bytes, 93 sequences of 460 tokens
	// (60.293e6 bytes each). At its load, Little's law holds: n = lambda_g x ot x s(n) / (1 - rho).
	lg := vllm.PerGPU * 0.1
	rho := lg*400/vllm.PrefillTokensPerSec + vllm.PerGPU*0.9*vllm.EmbedSeconds
	if !close(vllm.PrefillShare, rho, 1e-9) {
		t.Errorf("vllm's GPU on prompts %v, want %v", vllm.PrefillShare, rho)
	}
	step := float64(vllm.Batch) / vllm.DecodeTokensPerSec
	if n := lg * 60 * step / (1 - rho); math.Abs(n-float64(vllm.Batch)) > 0.6 {
		t.Errorf("Little's law: %v in flight, the load makes %v", vllm.Batch, n)
	}
	// Its load is 80 % of the most whose sequences fit the KV cache: at the peak, n reaches 93.
	r := roofline{g: GPUs["NVIDIA A10G"], w: cfg.Capacity, llm: cfg.LLM, emb: cfg.Embedding, weights: 16.06e9, batch: 93,
		bwEff: vllm.BandwidthEfficiency, computEff: 0.4}
	peak := vllm.PerGPU / 0.8
	pg := peak * 0.1
	prho := pg*400/3113.325 + peak*0.9*vllm.EmbedSeconds
	if n := pg * 60 * r.step() / (1 - prho); math.Abs(n-93) > 0.5 {
		t.Errorf("at the peak (%v a second) the load makes %v in flight, want the 93 that fit", peak, n)
	}
	// Its answers: 60 steps at batch 1 alone take 60 x 16.06e9 / (600e9 x 0.72552) = 2.21 s: no load
	// meets the plan's 2 s on 16-bit weights, and the row says so.
	if vllm.MeetsResponse || vllm.LastTokenP95 < 2.21 {
		t.Errorf("vllm meets the 2 s: %v (p95 %.2f s)", vllm.MeetsResponse, vllm.LastTokenP95)
	}
	// The seed's 1,500 requests/s (10,000 users x 0.15), and their price at g5.xlarge's $1.006 x 730 h x 26,000.
	month := aws.Prices["us-east-1"].EC2["g5.xlarge"] * aws.HoursPerMonth * 26000
	for _, s := range e.Engines {
		if want := int(math.Ceil(1500 / s.PerGPU)); s.GPUsForSeed != want || !close(s.GPUMonthlyVND, float64(want)*month, 1e-9) {
			t.Errorf("%s: %d GPUs at %v VND, want %d", s.Engine, s.GPUsForSeed, s.GPUMonthlyVND, want)
		}
	}
	if e.EnginesFor != 1500 || vllm.PerGPU <= ollama.PerGPU {
		t.Errorf("for %v/s: vllm %v a GPU, ollama %v", e.EnginesFor, vllm.PerGPU, ollama.PerGPU)
	}
}

// Where short answers let vLLM meet the plan's response time at a lower
// load than its peak allows, it is run at the most load that still does.
func TestVLLMLoadWithinTheResponseTime(t *testing.T) {
	cfg := load(t, model.Cloud, map[string]string{"capacity": `{"outputTokens": 20}`})
	v := compute(t, cfg).Engines[1]
	if !v.MeetsResponse || v.LastTokenP95 > 2 {
		t.Fatalf("20-token answers: p95 %.2f s, meets %v", v.LastTokenP95, v.MeetsResponse)
	}
	if v.LastTokenP95 < 1.99 && v.PerGPU < 0.79*peakOf(t, cfg) {
		t.Errorf("held at %v a GPU with answers at %.2f s, under both the ceiling and the peak", v.PerGPU, v.LastTokenP95)
	}
}

func peakOf(t *testing.T, cfg *model.Config) float64 {
	t.Helper()
	w := cfg.Capacity
	w.Utilization = 0.999999
	c := *cfg
	c.Capacity = w
	// The ceiling no longer binds at a far later response time.
	return compute(t, &c).Engines[1].PerGPU
}

// A GPU whose memory cannot hold the 16-bit weights gets no vLLM row, and
// the estimate says why.
func TestVLLMNeedsTheWeightsToFit(t *testing.T) {
	e := compute(t, load(t, model.Cloud, map[string]string{"cloud": `{"gpuInstanceType": "g4dn.xlarge"}`}))
	if len(e.Engines) != 1 || e.Engines[0].Engine != EngineOllama {
		t.Fatalf("engines on a T4: %+v", e.Engines)
	}
	found := false
	for _, a := range e.Assumptions {
		found = found || strings.Contains(a, "cannot serve llama3.1:8b on one NVIDIA T4 in 16-bit weights")
	}
	if !found {
		t.Errorf("no word of the missing vLLM row: %v", e.Assumptions)
	}
}

// The self-hosted stages keep Ollama: no engine comparison.
func TestEnginesOnlyOnAProvider(t *testing.T) {
	for _, st := range []model.Stage{model.Laptop, model.Server} {
		if e := compute(t, load(t, st, nil)); len(e.Engines) != 0 {
			t.Errorf("%s: engines %+v", st, e.Engines)
		}
	}
}
