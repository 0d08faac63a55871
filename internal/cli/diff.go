package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// DiffOptions are the flags of `nfx diff`.
type DiffOptions struct{ moveFlags }

// moveFlags are the flags of a command on a move between two stages
// (diff, roi): the stages, their config files and the output format.
type moveFlags struct {
	From, To       string
	FromConfig     string
	ToConfig       string
	JSON, Markdown bool
	// Backend is where the cloud's ledger is read (diff and roi: its
	// failover rehearsal counts in the uptime).
	Backend string
}

// ledgerBackendDoc is the --backend of the commands that read the cloud's
// failover rehearsal, and do nothing else with the backend.
const ledgerBackendDoc = "the cloud stage: the file:// or s3:// state backend whose ledger holds the stack's failover rehearsals, which count in its uptime as in nfx capacity (default file://<project>/.nfx/state)"

func (o *moveFlags) add(cmd *cobra.Command, what, fromDoc string) {
	f := cmd.Flags()
	f.StringVar(&o.From, "from", "", fromDoc)
	f.StringVar(&o.To, "to", "", "the stage moved to (required)")
	f.StringVar(&o.FromConfig, "from-config", "", "the from stage's config file (default: the project's)")
	f.StringVar(&o.ToConfig, "to-config", "", "the to stage's config file (default: the project's)")
	f.BoolVar(&o.JSON, "json", false, "print the "+what+" as JSON")
	f.BoolVar(&o.Markdown, "markdown", false, "print the "+what+" as Markdown, for a pull-request comment")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
}

// print writes a result as JSON, Markdown or text, as the flags ask.
func (o *moveFlags) print(io IO, v any, markdown, text func() string) error {
	var err error
	switch {
	case o.JSON:
		return printJSON(io, v)
	case o.Markdown:
		_, err = fmt.Fprint(io.Out, markdown())
	default:
		_, err = fmt.Fprint(io.Out, text())
	}
	return err
}

// NewCmdDiff builds `nfx diff`.
func NewCmdDiff(io IO) *cobra.Command {
	o := &DiffOptions{}
	cmd := &cobra.Command{
		Use:   "diff --from STAGE --to STAGE [--json | --markdown]",
		Short: "Show what changes when moving between two stages, offline",
		Example: `  nfx diff --from laptop --to server
  nfx diff --from server --to cloud --markdown > comment.md`,
		Args: cobra.NoArgs,
	}
	o.add(cmd, "diff", "the stage moved from (required)")
	cmd.Flags().StringVar(&o.Backend, "backend", "", ledgerBackendDoc)
	return viaPulumi(cmd, io, "diff", o)
}
