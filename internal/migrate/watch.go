package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nextflow-crm/nfx/internal/model"
)

// Online mode verifies before the freeze and re-checks after it only the
// tables written since. A second logical slot on the source, decoded with
// PostgreSQL's test_decoding plugin (in core's contrib, and on RDS), is
// the record of which tables were written: every committed change names
// its table. The sums are taken while replication runs:
//
//  1. the watch slot is created (its start, L0, is a consistent point:
//     every transaction committed after it is decoded);
//  2. A, the source's WAL end, is read; the target is waited for until its
//     subscription has flushed A (it holds every change committed up to A);
//  3. every table is summed on the source, the target and the target's
//     replica (once it has replayed the target's WAL).
//
// A table with no change after L0 has its final content on the source
// (nothing writes it again) and on the target (it applied every change
// up to A >= L0, and no later one exists): equal sums are final, and
// unequal sums are a difference found while the source still takes
// writes. A table written after L0 is summed again after the freeze,
// with those that the slot shows were written up to the freeze's end.
// The freeze then lasts the catch-up and the re-check of what changed,
// not a scan of every row.
const watchSlot = "nfx_migrate_watch"

// WatchState is the pre-verification's record, in the journal.
type WatchState struct {
	// Sums are the tables whose sums were equal on every side when
	// replication had carried every change up to From.
	Sums map[string]TableSum `json:"sums,omitempty"`
	// Changed are the tables the slot showed written since its start, with
	// their ancestors (a parent's sum holds its partitions' rows); All says
	// a change named a table nfx could not place, so every table is
	// summed again.
	Changed []string `json:"changed,omitempty"`
	All     bool     `json:"all,omitempty"`
	From    string   `json:"from,omitempty"`
	// Target is each target table's write counters (rows inserted,
	// updated, deleted) and file when the sums were taken: a table the
	// target alone wrote since (an application on the target stack, a
	// person) has others after the freeze and is summed again.
	Target map[string]string `json:"target,omitempty"`
	// Seconds is the pre-verification's duration, with the source writable.
	Seconds float64 `json:"seconds"`
	// Off says why there is no watch: the re-check after the freeze is
	// then a full one.
	Off string `json:"off,omitempty"`
}

// onlinePreverify takes every table's sums while replication runs.
func (r *Run) onlinePreverify(ctx context.Context) (string, bool, error) {
	start := time.Now()
	w := &WatchState{}
	r.j.Online.Watch = w
	src, err := connect(ctx, *r.E.SourceDB)
	if err != nil {
		return "", false, err
	}
	defer src.Close(ctx)
	if err := dropWatch(ctx, src); err != nil {
		return "", false, err
	}
	if _, err := src.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'test_decoding')", watchSlot); err != nil {
		// Without the watch the migration is still right: the re-check
		// after the freeze sums every table.
		w.Off = "the source cannot keep a second logical slot with test_decoding (" + scrub(err.Error(), r.E.SourceDB.Password) + ")"
		r.logf("      %s: every table is summed after the freeze", w.Off)
		return "no pre-verification: " + w.Off, false, nil
	}
	if err := src.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&w.From); err != nil {
		return "", false, err
	}
	if err := r.waitFlushed(ctx, src, w.From, 0); err != nil {
		return "", false, err
	}
	if w.Target, err = targetWrites(ctx, *r.E.TargetDB); err != nil {
		return "", false, err
	}
	dbs := []*DB{r.E.SourceDB, r.E.TargetDB}
	if r.E.TargetReplica != nil {
		if _, err := WaitReplayed(ctx, *r.E.TargetDB, *r.E.TargetReplica, 2*time.Minute); err != nil {
			return "", false, err
		}
		dbs = append(dbs, r.E.TargetReplica)
	}
	snaps, errs := snapshots(ctx, dbs, nil)
	if err := errors.Join(errs...); err != nil {
		return "", false, err
	}
	if err := r.drainWatch(ctx, src); err != nil {
		return "", false, err
	}
	changed := w.changedSet()
	w.Sums = map[string]TableSum{}
	var bad []string
	for _, t := range model.SortedKeys(snaps[0].Tables) {
		if changed[t] || w.All {
			continue
		}
		sum, same := snaps[0].Tables[t], true
		for i, s := range snaps[1:] {
			if got, ok := s.Tables[t]; !ok || got != sum {
				same = false
				bad = append(bad, fmt.Sprintf("%s: %d rows on the source, %d on the %s", t, sum.Rows, got.Rows, dbs[i+1].Name))
			}
		}
		if same {
			w.Sums[t] = sum
		}
	}
	w.Seconds = time.Since(start).Seconds()
	if len(bad) > 0 {
		return "", false, fmt.Errorf("%d tables that took no writes since replication caught up differ between the sides (%s); the source still takes writes; fix: nfx migrate rollback, find why the target differs, and migrate again",
			len(bad), strings.Join(bad[:min(len(bad), 6)], "; "))
	}
	return fmt.Sprintf("%d tables equal on every side in %.1f s, %d written meanwhile (summed again after the freeze)", len(w.Sums), w.Seconds, len(snaps[0].Tables)-len(w.Sums)), false, nil
}

