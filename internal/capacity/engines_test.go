package capacity

import (
	"math"
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

// The efficiency a measurement implies, put back into the roofline under
// the measurement's own load, gives back its measured time per token: the
// calibration and the model read the same bytes.
func TestCalibrationReplaysItsMeasurement(t *testing.T) {
	m := Measurements[0]
	eff, err := vllmEfficiency(m)
	if err != nil {
		t.Fatal(err)
	}
	// By hand: 2 x 8.03e9 + 50 x (100 + 22,170/50/2) x 131,072 = 16.06e9 + 2.0983e9 = 18.158e9 bytes
	// a step, in 35.96 ms: 504.96 GB/s of the A40's 696, 0.72552.
	if !close(eff, 0.72552, 1e-3) {
		t.Errorf("efficiency %v, want 0.72552", eff)
	}
	r := roofline{g: GPUs[m.GPU], llm: model.LLM{Params: m.Params, KVPerToken: model.Bytes(m.KVPerToken)},
		w:       model.CapacityConfig{PromptTokens: m.InputTokens, OutputTokens: int(math.Round(float64(m.GeneratedTokens) / float64(m.Requests)))},
		weights: 2 * m.Params * 1e9, batch: float64(m.Concurrency), bwEff: eff, computEff: 0.4}
	if got := r.step() * 1000; !close(got, m.MedianTPOTms, 2e-3) {
		t.Errorf("the roofline at the measured load steps in %.2f ms, measured %.2f", got, m.MedianTPOTms)
	}
}

// The cloud's engines on its defaults, worked by hand.
func TestCloudEnginesByHand(t *testing.T) {
	e := compute(t, load(t, model.Cloud, nil))
	if len(e.Engines) != 2 || e.Engines[0].Engine != EngineOllama || e.Engines[1].Engine != EngineVLLM {
		t.Fatalf("engines %+v", e.Engines)
	}
	ollama, vllm := e.Engines[0], e.Engines[1]
	// Ollama's row is the stage's own AI figures, a GPU at a time.
	if !close(ollama.PerGPU*float64(e.AI.GPUs), e.AI.SelfHosted, 1e-9) || ollama.Batch != e.AI.Slots {
		t.Errorf("ollama %+v against the AI figures %+v", ollama, e.AI)
	}
	// vLLM on an A10G (24 GiB): 0.9 x 25,769,803,776 - 16.06e9 = 7.1328e9 bytes of KV cache;
	// a sequence of 400 + 60 tokens takes 460 x 131,072 = 60.293e6: 118 sequences.
	if vllm.Batch != 118 || !close(vllm.WeightsGB, 16.06, 1e-9) {
		t.Errorf("vllm batch %d, weights %v GB", vllm.Batch, vllm.WeightsGB)
	}
	// A step: (16.06e9 + 118 x 430 x 131,072) / (600e9 x 0.72552) = 22.711e9 / 435.31e9 = 52.17 ms;
	// its 60 tokens alone take 3.13 s: no batch answers within the plan's 2 s on 16-bit weights.
	step := (16.06e9 + 118*430*131_072) / (600e9 * 0.72552)
	if !close(float64(vllm.Batch)/vllm.DecodeTokensPerSec, step, 1e-3) {
		t.Errorf("step %v, want %v", float64(vllm.Batch)/vllm.DecodeTokensPerSec, step)
	}
	if vllm.MeetsResponse || !ollama.MeetsResponse {
		t.Errorf("vllm meets the 2 s: %v (p95 %.2f s), ollama: %v (p95 %.2f s)", vllm.MeetsResponse, vllm.LastTokenP95, ollama.MeetsResponse, ollama.LastTokenP95)
	}
	// A generation: 400 / 3,113.3 + 60 x 52.17 ms / 118 = 0.12848 + 0.02653 = 0.15501 GPU-s,
	// its prefill 83 %; the mix 0.9 x 0.00070144 + 0.1 x 0.15501 = 0.016132 s; 0.8 / it = 49.59 a GPU.
	if !close(vllm.GenerateSeconds, 0.15501, 1e-3) || !close(vllm.PerGPU, 49.59, 1e-3) || !close(vllm.PrefillShare, 0.8289, 1e-3) {
		t.Errorf("vllm generation %v s, %v a GPU, prefill share %v", vllm.GenerateSeconds, vllm.PerGPU, vllm.PrefillShare)
	}
	// The seed's 1,500 requests/s (10,000 users x 0.15): 31 GPUs, at g5.xlarge's $1.006 x 730 h x 26,000.
	if e.EnginesFor != 1500 || vllm.GPUsForSeed != 31 || ollama.GPUsForSeed != 63 {
		t.Errorf("for %v/s: vllm %d GPUs, ollama %d", e.EnginesFor, vllm.GPUsForSeed, ollama.GPUsForSeed)
	}
	month := aws.Prices["us-east-1"].EC2["g5.xlarge"] * aws.HoursPerMonth * 26000
	if !close(vllm.GPUMonthlyVND, 31*month, 1e-9) {
		t.Errorf("vllm GPUs cost %v, want %v", vllm.GPUMonthlyVND, 31*month)
	}
	// The 95th percentile of an M/M/1 wait at 80 %: ln(0.8 / 0.05) / (mu - lambda) = 2.7726 x 0.016132 / 0.2.
	wait := math.Log(16) * 0.016132 / 0.2
	if !close(vllm.TTFTP95, wait+400/3113.325, 2e-3) {
		t.Errorf("first token p95 %v, want %v", vllm.TTFTP95, wait+400/3113.325)
	}
}

// Where shorter answers let vLLM meet the plan's response time, it batches
// the most that still do.
func TestVLLMBatchesWithinTheResponseTime(t *testing.T) {
	e := compute(t, load(t, model.Cloud, map[string]string{"capacity": `{"outputTokens": 20}`}))
	v := e.Engines[1]
	if !v.MeetsResponse || v.LastTokenP95 > 2 {
		t.Fatalf("20-token answers: p95 %.2f s, meets %v", v.LastTokenP95, v.MeetsResponse)
	}
	cfg := load(t, model.Cloud, map[string]string{"capacity": `{"outputTokens": 20}`})
	r := roofline{g: GPUs["NVIDIA A10G"], w: cfg.Capacity, llm: cfg.LLM, emb: cfg.Embedding, weights: 2 * cfg.LLM.Params * 1e9,
		batch: float64(v.Batch + 1), bwEff: v.BandwidthEfficiency, computEff: cfg.Capacity.ComputeEfficiency}
	kvFits := math.Floor((float64(cfg.Host.VRAM)*0.9 - r.weights) / (420 * 131_072))
	if float64(v.Batch) < math.Min(kvFits, 256) && served("", "", r, 1).LastTokenP95 <= 2 {
		t.Errorf("batch %d: one more (%d) would still answer within 2 s", v.Batch, v.Batch+1)
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
