package model

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nextflow-crm/nfx/internal/provider/aws"
)

// CloudConfig is `nextflow:cloud`, the AWS side of the cloud stage.
type CloudConfig struct {
	// Region is the AWS region.
	Region string `json:"region"`
	// AvailabilityZones is how many zones the VPC spans.
	AvailabilityZones int `json:"availabilityZones"`
	// VpcCidr is the VPC's address range.
	VpcCidr string `json:"vpcCidr"`
	// SingleNat uses one NAT gateway for all zones (cheaper, one zone's
	// outage cuts egress) instead of one per zone.
	SingleNat bool `json:"singleNat"`
	// KubernetesVersion is the EKS control plane's version, pinned.
	KubernetesVersion string `json:"kubernetesVersion"`
	// PublicAccessCidrs may reach the EKS API's public endpoint: the
	// addresses `pulumi up` runs from, since the Kubernetes provider and
	// the Helm releases talk to the cluster from the deployer's machine.
	// Required for `up`: an empty list would make the endpoint private,
	// which a deployer outside the VPC cannot reach.
	PublicAccessCidrs []string `json:"publicAccessCidrs"`
	// Admins are the IAM roles and users besides the one that runs the
	// first `up` (EKS makes that one the cluster's admin) that may
	// administer the cluster, such as the CI's deploy role: each gets an
	// access entry with the cluster admin policy.
	Admins []string `json:"admins"`
	// The general node group.
	NodeInstanceType string `json:"nodeInstanceType"`
	NodeMin          int    `json:"nodeMin"`
	NodeDesired      int    `json:"nodeDesired"`
	NodeMax          int    `json:"nodeMax"`
	// AIEngine serves the models on the GPU pool: ollama (as on every
	// stage) or vllm (EngineVLLM).
	AIEngine string `json:"aiEngine"`
	// VLLMImage is vLLM's OpenAI-compatible server, pinned.
	VLLMImage string `json:"vllmImage"`
	// VLLMModel and VLLMEmbeddingModel are the Hugging Face repositories
	// vLLM serves as ai.model and ai.embeddingModel; "" takes VLLMModels'.
	VLLMModel          string `json:"vllmModel"`
	VLLMEmbeddingModel string `json:"vllmEmbeddingModel"`
	// VLLMRevisions pins each Hugging Face repository vLLM reads (the
	// weights, and the code of a model that ships its own) to a commit.
	VLLMRevisions map[string]string `json:"vllmRevisions"`
	// The GPU node group, for the AI.
	GPUPool         bool   `json:"gpuPool"`
	GPUInstanceType string `json:"gpuInstanceType"`
	GPUMin          int    `json:"gpuMin"`
	GPUDesired      int    `json:"gpuDesired"`
	GPUMax          int    `json:"gpuMax"`
	// RDS PostgreSQL.
	DBInstanceClass   string `json:"dbInstanceClass"`
	DBEngineVersion   string `json:"dbEngineVersion"`
	DBStorageGB       int    `json:"dbStorageGB"`
	DBBackupDays      int    `json:"dbBackupDays"`
	DBReadReplica     bool   `json:"dbReadReplica"`
	DeletionProtected bool   `json:"deletionProtection"`
	// ElastiCache Redis.
	CacheNodeType      string `json:"cacheNodeType"`
	CacheNodes         int    `json:"cacheNodes"`
	CacheEngineVersion string `json:"cacheEngineVersion"`
	// The CRM's autoscaling ceiling (its floor is crm.replicas).
	CRMMaxReplicas int `json:"crmMaxReplicas"`
	// Volumes.
	QdrantStorageGB int `json:"qdrantStorageGB"`
	ModelStorageGB  int `json:"modelStorageGB"`
	// StandbyRegion, if set, holds a copy of the data in a second region:
	// a cross-region read replica of the database, encrypted with a key of
	// that region in a VPC of its own (StandbyVpcCidr), and the backups'
	// bucket replicated to a bucket there.
	StandbyRegion  string `json:"standbyRegion"`
	StandbyVpcCidr string `json:"standbyVpcCidr"`
	// StandbyCluster adds a warm cluster to the standby region: its VPC
	// with public subnets and NAT, EKS with the primary's node groups (its
	// GPU pool at zero), a cache of its own and the workloads, idle (no AI
	// pods, no tunnel connectors) until `nfx failover` promotes the
	// region. Off, the standby region holds the data only.
	StandbyCluster bool `json:"standbyCluster"`
	// LoadBalancer puts Cloudflare Load Balancing in front of the two
	// regions' tunnels (a standby cluster's, in managed tunnel mode): the
	// standby's tunnel of its own, a pool per region and public hostname,
	// health-checked from HealthCheckRegion, and a load balancer per
	// hostname that sends visitors to the serving region's pool, switched
	// by `nfx failover` through Cloudflare's API (which a lost AWS region
	// does not take down).
	LoadBalancer bool `json:"loadBalancer"`
	// HealthCheckRegion is the Cloudflare region the pools are checked
	// from: the visitors' (below an Enterprise plan, a pool must name its
	// check regions).
	HealthCheckRegion string `json:"healthCheckRegion"`
	// StandbyPromoted is when `nfx failover` promoted the standby's
	// database (RFC 3339, UTC), written back by it: the standby's instance
	// is then the writer the workloads use, and the former primary is
	// fenced read-only. Empty while the standby replicates.
	StandbyPromoted string `json:"standbyPromoted"`
	// BackupRetentionDays is how long the S3 backup bucket keeps objects.
	BackupRetentionDays int `json:"backupRetentionDays"`
	// AlarmEmail, if set, is subscribed to the alarms' SNS topic.
	AlarmEmail string `json:"alarmEmail"`
	// ZoneID is no longer read (the cloud is reached through its tunnel,
	// tunnel.zoneId); a value set is reported with the fix.
	ZoneID string `json:"zoneId"`
}

