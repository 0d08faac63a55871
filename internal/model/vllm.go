package model

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The engines that can serve the models on the cloud's GPU pool
// (cloud.aiEngine).
const (
	// EngineOllama is what every stage runs by default: Ollama's native
	// API and its OpenAI-compatible one under /v1.
	EngineOllama = "ollama"
	// EngineVLLM is vLLM's OpenAI-compatible server: continuous batching
	// over 16-bit weights, OpenAI's API only.
	EngineVLLM = "vllm"
)

// AIEngineOf is the engine that serves the stage's models: vLLM where the
// cloud is set to it, Ollama everywhere else.
func AIEngineOf(c *Config) string {
	if Profiles[c.Stage].Hosting == Provider && c.Cloud.AIEngine == EngineVLLM {
		return EngineVLLM
	}
	return EngineOllama
}

// VLLM's two servers in the AI pod listen on loopback, behind the pod's
// proxy on the AI's port (OllamaPort, so that ${ai.url} is one address
// whatever the engine).
const (
	VLLMLLMPort   = 8001
	VLLMEmbedPort = 8002
	// VLLMEmbedMetrics is where the proxy serves the embedding server's
	// metrics; the LLM's are on /metrics.
	VLLMEmbedMetrics = "/metrics/embed"
)

// AIMaxReplicas is the most AI pods the cloud's GPU pool holds: a GPU
// node each, less the GPU tasks of the user's services.
func AIMaxReplicas(c *Config) int {
	n := c.Cloud.GPUMax
	for _, s := range c.Services {
		if s.GPU {
			n -= serviceReplicas(s, c.Stage)
		}
	}
	return max(n, c.AI.Replicas)
}

// The AI APIs the CRM may call (crm.aiApi).
const (
	AIAPIOllama = "ollama"
	AIAPIOpenAI = "openai"
)

// DefaultVLLMImage is vLLM's OpenAI-compatible server, pinned. Its
// entrypoint is `vllm serve`, it runs as root unless told otherwise, and
// it keeps Hugging Face's cache and its own under $HOME
// (docker/Dockerfile, vllm-openai target, v0.19.0).
const DefaultVLLMImage = "vllm/vllm-openai:v0.19.0"

// HFModel is the Hugging Face repository vLLM serves for one of Ollama's
// models: the same model's 16-bit weights.
type HFModel struct {
	Repo string
	// Gated repositories serve their files only to an account that has
	// accepted the model's licence, with its token (nextflow:hfToken).
	Gated bool
	// RemoteCode models ship their architecture's code in the repository
	// (vLLM's --trust-remote-code), from CodeRepo where their configuration
	// names another.
	RemoteCode bool
	CodeRepo   string
}

// VLLMModels maps the Ollama models of Catalog and EmbeddingCatalog to the
// repositories their library pages name as the source of the weights
// (ollama.com/library, each model's "Model" link), gated as their
// repositories were on Hugging Face in 2026.
var VLLMModels = map[string]HFModel{
	"llama3.2:1b":       {Repo: "meta-llama/Llama-3.2-1B-Instruct", Gated: true},
	"llama3.2:3b":       {Repo: "meta-llama/Llama-3.2-3B-Instruct", Gated: true},
	"mistral:7b":        {Repo: "mistralai/Mistral-7B-Instruct-v0.3", Gated: true},
	"qwen2.5:7b":        {Repo: "Qwen/Qwen2.5-7B-Instruct"},
	"llama3.1:8b":       {Repo: "meta-llama/Llama-3.1-8B-Instruct", Gated: true},
	"gemma2:9b":         {Repo: "google/gemma-2-9b-it", Gated: true},
	"qwen2.5:14b":       {Repo: "Qwen/Qwen2.5-14B-Instruct"},
	"qwen2.5:32b":       {Repo: "Qwen/Qwen2.5-32B-Instruct"},
	"llama3.1:70b":      {Repo: "meta-llama/Llama-3.1-70B-Instruct", Gated: true},
	"llama3.3:70b":      {Repo: "meta-llama/Llama-3.3-70B-Instruct", Gated: true},
	"nomic-embed-text":  {Repo: "nomic-ai/nomic-embed-text-v1.5", RemoteCode: true, CodeRepo: "nomic-ai/nomic-bert-2048"},
	"mxbai-embed-large": {Repo: "mixedbread-ai/mxbai-embed-large-v1"},
	"all-minilm":        {Repo: "sentence-transformers/all-MiniLM-L6-v2"},
}

