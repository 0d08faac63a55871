package cloud

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
	"github.com/nextflow-crm/nfx/stacks/internal/monsvc"
)

// The cloud's monitoring: kube-prometheus-stack (Prometheus Operator,
// Prometheus, Alertmanager, node exporter, kube-state-metrics) from its
// Helm chart, and nfx's own objects the chart's Prometheus selects: the
// rules, ServiceMonitors of the parts' metrics, Probes through a blackbox
// exporter, the Ollama probe and the GPU exporter on the GPU pool.
const (
	MonitoringNamespace = "monitoring"
	// PromStackRelease is the Helm release's name: the chart's Prometheus
	// selects the monitors, probes and rules labelled release=<it>.
	PromStackRelease = "kube-prometheus-stack"
	PromStackChart   = "kube-prometheus-stack"
	PromStackVersion = "67.4.0"
	PromStackRepo    = "https://prometheus-community.github.io/helm-charts"
	// MonitoringAPI is the Prometheus Operator's API the objects use.
	MonitoringAPI = "monitoring.coreos.com/v1"
	// headlessLabel marks a headless Service, which monitors skip: its
	// endpoints include pods that are not ready.
	headlessLabel = "nextflow.io/headless"
	// GrafanaAdminSecret holds the chart's Grafana admin user and password.
	GrafanaAdminSecret = "nextflow-grafana-admin"
	// GrafanaDashboardLabel marks the ConfigMaps the chart's Grafana
	// sidecar loads as dashboards.
	GrafanaDashboardLabel = "grafana_dashboard"
)

// promSelected labels an object for the chart's Prometheus.
func promSelected(name string) map[string]string {
	return map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "nextflow", "release": PromStackRelease}
}

func monMeta(name string, labels map[string]string) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: pulumi.String(MonitoringNamespace), Labels: pulumi.ToStringMap(labels)}
}

// PromStackValues are the chart's values: retention and its volume from
// the model, Alertmanager with the plan's routing, the EKS control plane's
// components (which EKS does not expose) and Grafana (whose default admin
// password is public) off, the node exporter on every node, the GPU pool's
// included. The chart's selectors are left as they are: they select
// release=PromStackRelease.
func PromStackValues(app *model.App, plan *monitoring.Plan) (map[string]any, error) {
	c := app.Config
	var am map[string]any
	files, err := plan.Files()
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(files[monitoring.AlertmanagerFile], &am); err != nil {
		return nil, fmt.Errorf("cloud: alertmanager.yml: %w", err)
	}
	general := map[string]any{PoolLabel: GeneralPool}
	prom := model.PrometheusSizing
	// A head block holds about 8 KiB a series with its index.
	if need := model.Bytes(model.PrometheusSeries(c)) * 8 * model.KiB; need > prom.Memory {
		prom.Memory = need / model.MiB * model.MiB
	}
	sizing := func(s model.Sizing) map[string]any {
		return map[string]any{
			"limits":   map[string]any{"cpu": cpu(s.CPUs), "memory": mem(s.Memory)},
			"requests": map[string]any{"cpu": cpu(s.CPURequest), "memory": mem(s.MemoryRequest)},
		}
	}
	vol := model.PrometheusVolume(c)
	grafana := map[string]any{"enabled": false}
	if model.GrafanaRuns(c) {
		// The chart's Grafana with the admin password of the stack's
		// secret (not the chart's public default), nfx's dashboards from
		// the ConfigMaps labelled for its sidecar, the chart's Prometheus
		// as the data source under the uid the dashboards name.
		grafana = map[string]any{
			"enabled":      true,
			"admin":        map[string]any{"existingSecret": GrafanaAdminSecret, "userKey": "admin-user", "passwordKey": "admin-password"},
			"nodeSelector": general,
			"resources":    sizing(model.GrafanaSizing),
			"sidecar": map[string]any{
				"dashboards":  map[string]any{"enabled": true, "label": GrafanaDashboardLabel, "labelValue": "1", "searchNamespace": MonitoringNamespace},
				"datasources": map[string]any{"enabled": true, "defaultDatasourceEnabled": true, "uid": monitoring.DatasourceUID},
			},
		}
	}
	return map[string]any{
		"grafana":               grafana,
		"kubeEtcd":              map[string]any{"enabled": false},
		"kubeControllerManager": map[string]any{"enabled": false},
		"kubeScheduler":         map[string]any{"enabled": false},
		"kubeProxy":             map[string]any{"enabled": false},
		"prometheusOperator":    map[string]any{"nodeSelector": general},
		"kube-state-metrics":    map[string]any{"nodeSelector": general},
		"prometheus-node-exporter": map[string]any{
			"tolerations": []any{map[string]any{"operator": "Exists"}},
		},
		"alertmanager": map[string]any{
			"config":           am,
			"alertmanagerSpec": map[string]any{"nodeSelector": general, "resources": sizing(model.ExporterSizing)},
		},
		"prometheus": map[string]any{"prometheusSpec": map[string]any{
			"retention":          plan.RetentionFlag(),
			"retentionSize":      plan.RetentionSizeFlag(),
			"scrapeInterval":     fmt.Sprintf("%ds", c.Monitoring.ScrapeSeconds),
			"evaluationInterval": fmt.Sprintf("%ds", c.Monitoring.ScrapeSeconds),
			"externalLabels":     map[string]any{"stage": string(c.Stage)},
			"nodeSelector":       general,
			"resources":          sizing(prom),
			"storageSpec": map[string]any{"volumeClaimTemplate": map[string]any{"spec": map[string]any{
				"storageClassName": StorageClass,
				"accessModes":      []any{"ReadWriteOnce"},
				"resources":        map[string]any{"requests": map[string]any{"storage": fmt.Sprintf("%dGi", vol/model.GiB)}},
			}}},
		}},
	}, nil
}