// What a node keeps for itself (the kubelet, the container runtime, the
// system pods): pods get the rest. EKS's reservation grows with the node;
// a tenth of the memory and a tenth of a core are about it on these sizes.
const (
	nodeReservedCPU    = 0.1
	nodeReservedMemory = 0.1
)

// checkPodFit refuses a pod whose limits no node of its pool could hold:
// Kubernetes would leave it pending forever.
func checkPodFit(c *Config, ds *Diagnostics) {
	cc := c.Cloud
	general, knownGeneral := aws.Instances[cc.NodeInstanceType]
	gpu, knownGPU := aws.GPUInstances[cc.GPUInstanceType]
	if !knownGeneral {
		ds.Warnf(FullKey("cloud.nodeInstanceType"), "use one of the types nfx knows to have pods checked against it",
			"%s is unknown to nfx: pods are not checked against its size", cc.NodeInstanceType)
	}
	for _, p := range parts(c) {
		if !p.Runs || Profiles[c.Stage].Topology.IsManaged(p.Kind) || p.Kind == KindEdge {
			continue
		}
		onGPU := p.Service.GPUs > 0 && cc.GPUPool
		name, cpus, mem := cc.NodeInstanceType, 0, Bytes(0)
		switch {
		case onGPU && knownGPU:
			name, cpus, mem = cc.GPUInstanceType, gpu.VCPUs, Bytes(gpu.MemoryGiB)*GiB
		case !onGPU && knownGeneral:
			cpus, mem = general.VCPUs, Bytes(general.MemoryGiB)*GiB
		default:
			continue
		}
		availCPU := float64(cpus) - nodeReservedCPU
		availMem := Bytes(float64(mem) * (1 - nodeReservedMemory))
		sz := p.Service.Sizing
		key := p.Key
		if sz.CPUs > availCPU {
			ds.Errorf(key+".cpus", fmt.Sprintf("keep it at or below %g, or use a larger instance type than %s", availCPU, name),
				"%g cores do not fit a %s node (%d vCPUs, %g left to pods)", sz.CPUs, name, cpus, availCPU)
		}
		if sz.Memory > availMem {
			ds.Errorf(key+".memory", fmt.Sprintf("keep it at or below %.1f GiB, or use a larger instance type than %s", availMem.GiB(), name),
				"%s does not fit a %s node (%s, %.1f GiB left to pods)", sz.Memory, name, mem, availMem.GiB())
		}
	}
}

