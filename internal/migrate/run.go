package migrate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
)

// Endpoints are the connections of a migration. A store without both
// sides is skipped, and the report says so.
type Endpoints struct {
	SourceDB, TargetDB *DB
	// TargetReplica is the target's streaming replica (the server's),
	// whose replay of the import verification waits for.
	TargetReplica *DB
	// Scratch is a database the rehearsal may empty and restore into.
	Scratch                  *DB
	SourceRedis, TargetRedis *Redis
	// TargetRedisReplica is the target's Redis replica (the server's),
	// compared with its primary once it has caught up.
	TargetRedisReplica *Redis
	SourceQdrant       *Qdrant
	TargetQdrant       *Qdrant
	// SourceModels and TargetModels are Ollama's models directories.
	SourceModels, TargetModels string
	// Cutover and Rollback are the shell commands that switch the traffic
	// (the rendered migrate/cutover.sh and rollback.sh).
	Cutover, Rollback string
}

// Need says which of the named database connections (source-db,
// target-db, scratch-db) an action lacks, as an error naming each flag and
// the fix.
func (e Endpoints) Need(action string, names ...string) error {
	have := map[string]bool{"source-db": e.SourceDB != nil, "target-db": e.TargetDB != nil, "scratch-db": e.Scratch != nil}
	var missing []string
	for _, n := range names {
		if !have[n] {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &MissingError{Action: action, Flags: missing}
}

// NeedCutover says the migration has no command that switches the
// traffic, and where nfx writes one.
func (e Endpoints) NeedCutover(p *Plan) error {
	if e.Cutover != "" {
		return nil
	}
	return fmt.Errorf("no --cutover-cmd: give the command that switches the traffic (nfx migrate scripts --from %s --to %s writes out/%s/migrate/cutover.sh, used by default)", p.From, p.To, p.To)
}

// MissingError is an action run without a connection it needs.
type MissingError struct {
	Action string
	Flags  []string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s needs %s; fix: give %s (postgres://user@host:port/database, its password in NFX_<SIDE>_DB_PASSWORD)",
		e.Action, strings.Join(e.Flags, " and "), strings.Join(e.Flags, " URL and ")+" URL")
}

// Step states in the journal.
const (
	StatePending = "pending"
	StateRunning = "running"
	StateDone    = "done"
	StateFailed  = "failed"
	StateSkipped = "skipped"
)

// Migration states.
const (
	MigrationRunning    = "running"
	MigrationVerified   = "verified"
	MigrationCutOver    = "cut-over"
	MigrationRolledBack = "rolled-back"
	MigrationConfirmed  = "confirmed"
)

// StepState is one step's record.
type StepState struct {
	ID       string    `json:"id"`
	State    string    `json:"state"`
	Started  time.Time `json:"started,omitempty"`
	Ended    time.Time `json:"ended,omitempty"`
	Seconds  float64   `json:"seconds"`
	Detail   string    `json:"detail,omitempty"`
	Error    string    `json:"error,omitempty"`
	Attempts int       `json:"attempts"`
}

// Verification is what the verify step found.
type Verification struct {
	At         time.Time            `json:"at"`
	OK         bool                 `json:"ok"`
	Problems   []string             `json:"problems"`
	Tables     map[string]TableSum  `json:"tables"`
	Sequences  int                  `json:"sequences"`
	Extensions []string             `json:"extensions"`
	ReplicaLSN string               `json:"replicaLsn,omitempty"`
	Redis      *RedisSummary        `json:"redis,omitempty"`
	Qdrant     map[string]QdrantSum `json:"qdrant,omitempty"`
	Models     int                  `json:"models"`
	Skipped    []string             `json:"skipped,omitempty"`
	// Rechecked counts, in online mode, the tables summed with the source
	// frozen (the others were verified before the freeze and not written
	// since); Full says why every table was summed instead.
	Rechecked int `json:"rechecked,omitempty"`
	// RangeChecked counts, in online mode, the written tables summed with
	// the source frozen only in the key ranges their changes touched.
	RangeChecked int    `json:"rangeChecked,omitempty"`
	Full         string `json:"full,omitempty"`
}

// Journal is a migration's record: its plan, every step's state, what it
// measured. It is the migration report, and what a rerun resumes from.
type Journal struct {
	Plan  *Plan        `json:"plan"`
	State string       `json:"state"`
	Steps []*StepState `json:"steps"`
	// FrozenAt and CutoverAt bound the write downtime.
	FrozenAt  time.Time `json:"frozenAt,omitempty"`
	CutoverAt time.Time `json:"cutoverAt,omitempty"`
	// DowntimeSeconds is the measured write downtime: from the freeze to
	// the cutover.
	DowntimeSeconds float64 `json:"downtimeSeconds"`
	// SourceBytes is the source database's size; DumpBytes and DumpSHA256
	// the dump's.
	SourceBytes int64  `json:"sourceBytes"`
	DumpBytes   int64  `json:"dumpBytes"`
	DumpSHA256  string `json:"dumpSha256,omitempty"`
	// RestoreStarted marks the target as this migration's: a rerun may
	// replace what it restored.
	RestoreStarted bool `json:"restoreStarted"`
	// Streamed says the dump step restored the dump into the target as
	// it was written: the restore step only analyzes.
	Streamed     bool          `json:"streamed,omitempty"`
	Redis        *CopyStats    `json:"redis,omitempty"`
	Qdrant       *QdrantStats  `json:"qdrant,omitempty"`
	Models       *ModelStats   `json:"models,omitempty"`
	Rehearsal    *Rehearsal    `json:"rehearsal,omitempty"`
	Verification *Verification `json:"verification,omitempty"`
	Online       *OnlineState  `json:"online,omitempty"`
}

// Rehearsal is a restore of the latest backup into a throwaway database.
type Rehearsal struct {
	At time.Time `json:"at"`
	OK bool      `json:"ok"`
	// RTOSeconds is the restore's duration; RPOSeconds the backup's age
	// when it was restored.
	RTOSeconds float64  `json:"rtoSeconds"`
	RPOSeconds float64  `json:"rpoSeconds"`
	Tables     int      `json:"tables"`
	Rows       int64    `json:"rows"`
	Problems   []string `json:"problems"`
	Backup     string   `json:"backup"`
}

// Run executes a migration's plan.
type Run struct {
	Plan *Plan
	// Dir keeps the journal, the dump and the lock
	// (.nfx/migrations/<from>-to-<to>).
	Dir string
	E   Endpoints
	Out io.Writer
	// ReplicationFactor is the target's Qdrant replication factor.
	ReplicationFactor int
	// Jobs, MaxFreeze and RedisCompareAll come from nextflow:migration.
	Jobs            int
	MaxFreeze       time.Duration
	RedisCompareAll int
	// Backup, if set, is the backup the rehearsal restores instead of a
	// fresh dump.
	Backup string
	// TargetRoom is the room the target's model gives its database (RDS's
	// allocated storage), 0 when the model does not size it.
	TargetRoom int64
	j          *Journal
	// readOnly is nfx migrate verify: every table summed, nothing of the
	// migration's (its journal, the watch slot, the target's sessions)
	// touched.
	readOnly bool
}

// stepHook is called as each step starts, its state saved as running;
// tests kill the process there to prove a rerun recovers from any step.
var stepHook = func(id string) {}

// JournalPath is where a migration's journal is.
func JournalPath(dir string) string { return filepath.Join(dir, "journal.json") }

// LoadJournal reads a migration's journal; nil when there is none.
func LoadJournal(dir string) (*Journal, error) {
	data, err := os.ReadFile(JournalPath(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var j Journal
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("%s: the migration's journal is damaged (%v); fix: restore it, or move the directory away to start the migration again", JournalPath(dir), err)
	}
	return &j, nil
}

func (r *Run) save() error {
	data, err := json.MarshalIndent(r.j, "", "  ")
	if err != nil {
		return err
	}
	return files.WriteFile(JournalPath(r.Dir), append(data, '\n'))
}

func (r *Run) logf(format string, args ...any) {
	if r.Out != nil {
		fmt.Fprintf(r.Out, format+"\n", args...)
	}
}

// lock takes the migration's lock: one nfx runs a migration at a time.
func (r *Run) lock() (func(), error) {
	return LockFile(filepath.Join(r.Dir, "lock"), fmt.Sprintf("migration %s -> %s: another nfx is running it; fix: wait for it to finish", r.Plan.From, r.Plan.To))
}

// LockFile takes an exclusive lock on path, or fails with busy when
// another process holds it; the returned function releases it.
func LockFile(path, busy string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, errors.New(busy)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

func newJournal(p *Plan) *Journal {
	j := &Journal{Plan: p, State: MigrationRunning}
	for _, s := range p.Steps {
		j.Steps = append(j.Steps, &StepState{ID: s.ID, State: StatePending})
	}
	return j
}

// untouched says an attempt changed nothing anywhere: no step done but
// the checks, nothing restored, nothing frozen.
func untouched(j *Journal) bool {
	for _, s := range j.Steps {
		if s.State == StateDone && s.ID != "preflight" && s.ID != "postgres.online-check" {
			return false
		}
	}
	return !j.RestoreStarted && j.FrozenAt.IsZero() && j.State == MigrationRunning
}

// stepList is a plan's step IDs, in order.
func stepList(p *Plan) string {
	ids := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		ids[i] = s.ID
	}
	return strings.Join(ids, " ")
}

// begin takes the migration's lock and opens its journal; the returned
// function releases the lock.
func (r *Run) begin() (func(), error) {
	unlock, err := r.lock()
	if err != nil {
		return nil, err
	}
	if err := r.open(); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// open loads or starts the journal, refusing one of another plan.
func (r *Run) open() error {
	j, err := LoadJournal(r.Dir)
	if err != nil {
		return err
	}
	if j == nil {
		j = newJournal(r.Plan)
	} else if untouched(j) && (j.Plan.Mode != r.Plan.Mode || j.Plan.RedisData != r.Plan.RedisData || stepList(j.Plan) != stepList(r.Plan)) {
		// Nothing of the earlier attempt changed anything: start afresh.
		j = newJournal(r.Plan)
	} else if j.Plan.From != r.Plan.From || j.Plan.To != r.Plan.To || j.Plan.Mode != r.Plan.Mode || j.Plan.RedisData != r.Plan.RedisData || stepList(j.Plan) != stepList(r.Plan) {
		return fmt.Errorf("%s holds a migration %s -> %s in %s mode with Redis as %s; this one is %s -> %s in %s mode with Redis as %s; fix: finish or roll that one back, or move the directory away",
			r.Dir, j.Plan.From, j.Plan.To, j.Plan.Mode, j.Plan.RedisData, r.Plan.From, r.Plan.To, r.Plan.Mode, r.Plan.RedisData)
	}
	r.j = j
	return nil
}

func (r *Run) state(id string) *StepState {
	for _, s := range r.j.Steps {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// Execute runs every step not done yet, in order, saving the journal after
// each: a rerun after a failure (a killed process, a target that went
// away) continues from the failed step. The source is only read, except
// for its write freeze.
func (r *Run) Execute(ctx context.Context) (*Journal, error) {
	unlock, err := r.begin()
	if err != nil {
		return nil, err
	}
	defer unlock()
	switch r.j.State {
	case MigrationCutOver, MigrationConfirmed:
		r.logf("nfx: the migration %s -> %s is already %s", r.Plan.From, r.Plan.To, r.j.State)
		return r.j, nil
	case MigrationRolledBack:
		return r.j, fmt.Errorf("the migration %s -> %s was rolled back; fix: move %s away to start a new one", r.Plan.From, r.Plan.To, r.Dir)
	}
	// Every step after the preflight reads both databases: a rerun that
	// resumes past it needs them as much as the first run.
	if err := r.E.Need("run", "source-db", "target-db"); err != nil {
		return r.j, err
	}
	for i, step := range r.Plan.Steps {
		st := r.state(step.ID)
		if st.State == StateDone || st.State == StateSkipped {
			continue
		}
		r.logf("[%d/%d] %s: %s", i+1, len(r.Plan.Steps), step.ID, step.Title)
		st.State, st.Started, st.Error = StateRunning, time.Now().UTC(), ""
		st.Attempts++
		if err := r.save(); err != nil {
			return r.j, err
		}
		stepHook(step.ID)
		detail, skipped, err := r.step(ctx, step)
		st.Ended = time.Now().UTC()
		st.Seconds = st.Ended.Sub(st.Started).Seconds()
		st.Detail = detail
		switch {
		case err != nil:
			st.State, st.Error = StateFailed, err.Error()
			r.logf("      failed after %.1f s: %v", st.Seconds, err)
			_ = r.save()
			if !r.j.FrozenAt.IsZero() {
				return r.j, fmt.Errorf("step %s: %w; fix it and run nfx migrate run again: it resumes here; meanwhile the source takes no writes: nfx migrate rollback gives them back", step.ID, err)
			}
			return r.j, fmt.Errorf("step %s: %w; fix it and run nfx migrate run again: it resumes here", step.ID, err)
		case skipped:
			st.State = StateSkipped
			r.logf("      skipped: %s", detail)
		default:
			st.State = StateDone
			r.logf("      done in %.1f s%s", st.Seconds, prefixed(detail))
		}
		if err := r.save(); err != nil {
			return r.j, err
		}
	}
	return r.j, nil
}

func prefixed(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

func (r *Run) dumpFile() string { return filepath.Join(r.Dir, "postgres.dump") }

// step runs one step; skipped says a store's connections were not given.
func (r *Run) step(ctx context.Context, s Step) (string, bool, error) {
	e := r.E
	switch s.ID {
	case "preflight":
		return r.preflight(ctx)
	case "postgres.rehearse":
		if e.Scratch == nil {
			return "no --scratch-db: the rehearsal needs a throwaway database to restore into", true, nil
		}
		reh, err := Rehearse(ctx, *e.SourceDB, *e.Scratch, r.Backup, r.Dir, r.Jobs)
		r.j.Rehearsal = reh
		if err != nil {
			return "", false, err
		}
		return fmt.Sprintf("restored %d tables, %d rows in %.1f s (RTO); the backup was %.0f s old (RPO)", reh.Tables, reh.Rows, reh.RTOSeconds, reh.RPOSeconds), false, nil
	case "freeze":
		if err := Freeze(ctx, *e.SourceDB); err != nil {
			return "", false, err
		}
		if e.SourceRedis != nil && r.Plan.RedisData == "state" {
			if err := PauseWrites(ctx, *e.SourceRedis, time.Hour); err != nil {
				return "", false, err
			}
		}
		if r.j.FrozenAt.IsZero() {
			r.j.FrozenAt = time.Now().UTC()
		}
		return "the source takes no writes (Redis's pause ends by itself in an hour if nfx stops)", false, nil
	case "postgres.dump":
		// The dump is restored into the target as it is written.
		if err := r.claimTarget(ctx); err != nil {
			return "", false, err
		}
		r.j.Streamed = false
		start := time.Now()
		sum, rerr, err := DumpStreaming(ctx, *e.SourceDB, *e.TargetDB, r.dumpFile())
		if err != nil {
			return "", false, err
		}
		fi, _ := os.Stat(r.dumpFile())
		r.j.DumpSHA256, r.j.DumpBytes = sum, fi.Size()
		if rerr != nil {
			r.logf("      the restore while dumping failed (%v): the next step restores the file", rerr)
			return fmt.Sprintf("%s, sha256 %s; the restore while dumping failed: the next step restores the file", bytesText(fi.Size()), sum[:12]), false, nil
		}
		r.j.Streamed = true
		return fmt.Sprintf("%s, sha256 %s, restored into the target as it was written, in %.1f s", bytesText(fi.Size()), sum[:12], time.Since(start).Seconds()), false, nil
	case "postgres.restore":
		if r.j.Streamed {
			if err := Analyze(ctx, *e.TargetDB); err != nil {
				return "", false, err
			}
			return "restored while dumping; ANALYZE done", false, nil
		}
		if sum, err := fileSHA256(r.dumpFile()); err != nil || sum != r.j.DumpSHA256 {
			return "", false, fmt.Errorf("the dump %s does not match its checksum; fix: run the migration again from the dump (mark postgres.dump pending by moving the file away)", r.dumpFile())
		}
		if err := r.claimTarget(ctx); err != nil {
			return "", false, err
		}
		start := time.Now()
		if err := Restore(ctx, *e.TargetDB, r.dumpFile(), r.Jobs); err != nil {
			return "", false, err
		}
		return fmt.Sprintf("restored %s in %.1f s (%.1f MB/s)", bytesText(r.j.DumpBytes), time.Since(start).Seconds(), float64(r.j.DumpBytes)/1e6/time.Since(start).Seconds()), false, nil
	case "redis.copy":
		if r.Plan.RedisData != "state" {
			return "redis.data is cache: the target starts empty", true, nil
		}
		if e.SourceRedis == nil || e.TargetRedis == nil {
			return "", false, fmt.Errorf("redis.data is state: give --source-redis and --target-redis (passwords in NFX_SOURCE_REDIS_PASSWORD, NFX_TARGET_REDIS_PASSWORD)")
		}
		st, err := CopyRedis(ctx, *e.SourceRedis, *e.TargetRedis, nil)
		if err != nil {
			return "", false, err
		}
		r.j.Redis = &st
		return fmt.Sprintf("%d keys, %s", st.Keys, bytesText(st.Bytes)), false, nil
	case "qdrant.copy":
		if e.SourceQdrant == nil || e.TargetQdrant == nil {
			return "no --source-qdrant/--target-qdrant: the collections are not copied", true, nil
		}
		st, err := CopyQdrant(ctx, *e.SourceQdrant, *e.TargetQdrant, r.ReplicationFactor)
		if err != nil {
			return "", false, err
		}
		r.j.Qdrant = &st
		return fmt.Sprintf("%d collections, %d points", st.Collections, st.Points), false, nil
	case "models.copy":
		if e.SourceModels == "" || e.TargetModels == "" {
			return "no --source-models/--target-models: the target's Ollama pulls its models at start", true, nil
		}
		st, err := CopyModels(e.SourceModels, e.TargetModels)
		if err != nil {
			return "", false, err
		}
		r.j.Models = &st
		return fmt.Sprintf("%d models, %d of %d blobs copied (%s)", st.Models, st.Copied, st.Blobs, bytesText(st.Bytes)), false, nil
	case "verify":
		v, err := r.verify(ctx)
		r.j.Verification = v
		if err != nil {
			return "", false, err
		}
		r.j.State = MigrationVerified
		if err := r.endWatch(ctx); err != nil {
			return "", false, err
		}
		how := ""
		if r.j.Online != nil && r.j.Online.Watch != nil {
			how = fmt.Sprintf(" (%d summed with the source frozen, the others verified before the freeze)", v.Rechecked)
			if v.RangeChecked > 0 {
				how = fmt.Sprintf(" (%d summed with the source frozen, %d only in the key ranges written since the pre-verification, the others verified before the freeze)", v.Rechecked, v.RangeChecked)
			}
			if v.Full != "" {
				how = " (all summed with the source frozen: " + v.Full + ")"
			}
		}
		return fmt.Sprintf("%d tables%s, %d sequences, %d extensions equal", len(v.Tables), how, v.Sequences, len(v.Extensions)), false, nil
	case "cutover":
		if e.Cutover == "" {
			return "", false, fmt.Errorf("no --cutover-cmd: give the command that switches the traffic (out/%s/migrate/cutover.sh is rendered for it)", r.Plan.To)
		}
		if err := shell(ctx, e.Cutover); err != nil {
			return "", false, fmt.Errorf("cutover: %w", err)
		}
		r.j.CutoverAt = time.Now().UTC()
		r.j.DowntimeSeconds = r.j.CutoverAt.Sub(r.j.FrozenAt).Seconds()
		r.j.State = MigrationCutOver
		return fmt.Sprintf("traffic on %s; writes were stopped for %.1f s; the source stays frozen until nfx migrate confirm (or rollback)", r.Plan.To, r.j.DowntimeSeconds), false, nil
	}
	if fn, ok := onlineSteps[s.ID]; ok {
		return fn(r, ctx)
	}
	return "", false, fmt.Errorf("nfx has no step %q", s.ID)
}

// claimTarget refuses a target that holds tables this migration did not
// restore: pg_restore --clean would replace them.
func (r *Run) claimTarget(ctx context.Context) error {
	if r.j.RestoreStarted {
		return nil
	}
	n, err := UserTableCount(ctx, *r.E.TargetDB)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("the target database %s holds %d tables that this migration did not restore; nfx does not overwrite them; fix: point --target-db at the new stack's empty database", r.E.TargetDB, n)
	}
	r.j.RestoreStarted = true
	return r.save()
}

func (r *Run) preflight(ctx context.Context) (string, bool, error) {
	e := r.E
	if e.SourceDB == nil || e.TargetDB == nil {
		return "", false, fmt.Errorf("give --source-db and --target-db (postgres://user@host:port/db; passwords in NFX_SOURCE_DB_PASSWORD, NFX_TARGET_DB_PASSWORD)")
	}
	if err := e.NeedCutover(r.Plan); err != nil {
		return "", false, fmt.Errorf("%w; checked now so that the source is not frozen for nothing", err)
	}
	if r.Plan.RedisData == "state" && (e.SourceRedis == nil || e.TargetRedis == nil) {
		return "", false, fmt.Errorf("redis.data is state: its keys move with the migration; give --source-redis and --target-redis (passwords in NFX_SOURCE_REDIS_PASSWORD, NFX_TARGET_REDIS_PASSWORD), or declare nextflow:redis.data cache if the target may start empty")
	}
	src, err := Inspect(ctx, *e.SourceDB)
	if err != nil {
		return "", false, err
	}
	dst, err := Inspect(ctx, *e.TargetDB)
	if err != nil {
		return "", false, err
	}
	if dst.Major < src.Major {
		return "", false, fmt.Errorf("the source runs PostgreSQL %d and the target %d: pg_restore and logical replication move data only forward; fix: run the target on %d or later", src.Major, dst.Major, src.Major)
	}
	r.j.SourceBytes = src.Bytes
	// The restored database takes about the source's size again; leave a
	// fifth for the WAL and growth.
	if r.TargetRoom > 0 && src.Bytes*5/4 > r.TargetRoom {
		return "", false, fmt.Errorf("the source database is %s; the target's storage is %s, less than the %s it needs with room to grow; fix: raise it (nextflow:cloud.dbStorageGB) and nfx up the target", bytesText(src.Bytes), bytesText(r.TargetRoom), bytesText(src.Bytes*5/4))
	}
	if !r.j.RestoreStarted {
		if n, err := UserTableCount(ctx, *e.TargetDB); err != nil {
			return "", false, err
		} else if n > 0 && r.Plan.Mode == "dump" {
			return "", false, fmt.Errorf("the target database %s holds %d tables; fix: point --target-db at the new stack's empty database", e.TargetDB, n)
		}
	}
	var parts []string
	parts = append(parts, fmt.Sprintf("PostgreSQL %d -> %d, %s to move", src.Major, dst.Major, bytesText(src.Bytes)))
	if e.SourceRedis != nil && e.TargetRedis != nil {
		n, err := RedisKeys(ctx, *e.SourceRedis)
		if err != nil {
			return "", false, err
		}
		if _, err := RedisKeys(ctx, *e.TargetRedis); err != nil {
			return "", false, err
		}
		parts = append(parts, fmt.Sprintf("Redis %d keys", n))
	}
	if e.SourceQdrant != nil && e.TargetQdrant != nil {
		cs, err := e.SourceQdrant.Collections(ctx)
		if err != nil {
			return "", false, err
		}
		if _, err := e.TargetQdrant.Collections(ctx); err != nil {
			return "", false, err
		}
		parts = append(parts, fmt.Sprintf("Qdrant %d collections", len(cs)))
	}
	return strings.Join(parts, "; "), false, nil
}

// Verify compares both sides now, as the verify step does, reading only;
// the journal is not changed.
func (r *Run) Verify(ctx context.Context) (*Verification, error) {
	if err := r.E.Need("verify", "source-db", "target-db"); err != nil {
		return nil, err
	}
	if r.j == nil {
		j, err := LoadJournal(r.Dir)
		if err != nil {
			return nil, err
		}
		if j == nil {
			j = &Journal{Plan: r.Plan}
		}
		r.j = j
	}
	r.readOnly = true
	defer func() { r.readOnly = false }()
	return r.verify(ctx)
}

// verify compares both sides; any difference is an error that stops the
// migration before the cutover.
func (r *Run) verify(ctx context.Context) (*Verification, error) {
	e := r.E
	v := &Verification{At: time.Now().UTC()}
	// The replica first catches up with the primary; then the source, the
	// target and its replica are summed at once (the source is frozen
	// meanwhile, every second counts).
	dbs := []*DB{e.SourceDB, e.TargetDB}
	if e.TargetReplica != nil {
		lsn, err := WaitReplayed(ctx, *e.TargetDB, *e.TargetReplica, 2*time.Minute)
		v.ReplicaLSN = lsn
		if err != nil {
			v.Problems = append(v.Problems, err.Error())
		} else {
			dbs = append(dbs, e.TargetReplica)
		}
	}
	// In online mode the tables verified before the freeze and not
	// written since are not read again.
	known, ranged, full, err := r.recheck(ctx, dbs)
	if err != nil {
		return v, err
	}
	v.Full, v.RangeChecked = full, ranged
	snaps, errs := snapshots(ctx, dbs, known, nil)
	if err := errors.Join(errs[:2]...); err != nil {
		return v, err
	}
	src, dst := snaps[0], snaps[1]
	v.Tables, v.Sequences, v.Extensions = dst.Tables, len(dst.Sequences), dst.Extensions
	if known != nil {
		v.Rechecked = len(dst.Tables)
		for t := range dst.Tables {
			if _, ok := known[1][t]; ok {
				v.Rechecked--
			}
		}
	}
	v.Problems = append(v.Problems, CompareSnapshots(src, dst)...)
	if len(dbs) == 3 {
		if errs[2] != nil {
			v.Problems = append(v.Problems, "the replica: "+errs[2].Error())
		} else {
			for _, p := range CompareSnapshots(dst, snaps[2]) {
				v.Problems = append(v.Problems, "the replica: "+p)
			}
		}
	}
	if r.Plan.RedisData == "state" && e.SourceRedis != nil && e.TargetRedis != nil {
		since := time.Duration(0)
		if st := r.state("redis.copy"); st != nil && !st.Ended.IsZero() {
			since = time.Since(st.Started)
		}
		sum, bad, err := CompareRedis(ctx, *e.SourceRedis, *e.TargetRedis, r.RedisCompareAll, since)
		if err != nil {
			return v, err
		}
		v.Redis = &sum
		v.Problems = append(v.Problems, bad...)
		if e.TargetRedisReplica != nil {
			if err := WaitRedisReplica(ctx, *e.TargetRedis, *e.TargetRedisReplica, 2*time.Minute); err != nil {
				v.Problems = append(v.Problems, err.Error())
			} else if _, bad, err := CompareRedis(ctx, *e.TargetRedis, *e.TargetRedisReplica, r.RedisCompareAll, since); err != nil {
				v.Problems = append(v.Problems, "the Redis replica: "+err.Error())
			} else {
				for _, p := range bad {
					v.Problems = append(v.Problems, "the Redis replica: "+p)
				}
			}
		}
	}
	if e.SourceQdrant != nil && e.TargetQdrant != nil {
		a, err := SumQdrant(ctx, *e.SourceQdrant)
		if err != nil {
			return v, err
		}
		b, err := SumQdrant(ctx, *e.TargetQdrant)
		if err != nil {
			return v, err
		}
		v.Qdrant = b
		v.Problems = append(v.Problems, CompareQdrant(a, b)...)
	} else {
		v.Skipped = append(v.Skipped, "qdrant")
	}
	if e.SourceModels != "" && e.TargetModels != "" {
		bad, err := VerifyModels(e.SourceModels, e.TargetModels)
		if err != nil {
			return v, err
		}
		v.Problems = append(v.Problems, bad...)
		if ms, err := listManifests(e.SourceModels); err == nil {
			v.Models = len(ms)
		}
	} else {
		v.Skipped = append(v.Skipped, "models")
	}
	v.OK = len(v.Problems) == 0
	if !v.OK {
		return v, fmt.Errorf("verification found %d differences, the first: %s", len(v.Problems), v.Problems[0])
	}
	return v, nil
}

// Rollback returns the traffic and the writes to the source: the rollback
// command switches the traffic back, the source takes writes again.
// Writes made on the target after the cutover would be lost: rollback
// refuses when the target's tables differ from what verification saw,
// unless discard is set.
func (r *Run) Rollback(ctx context.Context, discard bool) (*Journal, error) {
	unlock, err := r.begin()
	if err != nil {
		return nil, err
	}
	defer unlock()
	switch r.j.State {
	case MigrationConfirmed:
		return r.j, fmt.Errorf("the migration %s -> %s was confirmed: the source was retired", r.Plan.From, r.Plan.To)
	case MigrationRolledBack:
		r.logf("nfx: the migration was already rolled back")
		return r.j, nil
	}
	// The source takes the writes back (its freeze ends); the target is
	// read for writes it took since the cutover and loses the online
	// mode's subscription.
	need := []string{"source-db"}
	if (r.j.State == MigrationCutOver && !discard && r.j.Verification != nil) || (r.Plan.Mode == "online" && r.j.Online != nil) {
		need = append(need, "target-db")
	}
	if err := r.E.Need("rollback", need...); err != nil {
		return r.j, err
	}
	if r.Plan.RedisData == "state" && !r.j.FrozenAt.IsZero() && r.E.SourceRedis == nil {
		return r.j, fmt.Errorf("the source's Redis is paused for writes: give --source-redis (its password in NFX_SOURCE_REDIS_PASSWORD) so that the rollback ends the pause too")
	}
	if r.j.State == MigrationCutOver && !discard && r.j.Verification != nil {
		// Summed as the journal's checksums were (a server before
		// PostgreSQL 14 took part: md5 sums), not twice.
		target := *r.E.TargetDB
		for _, was := range r.j.Verification.Tables {
			if strings.HasPrefix(was.Sum, "a:") {
				target.md5Sums, target.sumsAgreed = true, true
			}
		}
		now, err := TakeSnapshot(ctx, target)
		if err != nil {
			return r.j, err
		}
		// The journal may hold other checksums: an earlier nfx's, or md5
		// sums where a server before PostgreSQL 14 took part.
		earlier := map[string]string{}
		for t, was := range r.j.Verification.Tables {
			if expr := earlierChecksum(was.Sum); expr != "" && expr != earlierChecksum(now.Tables[t].Sum) {
				earlier[t] = expr
			}
		}
		if err := resumEarlier(ctx, *r.E.TargetDB, now, earlier); err != nil {
			return r.j, err
		}
		var changed []string
		for _, t := range model.SortedKeys(now.Tables) {
			if was, ok := r.j.Verification.Tables[t]; !ok || was != now.Tables[t] {
				changed = append(changed, t)
			}
		}
		if len(changed) > 0 {
			return r.j, fmt.Errorf("the target took writes after the cutover (%d tables changed: %s); rolling back would lose them; fix: move them to the source first, or run again with --discard-target-writes",
				len(changed), strings.Join(changed, ", "))
		}
	}
	if r.j.State == MigrationCutOver {
		if r.E.Rollback == "" {
			return r.j, fmt.Errorf("no --rollback-cmd: give the command that switches the traffic back (out/%s/migrate/rollback.sh is rendered for it)", r.Plan.To)
		}
		if err := shell(ctx, r.E.Rollback); err != nil {
			return r.j, fmt.Errorf("rollback: %w", err)
		}
	}
	if r.Plan.Mode == "online" && r.j.Online != nil {
		if err := r.dropReplication(ctx, false); err != nil {
			return r.j, err
		}
	}
	if err := Unfreeze(ctx, *r.E.SourceDB); err != nil {
		return r.j, err
	}
	if r.E.SourceRedis != nil {
		if err := UnpauseWrites(ctx, *r.E.SourceRedis); err != nil {
			return r.j, err
		}
	}
	r.j.State = MigrationRolledBack
	r.logf("nfx: rolled back: traffic and writes are on %s again", r.Plan.From)
	return r.j, r.save()
}

// Confirm ends the migration: the source stays frozen, as it is retired,
// and rollback is no longer offered.
func (r *Run) Confirm() (*Journal, error) {
	unlock, err := r.begin()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if r.j.State != MigrationCutOver {
		return r.j, fmt.Errorf("the migration is %s; only a cut-over migration can be confirmed", r.j.State)
	}
	r.j.State = MigrationConfirmed
	return r.j, r.save()
}

// shell runs a cutover or rollback command with bash.
func shell(ctx context.Context, cmdline string) error {
	cmd := exec.CommandContext(ctx, "bash", "-c", cmdline)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
