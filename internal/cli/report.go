package cli

import (
	"github.com/spf13/cobra"
)

// ReportOptions are the flags of `nfx report`.
type ReportOptions struct {
	Out     string
	Backend string
}

// NewCmdReport builds `nfx report`.
func NewCmdReport(io IO) *cobra.Command {
	o := &ReportOptions{}
	cmd := &cobra.Command{
		Use:     "report [--out FILE]",
		Short:   "Write one self-contained HTML page: each stage's architecture, its monthly cost, and the diffs",
		Example: `  nfx report --out nextflow-report.html`,
		Args:    cobra.NoArgs,
		// The report realises every stage, the cloud's among them.
		Annotations: map[string]string{everyStage: "yes"},
	}
	cmd.Flags().StringVar(&o.Out, "out", "", "the HTML file (default out/report.html in the project)")
	cmd.Flags().StringVar(&o.Backend, "backend", "", ledgerBackendDoc)
	return viaPulumi(cmd, io, "report", o)
}
