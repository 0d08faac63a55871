package server

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// A scheduled backup whose client fails half way keeps nothing: no
// archive, no checksum, no report to the node exporter (so BackupTooOld
// fires), and says FAILED; the schedule goes on. The clients are stand-ins
// on PATH that write part of a file and fail, as pg_dump does when its
// connection drops. bash runs the rendered script's functions, the final
// dispatch left out, the way the schedule calls them.
func TestScheduledBackupFailureKeepsNothing(t *testing.T) {
	testutil.Tool(t, "bash")
	bk := BackupDefaults(testApp(t, "server", nil))
	script, err := execute("backup.sh.tmpl", bk)
	if err != nil {
		t.Fatal(err)
	}
	body := string(script)
	body = body[:strings.LastIndex(body, "case ${1:-} in")]
	for _, tc := range []struct {
		name, kind string
		// fakes are the stand-in commands: name -> shell body.
		fakes map[string]string
		ok    bool
		// before prepares the kind's directory on the NAS; it returns a
		// stop for what it started.
		before func(t *testing.T, dir string) func()
	}{
		{"pg_dump dies half way", "postgres", map[string]string{"pg_dump": `while [ "$1" != -f ]; do shift; done; printf 'PGDMP partial' > "$2"; exit 1`}, false, nil},
		{"pg_dump is refused", "postgres", map[string]string{"pg_dump": `echo "connection refused" >&2; exit 1`}, false, nil},
		{"redis-cli dies half way", "redis", map[string]string{"redis-cli": `for a; do f=$a; done; printf 'REDIS0011' > "$f"; exit 1`}, false, nil},
		{"Qdrant does not answer", "qdrant", map[string]string{"curl": `exit 7`}, false, nil},
		{"Qdrant answers 500", "qdrant", map[string]string{"curl": `echo "curl: (22) The requested URL returned error: 500" >&2; exit 22`}, false, nil},
		{"the models are missing", "models", map[string]string{}, false, nil},
		// GNU tar -z opens the archive in a child of its own: a tar that
		// fails at once can leave that child to create the file after the
		// cleanup. The script never gives tar the file's name.
		{"tar fails while its child still writes", "models", map[string]string{"tar": `for a; do [ "${prev:-}" = -czf ] || [ "${prev:-}" = -cf ] && f=$a; prev=$a; done
[ "${f:--}" = - ] || (sleep 0.3; echo partial > "$f") &
exit 2`}, false, func(t *testing.T, dir string) func() {
			os.MkdirAll(filepath.Join(filepath.Dir(filepath.Dir(dir)), "no-models"), 0o755)
			return func() {}
		}},
		{"pg_dump succeeds", "postgres", map[string]string{"pg_dump": `while [ "$1" != -f ]; do shift; done; printf 'PGDMP whole' > "$2"`}, true, nil},
		{"Qdrant with no collections", "qdrant", map[string]string{"curl": `echo '{"result":{"collections":[]}}'`}, true, nil},
		// kill -9 or a lost node runs no trap: the next backup clears what
		// that one left, a partial file and a checksum without its file.
		{"after a backup killed outright", "postgres", map[string]string{"pg_dump": `while [ "$1" != -f ]; do shift; done; printf 'PGDMP whole' > "$2"`}, true,
			func(t *testing.T, dir string) func() {
				os.MkdirAll(dir, 0o755)
				os.WriteFile(filepath.Join(dir, ".partial-postgres-20261204T030000Z.dump"), []byte("PGDMP cut"), 0o644)
				os.WriteFile(filepath.Join(dir, "postgres-20261204T030000Z.dump.sha256"), []byte("0  postgres-20261204T030000Z.dump\n"), 0o644)
				return func() {}
			}},
		// A manual run beside the schedule's: the second is refused, and
		// touches neither the first's partial file nor anything else.
		{"another backup of the kind runs", "postgres", map[string]string{"pg_dump": `while [ "$1" != -f ]; do shift; done; printf 'PGDMP whole' > "$2"`}, false,
			func(t *testing.T, dir string) func() {
				os.MkdirAll(dir, 0o755)
				holder := exec.Command("flock", filepath.Join(dir, ".lock"), "sleep", "60")
				if err := holder.Start(); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < 100; i++ {
					if exec.Command("flock", "-n", filepath.Join(dir, ".lock"), "true").Run() != nil {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				return func() { holder.Process.Kill(); holder.Wait() }
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fakes := filepath.Join(dir, "bin")
			os.MkdirAll(fakes, 0o755)
			for name, sh := range tc.fakes {
				os.WriteFile(filepath.Join(fakes, name), []byte("#!/bin/bash\n"+sh+"\n"), 0o755)
			}
			secret := filepath.Join(dir, "pw")
			os.WriteFile(secret, []byte("pw"), 0o600)
			nas, metrics := filepath.Join(dir, "nas"), filepath.Join(dir, "metrics")
			if tc.before != nil {
				defer tc.before(t, filepath.Join(nas, tc.kind))()
			}
			harness := filepath.Join(dir, "harness.sh")
			os.WriteFile(harness, []byte(body+"\nrun_scheduled \""+tc.kind+"\"\necho schedule-goes-on\n"), 0o755)
			cmd := exec.Command("bash", harness)
			cmd.Env = []string{"PATH=" + fakes + ":/usr/bin:/bin", "BACKUP_DIR=" + nas, "METRICS_DIR=" + metrics,
				"POSTGRES_PASSWORD_FILE=" + secret, "REDIS_PASSWORD_FILE=" + secret, "MODELS_DIR=" + filepath.Join(dir, "no-models")}
			out, err := cmd.CombinedOutput()
			if _, ok := tc.fakes["tar"]; ok {
				time.Sleep(500 * time.Millisecond) // what the failed tar's child does after it
			}
			if err != nil || !strings.Contains(string(out), "schedule-goes-on") {
				t.Fatalf("the schedule stopped: %v\n%s", err, out)
			}
			// The lock file stays: it holds nothing.
			kept := withoutLock(filepath.Glob(filepath.Join(nas, tc.kind, "*")))
			hidden := withoutLock(filepath.Glob(filepath.Join(nas, tc.kind, ".*")))
			reports, _ := filepath.Glob(filepath.Join(metrics, "*.prom"))
			if tc.ok {
				if len(kept) != 2 || len(hidden) != 0 || len(reports) != 1 || strings.Contains(string(out), "FAILED") {
					t.Errorf("a good backup: kept %v %v, reports %v\n%s", kept, hidden, reports, out)
				}
				return
			}
			if len(kept) != 0 || len(hidden) != 0 || len(reports) != 0 {
				t.Errorf("a failed backup kept %v %v, reported %v\n%s", kept, hidden, reports, out)
			}
			if tc.kind == "postgres" && tc.before != nil && !strings.Contains(string(out), "another postgres backup is running") {
				t.Errorf("the refusal does not say why:\n%s", out)
			}
			if !strings.Contains(string(out), tc.kind+": FAILED") {
				t.Errorf("the failure is not logged:\n%s", out)
			}
		})
	}
}

func withoutLock(paths []string, _ error) []string {
	var out []string
	for _, p := range paths {
		if filepath.Base(p) != ".lock" {
			out = append(out, p)
		}
	}
	return out
}

// The backup service's entrypoint is its PID 1: `docker stop` and a
// rolling update stop it with SIGTERM at once, not by SIGKILL after the
// grace period.
func TestBackupScheduleStopsOnSIGTERM(t *testing.T) {
	script, err := execute("backup.sh.tmpl", BackupDefaults(testApp(t, "server", nil)))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "backup.sh")
	os.WriteFile(path, script, 0o755)
	at := time.Now().Add(2 * time.Hour).Format("15:04")
	out, err := testutil.StopsAsPID1(t, []string{"BACKUP_DIR=" + dir, "BACKUP_TIME=" + at}, time.Second, 3*time.Second,
		"bash", path, "schedule", "postgres")
	if err != nil || !strings.Contains(out, "postgres: stopped") {
		t.Fatalf("the schedule as PID 1 does not stop on SIGTERM: %v\n%s", err, out)
	}
}

// backup.time is UTC: the schedule waits for that time of day in UTC,
// whatever zone the container's TZ names (the user reads the config as
// one time, not one per node).
func TestBackupTimeIsUTC(t *testing.T) {
	script, err := execute("backup.sh.tmpl", BackupDefaults(testApp(t, "server", nil)))
	if err != nil {
		t.Fatal(err)
	}
	body := string(script)
	body = body[:strings.LastIndex(body, "case ${1:-} in")]
	at := time.Now().UTC().Add(2*time.Hour + 30*time.Minute).Format("15:04")
	cmd := exec.Command("bash", "-c", body+"\nseconds_until \""+at+"\"\n")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TZ=Asia/Ho_Chi_Minh"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	fmt.Sscan(strings.TrimSpace(string(out)), &got)
	if want := 150 * 60; got < want-120 || got > want {
		t.Errorf("the wait until %s UTC, with TZ=Asia/Ho_Chi_Minh, is %d s; want about %d s", at, got, want)
	}
}
