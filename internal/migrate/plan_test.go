package migrate

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
)

func load(t *testing.T, stage string, values map[string]string) *model.Config {
	t.Helper()
	c, ds := model.Load(stage, model.Raw{Values: values, Secret: map[string]bool{}}, model.LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	return c
}

// laptopToServerScript writes the laptop -> server migrate.sh, as `nfx
// migrate scripts` renders it, and returns its path.
func laptopToServerScript(t *testing.T) string {
	t.Helper()
	_, set := planScripts(t, load(t, "laptop", nil), load(t, "server", nil))
	script := filepath.Join(t.TempDir(), "migrate.sh")
	if err := os.WriteFile(script, set[0].Data, 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

// planScripts is the migration's plan from one stage to another, and its
// scripts.
func planScripts(t *testing.T, from, to *model.Config) (*Plan, files.Set) {
	t.Helper()
	p, err := NewPlan(from, to)
	if err != nil {
		t.Fatal(err)
	}
	set, err := Scripts(p, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return p, set
}

func stepIDs(p *Plan) string {
	ids := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		ids[i] = s.ID
	}
	return strings.Join(ids, " ")
}

// The plan follows from both stages' models: the mode, what Redis holds,
// the target's replica, the versions each side runs.
func TestPlanFromTheModels(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		values   map[string]string
		toValues map[string]string
		steps    string
		failed   string
		replica  bool
	}{
		{"laptop", "server", nil, nil, "preflight postgres.rehearse models.copy freeze postgres.dump postgres.restore redis.copy qdrant.copy verify cutover", "", true},
		{"laptop", "server", map[string]string{"migration": `{"mode": "online"}`}, nil,
			"preflight postgres.online-check postgres.rehearse models.copy postgres.schema postgres.subscribe postgres.preverify freeze postgres.catchup postgres.sequences postgres.unsubscribe redis.copy qdrant.copy verify cutover", "", true},
		{"server", "cloud", nil, nil, "preflight postgres.rehearse models.copy freeze postgres.dump postgres.restore redis.copy qdrant.copy verify cutover", "", false},
		{"laptop", "cloud", map[string]string{"postgres": `{"image": "postgres:17.2"}`}, nil, "", "PostgreSQL major version", false},
		{"laptop", "server", nil, map[string]string{"qdrant": `{"image": "qdrant/qdrant:v1.12.0"}`}, "", "Qdrant minor version", true},
	} {
		p, err := NewPlan(load(t, tc.from, tc.values), load(t, tc.to, tc.toValues))
		if err != nil {
			t.Fatal(err)
		}
		if tc.steps != "" && stepIDs(p) != tc.steps {
			t.Errorf("%s -> %s %v: steps\n %s\nwant\n %s", tc.from, tc.to, tc.values, stepIDs(p), tc.steps)
		}
		var failed []string
		for _, c := range p.Checks {
			if !c.OK {
				failed = append(failed, c.What)
				if c.Fix == "" {
					t.Errorf("%s fails with no fix", c.What)
				}
			}
		}
		if strings.Join(failed, ",") != tc.failed {
			t.Errorf("%s -> %s: failed checks %v, want %q", tc.from, tc.to, failed, tc.failed)
		}
		verify := p.Steps[len(p.Steps)-2]
		if strings.Contains(verify.Detail, "replayed") != tc.replica {
			t.Errorf("%s -> %s: verify %q", tc.from, tc.to, verify.Detail)
		}
		// Every step of a plan has code to run it.
		for _, s := range p.Steps {
			if _, ok := onlineSteps[s.ID]; !ok && !strings.Contains(" preflight postgres.rehearse freeze postgres.dump postgres.restore redis.copy qdrant.copy models.copy verify cutover ", " "+s.ID+" ") {
				t.Errorf("step %s has no implementation", s.ID)
			}
		}
	}
	if _, err := NewPlan(load(t, "cloud", nil), load(t, "server", nil)); err == nil || !strings.Contains(err.Error(), "rollback") {
		t.Errorf("a migration backwards: %v", err)
	}
}

// The scripts a user runs by hand are shellcheck clean and valid bash for
// every pair of stages, mode and Redis data.
func TestScriptsPassShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		if os.Getenv("NFX_REQUIRE_TOOLS") != "" {
			t.Fatal("shellcheck is not installed")
		}
		t.Skip("shellcheck is not installed")
	}
	for _, pair := range [][2]string{{"laptop", "server"}, {"server", "cloud"}, {"laptop", "cloud"}} {
		for _, values := range []map[string]string{
			nil,
			{"migration": `{"mode": "online"}`, "redis": `{"data": "cache"}`},
			{"tunnel": `{"mode": "none", "localPort": 8080}`, "postgres": `{"database": "crm_db"}`},
		} {
			if pair[1] == "cloud" && strings.Contains(values["tunnel"], "none") {
				continue // the cloud has no entry but its tunnel (TestCloudRefusesNoTunnel)
			}
			p, set := planScripts(t, load(t, pair[0], values), load(t, pair[1], values))
			dir := t.TempDir()
			var paths []string
			for _, f := range set {
				path := filepath.Join(dir, f.Path)
				if err := os.WriteFile(path, f.Data, 0o755); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, path)
				if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
					t.Errorf("%v %s: bash -n: %s", pair, f.Path, out)
				}
			}
			if out, err := exec.Command("shellcheck", append([]string{"-S", "style"}, paths...)...).CombinedOutput(); err != nil {
				t.Errorf("%v %v: shellcheck:\n%s", pair, values, out)
			}
			for _, s := range p.Steps {
				if !strings.Contains(string(set[0].Data), "\n  "+s.ID+") "+funcName(s.ID)) {
					t.Errorf("%v: migrate.sh has no %s", pair, s.ID)
				}
			}
		}
	}
}

