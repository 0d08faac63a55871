package cli

import (
	"github.com/spf13/cobra"
)

// RoiOptions are the flags of `nfx roi`.
type RoiOptions struct{ moveFlags }

// NewCmdRoi builds `nfx roi`.
func NewCmdRoi(io IO) *cobra.Command {
	o := &RoiOptions{}
	cmd := &cobra.Command{
		Use:   "roi --from STAGE --to STAGE [--json | --markdown]",
		Short: "Weigh a move between two stages: investment, payback, return and share of revenue, offline",
		Long: `Weigh a move between two stages as a business case, from the cost model, the
capacity model and the business figures of nextflow:business (revenue, its
growth, revenue per user, margin, the cost of an hour of downtime, the team's
cost): the one-time investment, the change in the monthly bill, the payback
month, the return at 12, 24 and 36 months, infrastructure as a share of revenue
on both stages against the plan's 30 %, and what the current stage's capacity
and downtime are costing. Where the plan states its own figures for the move,
they are set beside nfx's computation from the plan's inputs.`,
		Example: `  nfx roi --from laptop --to server
  nfx roi --from server --to cloud --markdown > comment.md`,
		Args: cobra.NoArgs,
	}
	o.add(cmd, "case", "the stage moved from (required); its nextflow:business figures are used")
	cmd.Flags().StringVar(&o.Backend, "backend", "", ledgerBackendDoc)
	return viaPulumi(cmd, io, "roi", o)
}
