package cli

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// snapshot is every path under dir with its content, to prove a refused
// command changed nothing.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, _ := os.Lstat(p)
		fmt.Fprintf(&b, "%s %v", p, fi.Mode())
		if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %x", data)
		}
		b.WriteByte('\n')
		return nil
	})
	return b.String()
}

// Hostile but realistic input through the command line: each is refused
// with exit 2, a message naming what is wrong and the fix, nothing on
// stdout, and the project byte-identical.
func TestHostileInput(t *testing.T) {
	huge := "config:\n  nextflow:crm:\n    image: ghcr.io/acme/" + strings.Repeat("a", 5<<20) + ":1\n"
	cases := []struct {
		name   string
		setup  func(t *testing.T, dir string) []string
		want   []string
		config string
	}{
		{name: "--out at the project", setup: func(t *testing.T, dir string) []string {
			return []string{"render", "--stage", "laptop", "--out", "."}
		}, want: []string{"--out", "which nfx did not write", "fix:"}},
		{name: "--out at the project's parent", setup: func(t *testing.T, dir string) []string {
			return []string{"render", "--stage", "laptop", "--out", ".."}
		}, want: []string{"--out", "which nfx did not write"}},
		{name: "--out at a file", setup: func(t *testing.T, dir string) []string {
			return []string{"render", "--stage", "laptop", "--out", "Pulumi.yaml"}
		}, want: []string{"it is a file"}},
		{name: "--out at a symbolic link", setup: func(t *testing.T, dir string) []string {
			os.Symlink(filepath.Join(dir, "cmd"), filepath.Join(dir, "link"))
			return []string{"render", "--stage", "laptop", "--out", "link"}
		}, want: []string{"symbolic link"}},
		{name: "--out at a home directory", setup: func(t *testing.T, dir string) []string {
			home := filepath.Join(dir, "home")
			write(t, filepath.Join(dir, "home-notes.txt"), "")
			os.MkdirAll(filepath.Join(home, "Documents"), 0o755)
			write(t, filepath.Join(home, "Documents", "thesis.txt"), "years of work")
			return []string{"render", "--stage", "laptop", "--out", home}
		}, want: []string{"Documents/thesis.txt, which nfx did not write"}},
		{name: "--out inside an output's secrets", setup: func(t *testing.T, dir string) []string {
			os.MkdirAll(filepath.Join(dir, "o", "secrets"), 0o700)
			write(t, filepath.Join(dir, "o", "secrets", "x"), "s")
			return []string{"render", "--stage", "laptop", "--out", "o/secrets"}
		}, want: []string{"which nfx did not write"}},
		{name: "report over a user's file", setup: func(t *testing.T, dir string) []string {
			write(t, filepath.Join(dir, "notes.html"), "<html>mine</html>")
			return []string{"report", "--out", "notes.html"}
		}, want: []string{"not an nfx report"}},
		{name: "report over a directory", setup: func(t *testing.T, dir string) []string {
			return []string{"report", "--out", "cmd"}
		}, want: []string{"not a regular file"}},
		{name: "config from /dev/zero", setup: func(t *testing.T, dir string) []string {
			return []string{"render", "--stage", "laptop", "--config", "/dev/zero"}
		}, want: []string{"not a regular file"}},
		{name: "config is a directory", setup: func(t *testing.T, dir string) []string {
			return []string{"plan", "--stage", "laptop", "--config", "cmd"}
		}, want: []string{"not a regular file"}},
		{name: "config too large", config: huge, want: []string{"over the 4194304"}},
		{name: "config missing", setup: func(t *testing.T, dir string) []string {
			return []string{"render", "--stage", "laptop", "--config", "nope.yaml"}
		}, want: []string{"nope.yaml"}},
		{name: "two config blocks", config: "config:\n  nextflow:crm: {replicas: 1}\nconfig:\n  nextflow:crm: {replicas: 0}\n", want: []string{"config appears twice", "line 1"}},
		{name: "a typo of the namespace", config: "config:\n  nextflw:crm: {replicas: 2}\n", want: []string{`namespace "nextflw"`, "nextflow:crm"}},
		{name: "the namespace capitalised", config: "config:\n  NextFlow:ai: {replicas: 2}\n", want: []string{`namespace "NextFlow"`}},
		{name: "NaN", config: "config:\n  nextflow:crm: {cpus: .nan}\n", want: []string{"cpus (NaN) is not a finite number"}},
		{name: "infinity", config: "config:\n  nextflow:costs: {tariff: .inf}\n", want: []string{"tariff (+Inf) is not a finite number"}},
		{name: "a cost past any figure", config: "config:\n  nextflow:costs: {tariff: 1e300}\n", want: []string{"nextflow:costs.tariff", "out of range"}},
		{name: "a size that overflows", config: "config:\n  nextflow:crm: {memory: 8589934592GiB}\n", want: []string{"nextflow:crm.memory", "more than the 1024TiB"}},
		{name: "an integer that overflows", config: "config:\n  nextflow:crm: {replicas: 99999999999999999999}\n", want: []string{"nextflow:crm.replicas", "an integer"}},
		{name: "CPUs below Docker's minimum", config: "config:\n  nextflow:redis: {cpus: 0.001}\n", want: []string{"nextflow:redis.cpus", "Docker's minimum"}},
		{name: "an image name of 5 MB", config: "config:\n  nextflow:crm: {image: \"ghcr.io/" + strings.Repeat("a", 300000) + ":1\"}\n", want: []string{"nextflow:crm.image", "characters long"}},
		{name: "shell in the health path", config: "config:\n  nextflow:crm: {healthPath: \"/x;touch${IFS}/tmp/pwned;#\"}\n", want: []string{"nextflow:crm.healthPath", "must be an absolute HTTP path"}},
		{name: "a quote in the health path", config: "config:\n  nextflow:crm: {healthPath: \"/x'$(id)'\"}\n", want: []string{"nextflow:crm.healthPath"}},
		{name: "the Internet in halves", config: "config:\n  nextflow:stage: cloud\n  nextflow:cloud: {publicAccessCidrs: [0.0.0.0/1, 128.0.0.0/1]}\n", want: []string{"whole Internet"}},
		{name: "a public VPC", config: "config:\n  nextflow:stage: cloud\n  nextflow:cloud: {vpcCidr: 52.0.0.0/16}\n", want: []string{"nextflow:cloud.vpcCidr", "not a private range"}},
		{name: "a pod no node holds", config: "config:\n  nextflow:stage: cloud\n  nextflow:crm: {replicas: 10, cpus: 64}\n", want: []string{"nextflow:crm.cpus", "do not fit a m6i.xlarge node"}},
		{name: "advise with NaN", setup: func(t *testing.T, dir string) []string {
			return []string{"advise", "--users", "10", "--p95", "NaN", "--downtime", "0", "--revenue", "0", "--team", "1"}
		}, want: []string{"--p95", "finite"}},
		{name: "advise with infinity", setup: func(t *testing.T, dir string) []string {
			return []string{"advise", "--users", "10", "--p95", "1", "--downtime", "0", "--revenue", "+Inf", "--team", "1"}
		}, want: []string{"--revenue", "finite"}},
		{name: "diff names the bad stage and file", setup: func(t *testing.T, dir string) []string {
			write(t, filepath.Join(dir, "bad.yaml"), "config:\n  nextflow:stage: server\n  nextflow:crm: {replicas: 0}\n")
			return []string{"diff", "--from", "laptop", "--to", "server", "--to-config", "bad.yaml"}
		}, want: []string{"invalid configuration of stage server", "bad.yaml", "nextflow:crm.replicas"}},
		{name: "an empty stage name", setup: func(t *testing.T, dir string) []string {
			return []string{"render", "--stage", ""}
		}, want: []string{"--stage is required"}},
		{name: "a stage with shell in it", setup: func(t *testing.T, dir string) []string {
			return []string{"plan", "--stage", "laptop;rm -rf ~"}
		}, want: []string{"unknown stage"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := project(t)
			var args []string
			if tc.setup != nil {
				args = tc.setup(t, dir)
			} else {
				write(t, filepath.Join(dir, "hostile.yaml"), tc.config)
				stage := "laptop"
				if strings.Contains(tc.config, "nextflow:stage: cloud") {
					stage = "cloud"
				}
				args = []string{"render", "--stage", stage, "--config", "hostile.yaml", "--out", "rendered"}
			}
			before := snapshot(t, dir)
			code, stdout, stderr := nfx(t, dir, args...)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d\n%.600s", code, ExitUsage, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("%q is not in:\n%.600s", w, stderr)
				}
			}
			if stdout != "" {
				t.Errorf("stdout: %.200q", stdout)
			}
			if len(stderr) > 4000 {
				t.Errorf("the message is %d bytes: it echoes the input", len(stderr))
			}
			if after := snapshot(t, dir); after != before {
				t.Error("the refused command changed the project")
			}
		})
	}
}
