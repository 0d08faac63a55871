package model

import (
	"strings"
	"testing"
)

// vllmOn is the cloud's defaults with vLLM serving a CRM that calls
// OpenAI's API, and the values given.
func vllmOn(values map[string]string) map[string]string {
	out := map[string]string{"cloud": `{"aiEngine": "vllm"}`, "crm": `{"aiApi": "openai"}`}
	for k, v := range values {
		out[k] = v
	}
	return out
}

// A configuration vLLM cannot serve is refused, at the key to change,
// with the fix; what it can serve passes.
func TestVLLMRefusesWhatItCannotServe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		values  map[string]string
		path    string
		mention string
	}{
		{"an engine nfx does not run", map[string]string{"cloud": `{"aiEngine": "VLLM"}`}, "nextflow:cloud.aiEngine", `"VLLM" is not an engine`},
		{"an engine with a shell", map[string]string{"cloud": `{"aiEngine": "vllm; reboot"}`}, "nextflow:cloud.aiEngine", "not an engine"},
		{"a CRM that calls Ollama's API", map[string]string{"cloud": `{"aiEngine": "vllm"}`}, "nextflow:crm.aiApi", "answers only OpenAI's API"},
		{"an AI API nfx does not know", map[string]string{"crm": `{"aiApi": "grpc"}`}, "nextflow:crm.aiApi", `"grpc" is not an AI API`},
		{"no GPU pool", vllmOn(map[string]string{"cloud": `{"aiEngine": "vllm", "gpuPool": false}`}), "nextflow:cloud.aiEngine", "runs on GPUs only"},
		{"the AI on CPU", vllmOn(map[string]string{"ai": `{"gpu": false}`}), "nextflow:cloud.aiEngine", "runs on GPUs only"},
		{"16-bit weights over a T4", vllmOn(map[string]string{"cloud": `{"aiEngine": "vllm", "gpuInstanceType": "g4dn.xlarge"}`}), "nextflow:cloud.gpuInstanceType", "16-bit weights"},
		{"gemma2:9b's 16-bit weights over an A10G", vllmOn(map[string]string{"ai": `{"model": "gemma2:9b"}`}), "nextflow:cloud.gpuInstanceType", "16-bit weights (17.2 GiB)"},
		{"a model with no repository nfx knows", vllmOn(map[string]string{"ai": `{"model": "acme-crm:7b", "modelSize": "4GiB"}`}), "nextflow:cloud.vllmModel", `no Hugging Face repository for "acme-crm:7b"`},
		{"a repository with a path", vllmOn(map[string]string{"cloud": `{"aiEngine": "vllm", "vllmModel": "../../etc/passwd"}`}), "nextflow:cloud.vllmModel", "not a Hugging Face model repository"},
		{"a repository with a shell", vllmOn(map[string]string{"cloud": `{"aiEngine": "vllm", "vllmModel": "meta-llama/x;reboot"}`}), "nextflow:cloud.vllmModel", "not a Hugging Face model repository"},
		{"a repository without an owner", vllmOn(map[string]string{"cloud": `{"aiEngine": "vllm", "vllmModel": "Llama-3.1-8B-Instruct"}`}), "nextflow:cloud.vllmModel", "not a Hugging Face model repository"},
		{"a repository of dots", vllmOn(map[string]string{"cloud": `{"aiEngine": "vllm", "vllmModel": "a/b..c"}`}), "nextflow:cloud.vllmModel", "not a Hugging Face model repository"},
		{"a huge repository name", vllmOn(map[string]string{"cloud": `{"aiEngine": "vllm", "vllmModel": "a/` + strings.Repeat("b", 200) + `"}`}), "nextflow:cloud.vllmModel", "not a Hugging Face model repository"},
		{"an embedding repository with a quote", vllmOn(map[string]string{"cloud": `{"aiEngine": "vllm", "vllmEmbeddingModel": "nomic-ai/x\"y"}`}), "nextflow:cloud.vllmEmbeddingModel", "not a Hugging Face model repository"},
		{"an unpinned image", vllmOn(map[string]string{"cloud": `{"aiEngine": "vllm", "vllmImage": "vllm/vllm-openai"}`}), "nextflow:cloud.vllmImage", "not pinned"},
		{"an image with a shell", vllmOn(map[string]string{"cloud": `{"aiEngine": "vllm", "vllmImage": "vllm/vllm-openai:v0.19.0 $(reboot)"}`}), "nextflow:cloud.vllmImage", "not a valid image reference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ds := Load("cloud", raw(tc.values), LoadOptions{})
			found := false
			for _, d := range ds.Errors() {
				if d.Path == tc.path && strings.Contains(d.String(), tc.mention) && d.Fix != "" {
					found = true
				}
			}
			if !found {
				t.Errorf("no error at %s mentioning %q: %v", tc.path, tc.mention, ds)
			}
		})
	}
}

