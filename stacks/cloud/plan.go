package cloud

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/nextflow-crm/nfx/internal/model"
)

// Labels and taints of the node groups.
const (
	PoolLabel    = "nextflow.io/pool"
	GeneralPool  = "general"
	GPUPoolName  = "gpu"
	GPUTaintKey  = "nvidia.com/gpu"
	GPUResource  = "nvidia.com/gpu"
	Namespace    = "nextflow"
	StorageClass = "gp3"
)

// Subnets are the VPC's subnet ranges, one public and one private per zone.
type Subnets struct {
	Public, Private []string
}

// SubnetPlan carves the VPC range: private subnets (nodes and pods) take
// the first quarters, public ones (load balancers, NAT) small ranges after.
func SubnetPlan(vpcCidr string, zones int) (Subnets, error) {
	_, n, err := net.ParseCIDR(vpcCidr)
	if err != nil {
		return Subnets{}, err
	}
	ones, bits := n.Mask.Size()
	base := binary.BigEndian.Uint32(n.IP.To4())
	var s Subnets
	// Private: /ones+3 each (8 slots, zones use the first ones).
	privSize := uint32(1) << uint(bits-(ones+3))
	for i := 0; i < zones; i++ {
		s.Private = append(s.Private, cidr(base+uint32(i)*privSize, ones+3))
	}
	// Public: /ones+6 each, from the seventh eighth on.
	pubBase := base + 6*privSize
	pubSize := uint32(1) << uint(bits-(ones+6))
	for i := 0; i < zones; i++ {
		s.Public = append(s.Public, cidr(pubBase+uint32(i)*pubSize, ones+6))
	}
	return s, nil
}

func cidr(ip uint32, prefix int) string {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, ip)
	return fmt.Sprintf("%s/%d", net.IP(b), prefix)
}

// NatGateways is how many NAT gateways the VPC gets.
func NatGateways(c model.CloudConfig) int {
	if c.SingleNat {
		return 1
	}
	return c.AvailabilityZones
}

// ClusterName is the EKS cluster's name.
func ClusterName(stack string) string { return "nextflow-" + stack }

// LogTypes are the control-plane logs sent to CloudWatch: all of them.
var LogTypes = []string{"api", "audit", "authenticator", "controllerManager", "scheduler"}
