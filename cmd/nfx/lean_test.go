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

// The binaries as make builds them: the front nfx links no Pulumi SDK at
// all; nfx-pulumi and the laptop's and server's program link none of the
// cloud's SDKs; nfx-cloud and nextflow-cloud link them; none links
// Cloudflare's.
func TestOnlyTheCloudBinariesLinkTheCloudSDKs(t *testing.T) {
	if mods := modules(t, testutil.Tool(t, "nfx")); strings.Contains(mods, "github.com/pulumi/") {
		t.Errorf("the front nfx links a Pulumi module:\n%s", mods)
	}
	for _, c := range []struct {
		name  string
		cloud bool
	}{{"nfx-pulumi", false}, {"nextflow", false}, {"nfx-cloud", true}, {"nextflow-cloud", true}} {
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
	// nfx, nfx-pulumi and nfx-cloud side by side.
	proj, release := release(t, "nfx", "nfx-pulumi", "nfx-cloud")
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
		if err == nil || !strings.Contains(stderr, "would hand it on to nfx-cloud") {
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
		// The laptop is nfx-pulumi's, without the cloud.
		if _, stderr, err := run(t, proj, noPath, filepath.Join(release, "nfx"), "plan", "--stage", "laptop"); err != nil {
			t.Errorf("plan --stage laptop: %v\n%s", err, stderr)
		}
	})
}

// release lays out a project with its stack files and no sources, and the
// named binaries side by side as a release installs them; it returns the
// project and the binaries' directory.
func release(t *testing.T, bins ...string) (proj, dir string) {
	t.Helper()
	root := testutil.RepoRoot(t)
	proj, dir = t.TempDir(), t.TempDir()
	for _, f := range []string{"Pulumi.yaml", "Pulumi.laptop.yaml", "Pulumi.server.yaml", "Pulumi.cloud.yaml"} {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(proj, f), data, 0o644)
	}
	for _, b := range bins {
		data, err := os.ReadFile(testutil.Tool(t, b))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, b), data, 0o755)
	}
	return proj, dir
}

// helpOf is every command's help in the binary's tree, by command line.
func helpOf(t *testing.T, dir, bin string) map[string]string {
	t.Helper()
	out, stderr, err := run(t, dir, nil, bin, "--help")
	if err != nil {
		t.Fatalf("%s --help: %v\n%s", bin, err, stderr)
	}
	help := map[string]string{"": out}
	// The commands as the root's help lists them, and their subcommands.
	var walk func(prefix []string, text string)
	walk = func(prefix []string, text string) {
		in := false
		for _, line := range strings.Split(text, "\n") {
			switch {
			case strings.HasPrefix(line, "Available Commands:"):
				in = true
			case in && strings.TrimSpace(line) == "":
				in = false
			case in:
				name := strings.Fields(line)[0]
				if name == "help" || name == "completion" {
					continue
				}
				args := append(append([]string{}, prefix...), name)
				o, stderr, err := run(t, dir, nil, bin, append(args, "--help")...)
				if err != nil {
					t.Fatalf("%s %v --help: %v\n%s", bin, args, err, stderr)
				}
				help[strings.Join(args, " ")] = o
				walk(args, o)
			}
		}
	}
	walk(nil, out)
	return help
}

// The front nfx links no Pulumi SDK, and is the same CLI: every command's
// help is nfx-pulumi's, word for word; the commands that need no stage's
// program run in it alone, for any stage (capacity, release show, migrate
// plan, ci init; neither nfx-pulumi nor nfx-cloud is there), and a
// command that runs a program is nfx-pulumi's, its files byte for byte.
// Without nfx-pulumi beside it or on PATH, such a command fails naming it
// and how to build it, and writes nothing.
func TestFrontNfxIsTheSameCLI(t *testing.T) {
	proj, dir := release(t, "nfx", "nfx-pulumi")
	front, full := filepath.Join(dir, "nfx"), filepath.Join(dir, "nfx-pulumi")
	fh, ph := helpOf(t, proj, front), helpOf(t, proj, full)
	if len(fh) < 20 {
		t.Fatalf("the front lists %d commands", len(fh))
	}
	for cmd, text := range ph {
		if fh[cmd] != text {
			t.Errorf("nfx %s --help differs from nfx-pulumi's:\n%s\n---\n%s", cmd, fh[cmd], text)
		}
	}
	if len(fh) != len(ph) {
		t.Errorf("the front has %d commands, nfx-pulumi %d", len(fh), len(ph))
	}
	noPath := []string{"PATH=/usr/bin:/bin"}
	direct, handed := t.TempDir(), t.TempDir()
	if _, stderr, err := run(t, proj, noPath, full, "render", "--stage", "server", "--out", direct); err != nil {
		t.Fatalf("nfx-pulumi render: %v\n%s", err, stderr)
	}
	if _, stderr, err := run(t, proj, noPath, front, "render", "--stage", "server", "--out", handed); err != nil {
		t.Fatalf("nfx render: %v\n%s", err, stderr)
	}
	want, got := tree(t, direct), tree(t, handed)
	if len(want) < 5 {
		t.Fatalf("nfx-pulumi rendered %d files", len(want))
	}
	for name, data := range want {
		if got[name] != data {
			t.Errorf("%s differs from nfx-pulumi's", name)
		}
	}
	os.Remove(full)
	for _, args := range [][]string{
		{"capacity", "--stage", "server", "--json"},
		{"capacity", "--stage", "cloud", "--json"},
		{"release", "show", "--stage", "laptop"},
		{"migrate", "plan", "--from", "server", "--to", "cloud"},
		{"ci", "init", "--provider", "github"},
	} {
		if out, stderr, err := run(t, proj, noPath, front, args...); err != nil || out == "" {
			t.Errorf("nfx %v without nfx-pulumi: %v\n%s", args, err, stderr)
		}
	}
	out := filepath.Join(t.TempDir(), "server")
	_, stderr, err := run(t, proj, noPath, front, "render", "--stage", "server", "--out", out)
	if err == nil || !strings.Contains(stderr, "`make nfx-pulumi`") || !strings.Contains(stderr, "neither beside this nfx nor on PATH") {
		t.Errorf("render without nfx-pulumi: err %v, stderr:\n%s", err, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("wrote the output directory")
	}
	// A bad flag is the front's own usage error, exit 2, before any hand-over.
	if _, stderr, err := run(t, proj, noPath, front, "render", "--stage", "server", "--bogus"); err == nil || !strings.Contains(stderr, "unknown flag: --bogus") {
		t.Errorf("bad flag: err %v, stderr:\n%s", err, stderr)
	} else if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("bad flag: %v, want exit 2", err)
	}
}

// The make targets nfx's messages name to build its binaries are the
// Makefile's.
func TestTheMessagesNameMakeTargets(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"nfx", "nfx-pulumi", "nfx-cloud", "program"} {
		if !strings.Contains("\n"+string(data), "\n"+target+":") {
			t.Errorf("the Makefile has no target %s", target)
		}
	}
}
