//go:build !nfxfront

package cli

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"

	"github.com/nextflow-crm/nfx/internal/failover"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/promote"
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
	// A region's cluster as the program leaves it: its tunnel at tunnel
	// pods (idle: 0), its AI at none, the restore CronJob suspended (one
	// whose Job fails, its pod finding no node before its deadline, where
	// failing), the backup's suspended where idle.
	region := func(ns string, tunnel int, failing, stuck bool) {
		apply(map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}, "/api/v1/namespaces/"+ns)
		connector := pod("tunnel")
		if stuck {
			// Its pods find no node: the connectors are never ready.
			connector["spec"].(map[string]any)["nodeSelector"] = map[string]any{"no": "such-node"}
		}
		apply(map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": model.PartTunnel, "namespace": ns},
			"spec": map[string]any{"replicas": tunnel, "selector": map[string]any{"matchLabels": map[string]any{"app": "tunnel"}}, "template": connector}},
			"/apis/apps/v1/namespaces/"+ns+"/deployments/"+model.PartTunnel)
		apply(map[string]any{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": map[string]any{"name": model.PartAI, "namespace": ns},
			"spec": map[string]any{"replicas": 0, "serviceName": "ai", "selector": map[string]any{"matchLabels": map[string]any{"app": "ai"}}, "template": pod("ai")}},
			"/apis/apps/v1/namespaces/"+ns+"/statefulsets/"+model.PartAI)
		restore := map[string]any{"backoffLimit": 1, "template": pod("restore")}
		if failing {
			tmpl := pod("restore")
			tmpl["spec"].(map[string]any)["nodeSelector"] = map[string]any{"no": "such-node"}
			restore = map[string]any{"backoffLimit": 0, "activeDeadlineSeconds": 1, "template": tmpl}
		}
		apply(map[string]any{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": map[string]any{"name": model.RestoreJob, "namespace": ns},
			"spec": map[string]any{"schedule": "0 0 31 2 *", "suspend": true, "jobTemplate": map[string]any{"spec": restore}}},
			"/apis/batch/v1/namespaces/"+ns+"/cronjobs/"+model.RestoreJob)
		apply(map[string]any{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": map[string]any{"name": model.BackupJob, "namespace": ns},
			"spec": map[string]any{"schedule": "0 3 * * *", "suspend": tunnel == 0, "jobTemplate": map[string]any{"spec": map[string]any{"template": pod("restore")}}}},
			"/apis/batch/v1/namespaces/"+ns+"/cronjobs/"+model.BackupJob)
	}
	suspended := func(t *testing.T, ns, cronJob string) any {
		return kc.Get(t, fmt.Sprintf("/apis/batch/v1/namespaces/%s/cronjobs/%s", ns, cronJob))["spec"].(map[string]any)["suspend"]
	}
	replicas := func(t *testing.T, ns, resource, name string) any {
		return kc.Get(t, fmt.Sprintf("/apis/apps/v1/namespaces/%s/%s/%s", ns, resource, name))["spec"].(map[string]any)["replicas"]
	}
	ca := string(kc.CA(t))
	for i, c := range []struct {
		name         string
		args         []string
		setup        func(f *fakeAWS)
		failing      bool // the restore's Job fails
		noAI         bool // the standby has no AI set
		stuck        bool // the standby's connectors are never ready
		beside       bool // --restore-wait left to its default
		code         int
		msg          string
		served       bool // the standby's cluster serves
		restored     bool
		moved        bool // the database moved
		primaryAfter float64
		// lb: Cloudflare's load balancers in front (cloud.loadBalancer),
		// cfToken the token the failover holds ("" for the stand-in's).
		lb      bool
		cfToken string
		cf      func(*testutil.Cloudflare)
		// rehearse: the case is a rehearsal, which reads the same path
		// before its drill and changes neither cluster.
		rehearse bool
	}{
		{name: "planned", args: []string{"--planned"}, code: 0, msg: "its vector store restored from the replicated backups first", served: true, restored: true, moved: true, primaryAfter: 0},
		{name: "unplanned, the primary's region lost, the restore beside the connectors, load balanced", args: []string{"--unplanned"}, beside: true, code: 0, served: true, moved: true, primaryAfter: 2,
			msg: "its pools take no visitors", lb: true,
			setup: func(f *fakeAWS) { f.down[fakePrimary] = true }},
		{name: "planned, load balanced, Cloudflare refuses the token", args: []string{"--planned"}, code: ExitFailed, primaryAfter: 2,
			msg: "the Cloudflare API refuses the token", lb: true, cfToken: "n0t-the-t0ken"},
		{name: "planned, load balanced, the standby's pool unhealthy", args: []string{"--planned"}, code: ExitFailed, primaryAfter: 2,
			msg: "the standby's pool for crm.nextflow.example is not healthy", lb: true,
			cf: func(cf *testutil.Cloudflare) { cf.Health = map[string][]bool{"pool-s": {false, true, false}} }},
		{name: "unplanned, the primary answering, the restore first", args: []string{"--unplanned"}, code: 0, served: true, restored: true, moved: true, primaryAfter: 0,
			msg: "its vector store restored from the replicated backups first"},
		{name: "planned, the restore fails", args: []string{"--planned"}, code: 0, failing: true, served: true, moved: true, primaryAfter: 0,
			msg: "WARNING: the standby's vector-store restore failed"},
		{name: "planned, the standby's connectors never ready", args: []string{"--planned"}, code: ExitFailed, stuck: true, moved: true, primaryAfter: 2,
			msg: "the standby's cluster does not serve yet: the standby's tunnel has no ready connector after 10m0s (0 of 2 ready)"},
		{name: "planned, the standby's cluster unknown to EKS", args: []string{"--planned"}, code: ExitFailed, primaryAfter: 2,
			msg:   "the standby's cluster cannot be reached",
			setup: func(f *fakeAWS) { delete(f.clusters, fakeStandby+"/"+aws.ClusterName("cloud")) }},
		{name: "planned, the standby's cluster without its AI set", args: []string{"--planned"}, code: ExitFailed, primaryAfter: 2, noAI: true,
			msg: "the standby's cluster has no statefulsets ai"},
		{name: "rehearsal, load balanced", args: []string{"--rehearse"}, rehearse: true, code: 0, primaryAfter: 2, lb: true,
			msg: "the standby's cluster held what a failover starts, and the load balancers and the standby's healthy pools were ready to switch"},
		{name: "rehearsal, load balanced, Cloudflare refuses the token", args: []string{"--rehearse"}, rehearse: true, code: ExitFailed, primaryAfter: 2,
			msg: "a failover now would stop before it fences, so the rehearsal measured nothing and recorded nothing: the load balancers in front of the regions: the Cloudflare API refuses the token", lb: true, cfToken: "n0t-the-t0ken"},
		{name: "rehearsal, load balanced, the standby's pool unhealthy", args: []string{"--rehearse"}, rehearse: true, code: ExitFailed, primaryAfter: 2,
			msg: "the standby's pool for crm.nextflow.example is not healthy", lb: true,
			cf: func(cf *testutil.Cloudflare) { cf.Health = map[string][]bool{"pool-s": {false, false, true}} }},
		{name: "rehearsal, the standby's cluster without its AI set", args: []string{"--rehearse"}, rehearse: true, code: ExitFailed, primaryAfter: 2, noAI: true,
			msg: "a failover now would stop before it fences, so the rehearsal measured nothing and recorded nothing: the standby's cluster has no statefulsets ai"},
		{name: "rehearsal, a drill a stopped rehearsal left, Cloudflare refuses the token", args: []string{"--rehearse"}, rehearse: true, code: ExitFailed, primaryAfter: 2,
			msg: "the drill ap-southeast-1/nextflow-failover-drill-20261201t000000 a stopped rehearsal left is being deleted", lb: true, cfToken: "n0t-the-t0ken",
			setup: func(f *fakeAWS) {
				sb := f.db(fakeStandby, "nextflow-standby-postgres")
				f.dbs[fakeStandby+"/nextflow-failover-drill-20261201t000000"] = &fakeDB{region: fakeStandby, id: "nextflow-failover-drill-20261201t000000",
					name: failover.DrillName, group: sb.group, source: sb.arn(), class: sb.class, status: "available", address: "drill.xyz.ap-southeast-1.rds.amazonaws.com"}
			}},
		{name: "database only, the standby's cluster unknown to EKS", args: []string{"--planned", "--database-only"}, code: 0, moved: true, primaryAfter: 2,
			msg:   "RPO 0",
			setup: func(f *fakeAWS) { delete(f.clusters, fakeStandby+"/"+aws.ClusterName("cloud")) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, f, _ := failoverProject(t)
			setCloud(t, dir, "standbyCluster", "true")
			standbyNS, primaryNS := fmt.Sprintf("standby-%d", i), fmt.Sprintf("primary-%d", i)
			region(standbyNS, 0, c.failing, c.stuck)
			region(primaryNS, 2, false, false)
			// Each case's pods go with it: kwok plays every pod there is.
			t.Cleanup(func() {
				for _, ns := range []string{standbyNS, primaryNS} {
					_, _, _ = kc.Do("DELETE", "/api/v1/namespaces/"+ns, "", nil)
				}
			})
			if c.noAI {
				if code, body, err := kc.Do("DELETE", "/apis/apps/v1/namespaces/"+standbyNS+"/statefulsets/"+model.PartAI, "", nil); err != nil || code >= 300 {
					t.Fatalf("delete the AI set: %d %v %s", code, err, body)
				}
			}
			for _, r := range []string{fakePrimary, fakeStandby} {
				f.clusters[r+"/"+aws.ClusterName("cloud")] = [2]string{kc.URL, ca}
			}
			if c.setup != nil {
				c.setup(f)
			}
			// Cloudflare's balancer of the CRM's hostname, on the
			// primary's pool, as the program makes it.
			zero := strings.Repeat("0", 32)
			host := "crm.nextflow.example"
			cf := &testutil.Cloudflare{Account: zero, Zone: zero, Token: "cf-t0ken",
				LBs:   []testutil.CFLoadBalancer{{ID: "lb-crm", Name: host, DefaultPools: []string{"pool-p"}, FallbackPool: "pool-p"}},
				Pools: []testutil.CFPool{{ID: "pool-p", Name: model.LBPoolName("cloud", fakePrimary, host)}, {ID: "pool-s", Name: model.LBPoolName("cloud", fakeStandby, host)}}}
			if c.lb {
				setCloud(t, dir, "loadBalancer", "true")
				srv := httptest.NewServer(cf)
				t.Cleanup(srv.Close)
				api := cloudflareAPI
				cloudflareAPI = srv.URL
				t.Cleanup(func() { cloudflareAPI = api })
				if c.cf != nil {
					c.cf(cf)
				}
				tok := cmp.Or(c.cfToken, cf.Token)
				t.Setenv("CLOUDFLARE_API_TOKEN", tok)
			}
			// Each region's cluster is a namespace of the API server.
			open := openCluster
			openCluster = func(ctx context.Context, cfg awssdk.Config, r, cluster string) (failover.Cluster, error) {
				ns := map[string]string{fakePrimary: primaryNS, fakeStandby: standbyNS}[r]
				k, err := failover.EKS(ctx, cfg, r, cluster, ns)
				if err != nil {
					return nil, err
				}
				if tok, err := k.Token(ctx); err != nil {
					t.Errorf("EKS token: %v", err)
				} else if err := verifyRedirected(tok, r); err != nil {
					t.Errorf("EKS would refuse the token: %v", err)
				}
				k.Token = func(context.Context) (string, error) { return kc.Token(), nil }
				return k, nil
			}
			// The connectors' readiness and the restore take the API
			// server real time: each of the failover's waits on the
			// clusters, every 5 s of its clock, is a second of the
			// test's too (two minutes for the connectors to be ready,
			// twelve for the restore).
			sleep, poll := failoverSleep, failoverPoll
			failoverPoll = 5 * time.Second
			servingSleep = func(ctx context.Context, d time.Duration) error {
				if !c.stuck {
					time.Sleep(time.Second)
				}
				return sleep(ctx, d)
			}
			t.Cleanup(func() { servingSleep, failoverPoll = nil, poll })
			t.Cleanup(func() { openCluster = open })
			args := append([]string{"failover", "--stage", "cloud"}, c.args...)
			if !c.beside && !c.rehearse {
				args = append(args, "--restore-wait", "1h")
			}
			code, out, errOut := nfx(t, dir, args...)
			if c.lb {
				lb, _ := cf.Balancer(host)
				want := map[bool]string{true: "pool-s", false: "pool-p"}[c.served]
				if !slices.Equal(lb.DefaultPools, []string{want}) || lb.FallbackPool != want {
					t.Errorf("the balancer's pools %v, fallback %s; want %s", lb.DefaultPools, lb.FallbackPool, want)
				}
				if strings.Contains(out+errOut, os.Getenv("CLOUDFLARE_API_TOKEN")) {
					t.Error("the output holds the Cloudflare token")
				}
			}
			if c.beside && !strings.Contains(out+errOut, "runs beside the connectors (--restore-wait 0s)") {
				t.Errorf("no warning of the restore beside the connectors:\n%s%s", out, errOut)
			}
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
			if c.served || c.stuck {
				wantTunnel, wantAI = float64(model.Profiles[model.Cloud].Topology.EdgeReplicas), float64(cfg.AI.Replicas)
			}
			if got := replicas(t, standbyNS, "deployments", model.PartTunnel); got != wantTunnel {
				t.Errorf("the standby's connectors: %v, want %v", got, wantTunnel)
			}
			if !c.noAI {
				if got := replicas(t, standbyNS, "statefulsets", model.PartAI); got != wantAI {
					t.Errorf("the standby's AI pods: %v, want %v", got, wantAI)
				}
			}
			if got := replicas(t, primaryNS, "deployments", model.PartTunnel); got != c.primaryAfter {
				t.Errorf("the former primary's connectors: %v, want %v", got, c.primaryAfter)
			}
			jobs := kc.Get(t, "/apis/batch/v1/namespaces/"+standbyNS+"/jobs")["items"].([]any)
			if (len(jobs) == 1) != (c.served || c.stuck) {
				t.Errorf("the standby's restore Jobs: %d", len(jobs))
			}
			mark, _ := kc.Get(t, "/apis/batch/v1/namespaces/"+standbyNS+"/cronjobs/"+model.RestoreJob)["metadata"].(map[string]any)["annotations"].(map[string]any)
			if (mark["nextflow.io/restored-for"] != nil) != c.restored {
				t.Errorf("the restore's mark: %v", mark)
			}
			// The standby's store is backed up once restored; the former
			// primary's, once its connectors stop.
			if got := suspended(t, standbyNS, model.BackupJob); got != !c.restored {
				t.Errorf("the standby's backup suspended: %v", got)
			}
			if got := suspended(t, primaryNS, model.BackupJob); got != (c.served && c.primaryAfter == 0) {
				t.Errorf("the former primary's backup suspended: %v", got)
			}
			// A rehearsal makes its drill only where the path is whole, and
			// deletes one a stopped rehearsal left where it is not.
			left := strings.Contains(c.name, "a drill a stopped rehearsal left")
			if drill := c.rehearse && c.code == 0; (c.moved || drill || left) != (len(f.writes()) != 0) {
				t.Errorf("AWS changes: %v", f.writes())
			}
			for k := range f.dbs {
				if c.rehearse && strings.Contains(k, "drill") {
					t.Errorf("a drill left behind: %s", k)
				}
			}
			// A promotion is recorded, whether or not the traffic moved; a
			// rehearsal only where it measured a failover that would reach
			// the standby's cluster.
			kinds := map[string]int{}
			for _, e := range ledgerOf(t, dir) {
				kinds[e.Kind]++
			}
			if kinds[promote.KindFailover] != map[bool]int{true: 1}[c.moved] || kinds[promote.KindRehearsal] != map[bool]int{true: 1}[c.rehearse && c.code == 0] {
				t.Errorf("the ledger's entries: %v", kinds)
			}
		})
	}
}

// verifyRedirected checks an EKS token presigned while AWS_ENDPOINT_URL
// sends every service, STS among them, to the stand-in: its URL names the
// stand-in, which is put back to the region's STS, then checked as EKS
// checks it.
func verifyRedirected(tok, region string) error {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, "k8s-aws-v1."))
	if err != nil {
		return err
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		return err
	}
	if u.Scheme != "http" || !strings.HasPrefix(u.Host, "127.0.0.1:") {
		return fmt.Errorf("presigned for %s://%s, not the stand-in", u.Scheme, u.Host)
	}
	u.Scheme, u.Host = "https", "sts."+region+".amazonaws.com"
	return testutil.VerifyEKSToken("k8s-aws-v1."+base64.RawURLEncoding.EncodeToString([]byte(u.String())), region, time.Now())
}
