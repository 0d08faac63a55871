package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/cost"
	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/offline"
	"github.com/nextflow-crm/nfx/internal/report"
	"github.com/nextflow-crm/nfx/stacks"
)

// ReportOptions are the flags of `nfx report`.
type ReportOptions struct {
	Out string
}

// NewCmdReport builds `nfx report`.
func NewCmdReport(io IO) *cobra.Command {
	o := &ReportOptions{}
	cmd := &cobra.Command{
		Use:     "report [--out FILE]",
		Short:   "Write one self-contained HTML page: each stage's architecture, its monthly cost, and the diffs",
		Example: `  nfx report --out nextflow-report.html`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runReport(io, o) },
	}
	cmd.Flags().StringVar(&o.Out, "out", "", "the HTML file (default out/report.html in the project)")
	return cmd
}

func runReport(io IO, o *ReportOptions) error {
	var stages []report.Stage
	var proj string
	for _, st := range model.Stages {
		in, err := (&stackFlags{Stage: string(st)}).resolve(io, false)
		if err != nil {
			return err
		}
		proj = in.ProjectDir
		res, err := offline.Run(in.Stage, in.Raw)
		if err != nil {
			return err
		}
		est, err := cost.Compute(in.Config, &res.Plan, cost.VND)
		if err != nil {
			return err
		}
		stages = append(stages, report.Stage{Config: in.Config, Describe: stacks.Describe[in.Stage](in.Config), Cost: est, Plan: &res.Plan})
	}
	html, err := report.Render(stages)
	if err != nil {
		return err
	}
	out := o.Out
	switch {
	case out == "":
		out = filepath.Join(proj, "out", "report.html")
	case !filepath.IsAbs(out):
		out = filepath.Join(io.Dir, out)
	}
	// One file, swapped in whole like a rendered directory.
	if err := files.WriteFile(out, html); err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "wrote %s\n", out)
	return nil
}
