package cloud_test

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/offline"
	"github.com/nextflow-crm/nfx/stacks/cloud"
)

// subchartKeys are keys a chart passes to its bundled sub-charts, which
// its own values.yaml does not list; each was read in the sub-chart at the
// version the pinned chart bundles.
var subchartKeys = map[string]string{
	"kube-prometheus-stack:kube-state-metrics.nodeSelector.*":    "kube-state-metrics 5.27 (bundled by 67.4.0): nodeSelector {} read by its Deployment",
	"kube-prometheus-stack:prometheus-node-exporter.tolerations": "prometheus-node-exporter 4.42.0: tolerations read by its DaemonSet",
	// The grafana chart's own values (charts/grafana/values.yaml: admin,
	// nodeSelector and resources, the same names from its 6.x releases to
	// 12.11.1), passed to it by kube-prometheus-stack's grafana: block.
	"kube-prometheus-stack:grafana.admin.existingSecret": "grafana chart: admin.existingSecret, the Secret of the admin user and password",
	"kube-prometheus-stack:grafana.admin.userKey":        "grafana chart: admin.userKey",
	"kube-prometheus-stack:grafana.admin.passwordKey":    "grafana chart: admin.passwordKey",
	"kube-prometheus-stack:grafana.nodeSelector.*":       "grafana chart: nodeSelector {} read by its Deployment",
	"kube-prometheus-stack:grafana.resources.*":          "grafana chart: resources {} of its container",
}

// chartKeys reads a chart's recorded value keys (testdata/charts).
func chartKeys(t *testing.T, chart, version string) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "charts", chart+"-"+version+".keys"))
	if err != nil {
		t.Fatalf("no recorded keys for %s %s: %v (record them from the chart's values.yaml at that version)", chart, version, err)
	}
	defer f.Close()
	keys := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			keys[l] = true
		}
	}
	return keys
}

// paths flattens values into dotted key paths (lists and leaves end a path).
func paths(prefix string, v any, out *[]string) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		*out = append(*out, prefix)
		return
	}
	for k, sub := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		paths(p, sub, out)
	}
}

// known: the path, or a prefix of it followed by ".*" (a free-form map or
// a list), is a key of the chart.
func known(keys map[string]bool, chart, path string) bool {
	parts := strings.Split(path, ".")
	for i := len(parts); i > 0; i-- {
		p := strings.Join(parts[:i], ".")
		if (i == len(parts) && keys[p]) || keys[p+".*"] || subchartKeys[chart+":"+p+".*"] != "" || (i == len(parts) && subchartKeys[chart+":"+p] != "") {
			return true
		}
	}
	return false
}

// Every value nfx passes to a chart is a key of that chart at its pinned
// version: Helm ignores an unknown key without a word, and the setting
// silently does nothing. The charts cannot be had here; their keys are
// recorded from each chart's values.yaml at the pinned tag.
func TestHelmValuesAreChartKeys(t *testing.T) {
	pinned := map[string]string{"nvidia-device-plugin": cloud.DevicePluginChartVersion, "cluster-autoscaler": cloud.AutoscalerChartVersion,
		cloud.PromStackChart: cloud.PromStackVersion, cloud.AdapterChart: cloud.AdapterChartVersion}
	for name, values := range variants {
		t.Run(name, func(t *testing.T) {
			res, _ := run(t, values)
			releases := byType(res, "kubernetes:helm.sh/v3:Release")
			if len(releases) == 0 {
				t.Fatal("no Helm releases")
			}
			for _, r := range releases {
				chart, _ := r.Inputs["chart"].(string)
				version, _ := r.Inputs["version"].(string)
				if pinned[chart] != version {
					t.Errorf("%s: chart %s %s, but the recorded keys are for %s", r.Name, chart, version, pinned[chart])
				}
				keys := chartKeys(t, chart, version)
				var ps []string
				paths("", r.Inputs["values"], &ps)
				sort.Strings(ps)
				if len(ps) < 2 {
					t.Errorf("%s: values %v", chart, ps)
				}
				for _, p := range ps {
					if !known(keys, chart, p) {
						t.Errorf("%s %s ignores the value %s", chart, version, p)
					}
				}
			}
		})
	}
	// The check catches a misspelt key.
	keys := chartKeys(t, "cluster-autoscaler", cloud.AutoscalerChartVersion)
	if known(keys, "cluster-autoscaler", "autoDiscovery.clustername") || !known(keys, "cluster-autoscaler", "extraArgs.anything") {
		t.Error("the key check accepts a misspelt key or refuses a free-form map's")
	}
}

// The Cluster Autoscaler runs at its control plane's minor, as its README
// asks, on every EKS version nfx takes: chart 9.59.0's own 1.35 turns
// dynamic resource allocation on and reads resource.k8s.io/v1, which a
// control plane serves only from 1.34.
func TestAutoscalerFollowsTheControlPlane(t *testing.T) {
	// Each version as of a day EKS supported them all.
	t.Setenv(model.TodayEnv, "2026-06-01")
	for _, v := range []string{"1.30", "1.31", "1.32", "1.33", "1.34", "1.35"} {
		res, err := offline.RunWith(model.Cloud, raw(map[string]string{"cloud": `{"kubernetesVersion": "` + v + `"}`}), &offline.Recorder{})
		if err != nil {
			t.Fatal(err)
		}
		tag := ""
		for _, r := range res.Plan.Resources {
			if r.Type == "kubernetes:helm.sh/v3:Release" && r.Inputs["chart"] == "cluster-autoscaler" {
				img, _ := r.Inputs["values"].(map[string]any)["image"].(map[string]any)
				tag, _ = img["tag"].(string)
			}
		}
		if !strings.HasPrefix(tag, "v"+v+".") {
			t.Errorf("Kubernetes %s runs Cluster Autoscaler %q", v, tag)
		}
	}
}
