package cloud

import (
	"fmt"

	"github.com/nextflow-crm/nfx/internal/model"
)

// Describe says, part by part, how the cloud stage runs NextFlow.
func Describe(c *model.Config) map[string]string {
	cc := c.Cloud
	ai := fmt.Sprintf("StatefulSet of %d on %s GPU nodes (%s, %s)", c.AI.Replicas, cc.GPUInstanceType, c.Host.GPU, c.AI.Model)
	if !c.UseGPU {
		ai = fmt.Sprintf("StatefulSet of %d on the general nodes, CPU (%s)", c.AI.Replicas, c.AI.Model)
	}
	db := fmt.Sprintf("RDS PostgreSQL %s Multi-AZ (%s), %d days of backups", cc.DBEngineVersion, cc.DBInstanceClass, cc.DBBackupDays)
	if cc.DBReadReplica {
		db += ", a read replica"
	}
	return map[string]string{
		model.PartCRM:      fmt.Sprintf("EKS Deployment, %d to %d pods (HPA) behind an NLB", c.CRM.Replicas, cc.CRMMaxReplicas),
		model.PartAI:       ai,
		model.PartPostgres: db,
		model.PartRedis:    fmt.Sprintf("ElastiCache Redis, %d x %s, automatic failover", cc.CacheNodes, cc.CacheNodeType),
		model.PartQdrant:   fmt.Sprintf("StatefulSet of %d on gp3 volumes", model.Profiles[model.Cloud].Topology.QdrantNodes),
		model.PartTunnel:   "Cloudflare proxied DNS (CDN) to the load balancer",
	}
}
