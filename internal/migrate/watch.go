package migrate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
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

// localSlot is the target's own watch: a logical slot whose changes,
// decoded with test_decoding's only-local, are the target's writes that
// did not come from the replication (an application on the target stack,
// a person). It is what lets a written table be narrowed to its touched
// key ranges (ranges.go); without it (the target's wal_level is not
// logical) a written table is summed whole after the freeze.
const localSlot = "nfx_migrate_local"

// rangesSummedHook runs once the written key ranges are summed (tests).
var rangesSummedHook = func() {}

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
	// Ranges are the tables summed by key range (ranges.go): a written one
	// is summed again after the freeze only where changes touched it.
	Ranges map[string]*KeyRanges `json:"ranges,omitempty"`
	// Sides is how many databases the sums were taken on: the source, the
	// target, and the target's replica when it was given; a side not
	// summed before the freeze is summed whole after it.
	Sides int `json:"sides,omitempty"`
	// Local says the target's own watch (localSlot) runs; LocalOff why not.
	Local    bool   `json:"local,omitempty"`
	LocalOff string `json:"localOff,omitempty"`
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
	// An earlier attempt's target watch goes first, whatever this one does.
	if err := r.endLocalWatch(ctx); err != nil {
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
	if w.Ranges, err = keyedTables(ctx, src); err != nil {
		return "", false, err
	}
	if len(w.Ranges) > 0 {
		if err := r.startLocalWatch(ctx, w); err != nil {
			return "", false, err
		}
	}
	w.Sides = len(dbs)
	snaps, errs := snapshots(ctx, dbs, nil, w.Ranges)
	if err := errors.Join(errs...); err != nil {
		return "", false, err
	}
	w.knownRanges(snaps)
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

// snapshots sums every database at once, the ith but the tables in
// known[i] (known may be nil), those in ranges by key range; errs[i] is
// the ith database's error.
func snapshots(ctx context.Context, dbs []*DB, known []map[string]TableSum, ranges map[string]*KeyRanges) ([]*Snapshot, []error) {
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
			var k map[string]TableSum
			if known != nil {
				k = known[i]
			}
			snaps[i], errs[i] = takeSnapshot(ctx, *d, k, ranges)
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
FROM pg_logical_slot_peek_changes($1, $2::pg_lsn, NULL, VARIADIC $3::text[])
WHERE data LIKE 'table %'`

// watchOptions are test_decoding's options for both watches; the
// target's adds only-local (localWrites).
var watchOptions = []string{"include-xids", "0", "skip-empty-xacts", "1"}

// drainWatch records the tables the watch slot shows written, up to the
// source's WAL end now, then lets the slot forget those changes: the
// journal is saved first, so a kill in between decodes them again.
func (r *Run) drainWatch(ctx context.Context, src *pgx.Conn) error {
	w := r.j.Online.Watch
	upto, err := flushedEnd(ctx, src)
	if err != nil {
		return fmt.Errorf("source: %v", err)
	}
	rows, err := src.Query(ctx, watchedTables, watchSlot, upto, watchOptions)
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
	if err := w.touchedRanges(ctx, src, upto); err != nil {
		return err
	}
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

// recheck is what the verification after the freeze may take as known,
// for each of dbs: the pre-verified sums of the tables the watch saw no
// write to, up to the source's WAL end now (the source is frozen), and,
// for a written table summed by key range, its untouched ranges' sums and
// the rest summed now on that side (ranged counts those). Nil, with the
// reason, when every table must be summed.
func (r *Run) recheck(ctx context.Context, dbs []*DB) (known []map[string]TableSum, ranged int, full string, err error) {
	if r.Plan.Mode != model.MigrateOnline || r.j.Online == nil || r.j.Online.Watch == nil || r.readOnly {
		return nil, 0, "", nil
	}
	w := r.j.Online.Watch
	if w.Off != "" {
		return nil, 0, w.Off, nil
	}
	src, err := connect(ctx, *r.E.SourceDB)
	if err != nil {
		return nil, 0, "", err
	}
	defer src.Close(ctx)
	var has bool
	if err := src.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)", watchSlot).Scan(&has); err != nil {
		return nil, 0, "", err
	}
	if !has {
		return nil, 0, "the watch slot " + watchSlot + " is gone from the source", nil
	}
	if err := r.drainWatch(ctx, src); err != nil {
		return nil, 0, "", err
	}
	if w.All {
		return nil, 0, "a change named a table nfx could not place", nil
	}
	// The target's own writes: its sessions (nfx's excepted) are ended
	// first, which makes each report its counters (a session reports
	// them at most once a second, and when it ends).
	now, err := targetWrites(ctx, *r.E.TargetDB)
	if err != nil {
		return nil, 0, "", err
	}
	changed := w.changedSet()
	for t, c := range now {
		if w.Target[t] != c {
			changed[t] = true
		}
	}
	// A written table is narrowed only when the target's own watch shows
	// what the target alone wrote: its counters cannot tell those writes
	// from the replication's.
	local, err := r.localWrites(ctx, w)
	if err != nil {
		return nil, 0, "", err
	}
	for t := range local {
		changed[t] = true
	}
	if err := w.recheckKeys(ctx, src); err != nil {
		return nil, 0, "", err
	}
	shared := make(map[string]TableSum, len(w.Sums))
	for t, s := range w.Sums {
		if !changed[t] {
			shared[t] = s
		}
	}
	known = make([]map[string]TableSum, len(dbs))
	for i := range dbs {
		if i < w.Sides || w.Sides == 0 && i < 2 {
			known[i] = maps.Clone(shared)
		}
	}
	// The written tables summed by key range: on each side at once, the
	// rows outside their untouched ranges.
	type narrowed struct {
		t    Table
		cond string
		base TableSum
	}
	var list []narrowed
	for _, name := range model.SortedKeys(w.Ranges) {
		k := w.Ranges[name]
		if !changed[name] || local == nil || local[name] || k.Whole || !k.valid() {
			continue
		}
		untouched := k.untouched()
		var parts []TableSum
		for _, i := range untouched {
			if s, ok := k.Known[i]; ok {
				parts = append(parts, s)
			}
		}
		base, ok := addSums(parts...)
		cond := k.rest(untouched)
		if !ok || cond == "" {
			continue
		}
		list = append(list, narrowed{t: Table{Schema: k.Schema, Name: k.Name}, cond: cond, base: base})
	}
	if len(list) == 0 {
		return known, 0, "", nil
	}
	errs := make([]error, len(dbs))
	var wg sync.WaitGroup
	for i, d := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := pgx.Connect(ctx, d.url())
			if err != nil {
				errs[i] = fmt.Errorf("%s database %s: %s", d.Name, d, scrub(err.Error(), d.Password))
				return
			}
			defer c.Close(ctx)
			for _, n := range list {
				rest, err := sumRest(ctx, c, *d, n.t, n.cond)
				if err != nil {
					errs[i] = err
					return
				}
				if total, ok := addSums(n.base, rest); ok && known[i] != nil {
					known[i][n.t.String()] = total
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, 0, "", err
	}
	rangesSummedHook()
	// A write the target alone made while the ranges were summed would not
	// be read: a narrowed table its watch names now is summed whole.
	again, err := r.localWrites(ctx, w)
	if err != nil {
		return nil, 0, "", err
	}
	ranged = len(list)
	for _, n := range list {
		if again == nil || again[n.t.String()] {
			for i := range known {
				delete(known[i], n.t.String())
			}
			ranged--
		}
	}
	return known, ranged, "", nil
}

// startLocalWatch creates the target's own watch (onlinePreverify has
// dropped one an earlier attempt left); a target that cannot keep it is
// recorded, not an error.
func (r *Run) startLocalWatch(ctx context.Context, w *WatchState) error {
	dst, err := connect(ctx, *r.E.TargetDB)
	if err != nil {
		return err
	}
	defer dst.Close(ctx)
	if _, err := dst.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'test_decoding')", localSlot); err != nil {
		w.LocalOff = "the target cannot keep a logical slot with test_decoding (" + scrub(err.Error(), r.E.TargetDB.Password) + ")"
		r.logf("      %s: a written table is summed whole after the freeze", w.LocalOff)
		return nil
	}
	w.Local = true
	return r.save()
}

// localWrites are the tables the target alone wrote since its watch
// began (a TRUNCATE's list included), or nil when there is no such watch.
func (r *Run) localWrites(ctx context.Context, w *WatchState) (map[string]bool, error) {
	if !w.Local {
		return nil, nil
	}
	dst, err := connect(ctx, *r.E.TargetDB)
	if err != nil {
		return nil, err
	}
	defer dst.Close(ctx)
	// only-local leaves out every change that carries a replication
	// origin: the subscription's, but also another subscription's, or a
	// trigger's that fires as the subscription applies. Narrowing needs
	// the subscription's origin to be the only one, and no such trigger.
	var others int
	if err := dst.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_replication_origin o WHERE o.roname NOT IN (SELECT 'pg_' || s.oid FROM pg_subscription s WHERE s.subname = $1))
		+ (SELECT count(*) FROM pg_trigger g WHERE NOT g.tgisinternal AND g.tgenabled IN ('A', 'R'))`, replicationName).Scan(&others); err != nil {
		return nil, fmt.Errorf("target: its replication origins and triggers: %v", err)
	}
	if others > 0 {
		r.logf("      the target has another replication origin, or a trigger that fires on replicated changes: written tables are summed whole")
		return nil, nil
	}
	upto, err := flushedEnd(ctx, dst)
	if err != nil {
		return nil, fmt.Errorf("target: %v", err)
	}
	rows, err := dst.Query(ctx, watchedTables, localSlot, upto, append(slices.Clone(watchOptions), "only-local", "1"))
	if err != nil {
		// The slot is gone or unreadable: nothing is narrowed.
		r.logf("      the target's watch %s: %s: written tables are summed whole", localSlot, scrub(err.Error(), r.E.TargetDB.Password))
		return nil, nil
	}
	lists, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		r.logf("      the target's watch %s: %s: written tables are summed whole", localSlot, scrub(err.Error(), r.E.TargetDB.Password))
		return nil, nil
	}
	out := map[string]bool{}
	for _, l := range lists {
		ts, ok := relationsIn(l)
		if !ok {
			return nil, nil
		}
		for _, t := range ts {
			out[t.String()] = true
		}
	}
	return out, nil
}

