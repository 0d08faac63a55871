package cloud

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	autoscalingv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/autoscaling/v2"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	storagev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/storage/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/model"
)

// CloudflareIPv4 are Cloudflare's published IPv4 ranges: the only
// addresses the CRM's load balancer accepts, so the origin is reachable
// through Cloudflare alone.
var CloudflareIPv4 = []string{
	"103.21.244.0/22", "103.22.200.0/22", "103.31.4.0/22", "104.16.0.0/13", "104.24.0.0/14",
	"108.162.192.0/18", "131.0.72.0/22", "141.101.64.0/18", "162.158.0.0/15", "172.64.0.0/13",
	"173.245.48.0/20", "188.114.96.0/20", "190.93.240.0/20", "197.234.240.0/22", "198.41.128.0/17",
}

// The non-root user the CRM runs as.
const appUID = 10001

type k8s struct {
	*builder
	provider pulumi.ProviderResource
	parts    map[string]pulumi.Resource
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

func cpu(v float64) string     { return fmt.Sprintf("%dm", int(v*1000)) }
func mem(b model.Bytes) string { return fmt.Sprintf("%dMi", int64(b/model.MiB)) }

func envVars(env map[string]string) corev1.EnvVarArray {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out corev1.EnvVarArray
	for _, k := range keys {
		out = append(out, corev1.EnvVarArgs{Name: pulumi.String(k), Value: pulumi.String(env[k])})
	}
	return out
}

// restricted is the container security context of the restricted Pod
// Security Standard: non-root, read-only root, no capabilities, seccomp.
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

// podSecurity is the pod-level half of restricted(): non-root, volumes
// owned by the app's group, seccomp.
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
	if headless {
		spec.ClusterIP = pulumi.String("None")
		spec.PublishNotReadyAddresses = pulumi.Bool(true)
		svcName = name + "-headless"
	}
	if extra != nil {
		extra(&spec)
	}
	return corev1.NewService(k.ctx, k.name(svcName+"-svc"), &corev1.ServiceArgs{Metadata: meta(svcName, appLabels(name)), Spec: spec}, k.opts(part)...)
}

// workloads creates the namespace and every NextFlow workload on EKS.
func (k *k8s) workloads(app *model.App, secrets map[string]pulumi.StringOutput, dbHost, redisHost pulumi.StringOutput, cl *cluster) (*corev1.Service, error) {
	c := app.Config
	if _, err := storagev1.NewStorageClass(k.ctx, k.name("gp3"), &storagev1.StorageClassArgs{
		Metadata:             &metav1.ObjectMetaArgs{Name: pulumi.String(StorageClass)},
		Provisioner:          pulumi.String("ebs.csi.aws.com"),
		Parameters:           pulumi.StringMap{"type": pulumi.String("gp3"), "encrypted": pulumi.String("true")},
		VolumeBindingMode:    pulumi.String("WaitForFirstConsumer"),
		ReclaimPolicy:        pulumi.String("Retain"),
		AllowVolumeExpansion: pulumi.Bool(true),
	}, k.opts("")...); err != nil {
		return nil, err
	}
	ns, err := corev1.NewNamespace(k.ctx, k.name("namespace"), &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(Namespace), Labels: pulumi.StringMap{
			"pod-security.kubernetes.io/enforce": pulumi.String("baseline"),
			"pod-security.kubernetes.io/warn":    pulumi.String("restricted"),
		}},
	}, k.opts("")...)
	if err != nil {
		return nil, err
	}
	inNS := pulumi.DependsOn([]pulumi.Resource{ns})
	// Secrets from Pulumi secret outputs, mounted as files like on the other stages.
	for _, s := range []struct{ name, part string }{{model.SecretPostgresPassword, model.PartPostgres}, {model.SecretRedisPassword, model.PartRedis}} {
		v, ok := secrets[s.name]
		if !ok {
			return nil, fmt.Errorf("secret %s has no value", s.name)
		}
		if _, err := corev1.NewSecret(k.ctx, k.name(dns(s.name)), &corev1.SecretArgs{
			Metadata:   meta(secretName(s.name), appLabels(s.part)),
			Type:       pulumi.String("Opaque"),
			StringData: pulumi.StringMap{s.name: v},
		}, k.opts(s.part, inNS)...); err != nil {
			return nil, err
		}
	}
	if err := k.networkPolicies(inNS); err != nil {
		return nil, err
	}
	crmSvc, err := k.crm(app, dbHost, redisHost, inNS)
	if err != nil {
		return nil, err
	}
	if err := k.ai(app, inNS); err != nil {
		return nil, err
	}
	if err := k.qdrant(app, inNS); err != nil {
		return nil, err
	}
	if err := k.addons(c, cl); err != nil {
		return nil, err
	}
	return crmSvc, nil
}

