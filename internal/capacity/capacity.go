// Package capacity estimates what a stage serves from its resources:
// concurrent users, AI requests per second, the response time of an AI
// generation and the uptime. The AI side is a roofline model of LLM
// serving on the stage's GPUs (decode bound by memory bandwidth, prefill
// by tensor throughput) under the workload of `nextflow:capacity`; the CRM
// side is its cores times a per-core rate; uptime adds up the downtime of
// the failures a stage's redundancy does not hide. Every assumption is
// listed in the estimate. It is pure: no Pulumi, no I/O.
package capacity

import (
	"fmt"
	"math"
	"time"

	"github.com/nextflow-crm/nfx/internal/model"
)

// Estimate is what one stage serves.
type Estimate struct {
	Stage string `json:"stage"`
	// ConcurrentUsers is the users served at once within the utilisation
	// the capacity is quoted at: the lower of the AI and CRM bounds.
	ConcurrentUsers int `json:"concurrentUsers"`
	// Bottleneck is "ai" or "crm", whichever bounds the users.
	Bottleneck string `json:"bottleneck"`
	// AIRequestsPerSecond is the AI requests (embeddings and generations
	// in the workload's mix) served per second.
	AIRequestsPerSecond float64 `json:"aiRequestsPerSecond"`
	// ResponseSeconds is the mean time of one generation request on the
	// stage's own GPUs at that load (embeddings take milliseconds).
	ResponseSeconds float64 `json:"responseSeconds"`
	// UptimePercent is the expected availability over the service hours.
	UptimePercent float64 `json:"uptimePercent"`
	// ServiceHoursPerDay is how long the stage is meant to serve each day.
	ServiceHoursPerDay float64 `json:"serviceHoursPerDay"`
	// DowntimeHoursPerMonth is the expected downtime within those hours.
	DowntimeHoursPerMonth float64 `json:"downtimeHoursPerMonth"`

	AI  AI  `json:"ai"`
	CRM CRM `json:"crm"`
	// CPU is each part's share of the stage's CPU, and CPUAvailable what
	// the shares are of.
	CPU          []Share  `json:"cpu"`
	CPUAvailable float64  `json:"cpuAvailable"`
	Uptime       []Outage `json:"uptime"`
	// Standby, on the cloud with cloud.standbyRegion, is the second
	// region that holds a copy of the data.
	Standby *Standby `json:"standby,omitempty"`
	// Seed compares the estimate with the seed's figures for the stage.
	Seed []Check `json:"seed"`
	// Reach, when the AI falls short of the seed's figures, says what
	// would close the gap.
	Reach *Reach `json:"reach,omitempty"`
	// Engines compares, on a provider's stage, the serving engine it runs
	// (Ollama) with a throughput engine on the same GPU.
	Engines []Served `json:"engines,omitempty"`
	// EnginesFor is the AI requests a second the engines' GPUs are
	// counted for: the larger of the seed's and its users' times
	// capacity.aiPerUser.
	EnginesFor  float64  `json:"enginesForRequestsPerSecond,omitempty"`
	Assumptions []string `json:"assumptions"`

	measured Measured
}

// AI is the AI side of the estimate.
type AI struct {
	// Engine serves the models: ollama, or vllm on a cloud set to it.
	Engine         string `json:"engine"`
	Model          string `json:"model"`
	EmbeddingModel string `json:"embeddingModel"`
	GPU            string `json:"gpu"`
	// GPUs is the number of GPUs serving (one AI node or pod each).
	GPUs int `json:"gpus"`
	// Slots is the requests one GPU decodes together: Ollama's slots
	// (ai.parallel), or the sequences vLLM has in flight at its load.
	Slots int `json:"slots"`
	// PrefillTokensPerSecond and DecodeTokensPerSecond are one GPU's rates,
	// decode with every slot busy.
	PrefillTokensPerSecond float64 `json:"prefillTokensPerSecond"`
	DecodeTokensPerSecond  float64 `json:"decodeTokensPerSecond"`
	// TokenSeconds is the time of one decode step: how fast one request's
	// answer streams.
	TokenSeconds float64 `json:"tokenSeconds"`
	// EmbedSeconds and GenerateSeconds are the GPU time of one request.
	EmbedSeconds    float64 `json:"embedSeconds"`
	GenerateSeconds float64 `json:"generateSeconds"`
	// SelfHosted is what the stage's GPUs serve, API what the AI API
	// budget (costs.aiApi) pays for during the busy hours.
	SelfHosted float64 `json:"selfHostedPerSecond"`
	// SelfHostedAtMax is what the GPUs serve once autoscaled to their
	// ceiling (cloud.gpuMax), where the stage scales the AI (vLLM).
	SelfHostedAtMax float64 `json:"selfHostedAtMaxPerSecond,omitempty"`
	API             float64 `json:"apiPerSecond"`
	// APICostPerRequest is the API's price of one request of the mix, USD.
	APICostPerRequest float64 `json:"apiCostPerRequestUSD"`
	// Users is the concurrent users the AI serves.
	Users int `json:"users"`
}

