package aws

import (
	"slices"
	"sort"
)

// GPUInstance is an EC2 GPU instance type nfx knows (AWS's published GPU,
// GPU memory, vCPUs and memory).
type GPUInstance struct {
	GPU       string
	VRAMGiB   int
	VCPUs     int
	MemoryGiB int
}

// GPUInstances are the EC2 GPU instance types nfx can place the AI on.
var GPUInstances = map[string]GPUInstance{
	"g4dn.xlarge":  {"NVIDIA T4", 16, 4, 16},
	"g4dn.2xlarge": {"NVIDIA T4", 16, 8, 32},
	"g5.xlarge":    {"NVIDIA A10G", 24, 4, 16},
	"g5.2xlarge":   {"NVIDIA A10G", 24, 8, 32},
	"g5.4xlarge":   {"NVIDIA A10G", 24, 16, 64},
}

// Instance is a general-purpose, compute or memory EC2 instance type.
type Instance struct {
	VCPUs     int
	MemoryGiB int
}

// Instances are the instance types nfx checks the general node group's
// pods and vCPU quota against (AWS's published vCPUs and memory). All are
// of the families the Standard On-Demand quota counts.
var Instances = map[string]Instance{
	"t3.medium": {2, 4}, "t3.large": {2, 8}, "t3.xlarge": {4, 16}, "t3.2xlarge": {8, 32},
	"m5.large": {2, 8}, "m5.xlarge": {4, 16}, "m5.2xlarge": {8, 32}, "m5.4xlarge": {16, 64},
	"m6i.large": {2, 8}, "m6i.xlarge": {4, 16}, "m6i.2xlarge": {8, 32}, "m6i.4xlarge": {16, 64}, "m6i.8xlarge": {32, 128},
	"m7i.large": {2, 8}, "m7i.xlarge": {4, 16}, "m7i.2xlarge": {8, 32}, "m7i.4xlarge": {16, 64},
	"c6i.large": {2, 4}, "c6i.xlarge": {4, 8}, "c6i.2xlarge": {8, 16}, "c6i.4xlarge": {16, 32},
	"r6i.large": {2, 16}, "r6i.xlarge": {4, 32}, "r6i.2xlarge": {8, 64}, "r6i.4xlarge": {16, 128},
}

// gpuRegions says where each GPU family is offered: the regions where
// `aws ec2 describe-instance-type-offerings --location-type region` lists
// g5.2xlarge (a public run of it, 2024). g4dn is offered in at least the
// same regions. Regions outside this list are not known to offer them.
var gpuRegions = []string{
	"ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
	"ca-central-1", "eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2", "eu-west-3",
	"sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
}

// RegionOffers reports whether region offers the GPU instance type.
func RegionOffers(region, instanceType string) bool {
	_, known := GPUInstances[instanceType]
	return known && KnownRegion(region)
}

// KnownRegion reports whether nfx knows what region offers.
func KnownRegion(region string) bool { return slices.Contains(gpuRegions, region) }

// Regions lists the regions nfx knows, sorted.
func Regions() []string {
	out := append([]string(nil), gpuRegions...)
	sort.Strings(out)
	return out
}

// The EC2 On-Demand vCPU quotas a fresh account starts with are often
// below what the cloud stage's node groups reach (they are per account and
// region, and AWS raises them on request): Service Quotas' codes for the
// two families the stage runs.
const (
	QuotaStandardVCPUs = "L-1216C47A" // Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances
	QuotaGVCPUs        = "L-DB2E81BA" // Running On-Demand G and VT instances
	QuotaSource        = "Amazon EC2 User Guide, On-Demand Instance quotas (vCPU-based), and Service Quotas' EC2 codes"
)
