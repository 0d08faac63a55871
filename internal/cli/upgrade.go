package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/capacity"
	"github.com/nextflow-crm/nfx/internal/cost"
	"github.com/nextflow-crm/nfx/internal/engine"
	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/migrate"
	"github.com/nextflow-crm/nfx/internal/offline"
)

// UpgradeRecord is a stage upgrade's record: each step's state, what it
// found, and the migration it ran. A rerun resumes from it.
type UpgradeRecord struct {
	From  string               `json:"from"`
	To    string               `json:"to"`
	State string               `json:"state"`
	Steps []*migrate.StepState `json:"steps"`
	// MonthlyCost is each stage's monthly total in VND; Users the target's
	// estimated concurrent users.
	MonthlyCost [2]float64     `json:"monthlyCost"`
	Users       int            `json:"users"`
	Preview     engine.Changes `json:"preview,omitempty"`
	Up          engine.Changes `json:"up,omitempty"`
}

// The upgrade's steps, in order.
var upgradeSteps = []string{"cost", "capacity", "preview", "up", "deploy", "migrate"}

// UpgradeOptions are the flags of `nfx upgrade`.
type UpgradeOptions struct {
	migrateFlags
	Backend   string
	DeployCmd string
	Rollback  bool
}

// NewCmdUpgrade builds `nfx upgrade`.
func NewCmdUpgrade(io IO) *cobra.Command {
	o := &UpgradeOptions{}
	cmd := &cobra.Command{
		Use:   "upgrade --from STAGE --to STAGE --source-db URL --target-db URL --scratch-db URL [connections] [--deploy-cmd CMD]",
		Short: "Move to the next stage end to end: cost, capacity, preview and up of the target, rehearsal, migration, verification, cutover",
		Long: `upgrade chains what moving to the next stage takes, recording each step in
.nfx/upgrades/<from>-to-<to>.json: the target's cost and capacity, preview and up of its
stack, the deploy command that starts it (docker stack deploy), then the migration with its
rehearsal, verification and cutover (nfx migrate run). A rerun resumes where it stopped;
--rollback returns traffic and writes to the source. The source stack is kept until you
destroy it.`,
		Example: `  NFX_SOURCE_DB_PASSWORD=... NFX_TARGET_DB_PASSWORD=... NFX_SCRATCH_DB_PASSWORD=... \
    nfx upgrade --from laptop --to server --deploy-cmd 'docker stack deploy -c out/server/stack.yaml nextflow' \
      --source-db postgres://nextflow@127.0.0.1:5432/nextflow --target-db postgres://nextflow@server:5432/nextflow \
      --scratch-db postgres://nextflow@server:5432/nfx_rehearsal`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runUpgrade(c.Context(), io, o) },
	}
	o.add(cmd, true)
	fl := cmd.Flags()
	fl.StringVar(&o.Backend, "backend", "", "a Pulumi backend URL (default file://<project>/.nfx/state)")
	fl.StringVar(&o.DeployCmd, "deploy-cmd", "", "the command that starts the target stack after up (the server: docker stack deploy -c out/server/stack.yaml nextflow)")
	fl.BoolVar(&o.Rollback, "rollback", false, "return traffic and writes to the source (nfx migrate rollback); the target stack is kept")
	fl.BoolVar(&o.Discard, "discard-target-writes", false, "with --rollback: roll back even though the target took writes after the cutover")
	return cmd
}

func upgradePath(project, from, to string) string {
	return filepath.Join(project, engine.StateDir, "upgrades", from+"-to-"+to+".json")
}

func loadUpgrade(path string) (*UpgradeRecord, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r UpgradeRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: the upgrade's record is damaged (%v); fix: move it away to start the upgrade again (the migration's own journal is kept)", path, err)
	}
	return &r, nil
}

func saveUpgrade(path string, r *UpgradeRecord) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return files.WriteFile(path, append(b, '\n'))
}

