package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/migrate"
	"github.com/nextflow-crm/nfx/internal/model"
)

// migrateFlags are the flags every `nfx migrate` command takes: the two
// stages and, for the commands that connect, where each store is.
type migrateFlags struct {
	From, To, FromConfig, ToConfig string
	JSON, Markdown                 bool
	// URLs and password files by connection name (source-db, ...).
	urls, passwordFiles map[string]*string
	SourceModels        string
	TargetModels        string
	CutoverCmd          string
	RollbackCmd         string
	Backup              string
	Discard             bool
	RedisCA             string
}

// connection is one store a migration connects to.
type connection struct {
	name, what, secret string
}

// connections are the stores a migration reaches, with the variable each
// one's password (or API key) comes from.
var connections = []connection{
	{"source-db", "the source's PostgreSQL, postgres://user@host:port/database", "NFX_SOURCE_DB_PASSWORD"},
	{"target-db", "the target's PostgreSQL (the server's primary, RDS)", "NFX_TARGET_DB_PASSWORD"},
	{"target-replica-db", "the target's streaming replica (the server's), checked after the import", "NFX_TARGET_REPLICA_DB_PASSWORD"},
	{"scratch-db", "a throwaway database the rehearsal restores into", "NFX_SCRATCH_DB_PASSWORD"},
	{"source-redis", "the source's Redis, redis://[user@]host:port (rediss:// for TLS)", "NFX_SOURCE_REDIS_PASSWORD"},
	{"target-redis", "the target's Redis primary (ElastiCache: rediss://)", "NFX_TARGET_REDIS_PASSWORD"},
	{"target-replica-redis", "the target's Redis replica (the server's), compared with its primary", "NFX_TARGET_REPLICA_REDIS_PASSWORD"},
	{"source-qdrant", "the source's Qdrant REST URL, http://host:6333", "NFX_SOURCE_QDRANT_API_KEY"},
	{"target-qdrant", "the target's Qdrant REST URL", "NFX_TARGET_QDRANT_API_KEY"},
}

func (f *migrateFlags) add(cmd *cobra.Command, connect bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.From, "from", "", "the stage moved from (required)")
	fl.StringVar(&f.To, "to", "", "the stage moved to (required)")
	fl.StringVar(&f.FromConfig, "from-config", "", "the from stage's config file (default: the project's)")
	fl.StringVar(&f.ToConfig, "to-config", "", "the to stage's config file (default: the project's)")
	fl.BoolVar(&f.JSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	if !connect {
		return
	}
	f.urls, f.passwordFiles = map[string]*string{}, map[string]*string{}
	for _, c := range connections {
		f.urls[c.name] = fl.String(c.name, "", c.what+"; its secret from $"+c.secret)
		f.passwordFiles[c.name] = fl.String(c.name+"-password-file", "", "read the secret of --"+c.name+" from this file instead of $"+c.secret)
	}
	fl.StringVar(&f.RedisCA, "redis-ca-file", "", "PEM certificates that verify a rediss:// server (default: the system's, which ElastiCache's chain to)")
	fl.StringVar(&f.SourceModels, "source-models", "", "the source's Ollama models directory (blobs/ and manifests/)")
	fl.StringVar(&f.TargetModels, "target-models", "", "the target's Ollama models directory")
	fl.StringVar(&f.CutoverCmd, "cutover-cmd", "", "the command that switches the traffic to the target (default: out/<to>/migrate/cutover.sh when written)")
	fl.StringVar(&f.RollbackCmd, "rollback-cmd", "", "the command that switches the traffic back (default: out/<to>/migrate/rollback.sh when written)")
}

// migrationInput is a resolved migration: both stages, the plan, where
// its journal is.
type migrationInput struct {
	project  string
	from, to *stackInput
	plan     *migrate.Plan
	dir      string
}

func (f *migrateFlags) resolve(io IO) (*migrationInput, error) {
	from, err := (&stackFlags{Stage: f.From, Config: f.FromConfig}).resolve(io, false)
	if err != nil {
		return nil, err
	}
	to, err := (&stackFlags{Stage: f.To, Config: f.ToConfig}).resolve(io, false)
	if err != nil {
		return nil, err
	}
	p, err := migrate.NewPlan(from.Config, to.Config)
	if err != nil {
		return nil, usageError{err}
	}
	return &migrationInput{project: from.ProjectDir, from: from, to: to, plan: p,
		dir: filepath.Join(from.ProjectDir, files.StateDir, "migrations", f.From+"-to-"+f.To)}, nil
}