// CRM is the web side of the estimate.
type CRM struct {
	Replicas int     `json:"replicas"`
	Cores    float64 `json:"cores"`
	// RequestsPerSecond is what the replicas serve at the quoted utilisation.
	RequestsPerSecond float64 `json:"requestsPerSecond"`
	Users             int     `json:"users"`
}

// Standby is the copy of the data in a second region: what a region lost
// costs in data (the recovery point), and how the stage comes back; with a
// cluster there, the failover's time, which the uptime counts.
type Standby struct {
	Region string `json:"region"`
	// DataLost says what of the data a lost primary region takes with it.
	DataLost string `json:"dataLost"`
	// Recovery says what bringing the stage back there takes.
	Recovery string `json:"recovery"`
	// FailoverMinutes, with a cluster there (cloud.standbyCluster), is
	// the failover's time the uptime counts; FailoverMinutesForSeed the
	// failover time at which the uptime would reach the seed's.
	FailoverMinutes        float64 `json:"failoverMinutes,omitempty"`
	FailoverMinutesForSeed float64 `json:"failoverMinutesForSeed,omitempty"`
	// PromoteMeasured names the rehearsal whose measured promotion the
	// failover's time counts instead of the assumed one (Measured).
	PromoteMeasured string `json:"promoteMeasured,omitempty"`
}

// Measured are figures measured on the stack itself, which take the place
// of the model's assumptions where they are given.
type Measured struct {
	// Promote is how long the standby's database took to become the
	// writer by its names, as nfx failover --rehearse measures it (a
	// replica of the standby promoted as a failover promotes it, plus the
	// names' TTL); zero for none.
	Promote time.Duration
	// PromoteSource names the measurement, for the figures that use it.
	PromoteSource string
}

// Outage is one cause of downtime.
type Outage struct {
	Cause          string  `json:"cause"`
	EventsPerMonth float64 `json:"eventsPerMonth"`
	// HoursEach is the downtime one event causes: the repair time, or the
	// failover time where the stage is redundant.
	HoursEach     float64 `json:"hoursEach"`
	DowntimeHours float64 `json:"downtimeHours"`
	Detail        string  `json:"detail"`
}

// Check is one figure against the seed's.
type Check struct {
	Metric   string  `json:"metric"`
	Estimate float64 `json:"estimate"`
	// Low and High bound the seed's range; High is 0 for "Low or more".
	Low    float64 `json:"low"`
	High   float64 `json:"high"`
	Within bool    `json:"within"`
	Seed   string  `json:"seed"`
}

// Reach is what a stage needs to serve the seed's AI requests and users.
type Reach struct {
	// AIRequestsPerSecond is the larger of the seed's AI figure and its
	// users times capacity.aiPerUser.
	AIRequestsPerSecond float64 `json:"aiRequestsPerSecond"`
	// MoreGPUs is the GPU nodes to add (ai.replicas) to serve it alone.
	MoreGPUs int `json:"moreGPUs"`
	// APIBudget is the monthly costs.aiApi, VND, that would serve it with
	// the stage's GPUs; 0 where the stage uses no AI API.
	APIBudget float64 `json:"apiBudgetVND,omitempty"`
	// CRMReplicas is the CRM replicas (the cloud: crmMaxReplicas) the
	// seed's users need, when the CRM bounds them below the seed.
	CRMReplicas int `json:"crmReplicas,omitempty"`
}

// hoursPerMonth is the mean month, 365.25 × 24 / 12.
const hoursPerMonth = 730.5

// Compute estimates a loaded stage on the model's assumptions.
func Compute(cfg *model.Config) (*Estimate, error) {
	return ComputeMeasured(cfg, Measured{})
}

