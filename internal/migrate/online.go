package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The online mode's objects: the publication on the source, the
// subscription on the target and its replication slot on the source.
const replicationName = "nfx_migrate"

// OnlineState is the online mode's record.
type OnlineState struct {
	// Fingerprint is the source's schema when replication started: DDL
	// during the window changes it and stops the migration. Schema is
	// that schema's definitions, to say what changed.
	Fingerprint string   `json:"fingerprint"`
	Schema      []string `json:"schema,omitempty"`
	Tables      int      `json:"tables"`
	// CopySeconds is the initial copy's duration; LagBytes the lag seen
	// when the freeze began; CatchupSeconds the frozen wait for the last
	// writes.
	CopySeconds    float64 `json:"copySeconds"`
	LagBytes       int64   `json:"lagBytes"`
	CatchupSeconds float64 `json:"catchupSeconds"`
	Sequences      int     `json:"sequences"`
	// Watch is the verification taken before the freeze.
	Watch *WatchState `json:"watch,omitempty"`
}

// onlineSteps run the online mode's steps.
var onlineSteps = map[string]func(*Run, context.Context) (string, bool, error){
	"postgres.online-check": (*Run).onlineCheck,
	"postgres.schema":       (*Run).onlineSchema,
	"postgres.subscribe":    (*Run).onlineSubscribe,
	"postgres.preverify":    (*Run).onlinePreverify,
	"postgres.catchup":      (*Run).onlineCatchup,
	"postgres.sequences":    (*Run).onlineSequences,
	"postgres.unsubscribe":  (*Run).onlineUnsubscribe,
}

// NoIdentityError names the tables logical replication cannot carry.
type NoIdentityError struct{ Tables []string }

func (e *NoIdentityError) Error() string {
	return fmt.Sprintf("online mode needs a primary key or a replica identity on every table; %d have none: %s; fix: add a primary key (or ALTER TABLE ... REPLICA IDENTITY FULL), or set nextflow:migration.mode to dump",
		len(e.Tables), strings.Join(e.Tables, ", "))
}

// withoutIdentity lists the tables whose updates and deletes logical
// replication could not apply.
const withoutIdentity = `SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
AND (c.relreplident = 'n'
  OR (c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))
  OR (c.relreplident = 'i' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)))
ORDER BY 1`

// schemaLines describes, a line each, every definition of the user schema
// that decides what data a table takes: each table; each column with its
// type and modifiers (varchar(40), numeric(10,2)), nullability, default,
// identity, generation and collation; each constraint (primary key,
// unique, check, foreign key, exclusion, a domain's check) as PostgreSQL
// prints it; each unique index; each enum's labels. Logical replication
// carries none of these: a change during the window leaves the target
// with the old definition.
const schemaLines = `WITH ns AS (
  SELECT oid FROM pg_namespace
  WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND nspname NOT LIKE 'pg_temp_%' AND nspname NOT LIKE 'pg_toast_temp_%'
), items AS (
  SELECT 'table ' || c.oid::regclass::text AS line
  FROM pg_class c WHERE c.relnamespace IN (SELECT oid FROM ns) AND c.relkind IN ('r', 'p')
  UNION ALL
  SELECT 'column ' || c.oid::regclass::text || '.' || quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
    || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
    || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
    || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
    || CASE WHEN a.attgenerated <> '' THEN ' generated ' || a.attgenerated::text ELSE '' END
    || coalesce(' collate ' || co.collname, '')
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  LEFT JOIN pg_collation co ON co.oid = a.attcollation AND co.collname <> 'default'
  WHERE c.relnamespace IN (SELECT oid FROM ns) AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'constraint ' || CASE WHEN con.conrelid <> 0 THEN con.conrelid::regclass::text ELSE con.contypid::regtype::text END
    || ' ' || quote_ident(con.conname) || ' ' || pg_get_constraintdef(con.oid)
  FROM pg_constraint con WHERE con.connamespace IN (SELECT oid FROM ns)
  UNION ALL
  SELECT 'unique index ' || pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
  WHERE c.relnamespace IN (SELECT oid FROM ns) AND i.indisunique
  UNION ALL
  SELECT 'enum ' || e.enumtypid::regtype::text || ' ' || quote_literal(e.enumlabel) || ' ' || e.enumsortorder::text
  FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typnamespace IN (SELECT oid FROM ns)
)
SELECT line FROM items ORDER BY line`

