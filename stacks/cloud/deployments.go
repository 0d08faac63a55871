package cloud

import (
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	autoscalingv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/autoscaling/v2"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/components"
	"github.com/nextflow-crm/nfx/internal/model"
)

// deployment runs a web app, a worker or the tunnel's cloudflared as an
// EKS Deployment: probes from its health check, the restricted security
// context, zone spread, a PDB; a web app gets a ClusterIP Service, which a
// public one's tunnel routes to (no load balancer faces the Internet). The
// CRM scales with an HPA.
type deployment struct{ web bool }

func (deployment) phase() int { return phaseWorkloads }

func (d deployment) Describe(app *model.App, p *model.Part) string {
	c := app.Config
	switch {
	case p.Autoscale:
		return fmt.Sprintf("EKS Deployment, %d to %d pods (HPA) behind the Cloudflare Tunnel at %s", p.Replicas, c.Cloud.CRMMaxReplicas, p.Public.Hostname)
	case d.web && p.Public != nil:
		return fmt.Sprintf("EKS Deployment, %d pods behind the Cloudflare Tunnel at %s", p.Replicas, p.Public.Hostname)
	case p.Kind == model.KindEdge:
		if c.Tunnel.Standby {
			return fmt.Sprintf("EKS Deployment of cloudflared, on standby (0 pods until the cutover; tunnel.mode %s)", c.Tunnel.Mode)
		}
		return fmt.Sprintf("EKS Deployment of cloudflared, %d pods (tunnel.mode %s), outbound only", replicasOf(app, p), c.Tunnel.Mode)
	case d.web:
		return fmt.Sprintf("EKS Deployment, %d pods behind a ClusterIP Service", p.Replicas)
	}
	return fmt.Sprintf("EKS Deployment, %d pods", p.Replicas)
}

func (deployment) Inputs(app *model.App, p *model.Part) map[string]any {
	extra := map[string]any{}
	if p.Autoscale {
		extra["maxReplicas"] = app.Config.Cloud.CRMMaxReplicas
	}
	return components.ContainerInputs(app, p, extra)
}

// replicasOf is a part's pod count by the stage's layout (the tunnel runs
// the stage's edge replicas, none on standby), or its own.
func replicasOf(app *model.App, p *model.Part) int {
	ins := app.InstancesOf(p.Name)
	if len(ins) == 0 {
		return p.Replicas
	}
	n := 0
	for _, in := range ins {
		n += in.Replicas
	}
	return n
}

// usesLabel marks the pods that need an endpoint, so that its network
// policy admits them.
// TunnelAnnotation, on cloudflared's pod template, names the managed
// tunnel whose token the pods run with.
const TunnelAnnotation = "nextflow.io/tunnel"

func usesLabel(e model.Endpoint) string { return "nextflow.io/uses-" + string(e) }

// podLabels are a part's pod labels: its name, and the endpoints it needs.
func podLabels(p *model.Part) map[string]string {
	l := appLabels(p.Name)
	for _, e := range p.Needs {
		l[usesLabel(e)] = "true"
	}
	return l
}

// probes are a container's probes from the part's health check: HTTP GETs
// where the check is an HTTP path, else the check itself as an exec probe.
// A web app is alive while its port answers and ready while its check
// passes; a worker, which no Service targets, is restarted when its check
// fails (a readiness probe would only repeat the liveness probe).
func probes(p *model.Part, c *corev1.ContainerArgs) {
	h := p.Service.Health
	if h.HTTPPath != "" {
		// Up to twice the start period before the start counts as failed.
		c.StartupProbe = httpProbe(h.HTTPPath, h.Port, 5, max(1, int(h.StartPeriod.Seconds())*2/5))
		c.ReadinessProbe = httpProbe(h.HTTPPath, h.Port, 10, 3)
		c.LivenessProbe = tcpProbe(h.Port, 20, 3)
		return
	}
	cmd := h.Exec
	if len(cmd) == 0 {
		cmd = []string{"/bin/sh", "-c", h.Shell}
	}
	period := max(1, int(h.Interval.Seconds()))
	timeout := max(1, int(h.Timeout.Seconds()))
	retries := max(h.Retries, 1)
	check := corev1.ExecActionArgs{Command: pulumi.ToStringArray(cmd)}
	c.StartupProbe = corev1.ProbeArgs{Exec: check, PeriodSeconds: pulumi.Int(period), TimeoutSeconds: pulumi.Int(timeout),
		FailureThreshold: pulumi.Int(max(1, int(h.StartPeriod.Seconds())/period) + retries)}
	if len(p.Service.Ports) == 0 {
		c.LivenessProbe = corev1.ProbeArgs{Exec: check, PeriodSeconds: pulumi.Int(period), TimeoutSeconds: pulumi.Int(timeout), FailureThreshold: pulumi.Int(retries)}
		return
	}
	c.ReadinessProbe = corev1.ProbeArgs{Exec: check, PeriodSeconds: pulumi.Int(period), TimeoutSeconds: pulumi.Int(timeout), FailureThreshold: pulumi.Int(retries)}
	c.LivenessProbe = tcpProbe(p.Service.Ports[0].Port, period*2, retries)
}

