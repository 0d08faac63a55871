//go:build !nfxfront

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"

	"github.com/nextflow-crm/nfx/internal/failover"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/provider/aws"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// With a standby cluster, a failover moves the traffic with the database,
// through EKS (DescribeCluster, against the AWS stand-in) and the
// clusters' Kubernetes APIs (a real API server, each region's cluster a
// namespace of it; its own token stands in for EKS's, whose format
// internal/failover checks): the standby's tunnel connectors and AI pods
// start, its vector store's restore starts, and once its connectors are
// ready the former primary's stop. A standby cluster that does not answer
// stops the failover before anything changes; a lost primary region leaves
// its connectors, reported.
func TestFailoverMovesTheTraffic(t *testing.T) {
	kc := testutil.KubeCluster(t)
	apply := func(obj map[string]any, path string) {
		t.Helper()
		body, _ := json.Marshal(obj)
		code, out, err := kc.Do("PATCH", path+"?fieldManager=nfx&force=true", "application/apply-patch+yaml", body)
		if err != nil || code >= 300 {
			t.Fatalf("apply %s: %d %v %s", path, code, err, out)
		}
	}
	apply(map[string]any{"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{"name": "general-1", "annotations": map[string]any{"kwok.x-k8s.io/node": "fake"},
			"labels": map[string]any{"kubernetes.io/hostname": "general-1", "type": "kwok"}},
		"status": map[string]any{"capacity": map[string]any{"cpu": "8", "memory": "32Gi", "pods": "58"}, "allocatable": map[string]any{"cpu": "8", "memory": "32Gi", "pods": "58"}}},
		"/api/v1/nodes/general-1")
	pod := func(name string) map[string]any {
		return map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": name}},
			"spec": map[string]any{"restartPolicy": map[bool]string{true: "Never", false: "Always"}[name == "restore"],
				"containers": []any{map[string]any{"name": name, "image": "registry.example/" + name + ":1"}}}}
	}
	// A region's cluster as the program leaves it: its tunnel and AI at
	// tunnel pods (idle: 0), the restore CronJob suspended.
	region := func(ns string, tunnel int) {
		apply(map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}, "/api/v1/namespaces/"+ns)
		apply(map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": model.PartTunnel, "namespace": ns},
			"spec": map[string]any{"replicas": tunnel, "selector": map[string]any{"matchLabels": map[string]any{"app": "tunnel"}}, "template": pod("tunnel")}},
			"/apis/apps/v1/namespaces/"+ns+"/deployments/"+model.PartTunnel)
		apply(map[string]any{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": map[string]any{"name": model.PartAI, "namespace": ns},
			"spec": map[string]any{"replicas": 0, "serviceName": "ai", "selector": map[string]any{"matchLabels": map[string]any{"app": "ai"}}, "template": pod("ai")}},
			"/apis/apps/v1/namespaces/"+ns+"/statefulsets/"+model.PartAI)
		apply(map[string]any{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": map[string]any{"name": model.RestoreJob, "namespace": ns},
			"spec": map[string]any{"schedule": "0 0 31 2 *", "suspend": true, "jobTemplate": map[string]any{"spec": map[string]any{"backoffLimit": 1, "template": pod("restore")}}}},
			"/apis/batch/v1/namespaces/"+ns+"/cronjobs/"+model.RestoreJob)
	}
	replicas := func(ns, resource, name string) any {
		return kc.Get(t, fmt.Sprintf("/apis/apps/v1/namespaces/%s/%s/%s", ns, resource, name))["spec"].(map[string]any)["replicas"]
	}
	ca := string(kc.CA(t))
	for i, c := range []struct {
		name         string
		args         []string
		setup        func(f *fakeAWS)
		code         int
		msg          string
		served       bool
		primaryAfter float64
	}{
		{name: "planned", args: []string{"--planned"}, code: 0, msg: "the standby's cluster serves from", served: true, primaryAfter: 0},
		{name: "unplanned, the primary's region lost", args: []string{"--unplanned"}, code: 0, served: true, primaryAfter: 2,
			msg:   "WARNING: the former primary's tunnel connectors were not stopped",
			setup: func(f *fakeAWS) { f.down[fakePrimary] = true }},
		{name: "planned, the standby's cluster unknown to EKS", args: []string{"--planned"}, code: ExitFailed, primaryAfter: 2,
			msg:   "the standby's cluster does not answer",
			setup: func(f *fakeAWS) { delete(f.clusters, fakeStandby+"/"+aws.ClusterName("cloud")) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, f, _ := failoverProject(t)
			setCloud(t, dir, "standbyCluster", "true")
			standbyNS, primaryNS := fmt.Sprintf("standby-%d", i), fmt.Sprintf("primary-%d", i)
			region(standbyNS, 0)
			region(primaryNS, 2)
			for _, r := range []string{fakePrimary, fakeStandby} {
				f.clusters[r+"/"+aws.ClusterName("cloud")] = [2]string{kc.URL, ca}
			}
			if c.setup != nil {
				c.setup(f)
			}
			// Each region's cluster is a namespace of the API server.
			open := openCluster
			openCluster = func(ctx context.Context, cfg awssdk.Config, r, cluster string) (failover.Cluster, error) {
				ns := map[string]string{fakePrimary: primaryNS, fakeStandby: standbyNS}[r]
				k, err := failover.EKS(ctx, cfg, r, cluster, ns)
				if err != nil {
					return nil, err
				}
				if tok, err := k.Token(ctx); err != nil || !strings.HasPrefix(tok, "k8s-aws-v1.") {
					t.Errorf("EKS token %q: %v", tok, err)
				}
				k.Token = func(context.Context) (string, error) { return kc.Token(), nil }
				return k, nil
			}
			// The connectors' readiness takes the API server real time.
			sleep := failoverSleep
			failoverSleep = func(ctx context.Context, d time.Duration) error {
				time.Sleep(250 * time.Millisecond)
				return sleep(ctx, d)
			}
			t.Cleanup(func() { openCluster = open })
			code, out, errOut := nfx(t, dir, append([]string{"failover", "--stage", "cloud"}, c.args...)...)
			if code != c.code || !strings.Contains(out+errOut, c.msg) {
				t.Fatalf("exit %d, want %d with %q:\n%s%s", code, c.code, c.msg, out, errOut)
			}
			file := filepath.Join(dir, "Pulumi.cloud.yaml")
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			raw, _, err := model.ParseStackFile(file, data)
			if err != nil {
				t.Fatal(err)
			}
			cfg, ds := model.Load("cloud", raw, model.LoadOptions{})
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			wantTunnel, wantAI := 0.0, 0.0
			if c.served {
				wantTunnel, wantAI = float64(model.Profiles[model.Cloud].Topology.EdgeReplicas), float64(cfg.AI.Replicas)
			}
			if got := replicas(standbyNS, "deployments", model.PartTunnel); got != wantTunnel {
				t.Errorf("the standby's connectors: %v, want %v", got, wantTunnel)
			}
			if got := replicas(standbyNS, "statefulsets", model.PartAI); got != wantAI {
				t.Errorf("the standby's AI pods: %v, want %v", got, wantAI)
			}
			if got := replicas(primaryNS, "deployments", model.PartTunnel); got != c.primaryAfter {
				t.Errorf("the former primary's connectors: %v, want %v", got, c.primaryAfter)
			}
			code, _, _ = kc.Do("GET", "/apis/batch/v1/namespaces/"+standbyNS+"/jobs/"+model.RestoreJob+"-failover", "", nil)
			if (code == 200) != c.served {
				t.Errorf("the standby's restore Job: %d", code)
			}
			if !c.served && len(f.writes()) != 0 {
				t.Errorf("AWS changed before the standby's cluster answered: %v", f.writes())
			}
		})
	}
}