var (
	regionRE    = lazy(`^[a-z]{2}(-[a-z]+)+-\d$`)
	instanceRE  = lazy(`^[a-z][a-z0-9]*\.[a-z0-9]+$`)
	dbClassRE   = lazy(`^db\.[a-z0-9]+\.[a-z0-9]+$`)
	cacheTypeRE = lazy(`^cache\.[a-z0-9]+\.[a-z0-9]+$`)
	versionRE   = lazy(`^\d+\.\d+(\.\d+)?$`)
	emailRE     = lazy(`^[^@\s]+@[^@\s]+\.[a-z]{2,}$`)
	// An IAM role or user ARN (IAM's name characters; paths allowed).
	iamPrincipalRE = lazy(`^arn:aws(-cn|-us-gov)?:iam::\d{12}:(role|user)/[\w+=,.@/-]{1,512}$`)
)

func checkCloud(c *Config, ds *Diagnostics) {
	k := func(f string) string { return FullKey("cloud." + f) }
	cc := c.Cloud
	switch {
	case !regionRE.MatchString(cc.Region):
		ds.Errorf(k("region"), "use an AWS region such as us-east-1 or ap-southeast-1", "%q is not an AWS region", cc.Region)
	case !aws.KnownRegion(cc.Region):
		ds.Errorf(k("region"), "use one of "+strings.Join(aws.Regions(), ", "), "region %q is unknown to nfx", cc.Region)
	}
	if cc.AvailabilityZones < 2 || cc.AvailabilityZones > 6 {
		ds.Errorf(k("availabilityZones"), "use 3 (2 to 6)", "must be between 2 and 6, got %d", cc.AvailabilityZones)
	}
	checkVPC(k("vpcCidr"), cc.VpcCidr, ds)
	checkStandby(c, ds)
	if !versionRE.MatchString(cc.KubernetesVersion) {
		ds.Errorf(k("kubernetesVersion"), "pin a version such as "+aws.NewestStandard(aws.EKSVersions, c.Today).Version, "%q is not a Kubernetes version", cc.KubernetesVersion)
	} else {
		checkVersion(k("kubernetesVersion"), "EKS Kubernetes", aws.EKSVersions, cc.KubernetesVersion, c.Today,
			", when EKS charges $0.60 per cluster-hour instead of $0.10", ds)
	}
	if _, ok := aws.ClusterAutoscalerTags[cc.KubernetesVersion]; !ok && aws.EKSSupport(cc.KubernetesVersion, c.Today) != aws.SupportUnknown && aws.EKSSupport(cc.KubernetesVersion, c.Today) != aws.SupportEnded {
		ds.Warnf(k("kubernetesVersion"), "use 1.35, or check that the chart's Cluster Autoscaler 1.35 works on "+cc.KubernetesVersion,
			"nfx knows no Cluster Autoscaler release for Kubernetes %s: the chart's own (1.35) runs, and the autoscaler asks for its control plane's minor", cc.KubernetesVersion)
	}
	seenAdmin := map[string]bool{}
	for i, a := range cc.Admins {
		p := fmt.Sprintf("%s[%d]", k("admins"), i)
		switch {
		case !iamPrincipalRE.MatchString(a):
			ds.Errorf(p, "use an IAM role or user ARN such as arn:aws:iam::123456789012:role/ci-deploy", "%q is not an IAM role or user ARN", a)
		case seenAdmin[a]:
			ds.Errorf(p, "list each principal once", "%s is listed twice (EKS takes one access entry per principal)", a)
		}
		seenAdmin[a] = true
	}
	checkPublicCIDRs(k("publicAccessCidrs"), cc.PublicAccessCidrs, ds)
	if len(cc.PublicAccessCidrs) > 0 && onlyDocumentation(cc.PublicAccessCidrs) {
		ds.Warnf(k("publicAccessCidrs"), "replace it with the addresses `pulumi up` runs from: yours (such as the /32 of `curl -s https://checkip.amazonaws.com`) and your CI runners'",
			"holds only documentation addresses (%s): the Kubernetes API would answer no one who deploys", strings.Join(cc.PublicAccessCidrs, ", "))
	}
	if !instanceRE.MatchString(cc.NodeInstanceType) {
		ds.Errorf(k("nodeInstanceType"), "use an EC2 instance type such as m6i.xlarge", "%q is not an instance type", cc.NodeInstanceType)
	}
	checkPool := func(name string, lo, want, hi int) {
		if lo < 0 || want < lo || hi < want || hi < 1 {
			ds.Errorf(k(name+"Desired"), fmt.Sprintf("keep %sMin <= %sDesired <= %sMax, with %sMax >= 1", name, name, name, name),
				"node group sizes must satisfy min <= desired <= max, got %d <= %d <= %d", lo, want, hi)
		}
	}
	checkPool("node", cc.NodeMin, cc.NodeDesired, cc.NodeMax)
	if cc.GPUPool {
		checkPool("gpu", cc.GPUMin, cc.GPUDesired, cc.GPUMax)
		if _, ok := aws.GPUInstances[cc.GPUInstanceType]; !ok {
			var names []string
			for n := range aws.GPUInstances {
				names = append(names, n)
			}
			sort.Strings(names)
			ds.Errorf(k("gpuInstanceType"), "use one of "+strings.Join(names, ", "), "GPU instance type %q is unknown to nfx", cc.GPUInstanceType)
		} else if aws.KnownRegion(cc.Region) && !aws.RegionOffers(cc.Region, cc.GPUInstanceType) {
			ds.Errorf(k("gpuInstanceType"), "choose a region that offers it", "%s is not offered in %s", cc.GPUInstanceType, cc.Region)
		}
	}
	checkQuotas(c, ds)
	if !dbClassRE.MatchString(cc.DBInstanceClass) {
		ds.Errorf(k("dbInstanceClass"), "use an RDS class such as db.r6g.large", "%q is not an RDS instance class", cc.DBInstanceClass)
	}
	checkRDSPostgres(k("dbEngineVersion"), cc.DBEngineVersion, c.Today, ds)
	if cc.DBStorageGB < 20 {
		ds.Errorf(k("dbStorageGB"), "use 20 or more", "must be >= 20, got %d", cc.DBStorageGB)
	}
	if cc.DBBackupDays < 7 || cc.DBBackupDays > 35 {
		ds.Errorf(k("dbBackupDays"), "keep 7 to 35 days of automated backups", "must be between 7 and 35, got %d", cc.DBBackupDays)
	}
	if !cacheTypeRE.MatchString(cc.CacheNodeType) {
		ds.Errorf(k("cacheNodeType"), "use an ElastiCache node type such as cache.r6g.large", "%q is not a node type", cc.CacheNodeType)
	}
	if cc.CacheNodes < 2 || cc.CacheNodes > 6 {
		ds.Errorf(k("cacheNodes"), "use 2 or more for automatic failover (at most 6)", "must be between 2 and 6, got %d", cc.CacheNodes)
	}
	if !slices.Contains(aws.ElastiCacheRedisVersions, cc.CacheEngineVersion) {
		ds.Errorf(k("cacheEngineVersion"), "use one of "+strings.Join(aws.ElastiCacheRedisVersions, ", "),
			"%q is not a Redis OSS version ElastiCache creates with AUTH and TLS, by nfx's table of %s", cc.CacheEngineVersion, aws.VersionsDate)
	}
	if cc.CRMMaxReplicas < c.CRM.Replicas {
		ds.Errorf(k("crmMaxReplicas"), fmt.Sprintf("keep it at or above crm.replicas (%d)", c.CRM.Replicas), "is below the CRM's minimum: %d < %d", cc.CRMMaxReplicas, c.CRM.Replicas)
	}
	if cc.QdrantStorageGB < 1 || cc.ModelStorageGB < 1 {
		ds.Errorf(k("qdrantStorageGB"), "give Qdrant and the models at least 1 GB each", "volumes must be >= 1 GB, got %d and %d", cc.QdrantStorageGB, cc.ModelStorageGB)
	}
	if cc.BackupRetentionDays < 7 {
		ds.Errorf(k("backupRetentionDays"), "keep backups for 7 days or more, such as 90", "must be >= 7, got %d", cc.BackupRetentionDays)
	}
	if cc.AlarmEmail != "" && !emailRE.MatchString(cc.AlarmEmail) {
		ds.Errorf(k("alarmEmail"), "use an e-mail address, or leave it empty", "%q is not an e-mail address", cc.AlarmEmail)
	}
	if cc.ZoneID != "" {
		ds.Errorf(k("zoneId"), "remove it; for a tunnel nfx creates set tunnel.mode managed with tunnel.accountId and tunnel.zoneId, or run an existing tunnel with tunnel.mode token",
			"is no longer read: the cloud stage is reached through its Cloudflare Tunnel, like the other stages, and has no load balancer for a DNS record to point at")
	}
	if c.Tunnel.Mode == TunnelNone {
		ds.Errorf(FullKey("tunnel.mode"), "use managed (nfx creates the tunnel, its routes and DNS) or token (an existing tunnel's token)",
			"is none, but the cloud stage has no other entry: nothing faces the Internet except its Cloudflare Tunnel")
	}
}

