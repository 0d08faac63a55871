package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/report"
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
		s, dir, err := side(io, string(st), "")
		if err != nil {
			return err
		}
		stages, proj = append(stages, s), dir
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
