package server

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// The replica's health check, run by sh as Docker runs a CMD-SHELL check,
// with the real pg_isready against a port nothing serves: healthy while
// its clone of the primary runs (pg_basebackup's pid alive), unhealthy
// when the clone died or never ran. The rendered entrypoint writes and
// removes that pid file around pg_basebackup.
func TestReplicaIsHealthyWhileItClones(t *testing.T) {
	testutil.Tool(t, "pg_isready")
	app := testApp(t, "server", nil)
	pg, ok := app.Service("postgres")
	if !ok {
		t.Fatal("no postgres service")
	}
	health := ReplicaHealth(pg.Health)
	if !strings.HasPrefix(health.Shell, "pg_isready") {
		t.Fatalf("not the postgres check: %s", health.Shell)
	}
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "clone.pid")
	shell := strings.ReplaceAll(health.Shell, clonePidFile, pidFile)
	shell = strings.Replace(shell, "-p 5432", "-p "+strconv.Itoa(testutil.FreePort(t)), 1)
	clone := exec.Command("sleep", "30")
	if err := clone.Start(); err != nil {
		t.Fatal(err)
	}
	defer clone.Process.Kill()
	dead := exec.Command("true")
	dead.Run()
	for _, tc := range []struct {
		name, pid string
		healthy   bool
	}{
		{"cloning", strconv.Itoa(clone.Process.Pid), true},
		{"the clone died", strconv.Itoa(dead.Process.Pid), false},
		{"no clone", "", false},
		{"an empty pid file", "-", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(pidFile)
			switch tc.pid {
			case "":
			case "-":
				os.WriteFile(pidFile, nil, 0o644)
			default:
				os.WriteFile(pidFile, []byte(tc.pid+"\n"), 0o644)
			}
			err := exec.Command("sh", "-c", shell).Run()
			if (err == nil) != tc.healthy {
				t.Errorf("healthy %v, want %v (%s)", err == nil, tc.healthy, shell)
			}
		})
	}
	p := PostgresDefaults(app)
	script, err := execute("replica-entrypoint.sh.tmpl", p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), "echo $! > "+clonePidFile) || !strings.Contains(string(script), "rm -f "+clonePidFile) {
		t.Error("the entrypoint does not keep the clone's pid where the check reads it")
	}
}