// What vLLM serves, and the token a gated model needs before `up`.
func TestVLLMPlan(t *testing.T) {
	cfg, ds := Load("cloud", raw(vllmOn(nil)), LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	p, err := PlanVLLM(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// On an A10G (22.18 GiB as CUDA reports it, 23,815,593,656 bytes):
	// the embedding model's process takes ceil((2 x 0.137e9 + 1.5e9) /
	// 23,815,593,656 to a hundredth) = 0.08, the LLM's the rest of 0.9,
	// and its KV cache what 16.06e9 bytes of weights and 1.5e9 of working
	// memory leave of 0.82: 1,968,786,797 bytes.
	if p.LLM.Repo != "meta-llama/Llama-3.1-8B-Instruct" || !p.LLM.Gated || p.Embedding.Repo != "nomic-ai/nomic-embed-text-v1.5" || !p.Embedding.RemoteCode {
		t.Errorf("repositories: %+v %+v", p.LLM, p.Embedding)
	}
	if p.EmbedShare != 0.08 || p.LLMShare != 0.82 || (p.KVRoom-1968786797)*(p.KVRoom-1968786797) > 1 {
		t.Errorf("shares %v %v, KV room %d", p.LLMShare, p.EmbedShare, p.KVRoom)
	}
	// 1.97e9 bytes hold 7 sequences of the whole context (2048 tokens of
	// 131,072 bytes), 32 of the capacity model's 460.
	if n := VLLMSeqs(cfg, p.KVRoom, VLLMMaxModelLen); n != 7 {
		t.Errorf("%d sequences of %d tokens fit, want 7", n, VLLMMaxModelLen)
	}
	if n := VLLMSeqs(cfg, p.KVRoom, 460); n != 32 {
		t.Errorf("%d sequences of 460 tokens fit, want 32", n)
	}
	needs := func(c *Config) bool {
		for _, r := range RequiredSecrets(c) {
			if r.Key == KeyHFToken {
				return true
			}
		}
		return false
	}
	if !needs(cfg) || !HFTokenUsed(cfg) {
		t.Error("a gated model needs no Hugging Face token")
	}
	// Qwen's weights are not gated: no token asked for, none mounted.
	open, ds := Load("cloud", raw(vllmOn(map[string]string{"ai": `{"model": "qwen2.5:7b"}`})), LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	if needs(open) || HFTokenUsed(open) {
		t.Error("an open model asks for a Hugging Face token")
	}
	// Ollama needs none, and a vLLM key set under Ollama is a warning.
	ollama, ds := Load("cloud", raw(map[string]string{"cloud": `{"vllmModel": "Qwen/Qwen2.5-7B-Instruct", "vllmRevisions": {"Qwen/Qwen2.5-7B-Instruct": "0123456789abcdef0123456789abcdef01234567"}}`}), LoadOptions{})
	if ds.HasErrors() || needs(ollama) || AIEngineOf(ollama) != EngineOllama {
		t.Errorf("ollama: %v", ds)
	}
	warned := map[string]bool{}
	for _, d := range ds {
		warned[d.Path] = true
	}
	if !warned["nextflow:cloud.vllmModel"] || !warned["nextflow:cloud.vllmRevisions"] {
		t.Errorf("vLLM's keys under Ollama are not warned of: %v", ds)
	}
	// The laptop and server keep Ollama whatever the cloud key says.
	laptop, ds := Load("laptop", raw(map[string]string{"cloud": `{"aiEngine": "vllm"}`}), LoadOptions{})
	if ds.HasErrors() || AIEngineOf(laptop) != EngineOllama {
		t.Errorf("laptop: %v, engine %s", ds, AIEngineOf(laptop))
	}
}

// cloud.vllmRevisions pins the repositories vLLM reads; a bad pin is
// refused, a repository left at its newest commit is warned of, and the
// pins reach the servers' flags.
func TestVLLMRevisions(t *testing.T) {
	const llm, code = "0123456789abcdef0123456789abcdef01234567", "89abcdef0123456789abcdef0123456789abcdef"
	pinned := func(revs string) map[string]string {
		return vllmOn(map[string]string{"cloud": `{"aiEngine": "vllm", "vllmRevisions": ` + revs + `}`})
	}
	for _, tc := range []struct {
		name, revs, path, mention string
		err                       bool
	}{
		{"a short commit", `{"meta-llama/Llama-3.1-8B-Instruct": "0123abc"}`, `nextflow:cloud.vllmRevisions["meta-llama/Llama-3.1-8B-Instruct"]`, "not a commit id", true},
		{"a branch", `{"meta-llama/Llama-3.1-8B-Instruct": "main"}`, `nextflow:cloud.vllmRevisions["meta-llama/Llama-3.1-8B-Instruct"]`, "not a commit id", true},
		{"a commit with a shell", `{"meta-llama/Llama-3.1-8B-Instruct": "$(reboot)"}`, `nextflow:cloud.vllmRevisions["meta-llama/Llama-3.1-8B-Instruct"]`, "not a commit id", true},
		{"a repository that is not one", `{"../x": "` + llm + `"}`, "nextflow:cloud.vllmRevisions", "not a Hugging Face model repository", true},
		{"a pin of nothing served", `{"Qwen/Qwen2.5-7B-Instruct": "` + llm + `"}`, `nextflow:cloud.vllmRevisions["Qwen/Qwen2.5-7B-Instruct"]`, "does not read", false},
		{"the code left loose", `{"meta-llama/Llama-3.1-8B-Instruct": "` + llm + `", "nomic-ai/nomic-embed-text-v1.5": "` + llm + `"}`, "nextflow:cloud.vllmRevisions", "nomic-ai/nomic-bert-2048 holds code", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ds := Load("cloud", raw(pinned(tc.revs)), LoadOptions{})
			found := false
			for _, d := range ds {
				if d.Path == tc.path && strings.Contains(d.String(), tc.mention) && d.Fix != "" && (d.Severity == Error) == tc.err {
					found = true
				}
			}
			if !found {
				t.Errorf("no %v diagnostic at %s mentioning %q: %v", tc.err, tc.path, tc.mention, ds)
			}
		})
	}
	cfg, ds := Load("cloud", raw(pinned(`{"meta-llama/Llama-3.1-8B-Instruct": "`+llm+`", "nomic-ai/nomic-embed-text-v1.5": "`+llm+`", "nomic-ai/nomic-bert-2048": "`+code+`"}`)), LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	for _, d := range ds {
		if strings.HasPrefix(d.Path, "nextflow:cloud.vllmRevisions") {
			t.Errorf("all pinned, yet: %v", d)
		}
	}
	env := aiService(cfg).Env
	if env["NFX_LLM_REVISION"] != llm || env["NFX_EMBED_REVISION"] != llm || env["NFX_EMBED_CODE_REVISION"] != code {
		t.Errorf("the pins do not reach the servers: %v", env)
	}
}