// hfCommitRE is a commit of a Hugging Face repository (a git SHA-1).
var hfCommitRE = lazy(`^[0-9a-f]{40}$`)

// hfRepoRE is a Hugging Face model repository: an owner and a name of
// letters, digits, '-', '_' and '.', 96 characters at most in all.
var hfRepoRE = lazy(`^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$`)

// isHFRepo says s names a Hugging Face model repository.
func isHFRepo(s string) bool {
	return len(s) <= 96 && hfRepoRE.MatchString(s) && !strings.Contains(s, "..")
}

// What nfx runs vLLM with, which the capacity model reads as well.
const (
	// VLLMMemoryShare is the share of the GPU's memory both of the pod's
	// vLLM processes take together: vLLM's own default for one
	// (--gpu-memory-utilization 0.9).
	VLLMMemoryShare = 0.9
	// VLLMMaxSeqs is the sequences the LLM's process batches at most
	// (--max-num-seqs).
	VLLMMaxSeqs = 256
	// VLLMWorking is the memory a vLLM process keeps within its share
	// beside its weights and KV cache: activations at its batched-token
	// budget, CUDA graphs, what the libraries allocate past the start. An
	// assumption, stated.
	VLLMWorking = Bytes(1.5e9)
	// VLLMContext is a process's CUDA context, outside its share: vLLM
	// takes its memory snapshot after the context exists. About half a
	// gigabyte on these GPUs; an assumption, stated.
	VLLMContext = Bytes(0.5e9)
	// VLLMMaxModelLen is a sequence's longest context (--max-model-len):
	// Ollama's context slot, so that a prompt the CRM sends fits every
	// stage. vLLM refuses a longer one with 400 where Ollama cuts it.
	VLLMMaxModelLen = ContextTokens
)

// VLLMPlan is how the AI pod's GPU is shared between vLLM's two
// processes, the LLM's and the embedding model's.
type VLLMPlan struct {
	LLM, Embedding HFModel
	// LLMShare and EmbedShare are each process's --gpu-memory-utilization,
	// a share of the GPU's whole memory; EmbedShare is 0 with no
	// embedding model.
	LLMShare, EmbedShare float64
	// Weights is the LLM's 16-bit weights; KVRoom what the LLM's share
	// leaves for its KV cache.
	Weights, KVRoom Bytes
}

// PlanVLLM shares the configured GPU between the LLM and the embedding
// model and says what is left for the KV cache; its error says why vLLM
// cannot serve the configuration, in the words of a diagnostic.
func PlanVLLM(c *Config) (VLLMPlan, error) {
	var p VLLMPlan
	var err error
	if p.LLM, p.Embedding, err = vllmRepos(c); err != nil {
		return p, err
	}
	vram := float64(c.Host.VRAM)
	if vram <= 0 {
		return p, &VLLMError{FullKey("cloud.aiEngine"), "vLLM runs on the GPU pool, and the cloud stage has none", "set cloud.gpuPool true, or use ollama"}
	}
	p.LLMShare, p.EmbedShare, p.Weights, p.KVRoom = VLLMMemory(c)
	if VLLMSeqs(c, p.KVRoom, VLLMMaxModelLen) < 1 {
		one := Bytes(VLLMMaxModelLen) * c.LLM.KVPerToken
		return p, &VLLMError{FullKey("cloud.gpuInstanceType"), fmt.Sprintf("%s's 16-bit weights (%.1f GiB) and %.1f GiB of working memory leave %.1f GiB of the %s's %.1f GiB (as CUDA reports it) within the LLM's share (%.2f), under the %.2f GiB one sequence of %d tokens takes",
			c.AI.Model, p.Weights.GiB(), VLLMWorking.GiB(), max(p.KVRoom, 0).GiB(), c.Host.GPU, GPUMemory(c).GiB(), p.LLMShare, one.GiB(), VLLMMaxModelLen),
			"use a GPU instance type with more memory, a smaller ai.model, or ollama (4-bit weights)"}
	}
	return p, nil
}