// Schema is the user schema's definitions (schemaLines) and their digest.
type Schema struct {
	Fingerprint string
	Lines       []string
}

// ReadSchema reads the user schema's definitions.
func ReadSchema(ctx context.Context, c *pgx.Conn) (Schema, error) {
	rows, err := c.Query(ctx, schemaLines)
	if err != nil {
		return Schema{}, err
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return Schema{}, err
	}
	h := sha256.New()
	for _, l := range lines {
		fmt.Fprintf(h, "%d\n%s\n", len(l), l)
	}
	return Schema{Fingerprint: hex.EncodeToString(h.Sum(nil)), Lines: lines}, nil
}

// SchemaChanges says what differs between two readings of a schema: the
// definitions gone and the ones new, a line each ("- column public.t.name
// character varying(40)", "+ column public.t.name character varying(200)").
func SchemaChanges(was, now []string) []string {
	in := func(list []string) map[string]bool {
		m := make(map[string]bool, len(list))
		for _, l := range list {
			m[l] = true
		}
		return m
	}
	a, b := in(was), in(now)
	var out []string
	for _, l := range was {
		if !b[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range now {
		if !a[l] {
			out = append(out, "+ "+l)
		}
	}
	return out
}

// onlineCheck refuses, before anything changes, what online mode cannot
// carry: a table without identity, a source without logical WAL, roles
// that may not replicate, a target that is not empty.
func (r *Run) onlineCheck(ctx context.Context) (string, bool, error) {
	src, err := connect(ctx, *r.E.SourceDB)
	if err != nil {
		return "", false, err
	}
	defer src.Close(ctx)
	rows, err := src.Query(ctx, withoutIdentity)
	if err != nil {
		return "", false, err
	}
	bad, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", false, err
	}
	if len(bad) > 0 {
		return "", false, &NoIdentityError{Tables: bad}
	}
	// An unlogged table writes no WAL: no publication may carry it.
	rows, err = src.Query(ctx, `SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'u' ORDER BY 1`)
	if err != nil {
		return "", false, err
	}
	if bad, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return "", false, err
	}
	if len(bad) > 0 {
		return "", false, fmt.Errorf("online mode replicates through the WAL, which %d unlogged tables do not write: %s; fix: ALTER TABLE ... SET LOGGED on each, or set nextflow:migration.mode to dump", len(bad), strings.Join(bad, ", "))
	}
	var wal string
	var canReplicate bool
	if err := src.QueryRow(ctx, "SELECT current_setting('wal_level'), rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user").Scan(&wal, &canReplicate); err != nil {
		return "", false, err
	}
	if wal != "logical" {
		return "", false, fmt.Errorf("the source %s has wal_level %s; online mode needs logical; fix: start the source's PostgreSQL with -c wal_level=logical (a restart), or set nextflow:migration.mode to dump", r.E.SourceDB, wal)
	}
	if !canReplicate {
		return "", false, fmt.Errorf("the source's role %s may not replicate; fix: ALTER ROLE %s REPLICATION (on RDS: GRANT rds_replication), or use dump mode", r.E.SourceDB.User, quoteIdent(r.E.SourceDB.User))
	}
	dst, err := connect(ctx, *r.E.TargetDB)
	if err != nil {
		return "", false, err
	}
	defer dst.Close(ctx)
	var mayCreate bool
	// A superuser; on 16 a member of pg_create_subscription; on RDS a
	// member of rds_superuser (the master user).
	if err := dst.QueryRow(ctx, `SELECT rolsuper
		OR EXISTS (SELECT 1 FROM pg_roles g JOIN pg_auth_members m ON m.roleid = g.oid JOIN pg_roles u ON u.oid = m.member
			WHERE u.rolname = current_user AND g.rolname IN ('pg_create_subscription', 'rds_superuser'))
		FROM pg_roles WHERE rolname = current_user`).Scan(&mayCreate); err != nil {
		return "", false, err
	}
	if !mayCreate {
		return "", false, fmt.Errorf("the target's role %s may not create a subscription (PostgreSQL 15 needs a superuser, 16 pg_create_subscription, RDS rds_superuser); fix: run online mode as such a role, or use dump mode", r.E.TargetDB.User)
	}
	if err := r.claimTarget(ctx); err != nil {
		return "", false, err
	}
	sc, err := ReadSchema(ctx, src)
	if err != nil {
		return "", false, err
	}
	ts, err := tables(ctx, src)
	if err != nil {
		return "", false, err
	}
	r.j.Online = &OnlineState{Fingerprint: sc.Fingerprint, Schema: sc.Lines, Tables: len(ts)}
	return fmt.Sprintf("%d tables replicate; wal_level logical; schema fingerprint %s (%d definitions)", len(ts), sc.Fingerprint[:12], len(sc.Lines)), false, nil
}