// monitoring creates the cloud's monitoring (see the constants above).
func (k *k8s) monitoring(app *model.App, workloadsNS pulumi.ResourceOption) error {
	plan, err := monsvc.Plan(app, "")
	if err != nil {
		return err
	}
	values, err := PromStackValues(app, plan)
	if err != nil {
		return err
	}
	ns, err := corev1.NewNamespace(k.ctx, k.name("monitoring-namespace"), &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(MonitoringNamespace), Labels: pulumi.StringMap{
			// The node exporter reads each node's /proc, /sys and root
			// filesystem through hostPath with the host's network and PIDs.
			"pod-security.kubernetes.io/enforce": pulumi.String("privileged"),
			"pod-security.kubernetes.io/warn":    pulumi.String("baseline"),
		}},
	}, k.monOpts()...,
	)
	if err != nil {
		return err
	}
	inNS := pulumi.DependsOn([]pulumi.Resource{ns})
	files, err := plan.Files()
	if err != nil {
		return err
	}
	beforeChart := []pulumi.Resource{ns}
	if model.GrafanaRuns(app.Config) {
		g, err := k.grafana(files[monitoring.DashboardFile], inNS)
		if err != nil {
			return err
		}
		beforeChart = append(beforeChart, g...)
	}
	release, err := helmv3.NewRelease(k.ctx, k.name(PromStackRelease), &helmv3.ReleaseArgs{
		Name:  pulumi.String(PromStackRelease),
		Chart: pulumi.String(PromStackChart), Version: pulumi.String(PromStackVersion),
		Namespace:      pulumi.String(MonitoringNamespace),
		RepositoryOpts: helmv3.RepositoryOptsArgs{Repo: pulumi.String(PromStackRepo)},
		Values:         pulumi.ToMap(values),
	}, k.monOpts(pulumi.DependsOn(beforeChart))...)
	if err != nil {
		return err
	}
	// The operator's CRDs come with the chart.
	withCRDs := pulumi.DependsOn([]pulumi.Resource{ns, release})
	var rules struct {
		Groups []any `yaml:"groups"`
	}
	if err := yaml.Unmarshal(files[monitoring.RulesFile], &rules); err != nil {
		return fmt.Errorf("cloud: rules: %w", err)
	}
	if err := k.custom("PrometheusRule", "nextflow-rules", map[string]any{"groups": rules.Groups}, withCRDs); err != nil {
		return err
	}
	if err := k.blackbox(files[monitoring.BlackboxFile], inNS); err != nil {
		return err
	}
	for _, j := range plan.Jobs {
		if err := k.monitorJob(app, j, withCRDs); err != nil {
			return err
		}
	}
	if model.AIEngineOf(app.Config) == model.EngineVLLM {
		if err := k.queueAdapter(app.Config, pulumi.DependsOn([]pulumi.Resource{ns, release})); err != nil {
			return err
		}
	}
	if _, ok := plan.Job("ollama-sli"); ok {
		if err := k.ollamaProbe(app, files[monitoring.ProbeFile], inNS); err != nil {
			return err
		}
	}
	if c := app.Config; c.Cloud.GPUPool {
		if err := k.gpuExporter(inNS); err != nil {
			return err
		}
	}
	return k.admitMonitoring(app, workloadsNS, inNS)
}

