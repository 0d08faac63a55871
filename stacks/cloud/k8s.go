package cloud

import (
	"fmt"
	"sort"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/model"
)

const appUID = 10001

type k8s struct {
	*builder
	provider pulumi.ProviderResource
	parts    map[string]pulumi.Resource
	// mon is the monitoring's component, nil where it is off.
	mon pulumi.Resource
	// secrets are the stage's secret values by name, for the Secrets
	// of another namespace (the monitoring's scrape credentials).
	secrets map[string]pulumi.StringOutput
	// monSecrets are the copies made in the monitoring namespace.
	monSecrets map[string]bool
	// secretRes are the namespace's Secrets by secret name: a workload
	// depends on the ones it mounts, so that a changed value is written
	// before its pods start.
	secretRes map[string]pulumi.Resource
}

func (k *k8s) opts(part string, extra ...pulumi.ResourceOption) []pulumi.ResourceOption {
	parent := k.parent
	if p, ok := k.parts[part]; ok && p != nil {
		parent = p
	}
	return append([]pulumi.ResourceOption{pulumi.Parent(parent), pulumi.Provider(k.provider)}, extra...)
}

func meta(name string, labels map[string]string) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: pulumi.String(Namespace), Labels: pulumi.ToStringMap(labels)}
}

func appLabels(name string) map[string]string {
	return map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "nextflow"}
}

func selector(name string) *metav1.LabelSelectorArgs {
	return &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(map[string]string{"app.kubernetes.io/name": name})}
}

func resources(s model.Sizing, extra map[string]string) corev1.ResourceRequirementsArgs {
	limits := map[string]string{"cpu": cpu(s.CPUs), "memory": mem(s.Memory), "ephemeral-storage": "1Gi"}
	requests := map[string]string{"cpu": cpu(s.CPURequest), "memory": mem(s.MemoryRequest), "ephemeral-storage": "256Mi"}
	for k, v := range extra {
		limits[k] = v
		requests[k] = v
	}
	return corev1.ResourceRequirementsArgs{Limits: pulumi.ToStringMap(limits), Requests: pulumi.ToStringMap(requests)}
}

func cpu(v float64) string { return fmt.Sprintf("%dm", int(v*1000)) }

func mem(b model.Bytes) string { return fmt.Sprintf("%dMi", int64(b/model.MiB)) }

func restricted() corev1.SecurityContextArgs {
	return corev1.SecurityContextArgs{
		RunAsNonRoot:             pulumi.Bool(true),
		RunAsUser:                pulumi.Int(appUID),
		RunAsGroup:               pulumi.Int(appUID),
		ReadOnlyRootFilesystem:   pulumi.Bool(true),
		AllowPrivilegeEscalation: pulumi.Bool(false),
		Capabilities:             corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
		SeccompProfile:           corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

func podSecurity() corev1.PodSecurityContextArgs {
	return corev1.PodSecurityContextArgs{
		RunAsNonRoot: pulumi.Bool(true), FsGroup: pulumi.Int(appUID),
		SeccompProfile: corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

func zoneSpread(name string) corev1.TopologySpreadConstraintArray {
	return corev1.TopologySpreadConstraintArray{
		corev1.TopologySpreadConstraintArgs{
			MaxSkew: pulumi.Int(1), TopologyKey: pulumi.String("topology.kubernetes.io/zone"),
			WhenUnsatisfiable: pulumi.String("DoNotSchedule"), LabelSelector: selector(name),
		},
		corev1.TopologySpreadConstraintArgs{
			MaxSkew: pulumi.Int(1), TopologyKey: pulumi.String("kubernetes.io/hostname"),
			WhenUnsatisfiable: pulumi.String("ScheduleAnyway"), LabelSelector: selector(name),
		},
	}
}

func antiAffinity(name string) corev1.AffinityArgs {
	return corev1.AffinityArgs{PodAntiAffinity: corev1.PodAntiAffinityArgs{
		PreferredDuringSchedulingIgnoredDuringExecution: corev1.WeightedPodAffinityTermArray{corev1.WeightedPodAffinityTermArgs{
			Weight: pulumi.Int(100),
			PodAffinityTerm: corev1.PodAffinityTermArgs{
				TopologyKey: pulumi.String("kubernetes.io/hostname"), LabelSelector: selector(name),
			},
		}},
	}}
}

func secretVolume(name, secret string) corev1.VolumeArgs {
	mode := 0o440
	return corev1.VolumeArgs{Name: pulumi.String(name), Secret: corev1.SecretVolumeSourceArgs{
		SecretName: pulumi.String(secret), DefaultMode: pulumi.Int(mode),
	}}
}

func httpProbe(path string, port, period, failures int) corev1.ProbeArgs {
	return corev1.ProbeArgs{
		HttpGet:          corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.Int(port)},
		PeriodSeconds:    pulumi.Int(period),
		TimeoutSeconds:   pulumi.Int(5),
		FailureThreshold: pulumi.Int(failures),
	}
}

func tcpProbe(port, period, failures int) corev1.ProbeArgs {
	return corev1.ProbeArgs{
		TcpSocket:        corev1.TCPSocketActionArgs{Port: pulumi.Int(port)},
		PeriodSeconds:    pulumi.Int(period),
		TimeoutSeconds:   pulumi.Int(5),
		FailureThreshold: pulumi.Int(failures),
	}
}

func (k *k8s) pdb(part, name string, maxUnavailable int) error {
	_, err := policyv1.NewPodDisruptionBudget(k.ctx, k.name(name+"-pdb"), &policyv1.PodDisruptionBudgetArgs{
		Metadata: meta(name, appLabels(name)),
		Spec: policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable: pulumi.Int(maxUnavailable),
			Selector:       selector(name),
		},
	}, k.opts(part)...)
	return err
}

func (k *k8s) service(part, name string, ports map[string]int, headless bool, extra func(*corev1.ServiceSpecArgs)) (*corev1.Service, error) {
	var sp corev1.ServicePortArray
	names := make([]string, 0, len(ports))
	for n := range ports {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		sp = append(sp, corev1.ServicePortArgs{Name: pulumi.String(n), Port: pulumi.Int(ports[n]), TargetPort: pulumi.Int(ports[n]), Protocol: pulumi.String("TCP")})
	}
	spec := corev1.ServiceSpecArgs{Selector: pulumi.ToStringMap(map[string]string{"app.kubernetes.io/name": name}), Ports: sp}
	svcName := name
	labels := appLabels(name)
	if headless {
		labels[headlessLabel] = "true"
		spec.ClusterIP = pulumi.String("None")
		spec.PublishNotReadyAddresses = pulumi.Bool(true)
		svcName = name + "-headless"
	}
	if extra != nil {
		extra(&spec)
	}
	return corev1.NewService(k.ctx, k.name(svcName+"-svc"), &corev1.ServiceArgs{Metadata: meta(svcName, labels), Spec: spec}, k.opts(part)...)
}

func volumeClaim(name string, gb int) corev1.PersistentVolumeClaimTypeArgs {
	return corev1.PersistentVolumeClaimTypeArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(name)},
		Spec: corev1.PersistentVolumeClaimSpecArgs{
			AccessModes:      pulumi.StringArray{pulumi.String("ReadWriteOnce")},
			StorageClassName: pulumi.String(StorageClass),
			Resources:        corev1.VolumeResourceRequirementsArgs{Requests: pulumi.StringMap{"storage": pulumi.Sprintf("%dGi", gb)}},
		},
	}
}

