package cli

import (
	"github.com/spf13/cobra"
)

// UpgradeOptions are the flags of `nfx upgrade`.
type UpgradeOptions struct {
	migrateFlags
	Backend   string
	DeployCmd string
	Rollback  bool
	DryRun    bool
	Approved  int
	LiftHold  bool
}

// NewCmdUpgrade builds `nfx upgrade`.
func NewCmdUpgrade(io IO) *cobra.Command {
	o := &UpgradeOptions{}
	cmd := &cobra.Command{
		Use:   "upgrade --from STAGE --to STAGE --source-db URL --target-db URL --scratch-db URL [connections] [--deploy-cmd CMD]",
		Short: "Move to the next stage: a promotion of the release into it, with the migration of the data and the traffic",
		Long: `upgrade is a promotion (nfx promote) of the source's release into the next stage's stack,
with the migration (nfx migrate run) as one of its steps. It runs the target's gates (valid,
policy, the engine's preview and the stateful resources it touches, cost, capacity, freeze,
soak, rejected releases, holds, approvals) and the migration's own (its plan, its
connections), records the decision in the ledger, writes the release into the target's
config, runs its up and --deploy-cmd, then the migration with its rehearsal, verification
and cutover, then the target's verification (nextflow:promotion.verify). Each step is an
entry of the ledger that refers to the decision. A failed verification returns the traffic
and the writes to the source. A rerun after a kill resumes: the up is idempotent, the
migration resumes from its journal, an approved upgrade completes under the same
--approved. --rollback returns traffic and writes to the source; the target stack is kept.`,
		Example: `  nfx upgrade --from laptop --to server --dry-run        # the gates and the migration's plan, recorded
  NFX_SOURCE_DB_PASSWORD=... NFX_TARGET_DB_PASSWORD=... NFX_SCRATCH_DB_PASSWORD=... \
    nfx upgrade --from laptop --to server --deploy-cmd 'docker stack deploy -c out/server/stack.yaml nextflow' \
      --source-db postgres://nextflow@127.0.0.1:5432/nextflow --target-db postgres://nextflow@server:5432/nextflow \
      --scratch-db postgres://nextflow@server:5432/nfx_rehearsal`,
		Args: cobra.NoArgs,
	}
	o.add(cmd, true)
	fl := cmd.Flags()
	fl.StringVar(&o.Backend, "backend", "", "the file:// or s3:// state backend, whose ledger records the upgrade (default file://<project>/.nfx/state)")
	fl.StringVar(&o.DeployCmd, "deploy-cmd", "", "the command that starts the target stack after up (the server: docker stack deploy -c out/server/stack.yaml nextflow)")
	fl.BoolVar(&o.Rollback, "rollback", false, "return traffic and writes to the source (nfx migrate rollback); the target stack is kept")
	fl.BoolVar(&o.Discard, "discard-target-writes", false, "with --rollback: roll back even though the target took writes after the cutover")
	fl.BoolVar(&o.DryRun, "dry-run", false, "evaluate and record the gates, the engine's preview and the migration's plan; change nothing")
	fl.IntVar(&o.Approved, "approved", 0, "the ledger entry of the approved dry run this upgrade carries out")
	fl.BoolVar(&o.LiftHold, "lift-hold", false, "upgrade into a stack a rollback holds, ending the hold")
	fl.StringVar(&o.Backup, "backup", "", "the backup the rehearsal restores: a pg_dump -Fc file or the backup directory; default: a dump taken now")
	return viaPulumi(cmd, io, "upgrade", o)
}
