package capacity

import (
	"fmt"
	"math"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/provider/aws"
)

// Measurement is one published benchmark of an LLM server, quoted as its
// source gives it: the GPU, the model and its precision, the load (requests
// sent at once, their prompt length), and what the run measured.
type Measurement struct {
	Source, URL string
	Engine      string
	GPU         string // a key of GPUs
	Model       string
	Precision   string
	// Params is the model's parameters, billions; KVPerToken its FP16 KV
	// cache a token (Llama 3.1 8B: 32 layers x 8 KV heads x 128 x K,V x 2 bytes).
	Params     float64
	KVPerToken float64
	// Concurrency is the requests in flight; Requests how many were sent.
	Concurrency, Requests int
	InputTokens           int // a request's prompt
	DurationSeconds       float64
	GeneratedTokens       int // over the run
	// OutputTokensPerSecond is the run's output throughput as published.
	OutputTokensPerSecond float64
	MedianTTFTms          float64
	P99TTFTms             float64
	// MedianTPOTms is the median time per output token after the first:
	// one decode step of the batch.
	MedianTPOTms float64
}

// Measurements are the published figures the throughput engine's model is
// calibrated on. Only figures whose load is stated fully enough to
// recompute them are here; others, less complete, are named in the
// README's capacity section.
var Measurements = []Measurement{{
	Source: "Database Mart, A40 vLLM Benchmark: 7B to 14B LLMs Under 50 & 100 Concurrent Requests (2025), scenario 1, meta-llama/Llama-3.1-8B-Instruct column",
	URL:    "https://databasemart.com/blog/vllm-gpu-benchmark-a40",
	Engine: EngineVLLM, GPU: "NVIDIA A40", Model: "meta-llama/Llama-3.1-8B-Instruct", Precision: "16-bit (FP16/BF16)",
	Params: 8.03, KVPerToken: 32 * 8 * 128 * 2 * 2,
	Concurrency: 50, Requests: 50, InputTokens: 100, DurationSeconds: 21.81, GeneratedTokens: 22170,
	OutputTokensPerSecond: 1016.60, MedianTTFTms: 219.88, P99TTFTms: 242.82, MedianTPOTms: 35.96,
}}

// Serving engines nfx models.
const (
	// EngineOllama is what every stage runs: llama.cpp's Q4 weights, a
	// fixed number of request slots (ai.parallel).
	EngineOllama = "ollama"
	// EngineVLLM is a throughput engine: 16-bit weights, continuous
	// batching over a paged KV cache that takes what the weights leave of
	// the GPU's memory, up to its max-num-seqs.
	EngineVLLM = "vllm"
)

// vLLM's defaults the model follows: the share of the GPU's memory it takes
// (--gpu-memory-utilization 0.9) and the sequences it batches at most
// (--max-num-seqs 256).
const (
	vllmMemoryShare = 0.9
	vllmMaxSeqs     = 256
)

// Served is what one engine serves on one GPU under the stage's workload.
type Served struct {
	Engine string `json:"engine"`
	GPU    string `json:"gpu"`
	// Weights is the LLM's weights as the engine loads them.
	WeightsGB float64 `json:"weightsGB"`
	// Batch is the generations decoded together: Ollama's slots, or
	// vLLM's --max-num-seqs, the largest batch its KV cache holds at the
	// workload's lengths whose answers end within the plan's response time.
	Batch int `json:"batch"`
	// BandwidthEfficiency is the share of the memory bandwidth a decode
	// step reaches, and where the figure comes from.
	BandwidthEfficiency float64 `json:"bandwidthEfficiency"`
	EfficiencyFrom      string  `json:"efficiencyFrom"`
	PrefillTokensPerSec float64 `json:"prefillTokensPerSecond"`
	DecodeTokensPerSec  float64 `json:"decodeTokensPerSecond"`
	// GenerateSeconds and EmbedSeconds are the GPU time of one request;
	// PrefillShare is the prompt's part of a generation's.
	GenerateSeconds float64 `json:"generateSeconds"`
	EmbedSeconds    float64 `json:"embedSeconds"`
	PrefillShare    float64 `json:"prefillShare"`
	// PerGPU is the AI requests of the mix one GPU serves a second at the
	// quoted utilisation.
	PerGPU float64 `json:"requestsPerSecondPerGPU"`
	// TTFT and LastToken are a generation's time to its first and last
	// token, seconds, at the median and the 95th percentile of the wait.
	TTFTMedian      float64 `json:"ttftMedianSeconds"`
	TTFTP95         float64 `json:"ttftP95Seconds"`
	LastTokenMedian float64 `json:"lastTokenMedianSeconds"`
	LastTokenP95    float64 `json:"lastTokenP95Seconds"`
	// GPUsForSeed is the GPUs that serve the seed's AI requests alone, and
	// GPUMonthlyVND what they cost on the stage's provider (0 off it).
	// MeetsResponse says a generation's last token comes within the
	// plan's response time at the 95th percentile.
	MeetsResponse bool    `json:"meetsResponse"`
	GPUsForSeed   int     `json:"gpusForSeed"`
	GPUMonthlyVND float64 `json:"gpuMonthlyVND,omitempty"`
}

