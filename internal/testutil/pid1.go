package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StopsAsPID1 runs a command as PID 1 of a PID namespace of its own, as a
// container's entrypoint runs, lets it settle, sends it SIGTERM (what
// `docker stop` and Swarm send), and returns its output once it has
// exited, or an error when it is still running after grace. The kernel
// delivers a signal to a namespace's init only when the init handles it:
// a shell without a trap ignores SIGTERM there, and the engine kills it
// after its grace period instead (SIGKILL: no cleanup runs).
func StopsAsPID1(t testing.TB, env []string, settle, grace time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	Tool(t, "unshare")
	var out bytes.Buffer
	cmd := exec.Command("unshare", append([]string{"--pid", "--fork", "--kill-child", name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}()
	time.Sleep(settle)
	// unshare's only child is the namespace's PID 1.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
	kids := strings.Fields(string(b))
	if err != nil || len(kids) != 1 {
		t.Fatalf("the PID namespace's init: %v %q\n%s", err, kids, out.String())
	}
	init, _ := strconv.Atoi(kids[0])
	if err := syscall.Kill(init, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		return out.String(), nil
	case <-time.After(grace):
		return out.String(), fmt.Errorf("still running %v after SIGTERM as PID 1", grace)
	}
}
