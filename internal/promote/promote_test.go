package promote

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/engine"
	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
	"github.com/nextflow-crm/nfx/internal/offline"
	"github.com/nextflow-crm/nfx/internal/plan"
	"github.com/nextflow-crm/nfx/internal/release"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Freeze windows read on the zone's wall clock, across both DST changes
// of America/New_York in 2026 (8 March: 02:00 becomes 03:00; 1 November:
// 01:00-02:00 happens twice), an overnight window, a date range, and an
// allow window that a deny window overrides.
func TestFreezeWindows(t *testing.T) {
	ny := "America/New_York"
	sunNight := model.FreezeWindow{Kind: "deny", Days: []string{"Sun"}, From: "01:00", To: "04:00", TimeZone: ny}
	fallBack := model.FreezeWindow{Kind: "deny", Days: []string{"Sun"}, From: "01:00", To: "02:00", TimeZone: ny}
	overnight := model.FreezeWindow{Kind: "deny", Days: []string{"Fri"}, From: "22:00", To: "06:00", TimeZone: "Asia/Ho_Chi_Minh", Reason: "the weekly batch"}
	office := model.FreezeWindow{Kind: "allow", Days: []string{"Mon", "Tue", "Wed", "Thu", "Fri"}, From: "09:00", To: "17:00", TimeZone: "Asia/Ho_Chi_Minh"}
	tet := model.FreezeWindow{Kind: "deny", Start: "2027-02-05", End: "2027-02-10", TimeZone: "Asia/Ho_Chi_Minh", Reason: "Tet"}
	for _, tc := range []struct {
		name    string
		windows []model.FreezeWindow
		now     string
		allowed bool
	}{
		{"before the spring change, 01:30 EST", []model.FreezeWindow{sunNight}, "2026-03-08T06:30:00Z", false},
		{"after it, 03:30 EDT", []model.FreezeWindow{sunNight}, "2026-03-08T07:30:00Z", false},
		// A fixed -05:00 would read 03:30 here and deny: the wall clock says 04:30.
		{"04:30 EDT, past the window", []model.FreezeWindow{sunNight}, "2026-03-08T08:30:00Z", true},
		{"the first 01:30 of the fall change (EDT)", []model.FreezeWindow{fallBack}, "2026-11-01T05:30:00Z", false},
		{"the second 01:30 (EST)", []model.FreezeWindow{fallBack}, "2026-11-01T06:30:00Z", false},
		{"02:30 EST", []model.FreezeWindow{fallBack}, "2026-11-01T07:30:00Z", true},
		{"Friday 23:00 in Hanoi", []model.FreezeWindow{overnight}, "2026-12-04T16:00:00Z", false},
		{"Saturday 05:59 in Hanoi, the same night", []model.FreezeWindow{overnight}, "2026-12-04T22:59:00Z", false},
		{"Saturday 06:00", []model.FreezeWindow{overnight}, "2026-12-04T23:00:00Z", true},
		{"Thursday 23:00: not the batch's night", []model.FreezeWindow{overnight}, "2026-12-03T16:00:00Z", true},
		{"office hours", []model.FreezeWindow{office}, "2026-12-03T03:00:00Z", true},
		{"after office hours", []model.FreezeWindow{office}, "2026-12-03T11:00:00Z", false},
		{"office hours during Tet: deny wins", []model.FreezeWindow{office, tet}, "2027-02-08T03:00:00Z", false},
		{"Tet's last day, 23:59", []model.FreezeWindow{tet}, "2027-02-10T16:59:00Z", false},
		{"the day after Tet", []model.FreezeWindow{tet}, "2027-02-10T17:00:00Z", true},
		{"no windows", nil, "2026-12-03T03:00:00Z", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, why, err := Freeze(tc.windows, at(t, tc.now))
			if err != nil || ok != tc.allowed {
				t.Errorf("allowed %v (%s, %v), want %v", ok, why, err, tc.allowed)
			}
			if !ok && tc.windows[len(tc.windows)-1].Reason != "" && !strings.Contains(why, tc.windows[len(tc.windows)-1].Reason) && tc.windows[0].Kind == "deny" {
				t.Errorf("the reason is not said: %s", why)
			}
		})
	}
}