// roofline is the serving model both engines share: a decode step reads
// the weights once and each batched sequence's KV cache at the bandwidth
// efficiency, and cannot beat the tensor throughput; prefill and
// embeddings are compute-bound.
type roofline struct {
	g                GPU
	w                model.CapacityConfig
	llm, emb         model.LLM
	weights          float64 // bytes
	batch            float64
	bwEff, computEff float64
}

func (r roofline) bandwidth() float64 { return r.g.BandwidthGBs * 1e9 * r.bwEff }
func (r roofline) flops() float64     { return r.g.TFLOPS * 1e12 * r.computEff }

// step is one decode step of a full batch, seconds.
func (r roofline) step() float64 {
	pt, ot := float64(r.w.PromptTokens), float64(r.w.OutputTokens)
	kvRead := r.batch * (pt + ot/2) * float64(r.llm.KVPerToken)
	return math.Max((r.weights+kvRead)/r.bandwidth(), r.batch*2*r.llm.Params*1e9/r.flops())
}

func (r roofline) prefill() float64 { return r.flops() / (2 * r.llm.Params * 1e9) }

// generate is one generation's GPU time: its prefill, then its share of
// the decode steps it rides.
func (r roofline) generate() float64 {
	return float64(r.w.PromptTokens)/r.prefill() + float64(r.w.OutputTokens)*r.step()/r.batch
}

// embed is one embedding's GPU time: the embedding model's weights read
// once, compute-bound beyond that; without one the LLM prefills the text.
func (r roofline) embed() float64 {
	if r.emb.Name == "" {
		return float64(r.w.EmbedTokens) / r.prefill()
	}
	return math.Max(float64(r.emb.Size)/r.bandwidth(), float64(r.w.EmbedTokens)*2*r.emb.Params*1e9/r.flops())
}

// work is the mean GPU time of one request of the mix.
func (r roofline) work() float64 {
	return r.w.EmbedShare*r.embed() + (1-r.w.EmbedShare)*r.generate()
}

// vllmEfficiency is the bandwidth efficiency a measurement implies: the
// bytes its decode steps read (16-bit weights, and each of its concurrent
// sequences' KV cache at the prompt and half the mean answer) over its
// median time per output token, against the GPU's bandwidth.
func vllmEfficiency(m Measurement) (float64, error) {
	g, ok := GPUs[m.GPU]
	if !ok {
		return 0, fmt.Errorf("measurement on %s: no figures for that GPU", m.GPU)
	}
	meanOut := float64(m.GeneratedTokens) / float64(m.Requests)
	bytes := 2*m.Params*1e9 + float64(m.Concurrency)*(float64(m.InputTokens)+meanOut/2)*m.KVPerToken
	return bytes / (m.MedianTPOTms / 1000) / (g.BandwidthGBs * 1e9), nil
}

