package capacity

import (
	"sort"
	"strings"
)

// GPU is a graphics card's published figures, the inputs of the serving
// model.
type GPU struct {
	// BandwidthGBs is the memory bandwidth, GB/s (10^9 bytes).
	BandwidthGBs float64
	// TFLOPS is the dense FP16 tensor throughput, 10^12 FLOP/s.
	TFLOPS float64
	// Source says where the figures come from.
	Source string
}

// GPUs are the cards nfx can estimate, by the names the stage profiles,
// `nextflow:host.gpu` and the EC2 GPU types use.
var GPUs = map[string]GPU{
	"NVIDIA GeForce RTX 4060 Laptop": {256, 58, "8 GB GDDR6, 128-bit at 16 Gbps; NVIDIA's 233 AI TOPS (FP8, sparse) is 58 TFLOPS dense FP16"},
	"NVIDIA GeForce RTX 4090":        {1008, 330, "24 GB GDDR6X, 384-bit at 21 Gbps; NVIDIA's 1,321 AI TOPS (FP8, sparse) is 330 TFLOPS dense FP16"},
	"NVIDIA GeForce RTX 3090":        {936, 142, "24 GB GDDR6X, 384-bit at 19.5 Gbps; 142 TFLOPS dense FP16 tensor (Ampere GA102 whitepaper)"},
	"NVIDIA A10G":                    {600, 125, "24 GB GDDR6 at 600 GB/s; the GA102 of NVIDIA's A10, whose datasheet gives 125 TFLOPS dense FP16 tensor"},
	"NVIDIA T4":                      {320, 65, "16 GB GDDR6 at 320 GB/s; 65 TFLOPS FP16 tensor (NVIDIA T4 datasheet)"},
	"NVIDIA L4":                      {300, 121, "24 GB GDDR6 at 300 GB/s; 121 TFLOPS dense FP16 tensor (NVIDIA L4 datasheet)"},
	// The A40 is here for the published vLLM figures measured on it (the
	// GA102 of the A10 and A10G, with 48 GB): no stage runs on it.
	"NVIDIA A40": {696, 149.7, "48 GB GDDR6 at 696 GB/s; 149.7 TFLOPS dense FP16 tensor (NVIDIA A40 datasheet)"},
}

// GPUNames lists the known cards, sorted, for messages.
func GPUNames() string {
	names := make([]string, 0, len(GPUs))
	for n := range GPUs {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