// GPUReported is the memory CUDA reports of each GPU nfx knows (its
// cudaMemGetInfo total, PyTorch's "total capacity", what vLLM's shares are
// fractions of): less than the card's nominal size and than nvidia-smi's
// total, which counts what the driver keeps. The T4's 14.75 GiB is in
// PyTorch's messages from many T4s (nvidia-smi: 15360 MiB); the A10G's
// 22.18 GiB is an A10's, the same chip and memory (OpenBMB/MiniCPM-V
// issue 640, as a reviewer read it; nvidia-smi on g5: 23028 MiB).
var GPUReported = map[string]Bytes{"NVIDIA A10G": 2218 * GiB / 100, "NVIDIA T4": 1475 * GiB / 100}

// GPUMemory is the memory vLLM sees on the stage's GPU: CUDA's figure
// where nfx knows it, else the nominal size.
func GPUMemory(c *Config) Bytes {
	if m, ok := GPUReported[c.Host.GPU]; ok {
		return m
	}
	return c.Host.VRAM
}

// VLLMMemory shares the GPU's memory between vLLM's two processes: the
// embedding model's 16-bit weights and a process's working memory,
// rounded up to a hundredth of the GPU, reserved for the embedding
// model (vLLM profiles no memory for an encoder-only model: the share is
// what its start checks is free); the rest of vLLM's usual share for the
// LLM, whose KV cache has what its weights and working memory leave of
// it. Both CUDA contexts sit outside the shares.
func VLLMMemory(c *Config) (llmShare, embedShare float64, weights, kvRoom Bytes) {
	vram := float64(GPUMemory(c))
	if vram <= 0 {
		return 0, 0, 0, 0
	}
	weights = Bytes(2 * c.LLM.Params * 1e9)
	if c.AI.EmbeddingModel != "" {
		need := 2*c.Embedding.Params*1e9 + float64(VLLMWorking)
		embedShare = math.Ceil(need/vram*100) / 100
	}
	llmShare = math.Round((VLLMMemoryShare-embedShare)*100) / 100
	return llmShare, embedShare, weights, Bytes(llmShare*vram) - weights - VLLMWorking
}

// VLLMGPUUse is the share of the GPU's reported memory vLLM's processes
// hold once started: their shares and their CUDA contexts.
func VLLMGPUUse(c *Config) float64 {
	m := float64(GPUMemory(c))
	if m <= 0 {
		return 0
	}
	procs := 1.0
	if c.AI.EmbeddingModel != "" {
		procs = 2
	}
	return VLLMMemoryShare + procs*float64(VLLMContext)/m
}

// VLLMSeqs is the sequences of n tokens a KV cache of kvRoom holds at
// once, up to VLLMMaxSeqs.
func VLLMSeqs(c *Config, kvRoom Bytes, n int) int {
	per := Bytes(n) * c.LLM.KVPerToken
	if per <= 0 || kvRoom <= 0 {
		return 0
	}
	return int(min(VLLMMaxSeqs, kvRoom/per))
}