// scratchClaim is a pod's own volume of gb (an ephemeral claim of
// ScratchStorageClass), made in its node's zone and deleted with it.
func scratchClaim(gb int) corev1.PersistentVolumeClaimTemplateArgs {
	return corev1.PersistentVolumeClaimTemplateArgs{Spec: corev1.PersistentVolumeClaimSpecArgs{
		AccessModes:      pulumi.StringArray{pulumi.String("ReadWriteOnce")},
		StorageClassName: pulumi.String(ScratchStorageClass),
		Resources:        corev1.VolumeResourceRequirementsArgs{Requests: pulumi.StringMap{"storage": pulumi.Sprintf("%dGi", gb)}},
	}}
}

// claimSizes keeps each replica's volume at the configured size. A
// StatefulSet's claim templates cannot change (the API server refuses,
// and Pulumi would replace the set: every pod of it at once, and the old
// volumes kept at their old size), so the set ignores them after its
// creation and each claim is patched instead: EBS grows a gp3 volume in
// place (the storage class allows expansion) and the API server refuses
// to shrink one.
func (k *k8s) claimSizes(part, claim, set string, replicas, gb int, after pulumi.Resource, opts ...pulumi.ResourceOption) error {
	for i := range replicas {
		name := fmt.Sprintf("%s-%s-%d", claim, set, i)
		// The provider's await for a claim takes one of a
		// WaitForFirstConsumer class for ready only while it is Pending:
		// these are bound, and a patch's create would time out. A
		// patch's delete would give up the size field it alone owns
		// once it grew, which the API server refuses: the claims outlive
		// their set anyway, so the patch is left on delete.
		md := &metav1.ObjectMetaPatchArgs{Name: pulumi.String(name), Namespace: pulumi.String(Namespace),
			Annotations: pulumi.StringMap{"pulumi.com/patchForce": pulumi.String("true"), "pulumi.com/skipAwait": pulumi.String("true")}}
		if _, err := corev1.NewPersistentVolumeClaimPatch(k.ctx, k.name(name+"-size"), &corev1.PersistentVolumeClaimPatchArgs{
			Metadata: md,
			Spec: corev1.PersistentVolumeClaimSpecPatchArgs{Resources: corev1.VolumeResourceRequirementsPatchArgs{
				Requests: pulumi.StringMap{"storage": pulumi.Sprintf("%dGi", gb)},
			}},
		}, k.opts(part, append(opts, pulumi.DependsOn([]pulumi.Resource{after}), pulumi.RetainOnDelete(true))...)...); err != nil {
			return err
		}
	}
	return nil
}

// growingClaims lets a StatefulSet's claim templates change without a
// replacement (claimSizes resizes the claims).
var growingClaims = pulumi.IgnoreChanges([]string{"spec.volumeClaimTemplates"})

func secretName(s string) string { return "nextflow-" + dns(s) }

func dns(s string) string { return strings.ReplaceAll(s, "_", "-") }