// secretName is a secret's Kubernetes name (DNS-1123: no underscores).
func secretName(s string) string { return "nextflow-" + dns(s) }

func dns(s string) string { return strings.ReplaceAll(s, "_", "-") }

func (k *k8s) crm(app *model.App, dbHost, redisHost pulumi.StringOutput, opts ...pulumi.ResourceOption) (*corev1.Service, error) {
	c := app.Config
	m, _ := app.Service(model.PartCRM)
	name := model.PartCRM
	env := m.EnvCopy()
	env["QDRANT_URL"] = fmt.Sprintf("http://%s:%d", model.PartQdrant, model.QdrantHTTPPort)
	env["OLLAMA_BASE_URL"] = fmt.Sprintf("http://%s:%d", model.PartAI, model.OllamaPort)
	env["DATABASE_SSLMODE"] = "require"
	env["PUBLIC_URL"] = "https://" + c.Tunnel.Hostname
	env["REDIS_TLS"] = "true"
	delete(env, "DATABASE_HOST")
	delete(env, "DATABASE_URL")
	delete(env, "REDIS_URL")
	vars := envVars(env)
	vars = append(vars,
		corev1.EnvVarArgs{Name: pulumi.String("DATABASE_HOST"), Value: dbHost},
		corev1.EnvVarArgs{Name: pulumi.String("DATABASE_URL"), Value: pulumi.Sprintf("postgres://%s@%s:%d/%s?sslmode=require", c.Postgres.User, dbHost, model.PostgresPort, c.Postgres.Database)},
		corev1.EnvVarArgs{Name: pulumi.String("REDIS_URL"), Value: pulumi.Sprintf("rediss://%s:%d/0", redisHost, model.RedisPort)},
	)
	for _, s := range m.Secrets {
		vars = append(vars, corev1.EnvVarArgs{Name: pulumi.String(s.FileEnv), Value: pulumi.String(s.Path())})
	}
	mounts := corev1.VolumeMountArray{corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")}}
	volumes := corev1.VolumeArray{corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("256Mi")}}}
	for _, s := range m.Secrets {
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String(dns(s.Secret)), MountPath: pulumi.String(s.Path()), SubPath: pulumi.String(s.Secret), ReadOnly: pulumi.Bool(true)})
		volumes = append(volumes, secretVolume(dns(s.Secret), secretName(s.Secret)))
	}
	if _, err := corev1.NewServiceAccount(k.ctx, k.name("crm-sa"), &corev1.ServiceAccountArgs{
		Metadata: meta(name, appLabels(name)), AutomountServiceAccountToken: pulumi.Bool(false),
	}, k.opts(model.PartCRM, opts...)...); err != nil {
		return nil, err
	}
	dep, err := appsv1.NewDeployment(k.ctx, k.name("crm"), &appsv1.DeploymentArgs{
		Metadata: meta(name, appLabels(name)),
		Spec: appsv1.DeploymentSpecArgs{
			// No replicas: the HPA owns the count (from crm.replicas up).
			Selector: selector(name),
			Strategy: appsv1.DeploymentStrategyArgs{Type: pulumi.String("RollingUpdate"), RollingUpdate: appsv1.RollingUpdateDeploymentArgs{
				MaxUnavailable: pulumi.Int(0), MaxSurge: pulumi.String("25%"),
			}},
			Template: corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.ToStringMap(appLabels(name))},
				Spec: corev1.PodSpecArgs{
					ServiceAccountName:           pulumi.String(name),
					AutomountServiceAccountToken: pulumi.Bool(false),
					SecurityContext:              podSecurity(),
					NodeSelector:                 pulumi.StringMap{PoolLabel: pulumi.String(GeneralPool)},
					TopologySpreadConstraints:    zoneSpread(name),
					Affinity:                     antiAffinity(name),
					Containers: corev1.ContainerArray{corev1.ContainerArgs{
						Name: pulumi.String(name), Image: pulumi.String(m.Image), ImagePullPolicy: pulumi.String("Always"),
						Ports:           corev1.ContainerPortArray{corev1.ContainerPortArgs{Name: pulumi.String("http"), ContainerPort: pulumi.Int(c.CRM.Port)}},
						Env:             vars,
						Resources:       resources(m.Sizing, nil),
						SecurityContext: restricted(),
						StartupProbe:    httpProbe(c.CRM.HealthPath, c.CRM.Port, 5, 24),
						ReadinessProbe:  httpProbe(c.CRM.HealthPath, c.CRM.Port, 10, 3),
						LivenessProbe:   tcpProbe(c.CRM.Port, 20, 3),
						VolumeMounts:    mounts,
					}},
					Volumes: volumes,
				},
			},
		},
	}, k.opts(model.PartCRM, opts...)...)
	if err != nil {
		return nil, err
	}
	if _, err := autoscalingv2.NewHorizontalPodAutoscaler(k.ctx, k.name("crm-hpa"), &autoscalingv2.HorizontalPodAutoscalerArgs{
		Metadata: meta(name, appLabels(name)),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpecArgs{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReferenceArgs{ApiVersion: pulumi.String("apps/v1"), Kind: pulumi.String("Deployment"), Name: pulumi.String(name)},
			MinReplicas:    pulumi.Int(c.CRM.Replicas),
			MaxReplicas:    pulumi.Int(c.Cloud.CRMMaxReplicas),
			Metrics: autoscalingv2.MetricSpecArray{autoscalingv2.MetricSpecArgs{
				Type: pulumi.String("Resource"),
				Resource: autoscalingv2.ResourceMetricSourceArgs{Name: pulumi.String("cpu"), Target: autoscalingv2.MetricTargetArgs{
					Type: pulumi.String("Utilization"), AverageUtilization: pulumi.Int(70),
				}},
			}},
		},
	}, k.opts(model.PartCRM, pulumi.DependsOn([]pulumi.Resource{dep}))...); err != nil {
		return nil, err
	}
	if err := k.pdb(model.PartCRM, name, 1); err != nil {
		return nil, err
	}
	// The entry point: a Network Load Balancer that only Cloudflare may reach.
	return k.service(model.PartCRM, name, map[string]int{"http": c.CRM.Port}, false, func(s *corev1.ServiceSpecArgs) {
		s.Type = pulumi.String("LoadBalancer")
		s.LoadBalancerSourceRanges = pulumi.ToStringArray(CloudflareIPv4)
		s.ExternalTrafficPolicy = pulumi.String("Local")
	})
}

