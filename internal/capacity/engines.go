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
	EngineOllama = model.EngineOllama
	// EngineVLLM is a throughput engine: 16-bit weights, continuous
	// batching over a paged KV cache that takes what the weights leave of
	// the GPU's memory, up to its max-num-seqs.
	EngineVLLM = model.EngineVLLM
)

// Served is what one engine serves on one GPU under the stage's workload.
type Served struct {
	Engine string `json:"engine"`
	GPU    string `json:"gpu"`
	// Weights is the LLM's weights as the engine loads them.
	WeightsGB float64 `json:"weightsGB"`
	// Batch is the generations decoded together: Ollama's slots (what it
	// can hold), or the sequences vLLM has in flight at the load served
	// (Little's law's mean).
	Batch int `json:"batch"`
	// BandwidthEfficiency is the share of the memory bandwidth a decode
	// step reaches, and where the figure comes from.
	BandwidthEfficiency float64 `json:"bandwidthEfficiency"`
	EfficiencyFrom      string  `json:"efficiencyFrom"`
	// PrefillTokensPerSec is one GPU's prompt rate; DecodeTokensPerSec the
	// tokens one decode step of the batch yields a second while it runs.
	PrefillTokensPerSec float64 `json:"prefillTokensPerSecond"`
	DecodeTokensPerSec  float64 `json:"decodeTokensPerSecond"`
	// GenerateSeconds and EmbedSeconds are the GPU time of one request;
	// PrefillShare is the GPU's time spent on prompts and embeddings
	// together at the load served.
	GenerateSeconds float64 `json:"generateSeconds"`
	EmbedSeconds    float64 `json:"embedSeconds"`
	PrefillShare    float64 `json:"prefillShare"`
	// PerGPU is the AI requests of the mix one GPU serves a second at the
	// quoted utilisation.
	PerGPU float64 `json:"requestsPerSecondPerGPU"`
	// TTFT and LastToken are a generation's time to its first and last
	// token, seconds: the wait at its median or 95th percentile, plus the
	// mean prefill and decode (the decode's own spread, other prompts
	// arriving while it runs, is not in them: the real 95th percentile of
	// the last token is later).
	TTFTMedian      float64 `json:"ttftMedianSeconds"`
	TTFTP95         float64 `json:"ttftP95Seconds"`
	LastTokenMedian float64 `json:"lastTokenMedianSeconds"`
	LastTokenP95    float64 `json:"lastTokenP95Seconds"`
	// GPUsForSeed is the GPUs that serve the seed's AI requests alone, and
	// GPUMonthlyVND what they cost on the stage's provider (0 off it).
	// MeetsResponse says LastTokenP95 is within the plan's response time.
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
	need := max(prof.AIRequests[0], float64(prof.Users[0])*w.AIPerUser)
	e.EnginesFor = need
	ceiling := prof.Response[1]
	price := 0.0
	if t, ok := aws.Prices[cfg.Cloud.Region]; ok && prof.Provider == "aws" {
		price = t.EC2[cfg.Cloud.GPUInstanceType] * aws.HoursPerMonth * cfg.Costs.UsdVnd
	}
	add := func(s Served) {
		// With no generations in the mix there is no answer to wait for.
		s.MeetsResponse = s.LastTokenP95 <= ceiling || w.EmbedShare >= 1
		s.GPUsForSeed = int(math.Ceil(need / s.PerGPU))
		s.GPUMonthlyVND = price * float64(s.GPUsForSeed)
		e.Engines = append(e.Engines, s)
	}
	base := roofline{g: g, w: w, llm: cfg.LLM, emb: cfg.Embedding, computEff: w.ComputeEfficiency}
	ollama := base
	ollama.weights, ollama.batch, ollama.bwEff = float64(cfg.LLM.Size), float64(cfg.AI.Parallel), w.BandwidthEfficiency
	o := slotted(ollama, ceiling)
	o.Engine, o.GPU, o.EfficiencyFrom = EngineOllama, cfg.Host.GPU, "capacity.bandwidthEfficiency"
	add(o)

	cal := Measurements[0]
	eff, err := vllmEfficiency(cal)
	if err != nil {
		return err
	}
	// vLLM's memory as the cloud stage runs it (model.VLLMMemory): the
	// embedding model in a second process on the same GPU, with its own
	// share.
	llmShare, embedShare, weights, kvRoom := model.VLLMMemory(cfg)
	vllm := base
	vllm.weights, vllm.bwEff = float64(weights), eff
	fits := float64(model.VLLMSeqs(cfg, kvRoom, w.PromptTokens+w.OutputTokens))
	if fits < 1 {
		e.Assumptions = append(e.Assumptions, fmt.Sprintf("a throughput engine cannot serve %s on one %s in 16-bit weights: %.1f GB of weights and %.1f GB of working memory against its share of %.2f of %.1f GB leave no KV cache for a sequence of %d tokens",
			cfg.LLM.Name, cfg.Host.GPU, vllm.weights/1e9, float64(model.VLLMWorking)/1e9, llmShare, float64(model.GPUMemory(cfg))/1e9, w.PromptTokens+w.OutputTokens))
		return nil
	}
	v := batching(vllm, fits, ceiling)
	v.Engine, v.GPU = EngineVLLM, cfg.Host.GPU
	v.EfficiencyFrom = fmt.Sprintf("%s on %s at %d concurrent, %.2f ms a token", cal.Source, cal.GPU, cal.Concurrency, cal.MedianTPOTms)
	add(v)
	e.Assumptions = append(e.Assumptions,
		fmt.Sprintf("the throughput engine (vLLM, as cloud.aiEngine vllm runs it) holds %s in 16-bit weights (%.1f GB); its KV cache is what its share of %.2f of the %.1f GB the GPU's driver reports leaves after them and %.1f GB of working memory (activations, CUDA graphs: assumed), the embedding model's process reserving %.2f beside it and each process's CUDA context outside the shares: %.0f sequences of %d+%d tokens, up to %d; its decode reaches %.0f %% of the memory bandwidth, what %s measured (%.2f ms a token at %d concurrent on %s); its prefill the configured %.0f %% of the tensor peak (not measured)",
			cfg.LLM.Name, vllm.weights/1e9, llmShare, float64(model.GPUMemory(cfg))/1e9, float64(model.VLLMWorking)/1e9, embedShare, fits, w.PromptTokens, w.OutputTokens, model.VLLMMaxSeqs, eff*100, cal.URL, cal.MedianTPOTms, cal.Concurrency, cal.GPU, w.ComputeEfficiency*100),
		"the throughput engine's sequences in flight follow from Little's law: each decodes while prompts and embeddings take their share of the GPU between its steps (as vLLM's V0 scheduler ran them; v0.19.0's V1 scheduler mixes prompt chunks into the steps, which shortens answers under load); its load is the most at which they fit its KV cache, times capacity.utilization",
		"waits are an M/G/1 queue's per GPU (Pollaczek-Khinchine's mean for the mix of short embeddings and long generations, or of prompts, a conditional wait exponential beyond it; for Ollama's slots one FIFO server of each request's GPU time, pessimistic); the first and last token are the 95th percentile of the wait plus the mean prefill and decode, not the 95th percentile of the answer; both engines run at less load where that would miss the plan's response time and a lower load would not; prompts share no cached prefix")
	return nil
}

