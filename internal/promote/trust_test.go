package promote

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
	"github.com/nextflow-crm/nfx/internal/release"
)

// A ledger of five entries whose last is a reject, tampered with at its
// end in every way a person with the file could: each is found (the head
// proves the end), and no gate reads a ledger that does not verify, so the
// rejected release is never promoted. Only a tear the head shows was
// never acknowledged is repaired.
func TestLedgerProvesItsEnd(t *testing.T) {
	type ledger struct {
		data, head []byte
		hasHead    bool
	}
	for _, tc := range []struct {
		name   string
		tamper func(l ledger) ledger
		// want is the error's text; "" when the ledger verifies with n entries.
		want string
		n    int
	}{
		{"untouched", func(l ledger) ledger { return l }, "", 5},
		{"the last line deleted", func(l ledger) ledger { l.data = dropLines(l.data, 1); return l }, "its head records entry 5", 0},
		{"the last two lines deleted", func(l ledger) ledger { l.data = dropLines(l.data, 2); return l }, "ends at entry 3 but its head records entry 5", 0},
		{"only the final newline deleted", func(l ledger) ledger { l.data = bytes.TrimSuffix(l.data, []byte("\n")); return l }, "", 5},
		{"the last line cut short", func(l ledger) ledger { l.data = l.data[:len(l.data)-40]; return l }, "cut short, and its head records entry 5", 0},
		{"everything deleted", func(l ledger) ledger { l.data = nil; return l }, "ends at entry 0 but its head records entry 5", 0},
		{"the head deleted", func(l ledger) ledger { l.hasHead = false; return l }, "no head", 0},
		{"the head and the last line deleted", func(l ledger) ledger { l.hasHead = false; l.data = dropLines(l.data, 1); return l }, "no head", 0},
		{"the head emptied", func(l ledger) ledger { l.head = nil; return l }, "is damaged", 0},
		{"the head moved back one entry, the last line deleted", func(l ledger) ledger {
			l.data = dropLines(l.data, 1)
			l.head = headOf(t, l.data)
			return l
		}, "", 4}, // what a head cannot prove: it was rewritten with the ledger (see README)
		{"a shorter chain written in its place", func(l ledger) ledger { l.data = rehashedChain(t, 3); return l }, "its head records entry 5", 0},
		{"a chain as long, rewritten", func(l ledger) ledger { l.data = rehashedChain(t, 5); return l }, "not the entry the ledger's head records", 0},
		{"an append killed before its head", func(l ledger) ledger {
			l.data = append(l.data, appendable(t, l.data, "dry-run")...)
			return l
		}, "", 6},
		{"an append torn mid-line before its head", func(l ledger) ledger {
			line := appendable(t, l.data, "dry-run")
			l.data = append(l.data, line[:len(line)/2]...)
			return l
		}, "", 5},
		{"a line added after the head with a broken link", func(l ledger) ledger {
			l.data = append(l.data, []byte(`{"seq":6,"kind":"lift","prev":"00","hash":"00"}`+"\n")...)
			return l
		}, "does not follow entry 5", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := project(t)
			o := opts(dir, at(t, "2026-12-03T03:00:00Z"))
			appendConfig(t, o.From.File, "  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:1.9.0\n")
			o.DryRun = true
			dry, err := Run(o)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"dry-run", "dry-run"} {
				if _, err := o.Ledger.Append(Entry{Kind: k, To: "server"}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := Approve(o.Ledger, dry.Entry, "lan", o.Now); err != nil {
				t.Fatal(err)
			}
			if _, err := Reject(o.Ledger, dry.Release.Digest, "lan", "a bad build", o.Now); err != nil {
				t.Fatal(err)
			}
			head := filepath.Join(filepath.Dir(o.Ledger.Path), "ledger.head")
			l := ledger{data: mustRead(t, o.Ledger.Path), head: mustRead(t, head), hasHead: true}
			l = tc.tamper(l)
			os.WriteFile(o.Ledger.Path, l.data, 0o600)
			os.Remove(head)
			if l.hasHead {
				os.WriteFile(head, l.head, 0o600)
			}
			before := mustRead(t, o.To.File)
			n, err := o.Ledger.Verify()
			switch {
			case tc.want == "" && (err != nil || n != tc.n):
				t.Fatalf("verify: %d %v, want %d entries", n, err, tc.n)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("verify: %d %v, want %q", n, err, tc.want)
			}
			o.DryRun = false
			res, err := Run(o)
			switch {
			case tc.want != "":
				if err == nil || !strings.Contains(err.Error(), "ledger") {
					t.Errorf("a promotion read a ledger that does not verify: %v", err)
				}
				if !bytes.Equal(mustRead(t, o.To.File), before) {
					t.Error("the target changed")
				}
				if _, err := o.Ledger.Append(Entry{Kind: "lift", To: "server"}); err == nil {
					t.Error("an append extended a ledger that does not verify")
				}
			case tc.n >= 5:
				// The reject is there: the release stays blocked.
				if err != nil || !res.Blocked || !strings.Contains(gateDetail(res, "rejected"), "a bad build") {
					t.Errorf("the rejected release: %v %+v", err, res)
				}
				if n2, err := o.Ledger.Verify(); err != nil || n2 != tc.n+1 {
					t.Errorf("after the blocked promotion's entry: %d %v", n2, err)
				}
			}
		})
	}
}

