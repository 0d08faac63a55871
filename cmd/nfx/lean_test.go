package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// The SDKs only the cloud stage needs. Cloudflare's is in no binary: the
// tunnel registers its three resources by type token (components).
var cloudSDKs = []string{"github.com/pulumi/pulumi-aws/", "github.com/pulumi/pulumi-kubernetes/"}

// modules lists the modules linked into a binary, as `go version -m` reads
// them from the binary itself.
func modules(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m %s: %v\n%s", bin, err, out)
	}
	return string(out)
}

// The binaries as make builds them: nfx and the laptop's and server's
// program link none of the cloud's SDKs; nfx-cloud and nextflow-cloud
// link them; none links Cloudflare's.
func TestOnlyTheCloudBinariesLinkTheCloudSDKs(t *testing.T) {
	for _, c := range []struct {
		name  string
		cloud bool
	}{{"nfx", false}, {"nextflow", false}, {"nfx-cloud", true}, {"nextflow-cloud", true}} {
		mods := modules(t, testutil.Tool(t, c.name))
		for _, sdk := range cloudSDKs {
			if strings.Contains(mods, "\tdep\t"+sdk) != c.cloud {
				t.Errorf("%s links %s: %v, want %v", c.name, sdk, !c.cloud, c.cloud)
			}
		}
		if strings.Contains(mods, "pulumi-cloudflare") {
			t.Errorf("%s links the Cloudflare SDK", c.name)
		}
	}
}

// tree reads every file under dir, by its path in it.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// run runs a binary in dir with env added.
func run(t *testing.T, dir string, env []string, bin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// The lean nfx renders the cloud through nfx-cloud, and the files are
// nfx-cloud's own, byte for byte; in the nfx project it builds nfx-cloud
// first (up to date: nothing relinked); in a project without the sources
// it runs the nfx-cloud installed beside it; with neither it fails naming
// nfx-cloud and how to build it, and writes nothing.
func TestLeanNfxRendersTheCloudThroughNfxCloud(t *testing.T) {
	nfx := testutil.Tool(t, "nfx")
	nfxCloud := testutil.Tool(t, "nfx-cloud")
	root := testutil.RepoRoot(t)
	direct := t.TempDir()
	if _, stderr, err := run(t, root, nil, nfxCloud, "render", "--stage", "cloud", "--out", direct); err != nil {
		t.Fatalf("nfx-cloud: %v\n%s", err, stderr)
	}
	want := tree(t, direct)
	if len(want) < 10 || want["resources.json"] == "" {
		t.Fatalf("nfx-cloud rendered %d files", len(want))
	}
	check := func(t *testing.T, out string) {
		t.Helper()
		got := tree(t, out)
		for name, data := range want {
			if got[name] != data {
				t.Errorf("%s differs from nfx-cloud's", name)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%d files, nfx-cloud's %d", len(got), len(want))
		}
	}
	t.Run("in the project", func(t *testing.T) {
		out := t.TempDir()
		if _, stderr, err := run(t, root, nil, nfx, "render", "--stage", "cloud", "--out", out); err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		check(t, out)
	})

	// A project with its stack files and no sources: a release's layout,
	// nfx and nfx-cloud side by side.
	proj := t.TempDir()
	for _, f := range []string{"Pulumi.yaml", "Pulumi.laptop.yaml", "Pulumi.cloud.yaml"} {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(proj, f), data, 0o644)
	}
	release := t.TempDir()
	for _, b := range []string{"nfx", "nfx-cloud"} {
		data, err := os.ReadFile(testutil.Tool(t, b))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(release, b), data, 0o755)
	}
	noPath := []string{"PATH=/usr/bin:/bin"}
	t.Run("beside it", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "cloud")
		if _, stderr, err := run(t, proj, noPath, filepath.Join(release, "nfx"), "render", "--stage", "cloud", "--out", out); err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		check(t, out)
	})
	t.Run("a lean nfx in its place", func(t *testing.T) {
		// Handed over once, it fails instead of handing over for ever.
		lean, _ := os.ReadFile(filepath.Join(release, "nfx"))
		os.WriteFile(filepath.Join(release, "nfx-cloud"), lean, 0o755)
		out := filepath.Join(t.TempDir(), "cloud")
		_, stderr, err := run(t, proj, noPath, filepath.Join(release, "nfx"), "render", "--stage", "cloud", "--out", out)
		if err == nil || !strings.Contains(stderr, "lacks it too") {
			t.Errorf("err %v, stderr:\n%s", err, stderr)
		}
	})
	t.Run("nowhere", func(t *testing.T) {
		os.Remove(filepath.Join(release, "nfx-cloud"))
		out := filepath.Join(t.TempDir(), "cloud")
		_, stderr, err := run(t, proj, noPath, filepath.Join(release, "nfx"), "render", "--stage", "cloud", "--out", out)
		if err == nil || !strings.Contains(stderr, "make nfx-cloud") {
			t.Errorf("err %v, stderr:\n%s", err, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Error("wrote the output directory")
		}
		// The laptop is the lean nfx's own.
		if _, stderr, err := run(t, proj, noPath, filepath.Join(release, "nfx"), "plan", "--stage", "laptop"); err != nil {
			t.Errorf("plan --stage laptop: %v\n%s", err, stderr)
		}
	})
}