// ComputeMeasured estimates a loaded stage, with the figures measured on
// it in place of the assumptions they replace.
func ComputeMeasured(cfg *model.Config, m Measured) (*Estimate, error) {
	if m.Promote < 0 || m.Promote > 24*time.Hour {
		return nil, fmt.Errorf("a measured promotion of %s is not one: it is taken from the ledger's rehearsals, 0 to 24 h", m.Promote)
	}
	w := cfg.Capacity
	if _, err := model.ProfileOf(cfg.Stage); err != nil {
		return nil, err
	}
	e := &Estimate{Stage: string(cfg.Stage), measured: m}
	if err := e.ai(cfg); err != nil {
		return nil, err
	}
	if err := e.engines(cfg); err != nil {
		return nil, err
	}
	if err := e.served(cfg); err != nil {
		return nil, err
	}
	e.crm(cfg)
	e.cpu(cfg)
	e.AIRequestsPerSecond = e.AI.SelfHosted + e.AI.API
	e.AI.Users = int(e.AIRequestsPerSecond / w.AIPerUser)
	e.ConcurrentUsers, e.Bottleneck = e.AI.Users, "ai"
	if e.CRM.Users < e.AI.Users {
		e.ConcurrentUsers, e.Bottleneck = e.CRM.Users, "crm"
	}
	if err := e.uptime(cfg); err != nil {
		return nil, err
	}
	e.seed(cfg)
	e.reach(cfg)
	e.Assumptions = append(e.Assumptions,
		fmt.Sprintf("capacity is quoted at %.0f %% of peak throughput (capacity.utilization); above it queues grow without bound", w.Utilization*100),
		fmt.Sprintf("a concurrent user makes %g AI requests and %g CRM requests a second (capacity.aiPerUser, capacity.crmPerUser)", w.AIPerUser, w.CRMPerUser),
	)
	return e, nil
}

// ai is the roofline model of the stage's LLM serving. One decode step
// reads the weights once for every busy slot, plus each slot's KV cache,
// at the bandwidth efficiency; it cannot beat the tensor throughput.
// Prefill and embeddings are compute-bound.
func (e *Estimate) ai(cfg *model.Config) error {
	w := cfg.Capacity
	h := cfg.Host
	prof := model.Profiles[cfg.Stage]
	if !cfg.UseGPU {
		if prof.Hosting == model.Provider && !cfg.Cloud.GPUPool {
			return fmt.Errorf("%s: the capacity model covers Ollama on GPUs, and this stack runs it on CPU nodes; set cloud.gpuPool true to estimate it", model.FullKey("cloud.gpuPool"))
		}
		return fmt.Errorf("%s: the capacity model covers Ollama on GPUs, and this stack runs it on CPU; describe the host's GPU in nextflow:host (gpu, gpuCount, vram) or set ai.gpu true", model.FullKey("ai.gpu"))
	}
	g, ok := GPUs[h.GPU]
	if !ok {
		return fmt.Errorf("%s: GPU %q has no published figures in nfx; use one of %s", model.FullKey(prof.GPUKey), h.GPU, GPUNames())
	}
	llm, emb := cfg.LLM, cfg.Embedding
	r := roofline{g: g, w: w, llm: llm, emb: emb, weights: float64(llm.Size), batch: float64(cfg.AI.Parallel),
		bwEff: w.BandwidthEfficiency, computEff: w.ComputeEfficiency}
	step, ot := r.step(), float64(w.OutputTokens)
	e.AI = AI{
		Model: llm.Name, EmbeddingModel: emb.Name, GPU: h.GPU, Slots: cfg.AI.Parallel,
		PrefillTokensPerSecond: r.prefill(), DecodeTokensPerSecond: r.batch / step, TokenSeconds: step,
		GenerateSeconds: r.generate(), EmbedSeconds: r.embed(),
	}
	prefillTime := float64(w.PromptTokens) / r.prefill()
	work := r.work()
	// Each Ollama node reserves one GPU and holds one copy of the model
	// (every stage's stack asks for one GPU per AI task), so a host's
	// further GPUs add no throughput: add AI nodes instead.
	e.AI.GPUs = cfg.AI.Replicas
	e.AI.SelfHosted = w.Utilization * float64(e.AI.GPUs) / work
	// A generation's own time (prefill, then one token a step) plus the
	// wait for the GPU, an M/M/1 queue per node at the quoted utilisation.
	wait := w.Utilization * work / (1 - w.Utilization)
	e.ResponseSeconds = prefillTime + ot*step + wait
	e.Assumptions = append(e.Assumptions,
		fmt.Sprintf("%s: %s", h.GPU, g.Source),
		fmt.Sprintf("inference reaches %.0f %% of the memory bandwidth and %.0f %% of the FP16 tensor peak (capacity.bandwidthEfficiency, capacity.computeEfficiency)", w.BandwidthEfficiency*100, w.ComputeEfficiency*100),
		fmt.Sprintf("AI requests are %.0f %% embeddings of %d tokens and %.0f %% generations of %d prompt and %d output tokens (capacity.embedShare, embedTokens, promptTokens, outputTokens)", w.EmbedShare*100, w.EmbedTokens, (1-w.EmbedShare)*100, w.PromptTokens, w.OutputTokens),
		fmt.Sprintf("%s: %.1f GB of Q4 weights, %.2f billion parameters, %d KiB of KV cache per token; %d request slots per node (ai.parallel)", llm.Name, llm.Size.DecimalGB(), llm.Params, llm.KVPerToken/model.KiB, cfg.AI.Parallel),
	)
	if cfg.Costs.AIAPI > 0 {
		e.api(cfg)
	}
	return nil
}

