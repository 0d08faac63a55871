//go:build !nfxfront

package cli

import (
	"fmt"

	"github.com/nextflow-crm/nfx/internal/capacity"
	"github.com/nextflow-crm/nfx/internal/cost"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/offline"
	"github.com/nextflow-crm/nfx/internal/stagediff"
	"github.com/nextflow-crm/nfx/stacks"
)

func init() {
	registerIO("diff", runDiff)
}

// sides checks the flags and loads, plans, prices and estimates both stages.
func (o *moveFlags) sides(io IO) (from, to stagediff.Side, err error) {
	if o.JSON && o.Markdown {
		return from, to, usagef("--json and --markdown: choose one")
	}
	for _, s := range []string{o.From, o.To} {
		if _, err := model.ParseStage(s); err != nil {
			return from, to, usagef("--from/--to: %v", err)
		}
	}
	if from, _, err = side(io, o.From, o.FromConfig, o.Backend); err != nil {
		return from, to, err
	}
	to, _, err = side(io, o.To, o.ToConfig, o.Backend)
	return from, to, err
}

// side loads, plans, prices and estimates one stage, for a diff or the
// report (the cloud's failover rehearsal read from backend's ledger); it
// also returns the project directory the stage was read from.
func side(io IO, stage, config, backend string) (stagediff.Side, string, error) {
	in, err := (&stackFlags{Stage: stage, Config: config}).resolve(io, false)
	if err != nil {
		return stagediff.Side{}, "", err
	}
	res, err := offline.Run(in.Stage, in.Raw)
	if err != nil {
		return stagediff.Side{}, "", fmt.Errorf("stage %s (%s): %w", in.Stage, in.ConfigFile, err)
	}
	// The loaded config as the program saw it (GPU and model resolved).
	describe, err := stacks.Describe(in.Config)
	if err != nil {
		return stagediff.Side{}, "", err
	}
	est, err := cost.Compute(in.Config, &res.Plan, cost.VND)
	if err != nil {
		return stagediff.Side{}, "", fmt.Errorf("stage %s (%s): %w", in.Stage, in.ConfigFile, err)
	}
	side := stagediff.Side{Config: in.Config, Describe: describe, Plan: &res.Plan, Files: res.Files, Cost: est}
	// A stage the capacity model cannot estimate (Ollama on CPU) still diffs.
	if c, err := capacity.ComputeMeasured(in.Config, ledgerMeasured(io, backend, in)); err == nil {
		side.Capacity = c
	} else {
		fmt.Fprintf(io.Err, "nfx: %s: capacity not estimated: %v\n", in.Stage, err)
	}
	return side, in.ProjectDir, nil
}

func runDiff(io IO, o *DiffOptions) error {
	from, to, err := o.sides(io)
	if err != nil {
		return err
	}
	d := stagediff.Compute(from, to)
	return o.print(io, d, d.Markdown, d.Text)
}
