//go:build !nfxfront

package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/engine"
	"github.com/nextflow-crm/nfx/internal/migrate"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/promote"
)

func init() {
	register("upgrade", func(c *cobra.Command, _ []string, io IO, o *UpgradeOptions) error {
		return runUpgrade(c.Context(), io, o)
	})
}

// upgradeMove is the migration of an upgrade, as the promotion's step.
type upgradeMove struct {
	ctx  context.Context
	run  *migrate.Run
	plan *migrate.Plan
	e    migrate.Endpoints
}

// Check: the migration's plan is known (it was made offline when the
// stages were read), and an apply has the connections the migration needs.
func (m *upgradeMove) Check(dryRun bool) promote.GateResult {
	g := promote.GateResult{Name: "migration", Level: model.GateBlocking}
	steps := len(m.plan.Steps)
	if !dryRun {
		if err := m.e.Need("the upgrade's migration", "source-db", "target-db", "scratch-db"); err != nil {
			g.Detail = err.Error() + " (the rehearsal of a restore into --scratch-db gates the cutover)"
			return g
		}
		if err := m.e.NeedCutover(m.plan); err != nil {
			g.Detail = err.Error()
			return g
		}
	}
	g.Passed = true
	g.Detail = fmt.Sprintf("%s mode, %d steps (nfx migrate plan --from %s --to %s)", m.plan.Mode, steps, m.plan.From, m.plan.To)
	return g
}

func (m *upgradeMove) Run() (string, error) {
	j, err := m.run.Execute(m.ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s; writes stopped for %.1f s", j.State, j.DowntimeSeconds), nil
}

func (m *upgradeMove) Rollback() error {
	_, err := m.run.Rollback(m.ctx, false)
	return err
}

func runUpgrade(ctx context.Context, io IO, o *UpgradeOptions) error {
	if o.Approved < 0 {
		return usagef("--approved: a ledger entry number, got %d", o.Approved)
	}
	if o.Rollback && (o.DryRun || o.Approved > 0) {
		return usagef("--rollback returns the traffic to the source: not with --dry-run or --approved")
	}
	if o.DeployCmd != "" && o.DryRun {
		return usagef("--deploy-cmd runs after the engine's up: not with --dry-run")
	}
	m, err := o.resolve(io)
	if err != nil {
		return err
	}
	e, err := o.endpoints(m)
	if err != nil {
		return err
	}
	run := o.run(io, m, e)
	if o.JSON {
		run.Out = io.Err
	}
	b, err := openBackend(ctx, m.project, o.Backend)
	if err != nil {
		return err
	}
	defer b.Close()
	if o.Rollback {
		j, err := run.Rollback(ctx, o.Discard)
		if err != nil {
			return err
		}
		if _, err := b.Ledger.Append(promote.Entry{Time: time.Now(), Kind: "migrate", From: o.From, To: o.To, Actor: actor(),
			Gates: []promote.GateResult{{Name: "migration", Level: model.GateBlocking, Detail: "rolled back by hand: the traffic and the writes are on " + o.From + " again"}}}); err != nil {
			return fmt.Errorf("ledger: %w", err)
		}
		fmt.Fprintf(io.Out, "nfx: the upgrade %s -> %s is rolled back (%s); the %s stack is kept (nfx destroy --stage %s removes it)\n", o.From, o.To, j.State, o.To, o.To)
		return nil
	}
	from := promote.Stack{Stage: m.from.Stage, File: m.from.ConfigFile}
	to := promote.Stack{Stage: m.to.Stage, File: m.to.ConfigFile}
	if _, err := os.Stat(to.File); err != nil {
		return usagef("--to %s: %v; fix: create the stack's Pulumi.%s.yaml", o.To, err, o.To)
	}
	unlock, err := engine.Lock(m.project, to.Name())
	if err != nil {
		return err
	}
	defer unlock()
	popts := promote.Options{From: from, To: to, Now: time.Now(), DryRun: o.DryRun, Ledger: b.Ledger, Actor: actor(),
		Approved: o.Approved, LiftHold: o.LiftHold, ReadState: func() ([]byte, error) { return b.State(to.Name()) },
		Engine: newPromoteEngine(ctx, io, m.project, b.URL, o.DeployCmd, to),
		Move:   &upgradeMove{ctx: ctx, run: run, plan: m.plan, e: e}}
	res, err := promote.Run(popts)
	if res != nil {
		if o.JSON {
			if werr := printJSON(io, res); werr != nil && err == nil {
				err = werr
			}
		} else {
			writePromoteText(io, res)
		}
	}
	if err != nil {
		return err
	}
	if err := blockedBy(res); err != nil {
		return err
	}
	if !o.DryRun && !o.JSON {
		fmt.Fprintf(io.Out, "nfx: %s -> %s upgraded: traffic on %s. Confirm with nfx migrate confirm --from %s --to %s once it serves well; the %s stack is kept until you destroy it\n",
			o.From, o.To, o.To, o.From, o.To, o.From)
	}
	return nil
}
