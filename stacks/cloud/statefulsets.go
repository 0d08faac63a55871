package cloud

import (
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/components"
	"github.com/nextflow-crm/nfx/internal/model"
)

// AwaitAnnotation sets how long Pulumi's Kubernetes provider waits for an
// object to be ready (pulumi-kubernetes, "pulumi.com/timeoutSeconds").
const AwaitAnnotation = "pulumi.com/timeoutSeconds"

// ollamaStartupSeconds is how long Ollama's first start may take: the
// image and the model's pull onto an empty volume.
const ollamaStartupSeconds = 1800

// ollamaSet runs the AI as a StatefulSet on the GPU pool, each pod with
// its models on its own volume.
type ollamaSet struct{}

func (ollamaSet) phase() int { return phaseWorkloads }

func (ollamaSet) Describe(app *model.App, p *model.Part) string {
	c := app.Config
	if model.AIEngineOf(c) == model.EngineVLLM {
		return fmt.Sprintf("StatefulSet of %d on %s GPU nodes, vLLM (%s, %s), OpenAI's API only; it asks for a key", p.Replicas, c.Cloud.GPUInstanceType, c.Host.GPU, c.AI.Model)
	}
	if !c.UseGPU {
		return fmt.Sprintf("StatefulSet of %d on the general nodes, CPU (%s); its API asks for a key", p.Replicas, c.AI.Model)
	}
	return fmt.Sprintf("StatefulSet of %d on %s GPU nodes (%s, %s); its API asks for a key", p.Replicas, c.Cloud.GPUInstanceType, c.Host.GPU, c.AI.Model)
}

func (ollamaSet) Inputs(app *model.App, p *model.Part) map[string]any {
	return components.ContainerInputs(app, p, map[string]any{"volumeGB": app.Config.Cloud.ModelStorageGB})
}

// qdrantSet runs the vector store as a clustered StatefulSet on gp3 volumes.
type qdrantSet struct{}

func (qdrantSet) phase() int { return phaseWorkloads }

func (qdrantSet) Describe(app *model.App, p *model.Part) string {
	return fmt.Sprintf("StatefulSet of %d on gp3 volumes", replicasOf(app, p))
}

func (qdrantSet) Inputs(app *model.App, p *model.Part) map[string]any {
	return components.ContainerInputs(app, p, map[string]any{"volumeGB": app.Config.Cloud.QdrantStorageGB})
}

func (ollamaSet) provision(r *realisation, p *model.Part) error {
	if model.AIEngineOf(r.cfg) == model.EngineVLLM {
		return r.vllmPods(p)
	}
	m, name := p.Service, p.Name
	spec := corev1.PodSpecArgs{Affinity: antiAffinity(name)}
	extra := placement(&spec, m.GPUs)
	// Ollama runs as a non-root user with a read-only root: its home, keys
	// and models live on the pod's volume, scratch space on an emptyDir.
	// Ollama on loopback, behind the proxy that asks for the AI API's key
	// (aiproxy.go) on Ollama's port.
	env, err := r.envOf(p, map[string]string{"HOME": "/models", "OLLAMA_MODELS": "/models/models", "OLLAMA_HOST": OllamaLoopback})
	if err != nil {
		return err
	}
	proxy, proxyVols, err := r.aiProxy(name, AIProxyConf(), "/api/version")
	if err != nil {
		return err
	}
	spec.SecurityContext = podSecurity()
	spec.Volumes = append(corev1.VolumeArray{corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("1Gi")}}}, proxyVols...)
	// Alive while its own CLI reaches it on loopback: the kubelet's TCP
	// and HTTP probes go to the pod's IP, where Ollama does not listen.
	alive := corev1.ExecActionArgs{Command: pulumi.ToStringArray([]string{"ollama", "ps"})}
	check := corev1.ExecActionArgs{Command: pulumi.ToStringArray([]string{"/bin/sh", "-c", m.Health.Shell})}
	// The model is pulled at start onto the pod's persistent volume.
	spec.Containers = corev1.ContainerArray{aiContainer(p, env, extra, check, alive, "/models", nil), proxy}
	return r.aiStatefulSet(p, spec)
}