// endpoints reads the connections; secrets come from files or the
// environment, never from the command line.
func (f *migrateFlags) endpoints(m *migrationInput) (migrate.Endpoints, error) {
	e := migrate.Endpoints{SourceModels: f.SourceModels, TargetModels: f.TargetModels, Cutover: f.CutoverCmd, Rollback: f.RollbackCmd}
	for _, c := range connections {
		raw := *f.urls[c.name]
		if raw == "" {
			continue
		}
		secret, err := migrate.Secret(*f.passwordFiles[c.name], c.secret)
		if err != nil {
			return e, usagef("--%s-password-file: %v", c.name, err)
		}
		side, kind, _ := strings.Cut(c.name, "-")
		if side == "target" && strings.HasPrefix(kind, "replica") {
			side = "replica"
		}
		switch {
		case strings.HasSuffix(c.name, "-db"):
			d, err := migrate.ParseDB(strings.TrimSuffix(c.name, "-db"), raw, secret)
			if err != nil {
				return e, usageError{err}
			}
			d.Name = side
			switch c.name {
			case "source-db":
				e.SourceDB = &d
			case "target-db":
				e.TargetDB = &d
			case "target-replica-db":
				e.TargetReplica = &d
			case "scratch-db":
				e.Scratch = &d
			}
		case strings.HasSuffix(c.name, "-redis"):
			r, err := migrate.ParseRedis(side, raw, secret)
			if err != nil {
				return e, usageError{err}
			}
			if f.RedisCA != "" {
				if r.RootCAs, err = migrate.LoadCAFile(f.RedisCA); err != nil {
					return e, usagef("--redis-ca-file: %v", err)
				}
			}
			switch side {
			case "source":
				e.SourceRedis = &r
			case "replica":
				e.TargetRedisReplica = &r
			default:
				e.TargetRedis = &r
			}
		default:
			q, err := migrate.ParseQdrant(side, raw, secret)
			if err != nil {
				return e, usageError{err}
			}
			if side == "source" {
				e.SourceQdrant = &q
			} else {
				e.TargetQdrant = &q
			}
		}
	}
	scripts := filepath.Join(m.project, "out", m.plan.To, "migrate")
	for _, s := range []struct {
		cmd  *string
		file string
	}{{&e.Cutover, "cutover.sh"}, {&e.Rollback, "rollback.sh"}} {
		if *s.cmd == "" {
			if fi, err := os.Stat(filepath.Join(scripts, s.file)); err == nil && fi.Mode().IsRegular() {
				*s.cmd = shellQuote(filepath.Join(scripts, s.file))
			}
		}
	}
	return e, nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (f *migrateFlags) run(io IO, m *migrationInput, e migrate.Endpoints) *migrate.Run {
	c := m.from.Config.Migration
	rf := migrate.QdrantReplicationFactor(m.to.Config)
	var room int64
	if model.Profiles[m.to.Stage].Topology.IsManaged(model.KindDatabase) {
		room = int64(m.to.Config.Cloud.DBStorageGB) << 30
	}
	return &migrate.Run{Plan: m.plan, Dir: m.dir, E: e, Out: io.Out, ReplicationFactor: rf, TargetRoom: room,
		Jobs: c.Jobs, MaxFreeze: time.Duration(c.MaxFreezeSeconds) * time.Second, RedisCompareAll: c.RedisCompareAll, Backup: f.Backup}
}

// NewCmdMigrate builds `nfx migrate` and its commands.
func NewCmdMigrate(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Move a running NextFlow's data and traffic to the next stage",
		Long: `migrate carries the data (PostgreSQL, Redis, Qdrant, the models) and the traffic from one
stage's running stack to the next one's: plan shows the steps, run executes them (resumable),
verify compares both sides, rollback returns traffic and writes to the source, confirm retires
the source. Connections come from flags, their secrets from files or the environment.`,
		Example: `  nfx migrate plan --from laptop --to server
  NFX_SOURCE_DB_PASSWORD=... NFX_TARGET_DB_PASSWORD=... \
    nfx migrate run --from laptop --to server \
      --source-db postgres://nextflow@127.0.0.1:5432/nextflow --target-db postgres://nextflow@10.0.0.2:5432/nextflow
  nfx migrate rollback --from laptop --to server --source-db ... --target-db ...`,
	}
	cmd.AddCommand(newCmdMigratePlan(io), newCmdMigrateScripts(io), newCmdMigrateRun(io), newCmdMigrateVerify(io),
		newCmdMigrateRollback(io), newCmdMigrateConfirm(io), newCmdMigrateRehearse(io), newCmdMigrateReport(io))
	return cmd
}

