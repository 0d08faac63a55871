package cli

import (
	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/cost"
)

// CostOptions are the flags of `nfx cost`.
type CostOptions struct {
	stackFlags
	JSON        bool
	Currency    string
	PreviewJSON string
}

// NewCmdCost builds `nfx cost`.
func NewCmdCost(io IO) *cobra.Command {
	o := &CostOptions{}
	cmd := &cobra.Command{
		Use:   "cost --stage STAGE [--config FILE] [--json] [--currency VND|USD] [--preview-json FILE]",
		Short: "Price a stage per month and one-time, item by item, offline",
		Example: `  nfx cost --stage laptop
  nfx cost --stage cloud --currency USD --json
  pulumi preview --json -s cloud > preview.json && nfx cost --stage cloud --preview-json preview.json`,
		Args: cobra.NoArgs,
	}
	o.add(cmd)
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the estimate as JSON")
	cmd.Flags().StringVar(&o.Currency, "currency", cost.VND, "VND or USD")
	cmd.Flags().StringVar(&o.PreviewJSON, "preview-json", "", "price the output of `pulumi preview --json` instead of nfx's own plan")
	return viaPulumi(cmd, io, "cost", o)
}

// money writes an amount with thousands separators.
func money(v float64) string { return cost.Money(v) }
