package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/migrate"
)

// Hostile input to nfx migrate: refused with exit 2, a message that names
// the flag and the fix, no secret echoed, and nothing written.
func TestMigrateRefusesHostileInput(t *testing.T) {
	const secret = "hunter2-\"'$(id)"
	run := []string{"migrate", "run", "--from", "laptop", "--to", "server"}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"backwards", []string{"migrate", "plan", "--from", "cloud", "--to", "laptop"}, []string{"--from cloud --to laptop", "later stage", "rollback"}},
		{"to itself", []string{"migrate", "plan", "--from", "server", "--to", "server"}, []string{"later stage"}},
		{"shell in the stage", []string{"migrate", "plan", "--from", "laptop$(id)", "--to", "server"}, []string{"unknown stage"}},
		{"no stages", []string{"migrate", "plan"}, []string{"required flag"}},
		{"json and markdown", []string{"migrate", "plan", "--from", "laptop", "--to", "server", "--json", "--markdown"}, []string{"choose one"}},
		{"a password in the database URL", append(run, "--source-db", "postgres://nextflow:"+secret+"@127.0.0.1:5432/nextflow"),
			[]string{"--source-db", "holds a password", "NFX_SOURCE_DB_PASSWORD"}},
		{"a password in the Redis URL", append(run, "--source-redis", "redis://default:"+secret+"@127.0.0.1:6379"),
			[]string{"--source-redis", "holds a password", "NFX_SOURCE_REDIS_PASSWORD"}},
		{"credentials in the Qdrant URL", append(run, "--target-qdrant", "http://admin:"+secret+"@127.0.0.1:6333"),
			[]string{"--target-qdrant", "holds a password (not shown)", "NFX_TARGET_QDRANT_API_KEY"}},
		{"a port out of range", append(run, "--target-db", "postgres://nextflow@127.0.0.1:99999/nextflow"), []string{"--target-db", "its port is not a number from 1 to 65535"}},
		{"no database", append(run, "--target-db", "postgres://nextflow@127.0.0.1:5432"), []string{"--target-db", "names no user or no database"}},
		{"not a URL", append(run, "--source-db", "host=127.0.0.1 user=nextflow"), []string{"--source-db", "libpq's keyword=value form, not a URL"}},
		{"a password file that is a device", append(run, "--source-db", "postgres://nextflow@127.0.0.1/nextflow", "--source-db-password-file", "/dev/zero"),
			[]string{"--source-db-password-file", "not a password file"}},
		{"a missing password file", append(run, "--source-db", "postgres://nextflow@127.0.0.1/nextflow", "--source-db-password-file", "nope"),
			[]string{"--source-db-password-file", "nope"}},
		{"a URL of a megabyte", append(run, "--source-db", "postgres://"+strings.Repeat("h", 1<<20)), []string{"--source-db", "over 2048", "not shown"}},
		{"scripts into the project", []string{"migrate", "scripts", "--from", "laptop", "--to", "server", "--out", "."}, []string{"--out", "which nfx did not write"}},
		{"scripts into a file", []string{"migrate", "scripts", "--from", "laptop", "--to", "server", "--out", "Pulumi.yaml"}, []string{"it is a file"}},
		{"a password file that is a device", append(run, "--source-db", "postgres://nextflow@127.0.0.1/nextflow", "--source-db-password-file", "/dev/null"),
			[]string{"--source-db-password-file", "not a password file"}},
		{"rehearse without a scratch database", []string{"migrate", "rehearse", "--stage", "laptop", "--source-db", "postgres://nextflow@127.0.0.1/nextflow"}, []string{"--scratch-db is required"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := project(t)
			before := snapshot(t, dir)
			code, stdout, stderr := nfx(t, dir, tc.args...)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d\n%s", code, ExitUsage, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("%q is not in: %s", w, stderr)
				}
			}
			if strings.Contains(stderr+stdout, "hunter2") {
				t.Errorf("the secret was echoed: %s", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout: %.200q", stdout)
			}
			if len(stderr) > 2000 {
				t.Errorf("the message is %d bytes: it echoes the input", len(stderr))
			}
			if snapshot(t, dir) != before {
				t.Error("the refused command changed the project")
			}
		})
	}
}