func newCmdMigratePlan(io IO) *cobra.Command {
	f := &migrateFlags{}
	cmd := &cobra.Command{
		Use: "plan --from STAGE --to STAGE [--json | --markdown]", Short: "Show a migration's steps, checks and downtime, offline", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if f.JSON && f.Markdown {
				return usagef("--json and --markdown: choose one")
			}
			m, err := f.resolve(io)
			if err != nil {
				return err
			}
			switch {
			case f.JSON:
				return printJSON(io, m.plan)
			case f.Markdown:
				_, err = fmt.Fprint(io.Out, migrate.PlanMarkdown(m.plan))
			default:
				_, err = fmt.Fprint(io.Out, migrate.PlanText(m.plan))
			}
			return err
		},
	}
	f.add(cmd, false)
	cmd.Flags().BoolVar(&f.Markdown, "markdown", false, "print Markdown, for a pull-request comment")
	return cmd
}

func newCmdMigrateScripts(io IO) *cobra.Command {
	f := &migrateFlags{}
	var out string
	cmd := &cobra.Command{
		Use: "scripts --from STAGE --to STAGE [--out DIR]", Short: "Write the migration's steps as shell scripts, for running them by hand", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			m, err := f.resolve(io)
			if err != nil {
				return err
			}
			dir := out
			if dir == "" {
				dir = filepath.Join(m.project, "out", m.plan.To, "migrate")
			} else if !filepath.IsAbs(dir) {
				dir = filepath.Join(io.Dir, dir)
			}
			set, err := migrate.Scripts(m.plan, m.from.Config, m.to.Config)
			if err != nil {
				return err
			}
			if err := files.WriteOutput(dir, set, files.Options{Stage: m.plan.To, Kind: files.KindMigrateScripts}); err != nil {
				var not *files.NotOursError
				if errors.As(err, &not) {
					return usageError{fmt.Errorf("--out %w", err)}
				}
				return err
			}
			for _, s := range set.Sorted() {
				fmt.Fprintf(io.Out, "wrote %s\n", filepath.Join(dir, filepath.FromSlash(s.Path)))
			}
			return nil
		},
	}
	f.add(cmd, false)
	cmd.Flags().StringVar(&out, "out", "", "the directory (default out/<to>/migrate in the project)")
	return cmd
}

// journalOut prints a journal as the command's result.
func journalOut(io IO, f *migrateFlags, j *migrate.Journal, err error) error {
	if f.JSON && j != nil {
		if werr := printJSON(io, j); werr != nil {
			return werr
		}
	}
	return err
}

func newCmdMigrateRun(io IO) *cobra.Command {
	f := &migrateFlags{}
	cmd := &cobra.Command{
		Use: "run --from STAGE --to STAGE --source-db URL --target-db URL [connections]", Short: "Run the migration, resuming where an earlier run stopped", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return f.withRun(io, func(r *migrate.Run) (*migrate.Journal, error) { return r.Execute(c.Context()) })
		},
	}
	f.add(cmd, true)
	cmd.Flags().StringVar(&f.Backup, "backup", "", "the backup the rehearsal restores: a pg_dump -Fc file or the backup directory (its newest postgres-*.dump); default: a dump taken now")
	return cmd
}

// withRun resolves the migration and its connections and runs one action
// of it.
func (f *migrateFlags) withRun(io IO, act func(*migrate.Run) (*migrate.Journal, error)) error {
	m, err := f.resolve(io)
	if err != nil {
		return err
	}
	e, err := f.endpoints(m)
	if err != nil {
		return err
	}
	r := f.run(io, m, e)
	if f.JSON {
		r.Out = io.Err
	}
	j, err := act(r)
	return journalOut(io, f, j, err)
}

func newCmdMigrateVerify(io IO) *cobra.Command {
	f := &migrateFlags{}
	cmd := &cobra.Command{
		Use: "verify --from STAGE --to STAGE --source-db URL --target-db URL [connections]", Short: "Compare both sides now, reading only", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			m, err := f.resolve(io)
			if err != nil {
				return err
			}
			e, err := f.endpoints(m)
			if err != nil {
				return err
			}
			v, err := f.run(io, m, e).Verify(c.Context())
			if f.JSON && v != nil {
				if werr := printJSON(io, v); werr != nil {
					return werr
				}
			} else if v != nil {
				fmt.Fprint(io.Out, migrate.VerificationText(v))
			}
			return err
		},
	}
	f.add(cmd, true)
	return cmd
}

func newCmdMigrateRollback(io IO) *cobra.Command {
	f := &migrateFlags{}
	cmd := &cobra.Command{
		Use: "rollback --from STAGE --to STAGE --source-db URL --target-db URL", Short: "Return the traffic and the writes to the source", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return f.withRun(io, func(r *migrate.Run) (*migrate.Journal, error) { return r.Rollback(c.Context(), f.Discard) })
		},
	}
	f.add(cmd, true)
	cmd.Flags().BoolVar(&f.Discard, "discard-target-writes", false, "roll back even though the target took writes after the cutover; they are lost")
	return cmd
}