// monOpts parents a resource to the monitoring's component.
func (k *k8s) monOpts(extra ...pulumi.ResourceOption) []pulumi.ResourceOption {
	parent := k.parent
	if k.mon != nil {
		parent = k.mon
	}
	return append([]pulumi.ResourceOption{pulumi.Parent(parent), pulumi.Provider(k.provider)}, extra...)
}

// custom creates one of the Prometheus Operator's objects in the
// monitoring namespace, labelled for the chart's Prometheus.
func (k *k8s) custom(kind, name string, spec map[string]any, opts ...pulumi.ResourceOption) error {
	_, err := apiextensions.NewCustomResource(k.ctx, k.name(strings.ToLower(kind)+"-"+name), &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String(MonitoringAPI),
		Kind:        pulumi.String(kind),
		Metadata:    monMeta(name, promSelected(name)),
		OtherFields: kubernetes.UntypedArgs{"spec": spec},
	}, k.monOpts(opts...)...)
	return err
}

// clusterHost is a Service's in-cluster name for one of the plan's
// host:port targets.
func clusterHost(target, namespace string) string {
	host, port, _ := strings.Cut(target, ":")
	return fmt.Sprintf("%s.%s.svc:%s", host, namespace, port)
}

// monitorJob turns one of the plan's jobs into what the operator scrapes:
// a Probe through the blackbox exporter, or a ServiceMonitor of a part's
// Service; each keeps the plan's job label, which the rules select by. The
// chart scrapes node, Prometheus and Alertmanager itself.
func (k *k8s) monitorJob(app *model.App, j monitoring.Job, opts ...pulumi.ResourceOption) error {
	relabelJob := []any{map[string]any{"targetLabel": "job", "replacement": j.Name}}
	switch {
	case j.Module != "":
		var urls []any
		for _, t := range j.Targets {
			urls = append(urls, "http://"+clusterHost(t, Namespace)+j.Path)
		}
		return k.custom("Probe", j.Name, map[string]any{
			"jobName":  j.Name,
			"module":   j.Module,
			"interval": fmt.Sprintf("%ds", app.Config.Monitoring.ScrapeSeconds),
			"prober":   map[string]any{"url": fmt.Sprintf("%s.%s.svc:%d", monitoring.BlackboxService, MonitoringNamespace, monitoring.BlackboxPort)},
			"targets":  map[string]any{"staticConfig": map[string]any{"static": urls}},
		}, opts...)
	case j.Name == "node" || j.Name == "prometheus" || j.Name == "alertmanager":
		return nil
	}
	svc, namespace, port := "", Namespace, ""
	switch j.Name {
	case "crm-app":
		crm, _ := app.Part(model.PartCRM)
		svc, port = model.PartCRM, crm.Service.Ports[0].Name
	case "qdrant":
		svc, port = model.PartQdrant, "http"
	case "tunnel":
		svc, port = model.PartTunnel, "metrics"
	case "ollama-sli":
		svc, namespace, port = monitoring.ProbeService, MonitoringNamespace, "metrics"
	case monitoring.VLLMMetricsJob:
		svc, port = model.PartAI, "api"
	case "gpu":
		if !app.Config.Cloud.GPUPool {
			return nil
		}
		svc, namespace, port = monitoring.GPUExporterService, MonitoringNamespace, "metrics"
	default:
		return fmt.Errorf("cloud: no scrape object for the monitoring's %s job", j.Name)
	}
	endpoint := map[string]any{
		"port": port, "path": "/metrics", "interval": fmt.Sprintf("%ds", app.Config.Monitoring.ScrapeSeconds),
		"relabelings": relabelJob,
	}
	if j.Secret != "" {
		// The operator reads a scrape's credentials from a Secret in the
		// ServiceMonitor's own namespace.
		copied, err := k.monSecret(j.Secret, j.Name, opts...)
		if err != nil {
			return err
		}
		endpoint["authorization"] = map[string]any{"type": "Bearer", "credentials": map[string]any{"name": copied, "key": j.Secret}}
	}
	endpoints := []any{endpoint}
	if j.Name == monitoring.VLLMMetricsJob && app.Config.AI.EmbeddingModel != "" {
		// The embedding model's server, through the same proxy: a label
		// of their own keeps the two targets' up and scrape series apart.
		server := func(name string) []any {
			return append(slices.Clone(relabelJob), map[string]any{"targetLabel": "server", "replacement": name})
		}
		embed := maps.Clone(endpoint)
		endpoint["relabelings"], embed["relabelings"], embed["path"] = server("llm"), server("embed"), model.VLLMEmbedMetrics
		endpoints = append(endpoints, embed)
	}
	return k.custom("ServiceMonitor", j.Name, map[string]any{
		"selector": map[string]any{
			"matchLabels":      map[string]any{"app.kubernetes.io/name": svc},
			"matchExpressions": []any{map[string]any{"key": headlessLabel, "operator": "DoesNotExist"}},
		},
		"namespaceSelector": map[string]any{"matchNames": []any{namespace}},
		"endpoints":         endpoints,
	}, opts...)
}