// dropLines removes the last n lines.
func dropLines(data []byte, n int) []byte {
	lines := bytes.SplitAfter(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	out := bytes.Join(lines[:len(lines)-n], nil)
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n")) {
		out = append(out, '\n')
	}
	return out
}

// headOf is the head a ledger's data would have.
func headOf(t *testing.T, data []byte) []byte {
	l := Ledger{Path: filepath.Join(t.TempDir(), "ledger.jsonl")}
	os.WriteFile(l.Path, data, 0o600)
	es, _, err := l.fileEntries()
	if err != nil {
		t.Fatal(err)
	}
	last := es[len(es)-1]
	return []byte(fmt.Sprintf(`{"seq":%d,"hash":%q}`+"\n", last.Seq, last.Hash))
}

// rehashedChain is a well-formed chain of n entries with none of the
// original's content: what a forger who recomputes the hashes writes.
func rehashedChain(t *testing.T, n int) []byte {
	l := Ledger{Path: filepath.Join(t.TempDir(), "ledger.jsonl")}
	for i := 0; i < n; i++ {
		if _, err := l.Append(Entry{Kind: "dry-run", To: "server", Note: "forged"}); err != nil {
			t.Fatal(err)
		}
	}
	return mustRead(t, l.Path)
}

// appendable is the line the next append to data would write.
func appendable(t *testing.T, data []byte, kind string) []byte {
	l := Ledger{Path: filepath.Join(t.TempDir(), "ledger.jsonl")}
	os.WriteFile(l.Path, data, 0o600)
	os.WriteFile(l.headFile(), headOf(t, data), 0o600)
	if _, err := l.Append(Entry{Kind: kind}); err != nil {
		t.Fatal(err)
	}
	return dropLines(mustRead(t, l.Path), 0)[len(data):]
}