// waitQuantile is the p-quantile of an M/G/1 queue's wait at utilisation
// rho, given its mean: zero with probability 1-rho, else exponential with
// mean mean/rho.
func waitQuantile(p, rho, mean float64) float64 {
	if rho <= 1-p || mean <= 0 {
		return 0
	}
	return mean / rho * math.Log(rho/(1-p))
}

// slotted is Ollama: a fixed number of slots decode together, a request
// holds the GPU for its share of them, and requests wait as at one FIFO
// server of each request's GPU time (M/G/1: an approximation of the slots,
// pessimistic against one, that models neither the wait for a free slot
// nor other prompts stretching a decode). It runs at the quoted
// utilisation, or less where the answers would miss the ceiling and a
// lower load would not.
func slotted(r roofline, ceiling float64) Served {
	w := r.w
	work := r.work()
	prefill := float64(w.PromptTokens) / r.prefill()
	decode := float64(w.OutputTokens) * r.step()
	es2 := w.EmbedShare*r.embed()*r.embed() + (1-w.EmbedShare)*r.generate()*r.generate()
	at := func(lambda float64) (rho, mean float64) {
		rho = lambda * work
		return rho, lambda * es2 / (2 * (1 - rho))
	}
	last := func(lambda float64) (float64, bool) {
		rho, mean := at(lambda)
		return waitQuantile(0.95, rho, mean) + prefill + decode, rho < 1
	}
	lambda := withinCeiling(w.Utilization/work, last, ceiling)
	rho, mean := at(lambda)
	return Served{
		WeightsGB: r.weights / 1e9, Batch: int(r.batch), BandwidthEfficiency: r.bwEff,
		PrefillTokensPerSec: r.prefill(), DecodeTokensPerSec: r.batch / r.step(),
		GenerateSeconds: r.generate(), EmbedSeconds: r.embed(), PrefillShare: lambda * (w.EmbedShare*r.embed() + (1-w.EmbedShare)*prefill),
		PerGPU:          lambda,
		TTFTMedian:      waitQuantile(0.5, rho, mean) + prefill,
		TTFTP95:         waitQuantile(0.95, rho, mean) + prefill,
		LastTokenMedian: waitQuantile(0.5, rho, mean) + prefill + decode,
		LastTokenP95:    waitQuantile(0.95, rho, mean) + prefill + decode,
	}
}