// served takes the stage's AI figures from vLLM's row of the engines
// where vLLM serves the stage's models: its load a GPU, its batch and
// rates, and as the response time its last token's (the wait's 95th
// percentile plus the mean answer, longer than the mean the Ollama
// figure is).
func (e *Estimate) served(cfg *model.Config) error {
	e.AI.Engine = model.AIEngineOf(cfg)
	if e.AI.Engine != model.EngineVLLM {
		return nil
	}
	for _, s := range e.Engines {
		if s.Engine != EngineVLLM {
			continue
		}
		e.AI.Slots, e.AI.PrefillTokensPerSecond, e.AI.DecodeTokensPerSecond = s.Batch, s.PrefillTokensPerSec, s.DecodeTokensPerSec
		e.AI.TokenSeconds, e.AI.GenerateSeconds, e.AI.EmbedSeconds = float64(s.Batch)/s.DecodeTokensPerSec, s.GenerateSeconds, s.EmbedSeconds
		e.AI.SelfHosted = s.PerGPU * float64(e.AI.GPUs)
		e.ResponseSeconds = s.LastTokenP95
		e.AI.SelfHostedAtMax = s.PerGPU * float64(model.AIMaxReplicas(cfg))
		e.Assumptions = append(e.Assumptions, fmt.Sprintf("vLLM serves the models (cloud.aiEngine): the stage's AI figures are its row of the engines, %.1f requests a second on each of %d GPUs (ai.replicas), its response time the last token's (the wait's 95th percentile plus the mean answer); its pods scale on its queue up to cloud.gpuMax less the GPU services' tasks (%d GPUs, %.1f requests a second), one every 10 minutes at most, since each waits for a GPU node, the image and the weights, so a surge is served at ai.replicas' figure for its first 10 minutes or more", s.PerGPU, e.AI.GPUs, model.AIMaxReplicas(cfg), e.AI.SelfHostedAtMax))
		return nil
	}
	return fmt.Errorf("%s: vLLM cannot serve %s on the %s (see the engines' assumptions)", model.FullKey("cloud.aiEngine"), cfg.LLM.Name, cfg.Host.GPU)
}

// api is what the AI API budget buys: the requests of the mix it pays for
// in a month, spread over the busy hours.
func (e *Estimate) api(cfg *model.Config) {
	w := cfg.Capacity
	perRequest := (w.EmbedShare*float64(w.EmbedTokens)*w.APIPriceEmbed +
		(1-w.EmbedShare)*(float64(w.PromptTokens)*w.APIPriceInput+float64(w.OutputTokens)*w.APIPriceOutput)) / 1e6
	e.AI.APICostPerRequest = perRequest
	if perRequest <= 0 {
		return
	}
	budget := cfg.Costs.AIAPI / cfg.Costs.UsdVnd
	e.AI.API = budget / perRequest / (w.APIBusyHours * 3600)
	e.Assumptions = append(e.Assumptions, fmt.Sprintf(
		"the AI API budget (costs.aiApi, %.0f VND = %.0f USD a month) buys %.0f million requests of the mix at %g/%g/%g USD per million prompt/output/embedding tokens (capacity.apiPrice*), spent over %g busy hours a month (capacity.apiBusyHours)",
		cfg.Costs.AIAPI, budget, budget/perRequest/1e6, w.APIPriceInput, w.APIPriceOutput, w.APIPriceEmbed, w.APIBusyHours))
}

