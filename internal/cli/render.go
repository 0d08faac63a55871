package cli

import (
	"github.com/spf13/cobra"
)

// RenderOptions are the flags of `nfx render`.
type RenderOptions struct {
	stackFlags
	Out string
}

// NewCmdRender builds `nfx render`.
func NewCmdRender(io IO) *cobra.Command {
	o := &RenderOptions{}
	cmd := &cobra.Command{
		Use:   "render --stage STAGE [--config FILE] [--out DIR]",
		Short: "Write a stage's files offline (compose.yaml for the laptop)",
		Example: `  nfx render --stage laptop
  nfx render --stage laptop --config my-laptop.yaml --out /tmp/laptop`,
		Args: cobra.NoArgs,
	}
	o.add(cmd)
	cmd.Flags().StringVar(&o.Out, "out", "", "the output directory (default out/<stack> in the project: out/<stage> for a stage's own)")
	return viaPulumi(cmd, io, "render", o)
}