// checkRevisions checks cloud.vllmRevisions, the commit each repository
// vLLM reads is pinned to, and says which it reads at their newest.
func checkRevisions(c *Config, ds *Diagnostics) {
	key := FullKey("cloud.vllmRevisions")
	llm, emb, err := vllmRepos(c)
	if err != nil {
		return // refused above
	}
	used := map[string]bool{}
	for _, r := range []string{llm.Repo, emb.Repo, emb.CodeRepo} {
		if r != "" {
			used[r] = true
		}
	}
	for _, repo := range SortedKeys(c.Cloud.VLLMRevisions) {
		rev := c.Cloud.VLLMRevisions[repo]
		switch {
		case !isHFRepo(repo):
			ds.Errorf(key, "key each commit by its repository, owner/name", "%q is not a Hugging Face model repository", repo)
		case !hfCommitRE.MatchString(rev):
			ds.Errorf(fmt.Sprintf("%s[%q]", key, repo), "use the repository's 40-character commit id (its Files and versions > History on huggingface.co)", "is not a commit id")
		case !used[repo]:
			ds.Warnf(fmt.Sprintf("%s[%q]", key, repo), "remove it, or serve the repository it pins", "pins a repository vLLM does not read here")
		}
	}
	var loose []string
	for _, r := range SortedKeys(used) {
		if _, ok := c.Cloud.VLLMRevisions[r]; !ok {
			loose = append(loose, r)
		}
	}
	if len(loose) > 0 {
		what := "the files of " + strings.Join(loose, ", ")
		if emb.CodeRepo != "" && slices.Contains(loose, emb.CodeRepo) {
			what += " (" + emb.CodeRepo + " holds code that --trust-remote-code runs in the container that can read nextflow:hfToken)"
		}
		ds.Warnf(key, "pin each to a commit, such as `pulumi config set --path 'nextflow:cloud.vllmRevisions[\"<owner/name>\"]' <commit>`",
			"vLLM downloads %s at their newest commit: a change upstream reaches the next pod that starts", what)
	}
}

// vllmRepos is the repositories vLLM serves: the LLM's and, where the
// stage has one, the embedding model's.
func vllmRepos(c *Config) (llm, emb HFModel, err error) {
	name := c.AI.Model
	if name == "" {
		// Not yet resolved (the secrets are checked first): vLLM runs on
		// GPUs only, whose default it is.
		name = DefaultGPUModel
	}
	if llm, err = hfModel("cloud.vllmModel", c.Cloud.VLLMModel, name, "meta-llama/Llama-3.1-8B-Instruct"); err != nil {
		return llm, emb, err
	}
	if c.AI.EmbeddingModel != "" {
		emb, err = hfModel("cloud.vllmEmbeddingModel", c.Cloud.VLLMEmbeddingModel, c.AI.EmbeddingModel, "nomic-ai/nomic-embed-text-v1.5")
	}
	return llm, emb, err
}

// VLLMError is why vLLM cannot serve a configuration: the key to change,
// the problem and the fix.
type VLLMError struct{ Key, Problem, Fix string }

func (e *VLLMError) Error() string { return e.Problem }

// hfModel is the repository set under key, or the one the table gives for
// an Ollama model.
func hfModel(key, set, ollama, example string) (HFModel, error) {
	known, ok := VLLMModels[ollama]
	if set == "" {
		if !ok {
			return known, &VLLMError{FullKey(key), fmt.Sprintf("nfx knows no Hugging Face repository for %q", ollama),
				fmt.Sprintf("set it to the Hugging Face repository of %s's 16-bit weights, such as %s", ollama, example)}
		}
		return known, nil
	}
	if !isHFRepo(set) {
		return HFModel{}, &VLLMError{FullKey(key), fmt.Sprintf("%q is not a Hugging Face model repository", set), "use owner/name, such as " + example}
	}
	if ok && known.Repo == set {
		return known, nil
	}
	// A repository nfx does not know: whether it is gated nfx cannot
	// tell; a token set is passed.
	return HFModel{Repo: set}, nil
}