func (k *k8s) ai(app *model.App, opts ...pulumi.ResourceOption) error {
	c := app.Config
	m, _ := app.Service(model.PartAI)
	name := model.PartAI
	var extra map[string]string
	spec := corev1.PodSpecArgs{
		NodeSelector: pulumi.StringMap{PoolLabel: pulumi.String(GeneralPool)},
		Affinity:     antiAffinity(name),
	}
	if c.UseGPU {
		extra = map[string]string{GPUResource: "1"}
		spec.NodeSelector = pulumi.StringMap{PoolLabel: pulumi.String(GPUPoolName)}
		spec.Tolerations = corev1.TolerationArray{corev1.TolerationArgs{
			Key: pulumi.String(GPUTaintKey), Operator: pulumi.String("Equal"), Value: pulumi.String("true"), Effect: pulumi.String("NoSchedule"),
		}}
	}
	// Ollama runs as a non-root user with a read-only root: its home, keys
	// and models live on the pod's volume, scratch space on an emptyDir.
	env := m.EnvCopy()
	env["HOME"] = "/models"
	env["OLLAMA_MODELS"] = "/models/models"
	spec.SecurityContext = podSecurity()
	spec.Volumes = corev1.VolumeArray{corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("1Gi")}}}
	check := corev1.ExecActionArgs{Command: pulumi.ToStringArray([]string{"/bin/sh", "-c", m.Health.Shell})}
	spec.Containers = corev1.ContainerArray{corev1.ContainerArgs{
		Name: pulumi.String(name), Image: pulumi.String(m.Image), ImagePullPolicy: pulumi.String("Always"),
		// The model is pulled at start onto the pod's persistent volume.
		Command:         pulumi.ToStringArray(m.Entrypoint),
		Env:             envVars(env),
		Ports:           corev1.ContainerPortArray{corev1.ContainerPortArgs{Name: pulumi.String("api"), ContainerPort: pulumi.Int(model.OllamaPort)}},
		Resources:       resources(m.Sizing, extra),
		SecurityContext: restricted(),
		// Pulling a model takes minutes: up to 30 before the start counts as failed.
		StartupProbe:   corev1.ProbeArgs{Exec: check, PeriodSeconds: pulumi.Int(10), FailureThreshold: pulumi.Int(180), TimeoutSeconds: pulumi.Int(10)},
		ReadinessProbe: corev1.ProbeArgs{Exec: check, PeriodSeconds: pulumi.Int(15), TimeoutSeconds: pulumi.Int(10)},
		LivenessProbe:  tcpProbe(model.OllamaPort, 20, 3),
		VolumeMounts: corev1.VolumeMountArray{
			corev1.VolumeMountArgs{Name: pulumi.String("models"), MountPath: pulumi.String("/models")},
			corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
		},
	}}
	if _, err := k.service(model.PartAI, name, map[string]int{"api": model.OllamaPort}, true, nil); err != nil {
		return err
	}
	if _, err := k.service(model.PartAI, name, map[string]int{"api": model.OllamaPort}, false, nil); err != nil {
		return err
	}
	if _, err := appsv1.NewStatefulSet(k.ctx, k.name("ai"), &appsv1.StatefulSetArgs{
		Metadata: meta(name, appLabels(name)),
		Spec: appsv1.StatefulSetSpecArgs{
			ServiceName:          pulumi.String(name + "-headless"),
			Replicas:             pulumi.Int(c.AI.Replicas),
			PodManagementPolicy:  pulumi.String("Parallel"),
			Selector:             selector(name),
			Template:             corev1.PodTemplateSpecArgs{Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.ToStringMap(appLabels(name))}, Spec: spec},
			VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{volumeClaim("models", c.Cloud.ModelStorageGB)},
		},
	}, k.opts(model.PartAI, opts...)...); err != nil {
		return err
	}
	return k.pdb(model.PartAI, name, 1)
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

