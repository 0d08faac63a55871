package cli

import (
	"github.com/spf13/cobra"
)

// PlanOptions are the flags of `nfx plan`.
type PlanOptions struct {
	stackFlags
	JSON bool
}

// NewCmdPlan builds `nfx plan`.
func NewCmdPlan(io IO) *cobra.Command {
	o := &PlanOptions{}
	cmd := &cobra.Command{
		Use:   "plan --stage STAGE [--config FILE] [--json]",
		Short: "List every resource of a stage offline: type, name, parent and key inputs",
		Example: `  nfx plan --stage laptop
  nfx plan --stage laptop --json | jq '.resources[].type'`,
		Args: cobra.NoArgs,
	}
	o.add(cmd)
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the plan as JSON")
	return viaPulumi(cmd, io, "plan", o)
}