// dropSlot drops a replication slot of c's server, if there is one.
func dropSlot(ctx context.Context, c *pgx.Conn, slot string) error {
	var err error
	for range 50 {
		// A killed run's backend may still be decoding from it.
		_, _ = c.Exec(ctx, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active", slot)
		if _, err = c.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", slot); err == nil {
			return nil
		}
		if serr := sleep(ctx, 100*time.Millisecond); serr != nil {
			return serr
		}
	}
	return fmt.Errorf("drop the slot %s: %v", slot, err)
}

// flushedEnd is the server's WAL end once it is flushed: every change
// committed before the call can then be decoded up to it (a slot decodes
// only flushed WAL, and asynchronous commits flush later).
func flushedEnd(ctx context.Context, c *pgx.Conn) (string, error) {
	var end string
	if err := c.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&end); err != nil {
		return "", err
	}
	// The WAL writer flushes within three of its delays (at most 10 s each).
	for range 3500 {
		var done bool
		if err := c.QueryRow(ctx, "SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn", end).Scan(&done); err != nil {
			return "", err
		}
		if done {
			return end, nil
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("its WAL was not flushed to %s within 35 s", end)
}

// endLocalWatch drops the target's own watch, if there is one.
func (r *Run) endLocalWatch(ctx context.Context) error {
	dst, err := connect(ctx, *r.E.TargetDB)
	if err != nil {
		return err
	}
	defer dst.Close(ctx)
	if err := dropSlot(ctx, dst, localSlot); err != nil {
		return fmt.Errorf("target: %v", err)
	}
	return nil
}

// endWatch drops the watch slot once the verification has read it.
func (r *Run) endWatch(ctx context.Context) error {
	if r.j.Online == nil || r.j.Online.Watch == nil {
		return nil
	}
	if err := r.endLocalWatch(ctx); err != nil {
		return err
	}
	if r.j.Online.Watch.Off != "" {
		return nil
	}
	src, err := connect(ctx, *r.E.SourceDB)
	if err != nil {
		return err
	}
	defer src.Close(ctx)
	return dropWatch(ctx, src)
}