// grafana creates what the chart's Grafana reads before it starts: the
// admin user and the password of grafanaAdminPassword, and nfx's
// overview dashboard in a ConfigMap its sidecar loads.
func (k *k8s) grafana(dashboard []byte, opts ...pulumi.ResourceOption) ([]pulumi.Resource, error) {
	pw, ok := k.secrets[model.SecretGrafanaPassword]
	if !ok {
		return nil, fmt.Errorf("cloud: Grafana's admin password (%s) has no value", model.FullKey(model.KeyGrafanaPassword))
	}
	sec, err := corev1.NewSecret(k.ctx, k.name("grafana-admin"), &corev1.SecretArgs{
		Metadata: monMeta(GrafanaAdminSecret, appLabels(model.GrafanaService)), Type: pulumi.String("Opaque"),
		StringData: pulumi.StringMap{"admin-user": pulumi.String("admin"), "admin-password": pw},
	}, k.monOpts(opts...)...)
	if err != nil {
		return nil, err
	}
	labels := appLabels(model.GrafanaService)
	labels[GrafanaDashboardLabel] = "1"
	cm, err := corev1.NewConfigMap(k.ctx, k.name("grafana-dashboards"), &corev1.ConfigMapArgs{
		Metadata: monMeta("nextflow-dashboards", labels),
		Data:     pulumi.StringMap{monitoring.DashboardFile: pulumi.String(string(dashboard))},
	}, k.monOpts(opts...)...)
	if err != nil {
		return nil, err
	}
	return []pulumi.Resource{sec, cm}, nil
}

// monSecret copies one of the workloads' secrets into the monitoring
// namespace, for the user named, and returns the copy's name: a pod, or
// the operator for a scrape, reads a Secret of its own namespace only.
func (k *k8s) monSecret(secret, user string, opts ...pulumi.ResourceOption) (string, error) {
	v, ok := k.secrets[secret]
	if !ok {
		return "", fmt.Errorf("cloud: the monitoring's %s needs secret %s, which has no value", user, secret)
	}
	copied := "scrape-" + dns(secret)
	if k.monSecrets[copied] {
		return copied, nil
	}
	if _, err := corev1.NewSecret(k.ctx, k.name(copied), &corev1.SecretArgs{
		Metadata: monMeta(copied, appLabels(user)), Type: pulumi.String("Opaque"),
		StringData: pulumi.StringMap{secret: v},
	}, k.monOpts(opts...)...); err != nil {
		return "", err
	}
	if k.monSecrets == nil {
		k.monSecrets = map[string]bool{}
	}
	k.monSecrets[copied] = true
	return copied, nil
}