// A migration under way is not silently continued under another plan (a
// Redis declared cache when it started, state now, would never be
// copied); one that changed nothing yet starts afresh.
func TestJournalBelongsToItsPlan(t *testing.T) {
	server := load(t, "server", nil)
	cache, _ := NewPlan(load(t, "laptop", map[string]string{"redis": `{"data": "cache"}`}), server)
	state, _ := NewPlan(load(t, "laptop", nil), server)
	dir := t.TempDir()
	r := &Run{Plan: cache, Dir: dir}
	unlock, err := r.begin()
	if err != nil {
		t.Fatal(err)
	}
	r.state("preflight").State = StateDone
	if err := r.save(); err != nil {
		t.Fatal(err)
	}
	unlock()
	// Only the checks ran: the other plan starts afresh.
	r2 := &Run{Plan: state, Dir: dir}
	unlock, err = r2.begin()
	if err != nil {
		t.Fatalf("an untouched attempt: %v", err)
	}
	if r2.j.Plan.RedisData != "state" || r2.state("preflight").State != StatePending {
		t.Errorf("not started afresh: %+v", r2.j.Plan)
	}
	r2.j.FrozenAt = time.Now()
	r2.state("freeze").State = StateDone
	r2.save()
	unlock()
	// Frozen under one plan: another is refused, the first one is named.
	if _, err := (&Run{Plan: cache, Dir: dir}).begin(); err == nil || !strings.Contains(err.Error(), "with Redis as state; this one is laptop -> server in dump mode with Redis as cache") {
		t.Errorf("a touched attempt: %v", err)
	}
	// Two at once: the second is refused.
	unlock, err = (&Run{Plan: state, Dir: dir}).begin()
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := (&Run{Plan: state, Dir: dir}).begin(); err == nil || !strings.Contains(err.Error(), "another nfx is running it") {
		t.Errorf("a second run at once: %v", err)
	}
}

// The rehearsal finds the newest backup the server's job wrote, and
// refuses one that does not match its checksum.
func TestLatestBackup(t *testing.T) {
	dir := t.TempDir()
	pg := filepath.Join(dir, "postgres")
	os.MkdirAll(pg, 0o755)
	for _, name := range []string{"postgres-20261130T020000Z.dump", "postgres-20261201T020000Z.dump", ".partial-postgres-20261202T020000Z.dump"} {
		os.WriteFile(filepath.Join(pg, name), []byte(name), 0o644)
	}
	newest := filepath.Join(pg, "postgres-20261201T020000Z.dump")
	sum, _ := fileSHA256(newest)
	os.WriteFile(newest+".sha256", []byte(sum+"  postgres-20261201T020000Z.dump\n"), 0o644)
	if got, err := LatestBackup(dir); err != nil || got != newest {
		t.Errorf("latest of %s: %s %v", dir, got, err)
	}
	os.WriteFile(newest, []byte("damaged"), 0o644)
	if _, err := LatestBackup(dir); err == nil || !strings.Contains(err.Error(), "does not match its checksum") {
		t.Errorf("a damaged backup: %v", err)
	}
	if _, err := LatestBackup(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no postgres-*.dump") {
		t.Errorf("an empty directory: %v", err)
	}
}

// Every part that holds data (the part table's one fact) is carried by a
// step of every migration, whatever its mode, and nothing else is.
func TestEveryDataPartMigrates(t *testing.T) {
	for _, mode := range []string{"dump", "online"} {
		for _, pair := range [][2]string{{"laptop", "server"}, {"server", "cloud"}, {"laptop", "cloud"}} {
			p, err := NewPlan(load(t, pair[0], map[string]string{"migration": `{"mode": "` + mode + `"}`}), load(t, pair[1], nil))
			if err != nil {
				t.Fatal(err)
			}
			carried := map[string]bool{}
			for _, s := range p.Steps {
				if part, ok := model.LookupPart(s.Part); ok && part.Holds != "" && strings.HasPrefix(s.ID, part.Holds+".") {
					carried[part.Holds] = true
				}
			}
			for _, d := range model.DataParts() {
				if !carried[d.Holds] {
					t.Errorf("%s %s -> %s: no step carries %s's %s", mode, pair[0], pair[1], d.Name, d.Holds)
				}
			}
		}
	}
}