// checkQuotas warns of the vCPU quotas the node groups reach at their
// maximum: nfx cannot read an account's quotas offline, and a fresh
// account's are often lower, which fails the GPU group's first scale-up.
func checkQuotas(c *Config, ds *Diagnostics) {
	cc := c.Cloud
	regions := []string{cc.Region}
	if cc.StandbyCluster && cc.StandbyRegion != "" {
		// The standby's node groups have the primary's maximums.
		regions = append(regions, cc.StandbyRegion)
	}
	for _, region := range regions {
		warn := func(key, quota, what string, vcpus, count int, instance string) {
			ds.Warnf(FullKey(key), fmt.Sprintf("check it with `aws service-quotas get-service-quota --service-code ec2 --quota-code %s --region %s`, and request an increase before `pulumi up`", quota, region),
				"at its maximum the node group needs %d vCPUs of %s instances (quota %s) for %d x %s in %s; a new account's On-Demand quotas are often lower", vcpus, what, quota, count, instance, region)
		}
		if n, ok := aws.Instances[cc.NodeInstanceType]; ok {
			warn("cloud.nodeMax", aws.QuotaStandardVCPUs, "Standard", cc.NodeMax*n.VCPUs, cc.NodeMax, cc.NodeInstanceType)
		}
		if g, ok := aws.GPUInstances[cc.GPUInstanceType]; ok && cc.GPUPool {
			warn("cloud.gpuMax", aws.QuotaGVCPUs, "G and VT", cc.GPUMax*g.VCPUs, cc.GPUMax, cc.GPUInstanceType)
		}
	}
}

