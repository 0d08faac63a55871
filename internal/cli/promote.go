package cli

import (
	"fmt"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/release"
)

// ledgerOptions are the flags of `nfx ledger`.
type ledgerOptions struct {
	backend string
	verify  bool
	asJSON  bool
	seal    bool
}

// NewCmdLedger is `nfx ledger`.
func NewCmdLedger(io IO) *cobra.Command {
	o := &ledgerOptions{}
	cmd := &cobra.Command{
		Use:   "ledger [--verify | --seal]",
		Short: "List every promotion, refusal and rollback; --verify checks the hash chain",
		Args:  cobra.NoArgs,
	}
	cmd.Flags().StringVar(&o.backend, "backend", "", "the file:// or s3:// state backend whose ledger to read (default file://<project>/.nfx/state)")
	cmd.Flags().BoolVar(&o.verify, "verify", false, "check every entry's hash and link, and the end its head records")
	cmd.Flags().BoolVar(&o.seal, "seal", false, "give a ledger written before heads were kept its head, once its chain verifies")
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "print JSON")
	return viaPulumi(cmd, io, "ledger", o)
}

// approveOptions are the flags of `nfx approve`.
type approveOptions struct {
	backend string
}

// NewCmdApprove is `nfx approve ENTRY`.
func NewCmdApprove(io IO) *cobra.Command {
	o := &approveOptions{}
	cmd := &cobra.Command{
		Use:   "approve ENTRY",
		Short: "Approve a promotion's dry run (by its ledger entry); its author cannot",
		Args:  cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&o.backend, "backend", "", "the file:// or s3:// state backend whose ledger holds the dry run")
	return viaPulumi(cmd, io, "approve", o)
}

// rejectOptions are the flags of `nfx reject`.
type rejectOptions struct {
	backend string
	reason  string
}

// NewCmdReject is `nfx reject RELEASE`.
func NewCmdReject(io IO) *cobra.Command {
	o := &rejectOptions{}
	cmd := &cobra.Command{
		Use:   "reject RELEASE",
		Short: "Make a release (its sha256: digest) unpromotable",
		Args:  cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&o.backend, "backend", "", "the file:// or s3:// state backend whose ledger records it")
	cmd.Flags().StringVar(&o.reason, "reason", "", "why, for the ledger")
	return viaPulumi(cmd, io, "reject", o)
}

// rollbackOptions are the flags of `nfx rollback`.
type rollbackOptions struct {
	backend    string
	stack      string
	deploy     string
	configOnly bool
}

// NewCmdRollback is `nfx rollback --stage STACK`.
func NewCmdRollback(io IO) *cobra.Command {
	o := &rollbackOptions{}
	cmd := &cobra.Command{
		Use:   "rollback --stage STACK",
		Short: "Go back to the release a stack last passed its verification with, and hold its automatic promotion",
		Long: `rollback carries back into the stack the newest release it ran before its current one
that passed a verification there and is not rejected (else the newest not rejected),
runs its up (and --deploy-cmd), and holds automatic promotion of the stack until a
promotion with --lift-hold.`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().StringVar(&o.stack, "stage", "", "the stack to roll back (required)")
	cmd.Flags().StringVar(&o.backend, "backend", "", "the file:// or s3:// state backend whose ledger holds its releases")
	cmd.Flags().BoolVar(&o.configOnly, "config-only", false, "carry the release back into the config file only, without the engine's up")
	cmd.Flags().StringVar(&o.deploy, "deploy-cmd", "", "the command that starts the stack after its up")
	return viaPulumi(cmd, io, "rollback", o)
}

// verifyOptions are the flags of `nfx verify`.
type verifyOptions struct {
	backend string
	stack   string
	prom    string
	window  string
	at      string
}

// NewCmdVerify is `nfx verify`.
func NewCmdVerify(io IO) *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify --stage STACK --prometheus URL [--window 15m]",
		Short: "Check a stack's health from its Prometheus and record it for the soak gate",
		Long: `verify reads from the stack's Prometheus whether the CRM answered throughout the
window (nextflow:crm_up) and no page alert fires at its end, and records the result in
the ledger for the release the stack's config runs: the soak gate of a promotion from
this stack needs a passed verification. A failed verification exits 3.`,
		Args: cobra.NoArgs,
	}
	fl := cmd.Flags()
	fl.StringVar(&o.stack, "stage", "", "the stack to verify (required)")
	fl.StringVar(&o.prom, "prometheus", "", "the stack's Prometheus, such as http://127.0.0.1:9090 (required)")
	fl.StringVar(&o.window, "window", "15m", "how long the CRM must have answered")
	fl.StringVar(&o.at, "at", "", "the window's end, RFC 3339 (default now)")
	fl.StringVar(&o.backend, "backend", "", "the file:// or s3:// state backend whose ledger records it")
	return viaPulumi(cmd, io, "verify", o)
}

