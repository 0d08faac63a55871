package promote

import (
	"fmt"
	"strings"
	"time"

	"github.com/nextflow-crm/nfx/internal/compliance"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/offline"
	"github.com/nextflow-crm/nfx/internal/release"
)

// When says at which point of a promotion a gate runs.
type When string

// The points a gate runs at.
const (
	// Always: every promotion, dry run or apply.
	Always When = "always"
	// WithPlan: once the target's config with the release is valid (the
	// gate reads its plan).
	WithPlan When = "with a valid config"
	// WithEngine: with the engine's preview, or --preview-json.
	WithEngine When = "with the engine's preview"
	// WithMigration: a stage upgrade (nfx upgrade).
	WithMigration When = "in an upgrade"
	// OnApply: an apply that needs or names an approval.
	OnApply When = "on an apply with approvals"
	// AfterUp: after the target's up, before the promotion is done.
	AfterUp When = "after the up"
)

// Gate is one check of a promotion, declared once: its name, whether
// nextflow:promotion.levels may make it advisory, when it runs, what it
// reads, and the check itself. Run evaluates Gates in order; README's
// table and model.PromotionGates are checked against it.
type Gate struct {
	Name string
	// Configurable gates take their level from nextflow:promotion.levels;
	// the others always block.
	Configurable bool
	When         When
	// Reads says what the gate reads.
	Reads string
	// run evaluates the gate; a result without a name is no gate (it did
	// not run). It may leave what later gates read in the gateRun.
	run func(*gateRun) (GateResult, error)
}

func (g Gate) applies(c *gateRun) bool {
	switch g.When {
	case WithPlan, WithEngine:
		return c.next != nil
	case WithMigration:
		return c.o.Move != nil
	case OnApply:
		return !c.o.DryRun && (c.cur.Promotion.Approvals > 0 || c.o.Approved > 0)
	case AfterUp:
		return false // run by apply, after the up
	}
	return true
}

// gateRun is what the gates of one promotion read and leave for each
// other: the release, the target before and with it, its plan and the
// engine's preview.
type gateRun struct {
	o        Options
	res      *Result
	rel, was release.Release
	cur      *model.Config
	curRaw   model.Raw
	dstData  []byte
	entries  []Entry
	// Left by the gates: the target's config with the release (newData,
	// next), its plan, whether the plan is within policy, the preview's
	// steps, and the state's digest.
	newData  []byte
	next     *model.Config
	nextRaw  model.Raw
	plan     *offline.Result
	policyOK bool
	steps    []Step
	state    string
	prev     *offline.Result
	prevDone bool
}

func (c *gateRun) level(gate string) string {
	if l := c.cur.Promotion.Levels[gate]; l != "" {
		return l
	}
	return model.GateBlocking
}