// documentationRanges are RFC 5737's, for examples only.
var documentationRanges = []string{"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"}

// onlyDocumentation says every CIDR lies in a documentation range: an
// example left in place.
func onlyDocumentation(cidrs []string) bool {
	for _, c := range cidrs {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			return false
		}
		in := false
		for _, d := range documentationRanges {
			_, dn, _ := net.ParseCIDR(d)
			ones, _ := n.Mask.Size()
			dones, _ := dn.Mask.Size()
			if dn.Contains(n.IP) && ones >= dones {
				in = true
			}
		}
		if !in {
			return false
		}
	}
	return true
}

// privateRanges are RFC 1918's: a VPC's range must sit inside one.
var privateRanges = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}

// checkVPC: an IPv4 CIDR with zero host bits, inside a private range, of
// AWS's sizes (/16 to /28), and at least a /20 for nfx's subnet plan.
// checkStandby checks the second region: another AWS region nfx knows, and
// a VPC that does not overlap the primary's, so that the two can be peered.
func checkStandby(c *Config, ds *Diagnostics) {
	cc := c.Cloud
	if cc.StandbyPromoted != "" {
		pkey := FullKey("cloud.standbyPromoted")
		if _, err := time.Parse(time.RFC3339, cc.StandbyPromoted); err != nil {
			ds.Errorf(pkey, "leave it as nfx failover wrote it (a time such as 2026-12-07T04:00:00Z), or empty while the standby replicates", "%q is not an RFC 3339 time", cc.StandbyPromoted)
		}
		if cc.StandbyRegion == "" {
			ds.Errorf(pkey, "set cloud.standbyRegion back to the region whose database was promoted", "a promoted standby needs cloud.standbyRegion, which is empty")
		}
	}
	checkLoadBalancer(c, ds)
	if cc.StandbyRegion == "" {
		if cc.StandbyCluster {
			ds.Errorf(FullKey("cloud.standbyCluster"), "set cloud.standbyRegion to the region the cluster is to run in, or set cloud.standbyCluster to false", "a standby cluster needs cloud.standbyRegion, which is empty")
		}
		return
	}
	key := FullKey("cloud.standbyRegion")
	switch {
	case !regionRE.MatchString(cc.StandbyRegion):
		ds.Errorf(key, "use an AWS region such as us-west-2 or ap-southeast-2", "%q is not an AWS region", cc.StandbyRegion)
	case !aws.KnownRegion(cc.StandbyRegion):
		ds.Errorf(key, "use one of "+strings.Join(aws.Regions(), ", "), "region %q is unknown to nfx", cc.StandbyRegion)
	case cc.StandbyRegion == cc.Region:
		ds.Errorf(key, "use another region than cloud.region, or leave it empty for one region", "%s is cloud.region itself: a standby there shares its outages", cc.StandbyRegion)
	}
	vpcKey := FullKey("cloud.standbyVpcCidr")
	checkVPC(vpcKey, cc.StandbyVpcCidr, ds)
	_, a, errA := net.ParseCIDR(cc.VpcCidr)
	_, b, errB := net.ParseCIDR(cc.StandbyVpcCidr)
	if errA == nil && errB == nil && (a.Contains(b.IP) || b.Contains(a.IP)) {
		ds.Errorf(vpcKey, "use a range apart from cloud.vpcCidr, such as 10.41.0.0/16", "%s overlaps cloud.vpcCidr %s: the regions' VPCs could not be peered", cc.StandbyVpcCidr, cc.VpcCidr)
	}
}

