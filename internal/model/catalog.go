package model

import (
	"fmt"
	"slices"
	"strings"
)

// LLM is an Ollama model nfx knows the size of.
type LLM struct {
	Name string
	// Size is the download size of the model's default (Q4) quantisation,
	// as the Ollama library lists it.
	Size Bytes
	// Params is the number of parameters, in billions (the model card's).
	Params float64
	// KVPerToken is the KV cache one token of context takes at Ollama's
	// default f16 cache: layers x KV heads x head size x 2 (K and V) x 2 bytes,
	// from the model's architecture. 0 for embedding models.
	KVPerToken Bytes
}

// Catalog lists the Ollama models whose size nfx knows, smallest first.
// Sizes are the Ollama library's download sizes (Q4_K_M unless noted), in
// its decimal units.
var Catalog = []LLM{
	{"llama3.2:1b", gb(1.3), 1.24, kv(16, 8, 64)},
	{"llama3.2:3b", gb(2.0), 3.21, kv(28, 8, 128)},
	{"mistral:7b", gb(4.1), 7.25, kv(32, 8, 128)},
	{"qwen2.5:7b", gb(4.7), 7.62, kv(28, 4, 128)},
	{"llama3.1:8b", gb(4.9), 8.03, kv(32, 8, 128)},
	{"gemma2:9b", gb(5.4), 9.24, kv(42, 8, 256)},
	{"qwen2.5:14b", gb(9.0), 14.7, kv(48, 8, 128)},
	{"qwen2.5:32b", gb(20), 32.5, kv(64, 8, 128)},
	{"llama3.1:70b", gb(43), 70.6, kv(80, 8, 128)},
	{"llama3.3:70b", gb(43), 70.6, kv(80, 8, 128)},
}

// EmbeddingCatalog lists the Ollama embedding models nfx knows. The CRM
// embeds records and searches with one of them into Qdrant.
var EmbeddingCatalog = []LLM{
	{"nomic-embed-text", mb(274), 0.137, 0},
	{"mxbai-embed-large", mb(670), 0.335, 0},
	{"all-minilm", mb(46), 0.023, 0},
}

// DefaultEmbeddingModel is the embedding model Ollama serves beside the LLM.
const DefaultEmbeddingModel = "nomic-embed-text"

// ContextTokens is the context of one Ollama request slot: Ollama's
// default num_ctx in the pinned image (0.5.x).
const ContextTokens = 2048

// kv is the f16 KV cache of one token: layers x KV heads x head size x K,V x 2 bytes.
func kv(layers, kvHeads, headDim int) Bytes { return Bytes(layers * kvHeads * headDim * 2 * 2) }

// EstimatedParams infers the parameters of a Q4_K_M model nfx does not
// know from its size: Q4_K_M averages about 4.85 bits a weight.
func EstimatedParams(size Bytes) float64 { return float64(size) * 8 / 4.85 / 1e9 }

// EstimatedKVPerToken infers the KV cache per token of an unknown model:
// 16 KiB per billion parameters, what llama3.1:8b's grouped-query attention takes.
func EstimatedKVPerToken(params float64) Bytes { return Bytes(params * 16 * float64(KiB)) }

// Default models: the GPU default fits an 8 GB laptop GPU; the CPU default
// answers at a usable speed on CPU threads alone.
const (
	DefaultGPUModel = "llama3.1:8b"
	DefaultCPUModel = "llama3.2:3b"
)

// gb and mb convert a size as Ollama prints it to Bytes: its GB and MB
// are decimal (10^9 and 10^6 bytes; ollama/ollama format.HumanBytes),
// and llama3.1:8b's "4.9GB" is 4.6 GiB.
func gb(v float64) Bytes { return Bytes(v * 1e9) }
func mb(v float64) Bytes { return Bytes(v * 1e6) }

// ModelOverhead is the share added to a model's weights for the KV cache at
// Ollama's default context and the runtime's buffers. It is an assumption,
// stated so that the fit check can be reasoned about.
const ModelOverhead = 0.20

// LookupLLM finds a model by name.
func LookupLLM(name string) (LLM, bool) { return lookup(Catalog, name) }

// LookupEmbedding finds an embedding model by name.
func LookupEmbedding(name string) (LLM, bool) { return lookup(EmbeddingCatalog, name) }

func lookup(list []LLM, name string) (LLM, bool) {
	for _, m := range list {
		if m.Name == name {
			return m, true
		}
	}
	return LLM{}, false
}

// ModelNeed is the memory a model of the given size needs to run.
func ModelNeed(size Bytes) Bytes { return Bytes(float64(size) * (1 + ModelOverhead)) }

// Names lists a catalog's model names, for messages.
func Names(list []LLM) string {
	names := make([]string, 0, len(list))
	for _, m := range list {
		names = append(names, m.Name)
	}
	return strings.Join(names, ", ")
}

// SlotsKV is the KV cache of model m's request slots beyond the first,
// which ModelNeed's overhead already holds.
func SlotsKV(m LLM, parallel int) Bytes {
	return Bytes(max(parallel-1, 0)) * ContextTokens * m.KVPerToken
}

// NeedWith is the memory model m needs served beside the embedding model,
// with parallel request slots: weights and runtime (with one context slot),
// the embedding model, and the KV cache of every further slot.
func NeedWith(m, embedding LLM, parallel int) Bytes {
	return ModelNeed(m.Size) + ModelNeed(embedding.Size) + SlotsKV(m, parallel)
}

// largestFitting names the largest catalog models that fit in budget beside
// the embedding model with parallel slots, for fixes.
func largestFitting(budget Bytes, embedding LLM, parallel int) string {
	var fit []string
	for _, m := range Catalog {
		if NeedWith(m, embedding, parallel) <= budget {
			fit = append(fit, fmt.Sprintf("%s (%.1f GB)", m.Name, m.Size.DecimalGB()))
		}
	}
	if len(fit) == 0 {
		return "no catalog model fits"
	}
	if len(fit) > 3 {
		fit = fit[len(fit)-3:]
	}
	// Largest first: the catalog is ordered by size.
	slices.Reverse(fit)
	return strings.Join(fit, ", ")
}