func newCmdMigrateConfirm(io IO) *cobra.Command {
	f := &migrateFlags{}
	cmd := &cobra.Command{
		Use: "confirm --from STAGE --to STAGE", Short: "End a cut-over migration: the source is retired, rollback no longer offered", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			m, err := f.resolve(io)
			if err != nil {
				return err
			}
			j, err := f.run(io, m, migrate.Endpoints{}).Confirm()
			if err == nil && !f.JSON {
				fmt.Fprintf(io.Out, "nfx: the migration %s -> %s is confirmed; the %s stack is kept until you destroy it (nfx destroy --stage %s)\n", m.plan.From, m.plan.To, m.plan.From, m.plan.From)
			}
			return journalOut(io, f, j, err)
		},
	}
	f.add(cmd, false)
	return cmd
}

func newCmdMigrateReport(io IO) *cobra.Command {
	f := &migrateFlags{}
	cmd := &cobra.Command{
		Use: "report --from STAGE --to STAGE [--json | --markdown]", Short: "Show a migration's record: sizes, durations, downtime, verification", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			m, err := f.resolve(io)
			if err != nil {
				return err
			}
			j, err := migrate.LoadJournal(m.dir)
			if err != nil {
				return err
			}
			if j == nil {
				return fmt.Errorf("no migration %s -> %s has run in this project (%s); fix: nfx migrate run --from %s --to %s ...", m.plan.From, m.plan.To, m.dir, m.plan.From, m.plan.To)
			}
			switch {
			case f.JSON:
				return printJSON(io, j)
			case f.Markdown:
				_, err = fmt.Fprint(io.Out, migrate.ReportMarkdown(j))
			default:
				_, err = fmt.Fprint(io.Out, migrate.ReportText(j))
			}
			return err
		},
	}
	f.add(cmd, false)
	cmd.Flags().BoolVar(&f.Markdown, "markdown", false, "print Markdown")
	return cmd
}

func newCmdMigrateRehearse(io IO) *cobra.Command {
	var stage, source, scratch, sourceFile, scratchFile, backup string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rehearse --stage STAGE --source-db URL --scratch-db URL [--backup FILE]",
		Short: "Restore the latest backup into a throwaway database, verify it, record RTO and RPO",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			in, err := (&stackFlags{Stage: stage}).resolve(io, false)
			if err != nil {
				return err
			}
			dbs := make([]migrate.DB, 2)
			for i, x := range []struct{ name, url, file, env string }{
				{"source", source, sourceFile, "NFX_SOURCE_DB_PASSWORD"}, {"scratch", scratch, scratchFile, "NFX_SCRATCH_DB_PASSWORD"},
			} {
				if x.url == "" {
					return usagef("--%s-db is required", x.name)
				}
				pw, err := migrate.Secret(x.file, x.env)
				if err != nil {
					return usagef("--%s-db-password-file: %v", x.name, err)
				}
				if dbs[i], err = migrate.ParseDB(x.name, x.url, pw); err != nil {
					return usageError{err}
				}
			}
			dir := rehearsalDir(in.ProjectDir, in.Stage)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			reh, err := migrate.Rehearse(c.Context(), dbs[0], dbs[1], backup, dir, in.Config.Migration.Jobs)
			if reh != nil {
				if werr := migrate.SaveRehearsal(dir, reh); werr != nil && err == nil {
					err = werr
				}
				if asJSON {
					if werr := printJSON(io, reh); werr != nil {
						return werr
					}
				} else {
					fmt.Fprint(io.Out, migrate.RehearsalText(reh))
				}
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&stage, "stage", "", "the stage whose backup is rehearsed (required)")
	fl.StringVar(&source, "source-db", "", "the stage's PostgreSQL, postgres://user@host:port/database; its password from $NFX_SOURCE_DB_PASSWORD")
	fl.StringVar(&sourceFile, "source-db-password-file", "", "read the source's password from this file")
	fl.StringVar(&scratch, "scratch-db", "", "a throwaway database to restore into (emptied first); its password from $NFX_SCRATCH_DB_PASSWORD")
	fl.StringVar(&scratchFile, "scratch-db-password-file", "", "read the scratch database's password from this file")
	fl.StringVar(&backup, "backup", "", "the backup to restore: a pg_dump -Fc file, or the backup directory (its newest postgres-*.dump, checked against its .sha256); default: a dump taken now")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("stage")
	return cmd
}