// crm bounds the users by the CRM's cores; the cloud's at the autoscaler's
// ceiling.
func (e *Estimate) crm(cfg *model.Config) {
	w := cfg.Capacity
	replicas := cfg.CRM.Replicas
	autoscaled := model.Profiles[cfg.Stage].Autoscaled
	if autoscaled {
		replicas = max(replicas, cfg.Cloud.CRMMaxReplicas)
	}
	cores := float64(replicas) * cfg.CRM.CPUs
	rps := w.Utilization * cores * w.CRMPerCore
	e.CRM = CRM{Replicas: replicas, Cores: cores, RequestsPerSecond: rps, Users: int(rps / w.CRMPerUser)}
	e.Assumptions = append(e.Assumptions, fmt.Sprintf("one CRM core serves %g requests a second (capacity.crmPerCore); %d replicas of %g cores", w.CRMPerCore, replicas, cfg.CRM.CPUs))
	if autoscaled {
		e.Assumptions = append(e.Assumptions, fmt.Sprintf("the %s stage's CRM is counted at its autoscaling ceiling (cloud.crmMaxReplicas); its AI at ai.replicas GPU nodes", cfg.Stage))
	}
}

// reach sizes the gap to the seed's AI and user figures, if any.
func (e *Estimate) reach(cfg *model.Config) {
	p := model.Profiles[cfg.Stage]
	w := cfg.Capacity
	users := float64(p.Users[0])
	r := &Reach{AIRequestsPerSecond: max(p.AIRequests[0], users*w.AIPerUser)}
	short := false
	if e.AIRequestsPerSecond < r.AIRequestsPerSecond && e.AI.GPUs > 0 {
		short = true
		perGPU := e.AI.SelfHosted / float64(e.AI.GPUs)
		r.MoreGPUs = int(math.Ceil((r.AIRequestsPerSecond - e.AIRequestsPerSecond) / perGPU))
		if e.AI.API > 0 {
			r.APIBudget = cfg.Costs.AIAPI * (r.AIRequestsPerSecond - e.AI.SelfHosted) / e.AI.API
		}
	}
	if float64(e.CRM.Users) < users {
		short = true
		perReplica := w.Utilization * cfg.CRM.CPUs * w.CRMPerCore / w.CRMPerUser
		r.CRMReplicas = int(math.Ceil(users / perReplica))
	}
	if short {
		e.Reach = r
	}
}

// Share is one part's share of the stage's CPU: its containers' limits
// times their replicas, against what the stage's hosts leave to
// containers (or, on a provider's nodes, against every part's cores).
type Share struct {
	Part     string  `json:"part"`
	Replicas int     `json:"replicas"`
	Cores    float64 `json:"cores"`
	Percent  float64 `json:"percent"`
}

// cpu lists each part's and each stage helper's share of the CPU, the
// user's services among them.
func (e *Estimate) cpu(cfg *model.Config) {
	byPart := map[string]*Share{}
	var order []string
	var total float64
	for _, in := range model.Instances(cfg) {
		name := in.Group()
		s, ok := byPart[name]
		if !ok {
			s = &Share{Part: name}
			byPart[name] = s
			order = append(order, name)
		}
		s.Replicas += in.Replicas
		s.Cores += in.Sizing.CPUs * float64(in.Replicas)
		total += in.Sizing.CPUs * float64(in.Replicas)
	}
	avail := total
	what := "of the cores every part's containers are limited to"
	if model.Profiles[cfg.Stage].Hosting == model.SelfHosted {
		h := cfg.Host
		avail = float64((h.Threads - h.ReserveThreads) * max(h.Nodes, 1))
		what = "of the threads the hosts leave to containers"
	}
	for _, n := range order {
		s := byPart[n]
		if avail > 0 {
			s.Percent = math.Round(s.Cores/avail*1000) / 10
		}
		e.CPU = append(e.CPU, *s)
	}
	e.CPUAvailable = avail
	e.Assumptions = append(e.Assumptions, fmt.Sprintf("each part's CPU share is its containers' cpus limits times their replicas, %s (%g)", what, avail))
}