// checkVLLM checks cloud.aiEngine and what vLLM needs of the stage.
func checkVLLM(c *Config, ds *Diagnostics) {
	cc := c.Cloud
	switch cc.AIEngine {
	case EngineOllama:
		pins := ""
		if len(cc.VLLMRevisions) > 0 {
			pins = "set"
		}
		for _, k := range []struct{ key, v string }{{"vllmModel", cc.VLLMModel}, {"vllmEmbeddingModel", cc.VLLMEmbeddingModel}, {"vllmRevisions", pins}} {
			if k.v != "" {
				ds.Warnf(FullKey("cloud."+k.key), "set cloud.aiEngine to vllm, or remove it", "is read only when cloud.aiEngine is vllm; Ollama serves ai.model")
			}
		}
		return
	case EngineVLLM:
	default:
		ds.Errorf(FullKey("cloud.aiEngine"), "use ollama (as every stage), or vllm (a throughput engine that serves OpenAI's API only)", "%q is not an engine nfx runs", cc.AIEngine)
		return
	}
	if !cc.GPUPool || !c.UseGPU {
		ds.Errorf(FullKey("cloud.aiEngine"), "set cloud.gpuPool true and leave ai.gpu unset or true, or use ollama", "is vllm, which runs on GPUs only, but the AI runs on CPU")
		return
	}
	checkImage(FullKey("cloud.vllmImage"), cc.VLLMImage, ds)
	if !c.Monitoring.Enabled {
		ds.Errorf(FullKey("cloud.aiEngine"), "set nextflow:monitoring.enabled true, or use ollama", "is vllm, whose pods scale on its queue, which the stage's Prometheus reads, and monitoring.enabled is false")
	}
	if c.CRM.AIAPI != AIAPIOpenAI {
		ds.Errorf(FullKey("crm.aiApi"), "set it to openai once the CRM calls OpenAI's API under AI_OPENAI_URL (Ollama answers it too, on every stage), or keep cloud.aiEngine ollama",
			"is %q, but vLLM (cloud.aiEngine) answers only OpenAI's API (/v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models), not Ollama's /api", c.CRM.AIAPI)
	}
	if _, err := PlanVLLM(c); err != nil {
		var e *VLLMError
		if errors.As(err, &e) {
			ds.Errorf(e.Key, e.Fix, "%s", e.Problem)
		}
	}
	checkRevisions(c, ds)
}

// vllmStart runs vLLM's two servers in the AI pod's container, on
// loopback behind its proxy: the embedding model's first, since vLLM
// checks its memory share against the GPU's free memory when it starts
// (vllm/v1/worker/utils.py, request_memory), then the LLM's. Either
// ending ends the container, and the kubelet restarts it whole. Requests
// are not logged (vLLM's --enable-log-requests is off by default).
const vllmStart = `set -u
pids=()
stop() { kill -TERM "${pids[@]}" 2>/dev/null; wait; exit 143; }
trap stop TERM INT
if [ -n "$NFX_EMBED_REPO" ]; then
  vllm serve "$NFX_EMBED_REPO" --served-model-name "$NFX_EMBED_MODEL" --runner pooling ${NFX_EMBED_REMOTE_CODE:+--trust-remote-code} \
    ${NFX_EMBED_REVISION:+--revision "$NFX_EMBED_REVISION" --tokenizer-revision "$NFX_EMBED_REVISION"} \
    ${NFX_EMBED_CODE_REVISION:+--code-revision "$NFX_EMBED_CODE_REVISION"} \
    --host 127.0.0.1 --port "$NFX_EMBED_PORT" --gpu-memory-utilization "$NFX_EMBED_SHARE" &
  pids+=($!)
  until curl -fs -m 5 -o /dev/null "http://127.0.0.1:$NFX_EMBED_PORT/health"; do
    kill -0 "${pids[0]}" 2>/dev/null || { wait "${pids[0]}"; echo "nfx: the embedding model's server stopped before it was healthy" >&2; exit 1; }
    sleep 5
  done
fi
vllm serve "$NFX_LLM_REPO" --served-model-name "$NFX_MODEL" --host 127.0.0.1 --port "$NFX_LLM_PORT" \
  ${NFX_LLM_REVISION:+--revision "$NFX_LLM_REVISION" --tokenizer-revision "$NFX_LLM_REVISION"} \
  --gpu-memory-utilization "$NFX_LLM_SHARE" --max-model-len "$NFX_MAX_MODEL_LEN" --max-num-seqs "$NFX_MAX_SEQS" &
pids+=($!)
wait -n
status=$?
echo "nfx: a vLLM server stopped (status $status); stopping the other" >&2
kill -TERM "${pids[@]}" 2>/dev/null
wait
exit $(( status == 0 ? 1 : status ))
`

