package cloud

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/provider/aws"
)

// Labels and taints of the node groups.
const (
	PoolLabel    = "nextflow.io/pool"
	GeneralPool  = "general"
	GPUPoolName  = "gpu"
	GPUTaintKey  = "nvidia.com/gpu"
	GPUResource  = "nvidia.com/gpu"
	Namespace    = model.KubeNamespace
	StorageClass = "gp3"
	// ScratchStorageClass is gp3 whose volumes are deleted with their
	// claims: the jobs' scratch space.
	ScratchStorageClass = "gp3-scratch"
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

// ClusterName is the EKS cluster's name (internal/provider/aws).
var ClusterName = aws.ClusterName

// The database's names with a standby region (internal/provider/aws).
var (
	PrivateZone = aws.PrivateZone
	WriterName  = aws.WriterName
	ReaderName  = aws.ReaderName
)

// BucketPrefix is the backup bucket's name prefix: S3 takes lowercase
// letters, digits, dots and hyphens, and the provider's bucketPrefix at
// most 37 characters (it appends a unique suffix to reach S3's 63).
func BucketPrefix(stack string) string {
	const head, tail = "nextflow-", "-backups-"
	return head + aws.Name(stack, 37-len(head)-len(tail), true) + tail
}

// LogTypes are the control-plane logs sent to CloudWatch: all of them.
var LogTypes = []string{"api", "audit", "authenticator", "controllerManager", "scheduler"}
