package cloud_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/offline"
	"github.com/nextflow-crm/nfx/internal/testutil"
	"github.com/nextflow-crm/nfx/stacks/cloud"
)

// lbValues are a standby cluster behind Cloudflare's load balancers.
func lbValues(promoted bool) map[string]string {
	v := clusterValues(promoted, model.EngineOllama)
	var c map[string]any
	json.Unmarshal([]byte(v["cloud"]), &c)
	c["loadBalancer"] = true
	js, _ := json.Marshal(c)
	v["cloud"] = string(js)
	v["tunnel"] = `{"mode": "managed", "hostname": "crm.nextflow.example", "accountId": "0123456789abcdef0123456789abcdef", "zoneId": "fedcba9876543210fedcba9876543210"}`
	return v
}

// poolOf is the pool whose ID an input of the load balancer holds (the
// recorder's IDs are the resources' names).
func poolOf(t *testing.T, v any) string {
	t.Helper()
	if a, ok := v.([]any); ok && len(a) == 1 {
		v = a[0]
	}
	s, ok := v.(string)
	if !ok {
		t.Fatalf("not one pool's ID: %v", v)
	}
	return s
}

// Behind load balancers, the standby region has a tunnel of its own (no
// DNS record: the hostname is the balancer's) whose connectors run while
// it idles, so that Cloudflare checks the region through it; each public
// hostname has a monitor, a pool per region checked from the visitors'
// region, and a proxied balancer whose pools are the serving region's
// only, the primary's until a failover promotes the standby, the
// standby's after (what nfx failover switches through Cloudflare's API).
func TestLoadBalancer(t *testing.T) {
	for _, promoted := range []bool{false, true} {
		rec := &offline.Recorder{IDs: true}
		res, err := offline.RunWith(model.Cloud, raw(lbValues(promoted)), rec)
		if err != nil {
			t.Fatal(err)
		}
		var tunnels, records, pools []string
		for _, r := range res.Plan.Resources {
			switch r.Type {
			case "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared":
				tunnels = append(tunnels, r.Inputs["name"].(string))
			case "cloudflare:index/record:Record":
				records = append(records, r.Name)
			case "cloudflare:index/loadBalancerPool:LoadBalancerPool":
				pools = append(pools, r.Name)
				if !slices.Equal(r.Inputs["checkRegions"].([]any), []any{"SEAS"}) || r.Inputs["minimumOrigins"] != 1.0 {
					t.Errorf("%s: checked from %v, minimum %v", r.Name, r.Inputs["checkRegions"], r.Inputs["minimumOrigins"])
				}
				o := r.Inputs["origins"].([]any)[0].(map[string]any)
				if h := o["headers"].([]any)[0].(map[string]any); h["header"] != "Host" || h["values"].([]any)[0] != "crm.nextflow.example" {
					t.Errorf("%s: the origin's Host header %v: the tunnel's ingress would answer 404", r.Name, h)
				}
			case "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor":
				if r.Inputs["path"] != "/healthz" || r.Inputs["type"] != "https" || r.Inputs["expectedCodes"] != "2xx" {
					t.Errorf("monitor %v", r.Inputs)
				}
			}
		}
		slices.Sort(tunnels)
		if !slices.Equal(tunnels, []string{"nextflow-cloudflare-cloud", "nextflow-cloudflare-standby-cloud"}) {
			t.Errorf("tunnels %v", tunnels)
		}
		if !slices.Equal(records, []string{"nextflow-cloudflare-dns"}) {
			t.Errorf("DNS records %v, want the primary tunnel's only (the balancer takes precedence over it)", records)
		}
		slices.Sort(pools)
		wantPools := []string{"nextflow-lb-pool-ap-southeast-1-crm-nextflow-example", "nextflow-lb-pool-us-east-1-crm-nextflow-example"}
		if !slices.Equal(pools, wantPools) {
			t.Fatalf("pools %v", pools)
		}
		var lb map[string]any
		for _, r := range res.Plan.Resources {
			if r.Type == "cloudflare:index/loadBalancer:LoadBalancer" && r.Inputs["name"] == "crm.nextflow.example" {
				lb = r.Inputs
			}
		}
		if lb == nil {
			t.Fatal("no load balancer for crm.nextflow.example")
		}
		serving := wantPools[1]
		if promoted {
			serving = wantPools[0]
		}
		if d, f := poolOf(t, lb["defaultPoolIds"]), poolOf(t, lb["fallbackPoolId"]); d != serving || f != serving {
			t.Errorf("promoted %v: the balancer sends visitors to %s, falls back to %s; want %s", promoted, d, f, serving)
		}
		if n := at(standbyObject(res, "Deployment", model.PartTunnel), "spec", "replicas"); n != 2.0 && n != 2 {
			t.Errorf("promoted %v: the standby runs %v tunnel connectors, want 2 (its pool is checked through them)", promoted, n)
		}
		if n := at(primaryObject(res, "Deployment", model.PartTunnel), "spec", "replicas"); promoted && n != 0.0 && n != 0 {
			t.Errorf("promoted: the former primary runs %v connectors", n)
		}
		// cloudflared reads its token once: each cluster's pods name the
		// tunnel whose token they run with, so that another tunnel's
		// restarts them.
		for _, c := range []struct {
			obj  map[string]any
			want string
		}{{standbyObject(res, "Deployment", model.PartTunnel), "nextflow-cloudflare-standby"}, {primaryObject(res, "Deployment", model.PartTunnel), "nextflow-cloudflare"}} {
			if got := at(c.obj, "spec", "template", "metadata", "annotations", cloud.TunnelAnnotation); got != c.want {
				t.Errorf("promoted %v: cloudflared's pods name tunnel %v, want %s", promoted, got, c.want)
			}
		}
		if promoted {
			continue
		}
		// The pool names nfx failover finds the standby's by.
		for _, r := range res.Plan.Resources {
			if r.Name == wantPools[0] && r.Inputs["name"] != model.LBPoolName("cloud", "ap-southeast-1", "crm.nextflow.example") {
				t.Errorf("the standby's pool is named %v", r.Inputs["name"])
			}
		}
	}
}