// VLLMAlive is the AI container's liveness: no server says its engine
// is dead (vLLM's /health answers 503 on EngineDeadError, and the
// process may stay). One that is slow, or still loading, is not dead: its
// container's script ends when a server's process does.
const VLLMAlive = `for port in "$NFX_LLM_PORT" ${NFX_EMBED_REPO:+"$NFX_EMBED_PORT"}; do [ "$(curl -s -o /dev/null -m 4 -w '%{http_code}' "http://127.0.0.1:$port/health")" != 503 ] || exit 1; done`

// VLLMHome is where the AI pod's volume is mounted: Hugging Face's cache
// (the weights, downloaded once), vLLM's compile cache and the home its
// libraries write under, on a read-only root as an unprivileged user.
const VLLMHome = "/models"

// vllmService is the AI part as vLLM serves it on the cloud.
func vllmService(c *Config, s Service) Service {
	plan, _ := PlanVLLM(c) // checkVLLM has refused what it cannot plan
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return ""
	}
	s.Image = c.Cloud.VLLMImage
	s.Entrypoint = []string{"/bin/bash", "-c", vllmStart}
	s.Env = map[string]string{
		"HOME": VLLMHome, "XDG_CACHE_HOME": VLLMHome + "/cache", "HF_HOME": VLLMHome + "/huggingface", "VLLM_CACHE_ROOT": VLLMHome + "/vllm",
		// The pod's user has no passwd entry in the image: Python's
		// getpass.getuser(), which TorchInductor's cache path calls,
		// reads these before it looks one up (and raises without).
		"USER": "vllm", "LOGNAME": "vllm", "TORCHINDUCTOR_CACHE_DIR": VLLMHome + "/vllm/inductor",
		// Compile workers default to one a CPU, each a Python process of
		// its own beside the four vLLM runs.
		"TORCHINDUCTOR_COMPILE_THREADS": "1",
		// vLLM reports usage to its developers unless told not to.
		"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
		"NFX_MODEL": c.AI.Model, "NFX_LLM_REPO": plan.LLM.Repo, "NFX_LLM_SHARE": fmt.Sprintf("%.2f", plan.LLMShare),
		"NFX_LLM_PORT": fmt.Sprint(VLLMLLMPort), "NFX_MAX_MODEL_LEN": fmt.Sprint(VLLMMaxModelLen), "NFX_MAX_SEQS": fmt.Sprint(VLLMMaxSeqs),
		"NFX_EMBED_MODEL": c.AI.EmbeddingModel, "NFX_EMBED_REPO": plan.Embedding.Repo, "NFX_EMBED_SHARE": fmt.Sprintf("%.2f", plan.EmbedShare),
		"NFX_EMBED_PORT": fmt.Sprint(VLLMEmbedPort), "NFX_EMBED_REMOTE_CODE": flag(plan.Embedding.RemoteCode),
		// The commits the weights and code are read at, "" at the newest.
		"NFX_LLM_REVISION": c.Cloud.VLLMRevisions[plan.LLM.Repo], "NFX_EMBED_REVISION": c.Cloud.VLLMRevisions[plan.Embedding.Repo],
		"NFX_EMBED_CODE_REVISION": c.Cloud.VLLMRevisions[plan.Embedding.CodeRepo],
	}
	s.Secrets = nil
	if HFTokenUsed(c) {
		// huggingface_hub reads the token from the file HF_TOKEN_PATH names.
		s.Secrets = []SecretUse{{SecretHFToken, "HF_TOKEN_PATH"}}
	}
	s.Volumes = []Mount{{VolModels, VLLMHome}}
	// Ready while both servers answer their health check.
	s.Health = Health{
		Shell: `curl -fsS -m 4 -o /dev/null "http://127.0.0.1:$NFX_LLM_PORT/health" && { [ -z "$NFX_EMBED_REPO" ] || curl -fsS -m 4 -o /dev/null "http://127.0.0.1:$NFX_EMBED_PORT/health"; }`,
		// The first start downloads the weights (16 GB for an 8B model).
		Interval: 15 * time.Second, Timeout: 10 * time.Second, Retries: 3, StartPeriod: 30 * time.Minute,
	}
	return s
}