// monDeployment is one of nfx's monitoring Deployments: one pod on the
// general pool, restricted, its files from a ConfigMap, a writable /tmp,
// probed on its metrics port, behind a Service; each of secrets (copied
// into the namespace) a file under /run/secrets, as on the workloads.
func (k *k8s) monDeployment(name, image string, command []string, env map[string]string, file, fileData string, mountPath string, port int, probePath string, secrets []string, opts ...pulumi.ResourceOption) error {
	labels := appLabels(name)
	if _, err := corev1.NewConfigMap(k.ctx, k.name(name+"-config"), &corev1.ConfigMapArgs{
		Metadata: monMeta(name, labels), Data: pulumi.StringMap{file: pulumi.String(fileData)},
	}, k.monOpts(opts...)...); err != nil {
		return err
	}
	var vars corev1.EnvVarArray
	keys := make([]string, 0, len(env))
	for key := range env {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		vars = append(vars, corev1.EnvVarArgs{Name: pulumi.String(key), Value: pulumi.String(env[key])})
	}
	mode := 0o555
	container := corev1.ContainerArgs{
		Name: pulumi.String(name), Image: pulumi.String(image), ImagePullPolicy: pulumi.String("Always"),
		Command:         pulumi.ToStringArray(command),
		Env:             vars,
		Ports:           corev1.ContainerPortArray{corev1.ContainerPortArgs{Name: pulumi.String("metrics"), ContainerPort: pulumi.Int(port)}},
		Resources:       resources(model.ExporterSizing, nil),
		SecurityContext: restricted(),
		ReadinessProbe:  httpProbe(probePath, port, 15, 3),
		LivenessProbe:   tcpProbe(port, 20, 3),
	}
	mounts := corev1.VolumeMountArray{
		corev1.VolumeMountArgs{Name: pulumi.String("config"), MountPath: pulumi.String(mountPath), ReadOnly: pulumi.Bool(true)},
		corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
	}
	vols := corev1.VolumeArray{
		corev1.VolumeArgs{Name: pulumi.String("config"), ConfigMap: corev1.ConfigMapVolumeSourceArgs{Name: pulumi.String(name), DefaultMode: pulumi.Int(mode)}},
		corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("64Mi")}},
	}
	for _, sec := range secrets {
		copied, err := k.monSecret(sec, name, opts...)
		if err != nil {
			return err
		}
		m, v := secretFile(sec, copied)
		mounts, vols = append(mounts, m), append(vols, v)
	}
	container.VolumeMounts = mounts
	spec := corev1.PodSpecArgs{
		AutomountServiceAccountToken: pulumi.Bool(false),
		SecurityContext:              podSecurity(),
		NodeSelector:                 pulumi.StringMap{PoolLabel: pulumi.String(GeneralPool)},
		Containers:                   corev1.ContainerArray{container},
		Volumes:                      vols,
	}
	if _, err := appsv1.NewDeployment(k.ctx, k.name(name), &appsv1.DeploymentArgs{
		Metadata: monMeta(name, labels),
		Spec: appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(1), Selector: selector(name),
			Template: corev1.PodTemplateSpecArgs{Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.ToStringMap(labels)}, Spec: spec},
		},
	}, k.monOpts(opts...)...); err != nil {
		return err
	}
	return k.monService(name, port, opts...)
}

func (k *k8s) monService(name string, port int, opts ...pulumi.ResourceOption) error {
	_, err := corev1.NewService(k.ctx, k.name(name+"-svc"), &corev1.ServiceArgs{
		Metadata: monMeta(name, appLabels(name)),
		Spec: corev1.ServiceSpecArgs{
			Selector: pulumi.ToStringMap(map[string]string{"app.kubernetes.io/name": name}),
			Ports: corev1.ServicePortArray{corev1.ServicePortArgs{Name: pulumi.String("metrics"), Port: pulumi.Int(port),
				TargetPort: pulumi.Int(port), Protocol: pulumi.String("TCP")}},
		},
	}, k.monOpts(opts...)...)
	return err
}