// aiStatefulSet runs the AI's pods, each with the models on its own
// volume, behind the AI's Services on its port.
func (r *realisation) aiStatefulSet(p *model.Part, spec corev1.PodSpecArgs) error {
	k, c, name := r.k, r.cfg, p.Name
	opts := []pulumi.ResourceOption{r.inNS}
	if _, err := k.service(name, name, map[string]int{"api": model.OllamaPort}, true, nil); err != nil {
		return err
	}
	if _, err := k.service(name, name, map[string]int{"api": model.OllamaPort}, false, nil); err != nil {
		return err
	}
	// Pulumi's Kubernetes provider waits 10 minutes for a StatefulSet to
	// be ready, and fails the first `up` past that. The AI's first start
	// waits for a GPU node (its group scales up), the device plugin, a
	// multi-gigabyte image and the model's download, for which its startup
	// probe allows 30 minutes. A change rolls the pods one at a time (the
	// Parallel policy covers creation only), each start as long: the wait
	// covers every pod's and 10 minutes more.
	scaled := model.AIEngineOf(c) == model.EngineVLLM
	pods := p.Replicas
	if scaled {
		// The HPA may hold up to its ceiling, each rolled in turn.
		pods = max(pods, model.AIMaxReplicas(c))
	}
	md := meta(name, appLabels(name))
	md.Annotations = pulumi.StringMap{AwaitAnnotation: pulumi.String(fmt.Sprint(ollamaStartupSeconds*max(pods, 1) + 600))}
	setSpec := appsv1.StatefulSetSpecArgs{
		ServiceName:         pulumi.String(name + "-headless"),
		PodManagementPolicy: pulumi.String("Parallel"),
		Selector:            selector(name),
		Template:            corev1.PodTemplateSpecArgs{Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.ToStringMap(appLabels(name))}, Spec: spec},
	}
	if scaled {
		// The HPA owns the count (an `up` would otherwise set it back),
		// and each pod's models volume is its own, made and deleted with
		// it (vllmPods): no claim templates, frozen at the set's first
		// size, no claims left by a pod scaled away to cost their gp3
		// and pin the pod that comes back to their zone. A set of its own
		// name (VLLMSet): the API server refuses to change a set's claim
		// templates, so a switch from Ollama makes the new set beside the
		// old, ready before Pulumi deletes the old one (its claims stay).
		md.Name = pulumi.String(VLLMSet)
		if p.Replicas == 0 {
			// An idle standby's AI (standbyConfig): no pods, and no
			// HPA, which holds one at least. Once promoted, the count
			// leaves the applied object, Kubernetes sets it back to
			// one, and the HPA takes it from there.
			setSpec.Replicas = pulumi.Int(0)
		}
		set, err := appsv1.NewStatefulSet(k.ctx, k.name(VLLMSet), &appsv1.StatefulSetArgs{Metadata: md, Spec: setSpec}, k.opts(name, opts...)...)
		if err != nil {
			return err
		}
		if p.Replicas > 0 {
			if err := r.vllmAutoscaling(p, set); err != nil {
				return err
			}
		}
		return k.pdb(name, name, 1)
	}
	setSpec.Replicas = pulumi.Int(p.Replicas)
	setSpec.VolumeClaimTemplates = corev1.PersistentVolumeClaimTypeArray{volumeClaim("models", c.Cloud.ModelStorageGB)}
	set, err := appsv1.NewStatefulSet(k.ctx, k.name(name), &appsv1.StatefulSetArgs{Metadata: md, Spec: setSpec},
		k.opts(name, append(opts, growingClaims)...)...)
	if err != nil {
		return err
	}
	if err := k.claimSizes(name, "models", name, p.Replicas, c.Cloud.ModelStorageGB, set, opts...); err != nil {
		return err
	}
	return k.pdb(name, name, 1)
}

// VLLMSet is the AI's StatefulSet where vLLM serves the models; its pods
// carry the AI's labels, so the AI's Services and budget take them.
const VLLMSet = model.VLLMSet

// aiContainer is the AI engine's container: the part's image and
// entrypoint, its GPU, ready on check, alive on alive, the models' volume
// at home. Downloading a model takes minutes: up to 30 before the start
// counts as failed.
func aiContainer(p *model.Part, env corev1.EnvVarArray, extra map[string]string, check, alive corev1.ExecActionArgs, home string, mounts corev1.VolumeMountArray) corev1.ContainerArgs {
	m := p.Service
	return corev1.ContainerArgs{
		Name: pulumi.String(p.Name), Image: pulumi.String(m.Image), ImagePullPolicy: pulumi.String("Always"),
		Command:         pulumi.ToStringArray(m.Entrypoint),
		Env:             env,
		Resources:       resources(m.Sizing, extra),
		SecurityContext: restricted(),
		StartupProbe:    corev1.ProbeArgs{Exec: check, PeriodSeconds: pulumi.Int(10), FailureThreshold: pulumi.Int(ollamaStartupSeconds / 10), TimeoutSeconds: pulumi.Int(10)},
		ReadinessProbe:  corev1.ProbeArgs{Exec: check, PeriodSeconds: pulumi.Int(15), TimeoutSeconds: pulumi.Int(10)},
		LivenessProbe:   corev1.ProbeArgs{Exec: alive, PeriodSeconds: pulumi.Int(20), TimeoutSeconds: pulumi.Int(10), FailureThreshold: pulumi.Int(3)},
		VolumeMounts: append(corev1.VolumeMountArray{
			corev1.VolumeMountArgs{Name: pulumi.String("models"), MountPath: pulumi.String(home)},
			corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
		}, mounts...),
	}
}

