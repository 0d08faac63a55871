package server

import (
	"fmt"

	"github.com/nextflow-crm/nfx/internal/model"
)

// Describe says, part by part, how the server stage runs NextFlow.
func Describe(c *model.Config) map[string]string {
	t := model.Profiles[model.Server].Topology
	ai := fmt.Sprintf("%d Ollama nodes, one %s each (%s)", c.AI.Replicas, c.Host.GPU, c.AI.Model)
	if !c.UseGPU {
		ai = fmt.Sprintf("%d Ollama nodes on CPU (%s)", c.AI.Replicas, c.AI.Model)
	}
	edge := fmt.Sprintf("cloudflared x2 (%s mode) to nginx", c.Tunnel.Mode)
	if c.Tunnel.Mode == model.TunnelNone {
		edge = fmt.Sprintf("none: nginx published on port %d", c.Nginx.HTTPPort)
	}
	return map[string]string{
		model.PartCRM:      fmt.Sprintf("%d replicas behind %d nginx (Docker Swarm, rolling updates)", c.CRM.Replicas, t.LoadBalancers),
		model.PartAI:       ai,
		model.PartPostgres: "primary + streaming replica on different nodes, daily pg_dump to the NAS",
		model.PartRedis:    fmt.Sprintf("primary + replica, %d Sentinels for failover", t.Sentinels),
		model.PartQdrant:   fmt.Sprintf("%d-node cluster, replication factor 2", t.QdrantNodes),
		model.PartTunnel:   edge,
	}
}
