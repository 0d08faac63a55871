package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// TestHelperNfx is not a test: the fault tests run the test binary as an
// nfx process they can kill or run twice at once.
func TestHelperNfx(t *testing.T) {
	args := os.Getenv("NFX_HELPER_ARGS")
	if args == "" {
		t.Skip("run by the fault tests")
	}
	code := Main(context.Background(), strings.Split(args, "\x1f"), IO{Out: os.Stdout, Err: os.Stderr, Dir: os.Getenv("NFX_HELPER_DIR")})
	os.Exit(code)
}

// helper starts nfx with args in dir as a child in its own process group.
func helper(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperNfx$")
	cmd.Env = append(os.Environ(), "NFX_HELPER_ARGS="+strings.Join(args, "\x1f"), "NFX_HELPER_DIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// kill -9 of nfx up (and its engine) in the middle leaves the engine's
// lock; nfx then names `nfx cancel`, which clears it, and up completes.
func TestKilledUpIsRecoverable(t *testing.T) {
	dir := realEngine(t)
	t.Setenv("NFX_TUNNEL_TOKEN", testutil.TunnelToken("x"))
	cmd := helper(dir, "up", "--stage", "laptop")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	locks := filepath.Join(dir, ".nfx", "state", ".pulumi", "locks")
	deadline := time.Now().Add(90 * time.Second)
	for {
		found, _ := filepath.Glob(filepath.Join(locks, "*", "*", "*", "*.json"))
		if len(found) > 0 {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("the engine never locked the stack:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()

	code, _, stderr := nfx(t, dir, "up", "--stage", "laptop")
	if code == ExitOK {
		t.Skip("the engine finished before the kill; nothing to recover")
	}
	if !strings.Contains(stderr, "nfx cancel --stage laptop") {
		t.Fatalf("after a kill, up does not name the recovery: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := nfx(t, dir, "cancel", "--stage", "laptop"); code != ExitOK {
		t.Fatalf("cancel: exit %d\n%s", code, stderr)
	}
	if code, stdout, stderr := nfx(t, dir, "up", "--stage", "laptop"); code != ExitOK {
		t.Fatalf("up after cancel: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, stdout, _ := nfx(t, dir, "preview", "--stage", "laptop"); code != ExitOK || !strings.Contains(stdout, "no changes") {
		t.Errorf("preview after the recovered up:\n%s", stdout)
	}
}

// A run killed as the engine's file backend writes a state file's
// metadata (gocloud's fileblob creates the ".attrs" beside it, then fills
// it) leaves it empty: every command then failed with "failed to load
// checkpoint: EOF". nfx names the file and nfx cancel, which removes it,
// and up then completes with nothing lost.
func TestEmptiedStateMetadataIsRecoverable(t *testing.T) {
	dir := realEngine(t)
	t.Setenv("NFX_TUNNEL_TOKEN", testutil.TunnelToken("x"))
	if code, _, stderr := nfx(t, dir, "up", "--stage", "laptop"); code != ExitOK {
		t.Fatalf("up: exit %d\n%s", code, stderr)
	}
	attrs, _ := filepath.Glob(filepath.Join(dir, ".nfx", "state", ".pulumi", "stacks", "*", "laptop.json*.attrs"))
	if len(attrs) == 0 {
		t.Fatal("the file backend keeps no metadata beside the stack's state")
	}
	for _, cut := range []string{"", `{"user.cache_control":`} {
		if err := os.WriteFile(attrs[0], []byte(cut), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := nfx(t, dir, "up", "--stage", "laptop")
		if code == ExitOK || !strings.Contains(stderr, "nfx cancel --stage laptop") || !strings.Contains(stderr, filepath.Base(attrs[0])) {
			t.Fatalf("metadata %q: up does not name the file and the recovery: exit %d\n%s", cut, code, stderr)
		}
		if code, _, stderr := nfx(t, dir, "cancel", "--stage", "laptop"); code != ExitOK {
			t.Fatalf("cancel: exit %d\n%s", code, stderr)
		}
		if code, stdout, _ := nfx(t, dir, "preview", "--stage", "laptop"); code != ExitOK || !strings.Contains(stdout, "no changes") {
			t.Fatalf("preview after the repair:\n%s", stdout)
		}
	}
}

// Two nfx up at once on one stack: one runs, the other stops at once with
// a message naming the other run; the winner's secrets are the stack's,
// so a preview afterwards finds nothing to change.
func TestConcurrentUpReportsItsOwnResult(t *testing.T) {
	dir := realEngine(t)
	t.Setenv("NFX_TUNNEL_TOKEN", testutil.TunnelToken("y"))
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, 2)
	codes := make([]int, 2)
	for i := range codes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cmd := helper(dir, "up", "--stage", "laptop")
			cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); ok {
				codes[i] = ee.ExitCode()
			}
		}(i)
	}
	wg.Wait()
	ok, busy := 0, 0
	for i, c := range codes {
		switch {
		case c == 0 && strings.Contains(outs[i].String(), "nfx: up laptop: create=10"):
			ok++
		case c != 0 && strings.Contains(outs[i].String(), "another nfx run (pid"):
			busy++
		default:
			t.Errorf("run %d: exit %d\n%s", i, c, outs[i].String())
		}
	}
	if ok != 1 || busy != 1 {
		t.Errorf("want one run and one refusal, got %d and %d", ok, busy)
	}
	if code, stdout, _ := nfx(t, dir, "preview", "--stage", "laptop"); code != ExitOK || !strings.Contains(stdout, "no changes") {
		t.Errorf("the stack's config and state disagree after two ups:\n%s", stdout)
	}
}

// After up, the faults a user meets get messages that name the file or
// key and the fix: a wrong passphrase, a changed ciphertext, a truncated
// state file, a supplied password nfx cannot use.
func TestEngineFaultMessages(t *testing.T) {
	dir := realEngine(t)
	t.Setenv("NFX_TUNNEL_TOKEN", testutil.TunnelToken("z"))
	if code, _, stderr := nfx(t, dir, "up", "--stage", "laptop"); code != ExitOK {
		t.Fatalf("up: %s", stderr)
	}
	cfgFile := filepath.Join(dir, "Pulumi.laptop.yaml")
	state := filepath.Join(dir, ".nfx", "state", ".pulumi", "stacks", "nextflow", "laptop.json")
	cfgBefore, _ := os.ReadFile(cfgFile)
	stateBefore, _ := os.ReadFile(state)
	cases := []struct {
		name  string
		fault func(t *testing.T)
		want  []string
	}{
		{"wrong passphrase", func(t *testing.T) { t.Setenv("PULUMI_CONFIG_PASSPHRASE", "not-the-one") },
			[]string{"the passphrase does not decrypt", "Pulumi.laptop.yaml", "PULUMI_CONFIG_PASSPHRASE", "fix:"}},
		{"changed ciphertext", func(t *testing.T) {
			text := string(cfgBefore)
			i := strings.Index(text, "secure: v1:")
			j := i + len("secure: v1:") + 20
			// Another character than the one there (the ciphertext is
			// random: one up in 64 had an A there, and nothing changed).
			c := "A"
			if text[j] == 'A' {
				c = "B"
			}
			os.WriteFile(cfgFile, []byte(text[:j]+c+text[j+1:]), 0o644)
		}, []string{"Pulumi.laptop.yaml", "fix:"}},
		{"truncated state", func(t *testing.T) { os.WriteFile(state, stateBefore[:len(stateBefore)/2], 0o644) },
			[]string{"laptop.json", "damaged", ".bak", "fix:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.fault(t)
			defer os.WriteFile(cfgFile, cfgBefore, 0o644)
			defer os.WriteFile(state, stateBefore, 0o644)
			code, _, stderr := nfx(t, dir, "preview", "--stage", "laptop")
			if code == ExitOK {
				t.Fatal("preview succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("%q is not in:\n%s", w, stderr)
				}
			}
		})
	}
	// A supplied password with a quote, a backslash and a space.
	fresh := realEngine(t)
	t.Setenv("NFX_REDIS_PASSWORD", `Pa"ss\ word-123`)
	code, stdout, stderr := nfx(t, fresh, "up", "--stage", "laptop")
	if code != ExitUsage || !strings.Contains(stderr, "nextflow:redisPassword") || !strings.Contains(stderr, "NFX_REDIS_PASSWORD holds a value nfx cannot use") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	if strings.Contains(stdout+stderr, `Pa"ss`) {
		t.Error("the refused password was echoed")
	}
	// A tunnel's UUID where its token goes: refused before anything is
	// written, saying why and where the token comes from, never the value.
	t.Setenv("NFX_REDIS_PASSWORD", "")
	t.Setenv("NFX_TUNNEL_TOKEN", "6ff42ae2-765d-4adf-8112-31c55c1551ef")
	code, stdout, stderr = nfx(t, realEngine(t), "up", "--stage", "laptop")
	if code != ExitUsage || !strings.Contains(stderr, "NFX_TUNNEL_TOKEN holds a value nfx cannot use: not a Cloudflare Tunnel token: it is not base64") ||
		!strings.Contains(stderr, "cloudflared tunnel token NAME") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	if strings.Contains(stdout+stderr, "6ff42ae2") {
		t.Error("the refused token was echoed")
	}
}

// kill -9 of nfx promote at its steps: during the engine's preview (the
// target's file byte for byte as before, nothing in the ledger), and after
// the up, in the deploy command (the decision and the up done, not the
// verification). Each time a rerun completes the promotion: applied, up,
// verified, the ledger's chain whole.
func TestKilledPromoteResumes(t *testing.T) {
	for _, tc := range []struct {
		name string
		// deploy is the --deploy-cmd of the killed run; killAt, when set,
		// is a file whose appearance triggers the kill.
		deploy, killAt string
		// entries is the ledger's length after the kill.
		entries int
	}{
		{name: "in the preview", killAt: filepath.Join(".nfx", "promote", "Pulumi.server.yaml"), entries: 0},
		{name: "after the up", deploy: "kill -9 $PPID", entries: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := realEngine(t)
			t.Setenv("NFX_TUNNEL_TOKEN", testutil.TunnelToken("k"))
			laptop, server := filepath.Join(dir, "Pulumi.laptop.yaml"), filepath.Join(dir, "Pulumi.server.yaml")
			if code, _, stderr := nfx(t, dir, "up", "--stage", "server"); code != ExitOK {
				t.Fatalf("up: %s", stderr)
			}
			src, _ := os.ReadFile(laptop)
			write(t, laptop, string(src)+"  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:1.9.0\n")
			before, _ := os.ReadFile(server)
			args := []string{"promote", "--from", "laptop", "--to", "server"}
			if tc.deploy != "" {
				args = append(args, "--deploy-cmd", tc.deploy)
			}
			cmd := helper(dir, args...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if tc.killAt != "" {
				deadline := time.Now().Add(90 * time.Second)
				for {
					if _, err := os.Stat(filepath.Join(dir, tc.killAt)); err == nil {
						break
					}
					if time.Now().After(deadline) {
						syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
						t.Fatalf("%s never appeared:\n%s", tc.killAt, out.String())
					}
					time.Sleep(2 * time.Millisecond)
				}
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
			err := cmd.Wait()
			if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the promotion was not killed (%v):\n%s", err, out.String())
			}
			_, ledger, _ := nfx(t, dir, "ledger", "--json")
			var es []struct{ Kind string }
			if err := json.Unmarshal([]byte(ledger), &es); err != nil || len(es) != tc.entries {
				t.Fatalf("after the kill the ledger has %d entries, want %d (%v)", len(es), tc.entries, err)
			}
			if tc.entries == 0 {
				if after, _ := os.ReadFile(server); !bytes.Equal(before, after) {
					t.Error("a promotion killed in its preview changed the target's file")
				}
			}
			code, stdout, stderr := nfx(t, dir, args[:5]...)
			if code != ExitOK && strings.Contains(stderr, "nfx cancel --stage server") {
				// The engine's own lock, left by the killed engine: the
				// named recovery clears it.
				if code, _, stderr := nfx(t, dir, "cancel", "--stage", "server"); code != ExitOK {
					t.Fatalf("cancel: %s", stderr)
				}
				code, stdout, stderr = nfx(t, dir, args[:5]...)
			}
			if code != ExitOK || !strings.Contains(stdout, " up (") {
				t.Fatalf("the rerun: %d\n%s\n%s", code, stdout, stderr)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "out", "server", "stack.yaml")); !strings.Contains(string(b), "crm:1.9.0") {
				t.Error("after the rerun stack.yaml does not carry the release")
			}
			if code, stdout, _ := nfx(t, dir, "ledger", "--verify"); code != ExitOK {
				t.Errorf("ledger: %s", stdout)
			}
			if code, stdout, _ := nfx(t, dir, "preview", "--stage", "server"); code != ExitOK || !strings.Contains(stdout, "no changes") {
				t.Errorf("the server's config and state disagree after the rerun:\n%s", stdout)
			}
		})
	}
}

// A run killed while the engine created the stack leaves the engine's
// lock and no stack (the first up, killed early): nfx up names nfx cancel,
// which clears the lock although selecting the stack would create it, and
// up then completes.
func TestKilledWhileCreatingTheStack(t *testing.T) {
	dir := realEngine(t)
	t.Setenv("NFX_TUNNEL_TOKEN", testutil.TunnelToken("c"))
	lock := filepath.Join(dir, ".nfx", "state", ".pulumi", "locks", "organization", "nextflow", "laptop", "0b9e0c1e-killed.json")
	if err := os.MkdirAll(filepath.Dir(lock), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lock, []byte(`{"pid":999999,"username":"ci","hostname":"gone","timestamp":"2026-12-03T01:00:00Z"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := nfx(t, dir, "up", "--stage", "laptop"); code == ExitOK || !strings.Contains(stderr, "nfx cancel --stage laptop") {
		t.Fatalf("up over the lock: %d %s", code, stderr)
	}
	if code, _, stderr := nfx(t, dir, "cancel", "--stage", "laptop"); code != ExitOK {
		t.Fatalf("cancel: %s", stderr)
	}
	if _, err := os.Stat(lock); err == nil {
		t.Error("cancel left the lock")
	}
	if code, out, stderr := nfx(t, dir, "up", "--stage", "laptop"); code != ExitOK || !strings.Contains(out, "create=10") {
		t.Fatalf("up after cancel: %d\n%s\n%s", code, out, stderr)
	}
}
