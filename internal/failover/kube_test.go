package failover_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
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
// (testutil.VerifyEKSToken, aws-iam-authenticator's Verify): an
// X-Amz-Expires among them, which the SDK's presigner leaves out; the
// cluster's name is signed, only host beside it, and the secret key is not
// in it.
func TestEKSToken(t *testing.T) {
	cfg := aws.Config{Region: "ap-southeast-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDNFXTEST", "s3cr3t-key-nfx", "session-token-nfx")}
	tok, err := failover.EKSToken(context.Background(), sts.NewPresignClient(sts.NewFromConfig(cfg)), "nextflow-cloud")
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.VerifyEKSToken(tok, "ap-southeast-1", time.Now()); err != nil {
		t.Fatalf("EKS would refuse the token: %v", err)
	}
	if strings.Contains(tok, "s3cr3t") {
		t.Fatal("the secret key is in the token")
	}
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, "k8s-aws-v1."))
	u, _ := url.Parse(string(raw))
	if got := u.Query().Get("X-Amz-SignedHeaders"); got != "host;x-k8s-aws-id" {
		t.Errorf("signed headers %q", got)
	}
	if u.Query().Get("X-Amz-Security-Token") != "session-token-nfx" {
		t.Error("a session's token is not in the presigned request")
	}
	// The authenticator's own refusals, so that the check above can fail.
	for name, bad := range map[string]string{
		"no expiry":     strings.Replace(string(raw), "X-Amz-Expires=60&", "", 1),
		"another host":  strings.Replace(string(raw), "sts.ap-southeast-1.amazonaws.com", "sts.example.com", 1),
		"extra param":   string(raw) + "&Evil=1",
		"other action":  strings.Replace(string(raw), "Action=GetCallerIdentity", "Action=AssumeRole", 1),
		"header unsign": strings.Replace(string(raw), "x-k8s-aws-id", "x-other", 1),
	} {
		if err := testutil.VerifyEKSToken("k8s-aws-v1."+base64.RawURLEncoding.EncodeToString([]byte(bad)), "ap-southeast-1", time.Now()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := testutil.VerifyEKSToken(tok, "ap-southeast-1", time.Now().Add(20*time.Minute)); err == nil {
		t.Error("a token of 20 minutes ago accepted")
	}
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
	// The Job runs to its end (kwok completes its pod); done, it is
	// left as it is.
	if !kc.Poll(2*time.Minute, func() bool {
		done, failed, err := k.JobDone(ctx, "restore-qdrant-failover")
		return err == nil && done && !failed
	}) {
		t.Fatalf("the restore Job: %v", kc.Get(t, "/apis/batch/v1/namespaces/nextflow/jobs/restore-qdrant-failover")["status"])
	}
	uid := func(name string) any {
		return kc.Get(t, "/apis/batch/v1/namespaces/nextflow/jobs/"+name)["metadata"].(map[string]any)["uid"]
	}
	was := uid("restore-qdrant-failover")
	if err := k.StartJob(ctx, "restore-qdrant", "restore-qdrant-failover"); err != nil || uid("restore-qdrant-failover") != was {
		t.Errorf("a finished Job was made again: %v", err)
	}
	// A Job that failed (its pod finds no node before its deadline) is
	// made again.
	failing := pod("restore")
	failing["spec"].(map[string]any)["restartPolicy"] = "Never"
	failing["spec"].(map[string]any)["nodeSelector"] = map[string]any{"no": "such-node"}
	apply("nfx", map[string]any{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": map[string]any{"name": "restore-failing", "namespace": "nextflow"},
		"spec": map[string]any{"schedule": "0 0 31 2 *", "suspend": true, "jobTemplate": map[string]any{
			"spec": map[string]any{"backoffLimit": 0, "activeDeadlineSeconds": 1, "template": failing}}}},
		"/apis/batch/v1/namespaces/nextflow/cronjobs/restore-failing")
	if err := k.StartJob(ctx, "restore-failing", "restore-failing-run"); err != nil {
		t.Fatal(err)
	}
	if !kc.Poll(2*time.Minute, func() bool {
		done, failed, err := k.JobDone(ctx, "restore-failing-run")
		return err == nil && done && failed
	}) {
		t.Fatalf("the failing Job: %v", kc.Get(t, "/apis/batch/v1/namespaces/nextflow/jobs/restore-failing-run")["status"])
	}
	failed := uid("restore-failing-run")
	if err := k.StartJob(ctx, "restore-failing", "restore-failing-run"); err != nil {
		t.Fatal(err)
	}
	if again := uid("restore-failing-run"); again == failed {
		t.Error("a failed Job was not made again")
	}
	// Suspend, and the mark a restore leaves on its CronJob.
	if err := k.Suspend(ctx, "restore-qdrant", false); err != nil {
		t.Fatal(err)
	}
	if err := k.Mark(ctx, "restore-qdrant", "nextflow.io/restored-for", "restore-qdrant-1a2b"); err != nil {
		t.Fatal(err)
	}
	cj := kc.Get(t, "/apis/batch/v1/namespaces/nextflow/cronjobs/restore-qdrant")
	if cj["spec"].(map[string]any)["suspend"] != false {
		t.Error("the CronJob is still suspended")
	}
	if got, err := k.Marked(ctx, "restore-qdrant", "nextflow.io/restored-for"); err != nil || got != "restore-qdrant-1a2b" {
		t.Errorf("mark %q: %v", got, err)
	}
	if err := k.Exists(ctx, "statefulsets", "ai"); err != nil {
		t.Error(err)
	}
	err := k.Scale(ctx, "deployments", "nope", 1)
	if err == nil || !strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), kc.Token()) {
		t.Errorf("a missing Deployment: %v", err)
	}
	if _, err := k.Ready(ctx, "statefulsets", "nope"); err == nil {
		t.Error("a missing StatefulSet reads as ready")
	}
	var ke *failover.KubeError
	if err := k.Exists(ctx, "cronjobs", "nope"); !errors.As(err, &ke) || ke.Code != 404 {
		t.Errorf("a missing CronJob: %v", err)
	}
	if err := k.StartJob(ctx, "nope", "nope-run"); err == nil {
		t.Error("a Job from a missing CronJob")
	}
}