// vllmPods runs vLLM's servers (model.vllmService) in one container that
// holds the pod's GPU, behind the proxy that asks for the AI API's key.
// vLLM runs as the pod's unprivileged user on a read-only root: its home,
// Hugging Face's cache of the weights and its compile cache live on the
// pod's volume, scratch space on an emptyDir.
func (r *realisation) vllmPods(p *model.Part) error {
	c, m, name := r.cfg, p.Service, p.Name
	spec := corev1.PodSpecArgs{Affinity: antiAffinity(name)}
	extra := placement(&spec, m.GPUs)
	env, err := r.envOf(p, nil)
	if err != nil {
		return err
	}
	proxy, proxyVols, err := r.aiProxy(name, VLLMProxyConf(c.AI.EmbeddingModel != ""), "/health")
	if err != nil {
		return err
	}
	keys, keyVols := secretMounts(p)
	spec.SecurityContext = podSecurity()
	// The weights on a volume of the pod's own, made in its node's zone and
	// deleted with it: the next pod downloads them again.
	spec.Volumes = append(append(corev1.VolumeArray{
		corev1.VolumeArgs{Name: pulumi.String("models"), Ephemeral: corev1.EphemeralVolumeSourceArgs{VolumeClaimTemplate: scratchClaim(c.Cloud.ModelStorageGB)}},
		corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("1Gi")}},
	}, proxyVols...), keyVols...)
	check := corev1.ExecActionArgs{Command: pulumi.ToStringArray([]string{"/bin/bash", "-c", m.Health.Shell})}
	alive := corev1.ExecActionArgs{Command: pulumi.ToStringArray([]string{"/bin/bash", "-c", model.VLLMAlive})}
	spec.Containers = corev1.ContainerArray{aiContainer(p, env, extra, check, alive, model.VLLMHome, keys), proxy}
	return r.aiStatefulSet(p, spec)
}

func (qdrantSet) provision(r *realisation, p *model.Part) error {
	k, c, m, name := r.k, r.cfg, p.Service, p.Name
	opts := []pulumi.ResourceOption{r.inNS}
	nodes := replicasOf(r.app, p)
	peer := fmt.Sprintf("%s-headless.%s.svc.cluster.local", name, Namespace)
	// Pod 0 starts the cluster; the others join it through the headless service.
	start := model.QdrantKeyed(fmt.Sprintf(`if [ "$HOSTNAME" = "%[1]s-0" ]; then exec ./qdrant --uri "http://$HOSTNAME.%[2]s:%[3]d"; fi
exec ./qdrant --bootstrap "http://%[1]s-0.%[2]s:%[3]d" --uri "http://$HOSTNAME.%[2]s:%[3]d"`, name, peer, 6335))
	env, err := r.envOf(p, map[string]string{
		"QDRANT__CLUSTER__ENABLED":                        "true",
		"QDRANT__CLUSTER__P2P__PORT":                      "6335",
		"QDRANT__STORAGE__COLLECTION__REPLICATION_FACTOR": fmt.Sprint(qdrantReplication),
		// Snapshots (a backup's, one shard at a time, and the uploads a
		// restore recovers from) on the pod's volume: in an emptyDir they
		// would count against the pod's 1 GiB of ephemeral storage, and
		// the kubelet would evict Qdrant in the middle of a backup.
		"QDRANT__STORAGE__SNAPSHOTS_PATH": "/qdrant/storage/snapshots",
	})
	if err != nil {
		return err
	}
	if _, err := k.service(name, name, map[string]int{"http": model.QdrantHTTPPort, "grpc": model.QdrantGRPCPort, "p2p": 6335}, true, nil); err != nil {
		return err
	}
	if _, err := k.service(name, name, map[string]int{"http": model.QdrantHTTPPort, "grpc": model.QdrantGRPCPort}, false, nil); err != nil {
		return err
	}
	sc := restricted()
	keys, keyVols := secretMounts(p)
	set, err := appsv1.NewStatefulSet(k.ctx, k.name(name), &appsv1.StatefulSetArgs{
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
						Env:     env,
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
						VolumeMounts: append(corev1.VolumeMountArray{
							corev1.VolumeMountArgs{Name: pulumi.String("storage"), MountPath: pulumi.String("/qdrant/storage")},
							corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
						}, keys...),
					}},
					Volumes: append(corev1.VolumeArray{
						corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("256Mi")}},
					}, keyVols...),
				},
			},
			VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{volumeClaim("storage", c.Cloud.QdrantStorageGB)},
		},
	}, k.opts(name, append(opts, growingClaims)...)...)
	if err != nil {
		return err
	}
	if err := k.claimSizes(name, "storage", name, nodes, c.Cloud.QdrantStorageGB, set, opts...); err != nil {
		return err
	}
	return k.pdb(name, name, 1)
}