func (k *k8s) qdrant(app *model.App, opts ...pulumi.ResourceOption) error {
	c := app.Config
	m, _ := app.Service(model.PartQdrant)
	name := model.PartQdrant
	nodes := model.Profiles[c.Stage].Topology.QdrantNodes
	peer := fmt.Sprintf("%s-headless.%s.svc.cluster.local", name, Namespace)
	// Pod 0 starts the cluster; the others join it through the headless service.
	start := fmt.Sprintf(`if [ "$HOSTNAME" = "%[1]s-0" ]; then exec ./qdrant --uri "http://$HOSTNAME.%[2]s:%[3]d"; fi
exec ./qdrant --bootstrap "http://%[1]s-0.%[2]s:%[3]d" --uri "http://$HOSTNAME.%[2]s:%[3]d"`, name, peer, 6335)
	env := m.EnvCopy()
	env["QDRANT__CLUSTER__ENABLED"] = "true"
	env["QDRANT__CLUSTER__P2P__PORT"] = "6335"
	env["QDRANT__STORAGE__COLLECTION__REPLICATION_FACTOR"] = "2"
	if _, err := k.service(model.PartQdrant, name, map[string]int{"http": model.QdrantHTTPPort, "grpc": model.QdrantGRPCPort, "p2p": 6335}, true, nil); err != nil {
		return err
	}
	if _, err := k.service(model.PartQdrant, name, map[string]int{"http": model.QdrantHTTPPort, "grpc": model.QdrantGRPCPort}, false, nil); err != nil {
		return err
	}
	sc := restricted()
	if _, err := appsv1.NewStatefulSet(k.ctx, k.name("qdrant"), &appsv1.StatefulSetArgs{
		Metadata: meta(name, appLabels(name)),
		Spec: appsv1.StatefulSetSpecArgs{
			ServiceName:         pulumi.String(name + "-headless"),
			Replicas:            pulumi.Int(nodes),
			PodManagementPolicy: pulumi.String("OrderedReady"),
			Selector:            selector(name),
			Template: corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.ToStringMap(appLabels(name))},
				Spec: corev1.PodSpecArgs{
					SecurityContext:           podSecurity(),
					NodeSelector:              pulumi.StringMap{PoolLabel: pulumi.String(GeneralPool)},
					TopologySpreadConstraints: zoneSpread(name),
					Affinity:                  antiAffinity(name),
					Containers: corev1.ContainerArray{corev1.ContainerArgs{
						Name: pulumi.String(name), Image: pulumi.String(m.Image), ImagePullPolicy: pulumi.String("Always"),
						Command: pulumi.ToStringArray([]string{"/bin/bash", "-c", start}),
						Env:     envVars(env),
						Ports: corev1.ContainerPortArray{
							corev1.ContainerPortArgs{Name: pulumi.String("http"), ContainerPort: pulumi.Int(model.QdrantHTTPPort)},
							corev1.ContainerPortArgs{Name: pulumi.String("grpc"), ContainerPort: pulumi.Int(model.QdrantGRPCPort)},
							corev1.ContainerPortArgs{Name: pulumi.String("p2p"), ContainerPort: pulumi.Int(6335)},
						},
						Resources:       resources(m.Sizing, nil),
						SecurityContext: sc,
						StartupProbe:    httpProbe("/readyz", model.QdrantHTTPPort, 5, 60),
						ReadinessProbe:  httpProbe("/readyz", model.QdrantHTTPPort, 10, 3),
						LivenessProbe:   httpProbe("/livez", model.QdrantHTTPPort, 20, 3),
						VolumeMounts: corev1.VolumeMountArray{
							corev1.VolumeMountArgs{Name: pulumi.String("storage"), MountPath: pulumi.String("/qdrant/storage")},
							corev1.VolumeMountArgs{Name: pulumi.String("snapshots"), MountPath: pulumi.String("/qdrant/snapshots")},
							corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
						},
					}},
					Volumes: corev1.VolumeArray{
						corev1.VolumeArgs{Name: pulumi.String("snapshots"), EmptyDir: corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("10Gi")}},
						corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("256Mi")}},
					},
				},
			},
			VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{volumeClaim("storage", c.Cloud.QdrantStorageGB)},
		},
	}, k.opts(model.PartQdrant, opts...)...); err != nil {
		return err
	}
	return k.pdb(model.PartQdrant, name, 1)
}