// onlineSchema copies the source's schema into the target.
func (r *Run) onlineSchema(ctx context.Context) (string, bool, error) {
	file := filepath.Join(r.Dir, "schema.dump")
	if err := runTool(ctx, *r.E.SourceDB, r.Dir, "pg_dump", "-Fc", "--schema-only", "--no-publications", "--no-subscriptions", "--no-password", "-f", file); err != nil {
		return "", false, err
	}
	if err := runTool(ctx, *r.E.TargetDB, r.Dir, "pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--exit-on-error", "--no-password", "-d", r.E.TargetDB.Database, file); err != nil {
		return "", false, err
	}
	return "the schema is on the target", false, nil
}

// conninfo is the subscription's connection to the source, in libpq's
// key='value' form.
func conninfo(d DB) string {
	q := func(s string) string { return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'" }
	return strings.Join([]string{"host=" + q(d.Host), "port=" + strconv.Itoa(d.Port), "user=" + q(d.User), "password=" + q(d.Password),
		"dbname=" + q(d.Database), "sslmode=" + q(d.SSLMode), "application_name=" + q("nfx-migrate")}, " ")
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// onlineSubscribe publishes the source's tables and subscribes the target
// to them: the subscription creates its slot before the initial copy's
// snapshot, so nothing committed during the copy is missed. A rerun drops
// what an interrupted attempt left (the target's tables are this
// migration's) and starts the copy again.
func (r *Run) onlineSubscribe(ctx context.Context) (string, bool, error) {
	if err := r.dropReplication(ctx, false); err != nil {
		return "", false, err
	}
	src, err := connect(ctx, *r.E.SourceDB)
	if err != nil {
		return "", false, err
	}
	defer src.Close(ctx)
	dst, err := connect(ctx, *r.E.TargetDB)
	if err != nil {
		return "", false, err
	}
	defer dst.Close(ctx)
	ts, err := tables(ctx, src)
	if err != nil {
		return "", false, err
	}
	if len(ts) == 0 {
		return "the source has no tables", false, nil
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.quoted()
	}
	dts, err := tables(ctx, dst)
	if err != nil {
		return "", false, err
	}
	if len(dts) > 0 {
		q := make([]string, len(dts))
		for i, t := range dts {
			q[i] = t.quoted()
		}
		if _, err := dst.Exec(ctx, "TRUNCATE "+strings.Join(q, ", ")+" CASCADE"); err != nil {
			return "", false, fmt.Errorf("empty the target's tables for the copy: %v", err)
		}
	}
	if _, err := src.Exec(ctx, "CREATE PUBLICATION "+replicationName+" FOR TABLE "+strings.Join(names, ", ")); err != nil {
		return "", false, fmt.Errorf("create the publication on the source: %v", err)
	}
	start := time.Now()
	stmt := "CREATE SUBSCRIPTION " + replicationName + " CONNECTION " + sqlString(conninfo(*r.E.SourceDB)) + " PUBLICATION " + replicationName
	if _, err := dst.Exec(ctx, stmt); err != nil {
		return "", false, fmt.Errorf("create the subscription on the target: %s", scrub(err.Error(), r.E.SourceDB.Password))
	}
	// The initial copy: every table ready.
	last := time.Time{}
	for {
		var pending, errors int
		if err := dst.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_subscription_rel sr JOIN pg_subscription s ON s.oid = sr.srsubid
			WHERE s.subname = $1 AND sr.srsubstate NOT IN ('r', 's')),
			coalesce((SELECT apply_error_count + sync_error_count FROM pg_stat_subscription_stats WHERE subname = $1), 0)`, replicationName).Scan(&pending, &errors); err != nil {
			return "", false, err
		}
		if errors > 0 {
			return "", false, fmt.Errorf("the subscription failed to apply %d times (the target's log says why); fix it and run again: the copy starts over", errors)
		}
		if pending == 0 {
			break
		}
		if time.Since(last) > 5*time.Second {
			r.logf("      copying: %d of %d tables still in their initial copy", pending, len(ts))
			last = time.Now()
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return "", false, err
		}
	}
	r.j.Online.CopySeconds = time.Since(start).Seconds()
	// Then the lag, watched down.
	for {
		lag, err := slotLag(ctx, src)
		if err != nil {
			return "", false, err
		}
		if lag <= 1<<20 {
			return fmt.Sprintf("%d tables copied in %.1f s; replicating, %s behind", len(ts), r.j.Online.CopySeconds, bytesText(lag)), false, nil
		}
		if time.Since(last) > 5*time.Second {
			r.logf("      replicating: %s behind", bytesText(lag))
			last = time.Now()
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return "", false, err
		}
	}
}

// slotLag is how far the subscription's confirmed position is behind the
// source's WAL end.
func slotLag(ctx context.Context, src *pgx.Conn) (int64, error) {
	var lag int64
	err := src.QueryRow(ctx, "SELECT coalesce((pg_current_wal_lsn() - confirmed_flush_lsn)::bigint, -1) FROM pg_replication_slots WHERE slot_name = $1", replicationName).Scan(&lag)
	if err == pgx.ErrNoRows {
		return 0, fmt.Errorf("the replication slot %s is gone from the source; fix: run again: the copy starts over", replicationName)
	}
	if lag < 0 {
		lag = 1 << 62
	}
	return lag, err
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// onlineCatchup waits, frozen, until the target has every write the
// source committed before the freeze, and refuses DDL made during the
// window.
func (r *Run) onlineCatchup(ctx context.Context) (string, bool, error) {
	src, err := connect(ctx, *r.E.SourceDB)
	if err != nil {
		return "", false, err
	}
	defer src.Close(ctx)
	if sc, err := ReadSchema(ctx, src); err != nil {
		return "", false, err
	} else if r.j.Online == nil || sc.Fingerprint != r.j.Online.Fingerprint {
		what := ""
		if r.j.Online != nil {
			if ch := SchemaChanges(r.j.Online.Schema, sc.Lines); len(ch) > 0 {
				what = ": " + strings.Join(ch[:min(len(ch), 6)], "; ")
			}
		}
		return "", false, fmt.Errorf("the source's schema changed during the migration (DDL is not replicated)%s; fix: nfx migrate rollback, apply the change to the schema, and migrate again", what)
	}
	var end string
	if err := src.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&end); err != nil {
		return "", false, err
	}
	lag, err := slotLag(ctx, src)
	if err != nil {
		return "", false, err
	}
	r.j.Online.LagBytes = lag
	start := time.Now()
	if err := r.waitFlushed(ctx, src, end, r.MaxFreeze); err != nil {
		return "", false, err
	}
	r.j.Online.CatchupSeconds = time.Since(start).Seconds()
	// The target's definitions are the source's: a change made on the
	// target alone, or lost in the schema's copy, stops the cutover too.
	dst, err := connect(ctx, *r.E.TargetDB)
	if err != nil {
		return "", false, err
	}
	defer dst.Close(ctx)
	if ts, err := ReadSchema(ctx, dst); err != nil {
		return "", false, err
	} else if ts.Fingerprint != r.j.Online.Fingerprint {
		ch := SchemaChanges(r.j.Online.Schema, ts.Lines)
		return "", false, fmt.Errorf("the target's schema differs from the source's (%d definitions: %s); fix: nfx migrate rollback, make both schemas the same, and migrate again", len(ch), strings.Join(ch[:min(len(ch), 6)], "; "))
	}
	return fmt.Sprintf("caught up %s in %.2f s; the target's schema is the source's", bytesText(lag), r.j.Online.CatchupSeconds), false, nil
}

// onlineSequences sets every target sequence to the source's position:
// logical replication carries rows, not sequences.
func (r *Run) onlineSequences(ctx context.Context) (string, bool, error) {
	src, err := connect(ctx, *r.E.SourceDB)
	if err != nil {
		return "", false, err
	}
	defer src.Close(ctx)
	dst, err := connect(ctx, *r.E.TargetDB)
	if err != nil {
		return "", false, err
	}
	defer dst.Close(ctx)
	rows, err := src.Query(ctx, "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), last_value FROM pg_sequences WHERE last_value IS NOT NULL")
	if err != nil {
		return "", false, err
	}
	type seq struct {
		name string
		last int64
	}
	seqs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (seq, error) {
		var s seq
		err := r.Scan(&s.name, &s.last)
		return s, err
	})
	if err != nil {
		return "", false, err
	}
	for _, s := range seqs {
		if _, err := dst.Exec(ctx, "SELECT setval($1::regclass, $2, true)", s.name, s.last); err != nil {
			return "", false, fmt.Errorf("sequence %s on the target: %v", s.name, err)
		}
	}
	r.j.Online.Sequences = len(seqs)
	return fmt.Sprintf("%d sequences set", len(seqs)), false, nil
}

// onlineUnsubscribe ends the replication; the watch slot stays until the
// verification has read it.
func (r *Run) onlineUnsubscribe(ctx context.Context) (string, bool, error) {
	if err := r.dropReplication(ctx, true); err != nil {
		return "", false, err
	}
	return "the subscription, its slot and the publication are gone", false, nil
}

// dropReplication removes the online mode's objects from both sides, if
// present, and the watch slot unless keepWatch: a slot left on the
// source would keep its WAL forever.
func (r *Run) dropReplication(ctx context.Context, keepWatch bool) error {
	dst, err := connect(ctx, *r.E.TargetDB)
	if err != nil {
		return err
	}
	defer dst.Close(ctx)
	var has bool
	if err := dst.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_subscription WHERE subname = $1)", replicationName).Scan(&has); err != nil {
		return err
	}
	if has {
		for _, s := range []string{"ALTER SUBSCRIPTION " + replicationName + " DISABLE",
			"ALTER SUBSCRIPTION " + replicationName + " SET (slot_name = NONE)",
			"DROP SUBSCRIPTION " + replicationName} {
			if _, err := dst.Exec(ctx, s); err != nil {
				return fmt.Errorf("target: %s: %v", s, err)
			}
		}
	}
	src, err := connect(ctx, *r.E.SourceDB)
	if err != nil {
		return err
	}
	defer src.Close(ctx)
	if _, err := src.Exec(ctx, "DROP PUBLICATION IF EXISTS "+replicationName); err != nil {
		return fmt.Errorf("source: drop the publication: %v", err)
	}
	if !keepWatch {
		if err := dropWatch(ctx, src); err != nil {
			return err
		}
		if err := dropSlot(ctx, dst, localSlot); err != nil {
			return fmt.Errorf("target: %v", err)
		}
	}
	// The slot stays active until its walsender notices the subscription
	// is gone.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var exists, active bool
		err := src.QueryRow(ctx, "SELECT true, active FROM pg_replication_slots WHERE slot_name = $1", replicationName).Scan(&exists, &active)
		if err == pgx.ErrNoRows {
			return nil
		}
		if err != nil {
			return err
		}
		if !active {
			if _, err := src.Exec(ctx, "SELECT pg_drop_replication_slot($1)", replicationName); err != nil {
				return fmt.Errorf("source: drop the replication slot: %v", err)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the source's replication slot %s is still in use after 30 s; fix: stop what uses it, then SELECT pg_drop_replication_slot('%s') on the source", replicationName, replicationName)
		}
		_, _ = src.Exec(ctx, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active", replicationName)
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}