// CloudflareRegions are Cloudflare Load Balancing's region codes (its
// Regions API: developers.cloudflare.com/load-balancing/reference/region-mapping-api).
var CloudflareRegions = []string{"WNAM", "ENAM", "WEU", "EEU", "NSAM", "SSAM", "OC", "ME", "NAF", "SAF", "SAS", "SEAS", "NEAS"}

// lbPoolsBelowEnterprise is how many pools a Cloudflare account holds below
// an Enterprise plan (developers.cloudflare.com/load-balancing/reference/limitations).
const lbPoolsBelowEnterprise = 20

// checkLoadBalancer: a load balancer needs the second region's tunnel
// (a standby cluster) and nfx's tunnel (managed mode); its check region is
// one of Cloudflare's.
func checkLoadBalancer(c *Config, ds *Diagnostics) {
	cc := c.Cloud
	if !slices.Contains(CloudflareRegions, cc.HealthCheckRegion) {
		ds.Errorf(FullKey("cloud.healthCheckRegion"), "use one of "+strings.Join(CloudflareRegions, ", ")+" (where the visitors are; SEAS is Southeast Asia)", "%q is not a Cloudflare Load Balancing region", cc.HealthCheckRegion)
	}
	if !cc.LoadBalancer {
		return
	}
	key := FullKey("cloud.loadBalancer")
	if !cc.StandbyCluster {
		ds.Errorf(key, "set cloud.standbyRegion and cloud.standbyCluster: true, or set cloud.loadBalancer to false", "a load balancer in front of two regions needs the standby's cluster, and cloud.standbyCluster is false")
	}
	if c.Tunnel.Mode != TunnelManaged {
		ds.Errorf(key, "set tunnel.mode to managed (nfx makes both regions' tunnels and the load balancer), or set cloud.loadBalancer to false", "the load balancer's pools are tunnels nfx makes, and tunnel.mode is %q", c.Tunnel.Mode)
	}
	// Below an Enterprise plan an account holds 20 pools (Cloudflare's
	// Load Balancing limitations), shared by every stack in it; each
	// public hostname takes two here.
	hosts := 1
	for _, s := range c.Services {
		if s.Public != nil && s.Public.Hostname != "" {
			hosts++
		}
	}
	if pools := 2 * hosts; pools > lbPoolsBelowEnterprise/2 {
		ds.Warnf(key, "check the account's Load Balancing limits (20 pools below an Enterprise plan, for every stack in it) before nfx up",
			"%d public hostnames take %d pools, both regions', of the account's %d below an Enterprise plan", hosts, pools, lbPoolsBelowEnterprise)
	}
	if cc.AlarmEmail == "" {
		ds.Warnf(FullKey("cloud.alarmEmail"), "set it to the address that answers for the stage: it also gets Cloudflare's notice of a pool's health",
			"no one is told when a region's pool turns unhealthy: a standby whose path broke is found out by the failover that needs it")
	}
	// A monitor asks each public hostname for a 2xx, redirects not
	// followed: a service without an HTTP check would be asked for "/",
	// which a web app commonly redirects to its sign-in page, and its
	// pools would never be healthy.
	for i, s := range c.Services {
		if s.Public != nil && s.Public.Hostname != "" && s.Health.HTTP == "" {
			ds.Errorf(fmt.Sprintf("%s[%d].health.http", FullKey("services"), i), "set it to a path the service answers with a 2xx (such as /healthz), or set cloud.loadBalancer to false",
				"service %s is public (%s) and has no HTTP health check for the load balancer's monitor", s.Name, s.Public.Hostname)
		}
	}
}

