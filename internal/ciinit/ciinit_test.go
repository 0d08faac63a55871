package ciinit

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// The GitHub workflows pass actionlint (with shellcheck on their scripts)
// with no finding.
func TestGitHubWorkflowsPassActionlint(t *testing.T) {
	actionlint := testutil.Tool(t, "actionlint")
	testutil.Tool(t, "shellcheck")
	set, err := Files("github")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := files.WriteDir(dir, set); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range set {
		paths = append(paths, filepath.Join(dir, f.Path))
	}
	cmd := exec.Command(actionlint, append([]string{"-shellcheck", testutil.Tool(t, "shellcheck")}, paths...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
	for _, want := range []string{"environment: server", "environment: cloud", "needs: [promote-server]", "workflow_dispatch", "gh pr comment", "cache-dependency-path: go.sum"} {
		if !strings.Contains(string(concat(set)), want) {
			t.Errorf("the workflows lack %q", want)
		}
	}
}

func concat(s files.Set) []byte {
	var b bytes.Buffer
	for _, f := range s {
		b.Write(f.Data)
	}
	return b.Bytes()
}

// repoCopy is the repository's tracked and new files in a git repository
// of their own, with a GitLab remote, and the pipeline nfx writes.
func repoCopy(t *testing.T) string {
	t.Helper()
	root := testutil.RepoRoot(t)
	list, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "repo")
	for _, p := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			continue // deleted in the work tree
		}
		fi, _ := os.Stat(filepath.Join(root, p))
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), data, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	set, err := Files("gitlab")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range set {
		if err := files.WriteFile(filepath.Join(dir, f.Path), f.Data); err != nil {
			t.Fatal(err)
		}
	}
	git(t, dir, "init", "-q", "-b", "main")
	git(t, dir, "remote", "add", "origin", "https://gitlab.example.com/acme/nextflow.git")
	commit(t, dir, "the project")
	return dir
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.email=ci@example.com", "-c", "user.name=ci"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func commit(t *testing.T, dir, msg string) {
	t.Helper()
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "--allow-empty", "-m", msg)
}

func appendTo(t *testing.T, file, text string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, append(b, text...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// gitlabLocal runs jobs of the pipeline with gitlab-ci-local's shell
// executor, the Go caches of this machine shared with them.
func gitlabLocal(t *testing.T, dir string, vars map[string]string, args ...string) (string, error) {
	t.Helper()
	gcl := testutil.Tool(t, "gitlab-ci-local")
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	gocache, _ := exec.Command("go", "env", "GOCACHE").Output()
	all := []string{"--variable", "GOPATH=" + strings.TrimSpace(string(gopath)), "--variable", "GOCACHE=" + strings.TrimSpace(string(gocache))}
	var keys []string
	for k, v := range vars {
		all = append(all, "--variable", k+"="+v)
		keys = append(keys, k)
	}
	sort.Strings(keys)
	all = append(all, "--ignore-predefined-vars", strings.Join(keys, ","))
	cmd := exec.Command(gcl, append(all, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PULUMI_HOME="+filepath.Join(dir, ".pulumi-home"), "PULUMI_CONFIG_PASSPHRASE=", "PULUMI_BACKEND_URL=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The GitLab pipeline, run for real by gitlab-ci-local: the merge-request
// pipeline builds nfx, writes the comment (diff, cost, gates) and fails on
// a blocking gate; with the gate passing it succeeds; the promotion
// pipeline's manual job promotes laptop to server, runs up with the real
// engine, and its ledger entry is there.
func TestGitLabPipelineRunsForReal(t *testing.T) {
	testutil.Tool(t, "rsync")
	pulumi := testutil.Tool(t, "pulumi")
	testutil.Tool(t, "pulumi-language-go")
	dir := repoCopy(t)
	mr := map[string]string{"CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "7"}

	// A mutable tag: the review fails, the comment says why.
	laptop := filepath.Join(dir, "Pulumi.laptop.yaml")
	orig, _ := os.ReadFile(laptop)
	appendTo(t, laptop, "  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:stable\n")
	// nfx's own estimate of the default cloud is below the seed's 10,000
	// users: the cloud declares what it must carry.
	appendTo(t, filepath.Join(dir, "Pulumi.cloud.yaml"), "  nextflow:promotion:\n    users: 3000\n")
	commit(t, dir, "a mutable tag")
	out, err := gitlabLocal(t, dir, mr, "build", "review")
	comment, _ := os.ReadFile(filepath.Join(dir, "comment.md"))
	if err == nil || !strings.Contains(out, "FAIL  review") || !strings.Contains(string(comment), "| pinned | blocking | BLOCK |") ||
		!strings.Contains(string(comment), "### nfx diff: `laptop` → `server`") || !strings.Contains(string(comment), "#### Cost of server") {
		t.Fatalf("the review with a mutable tag: %v\n%s\ncomment:\n%s", err, out, comment)
	}

	// A pinned image: the review passes.
	if err := os.WriteFile(laptop, append(orig, "  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:1.9.0\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	commit(t, dir, "a new CRM")
	out, err = gitlabLocal(t, dir, mr, "build", "review")
	comment, _ = os.ReadFile(filepath.Join(dir, "comment.md"))
	if err != nil || strings.Count(string(comment), "All blocking gates pass; dry run") != 2 {
		t.Fatalf("the review: %v\n%s\ncomment:\n%s", err, out, comment)
	}

	// The promotion pipeline on main: the manual job promotes and deploys.
	if err := os.Symlink(pulumi, filepath.Join(dir, "bin", "pulumi")); err != nil {
		t.Fatal(err)
	}
	main := map[string]string{"CI_COMMIT_BRANCH": "main", "NFX_TUNNEL_TOKEN": testutil.TunnelToken("x"),
		"NFX_DEPLOY_CMD": "cp out/server/stack.yaml deployed-stack.yaml"}
	out, err = gitlabLocal(t, dir, main, "--manual", "promote:server", "build", "promote:server")
	if err != nil || !strings.Contains(out, "PASS  promote:server") {
		t.Fatalf("promote:server: %v\n%s", err, out)
	}
	stack, err := os.ReadFile(filepath.Join(dir, "out", "server", "stack.yaml"))
	if err != nil || !strings.Contains(string(stack), "ghcr.io/nextflow-crm/crm:1.9.0") {
		t.Errorf("the deployed server does not run the promoted CRM: %v", err)
	}
	if deployed, err := os.ReadFile(filepath.Join(dir, "deployed-stack.yaml")); err != nil || !bytes.Equal(deployed, stack) {
		t.Errorf("NFX_DEPLOY_CMD did not run after the up: %v", err)
	}
	ledger, err := os.ReadFile(filepath.Join(dir, ".nfx", "state", ".nfx", "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	// The promotion, then its step that says it finished.
	var kinds []string
	lines := strings.Split(strings.TrimSpace(string(ledger)), "\n")
	for _, l := range lines[max(0, len(lines)-2):] {
		var e struct{ Kind, From, To string }
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.From != "laptop" || e.To != "server" {
			t.Errorf("a ledger entry: %+v %v", e, err)
		}
		kinds = append(kinds, e.Kind)
	}
	if strings.Join(kinds, " ") != "promote done" {
		t.Errorf("the ledger ends with %v, not the promotion and its end", kinds)
	}
}
