package cloud

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/provider/aws"
)

type cluster struct {
	eks          *eks.Cluster
	nodeSG       pulumi.StringOutput
	oidcArn      pulumi.StringOutput
	oidcIssuer   pulumi.StringOutput
	general, gpu *eks.NodeGroup
	kubeconfig   pulumi.StringOutput
}

func assumeRole(service string) string {
	b, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect": "Allow", "Action": "sts:AssumeRole",
			"Principal": map[string]any{"Service": service},
		}},
	})
	return string(b)
}

func (b *builder) role(name, service string, policies ...string) (*iam.Role, error) {
	return b.newRole(name, pulumi.String(assumeRole(service)), policies)
}

// newRole creates a role with its trust policy and attaches managed policies.
func (b *builder) newRole(name string, trust pulumi.StringInput, policies []string) (*iam.Role, error) {
	r, err := iam.NewRole(b.ctx, b.name(name), &iam.RoleArgs{AssumeRolePolicy: trust, Tags: b.tags(name)}, b.opts()...)
	if err != nil {
		return nil, err
	}
	for i, p := range policies {
		if _, err := iam.NewRolePolicyAttachment(b.ctx, b.name(fmt.Sprintf("%s-%d", name, i+1)), &iam.RolePolicyAttachmentArgs{
			Role: r.Name, PolicyArn: pulumi.String(p),
		}, b.opts()...); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// irsaRole is an IAM role a Kubernetes service account assumes through the
// cluster's OIDC provider.
func (b *builder) irsaRole(name string, cl *cluster, namespace, serviceAccount string, policies ...string) (*iam.Role, error) {
	doc := pulumi.All(cl.oidcArn, cl.oidcIssuer).ApplyT(func(v []any) (string, error) {
		arn, issuer := v[0].(string), v[1].(string)
		host := issuer
		if len(host) > 8 && host[:8] == "https://" {
			host = host[8:]
		}
		out, err := json.Marshal(map[string]any{
			"Version": "2012-10-17",
			"Statement": []map[string]any{{
				"Effect":    "Allow",
				"Action":    "sts:AssumeRoleWithWebIdentity",
				"Principal": map[string]any{"Federated": arn},
				"Condition": map[string]any{"StringEquals": map[string]string{
					host + ":sub": fmt.Sprintf("system:serviceaccount:%s:%s", namespace, serviceAccount),
					host + ":aud": "sts.amazonaws.com",
				}},
			}},
		})
		return string(out), err
	}).(pulumi.StringOutput)
	return b.newRole(name, doc, policies)
}

func (b *builder) cluster(net *network) (*cluster, error) {
	c := b.cfg.Cloud
	name := ClusterName(b.stack)
	clusterRole, err := b.role("cluster-role", "eks.amazonaws.com", "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy")
	if err != nil {
		return nil, err
	}
	key, err := b.kmsKey("secrets-key", "Encrypts the Kubernetes secrets of "+name)
	if err != nil {
		return nil, err
	}
	// The API endpoint: public only to the listed ranges, else private only.
	vpcConfig := eks.ClusterVpcConfigArgs{
		SubnetIds:             net.privateSubnets,
		EndpointPrivateAccess: pulumi.Bool(true),
		EndpointPublicAccess:  pulumi.Bool(len(c.PublicAccessCidrs) > 0),
	}
	if len(c.PublicAccessCidrs) > 0 {
		vpcConfig.PublicAccessCidrs = pulumi.ToStringArray(c.PublicAccessCidrs)
	}
	cl, err := eks.NewCluster(b.ctx, b.name("eks"), &eks.ClusterArgs{
		Name:                   pulumi.String(name),
		Version:                pulumi.String(c.KubernetesVersion),
		RoleArn:                clusterRole.Arn,
		VpcConfig:              vpcConfig,
		EnabledClusterLogTypes: pulumi.ToStringArray(LogTypes),
		EncryptionConfig: eks.ClusterEncryptionConfigArgs{
			Provider:  eks.ClusterEncryptionConfigProviderArgs{KeyArn: key.Arn},
			Resources: pulumi.StringArray{pulumi.String("secrets")},
		},
		AccessConfig: eks.ClusterAccessConfigArgs{
			AuthenticationMode:                      pulumi.String("API_AND_CONFIG_MAP"),
			BootstrapClusterCreatorAdminPermissions: pulumi.Bool(true),
		},
		Tags: b.tags("eks"),
	}, b.opts()...)
	if err != nil {
		return nil, err
	}
	out := &cluster{eks: cl}
	out.nodeSG = cl.VpcConfig.ClusterSecurityGroupId().Elem()
	out.oidcIssuer = cl.Identities.Index(pulumi.Int(0)).Oidcs().Index(pulumi.Int(0)).Issuer().Elem()
	oidc, err := iam.NewOpenIdConnectProvider(b.ctx, b.name("oidc"), &iam.OpenIdConnectProviderArgs{
		Url:             out.oidcIssuer,
		ClientIdLists:   pulumi.StringArray{pulumi.String("sts.amazonaws.com")},
		ThumbprintLists: pulumi.StringArray{pulumi.String("9e99a48a9960b14926bb7f3b02e22da2b0ab7280")},
		Tags:            b.tags("oidc"),
	}, b.opts()...)
	if err != nil {
		return nil, err
	}
	out.oidcArn = oidc.Arn
	nodeRole, err := b.role("node-role", "ec2.amazonaws.com",
		"arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
		"arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
		"arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
		"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")
	if err != nil {
		return nil, err
	}
	// Cluster Autoscaler finds the node groups' Auto Scaling groups by these tags.
	autoscalerTags := map[string]string{
		"k8s.io/cluster-autoscaler/enabled": "true",
		"k8s.io/cluster-autoscaler/" + name: "owned",
	}
	out.general, err = eks.NewNodeGroup(b.ctx, b.name("general"), &eks.NodeGroupArgs{
		ClusterName:   cl.Name,
		NodeRoleArn:   nodeRole.Arn,
		SubnetIds:     net.privateSubnets,
		InstanceTypes: pulumi.StringArray{pulumi.String(c.NodeInstanceType)},
		AmiType:       pulumi.String("AL2023_x86_64_STANDARD"),
		ScalingConfig: eks.NodeGroupScalingConfigArgs{
			MinSize: pulumi.Int(c.NodeMin), DesiredSize: pulumi.Int(c.NodeDesired), MaxSize: pulumi.Int(c.NodeMax),
		},
		UpdateConfig: eks.NodeGroupUpdateConfigArgs{MaxUnavailable: pulumi.Int(1)},
		Labels:       pulumi.StringMap{PoolLabel: pulumi.String(GeneralPool)},
		Tags:         b.tagsWith("general", autoscalerTags),
	}, b.opts(pulumi.IgnoreChanges([]string{"scalingConfig.desiredSize"}))...)
	if err != nil {
		return nil, err
	}
	if c.GPUPool {
		out.gpu, err = eks.NewNodeGroup(b.ctx, b.name("gpu"), &eks.NodeGroupArgs{
			ClusterName:   cl.Name,
			NodeRoleArn:   nodeRole.Arn,
			SubnetIds:     net.privateSubnets,
			InstanceTypes: pulumi.StringArray{pulumi.String(c.GPUInstanceType)},
			// The EKS-optimised AMI with the NVIDIA driver and container toolkit.
			AmiType:  pulumi.String("AL2023_x86_64_NVIDIA"),
			DiskSize: pulumi.Int(100),
			ScalingConfig: eks.NodeGroupScalingConfigArgs{
				MinSize: pulumi.Int(c.GPUMin), DesiredSize: pulumi.Int(c.GPUDesired), MaxSize: pulumi.Int(c.GPUMax),
			},
			UpdateConfig: eks.NodeGroupUpdateConfigArgs{MaxUnavailable: pulumi.Int(1)},
			// The accelerator label tells the Cluster Autoscaler a new
			// node is a GPU node whose GPU is not advertised yet, so that
			// it waits for the device plugin instead of adding another
			// (its AWS README, "Special note on GPU instances"; the value
			// is not read).
			Labels: pulumi.StringMap{PoolLabel: pulumi.String(GPUPoolName), "nvidia.com/gpu.present": pulumi.String("true"),
				AcceleratorLabel: pulumi.String(accelerator(c.GPUInstanceType))},
			Taints: eks.NodeGroupTaintArray{eks.NodeGroupTaintArgs{
				Key: pulumi.String(GPUTaintKey), Value: pulumi.String("true"), Effect: pulumi.String("NO_SCHEDULE"),
			}},
			Tags: b.tagsWith("gpu", autoscalerTags),
		}, b.opts(pulumi.IgnoreChanges([]string{"scalingConfig.desiredSize"}))...)
		if err != nil {
			return nil, err
		}
	}
	ebsRole, err := b.irsaRole("ebs-csi-role", out, "kube-system", "ebs-csi-controller-sa", "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy")
	if err != nil {
		return nil, err
	}
	if _, err := eks.NewAddon(b.ctx, b.name("ebs-csi"), &eks.AddonArgs{
		ClusterName: cl.Name, AddonName: pulumi.String("aws-ebs-csi-driver"),
		ServiceAccountRoleArn: ebsRole.Arn, ResolveConflictsOnUpdate: pulumi.String("OVERWRITE"),
	}, b.opts(pulumi.DependsOn([]pulumi.Resource{out.general}))...); err != nil {
		return nil, err
	}
	// The identity that creates the cluster is its admin
	// (BootstrapClusterCreatorAdminPermissions); every other principal
	// that deploys, such as the CI's role, needs an access entry.
	for i, arn := range c.Admins {
		entry, err := eks.NewAccessEntry(b.ctx, b.name(fmt.Sprintf("admin-%d", i+1)), &eks.AccessEntryArgs{
			ClusterName: cl.Name, PrincipalArn: pulumi.String(arn), Type: pulumi.String("STANDARD"), Tags: b.tags("admin"),
		}, b.opts()...)
		if err != nil {
			return nil, err
		}
		if _, err := eks.NewAccessPolicyAssociation(b.ctx, b.name(fmt.Sprintf("admin-%d", i+1)), &eks.AccessPolicyAssociationArgs{
			ClusterName: cl.Name, PrincipalArn: entry.PrincipalArn,
			PolicyArn:   pulumi.String("arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"),
			AccessScope: &eks.AccessPolicyAssociationAccessScopeArgs{Type: pulumi.String("cluster")},
		}, b.opts()...); err != nil {
			return nil, err
		}
	}
	// The VPC CNI as a managed add-on with its network policy agent on:
	// EKS installs the CNI self-managed with policies off, and a
	// NetworkPolicy is then stored but never enforced (EKS user guide,
	// "Limit Pod traffic with Kubernetes network policies").
	if _, err := eks.NewAddon(b.ctx, b.name("vpc-cni"), &eks.AddonArgs{
		ClusterName: cl.Name, AddonName: pulumi.String("vpc-cni"),
		ConfigurationValues:      pulumi.String(`{"enableNetworkPolicy":"true"}`),
		ResolveConflictsOnCreate: pulumi.String("OVERWRITE"), ResolveConflictsOnUpdate: pulumi.String("OVERWRITE"),
	}, b.opts()...); err != nil {
		return nil, err
	}
	// The Metrics Server, which EKS does not install and the CRM's
	// HorizontalPodAutoscaler reads CPU from (an EKS community add-on).
	if _, err := eks.NewAddon(b.ctx, b.name("metrics-server"), &eks.AddonArgs{
		ClusterName: cl.Name, AddonName: pulumi.String("metrics-server"), ResolveConflictsOnUpdate: pulumi.String("OVERWRITE"),
	}, b.opts(pulumi.DependsOn([]pulumi.Resource{out.general}))...); err != nil {
		return nil, err
	}
	// The standby's cluster has the primary's name in its own region: its
	// kubeconfig's entries say the region, so that two merged files do not
	// shadow each other.
	entry := name
	if b.region != "" {
		entry = name + "-" + b.region
	}
	out.kubeconfig = kubeconfig(cl, name, entry, b.cfg.Cloud.Region)
	return out, nil
}

// AcceleratorLabel marks the GPU pool's nodes for the Cluster Autoscaler.
const AcceleratorLabel = "k8s.amazonaws.com/accelerator"

// accelerator is the accelerator label's value for an instance type: its
// GPU's model, such as nvidia-a10g.
func accelerator(instanceType string) string {
	g := aws.GPUInstances[instanceType].GPU
	if g == "" {
		return "nvidia"
	}
	return strings.ToLower(strings.ReplaceAll(g, " ", "-"))
}

// kubeconfig builds the cluster's kubeconfig, its cluster, context and
// user named entry; credentials come from `aws eks get-token` at use, so
// the file holds no secret.
func kubeconfig(cl *eks.Cluster, name, entry, region string) pulumi.StringOutput {
	return pulumi.All(cl.Endpoint, cl.CertificateAuthority.Data().Elem()).ApplyT(func(v []any) (string, error) {
		cfg := map[string]any{
			"apiVersion":      "v1",
			"kind":            "Config",
			"current-context": entry,
			"clusters": []any{map[string]any{"name": entry, "cluster": map[string]any{
				"server": v[0], "certificate-authority-data": v[1],
			}}},
			"contexts": []any{map[string]any{"name": entry, "context": map[string]any{"cluster": entry, "user": entry}}},
			"users": []any{map[string]any{"name": entry, "user": map[string]any{"exec": map[string]any{
				"apiVersion": "client.authentication.k8s.io/v1beta1",
				"command":    "aws",
				"args":       []string{"eks", "get-token", "--cluster-name", name, "--region", region},
			}}}},
		}
		out, err := json.Marshal(cfg)
		return string(out), err
	}).(pulumi.StringOutput)
}

// dataSecurityGroup opens port to the cluster's nodes, and to the ranges
// of peers (the other region's nodes, through the peering: a security
// group cannot name another region's).
func (b *builder) dataSecurityGroup(name string, net *network, cl *cluster, port int, peers []string) (*ec2.SecurityGroup, error) {
	ingress := ec2.SecurityGroupIngressArray{ec2.SecurityGroupIngressArgs{
		Protocol: pulumi.String("tcp"), FromPort: pulumi.Int(port), ToPort: pulumi.Int(port),
		SecurityGroups: pulumi.StringArray{cl.nodeSG},
		Description:    pulumi.String("from the EKS nodes"),
	}}
	if len(peers) > 0 {
		ingress = append(ingress, ec2.SecurityGroupIngressArgs{
			Protocol: pulumi.String("tcp"), FromPort: pulumi.Int(port), ToPort: pulumi.Int(port),
			CidrBlocks:  pulumi.ToStringArray(peers),
			Description: pulumi.String("from the other region's nodes, through the peering"),
		})
	}
	return ec2.NewSecurityGroup(b.ctx, b.name(name), &ec2.SecurityGroupArgs{
		VpcId:       net.vpc.ID(),
		Description: pulumi.Sprintf("%s: port %d from the EKS nodes only", name, port),
		Ingress:     ingress,
		Egress: ec2.SecurityGroupEgressArray{ec2.SecurityGroupEgressArgs{
			Protocol: pulumi.String("-1"), FromPort: pulumi.Int(0), ToPort: pulumi.Int(0),
			CidrBlocks: pulumi.StringArray{pulumi.String(b.cfg.Cloud.VpcCidr)},
		}},
		Tags: b.tags(name),
	}, b.opts()...)
}

// eksNodeGroupASG is a node group's Auto Scaling group and its minimum size.
type eksNodeGroupASG struct {
	name pulumi.StringOutput
	min  int
}

func asgOf(ng *eks.NodeGroup, min int) *eksNodeGroupASG {
	name := ng.Resources.Index(pulumi.Int(0)).AutoscalingGroups().Index(pulumi.Int(0)).Name().Elem()
	return &eksNodeGroupASG{name: name, min: min}
}