// A load balancer needs a standby cluster and a tunnel nfx makes; its
// check region is one of Cloudflare's.
func TestLoadBalancerConfigErrors(t *testing.T) {
	cases := []struct {
		name   string
		values map[string]string
		want   string
	}{
		{"no standby cluster", map[string]string{"cloud": `{"loadBalancer": true}`, "tunnel": `{"mode": "managed", "hostname": "crm.nextflow.example", "accountId": "0123456789abcdef0123456789abcdef", "zoneId": "0123456789abcdef0123456789abcdef"}`}, "nextflow:cloud.loadBalancer"},
		{"a tunnel of the user's", func() map[string]string {
			v := lbValues(false)
			v["tunnel"] = `{"mode": "token", "hostname": "crm.nextflow.example"}`
			return v
		}(), `tunnel.mode is "token"`},
		{"an unknown check region", func() map[string]string {
			v := lbValues(false)
			v["cloud"] = strings.Replace(v["cloud"], `"loadBalancer":true`, `"loadBalancer":true,"healthCheckRegion":"APAC; rm -rf /"`, 1)
			return v
		}(), `"APAC; rm -rf /" is not a Cloudflare Load Balancing region`},
		{"a public service without an HTTP check", func() map[string]string {
			v := lbValues(false)
			v["services"] = `[{"name": "wiki", "image": "nginx:1.27", "port": 8080, "public": {"hostname": "wiki.nextflow.example"}}]`
			return v
		}(), "nextflow:services[0].health.http"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := offline.RunWith(model.Cloud, raw(tc.values), &offline.Recorder{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// With cloud.alarmEmail, Cloudflare tells that address when any pool of
// the balancers, either region's, turns unhealthy or healthy again (what
// shows a standby whose path broke before a failover needs it); without
// one, validation warns that no one is told.
func TestLoadBalancerHealthAlert(t *testing.T) {
	v := lbValues(false)
	v["cloud"] = strings.Replace(v["cloud"], `"loadBalancer":true`, `"loadBalancer":true,"alarmEmail":"ops@nextflow.example"`, 1)
	v["services"], v["secrets"] = testutil.ServicesConfig, testutil.ServicesSecrets
	res, err := offline.RunWith(model.Cloud, raw(v), &offline.Recorder{IDs: true})
	if err != nil {
		t.Fatal(err)
	}
	var pools []any
	var alerts []map[string]any
	for _, r := range res.Plan.Resources {
		switch r.Type {
		case "cloudflare:index/loadBalancerPool:LoadBalancerPool":
			pools = append(pools, r.Name)
		case "cloudflare:index/notificationPolicy:NotificationPolicy":
			alerts = append(alerts, r.Inputs)
		}
	}
	if len(alerts) != 1 {
		t.Fatalf("%d health alerts, want 1", len(alerts))
	}
	a := alerts[0]
	f, _ := a["filters"].(map[string]any)
	got, _ := f["poolIds"].([]any)
	slices.SortFunc(got, func(x, y any) int { return strings.Compare(x.(string), y.(string)) })
	slices.SortFunc(pools, func(x, y any) int { return strings.Compare(x.(string), y.(string)) })
	if len(pools) != 4 || !slices.Equal(got, pools) {
		t.Errorf("the alert watches pools %v, want every pool %v", got, pools)
	}
	if a["alertType"] != "load_balancing_health_alert" || a["enabled"] != true ||
		!slices.Equal(f["newHealths"].([]any), []any{"Unhealthy", "Healthy"}) || !slices.Equal(f["eventSources"].([]any), []any{"pool"}) {
		t.Errorf("alert %v", a)
	}
	if m := a["emailIntegrations"].([]any); len(m) != 1 || m[0].(map[string]any)["id"] != "ops@nextflow.example" {
		t.Errorf("the alert goes to %v", m)
	}
	// No address: no alert, and a warning under cloud.alarmEmail.
	res, err = offline.RunWith(model.Cloud, raw(lbValues(false)), &offline.Recorder{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Plan.Resources {
		if r.Type == "cloudflare:index/notificationPolicy:NotificationPolicy" {
			t.Errorf("an alert without an address: %v", r.Inputs)
		}
	}
	_, ds := model.Load("cloud", raw(lbValues(false)), model.LoadOptions{})
	warned := false
	for _, d := range ds.Warnings() {
		warned = warned || d.Path == "nextflow:cloud.alarmEmail"
	}
	if !warned {
		t.Errorf("no warning that no one hears of a pool's health: %v", ds)
	}
}