// secretMounts mount each of the part's secrets as a file under
// /run/secrets, as on the other stages.
func secretMounts(p *model.Part) (corev1.VolumeMountArray, corev1.VolumeArray) {
	var mounts corev1.VolumeMountArray
	var vols corev1.VolumeArray
	for _, s := range p.Service.Secrets {
		m, v := secretFile(s.Secret, secretName(s.Secret))
		mounts, vols = append(mounts, m), append(vols, v)
	}
	return mounts, vols
}

// secretFile mounts secret (its value, from the Kubernetes Secret object)
// as the file /run/secrets/<secret>.
func secretFile(secret, object string) (corev1.VolumeMountArgs, corev1.VolumeArgs) {
	use := model.SecretUse{Secret: secret}
	return corev1.VolumeMountArgs{Name: pulumi.String(dns(secret)), MountPath: pulumi.String(use.Path()), SubPath: pulumi.String(secret), ReadOnly: pulumi.Bool(true)},
		secretVolume(dns(secret), object)
}

// placement puts a pod on the general pool, or on the GPU pool with the
// GPUs it asks for.
func placement(spec *corev1.PodSpecArgs, gpus int) map[string]string {
	if gpus == 0 {
		spec.NodeSelector = pulumi.StringMap{PoolLabel: pulumi.String(GeneralPool)}
		return nil
	}
	spec.NodeSelector = pulumi.StringMap{PoolLabel: pulumi.String(GPUPoolName)}
	spec.Tolerations = corev1.TolerationArray{corev1.TolerationArgs{
		Key: pulumi.String(GPUTaintKey), Operator: pulumi.String("Equal"), Value: pulumi.String("true"), Effect: pulumi.String("NoSchedule"),
	}}
	return map[string]string{GPUResource: fmt.Sprint(gpus)}
}

