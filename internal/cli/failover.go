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
	Rehearse           bool
	AcceptUnknownLoss  bool
	DryRun             bool
	CatchUp            time.Duration
	DatabaseOnly       bool
	RestoreWait        time.Duration
	Backend            string
	JSON               bool
}

// NewCmdFailover builds `nfx failover`.
func NewCmdFailover(io IO) *cobra.Command {
	o := &FailoverOptions{}
	cmd := &cobra.Command{
		Use:   "failover --stage cloud (--planned | --unplanned | --rehearse) [--dry-run]",
		Short: "Move the cloud's database to its standby region and write that back into the stack's config",
		Long: `nfx failover promotes the cloud stage's standby database (cloud.standbyRegion) through AWS's APIs,
moves the database's names to it, and writes cloud.standbyPromoted into the stack's config, so that
the next preview keeps the promoted database as the writer instead of replacing it.

--planned   a switchover that loses nothing: the primary is fenced read-only and restarted, the
            standby holds all it wrote, then it is promoted; the primary must answer.
--unplanned the primary's region is lost: the standby is promoted at once; the loss is bounded by
            its last reported lag and recorded.
--rehearse  changes nothing the stage uses: a replica of the standby is made, promoted as a failover
            would promote the standby, timed, and deleted. With a standby cluster it first reads what
            a failover acts on (the cluster, its objects, the balancers, the standby's pools' health)
            and, where a switchover would stop, stops too: nothing is measured or recorded.
With a standby cluster (cloud.standbyCluster) the traffic moves too: the standby's AI starts, its
vector store is restored from the replicated backups (--planned waits up to --restore-wait, 15m,
for it before the standby's tunnel connectors start; --unplanned starts them beside it), its
connectors start, and the former primary's stop.
Each records what it measured (RTO, RPO) in the ledger, which a promotion's failover gate reads. AWS credentials come from the usual
places (environment, profile, SSO, instance role).`,
		Example: `  nfx failover --stage cloud --planned --dry-run
  nfx failover --stage cloud --planned
  nfx failover --stage cloud --unplanned
  nfx failover --stage cloud --rehearse`,
		Args: cobra.NoArgs,
		PreRunE: func(c *cobra.Command, _ []string) error {
			if n := btoi(o.Planned) + btoi(o.Unplanned) + btoi(o.Rehearse); n != 1 {
				return usagef("say one of --planned (a switchover: the primary answers, nothing is lost), --unplanned (its region is lost) or --rehearse (measure one, changing nothing the stage uses)")
			}
			if o.Rehearse && o.DryRun {
				return usagef("--rehearse takes no --dry-run: it changes nothing the stage uses")
			}
			if o.Stage != "" {
				if st := stageOfName(io, o.Stage); st != "" && st != model.Cloud {
					return usagef("--stage %s: only the cloud stage has a standby region to fail over to", o.Stage)
				}
			}
			// Two whole minutes of CloudWatch's datapoints after the
			// restart, each published after its minute: 5 at the least.
			if o.CatchUp < 5*time.Minute || o.CatchUp > 24*time.Hour {
				return usagef("--catch-up takes 5m to 24h (two whole minutes of CloudWatch's datapoints after the primary's restart, which come a few minutes late), got %s", o.CatchUp)
			}
			// A switchover loses nothing, the vectors included; a lost
			// region's failover serves first (a restore replaces the
			// shards the CRM writes to beside it).
			if !c.Flags().Changed("restore-wait") && o.Unplanned {
				o.RestoreWait = 0
			}
			if o.RestoreWait < 0 || o.RestoreWait > 6*time.Hour {
				return usagef("--restore-wait takes 0 (the tunnel starts beside the restore) to 6h (the restore job's own limit), got %s", o.RestoreWait)
			}
			if o.Rehearse && (o.DatabaseOnly || c.Flags().Changed("restore-wait")) {
				return usagef("--rehearse moves no traffic: it takes neither --database-only nor --restore-wait")
			}
			if o.AcceptUnknownLoss && !o.Unplanned {
				return usagef("--accept-unknown-loss goes with --unplanned only: a switchover loses nothing, and a rehearsal records an unknown loss as such")
			}
			return nil
		},
	}
	o.add(cmd)
	_ = cmd.MarkFlagRequired("stage")
	f := cmd.Flags()
	f.BoolVar(&o.Planned, "planned", false, "a switchover with no data lost: fence the primary, wait for the standby, promote it")
	f.BoolVar(&o.Unplanned, "unplanned", false, "the primary's region is lost: promote the standby now and bound the loss")
	f.BoolVar(&o.Rehearse, "rehearse", false, "measure a failover's promotion on a replica of the standby, made and deleted for it")
	f.BoolVar(&o.AcceptUnknownLoss, "accept-unknown-loss", false, "with --unplanned: go on when CloudWatch cannot say how far behind the standby is")
	f.BoolVar(&o.DryRun, "dry-run", false, "find the databases and check them, change nothing")
	f.DurationVar(&o.CatchUp, "catch-up", 15*time.Minute, "with --planned: how long the standby has to hold all the primary wrote before the switchover is abandoned")
	f.BoolVar(&o.DatabaseOnly, "database-only", false, "with a standby cluster: move the database alone, leaving both clusters as they are (when the standby's cannot be reached)")
	f.DurationVar(&o.RestoreWait, "restore-wait", 15*time.Minute, "with a standby cluster: how long its vector store's restore may hold its tunnel back (0: start it at once; --unplanned's default)")
	f.StringVar(&o.Backend, "backend", "", "the state backend whose ledger records the failover (default file://<project>/.nfx/state)")
	f.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	return viaPulumi(cmd, io, "failover", o)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
