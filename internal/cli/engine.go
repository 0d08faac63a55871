package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// EngineOptions are the flags of `nfx preview|up|destroy`.
type EngineOptions struct {
	stackFlags
	Backend string
	Refresh bool
}

// NewCmdEngine builds `nfx preview`, `nfx up` or `nfx destroy`.
func NewCmdEngine(io IO, verb string) *cobra.Command {
	o := &EngineOptions{}
	short := map[string]string{
		"preview": "Show what `up` would change, with the real Pulumi engine",
		"up":      "Create or update a stage's stack and write its files",
		"destroy": "Delete a stage's resources and its written files",
		"cancel":  "Clear the engine's lock that a killed nfx up (or pulumi up) left on a stage's stack",
	}[verb]
	cmd := &cobra.Command{
		Use:   verb + " --stage STAGE [--config FILE] [--backend URL]",
		Short: short,
		Example: fmt.Sprintf(`  nfx %[1]s --stage laptop
  nfx %[1]s --stage laptop --backend file:///srv/pulumi-state`, verb),
		Args: cobra.NoArgs,
	}
	o.add(cmd)
	if verb == "preview" || verb == "up" {
		cmd.Long = short + ".\n\nOn the cloud stage a preview and an up read the stack's resources from their APIs first\n" +
			"(as pulumi's --refresh does): the autoscaler's node counts and a failover's changes are kept, not\n" +
			"the values stored at the last up. --refresh=false skips it, as when a lost region's resources\n" +
			"cannot be read: an up that changes a node group's minimum or maximum then sends the desired size\n" +
			"stored at the last up."
		cmd.Flags().BoolVar(&o.Refresh, "refresh", true, "the cloud stage: read the stack's resources from their APIs first")
	}
	cmd.Flags().StringVar(&o.Backend, "backend", "", "a Pulumi backend URL (default file://<project>/.nfx/state)")
	return viaPulumi(cmd, io, "engine", o)
}