// The plan in its three forms, and the scripts written beside the
// target's render, which leaves them alone.
func TestMigratePlanAndScripts(t *testing.T) {
	dir := project(t)
	code, out, stderr := nfx(t, dir, "migrate", "plan", "--from", "laptop", "--to", "server", "--json")
	if code != 0 {
		t.Fatal(stderr)
	}
	var p migrate.Plan
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.From != "laptop" || p.Mode != "dump" || len(p.Steps) != 10 {
		t.Fatalf("plan JSON: %v %+v", err, p)
	}
	_, md, _ := nfx(t, dir, "migrate", "plan", "--from", "server", "--to", "cloud", "--markdown")
	if !strings.Contains(md, "| `postgres.dump` Dump the source into the target |") || !strings.Contains(md, "ElastiCache") {
		t.Errorf("markdown plan:\n%s", md)
	}
	if code, _, stderr := nfx(t, dir, "migrate", "scripts", "--from", "laptop", "--to", "server"); code != 0 {
		t.Fatal(stderr)
	}
	scripts := filepath.Join(dir, "out", "server", "migrate")
	for _, f := range []string{"migrate.sh", "cutover.sh", "rollback.sh"} {
		if fi, err := os.Stat(filepath.Join(scripts, f)); err != nil || fi.Mode().Perm()&0o100 == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	// The stage's render and destroy keep the scripts.
	if code, _, stderr := nfx(t, dir, "render", "--stage", "server"); code != 0 {
		t.Fatalf("render beside the scripts: %s", stderr)
	}
	if _, err := os.Stat(filepath.Join(scripts, "migrate.sh")); err != nil {
		t.Error("render removed the migration's scripts")
	}
	// No migration ran: report says so and how.
	code, _, stderr = nfx(t, dir, "migrate", "report", "--from", "laptop", "--to", "server")
	if code != ExitFailed || !strings.Contains(stderr, "no migration laptop -> server has run") {
		t.Errorf("report without a migration: %d %s", code, stderr)
	}
}

// nfx diff shows the migration's plan, not prose.
func TestDiffShowsTheMigrationPlan(t *testing.T) {
	dir := project(t)
	_, out, stderr := nfx(t, dir, "diff", "--from", "laptop", "--to", "server")
	for _, w := range []string{"Migration (nfx migrate plan --from laptop --to server)", "`postgres.dump` Dump the source into the target", "[freeze, writes frozen]", "Downtime: PostgreSQL in dump mode"} {
		if !strings.Contains(out, w) {
			t.Errorf("%q is not in the diff:\n%s%s", w, out, stderr)
		}
	}
	if strings.Contains(out, "backup.sql") {
		t.Error("the diff still prints the seed's prose")
	}
}

// Without a way to switch the traffic, the migration stops at preflight,
// before the source is frozen for nothing.
func TestMigrateNeedsACutoverFirst(t *testing.T) {
	dir := project(t)
	write(t, filepath.Join(dir, "laptop.yaml"), "config:\n  nextflow:stage: laptop\n  nextflow:redis: {data: cache}\n")
	code, _, stderr := nfx(t, dir, "migrate", "run", "--from", "laptop", "--to", "server", "--from-config", "laptop.yaml",
		"--source-db", "postgres://nextflow@127.0.0.1:1/nextflow", "--target-db", "postgres://nextflow@127.0.0.1:1/nextflow")
	if code != ExitFailed || !strings.Contains(stderr, "step preflight: no --cutover-cmd") || !strings.Contains(stderr, "nfx migrate scripts") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	// Redis declared state needs its connections, also before anything.
	code, _, stderr = nfx(t, dir, "migrate", "run", "--from", "laptop", "--to", "server", "--cutover-cmd", "true",
		"--source-db", "postgres://nextflow@127.0.0.1:1/nextflow", "--target-db", "postgres://nextflow@127.0.0.1:1/nextflow")
	if code != ExitFailed || !strings.Contains(stderr, "redis.data is state") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}
