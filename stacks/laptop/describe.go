package laptop

import (
	"fmt"

	"github.com/nextflow-crm/nfx/internal/model"
)

// Describe says, part by part, how the laptop stage runs NextFlow.
func Describe(c *model.Config) map[string]string {
	ai := fmt.Sprintf("Ollama container on the %s (%s)", c.Host.GPU, c.AI.Model)
	if !c.UseGPU {
		ai = fmt.Sprintf("Ollama container on CPU (%s)", c.AI.Model)
	}
	edge := "cloudflared container (" + c.Tunnel.Mode + " mode)"
	if c.Tunnel.Mode == model.TunnelNone {
		edge = fmt.Sprintf("none: the CRM on 127.0.0.1:%d", c.Tunnel.LocalPort)
	}
	return map[string]string{
		model.PartCRM:      "1 container (Docker Compose)",
		model.PartAI:       ai,
		model.PartPostgres: "1 container, data in a named volume, no backups",
		model.PartRedis:    "1 container",
		model.PartQdrant:   "1 container",
		model.PartTunnel:   edge,
	}
}