// networkPolicies deny all ingress in the namespace, then let each data
// port be reached by the CRM alone (and Qdrant's peers by each other).
func (k *k8s) networkPolicies(opts ...pulumi.ResourceOption) error {
	type rule struct {
		name, target string
		from         []string
		ports        []int
	}
	rules := []rule{
		{"allow-crm-http", model.PartCRM, nil, []int{3000}},
		{"allow-ai-from-crm", model.PartAI, []string{model.PartCRM}, []int{model.OllamaPort}},
		{"allow-qdrant-from-crm", model.PartQdrant, []string{model.PartCRM}, []int{model.QdrantHTTPPort, model.QdrantGRPCPort}},
		{"allow-qdrant-peers", model.PartQdrant, []string{model.PartQdrant}, []int{6335}},
	}
	if _, err := networkingv1.NewNetworkPolicy(k.ctx, k.name("default-deny"), &networkingv1.NetworkPolicyArgs{
		Metadata: meta("default-deny-ingress", map[string]string{"app.kubernetes.io/part-of": "nextflow"}),
		Spec: networkingv1.NetworkPolicySpecArgs{
			PodSelector: metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
		},
	}, k.opts("", opts...)...); err != nil {
		return err
	}
	for _, r := range rules {
		var ports networkingv1.NetworkPolicyPortArray
		for _, p := range r.ports {
			ports = append(ports, networkingv1.NetworkPolicyPortArgs{Port: pulumi.Int(p), Protocol: pulumi.String("TCP")})
		}
		ingress := networkingv1.NetworkPolicyIngressRuleArgs{Ports: ports}
		if len(r.from) > 0 {
			var peers networkingv1.NetworkPolicyPeerArray
			for _, f := range r.from {
				peers = append(peers, networkingv1.NetworkPolicyPeerArgs{PodSelector: selector(f)})
			}
			ingress.From = peers
		}
		if _, err := networkingv1.NewNetworkPolicy(k.ctx, k.name(r.name), &networkingv1.NetworkPolicyArgs{
			Metadata: meta(r.name, appLabels(r.target)),
			Spec: networkingv1.NetworkPolicySpecArgs{
				PodSelector: *selector(r.target),
				PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
				Ingress:     networkingv1.NetworkPolicyIngressRuleArray{ingress},
			},
		}, k.opts(r.target, opts...)...); err != nil {
			return err
		}
	}
	return nil
}