// blackbox is the exporter the Probes go through.
func (k *k8s) blackbox(config []byte, opts ...pulumi.ResourceOption) error {
	dir := "/etc/blackbox"
	return k.monDeployment(monitoring.BlackboxService, monitoring.Images["blackbox"],
		[]string{"/bin/blackbox_exporter", "--config.file=" + dir + "/" + monitoring.BlackboxFile},
		nil, monitoring.BlackboxFile, string(config), dir, monitoring.BlackboxPort, "/-/healthy", nil, opts...)
}

// ollamaProbe measures Ollama's service level on every AI pod, each
// reached through the AI's headless Service.
func (k *k8s) ollamaProbe(app *model.App, script []byte, opts ...pulumi.ResourceOption) error {
	var targets []string
	for _, in := range app.InstancesOf(model.PartAI) {
		for i := 0; i < in.Replicas; i++ {
			pod := fmt.Sprintf("%s-%d", in.Name, i)
			targets = append(targets, fmt.Sprintf("%s=http://%s.%s-headless.%s.svc:%d", pod, pod, in.Name, Namespace, model.OllamaPort))
		}
	}
	dir := "/opt/ollama-probe"
	env := map[string]string{"OLLAMA_TARGETS": strings.Join(targets, " "), "OLLAMA_MODEL": app.Config.AI.Model,
		"OUT_DIR": "/tmp/ollama-probe", "PROBE_SECONDS": fmt.Sprint(int(monitoring.ProbeEvery / time.Second))}
	var secrets []string
	if model.AIAsksForKey(app.Config) {
		// Its generations go through the AI pods' key check.
		secrets = []string{model.SecretAIAPIKey}
		env[model.AIKeyFileEnv] = model.SecretUse{Secret: model.SecretAIAPIKey}.Path()
	}
	return k.monDeployment(monitoring.ProbeService, app.Config.Nginx.Image,
		[]string{"/bin/bash", dir + "/" + monitoring.ProbeFile, "serve"}, env,
		monitoring.ProbeFile, string(script), dir, monitoring.ProbePort, "/metrics", secrets, opts...)
}

// gpuExporter runs NVIDIA's DCGM exporter on every GPU node, reading the
// node's GPUs through the NVIDIA runtime without reserving one, and the
// kubelet's pod-resources socket to name the pod using each GPU.
func (k *k8s) gpuExporter(opts ...pulumi.ResourceOption) error {
	name := monitoring.GPUExporterService
	labels := appLabels(name)
	port := monitoring.GPUExporterPort
	container := corev1.ContainerArgs{
		Name: pulumi.String(name), Image: pulumi.String(monitoring.Images["gpu"]), ImagePullPolicy: pulumi.String("Always"),
		Env: corev1.EnvVarArray{
			corev1.EnvVarArgs{Name: pulumi.String("NVIDIA_VISIBLE_DEVICES"), Value: pulumi.String("all")},
			corev1.EnvVarArgs{Name: pulumi.String("DCGM_EXPORTER_KUBERNETES"), Value: pulumi.String("true")},
		},
		Ports:           corev1.ContainerPortArray{corev1.ContainerPortArgs{Name: pulumi.String("metrics"), ContainerPort: pulumi.Int(port)}},
		Resources:       resources(model.GPUExporterSizing, nil),
		SecurityContext: restricted(),
		ReadinessProbe:  httpProbe("/health", port, 15, 3),
		LivenessProbe:   tcpProbe(port, 20, 3),
		VolumeMounts: corev1.VolumeMountArray{
			corev1.VolumeMountArgs{Name: pulumi.String("pod-resources"), MountPath: pulumi.String("/var/lib/kubelet/pod-resources"), ReadOnly: pulumi.Bool(true)},
			corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
		},
	}
	spec := corev1.PodSpecArgs{
		AutomountServiceAccountToken: pulumi.Bool(false),
		SecurityContext:              podSecurity(),
		NodeSelector:                 pulumi.StringMap{PoolLabel: pulumi.String(GPUPoolName)},
		Tolerations: corev1.TolerationArray{corev1.TolerationArgs{
			Key: pulumi.String(GPUTaintKey), Operator: pulumi.String("Exists"), Effect: pulumi.String("NoSchedule"),
		}},
		Containers: corev1.ContainerArray{container},
		Volumes: corev1.VolumeArray{
			corev1.VolumeArgs{Name: pulumi.String("pod-resources"), HostPath: corev1.HostPathVolumeSourceArgs{Path: pulumi.String("/var/lib/kubelet/pod-resources"), Type: pulumi.String("Directory")}},
			corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("64Mi")}},
		},
	}
	if _, err := appsv1.NewDaemonSet(k.ctx, k.name(name), &appsv1.DaemonSetArgs{
		Metadata: monMeta(name, labels),
		Spec: appsv1.DaemonSetSpecArgs{
			Selector: selector(name),
			Template: corev1.PodTemplateSpecArgs{Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.ToStringMap(labels)}, Spec: spec},
		},
	}, k.monOpts(opts...)...); err != nil {
		return err
	}
	return k.monService(name, port, opts...)
}