// waitFlushed waits until the subscription has flushed lsn on the target;
// limit 0 waits as long as ctx allows.
func (r *Run) waitFlushed(ctx context.Context, src *pgx.Conn, lsn string, limit time.Duration) error {
	start := time.Now()
	for {
		var done bool
		if err := src.QueryRow(ctx, "SELECT coalesce(confirmed_flush_lsn >= $2::pg_lsn, false) FROM pg_replication_slots WHERE slot_name = $1", replicationName, lsn).Scan(&done); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("the replication slot %s is gone from the source; fix: run again: the copy starts over", replicationName)
			}
			return err
		}
		if done {
			return nil
		}
		if limit > 0 && time.Since(start) > limit {
			return fmt.Errorf("the target did not catch up with the source within migration.maxFreezeSeconds (%s); fix: nfx migrate rollback to take writes again, then migrate when the target keeps up (or raise maxFreezeSeconds)", limit)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// snapshots sums every database at once, each but the tables in known;
// errs[i] is the ith database's error.
func snapshots(ctx context.Context, dbs []*DB, known map[string]TableSum) ([]*Snapshot, []error) {
	snaps := make([]*Snapshot, len(dbs))
	errs := make([]error, len(dbs))
	if err := agreeSums(ctx, dbs...); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return snaps, errs
	}
	var wg sync.WaitGroup
	for i, d := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snaps[i], errs[i] = takeSnapshot(ctx, *d, known)
		}()
	}
	wg.Wait()
	return snaps, errs
}

func (w *WatchState) changedSet() map[string]bool {
	m := make(map[string]bool, len(w.Changed))
	for _, t := range w.Changed {
		m[t] = true
	}
	return m
}

// watchedTables reduces the slot's changes to the relations they name, on
// the server: a change's text starts "table SCHEMA.NAME: INSERT:" (or
// UPDATE, DELETE; a TRUNCATE names its tables with ", " between them),
// the names quoted as quote_ident quotes them.
const watchedTables = `SELECT DISTINCT coalesce(substring(data FROM '^table ((?:(?:"(?:[^"]|"")*"|[^":., ]+)\.(?:"(?:[^"]|"")*"|[^":., ]+)(?:, )?)+): [A-Z]+:'), '?')
FROM pg_logical_slot_peek_changes($1, $2::pg_lsn, NULL, 'include-xids', '0', 'skip-empty-xacts', '1')
WHERE data LIKE 'table %'`

// drainWatch records the tables the watch slot shows written, up to the
// source's WAL end now, then lets the slot forget those changes: the
// journal is saved first, so a kill in between decodes them again.
func (r *Run) drainWatch(ctx context.Context, src *pgx.Conn) error {
	w := r.j.Online.Watch
	var upto string
	if err := src.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&upto); err != nil {
		return err
	}
	rows, err := src.Query(ctx, watchedTables, watchSlot, upto)
	if err != nil {
		return fmt.Errorf("source: read the watch slot %s: %v", watchSlot, err)
	}
	lists, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("source: read the watch slot %s: %v", watchSlot, err)
	}
	changed := w.changedSet()
	for _, l := range lists {
		ts, ok := relationsIn(l)
		if !ok {
			w.All = true
			continue
		}
		for _, t := range ts {
			changed[t.String()] = true
		}
	}
	parents, err := inheritance(ctx, src)
	if err != nil {
		return err
	}
	for t := range changed {
		for p := parents[t]; p != ""; p = parents[p] {
			changed[p] = true
		}
	}
	w.Changed = model.SortedKeys(changed)
	if err := r.save(); err != nil {
		return err
	}
	if _, err := src.Exec(ctx, "SELECT pg_replication_slot_advance($1, $2::pg_lsn)", watchSlot, upto); err != nil {
		return fmt.Errorf("source: advance the watch slot %s: %v", watchSlot, err)
	}
	return nil
}

// relationsIn parses "a.b, "C"."d""e"" into its tables; false when the
// text is not such a list.
func relationsIn(list string) ([]Table, bool) {
	var out []Table
	ident := func(s string) (string, string, bool) {
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			for i := 1; i < len(s); i++ {
				if s[i] != '"' {
					b.WriteByte(s[i])
					continue
				}
				if i+1 < len(s) && s[i+1] == '"' {
					b.WriteByte('"')
					i++
					continue
				}
				return b.String(), s[i+1:], true
			}
			return "", "", false
		}
		n := strings.IndexAny(s, `".:, `)
		if n < 0 {
			n = len(s)
		}
		return s[:n], s[n:], n > 0
	}
	s := list
	for {
		schema, rest, ok := ident(s)
		if !ok || !strings.HasPrefix(rest, ".") {
			return nil, false
		}
		name, rest, ok := ident(rest[1:])
		if !ok {
			return nil, false
		}
		out = append(out, Table{Schema: schema, Name: name})
		if rest == "" {
			return out, true
		}
		if !strings.HasPrefix(rest, ", ") {
			return nil, false
		}
		s = rest[2:]
	}
}

