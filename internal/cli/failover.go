package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/model"
)

// FailoverOptions are the flags of `nfx failover`.
type FailoverOptions struct {
	stackFlags
	Planned, Unplanned bool
	AcceptUnknownLoss  bool
	DryRun             bool
	Drain, CatchUp     time.Duration
	Backend            string
	JSON               bool
}

// NewCmdFailover builds `nfx failover`.
func NewCmdFailover(io IO) *cobra.Command {
	o := &FailoverOptions{}
	cmd := &cobra.Command{
		Use:   "failover --stage cloud (--planned | --unplanned) [--dry-run]",
		Short: "Move the cloud's database to its standby region and write that back into the stack's config",
		Long: `nfx failover promotes the cloud stage's standby database (cloud.standbyRegion) through AWS's APIs,
moves the database's names to it, and writes cloud.standbyPromoted into the stack's config, so that
the next preview keeps the promoted database as the writer instead of replacing it.

--planned   a switchover that loses nothing: the primary is fenced read-only, the standby holds all
            it wrote, then it is promoted; the primary must answer.
--unplanned the primary's region is lost: the standby is promoted at once; the loss is bounded by
            its last reported lag and recorded.
Both record what they measured (RTO, RPO) in the ledger. AWS credentials come from the usual
places (environment, profile, SSO, instance role).`,
		Example: `  nfx failover --stage cloud --planned --dry-run
  nfx failover --stage cloud --planned
  nfx failover --stage cloud --unplanned`,
		Args: cobra.NoArgs,
		PreRunE: func(c *cobra.Command, _ []string) error {
			if o.Planned == o.Unplanned {
				return usagef("say --planned (a switchover: the primary answers, nothing is lost) or --unplanned (its region is lost)")
			}
			if o.Stage != "" {
				if st := stageOfName(io, o.Stage); st != "" && st != model.Cloud {
					return usagef("--stage %s: only the cloud stage has a standby region to fail over to", o.Stage)
				}
			}
			if o.Drain < 0 || o.Drain > time.Hour || o.CatchUp < time.Minute || o.CatchUp > 24*time.Hour {
				return usagef("--drain takes 0 to 1h and --catch-up 1m to 24h")
			}
			return nil
		},
	}
	o.add(cmd)
	_ = cmd.MarkFlagRequired("stage")
	f := cmd.Flags()
	f.BoolVar(&o.Planned, "planned", false, "a switchover with no data lost: fence the primary, wait for the standby, promote it")
	f.BoolVar(&o.Unplanned, "unplanned", false, "the primary's region is lost: promote the standby now and bound the loss")
	f.BoolVar(&o.AcceptUnknownLoss, "accept-unknown-loss", false, "with --unplanned: go on when CloudWatch cannot say how far behind the standby is")
	f.BoolVar(&o.DryRun, "dry-run", false, "find the databases and check them, change nothing")
	f.DurationVar(&o.Drain, "drain", 30*time.Second, "with --planned: how long transactions begun before the fence have to end")
	f.DurationVar(&o.CatchUp, "catch-up", 15*time.Minute, "with --planned: how long the standby has to hold all the primary wrote before the switchover is abandoned")
	f.StringVar(&o.Backend, "backend", "", "the state backend whose ledger records the failover (default file://<project>/.nfx/state)")
	f.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	return viaPulumi(cmd, io, "failover", o)
}
