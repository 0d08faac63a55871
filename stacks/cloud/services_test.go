package cloud_test

import (
	"fmt"
	"github.com/nextflow-crm/nfx/stacks/cloud"
	"strconv"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/offline"
)

// object returns the Kubernetes object of a kind and name from a plan.
func object(t *testing.T, res *offline.Result, kind, name string) map[string]any {
	t.Helper()
	for _, r := range res.Plan.Resources {
		md, _ := r.Inputs["metadata"].(map[string]any)
		if r.Inputs["kind"] == kind && md["name"] == name {
			return r.Inputs
		}
	}
	t.Fatalf("no %s %s in the plan", kind, name)
	return nil
}

func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func envOf(c any) map[string]any {
	out := map[string]any{}
	for _, e := range at(c, "env").([]any) {
		out[at(e, "name").(string)] = at(e, "value")
	}
	return out
}

// The user's services on EKS: a Deployment each with the replicas the
// config asks, probes from the health check, the restricted security
// context, the secrets as files, the references resolved to the cloud (the
// RDS and ElastiCache addresses unknown until AWS answers), a PDB, and the
// network policies that admit only what they need; the public app behind
// a load balancer only Cloudflare may reach, with its DNS record. The
// CRM's port reaches its Service, probes and NetworkPolicy.
func TestCloudUserServices(t *testing.T) {
	res, _ := run(t, variants["services"])
	replicas := map[string]float64{"worker": 4, "admin": 2, "reports": 2}
	for name, n := range replicas {
		d := object(t, res, "Deployment", name)
		if at(d, "spec", "replicas") != n {
			t.Errorf("%s: %v replicas, want %v", name, at(d, "spec", "replicas"), n)
		}
		pod := at(d, "spec", "template", "spec")
		c := at(pod, "containers", 0)
		sc := at(c, "securityContext")
		if at(sc, "runAsNonRoot") != true || at(sc, "readOnlyRootFilesystem") != true || at(sc, "allowPrivilegeEscalation") != false ||
			fmt.Sprint(at(sc, "capabilities", "drop")) != "[ALL]" || at(sc, "seccompProfile", "type") != "RuntimeDefault" {
			t.Errorf("%s: not the restricted security context: %v", name, sc)
		}
		if at(c, "livenessProbe") == nil || at(c, "startupProbe") == nil {
			t.Errorf("%s has no liveness or startup probe", name)
		}
		if name != "worker" && at(c, "readinessProbe") == nil {
			t.Errorf("%s serves traffic without a readiness probe", name)
		}
		if at(c, "resources", "limits", "cpu") == nil || at(c, "resources", "requests", "memory") == nil {
			t.Errorf("%s has no limits and requests", name)
		}
		if at(pod, "nodeSelector", "nextflow.io/pool") != "general" {
			t.Errorf("%s is not on the general pool", name)
		}
		object(t, res, "PodDisruptionBudget", name)
		for k, v := range envOf(c) {
			if strings.Contains(fmt.Sprint(v), "${") || strings.Contains(fmt.Sprint(v), "\\x00") {
				t.Errorf("%s: %s = %v holds an unresolved reference", name, k, v)
			}
		}
	}
	worker := at(object(t, res, "Deployment", "worker"), "spec", "template", "spec", "containers", 0)
	env := envOf(worker)
	for k, want := range map[string]any{"DATABASE_URL": offline.Unknown, "REDIS_URL": offline.Unknown, "PRICE": "$5", "API_KEY_FILE": "/run/secrets/app_worker_api_key"} {
		if env[k] != want {
			t.Errorf("worker: %s = %v, want %v", k, env[k], want)
		}
	}
	if _, ok := env["REDIS_SENTINELS"]; ok {
		t.Error("worker: REDIS_SENTINELS on a stage without Sentinel")
	}
	if at(worker, "readinessProbe") != nil || fmt.Sprint(at(worker, "livenessProbe", "exec", "command")) != "[/bin/sh -c test -f /tmp/healthy]" {
		t.Errorf("worker probes: liveness %v, readiness %v", at(worker, "livenessProbe"), at(worker, "readinessProbe"))
	}
	if !strings.Contains(fmt.Sprint(at(worker, "volumeMounts")), "/run/secrets/app_worker_api_key") {
		t.Errorf("worker: the secret is not mounted as a file: %v", at(worker, "volumeMounts"))
	}
	if at(object(t, res, "Secret", "nextflow-app-worker-api-key"), "stringData", "app_worker_api_key") != offline.Secret {
		t.Error("the worker's secret is not a Pulumi secret in the plan")
	}
	admin := at(object(t, res, "Deployment", "admin"), "spec", "template", "spec", "containers", 0)
	aenv := envOf(admin)
	if aenv["AI_URL"] != "http://ai:11434" || aenv["PUBLIC_URL"] != "https://admin.nextflow.example" || aenv["READ_URL"] != offline.Unknown {
		t.Errorf("admin env: %v", aenv)
	}
	if at(admin, "readinessProbe", "httpGet", "path") != "/healthz?deep=1" || at(admin, "readinessProbe", "httpGet", "port") != 8080.0 {
		t.Errorf("admin readiness: %v", at(admin, "readinessProbe"))
	}
	labels := at(object(t, res, "Deployment", "admin"), "spec", "template", "metadata", "labels")
	if at(labels, "nextflow.io/uses-ai") != "true" || at(labels, "nextflow.io/uses-vector") != nil {
		t.Errorf("admin pod labels: %v", labels)
	}
	// No Service faces the Internet: the tunnel routes each public
	// hostname to its ClusterIP Service, and only cloudflared may reach it.
	for _, r := range res.Plan.Resources {
		if spec, _ := r.Inputs["spec"].(map[string]any); r.Inputs["kind"] == "Service" && spec["type"] != nil {
			t.Errorf("a %v Service: %v", spec["type"], r.Inputs["metadata"])
		}
	}
	routes := byType(res, "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig")
	if len(routes) != 1 {
		t.Fatalf("tunnel configurations: %d", len(routes))
	}
	rules := fmt.Sprint(at(routes[0].Inputs, "config", "ingressRules"))
	for _, want := range []string{"admin.nextflow.example", "http://admin.nextflow.svc:8080", "crm.nextflow.example", "http://crm.nextflow.svc:8080", "http_status:404"} {
		if !strings.Contains(rules, want) {
			t.Errorf("the tunnel's routes lack %s: %s", want, rules)
		}
	}
	dns := byType(res, "cloudflare:index/record:Record")
	hosts := map[string]bool{}
	for _, r := range dns {
		hosts[r.Inputs["name"].(string)] = r.Inputs["proxied"] == true
	}
	if !hosts["admin.nextflow.example"] || !hosts["crm.nextflow.example"] || len(dns) != 2 {
		t.Errorf("proxied DNS records: %v", hosts)
	}
	// Network policies: a public app from the tunnel's pods only, the
	// internal one from the app's pods, the AI and Qdrant from the pods
	// that need them.
	if at(object(t, res, "NetworkPolicy", "allow-admin-http"), "spec", "ingress", 0, "from", 0, "podSelector", "matchLabels", "app.kubernetes.io/name") != model.PartTunnel {
		t.Error("the public admin app admits more than the tunnel's pods")
	}
	if at(object(t, res, "NetworkPolicy", "allow-reports-http"), "spec", "ingress", 0, "from", 0, "podSelector", "matchLabels", "app.kubernetes.io/part-of") != "nextflow" {
		t.Error("the internal reports app admits more than the app's pods")
	}
	if at(object(t, res, "NetworkPolicy", "allow-qdrant-clients"), "spec", "ingress", 0, "from", 0, "podSelector", "matchLabels", "nextflow.io/uses-vector") != "true" {
		t.Error("Qdrant does not admit the pods that need it")
	}
	for _, r := range res.Plan.Resources {
		if md, _ := r.Inputs["metadata"].(map[string]any); r.Inputs["kind"] == "NetworkPolicy" && strings.Contains(fmt.Sprint(md["name"]), "worker") {
			t.Errorf("the worker takes traffic: %v", md["name"])
		}
	}
	// crm.port 8080 reaches the Service, the probes and the NetworkPolicy.
	crmSvc := object(t, res, "Service", model.PartCRM)
	crm := at(object(t, res, "Deployment", model.PartCRM), "spec", "template", "spec", "containers", 0)
	pol := object(t, res, "NetworkPolicy", "allow-crm-http")
	for what, v := range map[string]any{
		"service port": at(crmSvc, "spec", "ports", 0, "port"), "target port": at(crmSvc, "spec", "ports", 0, "targetPort"),
		"container port": at(crm, "ports", 0, "containerPort"), "readiness": at(crm, "readinessProbe", "httpGet", "port"),
		"liveness": at(crm, "livenessProbe", "tcpSocket", "port"), "network policy": at(pol, "spec", "ingress", 0, "ports", 0, "port"),
	} {
		if v != 8080.0 {
			t.Errorf("crm.port 8080: the %s is %v", what, v)
		}
	}
}

