// Package promote carries a release from one stack into another through
// gates: the target's config stays valid and within policy, no image can
// move under it, its cost and capacity stay within what it declares, and
// no freeze window holds the time. Every promotion, blocked or applied, is
// an entry of the ledger; a blocked one leaves the target untouched.
package promote

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nextflow-crm/nfx/internal/capacity"
	"github.com/nextflow-crm/nfx/internal/cost"
	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/offline"
	"github.com/nextflow-crm/nfx/internal/provider/aws"
	"github.com/nextflow-crm/nfx/internal/release"
)

// GateResult is one gate's verdict with its figures.
type GateResult struct {
	Name   string `json:"name"`
	Level  string `json:"level"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
	// Figures are the numbers behind the verdict, by name.
	Figures map[string]float64 `json:"figures,omitempty"`
}

// Blocks says the gate stops the promotion.
func (g GateResult) Blocks() bool { return !g.Passed && g.Level == model.GateBlocking }

// Stack is one end of a promotion: its stage and its config file.
type Stack struct {
	Stage model.Stage
	File  string
}

// Name is the stack's name, from its file (Pulumi.<name>.yaml).
func (s Stack) Name() string {
	base := filepath.Base(s.File)
	return strings.TrimSuffix(strings.TrimPrefix(base, "Pulumi."), ".yaml")
}

// Options are one promotion's inputs.
type Options struct {
	From, To Stack
	// Now is the time the freeze windows are read at (a dry run may move
	// it). The soak and the ledger read the real clock.
	Now time.Time
	// Clock is the real clock (time.Now when nil).
	Clock func() time.Time
	// Rehearsals is where the target stage's restore rehearsals are
	// recorded (the compliance gate reads the latest).
	Rehearsals string
	// DryRun evaluates and records, and changes no stack.
	DryRun bool
	Ledger Ledger
	Actor  string
	// Approved is the dry run's ledger entry this apply carries out: the
	// apply refuses when what it saw has changed since.
	Approved int
	// StateFile is the target's state in its backend ("" when it has none);
	// ReadState, when set, reads it instead (nil when there is none).
	StateFile string
	ReadState func() ([]byte, error)
	// LiftHold promotes into a stack a rollback holds, and ends the hold.
	LiftHold bool
	// PreviewJSON is the target's `pulumi preview --json`, whose replace
	// and delete steps the stateful gate reads.
	PreviewJSON []byte
	// Migration is a migration journal that covers the data a step loses.
	Migration string
	// Engine previews, applies and verifies the target with the real
	// engine; nil carries the release into the config file only.
	Engine Engine
	// Move moves the data and the traffic from the source to the target
	// after the target's up, before its verification: a stage upgrade is
	// a promotion with a migration (nfx upgrade).
	Move Mover
}

// Mover is the data's and traffic's move of a stage upgrade.
type Mover interface {
	// Check is the migration's gate, before the decision: its plan and
	// the connections it needs.
	Check(dryRun bool) GateResult
	// Run moves the data and the traffic (resuming an earlier run), and
	// says how it went.
	Run() (string, error)
	// Rollback returns the traffic and the writes to the source.
	Rollback() error
}

func (o Options) clock() time.Time {
	if o.Clock != nil {
		return o.Clock()
	}
	return time.Now()
}

// Engine runs the target stack of a promotion.
type Engine interface {
	// Preview previews the target as it would be with config as its
	// config file (the file itself is not touched).
	Preview(config []byte) ([]Step, error)
	// Up applies the target's config file as it is written, and starts
	// the stack; it returns a summary of the changes.
	Up() (string, error)
	// Verify checks the target after Up. checked is false when the
	// target declares nothing to check (nextflow:promotion.verify).
	Verify(v model.VerifyConfig) (g GateResult, checked bool)
}

// Result is a promotion's outcome.
type Result struct {
	From    string             `json:"from"`
	To      string             `json:"to"`
	Release release.Release    `json:"release"`
	Changes []release.Change   `json:"changes"`
	Gates   []GateResult       `json:"gates"`
	Blocked bool               `json:"blocked"`
	Applied bool               `json:"applied"`
	DryRun  bool               `json:"dryRun"`
	Entry   int                `json:"ledgerEntry"`
	Cost    map[string]float64 `json:"cost"`
	// Up is the engine's summary of the up; RolledBack says a failed
	// verification or up carried the earlier release back (ledger entry
	// RollbackEntry), holding the stack.
	Up            string `json:"up,omitempty"`
	RolledBack    bool   `json:"rolledBack,omitempty"`
	RollbackEntry int    `json:"rollbackEntry,omitempty"`
}

// load reads and validates a stack's config file.
func load(s Stack, data []byte) (*model.Config, model.Raw, model.Diagnostics, error) {
	raw, _, err := model.ParseStackFile(s.File, data)
	if err != nil {
		return nil, raw, nil, err
	}
	cfg, ds := model.Load(string(s.Stage), raw, model.LoadOptions{})
	return cfg, raw, ds, nil
}

// loadValid reads a stack's config file and validates it: its bytes and
// its config, or an error naming the stack.
func loadValid(s Stack) ([]byte, *model.Config, error) {
	data, err := model.ReadStackData(s.File)
	if err != nil {
		return nil, nil, err
	}
	cfg, _, ds, err := load(s, data)
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("the stack %s: %w", s.Name(), err)
	case ds.HasErrors():
		return nil, nil, fmt.Errorf("the stack %s is not valid: %s", s.Name(), ds.Error())
	}
	return data, cfg, nil
}

// Run evaluates the gates and, unless a blocking one fails or it is a
// dry run, writes the release into the target's config file. The ledger
// gets the outcome either way.
func Run(o Options) (*Result, error) {
	srcData, err := model.ReadStackData(o.From.File)
	if err != nil {
		return nil, fmt.Errorf("the source stack: %w", err)
	}
	src, _, ds, err := load(o.From, srcData)
	if err != nil {
		return nil, fmt.Errorf("the source stack: %w", err)
	}
	if ds.HasErrors() {
		return nil, fmt.Errorf("the source stack %s is not valid: %s", o.From.Name(), ds.Error())
	}
	dstData, err := model.ReadStackData(o.To.File)
	if err != nil {
		return nil, fmt.Errorf("the target stack: %w", err)
	}
	cur, curRaw, ds, err := load(o.To, dstData)
	if err != nil {
		return nil, fmt.Errorf("the target stack: %w", err)
	}
	if ds.HasErrors() {
		return nil, fmt.Errorf("the target stack %s is not valid before the promotion: %s", o.To.Name(), ds.Error())
	}
	rel, was := release.Of(src), release.Of(cur)
	res := &Result{From: o.From.Name(), To: o.To.Name(), Release: rel, Changes: rel.Diff(was), DryRun: o.DryRun}
	if res.Changes == nil {
		res.Changes = []release.Change{}
	}
	entries, err := o.Ledger.Entries()
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	if !o.DryRun && o.Approved > 0 {
		if p, ok := Unfinished(entries, o.Approved, res.To); ok {
			return resume(o, res, p, entries, dstData, was)
		}
	}
	// The gates, in the table's order (gates.go).
	c := &gateRun{o: o, res: res, rel: rel, was: was, cur: cur, curRaw: curRaw, dstData: dstData, entries: entries}
	for _, g := range Gates {
		if !g.applies(c) {
			continue
		}
		r, err := g.run(c)
		if err != nil {
			return nil, err
		}
		if r.Name == "" {
			continue
		}
		if g.Configurable {
			r.Level = c.level(g.Name)
		}
		res.Gates = append(res.Gates, r)
	}
	newData, next, plan, steps := c.newData, c.next, c.plan, c.steps
	preview := previewDigest(newData, plan, steps)
	state := c.state
	if state == "" {
		// What a dry run binds its approval to.
		if state, err = stateDigest(o); err != nil {
			return nil, err
		}
	}
	for _, g := range res.Gates {
		res.Blocked = res.Blocked || g.Blocks()
	}
	kind := "promote"
	switch {
	case res.Blocked:
		kind = "blocked"
	case o.DryRun:
		kind = "dry-run"
	}
	// The decision is recorded first: killed before the write, a rerun
	// finds the same changes and writes them; killed after it, the entry
	// is already there.
	entry := Entry{Time: time.Now(), Kind: kind, From: res.From, To: res.To, Release: rel.Digest, Actor: o.Actor, Gates: res.Gates,
		Note: fmt.Sprintf("%d changes", len(res.Changes)), Preview: preview, State: state, Ref: o.Approved}
	if kind == "promote" {
		entry.Payload, entry.Replaced = &rel, &was
	}
	e, err := o.Ledger.Append(entry)
	if err != nil {
		return res, fmt.Errorf("ledger: %w", err)
	}
	if kind == "promote" && o.LiftHold {
		if _, err := o.Ledger.Append(Entry{Time: time.Now(), Kind: "lift", To: res.To, Actor: o.Actor, Ref: e.Seq}); err != nil {
			return res, fmt.Errorf("ledger: %w", err)
		}
	}
	res.Entry = e.Seq
	if res.Blocked || o.DryRun {
		return res, nil
	}
	return apply(o, res, e, entries, was, dstData, newData, next)
}

// apply carries out a recorded decision (entry e): it writes the release
// into the target's file, runs the engine's up and the verification, and
// rolls back on a failure. Each step's outcome is a ledger entry that
// refers to e, so that a rerun after a kill knows where it stopped.
func apply(o Options, res *Result, e Entry, entries []Entry, was release.Release, dstData, newData []byte, next *model.Config) (*Result, error) {
	rel := res.Release
	var err error
	if len(res.Changes) > 0 && !bytes.Equal(newData, dstData) {
		if err := files.WriteFile(o.To.File, newData); err != nil {
			return nil, fmt.Errorf("write %s: %w", o.To.File, err)
		}
		res.Applied = true
	}
	if o.Engine == nil {
		// The config file is all this promotion changes: it is done.
		return res, finished(o, res, e, "the config file only")
	}
	// The up runs even when the file already carries the release: a rerun
	// after a promotion killed before or during its up completes it.
	// What a failure goes back to: what ran before (the file's bytes
	// before this promotion), or, when the file already carried the
	// release (a rerun), the release before it.
	back, original := was, dstData
	if was.Digest == rel.Digest {
		original = nil
		var ok bool
		if back, _, ok = Earlier(entries, res.To, rel.Digest); !ok {
			back = was
		}
	}
	if e.Replaced != nil && e.Replaced.Digest != rel.Digest {
		// The decision names what the target ran before it.
		back = *e.Replaced
	}
	if res.Up, err = o.Engine.Up(); err != nil {
		upErr := err
		// The release failed on the target: recorded as a failed
		// verification, so that no rollback goes back to it.
		failed := GateResult{Name: "verification", Level: model.GateBlocking, Detail: "the up failed: " + oneLine(upErr.Error())}
		if _, err := o.Ledger.Append(Entry{Time: time.Now(), Kind: "verify", To: res.To, Release: rel.Digest, Actor: o.Actor, Gates: []GateResult{failed}, Ref: e.Seq}); err != nil {
			return res, fmt.Errorf("up %s: %v; ledger: %w", res.To, upErr, err)
		}
		rb, err := rollBack(o, back, rel, "the up failed: "+oneLine(upErr.Error()), original, newData)
		if err != nil {
			return res, fmt.Errorf("up %s: %v; and the automatic rollback: %w", res.To, upErr, err)
		}
		return res, fmt.Errorf("up %s: %w; rolled back to release %s (ledger entry %d), automatic promotion of %s held", res.To, upErr, back.Short(), rb, res.To)
	}
	if o.Move != nil {
		detail, err := o.Move.Run()
		g := GateResult{Name: "migration", Level: model.GateBlocking, Passed: err == nil, Detail: detail}
		if err != nil {
			g.Detail = oneLine(err.Error())
		}
		res.Gates = append(res.Gates, g)
		if _, lerr := o.Ledger.Append(Entry{Time: time.Now(), Kind: "migrate", From: res.From, To: res.To, Release: rel.Digest, Actor: o.Actor, Gates: []GateResult{g}, Ref: e.Seq}); lerr != nil {
			return res, fmt.Errorf("ledger: %w", lerr)
		}
		if err != nil {
			// The migration's journal keeps its place: a rerun resumes it,
			// or its rollback gives the source its writes back.
			return res, fmt.Errorf("the migration %s -> %s: %w; fix it and run again (it resumes where it stopped), or roll the migration back (nfx upgrade --rollback)", res.From, res.To, err)
		}
	}
	v, checked := o.Engine.Verify(next.Promotion.Verify)
	res.Gates = append(res.Gates, v)
	if checked {
		if _, err := o.Ledger.Append(Entry{Time: time.Now(), Kind: "verify", To: res.To, Release: rel.Digest, Actor: o.Actor, Gates: []GateResult{v}, Ref: e.Seq}); err != nil {
			return res, fmt.Errorf("ledger: %w", err)
		}
	}
	if !v.Passed && o.Move != nil {
		// The traffic and the writes go back to the source first.
		if err := o.Move.Rollback(); err != nil {
			return res, fmt.Errorf("the verification of %s failed (%s), and the migration's rollback: %w", res.To, v.Detail, err)
		}
		if _, err := o.Ledger.Append(Entry{Time: time.Now(), Kind: "migrate", From: res.From, To: res.To, Release: rel.Digest, Actor: o.Actor, Ref: e.Seq,
			Gates: []GateResult{{Name: "migration", Level: model.GateBlocking, Detail: "rolled back: the traffic and the writes are on " + res.From + " again"}}}); err != nil {
			return res, fmt.Errorf("ledger: %w", err)
		}
		if _, _, ok := Earlier(entries, res.To, rel.Digest); !ok && back.Digest == rel.Digest {
			// A first upgrade: the target ran nothing before to go back to.
			res.Blocked, res.Applied, res.RolledBack = true, false, true
			return res, nil
		}
	}
	if !v.Passed {
		res.Blocked, res.Applied = true, false
		if res.RollbackEntry, err = rollBack(o, back, rel, "the verification after up failed: "+v.Detail, original, newData); err != nil {
			return res, fmt.Errorf("the verification of %s failed (%s), and the automatic rollback: %w", res.To, v.Detail, err)
		}
		res.RolledBack = true
		return res, nil
	}
	return res, finished(o, res, e, "up: "+res.Up)
}

// finished records that the promotion of entry e is complete: its
// approval is spent, and a rerun has nothing to resume.
func finished(o Options, res *Result, e Entry, note string) error {
	if _, err := o.Ledger.Append(Entry{Time: time.Now(), Kind: "done", From: res.From, To: res.To, Release: res.Release.Digest, Actor: o.Actor, Ref: e.Seq, Note: note}); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return nil
}

// Unfinished is the promotion into stack that carries out the approved
// dry run and has not finished: recorded (its gates passed), then killed
// before its "done" entry, with no promotion or rollback into the stack
// since. A rerun with the same approval completes it.
func Unfinished(entries []Entry, approved int, stack string) (Entry, bool) {
	var p Entry
	found := false
	for _, e := range entries {
		switch {
		case e.Kind == "promote" && e.To == stack && e.Ref == approved && approved > 0:
			p, found = e, true
		case !found:
		case e.Kind == "done" && e.Ref == p.Seq, (e.Kind == "promote" || e.Kind == "rollback") && e.To == stack:
			found = false
		}
	}
	return p, found
}

// resume completes the unfinished promotion p: its gates were passed and
// recorded; the file gets the release if the kill came before it was
// written, then the up, the verification and the rollback run as they
// would have.
func resume(o Options, res *Result, p Entry, entries []Entry, dstData []byte, was release.Release) (*Result, error) {
	if p.Release != res.Release.Digest || p.Payload == nil {
		return nil, fmt.Errorf("ledger entry %d promotes release %s, but %s's release is now %s: the promotion it approved was killed before it finished; fix: nfx rollback --stage %s, or promote again with a new dry run",
			p.Seq, release.Short(p.Release), res.From, res.Release.Short(), res.To)
	}
	res.Gates = append(res.Gates, p.Gates...)
	res.Gates = append(res.Gates, GateResult{Name: "resume", Level: model.GateBlocking, Passed: true,
		Detail: fmt.Sprintf("completes the promotion of ledger entry %d (dry run %d, approved), which stopped before it finished", p.Seq, o.Approved)})
	res.Entry = p.Seq
	newData, next, _, fault := carried(o.To, dstData, res.Release, was)
	if fault != "" {
		return nil, fmt.Errorf("the target %s with release %s: %s", res.To, res.Release.Short(), fault)
	}
	return apply(o, res, p, entries, was, dstData, newData, next)
}

// rollBack carries release back into the target over current, runs its
// up, and records it as a rollback, which holds automatic promotion of
// the target. The decision is recorded first, as a promotion's is. When
// the target's file is still what the promotion wrote (wrote), it gets
// its bytes from before (orig) back; else (the up stored generated
// secrets in it) the release is carried back into it as it is.
func rollBack(o Options, back, current release.Release, why string, orig, wrote []byte) (int, error) {
	if back.Digest == current.Digest {
		return 0, fmt.Errorf("the ledger has no earlier release of %s to go back to; it runs %s, which failed (%s)", o.To.Name(), current.Short(), why)
	}
	e, err := o.Ledger.Append(Entry{Time: time.Now(), Kind: "rollback", To: o.To.Name(), Release: back.Digest, Actor: o.Actor, Payload: &back,
		Replaced: &current, Note: "automatic: " + why + "; automatic promotion held"})
	if err != nil {
		return 0, fmt.Errorf("ledger: %w", err)
	}
	// The file as it is now: the up may have stored generated secrets in it.
	data, err := model.ReadStackData(o.To.File)
	if err != nil {
		return e.Seq, err
	}
	out := orig
	if orig == nil || !bytes.Equal(data, wrote) {
		if out, err = release.Carry(data, back, current); err != nil {
			return e.Seq, err
		}
	}
	if !bytes.Equal(out, data) {
		if err := files.WriteFile(o.To.File, out); err != nil {
			return e.Seq, err
		}
	}
	up, err := o.Engine.Up()
	if err != nil {
		return e.Seq, fmt.Errorf("the up of the earlier release failed too: %w; %s's config carries release %s again; fix: nfx up --stage %s", err, o.To.Name(), back.Short(), o.To.Name())
	}
	return e.Seq, finished(o, &Result{To: o.To.Name(), Release: back}, e, "up: "+up)
}

// previewGate previews the target with the release: from --preview-json,
// else with the engine once the plan is within policy. No gate (Name "")
// when neither runs.
func previewGate(o Options, config []byte, policyOK bool) ([]Step, GateResult) {
	g := GateResult{Name: "preview", Level: model.GateBlocking}
	var steps []Step
	var err error
	from := "the engine's preview"
	switch {
	case o.PreviewJSON != nil:
		from = "--preview-json"
		steps, err = PreviewSteps(o.PreviewJSON)
	case o.Engine != nil && policyOK:
		steps, err = o.Engine.Preview(config)
	default:
		return nil, GateResult{}
	}
	if err != nil {
		g.Detail = from + ": " + oneLine(err.Error())
		return nil, g
	}
	ops := map[string]int{}
	for _, s := range steps {
		ops[s.Op]++
	}
	g.Figures = map[string]float64{}
	var parts []string
	for _, op := range model.SortedKeys(ops) {
		g.Figures[op] = float64(ops[op])
		parts = append(parts, fmt.Sprintf("%s=%d", op, ops[op]))
	}
	g.Passed = true
	g.Detail = fmt.Sprintf("%s: %d steps (%s)", from, len(steps), strings.Join(parts, " "))
	return steps, g
}

// oneLine is an error's text on one line (a report's cell), at most 500
// characters.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, strings.TrimSuffix(l, ":"))
		}
	}
	s = strings.Join(parts, ": ")
	if len(s) > 500 {
		s = s[:500] + "..."
	}
	return s
}

func costGate(cur, next *model.Config, prevPlan, plan *offline.Result, res *Result) GateResult {
	g := GateResult{Name: "cost", Figures: map[string]float64{}}
	if plan == nil {
		g.Detail = "no plan to price"
		return g
	}
	after, err := cost.Compute(next, &plan.Plan, cost.VND)
	if err != nil {
		g.Detail = err.Error()
		return g
	}
	before := after.MonthlyTotal
	if prevPlan != nil {
		if e, err := cost.Compute(cur, &prevPlan.Plan, cost.VND); err == nil {
			before = e.MonthlyTotal
		}
	}
	change := after.MonthlyTotal - before
	pct := 0.0
	if before > 0 {
		pct = 100 * change / before
	}
	g.Figures["monthlyVND"], g.Figures["beforeVND"], g.Figures["changeVND"], g.Figures["changePercent"] = after.MonthlyTotal, before, change, math.Round(pct*100)/100
	res.Cost = g.Figures
	p := next.Promotion
	var over []string
	if p.BudgetVND > 0 && after.MonthlyTotal > p.BudgetVND {
		over = append(over, fmt.Sprintf("%.0f VND a month is over the budget of %.0f (nextflow:promotion.budgetVND)", after.MonthlyTotal, p.BudgetVND))
	}
	if p.MaxIncreasePercent > 0 && pct > p.MaxIncreasePercent {
		over = append(over, fmt.Sprintf("a rise of %.1f %% is over the %.1f %% allowed (nextflow:promotion.maxIncreasePercent)", pct, p.MaxIncreasePercent))
	}
	if len(over) > 0 {
		g.Detail = strings.Join(over, "; ")
		return g
	}
	g.Passed = true
	g.Detail = fmt.Sprintf("%.0f VND a month, %+.0f VND (%+.1f %%)", after.MonthlyTotal, change, pct)
	return g
}

func capacityGate(next *model.Config) GateResult {
	g := GateResult{Name: "capacity", Figures: map[string]float64{}}
	e, err := capacity.Compute(next)
	if err != nil {
		g.Detail = err.Error()
		return g
	}
	need := next.Promotion.Users
	if need == 0 {
		need = model.Profiles[next.Stage].Users[0]
	}
	g.Figures["concurrentUsers"], g.Figures["users"] = float64(e.ConcurrentUsers), float64(need)
	if e.ConcurrentUsers < need {
		g.Detail = fmt.Sprintf("carries %d concurrent users (bound by %s), fewer than the %d it must (nextflow:promotion.users)", e.ConcurrentUsers, e.Bottleneck, need)
		return g
	}
	g.Passed = true
	g.Detail = fmt.Sprintf("carries %d concurrent users, %d needed", e.ConcurrentUsers, need)
	return g
}

// Policy checks a rendered plan against the rules a stack must keep: on
// the cloud, encrypted and private databases and caches, no API or
// security group open to every address; on every stage, secrets only as
// secrets (a planned input carrying a known secret's value in the clear).
func Policy(res *offline.Result) []string {
	var bad []string
	for _, r := range res.Plan.Resources {
		in := r.Inputs
		switch r.Type {
		case aws.DBInstance:
			if in["storageEncrypted"] != true || in["publiclyAccessible"] != false {
				bad = append(bad, fmt.Sprintf("%s: the database must be encrypted and private", r.Name))
			}
		case aws.CacheGroup:
			if in["atRestEncryptionEnabled"] != true || in["transitEncryptionEnabled"] != true {
				bad = append(bad, fmt.Sprintf("%s: the cache must be encrypted at rest and in transit", r.Name))
			}
		case aws.Cluster:
			vpc, _ := in["vpcConfig"].(map[string]any)
			if vpc["endpointPublicAccess"] == true {
				cidrs, _ := vpc["publicAccessCidrs"].([]any)
				if len(cidrs) == 0 {
					bad = append(bad, r.Name+": the public API endpoint is open to every address")
				}
				for _, c := range cidrs {
					if c == "0.0.0.0/0" {
						bad = append(bad, r.Name+": the public API endpoint is open to 0.0.0.0/0")
					}
				}
			}
		case aws.SecurityGroupRule, aws.SGIngressRule:
			if in["type"] != "egress" && (in["cidrIpv4"] == "0.0.0.0/0" || containsAny(in["cidrBlocks"], "0.0.0.0/0")) {
				bad = append(bad, r.Name+": ingress open to 0.0.0.0/0")
			}
		case aws.SecurityGroup:
			// The stack writes its rules inline, as the group's ingress.
			rules, _ := in["ingress"].([]any)
			for _, rule := range rules {
				m, _ := rule.(map[string]any)
				if containsAny(m["cidrBlocks"], "0.0.0.0/0") || containsAny(m["ipv6CidrBlocks"], "::/0") {
					bad = append(bad, r.Name+": ingress open to every address")
					break
				}
			}
		}
	}
	return bad
}

func containsAny(v any, s string) bool {
	list, _ := v.([]any)
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func sha(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d\n", len(p))
		h.Write(p)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// previewDigest binds what a dry run saw: the target's config file with
// the release carried in, the plan rendered from it, and the preview's
// steps.
func previewDigest(config []byte, plan *offline.Result, steps []Step) string {
	var pj []byte
	if plan != nil {
		pj, _ = plan.Plan.JSON()
	}
	var sj []byte
	if steps != nil {
		// The engine runs steps in parallel: their order is not the plan's.
		sorted := append([]Step(nil), steps...)
		sort.Slice(sorted, func(i, j int) bool {
			a, b := sorted[i], sorted[j]
			return a.URN < b.URN || a.URN == b.URN && a.Op < b.Op
		})
		sj, _ = json.Marshal(sorted)
	}
	return sha(config, pj, sj)
}

// stateDigest is the version of the target's state: its file's digest.
func stateDigest(o Options) (string, error) {
	var b []byte
	var err error
	switch {
	case o.ReadState != nil:
		b, err = o.ReadState()
	case o.StateFile != "":
		b, err = os.ReadFile(o.StateFile)
		if errors.Is(err, os.ErrNotExist) {
			b, err = nil, nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("the target's state: %w", err)
	}
	if b == nil {
		return "none", nil
	}
	return sha(b), nil
}

func rejectedGate(entries []Entry, rel release.Release) GateResult {
	for _, e := range entries {
		if e.Kind == "reject" && e.Release == rel.Digest {
			return GateResult{Name: "rejected", Level: model.GateBlocking,
				Detail: fmt.Sprintf("release %s was rejected by %s (ledger entry %d): %s", rel.Short(), e.Actor, e.Seq, e.Note)}
		}
	}
	return GateResult{Name: "rejected", Level: model.GateBlocking, Passed: true, Detail: "the release is not rejected"}
}

// Held says whether a rollback holds automatic promotion of stack, and
// the entry that does.
func Held(entries []Entry, stack string) (bool, int) {
	held, since := false, 0
	for _, e := range entries {
		if e.To != stack {
			continue
		}
		switch e.Kind {
		case "rollback":
			held, since = true, e.Seq
		case "lift":
			held = false
		}
	}
	return held, since
}

// approvalGate holds an apply to its dry run: the same stacks and
// release, the same preview and state, and enough approvals by others.
func approvalGate(entries []Entry, o Options, res *Result, rel release.Release, preview, state string, need int) GateResult {
	g := GateResult{Name: "approval", Level: model.GateBlocking, Figures: map[string]float64{"required": float64(need)}}
	if o.Approved == 0 {
		g.Detail = fmt.Sprintf("%s needs %d approvals of a dry run: run nfx promote --dry-run, have it approved (nfx approve ENTRY), then promote --approved ENTRY", res.To, need)
		return g
	}
	if o.Approved > len(entries) {
		g.Detail = fmt.Sprintf("there is no ledger entry %d", o.Approved)
		return g
	}
	dry := entries[o.Approved-1]
	spentBy := spent(entries, dry.Seq)
	switch {
	case dry.Kind != "dry-run":
		g.Detail = fmt.Sprintf("ledger entry %d is a %s, not a dry run", dry.Seq, dry.Kind)
		return g
	case dry.From != res.From || dry.To != res.To:
		g.Detail = fmt.Sprintf("ledger entry %d promotes %s to %s, not %s to %s", dry.Seq, dry.From, dry.To, res.From, res.To)
		return g
	case spentBy > 0:
		g.Detail = fmt.Sprintf("dry run %d was carried out by ledger entry %d; an approval is spent once: dry-run again and have it approved", dry.Seq, spentBy)
		return g
	case dry.Release != rel.Digest:
		g.Detail = fmt.Sprintf("the release changed since the dry run (entry %d approved %s, this is %s)", dry.Seq, release.Short(dry.Release), rel.Short())
		return g
	case dry.Preview != preview:
		g.Detail = fmt.Sprintf("the target's config or plan changed since the dry run (entry %d): dry-run again and have it approved", dry.Seq)
		return g
	case dry.State != state:
		g.Detail = fmt.Sprintf("the target's state changed since the dry run (entry %d): someone ran it since; dry-run again and have it approved", dry.Seq)
		return g
	}
	by := map[string]bool{}
	for _, e := range entries {
		if e.Kind == "approval" && e.Ref == dry.Seq && e.Actor != dry.Actor {
			by[e.Actor] = true
		}
	}
	g.Figures["approvals"] = float64(len(by))
	if len(by) < need {
		g.Detail = fmt.Sprintf("dry run %d has %d of the %d approvals it needs (nextflow:promotion.approvals)", dry.Seq, len(by), need)
		return g
	}
	g.Passed = true
	g.Detail = fmt.Sprintf("dry run %d, unchanged since, approved by %d", dry.Seq, len(by))
	return g
}

// spent is the promotion that carried out dry run seq, 0 when none did.
func spent(entries []Entry, seq int) int {
	for _, e := range entries {
		if e.Kind == "promote" && e.Ref == seq {
			return e.Seq
		}
	}
	return 0
}

// Approve records actor's approval of a dry run. Nobody approves their
// own dry run, nor one twice.
func Approve(l Ledger, seq int, actor string, now time.Time) (Entry, error) {
	entries, err := l.Entries()
	if err != nil {
		return Entry{}, err
	}
	if seq < 1 || seq > len(entries) {
		return Entry{}, fmt.Errorf("there is no ledger entry %d", seq)
	}
	dry := entries[seq-1]
	if dry.Kind != "dry-run" {
		return Entry{}, fmt.Errorf("ledger entry %d is a %s; only a dry run is approved", seq, dry.Kind)
	}
	if dry.Actor == actor {
		return Entry{}, fmt.Errorf("%s ran dry run %d and cannot approve it; another person must", actor, seq)
	}
	if p := spent(entries, seq); p > 0 {
		return Entry{}, fmt.Errorf("dry run %d was carried out by ledger entry %d; approve a new dry run", seq, p)
	}
	for _, e := range entries {
		if e.Kind == "approval" && e.Ref == seq && e.Actor == actor {
			return Entry{}, fmt.Errorf("%s already approved dry run %d (entry %d)", actor, seq, e.Seq)
		}
	}
	return l.Append(Entry{Time: now, Kind: "approval", From: dry.From, To: dry.To, Release: dry.Release, Actor: actor, Ref: seq})
}

// Reject makes a release unpromotable.
func Reject(l Ledger, digest, actor, reason string, now time.Time) (Entry, error) {
	if reason == "" {
		reason = "no reason given"
	}
	return l.Append(Entry{Time: now, Kind: "reject", Release: digest, Actor: actor, Note: reason})
}

// Earlier is the release a stack goes back to from current: of the
// releases it ran before (in the ledger's promotions and rollbacks into
// it), the newest that passed a verification there and is neither
// rejected nor one the stack was rolled back from;
// when none passed one, the newest neither rejected nor failed there
// (verified false).
func Earlier(entries []Entry, stack, current string) (rel release.Release, verified, ok bool) {
	var ran []release.Release
	add := func(r *release.Release) {
		if r != nil && (len(ran) == 0 || ran[len(ran)-1].Digest != r.Digest) {
			ran = append(ran, *r)
		}
	}
	passed, failed, rejected := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, e := range entries {
		switch {
		case (e.Kind == "promote" || e.Kind == "rollback") && e.To == stack:
			add(e.Replaced)
			add(e.Payload)
			if e.Kind == "rollback" && e.Replaced != nil {
				// A release the stack was rolled back from is not one to
				// go back to.
				rejected[e.Replaced.Digest] = true
			}
		case e.Kind == "verify" && e.To == stack && len(e.Gates) == 1:
			if e.Gates[0].Passed {
				passed[e.Release] = true
			} else {
				failed[e.Release] = true
			}
		case e.Kind == "reject":
			rejected[e.Release] = true
		}
	}
	for i := len(ran) - 1; i >= 0; i-- {
		r := ran[i]
		// Never back to a rejected release, nor to one that failed its
		// verification there and never passed one.
		if r.Digest == current || rejected[r.Digest] || failed[r.Digest] && !passed[r.Digest] {
			continue
		}
		if passed[r.Digest] {
			return r, true, true
		}
		if !ok {
			rel, ok = r, true
		}
	}
	return rel, false, ok
}

// Rollback carries a stack back to its earlier release (Earlier), runs
// its up when eng is set, and holds automatic promotion of it.
func Rollback(l Ledger, s Stack, actor string, now time.Time, eng Engine) (*Result, error) {
	entries, err := l.Entries()
	if err != nil {
		return nil, err
	}
	data, cfg, err := loadValid(s)
	if err != nil {
		return nil, err
	}
	was := release.Of(cfg)
	if rb, ok := unfinishedRollback(entries, s.Name(), was.Digest); ok && eng != nil {
		// A rollback killed after its decision: the file carries its
		// release already; complete its up instead of going back further.
		res := &Result{From: "release " + was.Short() + " (the rollback of ledger entry " + fmt.Sprint(rb.Seq) + ", resumed)", To: s.Name(), Release: was, Changes: []release.Change{}, Entry: rb.Seq}
		if res.Up, err = eng.Up(); err != nil {
			return res, fmt.Errorf("up %s with release %s: %w; its config carries that release; fix: nfx up --stage %s", s.Name(), was.Short(), err, s.Name())
		}
		return res, finished(Options{Ledger: l, Actor: actor}, &Result{To: s.Name(), Release: was}, rb, "up: "+res.Up)
	}
	rel, verified, ok := Earlier(entries, s.Name(), was.Digest)
	if !ok {
		return nil, fmt.Errorf("the ledger has no release %s ran before its current %s (none, or all rejected): there is nothing to go back to", s.Name(), was.Short())
	}
	how := "verified there"
	if !verified {
		how = "never verified there"
	}
	res := &Result{From: "release " + rel.Short() + " (" + how + ")", To: s.Name(), Release: rel, Changes: rel.Diff(was)}
	out, err := release.Carry(data, rel, was)
	if err != nil {
		return nil, err
	}
	if _, _, nds, err := load(s, out); err != nil || nds.HasErrors() {
		return nil, fmt.Errorf("the earlier release does not fit %s's config now: %v%s", s.Name(), err, nds.Error())
	}
	e, err := l.Append(Entry{Time: now, Kind: "rollback", To: s.Name(), Release: rel.Digest, Actor: actor, Payload: &rel,
		Replaced: &was, Note: fmt.Sprintf("back from %s to %s (%s); automatic promotion held", was.Short(), rel.Short(), how)})
	if err != nil {
		return nil, err
	}
	res.Entry = e.Seq
	if len(res.Changes) > 0 {
		if err := files.WriteFile(s.File, out); err != nil {
			return nil, err
		}
		res.Applied = true
	}
	if eng != nil {
		if res.Up, err = eng.Up(); err != nil {
			return res, fmt.Errorf("up %s with release %s: %w; its config carries that release; fix: nfx up --stage %s", s.Name(), rel.Short(), err, s.Name())
		}
		return res, finished(Options{Ledger: l, Actor: actor}, &Result{To: s.Name(), Release: rel}, e, "up: "+res.Up)
	}
	return res, nil
}

// unfinishedRollback is the last change of stack when it is a rollback to
// the release the stack's file carries that never reached its "done": a
// rollback killed after its decision.
func unfinishedRollback(entries []Entry, stack, current string) (Entry, bool) {
	var last Entry
	found := false
	for _, e := range entries {
		switch {
		case (e.Kind == "promote" || e.Kind == "rollback") && e.To == stack:
			last, found = e, e.Kind == "rollback" && e.Release == current
		case found && e.Kind == "done" && e.Ref == last.Seq:
			found = false
		}
	}
	return last, found
}