// inheritance maps each table that inherits (a partition, a child table)
// to its parent.
func inheritance(ctx context.Context, c *pgx.Conn) (map[string]string, error) {
	rows, err := c.Query(ctx, `SELECT cn.nspname, c.relname, pn.nspname, p.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
		JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
		WHERE c.relkind IN ('r', 'p') ORDER BY i.inhseqno`)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for rows.Next() {
		var child, parent Table
		if err := rows.Scan(&child.Schema, &child.Name, &parent.Schema, &parent.Name); err != nil {
			return nil, err
		}
		if _, ok := m[child.String()]; !ok {
			m[child.String()] = parent.String()
		}
	}
	return m, rows.Err()
}

// targetWrites reads each target table's write counters and file (a
// TRUNCATE gives the table a new file without counting rows), having
// ended the target's other sessions so that they report their writes.
func targetWrites(ctx context.Context, d DB) (map[string]string, error) {
	c, err := connect(ctx, d)
	if err != nil {
		return nil, err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity a WHERE "+otherSessions); err != nil {
		return nil, fmt.Errorf("%s: end the target's sessions: %v", d, err)
	}
	// A session ended reports its counters on its way out.
	if err := waitGone(ctx, c); err != nil {
		return nil, err
	}
	rows, err := c.Query(ctx, `SELECT s.schemaname, s.relname, s.n_tup_ins || '/' || s.n_tup_upd || '/' || s.n_tup_del || '/' || coalesce(pg_relation_filenode(s.relid)::text, '-')
		FROM pg_stat_user_tables s`)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for rows.Next() {
		var t Table
		var sig string
		if err := rows.Scan(&t.Schema, &t.Name, &sig); err != nil {
			return nil, err
		}
		m[t.String()] = sig
	}
	return m, rows.Err()
}

// otherSessions are the target's client sessions nfx may end: not its own,
// and a superuser's only when nfx is one (on RDS the master user is not, and
// may not end the sessions of rdsadmin, RDS's own superuser; those write no
// user table). A role without pg_read_all_stats sees no backend_type of
// another role's session: such a session is a client's.
const otherSessions = `a.datname = current_database() AND a.pid <> pg_backend_pid()
	AND coalesce(a.backend_type, 'client backend') = 'client backend'
	AND coalesce(a.application_name, '') NOT LIKE 'nfx-migrate%'
	AND (NOT coalesce((SELECT rolsuper FROM pg_roles WHERE oid = a.usesysid), false) OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))`

// waitGone waits for the sessions ended to be gone.
func waitGone(ctx context.Context, c *pgx.Conn) error {
	for range 100 {
		var n int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity a WHERE "+otherSessions).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("the target's sessions did not end within 2 s of pg_terminate_backend")
}

// dropWatch removes the watch slot, if there is one.
func dropWatch(ctx context.Context, src *pgx.Conn) error {
	if _, err := src.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", watchSlot); err != nil {
		return fmt.Errorf("source: drop the watch slot %s: %v", watchSlot, err)
	}
	return nil
}

// recheck is what the verification after the freeze may take as known:
// the pre-verified sums of the tables the watch saw no write to, up to
// the source's WAL end now (the source is frozen). Nil, with the reason,
// when every table must be summed.
func (r *Run) recheck(ctx context.Context) (map[string]TableSum, string, error) {
	if r.Plan.Mode != model.MigrateOnline || r.j.Online == nil || r.j.Online.Watch == nil || r.readOnly {
		return nil, "", nil
	}
	w := r.j.Online.Watch
	if w.Off != "" {
		return nil, w.Off, nil
	}
	src, err := connect(ctx, *r.E.SourceDB)
	if err != nil {
		return nil, "", err
	}
	defer src.Close(ctx)
	var has bool
	if err := src.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)", watchSlot).Scan(&has); err != nil {
		return nil, "", err
	}
	if !has {
		return nil, "the watch slot " + watchSlot + " is gone from the source", nil
	}
	if err := r.drainWatch(ctx, src); err != nil {
		return nil, "", err
	}
	if w.All {
		return nil, "a change named a table nfx could not place", nil
	}
	// The target's own writes: its sessions (nfx's excepted) are ended
	// first, which makes each report its counters (a session reports
	// them at most once a second, and when it ends).
	now, err := targetWrites(ctx, *r.E.TargetDB)
	if err != nil {
		return nil, "", err
	}
	changed := w.changedSet()
	for t, c := range now {
		if w.Target[t] != c {
			changed[t] = true
		}
	}
	known := make(map[string]TableSum, len(w.Sums))
	for t, s := range w.Sums {
		if !changed[t] {
			known[t] = s
		}
	}
	return known, "", nil
}

// endWatch drops the watch slot once the verification has read it.
func (r *Run) endWatch(ctx context.Context) error {
	if r.j.Online == nil || r.j.Online.Watch == nil || r.j.Online.Watch.Off != "" {
		return nil
	}
	src, err := connect(ctx, *r.E.SourceDB)
	if err != nil {
		return err
	}
	defer src.Close(ctx)
	return dropWatch(ctx, src)
}