// The soak gate counts only time since the release arrived on the source,
// on the real clock: a verification dated into the past, a window that
// claims more than the ledger saw, another release in between, or a dry
// run's clock moved by --at cannot make a new release look soaked.
func TestSoakCannotBeFooled(t *testing.T) {
	clock := at(t, "2026-12-03T12:00:00Z")
	type step struct {
		kind    string
		other   bool          // of another release
		ago     time.Duration // the entry's time, before the clock
		passed  bool
		windowE time.Duration // a verification's window end, before the clock
		window  time.Duration
	}
	for _, tc := range []struct {
		name   string
		steps  []step
		moveAt time.Duration // the dry run's --at, after the clock
		pass   bool
		want   string
	}{
		{"a window 30 days old, recorded now", []step{{kind: "verify", passed: true, windowE: 30 * 24 * time.Hour, window: 15 * time.Minute}}, 0, false, "for 0 minutes"},
		{"verified once, just now", []step{{kind: "verify", passed: true, window: 15 * time.Minute}}, 0, false, "for 0 minutes"},
		{"a window of a day, recorded now", []step{{kind: "verify", passed: true, window: 24 * time.Hour}}, 0, false, "for 0 minutes"},
		{"promoted 2 h ago, verified now", []step{{kind: "promote", ago: 2 * time.Hour}, {kind: "verify", passed: true, window: 15 * time.Minute}}, 0, true, "for 120 minutes"},
		{"promoted 2 h ago, a window ending before it", []step{{kind: "promote", ago: 2 * time.Hour}, {kind: "verify", passed: true, windowE: 3 * time.Hour, window: 15 * time.Minute}}, 0, false, "no verification of it there has passed"},
		{"promoted 2 h ago, the verification failed", []step{{kind: "promote", ago: 2 * time.Hour}, {kind: "verify", window: 15 * time.Minute}}, 0, false, "no verification"},
		{"verified 2 h ago and now", []step{{kind: "verify", ago: 2 * time.Hour, passed: true, windowE: 2 * time.Hour, window: time.Hour}, {kind: "verify", passed: true, window: time.Hour}}, 0, true, "for 120 minutes"},
		{"another release ran in between", []step{{kind: "promote", ago: 3 * time.Hour}, {kind: "verify", other: true, ago: time.Hour, passed: true}, {kind: "verify", passed: true, window: 15 * time.Minute}}, 0, false, "for 0 minutes"},
		{"another release promoted in between", []step{{kind: "promote", ago: 3 * time.Hour}, {kind: "promote", other: true, ago: 2 * time.Hour}, {kind: "promote", ago: 10 * time.Minute}, {kind: "verify", passed: true}}, 0, false, "for 10 minutes"},
		{"a dry run's --at a week ahead", []step{{kind: "promote", ago: 10 * time.Minute}, {kind: "verify", passed: true}}, 7 * 24 * time.Hour, false, "for 10 minutes"},
		{"a window ending in the future", []step{{kind: "promote", ago: 2 * time.Hour}, {kind: "verify", passed: true, windowE: -24 * time.Hour, window: time.Minute}}, 0, true, "verified up to 2026-12-03T12:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := project(t)
			o := opts(dir, clock.Add(tc.moveAt))
			o.Clock = func() time.Time { return clock }
			o.DryRun = tc.moveAt != 0
			appendConfig(t, o.To.File, "  nextflow:promotion:\n    soakMinutes: 60\n")
			digest := releaseOf(t, o.From)
			for _, s := range tc.steps {
				d := digest
				if s.other {
					d = "sha256:" + strings.Repeat("0", 64)
				}
				e := Entry{Kind: s.kind, To: "laptop", Release: d, Time: clock.Add(-s.ago)}
				if s.kind == "verify" {
					e.Gates = []GateResult{{Name: "verification", Passed: s.passed, Figures: map[string]float64{
						"windowEnd": float64(clock.Add(-s.windowE).Unix()), "windowSeconds": s.window.Seconds()}}}
				}
				if _, err := o.Ledger.Append(e); err != nil {
					t.Fatal(err)
				}
			}
			res, err := Run(o)
			if err != nil {
				t.Fatal(err)
			}
			g := gateDetail(res, "soak")
			if !strings.Contains(g, tc.want) || soakPassed(res) != tc.pass {
				t.Errorf("soak passed %v (want %v): %s", soakPassed(res), tc.pass, g)
			}
		})
	}
	// RecordVerification dates its entry by the clock, whatever window it
	// reports.
	dir := project(t)
	o := opts(dir, clock)
	e, err := RecordVerification(o.Ledger, o.From, &monitoring.Verification{Passed: true}, clock.Add(-30*24*time.Hour), 15*time.Minute, "ci")
	if err != nil || time.Since(e.Time) > time.Minute {
		t.Errorf("a verification's entry is dated %s: %v", e.Time, err)
	}
}

