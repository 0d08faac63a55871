package testutil

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Kube is a real Kubernetes control plane on loopback: Debian's etcd, and
// the kube-apiserver, kube-controller-manager and kube-scheduler that
// scripts/build-kube-tools.sh builds from k8s.io/kubernetes into bin/kube,
// with kwok's controller running the pods of the nodes a test registers.
// Every request goes through the API server's real validation, defaulting
// and admission (PodSecurity among them); the scheduler places pods; the
// controllers run Deployments, StatefulSets, DaemonSets, the volume binder
// and the namespace's deletion.
type Kube struct {
	URL    string
	Dir    string
	token  string
	client *http.Client
}

// KubeCluster starts a control plane for the test and stops it when the
// test ends. Where its binaries are missing it skips, or fails under the
// README's test command (NFX_REQUIRE_TOOLS).
func KubeCluster(t *testing.T) *Kube {
	t.Helper()
	bin := filepath.Join(RepoRoot(t), "bin", "kube")
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "stages.yaml"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			if os.Getenv(RequireToolsEnv) == "1" {
				t.Fatalf("bin/kube/%s is required (%s=1); run scripts/build-kube-tools.sh", b, RequireToolsEnv)
			}
			t.Skipf("bin/kube/%s is missing; skipping (scripts/build-kube-tools.sh builds it)", b)
		}
	}
	etcd := Tool(t, "etcd")
	dir := t.TempDir()
	k := &Kube{Dir: dir, token: "nfx-test-" + fmt.Sprint(time.Now().UnixNano())}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	saKey := write("sa.key", string(keyPEM))
	tokens := write("tokens.csv", k.token+",nfx-admin,nfx-admin,system:masters\n")
	etcdPort, peerPort, apiPort := FreePort(t), FreePort(t), FreePort(t)
	k.URL = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	kubeconfig := write("kubeconfig", fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: nfx, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: nfx, user: {token: %q}}]
contexts: [{name: nfx, context: {cluster: nfx, user: nfx}}]
current-context: nfx
`, k.URL, k.token))
	start := func(name string, args ...string) {
		log, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			log.Close()
			if t.Failed() {
				tail, _ := os.ReadFile(log.Name())
				if len(tail) > 3000 {
					tail = tail[len(tail)-3000:]
				}
				t.Logf("%s's log ends:\n%s", name, tail)
			}
		})
	}
	start("etcd", etcd, "--name", "nfx", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPort), "--advertise-client-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPort),
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort), "--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		"--initial-cluster", fmt.Sprintf("nfx=http://127.0.0.1:%d", peerPort))
	start("kube-apiserver", filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers", fmt.Sprintf("http://127.0.0.1:%d", etcdPort),
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", fmt.Sprint(apiPort),
		"--cert-dir", filepath.Join(dir, "certs"), "--token-auth-file", tokens, "--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc", "--service-account-key-file", saKey,
		"--service-account-signing-key-file", saKey, "--service-cluster-ip-range", "10.96.0.0/16",
		"--endpoint-reconciler-type", "none", "--allow-privileged=true")
	k.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if !k.Poll(90*time.Second, func() bool {
		code, body, _ := k.Do("GET", "/readyz", "", nil)
		return code == 200 && strings.TrimSpace(string(body)) == "ok"
	}) {
		t.Fatal("the API server did not become ready")
	}
	start("kube-controller-manager", filepath.Join(bin, "kube-controller-manager"),
		"--kubeconfig", kubeconfig, "--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", "0",
		"--service-account-private-key-file", saKey, "--use-service-account-credentials=false",
		"--controllers", "*")
	start("kube-scheduler", filepath.Join(bin, "kube-scheduler"), "--kubeconfig", kubeconfig, "--leader-elect=false",
		"--bind-address", "127.0.0.1", "--secure-port", "0")
	start("kwok", filepath.Join(bin, "kwok"), "--kubeconfig", kubeconfig, "--config", filepath.Join(bin, "stages.yaml"),
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector", "kwok.x-k8s.io/node=fake",
		"--server-address", fmt.Sprintf("127.0.0.1:%d", FreePort(t)))
	return k
}

// Token is the cluster administrator's bearer token.
func (k *Kube) Token() string { return k.token }

// CA is the certificate the API server made for itself (its own
// authority), which a client verifies it against.
func (k *Kube) CA(t *testing.T) []byte {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(k.Dir, "certs", "apiserver.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return pem
}

// Do sends one request to the API server as a cluster administrator.
func (k *Kube) Do(method, path, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, k.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+k.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// Get decodes one object or list.
func (k *Kube) Get(t *testing.T, path string) map[string]any {
	t.Helper()
	code, body, err := k.Do("GET", path, "", nil)
	if err != nil || code != 200 {
		t.Fatalf("GET %s: %d %v %s", path, code, err, body)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Poll calls ok every half second until it holds or the time is up; it
// bounds a wait, it times nothing.
func (k *Kube) Poll(limit time.Duration, ok func() bool) bool {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if ok() {
			return true
		}
	}
	return ok()
}