// withinCeiling is the load to run at: lambda, or, where its answers end
// after the ceiling and a load near zero's do not, the most load whose
// answers end within it. last gives a load's last token and whether the
// load can be served at all.
func withinCeiling(lambda float64, last func(float64) (float64, bool), ceiling float64) float64 {
	if t, ok := last(lambda); !ok || t <= ceiling {
		return lambda
	}
	lo := lambda * 1e-6
	if t, ok := last(lo); !ok || t > ceiling {
		return lambda // no load meets it: the row says so
	}
	hi := lambda
	for range 60 {
		mid := (lo + hi) / 2
		if t, ok := last(mid); ok && t <= ceiling {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// batching is a continuously batching engine at the load it serves: n
// sequences in flight decode in steps of s(n) while prefills and
// embeddings (rho_pe of the GPU, M/G/1 among themselves) take their share,
// so a sequence decodes for T = ot*s(n)/(1-rho_pe), and n = lambda_g*T
// (Little's law). Its peak is the load at which n reaches what the KV
// cache holds; it runs at capacity.utilization of that, or less where the
// answers would miss the ceiling at the 95th percentile.
func batching(r roofline, fits, ceiling float64) Served {
	w := r.w
	pt, ot := float64(w.PromptTokens), float64(w.OutputTokens)
	prefill, embed := pt/r.prefill(), r.embed()
	e := w.EmbedShare
	// at is the operating point at lambda requests of the mix a second.
	type point struct {
		n, decode, rho, mean float64
		ok                   bool
	}
	at := func(lambda float64) point {
		lg := (1 - e) * lambda
		rho := lg*prefill + e*lambda*embed
		if rho >= 1 {
			return point{}
		}
		// n = lg*ot*s(n)/(1-rho), s growing in n: bisect on [0, fits].
		f := func(n float64) float64 {
			rr := r
			rr.batch = math.Max(n, 1e-9)
			return lg*ot*rr.step()/(1-rho) - n
		}
		if f(fits) > 0 {
			return point{}
		}
		lo, hi := 0.0, fits
		for range 60 {
			mid := (lo + hi) / 2
			if f(mid) > 0 {
				lo = mid
			} else {
				hi = mid
			}
		}
		rr := r
		rr.batch = math.Max(hi, 1e-9)
		es2 := e*lambda*embed*embed + lg*prefill*prefill
		return point{n: hi, decode: ot * rr.step() / (1 - rho), rho: rho, mean: es2 / (2 * (1 - rho)), ok: true}
	}
	last := func(p point) float64 { return waitQuantile(0.95, p.rho, p.mean) + prefill + p.decode }
	// The peak: the most load whose sequences fit the KV cache.
	lo, hi := 0.0, 1.0
	for at(hi).ok {
		hi *= 2
	}
	for range 60 {
		mid := (lo + hi) / 2
		if at(mid).ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	lambda := withinCeiling(w.Utilization*lo, func(l float64) (float64, bool) {
		p := at(l)
		return last(p), p.ok
	}, ceiling)
	p := at(lambda)
	rr := r
	rr.batch = math.Max(p.n, 1e-9)
	return Served{
		WeightsGB: r.weights / 1e9, Batch: int(math.Round(p.n)), BandwidthEfficiency: r.bwEff,
		PrefillTokensPerSec: r.prefill(), DecodeTokensPerSec: p.n / rr.step(),
		GenerateSeconds: prefill + ot*rr.step()/math.Max(p.n, 1), EmbedSeconds: embed, PrefillShare: p.rho,
		PerGPU:          lambda,
		TTFTMedian:      waitQuantile(0.5, p.rho, p.mean) + prefill,
		TTFTP95:         waitQuantile(0.95, p.rho, p.mean) + prefill,
		LastTokenMedian: waitQuantile(0.5, p.rho, p.mean) + prefill + p.decode,
		LastTokenP95:    last(p),
	}
}