func checkVPC(path, cidr string, ds *Diagnostics) {
	fix := "use a private IPv4 range from /16 to /20, such as 10.40.0.0/16"
	ip, n, err := net.ParseCIDR(cidr)
	if err != nil || ip.To4() == nil {
		ds.Errorf(path, fix, "%q is not an IPv4 CIDR", cidr)
		return
	}
	ones, _ := n.Mask.Size()
	switch {
	case !ip.Equal(n.IP):
		ds.Errorf(path, fmt.Sprintf("write the network address, %s", n), "%s has host bits set", cidr)
	case ones < 16:
		ds.Errorf(path, fix, "%s is larger than a /16, the largest VPC AWS allows", cidr)
	case ones > 20:
		ds.Errorf(path, fix+", so that every zone gets room for nodes and pods", "%s is too small", cidr)
	case !inPrivate(n):
		ds.Errorf(path, fix, "%s is not a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)", cidr)
	}
}

func inPrivate(n *net.IPNet) bool {
	ones, _ := n.Mask.Size()
	for _, r := range privateRanges {
		_, p, _ := net.ParseCIDR(r)
		pOnes, _ := p.Mask.Size()
		if p.Contains(n.IP) && ones >= pOnes {
			return true
		}
	}
	return false
}

// MaxPublicAddresses is the most addresses the EKS API's public endpoint
// may be open to, in all: a /16's worth. Offices and VPNs need far fewer;
// more is the Internet in pieces (0.0.0.0/1 with 128.0.0.0/1).
const MaxPublicAddresses = 1 << 16

// checkPublicCIDRs: each an IPv4 CIDR with zero host bits, and all of
// them together, overlaps counted once, at most MaxPublicAddresses.
func checkPublicCIDRs(path string, cidrs []string, ds *Diagnostics) {
	type span struct{ lo, hi uint64 }
	var spans []span
	for i, c := range cidrs {
		p := fmt.Sprintf("%s[%d]", path, i)
		ip, n, err := net.ParseCIDR(c)
		if err != nil || ip.To4() == nil {
			ds.Errorf(p, "use IPv4 CIDRs such as 203.0.113.0/24", "%q is not an IPv4 CIDR", c)
			continue
		}
		if !ip.Equal(n.IP) {
			ds.Errorf(p, fmt.Sprintf("write the network address, %s", n), "%s has host bits set", c)
			continue
		}
		ones, _ := n.Mask.Size()
		lo := uint64(binary.BigEndian.Uint32(n.IP.To4()))
		spans = append(spans, span{lo, lo + 1<<uint(32-ones)})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	var total, end uint64
	for _, s := range spans {
		if s.lo > end {
			end = s.lo
		}
		if s.hi > end {
			total += s.hi - end
			end = s.hi
		}
	}
	if total > MaxPublicAddresses {
		what := fmt.Sprintf("%d addresses", total)
		if total == 1<<32 {
			what = "the whole Internet"
		}
		ds.Errorf(path, "list the addresses `pulumi up` runs from (yours, your CI runners', your office or VPN ranges)",
			"opens the Kubernetes API to %s, more than the %d nfx allows", what, MaxPublicAddresses)
	}
}

// provider is what the model asks of a cloud provider: the checks of its
// config object, and one node of its GPU pool described as the host the AI
// runs on, for the model fit. The provider's facts (prices, SLAs, instance
// types, regions, versions, type tokens) are its package's,
// internal/provider/<name>.
type provider struct {
	check func(*Config, *Diagnostics)
	host  func(*Config) Hardware
}

// providers holds the providers nfx knows: one line each.
var providers = map[string]provider{
	"aws": {check: checkCloud, host: cloudHost},
}

// cloudHost describes the cloud stage's GPU node as its host, for the model fit.
func cloudHost(c *Config) Hardware {
	g, ok := aws.GPUInstances[c.Cloud.GPUInstanceType]
	if !c.Cloud.GPUPool || !ok {
		return Hardware{}
	}
	return Hardware{CPU: c.Cloud.GPUInstanceType, Threads: g.VCPUs, Memory: Bytes(g.MemoryGiB) * GiB, GPU: g.GPU, GPUCount: 1, VRAM: Bytes(g.VRAMGiB) * GiB, Nodes: c.Cloud.GPUMax, GPUNodes: c.Cloud.GPUMax}
}