// Gates is the table of a promotion's gates, in the order they run.
var Gates = []Gate{
	{Name: "pinned", Configurable: true, When: Always, Reads: "the release's images", run: func(c *gateRun) (GateResult, error) {
		if bad := c.rel.CheckPinned(); len(bad) > 0 {
			return GateResult{Name: "pinned", Detail: strings.Join(bad, "; ")}, nil
		}
		return GateResult{Name: "pinned", Passed: true, Detail: fmt.Sprintf("%d images, each a version tag or digest", len(c.rel.Images))}, nil
	}},
	{Name: "valid", When: Always, Reads: "the target's config file with the release carried in", run: func(c *gateRun) (GateResult, error) {
		g := GateResult{Name: "valid", Level: model.GateBlocking}
		var fault string
		c.newData, c.next, c.nextRaw, fault = carried(c.o.To, c.dstData, c.rel, c.was)
		if fault != "" {
			g.Detail = fault
			return g, nil
		}
		g.Passed, g.Detail = true, fmt.Sprintf("%s's config with the release is valid", c.o.To.Name())
		return g, nil
	}},
	{Name: "policy", When: WithPlan, Reads: "the target's plan, rendered offline", run: func(c *gateRun) (GateResult, error) {
		g := GateResult{Name: "policy", Level: model.GateBlocking}
		plan, err := offline.Run(c.o.To.Stage, c.nextRaw)
		if err != nil {
			g.Detail = "the plan does not render: " + err.Error()
			return g, nil
		}
		c.plan = plan
		if bad := Policy(plan); len(bad) > 0 {
			g.Detail = strings.Join(bad, "; ")
			return g, nil
		}
		c.policyOK = true
		g.Passed, g.Detail = true, fmt.Sprintf("%d planned resources within policy", len(plan.Plan.Resources))
		return g, nil
	}},
	{Name: "preview", When: WithEngine, Reads: "the engine's preview of the target (or --preview-json)", run: func(c *gateRun) (GateResult, error) {
		var g GateResult
		c.steps, g = previewGate(c.o, c.newData, c.policyOK)
		return g, nil
	}},
	{Name: "stateful", When: WithPlan, Reads: "the plans before and after, the preview's steps, --migration", run: func(c *gateRun) (GateResult, error) {
		return statefulGate(c.o, c.prevPlan(), c.plan, c.steps), nil
	}},
	{Name: "cost", Configurable: true, When: WithPlan, Reads: "nfx's cost model of both plans, nextflow:promotion.budgetVND and maxIncreasePercent", run: func(c *gateRun) (GateResult, error) {
		return costGate(c.cur, c.next, c.prevPlan(), c.plan, c.res), nil
	}},
	{Name: "capacity", Configurable: true, When: WithPlan, Reads: "nfx's capacity model of the target, nextflow:promotion.users", run: func(c *gateRun) (GateResult, error) {
		return capacityGate(c.next), nil
	}},
	{Name: "compliance", Configurable: true, When: WithPlan, Reads: "nfx compliance of the target's plan and its latest restore rehearsal, nextflow:promotion.compliance", run: func(c *gateRun) (GateResult, error) {
		return complianceGate(c)
	}},
	{Name: "freeze", Configurable: true, When: Always, Reads: "nextflow:promotion.freeze at the time (--at on a dry run)", run: func(c *gateRun) (GateResult, error) {
		ok, why, err := Freeze(c.cur.Promotion.Freeze, c.o.Now)
		if err != nil {
			return GateResult{}, err
		}
		return GateResult{Name: "freeze", Passed: ok, Detail: fmt.Sprintf("%s at %s", why, c.o.Now.UTC().Format(time.RFC3339))}, nil
	}},
	{Name: "soak", Configurable: true, When: Always, Reads: "the ledger's promotions and verifications of the source, on the real clock", run: func(c *gateRun) (GateResult, error) {
		return soakGate(c.entries, c.o, c.rel.Digest, c.cur.Promotion.SoakMinutes), nil
	}},
	{Name: "failover", Configurable: true, When: Always, Reads: "the ledger's failovers and rehearsals of the target (nfx failover), nextflow:promotion.failoverDays", run: func(c *gateRun) (GateResult, error) {
		return failoverGate(c.entries, c.o, c.res.To, c.cur), nil
	}},
	{Name: "rejected", When: Always, Reads: "the ledger's rejections", run: func(c *gateRun) (GateResult, error) {
		return rejectedGate(c.entries, c.rel), nil
	}},
	{Name: "hold", When: Always, Reads: "the ledger's rollbacks and lifts of the target, --lift-hold", run: func(c *gateRun) (GateResult, error) {
		held, since := Held(c.entries, c.res.To)
		if !held {
			return GateResult{}, nil
		}
		g := GateResult{Name: "hold", Level: model.GateBlocking, Passed: c.o.LiftHold,
			Detail: fmt.Sprintf("a rollback (ledger entry %d) holds automatic promotion of %s; promote with --lift-hold to end it", since, c.res.To)}
		if c.o.LiftHold {
			g.Detail = fmt.Sprintf("the hold of entry %d is lifted by this promotion", since)
		}
		return g, nil
	}},
	{Name: "migration", When: WithMigration, Reads: "the migration's plan and connections", run: func(c *gateRun) (GateResult, error) {
		return c.o.Move.Check(c.o.DryRun), nil
	}},
	{Name: "approval", When: OnApply, Reads: "the approved dry run, its approvals, and the target's config, plan, preview and state now", run: func(c *gateRun) (GateResult, error) {
		state, err := stateDigest(c.o)
		if err != nil {
			return GateResult{}, err
		}
		c.state = state
		return approvalGate(c.entries, c.o, c.res, c.rel, previewDigest(c.newData, c.plan, c.steps), state, c.cur.Promotion.Approvals), nil
	}},
	{Name: "verification", When: AfterUp, Reads: "nextflow:promotion.verify: the health URLs, the stack's Prometheus"},
}

// carried is the target's config file with rel carried in over was, and
// that config loaded and validated; fault says why it is not valid ("" when
// it is), and then next is nil.
func carried(to Stack, data []byte, rel, was release.Release) (newData []byte, next *model.Config, nextRaw model.Raw, fault string) {
	newData, err := release.Carry(data, rel, was)
	if err != nil {
		return nil, nil, model.Raw{}, err.Error()
	}
	next, nextRaw, ds, err := load(to, newData)
	switch {
	case err != nil:
		return newData, nil, nextRaw, err.Error()
	case ds.HasErrors():
		return newData, nil, nextRaw, ds.Error()
	}
	return newData, next, nextRaw, ""
}

// prevPlan is the target's plan before the promotion (nil when it does
// not render), rendered once.
func (c *gateRun) prevPlan() *offline.Result {
	if c.prev == nil && !c.prevDone {
		c.prevDone = true
		if p, err := offline.Run(c.o.To.Stage, c.curRaw); err == nil {
			c.prev = p
		}
	}
	return c.prev
}

// complianceGate fails a promotion whose plan fails a control of a
// framework the target requires (nextflow:promotion.compliance); it does
// not run when the target requires none.
func complianceGate(c *gateRun) (GateResult, error) {
	fws := c.cur.Promotion.Compliance
	if len(fws) == 0 {
		return GateResult{}, nil
	}
	g := GateResult{Name: "compliance"}
	if c.plan == nil {
		g.Detail = "the target's plan did not render, so its controls cannot be shown"
		return g, nil
	}
	rec, err := compliance.LoadRecords(c.o.Rehearsals, c.o.clock())
	if err != nil {
		return GateResult{}, err
	}
	r, err := compliance.Evaluate(c.next, &c.plan.Plan, c.plan.Files, rec, fws)
	if err != nil {
		g.Detail = err.Error()
		return g, nil
	}
	g.Figures = map[string]float64{"pass": float64(r.Counts[compliance.Pass]), "fail": float64(r.Counts[compliance.Fail])}
	if failed := r.Failed(); len(failed) > 0 {
		var names []string
		for _, f := range failed {
			names = append(names, f.ID)
		}
		g.Detail = fmt.Sprintf("%s: the plan fails %s (nfx compliance --stage %s)", strings.Join(fws, ", "), strings.Join(names, ", "), c.o.To.Stage)
		return g, nil
	}
	g.Passed = true
	g.Detail = fmt.Sprintf("%s: %d controls the plan shows pass; %d outside the plan and %d of people and process are the team's to evidence",
		strings.Join(fws, ", "), r.Counts[compliance.Pass], r.Counts[compliance.Outside], r.Counts[compliance.Manual])
	return g, nil
}
