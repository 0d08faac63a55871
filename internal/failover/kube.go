package failover

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// KubeAPI is a namespace of a cluster's Kubernetes API, over HTTPS with a
// bearer token: the few requests a failover makes, as kubectl makes them.
type KubeAPI struct {
	URL       string
	Namespace string
	Client    *http.Client
	// Token is the bearer token, asked for each request (an EKS token
	// lasts 15 minutes; a failover's waits run longer).
	Token func(context.Context) (string, error)
}

// FieldManager names nfx failover's changes in the objects' managed
// fields: the scale it sets stays when the program's up later leaves the
// count to an autoscaler.
const FieldManager = "nfx-failover"

func (k *KubeAPI) do(ctx context.Context, method, path, contentType string, body []byte) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, method, k.URL+path, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	tok, err := k.Token(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("a token for %s: %w", k.URL, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := k.Client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		// The API's Status message, never the request (it holds no
		// secret, but the token is in its headers).
		var st struct{ Message string }
		_ = json.Unmarshal(out, &st)
		return out, resp.StatusCode, &KubeError{Code: resp.StatusCode, Message: st.Message, Request: method + " " + path}
	}
	return out, resp.StatusCode, nil
}

func (k *KubeAPI) path(group, resource, name string) string {
	return fmt.Sprintf("/apis/%s/namespaces/%s/%s/%s", group, url.PathEscape(k.Namespace), resource, url.PathEscape(name))
}

// Scale implements Cluster.
func (k *KubeAPI) Scale(ctx context.Context, resource, name string, replicas int) error {
	body, _ := json.Marshal(map[string]any{"spec": map[string]any{"replicas": replicas}})
	_, _, err := k.do(ctx, "PATCH", k.path("apps/v1", resource, name)+"/scale?fieldManager="+FieldManager, "application/merge-patch+json", body)
	return err
}

// Ready implements Cluster.
func (k *KubeAPI) Ready(ctx context.Context, resource, name string) (int, error) {
	out, _, err := k.do(ctx, "GET", k.path("apps/v1", resource, name), "", nil)
	if err != nil {
		return 0, err
	}
	var obj struct {
		Status struct {
			ReadyReplicas int `json:"readyReplicas"`
		} `json:"status"`
	}
	err = json.Unmarshal(out, &obj)
	return obj.Status.ReadyReplicas, err
}

// groups are the API groups of the resources a failover reads.
var groups = map[string]string{"deployments": "apps/v1", "statefulsets": "apps/v1", "cronjobs": "batch/v1", "jobs": "batch/v1"}

// Exists implements Cluster.
func (k *KubeAPI) Exists(ctx context.Context, resource, name string) error {
	_, _, err := k.do(ctx, "GET", k.path(groups[resource], resource, name), "", nil)
	return err
}

// JobDone implements Cluster: a Job is done when its Complete or Failed
// condition holds.
func (k *KubeAPI) JobDone(ctx context.Context, name string) (done, failed bool, err error) {
	out, _, err := k.do(ctx, "GET", k.path("batch/v1", "jobs", name), "", nil)
	if err != nil {
		return false, false, err
	}
	var job struct {
		Status struct {
			Conditions []struct{ Type, Status string } `json:"conditions"`
		} `json:"status"`
	}
	if err := json.Unmarshal(out, &job); err != nil {
		return false, false, err
	}
	for _, c := range job.Status.Conditions {
		if c.Status != "True" {
			continue
		}
		switch c.Type {
		case "Complete":
			return true, false, nil
		case "Failed":
			return true, true, nil
		}
	}
	return false, false, nil
}

// Suspend implements Cluster.
func (k *KubeAPI) Suspend(ctx context.Context, cronJob string, suspend bool) error {
	body, _ := json.Marshal(map[string]any{"spec": map[string]any{"suspend": suspend}})
	_, _, err := k.do(ctx, "PATCH", k.path("batch/v1", "cronjobs", cronJob)+"?fieldManager="+FieldManager, "application/merge-patch+json", body)
	return err
}

// Marked implements Cluster.
func (k *KubeAPI) Marked(ctx context.Context, cronJob, key string) (string, error) {
	out, _, err := k.do(ctx, "GET", k.path("batch/v1", "cronjobs", cronJob), "", nil)
	if err != nil {
		return "", err
	}
	var obj struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	err = json.Unmarshal(out, &obj)
	return obj.Metadata.Annotations[key], err
}

// Mark implements Cluster.
func (k *KubeAPI) Mark(ctx context.Context, cronJob, key, value string) error {
	body, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{key: value}}})
	_, _, err := k.do(ctx, "PATCH", k.path("batch/v1", "cronjobs", cronJob)+"?fieldManager="+FieldManager, "application/merge-patch+json", body)
	return err
}