// engines compares Ollama, as the stage runs it, with a throughput engine
// on the same GPU, for a provider's stage: what each serves a GPU, how
// fast a generation's first and last token come, and the GPUs (and their
// cost) the seed's AI requests would take.
func (e *Estimate) engines(cfg *model.Config) error {
	prof := model.Profiles[cfg.Stage]
	if prof.Hosting != model.Provider || !cfg.UseGPU {
		return nil
	}
	g, ok := GPUs[cfg.Host.GPU]
	if !ok {
		return nil // ai() has refused it already
	}
	w := cfg.Capacity
	base := roofline{g: g, w: w, llm: cfg.LLM, emb: cfg.Embedding, computEff: w.ComputeEfficiency}
	ollama := base
	ollama.weights, ollama.batch, ollama.bwEff = float64(cfg.LLM.Size), float64(cfg.AI.Parallel), w.BandwidthEfficiency
	cal := Measurements[0]
	eff, err := vllmEfficiency(cal)
	if err != nil {
		return err
	}
	vllm := base
	vllm.weights, vllm.bwEff = 2*cfg.LLM.Params*1e9, eff
	vram := float64(cfg.Host.VRAM)
	kvRoom := vram*vllmMemoryShare - vllm.weights
	perSeq := float64(w.PromptTokens+w.OutputTokens) * float64(cfg.LLM.KVPerToken)
	if kvRoom <= 0 || perSeq <= 0 {
		return nil
	}
	fits := math.Min(vllmMaxSeqs, math.Floor(kvRoom/perSeq))
	if fits < 1 {
		return nil
	}
	// vLLM batches up to --max-num-seqs: the largest batch whose answers
	// still end within the plan's response time at the 95th percentile,
	// else the most the KV cache holds (the answers are slow either way).
	ceiling := prof.Response[1]
	vllm.batch = fits
	for b := fits; b >= 1; b-- {
		vllm.batch = b
		if served("", "", vllm, 1).LastTokenP95 <= ceiling {
			break
		}
		if b == 1 {
			vllm.batch = fits
		}
	}
	need := max(prof.AIRequests[0], float64(prof.Users[0])*w.AIPerUser)
	e.EnginesFor = need
	price := 0.0
	if t, ok := aws.Prices[cfg.Cloud.Region]; ok && prof.Provider == "aws" {
		price = t.EC2[cfg.Cloud.GPUInstanceType] * aws.HoursPerMonth * cfg.Costs.UsdVnd
	}
	for _, c := range []struct {
		name string
		r    roofline
		from string
	}{
		{EngineOllama, ollama, "capacity.bandwidthEfficiency"},
		{EngineVLLM, vllm, fmt.Sprintf("%s on %s at %d concurrent, %.2f ms a token", cal.Source, cal.GPU, cal.Concurrency, cal.MedianTPOTms)},
	} {
		s := served(c.name, cfg.Host.GPU, c.r, need)
		s.EfficiencyFrom = c.from
		s.MeetsResponse = s.LastTokenP95 <= ceiling
		s.GPUMonthlyVND = price * float64(s.GPUsForSeed)
		e.Engines = append(e.Engines, s)
	}
	e.Assumptions = append(e.Assumptions,
		fmt.Sprintf("the throughput engine (vLLM) holds %s in 16-bit weights (%.1f GB) and batches what %.0f %% of the GPU's memory leaves for the KV cache at %d+%d tokens a sequence, up to %d sequences, fewer where the answers would miss the plan's %g s; its decode reaches %.0f %% of the memory bandwidth, what %s measured (%.2f ms a token at %d concurrent on %s)",
			cfg.LLM.Name, vllm.weights/1e9, vllmMemoryShare*100, w.PromptTokens, w.OutputTokens, vllmMaxSeqs, ceiling, eff*100, cal.URL, cal.MedianTPOTms, cal.Concurrency, cal.GPU),
		fmt.Sprintf("a generation's waiting time is an M/M/1 queue's per GPU at %.0f %% utilisation; the 95th percentile is quoted beside the median; prompts share no cached prefix", w.Utilization*100))
	return nil
}

// served is one engine's figures from its roofline under the mix.
func served(engine, gpu string, r roofline, need float64) Served {
	w := r.w
	work := r.work()
	perGPU := w.Utilization / work
	prefill := float64(w.PromptTokens) / r.prefill()
	decode := float64(w.OutputTokens) * r.step()
	// M/M/1: the wait exceeds t with probability rho·e^(-(mu-lambda)t).
	mu := 1 / work
	lambda := w.Utilization * mu
	wait := func(p float64) float64 {
		if w.Utilization <= 1-p {
			return 0
		}
		return math.Log(w.Utilization/(1-p)) / (mu - lambda)
	}
	return Served{
		Engine: engine, GPU: gpu, WeightsGB: r.weights / 1e9, Batch: int(r.batch), BandwidthEfficiency: r.bwEff,
		PrefillTokensPerSec: r.prefill(), DecodeTokensPerSec: r.batch / r.step(),
		GenerateSeconds: r.generate(), EmbedSeconds: r.embed(), PrefillShare: prefill / r.generate(),
		PerGPU:          perGPU,
		TTFTMedian:      wait(0.5) + prefill,
		TTFTP95:         wait(0.95) + prefill,
		LastTokenMedian: wait(0.5) + prefill + decode,
		LastTokenP95:    wait(0.95) + prefill + decode,
		GPUsForSeed:     int(math.Ceil(need / perGPU)),
	}
}
