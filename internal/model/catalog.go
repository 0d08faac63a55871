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
}

// Catalog lists the Ollama models whose size nfx knows, smallest first.
// Sizes are the Ollama library's download sizes (Q4_K_M unless noted).
var Catalog = []LLM{
	{"llama3.2:1b", gb(1.3)},
	{"llama3.2:3b", gb(2.0)},
	{"mistral:7b", gb(4.1)},
	{"qwen2.5:7b", gb(4.7)},
	{"llama3.1:8b", gb(4.9)},
	{"gemma2:9b", gb(5.4)},
	{"qwen2.5:14b", gb(9.0)},
	{"qwen2.5:32b", gb(20)},
	{"llama3.1:70b", gb(43)},
	{"llama3.3:70b", gb(43)},
}

// Default models: the GPU default fits an 8 GB laptop GPU; the CPU default
// answers at a usable speed on CPU threads alone.
const (
	DefaultGPUModel = "llama3.1:8b"
	DefaultCPUModel = "llama3.2:3b"
)

// gb converts a size in GiB, possibly fractional, to Bytes.
func gb(v float64) Bytes { return Bytes(v * float64(GiB)) }

// ModelOverhead is the share added to a model's weights for the KV cache at
// Ollama's default context and the runtime's buffers. It is an assumption,
// stated so that the fit check can be reasoned about.
const ModelOverhead = 0.20

// LookupLLM finds a model by name.
func LookupLLM(name string) (LLM, bool) {
	for _, m := range Catalog {
		if m.Name == name {
			return m, true
		}
	}
	return LLM{}, false
}

// ModelNeed is the memory a model of the given size needs to run.
func ModelNeed(size Bytes) Bytes { return Bytes(float64(size) * (1 + ModelOverhead)) }

// largestFitting names the largest catalog models that fit in budget, for fixes.
func largestFitting(budget Bytes) string {
	var fit []string
	for _, m := range Catalog {
		if ModelNeed(m.Size) <= budget {
			fit = append(fit, fmt.Sprintf("%s (%.1f GB)", m.Name, m.Size.GB()))
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