// 50 appends give 50 entries that verify; one edited byte anywhere, a
// removed entry, or a swapped pair is found and named; a torn last line
// (a crash mid-write) is dropped, not built on; two writers at once both
// land, chained.
func TestLedgerChain(t *testing.T) {
	l := Ledger{Path: filepath.Join(t.TempDir(), ".nfx", "ledger.jsonl")}
	for i := 0; i < 50; i++ {
		if _, err := l.Append(Entry{Kind: "promote", From: "laptop", To: "server", Release: fmt.Sprintf("sha256:%064d", i), Time: time.Date(2026, 12, 3, 9, 0, i, 0, time.UTC)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := l.Verify(); n != 50 || err != nil {
		t.Fatalf("verify: %d %v", n, err)
	}
	good, _ := os.ReadFile(l.Path)
	lines := bytes.SplitAfter(good, []byte("\n"))
	tamper := map[string][]byte{}
	edited := append([]byte(nil), good...)
	i := bytes.Index(edited, []byte(`"to":"server"`)) + len(`"to":"serve`)
	edited[i] = 'x' // "servxr" in the first entry
	tamper["an edited byte"] = edited
	tamper["a removed entry"] = bytes.Join(append(append([][]byte{}, lines[:10]...), lines[11:]...), nil)
	swapped := append([][]byte{}, lines...)
	swapped[20], swapped[21] = swapped[21], swapped[20]
	tamper["two entries swapped"] = bytes.Join(swapped, nil)
	for name, data := range tamper {
		if err := os.WriteFile(l.Path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Verify(); err == nil {
			t.Errorf("%s is not detected", name)
		}
		if _, err := l.Append(Entry{Kind: "promote"}); err == nil || !strings.Contains(err.Error(), "does not verify") {
			t.Errorf("%s: an append extends a broken ledger: %v", name, err)
		}
	}
	// A crash mid-append leaves a line without its end.
	if err := os.WriteFile(l.Path, append(append([]byte(nil), good...), []byte(`{"seq":51,"kind":"prom`)...), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Verify(); n != 50 || err != nil {
		t.Fatalf("a torn last line: %d %v", n, err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.Append(Entry{Kind: "dry-run"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n, err := l.Verify(); n != 58 || err != nil {
		t.Fatalf("after 8 concurrent appends: %d %v", n, err)
	}
}

// project copies the repository's stack files to a directory of its own.
func project(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, st := range []string{"laptop", "server", "cloud"} {
		b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "Pulumi."+st+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "Pulumi."+st+".yaml"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func appendConfig(t *testing.T, file, yaml string) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(yaml); err != nil {
		t.Fatal(err)
	}
}

func opts(dir string, now time.Time) Options {
	return Options{
		From:   Stack{Stage: model.Laptop, File: filepath.Join(dir, "Pulumi.laptop.yaml")},
		To:     Stack{Stage: model.Server, File: filepath.Join(dir, "Pulumi.server.yaml")},
		Now:    now,
		Ledger: Ledger{Path: (&engine.Backend{Dir: filepath.Join(dir, ".nfx", "state")}).LedgerFile()},
		Actor:  "ci",
	}
}

// A new CRM image on the laptop, promoted to the server: the server's
// file carries it (and keeps its replicas and comments), the release
// digest is the laptop's, the ledger has the entry; a dry run changes
// nothing; a second promotion has nothing to change.
func TestPromoteCarriesTheRelease(t *testing.T) {
	dir := project(t)
	o := opts(dir, at(t, "2026-12-03T03:00:00Z"))
	appendConfig(t, o.From.File, "  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:1.9.0\n")
	before, _ := os.ReadFile(o.To.File)
	o.DryRun = true
	res, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(o.To.File); !bytes.Equal(before, after) || res.Applied || res.Blocked {
		t.Fatalf("a dry run changed the target or was blocked: %+v", res.Gates)
	}
	o.DryRun = false
	if res, err = Run(o); err != nil || !res.Applied {
		t.Fatalf("promote: %v %+v", err, res)
	}
	after, _ := os.ReadFile(o.To.File)
	raw, _, err := model.ParseStackFile(o.To.File, after)
	if err != nil {
		t.Fatal(err)
	}
	cfg, ds := model.Load("server", raw, model.LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	if cfg.CRM.Image != "ghcr.io/nextflow-crm/crm:1.9.0" || cfg.CRM.Replicas != 3 || cfg.AI.Replicas != 2 {
		t.Errorf("the server runs %s x%d, ai x%d", cfg.CRM.Image, cfg.CRM.Replicas, cfg.AI.Replicas)
	}
	if !strings.Contains(string(after), "# The server stage") {
		t.Error("the target's comments are gone")
	}
	src, _, _, _ := load(o.From, mustRead(t, o.From.File))
	if release.Of(cfg).Digest != release.Of(src).Digest || res.Release.Digest != release.Of(src).Digest {
		t.Error("the server does not run the laptop's release")
	}
	es, err := o.Ledger.Entries()
	if err != nil || len(es) != 3 || es[0].Kind != "dry-run" || es[1].Kind != "promote" || es[1].Release != res.Release.Digest || es[2].Kind != "done" || es[2].Ref != 2 {
		t.Fatalf("ledger: %+v %v", es, err)
	}
	again, err := Run(o)
	if err != nil || len(again.Changes) != 0 || again.Applied {
		t.Errorf("a second promotion: %v %+v", err, again)
	}
	if now, _ := os.ReadFile(o.To.File); !bytes.Equal(now, after) {
		t.Error("a promotion with nothing to change rewrote the target")
	}
}

func mustRead(t *testing.T, f string) []byte {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Each gate blocks on its own, the target's file unchanged byte for byte
// and the ledger recording the refusal with the gate's figures; an
// advisory gate reports and lets the promotion through.
func TestEveryGateBlocks(t *testing.T) {
	for _, tc := range []struct {
		name, source, target, now, gate, want string
	}{
		{"a mutable tag", "  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:stable\n", "", "2026-12-03T03:00:00Z", "pinned", `crm: ghcr.io/nextflow-crm/crm:stable uses the mutable tag "stable"`},
		// The target's GPU holds its own small model, not the laptop's.
		{"a model the target cannot hold", "  nextflow:ai:\n    model: llama3.1:8b\n", "  nextflow:host:\n    vram: 5GiB\n", "2026-12-03T03:00:00Z", "valid", "nextflow:ai.model"},
		{"over the budget", "  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:1.9.0\n", "  nextflow:promotion:\n    budgetVND: 1000000\n", "2026-12-03T03:00:00Z", "cost", "over the budget of 1000000"},
		{"too few users", "  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:1.9.0\n", "  nextflow:promotion:\n    users: 1000000\n", "2026-12-03T03:00:00Z", "capacity", "fewer than the 1000000"},
		{"a freeze", "  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:1.9.0\n",
			"  nextflow:promotion:\n    freeze:\n      - kind: deny\n        days: [Thu]\n        from: \"09:00\"\n        to: \"12:00\"\n        timeZone: Asia/Ho_Chi_Minh\n        reason: the month's close\n",
			"2026-12-03T03:00:00Z", "freeze", "the month's close"},
		{"a service the target lacks", "  nextflow:services:\n    - {name: mailer, kind: worker, image: ghcr.io/acme/mailer:1.0.0, health: {command: \"test -d /\"}}\n", "", "2026-12-03T03:00:00Z", "valid", "does not describe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := project(t)
			o := opts(dir, at(t, tc.now))
			appendConfig(t, o.From.File, tc.source)
			appendConfig(t, o.To.File, tc.target)
			if strings.Contains(tc.target, "vram") {
				small := strings.Replace(string(mustRead(t, o.To.File)), "    replicas: 2\n", "    replicas: 2\n    model: llama3.2:3b\n", 1)
				if err := os.WriteFile(o.To.File, []byte(small), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := mustRead(t, o.To.File)
			res, err := Run(o)
			if err != nil {
				t.Fatal(err)
			}
			var g *GateResult
			for i := range res.Gates {
				if res.Gates[i].Name == tc.gate {
					g = &res.Gates[i]
				}
			}
			if g == nil || g.Passed || !res.Blocked || res.Applied || !strings.Contains(g.Detail, tc.want) {
				t.Fatalf("gate %s: %+v (blocked %v)", tc.gate, g, res.Blocked)
			}
			if !bytes.Equal(mustRead(t, o.To.File), before) {
				t.Error("a blocked promotion changed the target")
			}
			es, _ := o.Ledger.Entries()
			if len(es) != 1 || es[0].Kind != "blocked" {
				t.Errorf("ledger: %+v", es)
			}
			if tc.gate == "cost" || tc.gate == "capacity" || tc.gate == "freeze" {
				// Made advisory, the gate reports and does not block.
				appendConfig(t, o.To.File, "")
				raw := strings.Replace(string(before), "  nextflow:promotion:\n", "  nextflow:promotion:\n    levels: {"+tc.gate+": advisory}\n", 1)
				if err := os.WriteFile(o.To.File, []byte(raw), 0o644); err != nil {
					t.Fatal(err)
				}
				res, err := Run(o)
				if err != nil || res.Blocked || !res.Applied {
					t.Errorf("advisory %s: %v %+v", tc.gate, err, res)
				}
			}
		})
	}
}

// The policy gate refuses each rule's breach in a planned cloud, and
// passes the cloud nfx plans.
func TestPolicy(t *testing.T) {
	ok := func(typ string, in map[string]any) plan.Resource {
		return plan.Resource{Type: typ, Name: typ, Inputs: in}
	}
	good := []plan.Resource{
		ok("aws:rds/instance:Instance", map[string]any{"storageEncrypted": true, "publiclyAccessible": false}),
		ok("aws:elasticache/replicationGroup:ReplicationGroup", map[string]any{"atRestEncryptionEnabled": true, "transitEncryptionEnabled": true}),
		ok("aws:eks/cluster:Cluster", map[string]any{"vpcConfig": map[string]any{"endpointPublicAccess": true, "publicAccessCidrs": []any{"203.0.113.0/24"}}}),
	}
	if bad := Policy(&offline.Result{Plan: plan.Plan{Resources: good}}); len(bad) != 0 {
		t.Errorf("a compliant plan: %v", bad)
	}
	for name, r := range map[string]plan.Resource{
		"an unencrypted database": ok("aws:rds/instance:Instance", map[string]any{"storageEncrypted": false, "publiclyAccessible": false}),
		"a public database":       ok("aws:rds/instance:Instance", map[string]any{"storageEncrypted": true, "publiclyAccessible": true}),
		"a cache in the clear":    ok("aws:elasticache/replicationGroup:ReplicationGroup", map[string]any{"atRestEncryptionEnabled": true}),
		"an API open to all":      ok("aws:eks/cluster:Cluster", map[string]any{"vpcConfig": map[string]any{"endpointPublicAccess": true, "publicAccessCidrs": []any{"0.0.0.0/0"}}}),
		"an open ingress rule":    ok("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", map[string]any{"cidrIpv4": "0.0.0.0/0"}),
		"a group's inline ingress open to all": ok("aws:ec2/securityGroup:SecurityGroup", map[string]any{"ingress": []any{
			map[string]any{"protocol": "tcp", "fromPort": 5432.0, "toPort": 5432.0, "securityGroups": []any{"sg-1"}},
			map[string]any{"protocol": "tcp", "fromPort": 6379.0, "toPort": 6379.0, "cidrBlocks": []any{"10.0.0.0/16", "0.0.0.0/0"}}}}),
		"a group's inline ingress open to all of IPv6": ok("aws:ec2/securityGroup:SecurityGroup", map[string]any{"ingress": []any{
			map[string]any{"protocol": "-1", "ipv6CidrBlocks": []any{"::/0"}}}}),
	} {
		if bad := Policy(&offline.Result{Plan: plan.Plan{Resources: []plan.Resource{r}}}); len(bad) != 1 {
			t.Errorf("%s: %v", name, bad)
		}
	}
	res, err := offline.Run(model.Cloud, model.Raw{Values: map[string]string{}, Secret: map[string]bool{"postgresPassword": true, "redisPassword": true}, Complete: true})
	if err != nil {
		t.Fatal(err)
	}
	if bad := Policy(res); len(bad) != 0 {
		t.Errorf("the cloud nfx plans breaks its own policy: %v", bad)
	}
}

func renderedStack(t *testing.T, file string) []byte {
	t.Helper()
	raw, _, err := model.ReadStackFile(file)
	if err != nil {
		t.Fatal(err)
	}
	res, err := offline.Run(model.Server, raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Files {
		if f.Path == "stack.yaml" {
			return f.Data
		}
	}
	t.Fatal("no stack.yaml")
	return nil
}

// Approval is bound to what was approved: with promotion.approvals 1, an
// apply without an approved dry run is refused, the dry run's author
// cannot approve it, another person's approval lets it through; a change
// of the target's state or config after the approval refuses the apply,
// saying which, and changes nothing.
func TestApprovalIsBound(t *testing.T) {
	dir := project(t)
	o := opts(dir, at(t, "2026-12-03T03:00:00Z"))
	o.StateFile = filepath.Join(dir, ".nfx", "state", ".pulumi", "stacks", "nextflow", "server.json")
	if err := os.MkdirAll(filepath.Dir(o.StateFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(o.StateFile, []byte(`{"version":3,"checkpoint":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	appendConfig(t, o.From.File, "  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:1.9.0\n")
	appendConfig(t, o.To.File, "  nextflow:promotion:\n    approvals: 1\n")
	before := mustRead(t, o.To.File)
	res, err := Run(o)
	if err != nil || !res.Blocked || !bytes.Equal(mustRead(t, o.To.File), before) {
		t.Fatalf("an unapproved apply: %v %+v", err, res)
	}
	o.DryRun = true
	dry, err := Run(o)
	if err != nil || dry.Blocked {
		t.Fatal(err, dry)
	}
	if _, err := Approve(o.Ledger, dry.Entry, "ci", o.Now); err == nil || !strings.Contains(err.Error(), "cannot approve it") {
		t.Errorf("self-approval: %v", err)
	}
	if _, err := Approve(o.Ledger, dry.Entry, "lan", o.Now); err != nil {
		t.Fatal(err)
	}
	if _, err := Approve(o.Ledger, dry.Entry, "lan", o.Now); err == nil {
		t.Error("a second approval by the same person counts")
	}
	o.DryRun, o.Approved = false, dry.Entry

	// The state moves after the approval: refused.
	if err := os.WriteFile(o.StateFile, []byte(`{"version":3,"checkpoint":{"latest":{}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err = Run(o)
	if err != nil || !res.Blocked || !strings.Contains(gateDetail(res, "approval"), "state changed") || !bytes.Equal(mustRead(t, o.To.File), before) {
		t.Fatalf("after the state moved: %v %+v", err, res.Gates)
	}
	// The config moves: refused, naming the config.
	if err := os.WriteFile(o.StateFile, []byte(`{"version":3,"checkpoint":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	appendConfig(t, o.To.File, "  nextflow:nginx:\n    rateLimit: 30\n")
	res, err = Run(o)
	if err != nil || !res.Blocked || !strings.Contains(gateDetail(res, "approval"), "config or plan changed") {
		t.Fatalf("after the config moved: %v %+v", err, res.Gates)
	}
	// Back as approved: it applies.
	if err := os.WriteFile(o.To.File, before, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = Run(o)
	if err != nil || res.Blocked || !res.Applied {
		t.Fatalf("the approved apply: %v %+v", err, res.Gates)
	}
}

func gateDetail(r *Result, name string) string {
	for _, g := range r.Gates {
		if g.Name == name {
			return g.Detail
		}
	}
	return ""
}

// Rollback re-promotes the release before the current one: the server's
// rendered stack.yaml is what it was, byte for byte, and automatic
// promotion is held until a promotion lifts it. A rejected release cannot
// be promoted.
func TestRollbackAndReject(t *testing.T) {
	dir := project(t)
	o := opts(dir, at(t, "2026-12-03T03:00:00Z"))
	src := mustRead(t, o.From.File)
	// The laptop's current release first, then a new CRM.
	if res, err := Run(o); err != nil || res.Blocked {
		t.Fatal(err, res)
	}
	v1 := renderedStack(t, o.To.File)
	if err := os.WriteFile(o.From.File, append(append([]byte(nil), src...), "  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:1.9.0\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Run(o)
	if err != nil || !res.Applied {
		t.Fatal(err, res)
	}
	if bytes.Equal(renderedStack(t, o.To.File), v1) {
		t.Fatal("the new release did not change the server's stack")
	}
	rb, err := Rollback(o.Ledger, o.To, "oncall", o.Now, nil)
	if err != nil || !rb.Applied {
		t.Fatal(err, rb)
	}
	if !bytes.Equal(renderedStack(t, o.To.File), v1) {
		t.Error("the rollback's stack.yaml differs from the one before the promotion")
	}
	// Held: promotion refused until lifted.
	res, err = Run(o)
	if err != nil || !res.Blocked || !strings.Contains(gateDetail(res, "hold"), "holds automatic promotion") {
		t.Fatalf("promotion into a held stack: %v %+v", err, res.Gates)
	}
	// The bad release is rejected: even lifting the hold, it is refused.
	if _, err := Reject(o.Ledger, res.Release.Digest, "oncall", "500s on checkout", o.Now); err != nil {
		t.Fatal(err)
	}
	o.LiftHold = true
	res, err = Run(o)
	if err != nil || !res.Blocked || !strings.Contains(gateDetail(res, "rejected"), "500s on checkout") {
		t.Fatalf("a rejected release: %v %+v", err, res.Gates)
	}
	if n, err := o.Ledger.Verify(); err != nil || n < 6 {
		t.Errorf("ledger: %d %v", n, err)
	}
}

// 50 promotions give 50 ledger entries, each with its release and each
// followed by the entry that says it is done; one edited byte is found.
func TestFiftyPromotions(t *testing.T) {
	dir := project(t)
	o := opts(dir, at(t, "2026-12-03T03:00:00Z"))
	src := mustRead(t, o.From.File)
	for i := 0; i < 50; i++ {
		img := fmt.Sprintf("  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:1.9.%d\n", i)
		if err := os.WriteFile(o.From.File, append(append([]byte(nil), src...), img...), 0o644); err != nil {
			t.Fatal(err)
		}
		if res, err := Run(o); err != nil || !res.Applied || res.Entry != 2*i+1 {
			t.Fatalf("promotion %d: %v %+v", i, err, res)
		}
	}
	if n, err := o.Ledger.Verify(); n != 100 || err != nil {
		t.Fatalf("%d entries: %v", n, err)
	}
	b := mustRead(t, o.Ledger.Path)
	i := bytes.LastIndex(b, []byte("1.9.49"))
	b[i+4] = '8'
	if err := os.WriteFile(o.Ledger.Path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Ledger.Verify(); err == nil || !strings.Contains(err.Error(), "entry 99") {
		t.Errorf("an edited byte in entry 99: %v", err)
	}
}

// A preview that replaces the RDS instance is refused, naming its URN,
// the target unchanged; a verified migration journal attached lets it
// through, an unverified one does not. A data volume the new render lacks
// counts as a loss too.
func TestStatefulGate(t *testing.T) {
	dir := project(t)
	o := opts(dir, at(t, "2026-12-03T03:00:00Z"))
	o.From = Stack{Stage: model.Server, File: filepath.Join(dir, "Pulumi.server.yaml")}
	o.To = Stack{Stage: model.Cloud, File: filepath.Join(dir, "Pulumi.cloud.yaml")}
	appendConfig(t, o.To.File, "  nextflow:promotion:\n    users: 3000\n")
	appendConfig(t, o.From.File, "  nextflow:qdrant:\n    image: qdrant/qdrant:v1.13.6\n")
	o.PreviewJSON = mustRead(t, "testdata/preview-rds-replace.json")
	before := mustRead(t, o.To.File)
	res, err := Run(o)
	urn := "urn:pulumi:cloud::nextflow::nextflow:index:NextFlow$nextflow:index:Postgres$aws:rds/instance:Instance::nextflow-postgres"
	if err != nil {
		t.Fatal(err)
	}
	if !res.Blocked || !strings.Contains(gateDetail(res, "stateful"), "replace "+urn) || !bytes.Equal(mustRead(t, o.To.File), before) {
		t.Fatalf("an RDS replace: %v %+v", err, res.Gates)
	}
	journal := filepath.Join(t.TempDir(), "server-to-cloud.json")
	if err := os.WriteFile(journal, []byte(`{"state":"verified","verification":{"at":"2026-12-03T02:00:00Z","ok":false}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	o.Migration = journal
	if res, _ = Run(o); !res.Blocked || !strings.Contains(gateDetail(res, "stateful"), "has not passed") {
		t.Errorf("an unverified migration: %+v", res.Gates)
	}
	if err := os.WriteFile(journal, []byte(`{"state":"verified","verification":{"at":"2026-12-03T02:00:00Z","ok":true}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if res, err = Run(o); err != nil || res.Blocked || !res.Applied {
		t.Errorf("a verified migration attached: %v %+v", err, res.Gates)
	}
	// A rendered stack that loses a data volume.
	withVol := &offline.Result{Files: []files.File{{Path: "stack.yaml", Data: []byte("volumes:\n  postgres-primary-data: {}\n  qdrant-1-data: {}\n")}}}
	without := &offline.Result{Files: []files.File{{Path: "stack.yaml", Data: []byte("volumes:\n  qdrant-1-data: {}\n")}}}
	if l := planLosses(withVol, without); len(l) != 1 || l[0].What != "volume postgres-primary-data" {
		t.Errorf("losses: %+v", l)
	}
}

// The soak gate: the release must have run on the source for
// promotion.soakMinutes since its promotion there.
func TestSoakGate(t *testing.T) {
	dir := project(t)
	o := opts(dir, at(t, "2026-12-03T03:00:00Z"))
	o.Clock = func() time.Time { return o.Now }
	appendConfig(t, o.To.File, "  nextflow:promotion:\n    soakMinutes: 60\n")
	res, err := Run(o)
	if err != nil || !res.Blocked || !strings.Contains(gateDetail(res, "soak"), "neither a promotion of this release into laptop") {
		t.Fatalf("never promoted into the source: %v %+v", err, res.Gates)
	}
	digest := res.Release.Digest
	if _, err := o.Ledger.Append(Entry{Kind: "promote", To: "laptop", Release: digest, Time: o.Now.Add(-30 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if res, _ = Run(o); !res.Blocked || !strings.Contains(gateDetail(res, "for 30 minutes")+gateDetail(res, "soak"), "30 minutes") {
		t.Errorf("30 minutes of 60: %+v", res.Gates)
	}
	o.Now = o.Now.Add(45 * time.Minute)
	if res, _ = Run(o); !res.Blocked || !strings.Contains(gateDetail(res, "soak"), "no verification of it there has passed") {
		t.Errorf("75 minutes, never verified: %+v", res.Gates)
	}
	// A failed verification does not count; a passed one does.
	if _, err := RecordVerification(o.Ledger, o.From, &monitoring.Verification{Passed: false, Detail: "down"}, o.Now, 15*time.Minute, "ci"); err != nil {
		t.Fatal(err)
	}
	if res, _ = Run(o); !res.Blocked {
		t.Errorf("a failed verification counts: %+v", res.Gates)
	}
	if _, err := RecordVerification(o.Ledger, o.From, &monitoring.Verification{Passed: true, Detail: "ok"}, o.Now, 15*time.Minute, "ci"); err != nil {
		t.Fatal(err)
	}
	if res, err = Run(o); err != nil || res.Blocked {
		t.Errorf("75 minutes of 60, verified: %v %+v", err, res.Gates)
	}
}

// fakeEngine stands for the real engine in the promotion's own logic: the
// steps its preview returns, whether its up and verification pass, and
// what each saw.
type fakeEngine struct {
	steps      []Step
	previewErr error
	upErr      func(n int) error
	healthy    bool
	ups        int
	// upFiles are the target's config files at each up.
	upFiles [][]byte
	target  string
}

func (f *fakeEngine) Preview([]byte) ([]Step, error) { return f.steps, f.previewErr }
func (f *fakeEngine) Up() (string, error) {
	f.ups++
	b, _ := os.ReadFile(f.target)
	f.upFiles = append(f.upFiles, b)
	if f.upErr != nil {
		if err := f.upErr(f.ups); err != nil {
			return "", err
		}
	}
	return "update=1", nil
}
func (f *fakeEngine) Verify(model.VerifyConfig) (GateResult, bool) {
	return GateResult{Name: "verification", Level: model.GateBlocking, Passed: f.healthy, Detail: "fake",
		Figures: map[string]float64{"windowEnd": float64(time.Now().Unix()), "windowSeconds": 60}}, true
}

// The engine's part of a promotion: its preview's steps feed the stateful
// gate (an RDS replace blocks, naming the URN, with no up) and the
// approval (a preview that changed since the dry run is refused); a
// failing preview blocks; a failed verification or up carries the
// earlier release back and runs the up again, holding the stack; a dry
// run never runs an up.
func TestPromoteWithEngine(t *testing.T) {
	rds := Step{Op: "replace", URN: "urn:pulumi:server::nextflow::nextflow:index:NextFlow$aws:rds/instance:Instance::db"}
	for _, tc := range []struct {
		name    string
		eng     fakeEngine
		dryRun  bool
		blocked bool
		err     string
		gate    string // a gate and a text its detail holds
		detail  string
		ups     int
		back    bool // rolled back: the target's file as before
	}{
		{name: "healthy", eng: fakeEngine{steps: []Step{{Op: "update", URN: "u"}}, healthy: true}, ups: 1},
		{name: "dry run", eng: fakeEngine{healthy: true}, dryRun: true, ups: 0},
		{name: "an RDS replace", eng: fakeEngine{steps: []Step{rds}, healthy: true}, blocked: true, gate: "stateful", detail: "replace " + rds.URN},
		{name: "the preview fails", eng: fakeEngine{previewErr: fmt.Errorf("preview server:\n  error: no resource plugin 'aws'"), healthy: true}, blocked: true, gate: "preview", detail: "no resource plugin 'aws'"},
		{name: "unhealthy after up", eng: fakeEngine{}, blocked: true, gate: "verification", detail: "fake", ups: 2, back: true},
		{name: "the up fails", eng: fakeEngine{upErr: func(n int) error {
			if n == 1 {
				return fmt.Errorf("up server: exit status 1")
			}
			return nil
		}}, err: "rolled back to release", ups: 2, back: true},
		{name: "the up fails, and the rollback's", eng: fakeEngine{upErr: func(int) error { return fmt.Errorf("disk full") }}, err: "the up of the earlier release failed too", ups: 2, back: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := project(t)
			o := opts(dir, at(t, "2026-12-03T03:00:00Z"))
			appendConfig(t, o.From.File, "  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:1.9.0\n")
			before := mustRead(t, o.To.File)
			eng := tc.eng
			eng.target = o.To.File
			o.Engine, o.DryRun = &eng, tc.dryRun
			res, err := Run(o)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if res != nil && res.Blocked != tc.blocked {
				t.Errorf("blocked %v, want %v: %+v", res.Blocked, tc.blocked, res.Gates)
			}
			if tc.gate != "" && !strings.Contains(gateDetail(res, tc.gate), tc.detail) {
				t.Errorf("%s: %q, want %q", tc.gate, gateDetail(res, tc.gate), tc.detail)
			}
			if eng.ups != tc.ups {
				t.Errorf("%d ups, want %d", eng.ups, tc.ups)
			}
			after := mustRead(t, o.To.File)
			switch {
			case tc.back || tc.blocked || tc.dryRun:
				if !bytes.Equal(after, before) {
					t.Error("the target's file is not what it was")
				}
			case tc.ups > 0 && !bytes.Contains(after, []byte("crm:1.9.0")):
				t.Error("the target does not carry the release")
			}
			if tc.ups > 0 && !bytes.Contains(eng.upFiles[0], []byte("crm:1.9.0")) {
				t.Error("the first up did not see the release in the target's file")
			}
			es, _ := o.Ledger.Entries()
			if held, _ := Held(es, "server"); held != (tc.ups == 2) {
				t.Errorf("held %v after %d ups: %+v", held, tc.ups, es)
			}
			if _, err := o.Ledger.Verify(); err != nil {
				t.Error(err)
			}
		})
	}

	// The approval binds the preview: the same config and state, but the
	// engine's steps differ from the dry run's.
	dir := project(t)
	o := opts(dir, at(t, "2026-12-03T03:00:00Z"))
	appendConfig(t, o.To.File, "  nextflow:promotion:\n    approvals: 1\n")
	appendConfig(t, o.From.File, "  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:1.9.0\n")
	eng := &fakeEngine{steps: []Step{{Op: "update", URN: "a"}, {Op: "same", URN: "b"}}, healthy: true, target: o.To.File}
	o.Engine, o.DryRun = eng, true
	dry, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Approve(o.Ledger, dry.Entry, "lan", time.Now()); err != nil {
		t.Fatal(err)
	}
	o.DryRun, o.Approved = false, dry.Entry
	// The same steps in another order are the same preview.
	eng.steps = []Step{{Op: "same", URN: "b"}, {Op: "update", URN: "a"}}
	eng.steps, eng.ups = append(eng.steps[:1:1], Step{Op: "create", URN: "c"}), 0
	if res, _ := Run(o); !res.Blocked || !strings.Contains(gateDetail(res, "approval"), "config or plan changed") || eng.ups != 0 {
		t.Errorf("an apply whose preview differs from the approved one: %+v", res.Gates)
	}
	eng.steps = []Step{{Op: "same", URN: "b"}, {Op: "update", URN: "a"}}
	if res, err := Run(o); err != nil || res.Blocked || !res.Applied || eng.ups != 1 {
		t.Errorf("the approved apply, its steps in another order: %v %+v", err, res)
	}
}

// Earlier: the release a stack goes back to.
func TestEarlier(t *testing.T) {
	r := func(d string) *release.Release { return &release.Release{Digest: d} }
	promote := func(to, from, rel string) Entry {
		return Entry{Kind: "promote", To: to, Replaced: r(from), Payload: r(rel), Release: rel}
	}
	verify := func(rel string, ok bool) Entry {
		return Entry{Kind: "verify", To: "server", Release: rel, Gates: []GateResult{{Passed: ok}}}
	}
	for _, tc := range []struct {
		name     string
		entries  []Entry
		current  string
		want     string
		verified bool
	}{
		{"the one before", []Entry{promote("server", "a", "b")}, "b", "a", false},
		{"the newest verified, over a newer unverified", []Entry{promote("server", "a", "b"), verify("b", true), promote("server", "b", "c"), promote("server", "c", "d")}, "d", "b", true},
		{"never a rejected one", []Entry{promote("server", "a", "b"), verify("b", true), promote("server", "b", "c"), {Kind: "reject", Release: "b"}}, "c", "a", false},
		{"never one that failed there", []Entry{promote("server", "a", "b"), verify("b", false), promote("server", "b", "c")}, "c", "a", false},
		{"verified on another stack does not count", []Entry{promote("server", "a", "b"), {Kind: "verify", To: "laptop", Release: "b", Gates: []GateResult{{Passed: true}}}, promote("server", "b", "c")}, "c", "b", false},
		{"other stacks' promotions are not this one's history", []Entry{promote("laptop", "x", "y"), promote("server", "a", "b")}, "b", "a", false},
		{"nothing before", []Entry{promote("server", "a", "a")}, "a", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, verified, ok := Earlier(tc.entries, "server", tc.current)
			if ok != (tc.want != "") || got.Digest != tc.want || verified != tc.verified {
				t.Errorf("%q verified=%v ok=%v, want %q verified=%v", got.Digest, verified, ok, tc.want, tc.verified)
			}
		})
	}
}
