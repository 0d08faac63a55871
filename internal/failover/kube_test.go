package failover_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/nextflow-crm/nfx/internal/failover"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// The token passes what EKS's authenticator checks before it asks STS
// (aws-iam-authenticator, pkg/token/token.go, Verify): its prefix and
// size, an https URL to the region's STS, only the query parameters it
// allows, GetCallerIdentity, and the cluster's name among the signed
// headers, so that a token for one cluster is refused by another. The
// secret key is not in it.
func TestEKSToken(t *testing.T) {
	cfg := aws.Config{Region: "ap-southeast-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDNFXTEST", "s3cr3t-key-nfx", "")}
	tok, err := failover.EKSToken(context.Background(), sts.NewPresignClient(sts.NewFromConfig(cfg)), "nextflow-cloud")
	if err != nil {
		t.Fatal(err)
	}
	rest, ok := strings.CutPrefix(tok, "k8s-aws-v1.")
	if !ok || len(tok) > 4096 || strings.Contains(tok, "s3cr3t") {
		t.Fatalf("token %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "https" || u.Host != "sts.ap-southeast-1.amazonaws.com" {
		t.Errorf("presigned for %s://%s", u.Scheme, u.Host)
	}
	allowed := map[string]bool{"action": true, "version": true, "x-amz-algorithm": true, "x-amz-credential": true, "x-amz-date": true,
		"x-amz-expires": true, "x-amz-security-token": true, "x-amz-signature": true, "x-amz-signedheaders": true}
	q := u.Query()
	for k := range q {
		if !allowed[strings.ToLower(k)] {
			t.Errorf("query parameter %s, which the authenticator refuses", k)
		}
	}
	if q.Get("Action") != "GetCallerIdentity" || q.Get("Version") != "2011-06-15" {
		t.Errorf("action %q version %q", q.Get("Action"), q.Get("Version"))
	}
	if signed := strings.Split(q.Get("X-Amz-SignedHeaders"), ";"); !contains(signed, "x-k8s-aws-id") || !contains(signed, "host") {
		t.Errorf("signed headers %v: the cluster's name is not signed", signed)
	}
	if !strings.Contains(q.Get("X-Amz-Credential"), "/ap-southeast-1/sts/aws4_request") {
		t.Errorf("credential scope %q", q.Get("X-Amz-Credential"))
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// The failover's requests on a real API server: it scales a Deployment and
// a StatefulSet through their scale subresource, reads their ready pods,
// and starts a Job from a CronJob's template once (a second start is no
// error and no second Job). The count it sets is its own field: the
// program's next apply, which leaves the count out for an autoscaler, does
// not take it back. A missing object's error names it and says nothing of
// the token.
func TestKubeAPIOnARealAPIServer(t *testing.T) {
	kc := testutil.KubeCluster(t)
	apply := func(manager string, obj map[string]any, path string) {
		t.Helper()
		body, _ := json.Marshal(obj)
		code, out, err := kc.Do("PATCH", path+"?fieldManager="+manager+"&force=true", "application/apply-patch+yaml", body)
		if err != nil || code >= 300 {
			t.Fatalf("apply %s: %d %v %s", path, code, err, out)
		}
	}
	apply("nfx", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "nextflow"}}, "/api/v1/namespaces/nextflow")
	apply("nfx", map[string]any{"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{"name": "general-1", "annotations": map[string]any{"kwok.x-k8s.io/node": "fake"},
			"labels": map[string]any{"kubernetes.io/hostname": "general-1", "type": "kwok"}},
		"status": map[string]any{"capacity": map[string]any{"cpu": "4", "memory": "16Gi", "pods": "58"}, "allocatable": map[string]any{"cpu": "4", "memory": "16Gi", "pods": "58"}}},
		"/api/v1/nodes/general-1")
	pod := func(name string) map[string]any {
		return map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": name}},
			"spec": map[string]any{"containers": []any{map[string]any{"name": name, "image": "registry.example/" + name + ":1"}}}}
	}
	set := func(replicas any) map[string]any {
		spec := map[string]any{"serviceName": "ai", "selector": map[string]any{"matchLabels": map[string]any{"app": "ai"}}, "template": pod("ai")}
		if replicas != nil {
			spec["replicas"] = replicas
		}
		return map[string]any{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": map[string]any{"name": "ai", "namespace": "nextflow"}, "spec": spec}
	}
	apply("nfx", map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "tunnel", "namespace": "nextflow"},
		"spec": map[string]any{"replicas": 0, "selector": map[string]any{"matchLabels": map[string]any{"app": "tunnel"}}, "template": pod("tunnel")}},
		"/apis/apps/v1/namespaces/nextflow/deployments/tunnel")
	apply("nfx", set(0), "/apis/apps/v1/namespaces/nextflow/statefulsets/ai")
	job := pod("restore")
	job["spec"].(map[string]any)["restartPolicy"] = "Never"
	apply("nfx", map[string]any{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": map[string]any{"name": "restore-qdrant", "namespace": "nextflow"},
		"spec": map[string]any{"schedule": "0 0 31 2 *", "suspend": true, "jobTemplate": map[string]any{
			"metadata": map[string]any{"labels": map[string]any{"app": "restore"}},
			"spec":     map[string]any{"backoffLimit": 1, "template": job}}}},
		"/apis/batch/v1/namespaces/nextflow/cronjobs/restore-qdrant")

	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(kc.CA(t)) {
		t.Fatal("the API server's certificate")
	}
	k := &failover.KubeAPI{URL: kc.URL, Namespace: "nextflow",
		Client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}},
		Token:  func(context.Context) (string, error) { return kc.Token(), nil }}
	ctx := context.Background()
	if err := k.Scale(ctx, "deployments", "tunnel", 2); err != nil {
		t.Fatal(err)
	}
	if err := k.Scale(ctx, "statefulsets", "ai", 2); err != nil {
		t.Fatal(err)
	}
	if !kc.Poll(2*time.Minute, func() bool {
		n, err := k.Ready(ctx, "deployments", "tunnel")
		return err == nil && n == 2
	}) {
		t.Fatalf("the tunnel's pods: %v", kc.Get(t, "/apis/apps/v1/namespaces/nextflow/deployments/tunnel")["status"])
	}
	for i := 0; i < 2; i++ {
		if err := k.StartJob(ctx, "restore-qdrant", "restore-qdrant-failover"); err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
	}
	jobs := kc.Get(t, "/apis/batch/v1/namespaces/nextflow/jobs")["items"].([]any)
	if len(jobs) != 1 {
		t.Fatalf("%d jobs, want one", len(jobs))
	}
	j := jobs[0].(map[string]any)
	md := j["metadata"].(map[string]any)
	owner, _ := md["ownerReferences"].([]any)
	if md["name"] != "restore-qdrant-failover" || len(owner) != 1 || owner[0].(map[string]any)["name"] != "restore-qdrant" ||
		md["labels"].(map[string]any)["app"] != "restore" {
		t.Errorf("job metadata %v", md)
	}
	// The program's next apply leaves the count to the autoscaler.
	apply("nfx", set(nil), "/apis/apps/v1/namespaces/nextflow/statefulsets/ai")
	if got := kc.Get(t, "/apis/apps/v1/namespaces/nextflow/statefulsets/ai")["spec"].(map[string]any)["replicas"]; got != 2.0 {
		t.Errorf("the AI's count after the program's apply: %v, want the failover's 2", got)
	}
	err := k.Scale(ctx, "deployments", "nope", 1)
	if err == nil || !strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), kc.Token()) {
		t.Errorf("a missing Deployment: %v", err)
	}
	if _, err := k.Ready(ctx, "statefulsets", "nope"); err == nil {
		t.Error("a missing StatefulSet reads as ready")
	}
	if err := k.StartJob(ctx, "nope", "nope-run"); err == nil {
		t.Error("a Job from a missing CronJob")
	}
}
