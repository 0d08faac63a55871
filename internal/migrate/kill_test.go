package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

const killSeed = `
CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE notes (id bigserial PRIMARY KEY, account_id int REFERENCES accounts(id), body text, meta jsonb);
INSERT INTO accounts (name) SELECT 'a' || g FROM generate_series(1, 2000) g;
INSERT INTO notes (account_id, body, meta) SELECT 1 + g % 2000, repeat('x', g % 300), jsonb_build_object('g', g) FROM generate_series(1, 20000) g;`

// testDB is a database of a test's server, as its superuser.
func testDB(name string, p *testutil.Postgres, database string) *DB {
	return &DB{Name: name, Host: "127.0.0.1", Port: p.Port, User: "nextflow", Password: p.Password, Database: database, SSLMode: "disable"}
}

// helperRun is what the helper process runs: a migration, killed by
// SIGKILL as the step NFX_KILL_AT starts.
type helperRun struct {
	Plan   *Plan
	Dir    string
	E      Endpoints
	KillAt string
	// KillAfter kills that long into the step instead of as it starts.
	KillAfter time.Duration
}

func TestMain(m *testing.M) {
	if spec := os.Getenv("NFX_MIGRATE_HELPER"); spec != "" {
		var h helperRun
		if err := json.Unmarshal([]byte(spec), &h); err != nil {
			os.Exit(3)
		}
		die := func() {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
		started := false
		stepHook = func(id string) {
			if started {
				// The step ended before the timer: die as the next starts.
				die()
			}
			if id != h.KillAt {
				return
			}
			if h.KillAfter == 0 {
				die()
			}
			started = true
			time.AfterFunc(h.KillAfter, func() { syscall.Kill(os.Getpid(), syscall.SIGKILL) })
		}
		r := &Run{Plan: h.Plan, Dir: h.Dir, E: h.E, Jobs: 2, MaxFreeze: time.Minute, RedisCompareAll: 1000}
		_, err := r.Execute(context.Background())
		if started {
			die()
		}
		if err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// nfx killed (SIGKILL) as each step starts, in both modes, then run
// again: every rerun resumes, the last completes, the target holds each
// row once and equals the source, the source's content never changed.
func TestMigrateSurvivesAKillAtEveryStep(t *testing.T) {
	for _, mode := range []string{model.MigrateDump, model.MigrateOnline} {
		t.Run(mode, func(t *testing.T) {
			src := testutil.StartPostgres(t, "-c wal_level=logical")
			dst := testutil.StartPostgres(t)
			src.Exec(t, "nextflow", killSeed)
			dst.Exec(t, "postgres", "CREATE DATABASE scratch")
			from := load(t, "laptop", map[string]string{"migration": `{"mode": "` + mode + `"}`, "redis": `{"data": "cache"}`})
			plan, err := NewPlan(from, load(t, "server", nil))
			if err != nil {
				t.Fatal(err)
			}
			traffic := filepath.Join(t.TempDir(), "traffic")
			h := helperRun{Plan: plan, Dir: filepath.Join(t.TempDir(), "journal"),
				E: Endpoints{SourceDB: testDB("source", src, "nextflow"), TargetDB: testDB("target", dst, "nextflow"), Scratch: testDB("scratch", dst, "scratch"),
					Cutover: "echo server >> " + traffic}}
			before, err := TakeSnapshot(context.Background(), *h.E.SourceDB)
			if err != nil {
				t.Fatal(err)
			}
			type kill struct {
				at    string
				after time.Duration
			}
			var kills []kill
			for _, s := range plan.Steps {
				kills = append(kills, kill{s.ID, 0})
				// Killed in the middle of the long steps too: the clients it
				// started die with it, the rerun starts the step again.
				if s.ID == "postgres.restore" || s.ID == "postgres.subscribe" || s.ID == "postgres.preverify" || s.ID == "verify" {
					kills = append(kills, kill{s.ID, 30 * time.Millisecond})
				}
			}
			midway := 0
			for _, k := range append(kills, kill{}) {
				s := Step{ID: k.at}
				h.KillAt, h.KillAfter = k.at, k.after
				spec, _ := json.Marshal(h)
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), "NFX_MIGRATE_HELPER="+string(spec))
				out, err := cmd.CombinedOutput()
				var ee *exec.ExitError
				killed := err != nil && errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled()
				if s.ID != "" && !killed {
					t.Fatalf("killed at %s: %v %s", s.ID, err, out)
				}
				if s.ID == "" && err != nil {
					t.Fatalf("the last run: %v %s", err, out)
				}
				j, err := LoadJournal(h.Dir)
				if err != nil {
					t.Fatal(err)
				}
				if s.ID != "" && j.state(s.ID).State != StateRunning {
					if k.after == 0 {
						t.Fatalf("after the kill at %s the journal is %+v", s.ID, j.state(s.ID))
					}
					t.Logf("%s finished before the kill %s into it", s.ID, k.after)
				} else if k.after > 0 {
					midway++
				}
				// No client nfx started outlives it for long (pg_restore's
				// parallel workers end when they find their leader gone).
				deadline := time.Now().Add(10 * time.Second)
				for {
					out, _ := exec.Command("pgrep", "-a", "-f", h.Dir).Output()
					if len(out) == 0 {
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("after the kill at %s, processes of the migration still run: %s", s.ID, out)
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			if midway == 0 {
				t.Error("no kill landed in the middle of a step")
			}
			j, _ := LoadJournal(h.Dir)
			if j.State != MigrationCutOver || j.Verification == nil || !j.Verification.OK {
				t.Fatalf("state %s, verification %+v", j.State, j.Verification)
			}
			for _, st := range j.Steps {
				if st.State != StateDone && st.State != StateSkipped {
					t.Errorf("step %s is %s", st.ID, st.State)
				}
			}
			if got := dst.Query(t, "nextflow", "SELECT count(*) || '/' || count(DISTINCT id) FROM notes"); got != "20000/20000" {
				t.Errorf("notes on the target: %s", got)
			}
			if b, _ := os.ReadFile(traffic); strings.Count(string(b), "server") < 1 {
				t.Error("the cutover did not run")
			}
			after, err := TakeSnapshot(context.Background(), *h.E.SourceDB)
			if err != nil {
				t.Fatal(err)
			}
			if bad := CompareSnapshots(before, after); len(bad) > 0 {
				t.Errorf("the source changed: %v", bad)
			}
			if mode == model.MigrateOnline {
				if got := src.Query(t, "nextflow", "SELECT (SELECT count(*) FROM pg_replication_slots) + (SELECT count(*) FROM pg_publication)"); got != "0" {
					t.Errorf("%s slots or publications left on the source", got)
				}
			}
		})
	}
}

// state is a step's record in a loaded journal.
func (j *Journal) state(id string) *StepState {
	for _, s := range j.Steps {
		if s.ID == id {
			return s
		}
	}
	return &StepState{}
}