func soakPassed(r *Result) bool {
	for _, g := range r.Gates {
		if g.Name == "soak" {
			return g.Passed
		}
	}
	return false
}

// releaseOf is the digest of a stack's release.
func releaseOf(t *testing.T, s Stack) string {
	_, cfg, err := loadValid(s)
	if err != nil {
		t.Fatal(err)
	}
	return release.Of(cfg).Digest
}

// An approved promotion killed after its decision (its up, its deploy, its
// verification or the file's write not done) completes when run again with
// the same approval; once done, the approval is spent; a promotion that
// another change overtook is not resumed.
func TestApprovedPromotionResumes(t *testing.T) {
	for _, tc := range []struct {
		name string
		// kill stops the first run after these steps: "decision" (the
		// entry only), "write" (the file too), "up" (the up too).
		kill string
		// then changes something before the rerun.
		then    func(t *testing.T, o Options)
		wantErr string
		blocked string
		ups     int
	}{
		{name: "killed after the decision", kill: "decision", ups: 1},
		{name: "killed after the file's write", kill: "write", ups: 1},
		{name: "killed after the up", kill: "up", ups: 1},
		{name: "the source's release moved since", kill: "up", then: func(t *testing.T, o Options) {
			b := bytes.Replace(mustRead(t, o.From.File), []byte("crm:1.9.0"), []byte("crm:1.9.1"), 1)
			if err := os.WriteFile(o.From.File, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, wantErr: "was killed before it finished"},
		{name: "a rollback overtook it", kill: "up", then: func(t *testing.T, o Options) {
			if _, err := o.Ledger.Append(Entry{Kind: "rollback", To: "server"}); err != nil {
				t.Fatal(err)
			}
		}, blocked: "approval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := project(t)
			o := opts(dir, at(t, "2026-12-03T03:00:00Z"))
			appendConfig(t, o.From.File, "  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:1.9.0\n")
			appendConfig(t, o.To.File, "  nextflow:promotion:\n    approvals: 1\n")
			o.DryRun = true
			dry, err := Run(o)
			if err != nil || dry.Blocked {
				t.Fatal(err, dry)
			}
			if _, err := Approve(o.Ledger, dry.Entry, "lan", o.Now); err != nil {
				t.Fatal(err)
			}
			o.DryRun, o.Approved = false, dry.Entry
			// The killed run.
			cfg := mustRead(t, o.To.File)
			killed := o
			killed.Engine = &killEngine{fakeEngine: fakeEngine{healthy: true, target: o.To.File}, at: map[string]string{"up": "after-up"}[tc.kill]}
			if tc.kill != "up" {
				killed.Engine.(*killEngine).at = "before-up"
			}
			ended := make(chan struct{})
			go func() {
				defer close(ended)
				Run(killed)
				t.Error("the killed run went on")
			}()
			<-ended
			if tc.kill == "decision" {
				os.WriteFile(o.To.File, cfg, 0o644)
			}
			es, _ := o.Ledger.Entries()
			first := es[len(es)-1]
			if first.Kind != "promote" {
				t.Fatalf("the killed run's last entry: %+v", first)
			}
			if tc.kill == "up" {
				// The engine's up changed the state the approval bound.
				o.StateFile = filepath.Join(dir, "state.json")
				os.WriteFile(o.StateFile, []byte(`{"after":"up"}`), 0o600)
			}
			if tc.then != nil {
				tc.then(t, o)
			}
			eng := &fakeEngine{healthy: true, target: o.To.File}
			o.Engine = eng
			res, err := Run(o)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			case tc.blocked != "":
				if !res.Blocked || gateDetail(res, tc.blocked) == "" || eng.ups != 0 {
					t.Fatalf("want blocked by %s, no up: %+v, %d ups", tc.blocked, res.Gates, eng.ups)
				}
				return
			}
			if res.Blocked || eng.ups != tc.ups || !strings.Contains(gateDetail(res, "resume"), "completes the promotion of ledger entry") {
				t.Fatalf("the rerun: blocked %v, %d ups: %+v", res.Blocked, eng.ups, res.Gates)
			}
			if !bytes.Contains(mustRead(t, o.To.File), []byte("crm:1.9.0")) {
				t.Error("the target does not carry the release")
			}
			es, _ = o.Ledger.Entries()
			if last := es[len(es)-1]; last.Kind != "done" || last.Ref != first.Seq {
				t.Errorf("the last entry: %+v", last)
			}
			// Spent: the same approval again is refused.
			again, err := Run(o)
			if err != nil || !again.Blocked || !strings.Contains(gateDetail(again, "approval"), "spent once") || eng.ups != tc.ups {
				t.Errorf("the spent approval: %v %+v", err, again.Gates)
			}
		})
	}
}