func (d deployment) provision(r *realisation, p *model.Part) error {
	k, c, m, name := r.k, r.cfg, p.Service, p.Name
	opts := []pulumi.ResourceOption{r.inNS}
	vars, err := r.envOf(p, nil)
	if err != nil {
		return err
	}
	mounts := corev1.VolumeMountArray{corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")}}
	volumes := corev1.VolumeArray{corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("256Mi")}}}
	sm, sv := secretMounts(p)
	mounts, volumes = append(mounts, sm...), append(volumes, sv...)
	if _, err := corev1.NewServiceAccount(k.ctx, k.name(name+"-sa"), &corev1.ServiceAccountArgs{
		Metadata: meta(name, appLabels(name)), AutomountServiceAccountToken: pulumi.Bool(false),
	}, k.opts(name, opts...)...); err != nil {
		return err
	}
	container := corev1.ContainerArgs{
		Name: pulumi.String(name), Image: pulumi.String(m.Image), ImagePullPolicy: pulumi.String("Always"),
		Env:             vars,
		SecurityContext: restricted(),
		VolumeMounts:    mounts,
	}
	if len(m.Command) > 0 {
		container.Args = pulumi.ToStringArray(m.Command)
	}
	if len(m.Entrypoint) > 0 {
		container.Command = pulumi.ToStringArray(m.Entrypoint)
	}
	var cports corev1.ContainerPortArray
	for _, pt := range m.Ports {
		cports = append(cports, corev1.ContainerPortArgs{Name: pulumi.String(pt.Name), ContainerPort: pulumi.Int(pt.Port)})
	}
	// cloudflared's metrics, which Prometheus scrapes through a Service
	// of their own (the tunnel takes no other traffic).
	tunnelMetrics := p.Kind == model.KindEdge && model.MonitoringRuns(c)
	if tunnelMetrics {
		cports = append(cports, corev1.ContainerPortArgs{Name: pulumi.String("metrics"), ContainerPort: pulumi.Int(model.TunnelMetrics)})
	}
	if len(cports) > 0 {
		container.Ports = cports
	}
	spec := corev1.PodSpecArgs{
		ServiceAccountName:           pulumi.String(name),
		AutomountServiceAccountToken: pulumi.Bool(false),
		SecurityContext:              podSecurity(),
		TopologySpreadConstraints:    zoneSpread(name),
		Affinity:                     antiAffinity(name),
		Volumes:                      volumes,
	}
	container.Resources = resources(m.Sizing, placement(&spec, m.GPUs))
	probes(p, &container)
	if tunnelMetrics {
		// Ready while connected to Cloudflare's edge (cloudflared's /ready).
		container.ReadinessProbe = httpProbe("/ready", model.TunnelMetrics, 10, 3)
	}
	spec.Containers = corev1.ContainerArray{container}
	if p.Kind == model.KindEdge {
		// cloudflared drains its connections for 30 s on SIGTERM (its
		// --grace-period): Kubernetes' default 30 s would cut it short.
		spec.TerminationGracePeriodSeconds = pulumi.Int(45)
	}
	podMeta := &metav1.ObjectMetaArgs{Labels: pulumi.ToStringMap(podLabels(p))}
	if p.Kind == model.KindEdge && r.tunnelID != nil {
		// cloudflared reads its token once: another tunnel's token (the
		// standby's own, cloud.loadBalancer turned on or off) restarts it,
		// after its Secret is written.
		podMeta.Annotations = pulumi.StringMap{TunnelAnnotation: r.tunnelID}
	}
	depSpec := appsv1.DeploymentSpecArgs{
		Selector: selector(name),
		Strategy: appsv1.DeploymentStrategyArgs{Type: pulumi.String("RollingUpdate"), RollingUpdate: appsv1.RollingUpdateDeploymentArgs{
			MaxUnavailable: pulumi.Int(0), MaxSurge: pulumi.String("25%"),
		}},
		Template: corev1.PodTemplateSpecArgs{Metadata: podMeta, Spec: spec},
	}
	for _, s := range p.Service.Secrets {
		if sec, ok := r.k.secretRes[s.Secret]; ok {
			opts = append(opts, pulumi.DependsOn([]pulumi.Resource{sec}))
		}
	}
	if !p.Autoscale {
		// An autoscaled app has no replicas: the HPA owns the count.
		depSpec.Replicas = pulumi.Int(replicasOf(r.app, p))
	}
	dep, err := appsv1.NewDeployment(k.ctx, k.name(name), &appsv1.DeploymentArgs{Metadata: meta(name, appLabels(name)), Spec: depSpec}, k.opts(name, opts...)...)
	if err != nil {
		return err
	}
	if p.Autoscale {
		if _, err := autoscalingv2.NewHorizontalPodAutoscaler(k.ctx, k.name(name+"-hpa"), &autoscalingv2.HorizontalPodAutoscalerArgs{
			Metadata: meta(name, appLabels(name)),
			Spec: autoscalingv2.HorizontalPodAutoscalerSpecArgs{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReferenceArgs{ApiVersion: pulumi.String("apps/v1"), Kind: pulumi.String("Deployment"), Name: pulumi.String(name)},
				MinReplicas:    pulumi.Int(p.Replicas),
				MaxReplicas:    pulumi.Int(c.Cloud.CRMMaxReplicas),
				Metrics: autoscalingv2.MetricSpecArray{autoscalingv2.MetricSpecArgs{
					Type: pulumi.String("Resource"),
					Resource: autoscalingv2.ResourceMetricSourceArgs{Name: pulumi.String("cpu"), Target: autoscalingv2.MetricTargetArgs{
						Type: pulumi.String("Utilization"), AverageUtilization: pulumi.Int(70),
					}},
				}},
			},
		}, k.opts(name, pulumi.DependsOn([]pulumi.Resource{dep}))...); err != nil {
			return err
		}
	}
	if err := k.pdb(name, name, 1); err != nil {
		return err
	}
	if tunnelMetrics {
		_, err := k.service(name, name, map[string]int{"metrics": model.TunnelMetrics}, false, nil)
		return err
	}
	if !d.web || len(m.Ports) == 0 {
		return nil
	}
	ports := map[string]int{}
	for _, pt := range m.Ports {
		ports[pt.Name] = pt.Port
	}
	_, err = k.service(name, name, ports, false, nil)
	return err
}