// admitMonitoring lets the monitoring namespace reach what it scrapes and
// probes in the workloads' namespace (which denies ingress by default),
// and lets only Prometheus, in its own namespace, reach nfx's exporters.
func (k *k8s) admitMonitoring(app *model.App, workloadsNS pulumi.ResourceOption, opts ...pulumi.ResourceOption) error {
	fromMonitoring := networkingv1.NetworkPolicyPeerArray{networkingv1.NetworkPolicyPeerArgs{
		NamespaceSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"kubernetes.io/metadata.name": pulumi.String(MonitoringNamespace)}},
	}}
	crm, _ := app.Part(model.PartCRM)
	ports := networkingv1.NetworkPolicyPortArray{}
	for _, p := range []int{crm.Service.Ports[0].Port, model.OllamaPort, model.QdrantHTTPPort, model.TunnelMetrics} {
		ports = append(ports, networkingv1.NetworkPolicyPortArgs{Port: pulumi.Int(p), Protocol: pulumi.String("TCP")})
	}
	if _, err := networkingv1.NewNetworkPolicy(k.ctx, k.name("allow-monitoring"), &networkingv1.NetworkPolicyArgs{
		Metadata: meta("allow-monitoring", map[string]string{"app.kubernetes.io/part-of": "nextflow"}),
		Spec: networkingv1.NetworkPolicySpecArgs{
			PodSelector: metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
			Ingress:     networkingv1.NetworkPolicyIngressRuleArray{networkingv1.NetworkPolicyIngressRuleArgs{From: fromMonitoring, Ports: ports}},
		},
	}, k.monOpts(workloadsNS)...); err != nil {
		return err
	}
	for _, name := range []string{monitoring.BlackboxService, monitoring.ProbeService, monitoring.GPUExporterService} {
		if name == monitoring.GPUExporterService && !app.Config.Cloud.GPUPool || name == monitoring.ProbeService && model.AIEngineOf(app.Config) != model.EngineOllama {
			continue
		}
		port := map[string]int{monitoring.BlackboxService: monitoring.BlackboxPort, monitoring.ProbeService: monitoring.ProbePort,
			monitoring.GPUExporterService: monitoring.GPUExporterPort}[name]
		if _, err := networkingv1.NewNetworkPolicy(k.ctx, k.name("allow-scrape-"+name), &networkingv1.NetworkPolicyArgs{
			Metadata: monMeta("allow-scrape-"+name, appLabels(name)),
			Spec: networkingv1.NetworkPolicySpecArgs{
				PodSelector: *selector(name),
				PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
				Ingress: networkingv1.NetworkPolicyIngressRuleArray{networkingv1.NetworkPolicyIngressRuleArgs{
					From: networkingv1.NetworkPolicyPeerArray{networkingv1.NetworkPolicyPeerArgs{
						PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"app.kubernetes.io/name": pulumi.String("prometheus")}},
					}},
					Ports: networkingv1.NetworkPolicyPortArray{networkingv1.NetworkPolicyPortArgs{Port: pulumi.Int(port), Protocol: pulumi.String("TCP")}},
				}},
			},
		}, k.monOpts(opts...)...); err != nil {
			return err
		}
	}
	return nil
}
