package cloud_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
	"github.com/nextflow-crm/nfx/internal/offline"
	"github.com/nextflow-crm/nfx/internal/plan"
	"github.com/nextflow-crm/nfx/internal/testutil"
	"github.com/nextflow-crm/nfx/stacks/cloud"
)

// chartSelector is the selector kube-prometheus-stack's Prometheus gets
// for one kind of object (serviceMonitor, podMonitor, probe, rule), as the
// chart's prometheus.yaml template derives it: the value if one is set,
// else release=<release name> while <kind>SelectorNilUsesHelmValues is
// true (its default), else everything.
func chartSelector(values map[string]any, release, kind string) map[string]any {
	spec, _ := at(values, "prometheus", "prometheusSpec").(map[string]any)
	if sel, ok := spec[kind+"Selector"].(map[string]any); ok && len(sel) > 0 {
		return sel
	}
	if nilUses, set := spec[kind+"SelectorNilUsesHelmValues"].(bool); !set || nilUses {
		return map[string]any{"matchLabels": map[string]any{"release": release}}
	}
	return map[string]any{}
}

// matches applies a label selector's matchLabels and matchExpressions
// (In, NotIn, Exists, DoesNotExist) to labels.
func matches(sel map[string]any, labels map[string]any) bool {
	for k, v := range asMap(sel["matchLabels"]) {
		if labels[k] != v {
			return false
		}
	}
	for _, e := range asList(sel["matchExpressions"]) {
		key, op := at(e, "key").(string), at(e, "operator").(string)
		val, has := labels[key]
		in := false
		for _, v := range asList(at(e, "values")) {
			in = in || v == val
		}
		switch op {
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		case "In":
			if !in {
				return false
			}
		case "NotIn":
			if in {
				return false
			}
		}
	}
	return true
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
func asList(v any) []any         { l, _ := v.([]any); return l }

func objects(res *offline.Result, kind string) []map[string]any {
	var out []map[string]any
	for _, r := range res.Plan.Resources {
		if r.Inputs["kind"] == kind {
			out = append(out, r.Inputs)
		}
	}
	return out
}

// The cloud's monitoring as the chart's Prometheus would see it: the
// release is named as the objects' release label says, and with the
// values nfx gives, the chart's selectors pick every ServiceMonitor, Probe
// and PrometheusRule; each ServiceMonitor selects exactly one non-headless
// Service that has the port it scrapes; each Probe's target and prober are
// Services with those ports; the network policies admit the monitoring
// namespace to those ports; the rules pass promtool; retention and volume
// come from the model.
func TestCloudMonitoringIsSelected(t *testing.T) {
	for name, values := range variants {
		t.Run(name, func(t *testing.T) {
			full, _ := run(t, values)
			for i, res := range clusterViews(full) {
				var release offline.Resource
				for _, r := range byType(res, "kubernetes:helm.sh/v3:Release") {
					if r.Inputs["chart"] == cloud.PromStackChart {
						release = r
					}
				}
				// An idle standby's cluster runs no monitoring (TestStandbyCluster).
				if idle := i == 1 && !strings.Contains(values["cloud"], "standbyPromoted"); idle != (release.Inputs == nil) {
					t.Fatalf("cluster %d: a kube-prometheus-stack release %v, idle %v", i, release.Inputs != nil, idle)
				} else if idle {
					continue
				}
				if release.Inputs["name"] != cloud.PromStackRelease || release.Inputs["version"] != cloud.PromStackVersion || release.Inputs["namespace"] != cloud.MonitoringNamespace {
					t.Errorf("release: name %v version %v namespace %v", release.Inputs["name"], release.Inputs["version"], release.Inputs["namespace"])
				}
				vals := asMap(release.Inputs["values"])
				spec := asMap(at(vals, "prometheus", "prometheusSpec"))
				if spec["retention"] != "31d" || spec["retentionSize"] == "" || at(spec, "storageSpec", "volumeClaimTemplate", "spec", "storageClassName") != cloud.StorageClass {
					t.Errorf("prometheusSpec: %v", spec)
				}
				// Grafana runs with the stack's admin password, never the chart's
				// public default, and loads nfx's dashboard from the labelled
				// ConfigMap; the data source has the uid the dashboard names.
				if at(vals, "grafana", "enabled") != true || at(vals, "grafana", "adminPassword") != nil ||
					at(vals, "grafana", "admin", "existingSecret") != cloud.GrafanaAdminSecret {
					t.Errorf("Grafana's values: %v", at(vals, "grafana"))
				}
				if at(vals, "grafana", "sidecar", "datasources", "uid") != monitoring.DatasourceUID || at(vals, "grafana", "sidecar", "dashboards", "enabled") != true {
					t.Errorf("Grafana's sidecar: %v", at(vals, "grafana", "sidecar"))
				}
				secret, dash := false, false
				for _, o := range objects(res, "Secret") {
					if at(o, "metadata", "name") == cloud.GrafanaAdminSecret && at(o, "metadata", "namespace") == cloud.MonitoringNamespace {
						secret = at(o, "stringData", "admin-password") == plan.Secret
					}
				}
				for _, o := range objects(res, "ConfigMap") {
					if asMap(at(o, "metadata", "labels"))[cloud.GrafanaDashboardLabel] == "1" {
						var d monitoring.Dashboard
						raw, _ := at(o, "data", monitoring.DashboardFile).(string)
						dash = json.Unmarshal([]byte(raw), &d) == nil && d.UID == monitoring.DashboardUID && len(d.Panels) > 0
					}
				}
				if !secret || !dash {
					t.Errorf("Grafana's admin secret (a Pulumi secret): %v; nfx's dashboard ConfigMap: %v", secret, dash)
				}
				kinds := map[string]string{"ServiceMonitor": "serviceMonitor", "Probe": "probe", "PrometheusRule": "rule"}
				count := 0
				for kind, key := range kinds {
					sel := chartSelector(vals, cloud.PromStackRelease, key)
					for _, o := range objects(res, kind) {
						count++
						if !matches(sel, asMap(at(o, "metadata", "labels"))) {
							t.Errorf("%s %v is not selected by the chart's Prometheus (%v)", kind, at(o, "metadata", "name"), sel)
						}
					}
				}
				if count < 6 {
					t.Errorf("only %d monitoring objects", count)
				}
				services := objects(res, "Service")
				findService := func(ns, name string) map[string]any {
					for _, s := range services {
						if at(s, "metadata", "namespace") == ns && at(s, "metadata", "name") == name {
							return s
						}
					}
					return nil
				}
				hasPort := func(s map[string]any, port string) bool {
					for _, p := range asList(at(s, "spec", "ports")) {
						if fmt.Sprint(at(p, "name")) == port || fmt.Sprint(at(p, "port")) == port {
							return true
						}
					}
					return false
				}
				for _, sm := range objects(res, "ServiceMonitor") {
					name := at(sm, "metadata", "name")
					ns := asList(at(sm, "spec", "namespaceSelector", "matchNames"))
					port := at(sm, "spec", "endpoints", 0, "port")
					var picked []string
					for _, s := range services {
						if len(ns) == 1 && at(s, "metadata", "namespace") == ns[0] && matches(asMap(at(sm, "spec", "selector")), asMap(at(s, "metadata", "labels"))) {
							picked = append(picked, fmt.Sprint(at(s, "metadata", "name")))
							if !hasPort(s, fmt.Sprint(port)) {
								t.Errorf("ServiceMonitor %v scrapes port %v, which Service %v lacks", name, port, at(s, "metadata", "name"))
							}
						}
					}
					if len(picked) != 1 {
						t.Errorf("ServiceMonitor %v selects %v, want one Service", name, picked)
					}
					if r := at(sm, "spec", "endpoints", 0, "relabelings", 0); at(r, "targetLabel") != "job" || at(r, "replacement") != name {
						t.Errorf("ServiceMonitor %v does not keep the plan's job label: %v", name, r)
					}
				}
				admitted := map[string]bool{}
				for _, np := range objects(res, "NetworkPolicy") {
					for _, in := range asList(at(np, "spec", "ingress")) {
						if at(in, "from", 0, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name") != cloud.MonitoringNamespace {
							continue
						}
						for _, p := range asList(at(in, "ports")) {
							admitted[fmt.Sprint(at(p, "port"))] = true
						}
					}
				}
				for _, pr := range objects(res, "Probe") {
					targets := append([]any{"http://" + fmt.Sprint(at(pr, "spec", "prober", "url")) + "/"}, asList(at(pr, "spec", "targets", "staticConfig", "static"))...)
					for i, tg := range targets {
						host, path, _ := strings.Cut(strings.TrimPrefix(fmt.Sprint(tg), "http://"), "/")
						hp := strings.Split(host, ":")
						parts := strings.Split(hp[0], ".")
						if len(parts) != 3 || parts[2] != "svc" || len(hp) != 2 {
							t.Errorf("Probe %v: %v is not a Service address", at(pr, "metadata", "name"), tg)
							continue
						}
						s := findService(parts[1], parts[0])
						if s == nil || !hasPort(s, hp[1]) {
							t.Errorf("Probe %v reaches %v, which no Service serves", at(pr, "metadata", "name"), tg)
						}
						if i > 0 && (path == "" || parts[1] == cloud.Namespace && !admitted[hp[1]]) {
							t.Errorf("Probe %v: %v has no path, or the network policies do not admit the monitoring to it", at(pr, "metadata", "name"), tg)
						}
					}
				}
				// The rules, as promtool reads them.
				rule := objects(res, "PrometheusRule")
				if len(rule) != 1 {
					t.Fatalf("%d PrometheusRules", len(rule))
				}
				body, err := yaml.Marshal(map[string]any{"groups": at(rule[0], "spec", "groups")})
				if err != nil {
					t.Fatal(err)
				}
				file := filepath.Join(t.TempDir(), "rules.yml")
				if err := os.WriteFile(file, body, 0o644); err != nil {
					t.Fatal(err)
				}
				if out, err := exec.Command(testutil.Tool(t, "promtool"), "check", "rules", file).CombinedOutput(); err != nil {
					t.Fatalf("promtool check rules: %v\n%s", err, out)
				}
				// The AI's service level: the probe's generations on Ollama,
				// vLLM's own histograms where it serves the models.
				sli := monitoring.ProbeSuccess
				if strings.Contains(values["cloud"], model.EngineVLLM) {
					sli = "vllm:time_to_first_token_seconds_bucket"
				}
				if !strings.Contains(string(body), "CRMErrorBudgetBurn") || !strings.Contains(string(body), sli) {
					t.Errorf("the rules lack the burn-rate or the AI's service-level alerts (%s):\n%s", sli, body)
				}
			}
		})
	}
}

// With nextflow:monitoring.enabled false the cloud installs no
// monitoring: no chart, no monitoring namespace, no monitors, no cost line.
func TestCloudMonitoringOff(t *testing.T) {
	res, _ := run(t, map[string]string{"monitoring": `{"enabled": false}`})
	for _, r := range res.Plan.Resources {
		md := asMap(r.Inputs["metadata"])
		if r.Inputs["chart"] == cloud.PromStackChart || md["namespace"] == cloud.MonitoringNamespace || md["name"] == cloud.MonitoringNamespace ||
			strings.HasPrefix(r.Type, "kubernetes:monitoring.coreos.com") || r.Type == "nextflow:index:Monitoring" || md["name"] == "allow-monitoring" {
			t.Errorf("monitoring off still plans %s %s", r.Type, r.Name)
		}
	}
}
