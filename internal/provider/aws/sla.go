package aws

// SLA is one service's published monthly uptime commitment.
type SLA struct {
	Part   string
	Uptime float64 // percent
	Source string
}

// SLAs are the commitments of the parts the CRM needs in series in one
// region. The EKS control plane (99.95 %) is not among them: running pods
// keep serving while it is away. Traffic comes in through the Cloudflare
// Tunnel (two cloudflared pods in two zones, on the EC2 instances above),
// as on the other stages, whose models do not count Cloudflare's edge
// either.
var SLAs = []SLA{
	{"EC2 instances in two or more zones (EC2 region-level SLA)", 99.99, "aws.amazon.com/compute/sla: Region-Level SLA, 99.99 % monthly"},
	{"RDS Multi-AZ instance (RDS SLA)", 99.95, "aws.amazon.com/rds/sla: Multi-AZ DB instance, 99.95 % monthly"},
	{"ElastiCache Multi-AZ with automatic failover (ElastiCache SLA)", 99.99, "aws.amazon.com/elasticache/sla: Multi-AZ with automatic failover, 99.99 % monthly"},
}