// ExitBlocked is promote's exit code when a blocking gate fails: distinct
// from a failure to run, so that CI can tell "refused" from "broken".
const ExitBlocked = 3

// blockedError is a promotion a blocking gate refused.
type blockedError struct{ gates []string }

func (e blockedError) Error() string {
	return "promotion blocked by " + strings.Join(e.gates, ", ")
}

var stackNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// NewCmdRelease is `nfx release show`.
func NewCmdRelease(io IO) *cobra.Command {
	var f stackFlags
	var asJSON bool
	cmd := &cobra.Command{Use: "release", Short: "What a stack runs: its images and models, with a digest"}
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the stage's release and its digest",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			in, err := f.resolve(io, false)
			if err != nil {
				return err
			}
			r := release.Of(in.Config)
			if asJSON {
				return printJSON(io, r)
			}
			tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "release %s of %s\n", r.Digest, in.Stage)
			for _, s := range r.Services() {
				mark := ""
				if why := release.Mutable(r.Images[s]); why != "" {
					mark = "  (" + why + ": promotion refuses it)"
				}
				fmt.Fprintf(tw, "%s\t%s%s\n", s, r.Images[s], mark)
			}
			fmt.Fprintf(tw, "ai.model\t%s\nai.embeddingModel\t%s\n", r.Models["model"], r.Models["embeddingModel"])
			return tw.Flush()
		},
	}
	f.add(show)
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(show)
	return cmd
}

// PromoteOptions are nfx promote's flags.
type PromoteOptions struct {
	From, To string
	DryRun   bool
	JSON     bool
	Markdown bool
	Backend  string
	// At is the time the freeze windows are read at (RFC 3339), for
	// checking a planned promotion; default now.
	At string
	// Approved is the approved dry run's ledger entry.
	Approved int
	LiftHold bool
	// PreviewJSON is the target's `pulumi preview --json`; Migration a
	// verified migration journal covering a stateful replacement.
	PreviewJSON string
	Migration   string
	// ConfigOnly carries the release into the config file only: no
	// preview, up or verification by the engine.
	ConfigOnly bool
	DeployCmd  string
}

// NewCmdPromote is `nfx promote`.
func NewCmdPromote(io IO) *cobra.Command {
	o := &PromoteOptions{}
	cmd := &cobra.Command{
		Use:   "promote --from STACK --to STACK [--dry-run]",
		Short: "Carry the release of one stack into another through its gates",
		Long: `promote carries the release of --from (its images and models) into the config file of
--to, keeping the target's topology and sizing, after the target's gates
(nextflow:promotion): the config stays valid, the plan within policy, every image
pinned, the cost within budget, the capacity enough, no freeze window, and the real
engine's preview of the target loses no stateful resource. Then it writes the file,
runs the target's up and --deploy-cmd, and verifies the target
(nextflow:promotion.verify); a failed up or verification carries the earlier release
back and holds the target. A blocking gate exits 3 and leaves the target untouched.
Every run is an entry of the ledger.`,
		Args: cobra.NoArgs,
	}
	fl := cmd.Flags()
	fl.StringVar(&o.From, "from", "", "the stack whose release is promoted (required)")
	fl.StringVar(&o.To, "to", "", "the stack it is promoted into (required)")
	fl.BoolVar(&o.DryRun, "dry-run", false, "evaluate and record the gates, change nothing")
	fl.BoolVar(&o.JSON, "json", false, "print JSON")
	fl.BoolVar(&o.Markdown, "markdown", false, "print Markdown (a pull request's comment)")
	fl.StringVar(&o.Backend, "backend", "", "the file:// or s3:// state backend whose ledger records the promotion (default file://<project>/.nfx/state)")
	fl.StringVar(&o.At, "at", "", "with --dry-run: read the freeze windows at this RFC 3339 time, to check a planned promotion")
	fl.IntVar(&o.Approved, "approved", 0, "the ledger entry of the approved dry run this apply carries out")
	fl.BoolVar(&o.LiftHold, "lift-hold", false, "promote into a stack a rollback holds, ending the hold")
	fl.StringVar(&o.PreviewJSON, "preview-json", "", "the target's `pulumi preview --json`: its replace and delete steps on stateful resources block")
	fl.StringVar(&o.Migration, "migration", "", "a migration journal (.nfx/migrations/<from>-to-<to>.json) whose passed verification covers a stateful replacement")
	fl.BoolVar(&o.ConfigOnly, "config-only", false, "the offline gates and the config file only: no engine preview, up or verification (a pull request's review, which has no state or secrets)")
	fl.StringVar(&o.DeployCmd, "deploy-cmd", "", "the command that starts the target after its up, before the verification (the server: docker stack deploy -c out/server/stack.yaml nextflow)")
	return viaPulumi(cmd, io, "promote", o)
}