// StartJob implements Cluster.
func (k *KubeAPI) StartJob(ctx context.Context, cronJob, name string) error {
	// A Job of that name from an earlier run: left while it runs or once
	// it is done, made again if it failed.
	switch _, failed, err := k.JobDone(ctx, name); {
	case err == nil && failed:
		if _, _, err := k.do(ctx, "DELETE", k.path("batch/v1", "jobs", name)+"?propagationPolicy=Background", "", nil); err != nil {
			return fmt.Errorf("delete the failed Job %s: %w", name, err)
		}
		for i := 0; i < 30; i++ {
			if err := k.Exists(ctx, "jobs", name); kubeCode(err) == http.StatusNotFound {
				break
			}
			time.Sleep(time.Second)
		}
	case err == nil:
		return nil
	case kubeCode(err) != http.StatusNotFound:
		return err
	}
	out, _, err := k.do(ctx, "GET", k.path("batch/v1", "cronjobs", cronJob), "", nil)
	if err != nil {
		return err
	}
	var cj struct {
		Metadata struct {
			UID string `json:"uid"`
		} `json:"metadata"`
		Spec struct {
			JobTemplate struct {
				Metadata map[string]any `json:"metadata"`
				Spec     map[string]any `json:"spec"`
			} `json:"jobTemplate"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(out, &cj); err != nil {
		return err
	}
	labels, _ := cj.Spec.JobTemplate.Metadata["labels"].(map[string]any)
	job := map[string]any{
		"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": name, "namespace": k.Namespace, "labels": labels,
			// As kubectl marks a Job it makes from a CronJob.
			"annotations": map[string]any{"cronjob.kubernetes.io/instantiate": "manual"},
			"ownerReferences": []any{map[string]any{"apiVersion": "batch/v1", "kind": "CronJob", "name": cronJob,
				"uid": cj.Metadata.UID, "controller": true}}},
		"spec": cj.Spec.JobTemplate.Spec,
	}
	body, _ := json.Marshal(job)
	_, code, err := k.do(ctx, "POST", fmt.Sprintf("/apis/batch/v1/namespaces/%s/jobs?fieldManager=%s", url.PathEscape(k.Namespace), FieldManager), "application/json", body)
	if code == http.StatusConflict {
		return nil // started by an earlier run
	}
	return err
}

// EKS opens namespace of an EKS cluster: its endpoint and certificate
// authority from EKS (DescribeCluster), and tokens as `aws eks get-token`
// makes them.
func EKS(ctx context.Context, cfg aws.Config, region, cluster, namespace string) (*KubeAPI, error) {
	out, err := eks.NewFromConfig(cfg, func(o *eks.Options) { o.Region = region }).DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(cluster)})
	if err != nil {
		return nil, fmt.Errorf("EKS cluster %s in %s: %w", cluster, region, err)
	}
	c := out.Cluster
	if c == nil || aws.ToString(c.Endpoint) == "" || c.CertificateAuthority == nil {
		return nil, fmt.Errorf("EKS cluster %s in %s reports no endpoint (status %v)", cluster, region, c)
	}
	ca, err := base64.StdEncoding.DecodeString(aws.ToString(c.CertificateAuthority.Data))
	if err != nil {
		return nil, fmt.Errorf("EKS cluster %s: its certificate authority: %w", cluster, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("EKS cluster %s: its certificate authority holds no certificate", cluster)
	}
	presign := sts.NewPresignClient(sts.NewFromConfig(cfg, func(o *sts.Options) { o.Region = region }))
	return &KubeAPI{
		URL: aws.ToString(c.Endpoint), Namespace: namespace,
		Client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			// As kubectl and the AWS SDK: HTTPS_PROXY and NO_PROXY.
			Proxy:           http.ProxyFromEnvironment,
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		}},
		Token: func(ctx context.Context) (string, error) { return EKSToken(ctx, presign, cluster) },
	}, nil
}

// EKSToken is a bearer token for an EKS cluster, in aws-iam-authenticator's
// format, which EKS's authenticator verifies: "k8s-aws-v1." and, base64url
// without padding, an STS GetCallerIdentity request presigned in the
// client's region with the cluster's name in its signed x-k8s-aws-id
// header and an X-Amz-Expires of 60, which the authenticator requires
// (0 to 900) and the SDK's presigner does not set. STS answers it for 15
// minutes (aws-iam-authenticator, pkg/token/token.go).
func EKSToken(ctx context.Context, presign *sts.PresignClient, cluster string) (string, error) {
	req, err := presign.PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.PresignOptions) {
		o.ClientOptions = append(o.ClientOptions, func(so *sts.Options) {
			so.APIOptions = append(so.APIOptions, smithyhttp.AddHeaderValue("x-k8s-aws-id", cluster), presignExpires)
		})
	})
	if err != nil {
		return "", err
	}
	return "k8s-aws-v1." + base64.RawURLEncoding.EncodeToString([]byte(req.URL)), nil
}

// presignExpires adds X-Amz-Expires=60 to the request before it is signed,
// as aws-iam-authenticator's own client does.
func presignExpires(stack *middleware.Stack) error {
	return stack.Build.Add(middleware.BuildMiddlewareFunc("nfxPresignExpires", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
		if req, ok := in.Request.(*smithyhttp.Request); ok {
			q := req.URL.Query()
			q.Set("X-Amz-Expires", "60")
			req.URL.RawQuery = q.Encode()
		}
		return next.HandleBuild(ctx, in)
	}), middleware.After)
}
