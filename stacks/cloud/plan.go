package cloud

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"strings"

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

// ClusterName is the EKS cluster's name: "nextflow-" and the stack's name
// as EKS takes it (CreateCluster: 1 to 100 letters, digits, hyphens and
// underscores, starting with a letter or digit); Pulumi's stack names may
// also hold dots and run to 100 characters.
func ClusterName(stack string) string {
	return "nextflow-" + awsName(stack, 100-len("nextflow-"), false)
}

// PrivateZone is the private DNS zone of a stack with a standby region,
// in both regions' VPCs: the workloads reach the database by its names
// there (WriterName, ReaderName), which `nfx failover` moves to the
// promoted standby. A DNS label is at most 63 characters; .internal is the
// top-level domain kept for private use (ICANN, 2024).
func PrivateZone(stack string) string {
	return awsName(stack, 63, true) + ".nextflow.internal"
}

// WriterName is the database's writer in PrivateZone; ReaderName its read
// endpoint (the read replica with cloud.dbReadReplica, else the writer).
func WriterName(stack string) string { return "postgres." + PrivateZone(stack) }

// ReaderName: see WriterName.
func ReaderName(stack string) string { return "postgres-read." + PrivateZone(stack) }

// BucketPrefix is the backup bucket's name prefix: S3 takes lowercase
// letters, digits, dots and hyphens, and the provider's bucketPrefix at
// most 37 characters (it appends a unique suffix to reach S3's 63).
func BucketPrefix(stack string) string {
	const head, tail = "nextflow-", "-backups-"
	return head + awsName(stack, 37-len(head)-len(tail), true) + tail
}

// awsName is a stack's name as an AWS name takes it: letters, digits and
// single hyphens (lowercase where lower), at most n characters. A name
// that had to change, or was cut short, ends in a hash of the whole, so
// that two stacks never share one.
func awsName(stack string, n int, lower bool) string {
	var b strings.Builder
	changed := false
	for _, c := range stack {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c >= 'A' && c <= 'Z':
			if lower {
				c += 'a' - 'A'
			}
		default:
			if c != '-' {
				changed = true
			}
			if b.Len() == 0 || strings.HasSuffix(b.String(), "-") {
				changed = true
				continue
			}
			c = '-'
		}
		b.WriteRune(c)
	}
	out := strings.TrimRight(b.String(), "-")
	if out != b.String() || out == "" {
		changed = true
	}
	if !changed && len(out) <= n {
		return out
	}
	sum := sha256.Sum256([]byte(stack))
	h := hex.EncodeToString(sum[:3])
	if len(out) > n-len(h)-1 {
		out = strings.TrimRight(out[:n-len(h)-1], "-")
	}
	if out == "" {
		return h
	}
	return out + "-" + h
}

// LogTypes are the control-plane logs sent to CloudWatch: all of them.
var LogTypes = []string{"api", "audit", "authenticator", "controllerManager", "scheduler"}