// The first `up` waits for Ollama's first start (a GPU node, the device
// plugin, the image, the model's pull) as long as its startup probe allows,
// and longer: Pulumi's default 10 minutes would fail it.
func TestFirstUpOutwaitsOllamasStart(t *testing.T) {
	res, _ := run(t, nil)
	set := object(t, res, "StatefulSet", model.PartAI)
	probe := at(set, "spec", "template", "spec", "containers", 0, "startupProbe")
	budget := at(probe, "periodSeconds").(float64) * at(probe, "failureThreshold").(float64)
	wait, err := strconv.ParseFloat(fmt.Sprint(at(set, "metadata", "annotations", cloud.AwaitAnnotation)), 64)
	if err != nil || wait <= budget || budget < 600 {
		t.Errorf("Pulumi waits %v s for a StatefulSet whose startup may take %v s", at(set, "metadata", "annotations"), budget)
	}
}

// On standby (a migration's target) cloudflared's Deployment runs no pods
// until the cutover scales it; by default it runs the stage's two.
func TestTunnelStandbyOnTheCloud(t *testing.T) {
	for standby, want := range map[bool]float64{false: 2, true: 0} {
		res, _ := run(t, map[string]string{"tunnel": fmt.Sprintf(`{"standby": %v}`, standby)})
		if got := at(object(t, res, "Deployment", model.PartTunnel), "spec", "replicas"); got != want {
			t.Errorf("standby %v: %v replicas, want %v", standby, got, want)
		}
	}
}