func runUpgrade(ctx context.Context, io IO, o *UpgradeOptions) error {
	m, err := o.resolve(io)
	if err != nil {
		return err
	}
	e, err := o.endpoints(m)
	if err != nil {
		return err
	}
	if !o.Rollback && (e.SourceDB == nil || e.TargetDB == nil || e.Scratch == nil) {
		return usagef("upgrade needs --source-db, --target-db and --scratch-db: the rehearsal of a restore gates the migration")
	}
	path := upgradePath(m.project, o.From, o.To)
	unlock, err := migrate.LockFile(path+".lock", path+": another nfx upgrade is running; fix: wait for it to finish")
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := loadUpgrade(path)
	if err != nil {
		return err
	}
	if rec == nil {
		rec = &UpgradeRecord{From: o.From, To: o.To, State: migrate.MigrationRunning}
		for _, id := range upgradeSteps {
			rec.Steps = append(rec.Steps, &migrate.StepState{ID: id, State: migrate.StatePending})
		}
	}
	run := o.run(io, m, e)
	if o.Rollback {
		j, err := run.Rollback(ctx, o.Discard)
		if err != nil {
			return err
		}
		rec.State = j.State
		fmt.Fprintf(io.Out, "nfx: the upgrade %s -> %s is rolled back; the %s stack is kept (nfx destroy --stage %s removes it)\n", o.From, o.To, o.To, o.To)
		return saveUpgrade(path, rec)
	}
	if rec.State == migrate.MigrationRolledBack {
		return fmt.Errorf("the upgrade %s -> %s was rolled back; fix: move %s and the migration's journal away to start again", o.From, o.To, path)
	}
	opts := engine.Options{ProjectDir: m.project, Stage: m.to.Stage, ConfigFile: m.to.ConfigFile, Backend: o.Backend, Stdout: io.Out, Stderr: io.Err}
	for i, st := range rec.Steps {
		if st.State == migrate.StateDone || st.State == migrate.StateSkipped {
			continue
		}
		fmt.Fprintf(io.Out, "nfx upgrade [%d/%d] %s\n", i+1, len(rec.Steps), st.ID)
		st.State, st.Started, st.Error = migrate.StateRunning, time.Now().UTC(), ""
		st.Attempts++
		if err := saveUpgrade(path, rec); err != nil {
			return err
		}
		detail, skipped, err := upgradeStep(ctx, st.ID, m, o, opts, run, rec)
		st.Ended = time.Now().UTC()
		st.Seconds, st.Detail = st.Ended.Sub(st.Started).Seconds(), detail
		switch {
		case err != nil:
			st.State, st.Error = migrate.StateFailed, err.Error()
			_ = saveUpgrade(path, rec)
			return fmt.Errorf("upgrade step %s: %w; fix it and run nfx upgrade again: it resumes here (or --rollback)", st.ID, err)
		case skipped:
			st.State = migrate.StateSkipped
		default:
			st.State = migrate.StateDone
		}
		fmt.Fprintf(io.Out, "      %s in %.1f s%s\n", st.State, st.Seconds, prefix(detail))
		if err := saveUpgrade(path, rec); err != nil {
			return err
		}
	}
	rec.State = migrate.MigrationCutOver
	fmt.Fprintf(io.Out, "nfx: %s -> %s upgraded: traffic on %s. Confirm with nfx migrate confirm --from %s --to %s once it serves well; the %s stack is kept until you destroy it\n",
		o.From, o.To, o.To, o.From, o.To, o.From)
	return saveUpgrade(path, rec)
}

func prefix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

func upgradeStep(ctx context.Context, id string, m *migrationInput, o *UpgradeOptions, opts engine.Options, run *migrate.Run, rec *UpgradeRecord) (string, bool, error) {
	switch id {
	case "cost":
		for i, in := range []*stackInput{m.from, m.to} {
			res, err := offline.Run(in.Stage, in.Raw)
			if err != nil {
				return "", false, fmt.Errorf("stage %s: %w", in.Stage, err)
			}
			est, err := cost.Compute(in.Config, &res.Plan, cost.VND)
			if err != nil {
				return "", false, err
			}
			rec.MonthlyCost[i] = est.MonthlyTotal
		}
		return fmt.Sprintf("%.0f -> %.0f VND a month (%+.0f)", rec.MonthlyCost[0], rec.MonthlyCost[1], rec.MonthlyCost[1]-rec.MonthlyCost[0]), false, nil
	case "capacity":
		c, err := capacity.Compute(m.to.Config)
		if err != nil {
			return err.Error(), true, nil
		}
		rec.Users = c.ConcurrentUsers
		return fmt.Sprintf("%s carries about %d concurrent users", m.to.Stage, c.ConcurrentUsers), false, nil
	case "preview":
		ch, err := engine.Preview(ctx, opts)
		rec.Preview = ch
		if err != nil {
			return "", false, err
		}
		return ch.String(), false, nil
	case "up":
		ch, err := engine.Up(ctx, opts)
		rec.Up = ch
		if err != nil {
			return "", false, err
		}
		return ch.String(), false, nil
	case "deploy":
		if o.DeployCmd == "" {
			return "no --deploy-cmd: the target's services are expected to be running already", true, nil
		}
		if out, err := runDeployCmd(ctx, m.project, o.DeployCmd); err != nil {
			return "", false, fmt.Errorf("--deploy-cmd: %v: %s", err, strings.TrimSpace(out))
		}
		return "started", false, nil
	case "migrate":
		j, err := run.Execute(ctx)
		if err != nil {
			return "", false, err
		}
		return fmt.Sprintf("%s; writes stopped for %.1f s", j.State, j.DowntimeSeconds), false, nil
	}
	return "", false, fmt.Errorf("nfx has no upgrade step %q", id)
}