// killEngine is the engine of a promotion killed at a step: its
// goroutine ends there, as the process would, with nothing after it run.
type killEngine struct {
	fakeEngine
	at string
}

func (k *killEngine) Up() (string, error) {
	if k.at == "before-up" {
		runtime.Goexit()
	}
	s, err := k.fakeEngine.Up()
	if k.at == "after-up" {
		runtime.Goexit()
	}
	return s, err
}

func (k *killEngine) Verify(v model.VerifyConfig) (GateResult, bool) { return k.fakeEngine.Verify(v) }

// nfx rollback killed after its decision (the file carries the earlier
// release, its up not run): the rerun completes that rollback's up and
// records it done; it does not go back one release further. A rerun once
// done goes back further, as asked.
func TestKilledRollbackResumes(t *testing.T) {
	dir := project(t)
	o := opts(dir, at(t, "2026-12-03T03:00:00Z"))
	src := mustRead(t, o.From.File)
	for _, tag := range []string{"1.9.0", "1.9.1", "1.9.2"} {
		os.WriteFile(o.From.File, append(append([]byte(nil), src...), "  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:"+tag+"\n"...), 0o644)
		if res, err := Run(o); err != nil || !res.Applied {
			t.Fatalf("promote %s: %v %+v", tag, err, res)
		}
	}
	killer := &killEngine{fakeEngine: fakeEngine{healthy: true, target: o.To.File}, at: "before-up"}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		Rollback(o.Ledger, o.To, "ci", o.Now, killer)
		t.Error("the killed rollback went on")
	}()
	<-ended
	if !bytes.Contains(mustRead(t, o.To.File), []byte("crm:1.9.1")) {
		t.Fatal("the killed rollback did not write 1.9.1")
	}
	eng := &fakeEngine{healthy: true, target: o.To.File}
	res, err := Rollback(o.Ledger, o.To, "ci", o.Now, eng)
	if err != nil || eng.ups != 1 || !strings.Contains(res.From, "resumed") || !bytes.Contains(mustRead(t, o.To.File), []byte("crm:1.9.1")) {
		t.Fatalf("the rerun: %v %+v, %d ups", err, res, eng.ups)
	}
	es, _ := o.Ledger.Entries()
	if last := es[len(es)-1]; last.Kind != "done" {
		t.Errorf("the resumed rollback is not done: %+v", last)
	}
	// Done: another rollback goes back one more.
	res, err = Rollback(o.Ledger, o.To, "ci", o.Now, eng)
	if err != nil || !bytes.Contains(mustRead(t, o.To.File), []byte("crm:1.9.0")) {
		t.Fatalf("the next rollback: %v %+v", err, res)
	}
}
