package cloud

import (
	"encoding/json"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/provider/aws"
)

// The charts' pinned versions; their value keys are recorded in
// testdata/charts, and every value nfx passes is checked against them.
const (
	DevicePluginChartVersion = "0.17.0"
	AutoscalerChartVersion   = "9.59.0"
)

func (k *k8s) addons(c *model.Config, cl *cluster) error {
	if c.Cloud.GPUPool {
		if _, err := helmv3.NewRelease(k.ctx, k.name("nvidia-device-plugin"), &helmv3.ReleaseArgs{
			Chart: pulumi.String("nvidia-device-plugin"), Version: pulumi.String(DevicePluginChartVersion),
			Namespace:      pulumi.String("kube-system"),
			RepositoryOpts: helmv3.RepositoryOptsArgs{Repo: pulumi.String("https://nvidia.github.io/k8s-device-plugin")},
			Values: pulumi.Map{
				"nodeSelector": pulumi.Map{PoolLabel: pulumi.String(GPUPoolName)},
				"tolerations": pulumi.Array{pulumi.Map{
					"key": pulumi.String(GPUTaintKey), "operator": pulumi.String("Exists"), "effect": pulumi.String("NoSchedule"),
				}},
			},
		}, k.opts(model.PartAI)...); err != nil {
			return err
		}
	}
	role, err := k.irsaRole("cluster-autoscaler-role", cl, "kube-system", "cluster-autoscaler")
	if err != nil {
		return err
	}
	if err := k.autoscalerPolicy(role); err != nil {
		return err
	}
	values := pulumi.Map{
		"autoDiscovery": pulumi.Map{"clusterName": pulumi.String(ClusterName(k.stack))},
		"awsRegion":     pulumi.String(c.Cloud.Region),
		"rbac": pulumi.Map{"serviceAccount": pulumi.Map{
			"name":        pulumi.String("cluster-autoscaler"),
			"annotations": pulumi.Map{"eks.amazonaws.com/role-arn": role.Arn},
		}},
		"extraArgs": pulumi.Map{"balance-similar-node-groups": pulumi.Bool(true), "skip-nodes-with-system-pods": pulumi.Bool(false)},
	}
	// The autoscaler of the cluster's own minor (aws.ClusterAutoscalerTags).
	if tag, ok := aws.ClusterAutoscalerTags[c.Cloud.KubernetesVersion]; ok {
		values["image"] = pulumi.Map{"tag": pulumi.String(tag)}
	}
	_, err = helmv3.NewRelease(k.ctx, k.name("cluster-autoscaler"), &helmv3.ReleaseArgs{
		Chart: pulumi.String("cluster-autoscaler"), Version: pulumi.String(AutoscalerChartVersion),
		Namespace:      pulumi.String("kube-system"),
		RepositoryOpts: helmv3.RepositoryOptsArgs{Repo: pulumi.String("https://kubernetes.github.io/autoscaler")},
		Values:         values,
	}, k.opts("")...)
	return err
}

func (k *k8s) autoscalerPolicy(role *iam.Role) error {
	doc, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{
			{"Effect": "Allow", "Resource": "*", "Action": []string{
				"autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
				"autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
				"autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
				"ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
				"eks:DescribeNodegroup",
			}},
			{"Effect": "Allow", "Resource": "*", "Action": []string{
				"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup",
			}, "Condition": map[string]any{"StringEquals": map[string]string{
				"aws:ResourceTag/k8s.io/cluster-autoscaler/" + ClusterName(k.stack): "owned",
				// The standby's cluster has the primary's name: each
				// region's autoscaler resizes its own region's groups.
				"aws:RequestedRegion": k.cfg.Cloud.Region,
			}}},
		},
	})
	_, err := iam.NewRolePolicy(k.ctx, k.name("cluster-autoscaler-policy"), &iam.RolePolicyArgs{
		Role: role.ID(), Policy: pulumi.String(string(doc)),
	}, k.builder.opts()...)
	return err
}

func (b *builder) provider(cl *cluster) (*kubernetes.Provider, error) {
	return kubernetes.NewProvider(b.ctx, b.name("k8s"), &kubernetes.ProviderArgs{
		Kubeconfig:            cl.kubeconfig,
		EnableServerSideApply: pulumi.Bool(true),
	}, pulumi.Parent(b.parent), pulumi.DependsOn([]pulumi.Resource{cl.general}))
}