// addons installs the NVIDIA device plugin on the GPU nodes and Cluster
// Autoscaler, which finds the node groups by their tags.
func (k *k8s) addons(c *model.Config, cl *cluster) error {
	if c.Cloud.GPUPool {
		if _, err := helmv3.NewRelease(k.ctx, k.name("nvidia-device-plugin"), &helmv3.ReleaseArgs{
			Chart: pulumi.String("nvidia-device-plugin"), Version: pulumi.String("0.17.0"),
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
	_, err = helmv3.NewRelease(k.ctx, k.name("cluster-autoscaler"), &helmv3.ReleaseArgs{
		Chart: pulumi.String("cluster-autoscaler"), Version: pulumi.String("9.43.2"),
		Namespace:      pulumi.String("kube-system"),
		RepositoryOpts: helmv3.RepositoryOptsArgs{Repo: pulumi.String("https://kubernetes.github.io/autoscaler")},
		Values: pulumi.Map{
			"autoDiscovery": pulumi.Map{"clusterName": pulumi.String(ClusterName(k.stack))},
			"awsRegion":     pulumi.String(c.Cloud.Region),
			"rbac": pulumi.Map{"serviceAccount": pulumi.Map{
				"name":        pulumi.String("cluster-autoscaler"),
				"annotations": pulumi.Map{"eks.amazonaws.com/role-arn": role.Arn},
			}},
			"extraArgs": pulumi.Map{"balance-similar-node-groups": pulumi.Bool(true), "skip-nodes-with-system-pods": pulumi.Bool(false)},
		},
	}, k.opts("")...)
	return err
}

// autoscalerPolicy lets Cluster Autoscaler read the Auto Scaling groups and
// resize the cluster's own.
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
			}}},
		},
	})
	_, err := iam.NewRolePolicy(k.ctx, k.name("cluster-autoscaler-policy"), &iam.RolePolicyArgs{
		Role: role.ID(), Policy: pulumi.String(string(doc)),
	}, pulumi.Parent(k.parent))
	return err
}

// provider is the Kubernetes provider for the cluster, from its kubeconfig.
func (b *builder) provider(cl *cluster) (*kubernetes.Provider, error) {
	return kubernetes.NewProvider(b.ctx, b.name("k8s"), &kubernetes.ProviderArgs{
		Kubeconfig:            cl.kubeconfig,
		EnableServerSideApply: pulumi.Bool(true),
	}, pulumi.Parent(b.parent), pulumi.DependsOn([]pulumi.Resource{cl.general}))
}
