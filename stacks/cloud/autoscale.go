package cloud

import (
	"fmt"
	"strconv"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	autoscalingv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/autoscaling/v2"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/model"
)

// The Prometheus Adapter's chart, pinned; its value keys are recorded in
// testdata/charts.
const (
	AdapterChart        = "prometheus-adapter"
	AdapterChartVersion = "5.3.0"
	adapterRepo         = "https://prometheus-community.github.io/helm-charts"
)

// VLLMQueueMetric is vLLM's queue as the custom metrics API serves it, a
// pod's LLM requests waiting for room in its batch.
const VLLMQueueMetric = "vllm_requests_waiting"

// The AI pods' autoscaling on vLLM's queue. A pod takes a GPU node: the
// Cluster Autoscaler adds one for a pending pod (minutes), then the image
// and the weights come (minutes more), so the HPA adds one pod at a time,
// at most every VLLMScaleUpSeconds, and removes one only after the queue
// has stayed short for VLLMScaleDownSeconds.
const (
	// VLLMQueueTarget is the requests waiting a pod the HPA holds to: a
	// queue that stays longer means the KV cache is full.
	VLLMQueueTarget      = 2
	VLLMScaleUpSeconds   = 600
	VLLMScaleDownSeconds = 1800
)

// vllmAutoscaling scales the AI's StatefulSet between ai.replicas and
// cloud.gpuMax on vLLM's own queue, which the Prometheus Adapter serves
// (queueAdapter), holding its average to VLLMQueueTarget.
func (r *realisation) vllmAutoscaling(p *model.Part, set *appsv1.StatefulSet) error {
	k, c, name := r.k, r.cfg, p.Name
	pods := func(seconds int) autoscalingv2.HPAScalingPolicyArray {
		return autoscalingv2.HPAScalingPolicyArray{autoscalingv2.HPAScalingPolicyArgs{Type: pulumi.String("Pods"), Value: pulumi.Int(1), PeriodSeconds: pulumi.Int(seconds)}}
	}
	_, err := autoscalingv2.NewHorizontalPodAutoscaler(k.ctx, k.name(name+"-hpa"), &autoscalingv2.HorizontalPodAutoscalerArgs{
		Metadata: meta(name, appLabels(name)),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpecArgs{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReferenceArgs{ApiVersion: pulumi.String("apps/v1"), Kind: pulumi.String("StatefulSet"), Name: pulumi.String(VLLMSet)},
			MinReplicas:    pulumi.Int(p.Replicas),
			MaxReplicas:    pulumi.Int(model.AIMaxReplicas(c)),
			Metrics: autoscalingv2.MetricSpecArray{autoscalingv2.MetricSpecArgs{
				Type: pulumi.String("Pods"),
				Pods: autoscalingv2.PodsMetricSourceArgs{
					Metric: autoscalingv2.MetricIdentifierArgs{Name: pulumi.String(VLLMQueueMetric)},
					Target: autoscalingv2.MetricTargetArgs{Type: pulumi.String("AverageValue"), AverageValue: pulumi.String(strconv.Itoa(VLLMQueueTarget))},
				},
			}},
			Behavior: autoscalingv2.HorizontalPodAutoscalerBehaviorArgs{
				ScaleUp:   autoscalingv2.HPAScalingRulesArgs{StabilizationWindowSeconds: pulumi.Int(0), Policies: pods(VLLMScaleUpSeconds)},
				ScaleDown: autoscalingv2.HPAScalingRulesArgs{StabilizationWindowSeconds: pulumi.Int(VLLMScaleDownSeconds), Policies: pods(VLLMScaleUpSeconds)},
			},
		},
	}, k.opts(name, r.inNS, pulumi.DependsOn([]pulumi.Resource{set}))...)
	return err
}

// queueAdapter installs the Prometheus Adapter beside the monitoring's
// Prometheus, serving the queue of each AI pod's LLM server as the custom
// metric VLLMQueueMetric (the embedding model's server is left out: its
// requests are short, and they share the GPU the LLM's queue measures).
func (k *k8s) queueAdapter(c *model.Config, opts ...pulumi.ResourceOption) error {
	query := fmt.Sprintf("sum(<<.Series>>{<<.LabelMatchers>>,model_name=%s}) by (<<.GroupBy>>)", strconv.Quote(c.AI.Model))
	_, err := helmv3.NewRelease(k.ctx, k.name(AdapterChart), &helmv3.ReleaseArgs{
		Name:  pulumi.String(AdapterChart),
		Chart: pulumi.String(AdapterChart), Version: pulumi.String(AdapterChartVersion),
		Namespace:      pulumi.String(MonitoringNamespace),
		RepositoryOpts: helmv3.RepositoryOptsArgs{Repo: pulumi.String(adapterRepo)},
		Values: pulumi.ToMap(map[string]any{
			"prometheus":   map[string]any{"url": fmt.Sprintf("http://%s-prometheus.%s.svc", PromStackRelease, MonitoringNamespace), "port": 9090},
			"nodeSelector": map[string]any{PoolLabel: GeneralPool},
			"resources": map[string]any{
				"requests": map[string]any{"cpu": "50m", "memory": "128Mi"},
				"limits":   map[string]any{"cpu": "500m", "memory": "256Mi"},
			},
			"rules": map[string]any{
				// Only the queue: none of the chart's default rules.
				"default": false,
				"custom": []any{map[string]any{
					"seriesQuery":  `vllm:num_requests_waiting{namespace!="",pod!=""}`,
					"resources":    map[string]any{"overrides": map[string]any{"namespace": map[string]any{"resource": "namespace"}, "pod": map[string]any{"resource": "pod"}}},
					"name":         map[string]any{"matches": "^vllm:num_requests_waiting$", "as": VLLMQueueMetric},
					"metricsQuery": query,
				}},
			},
		}),
	}, k.monOpts(opts...)...)
	return err
}
