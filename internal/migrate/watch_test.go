package migrate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// The relation lists test_decoding writes (quote_ident's quoting, a
// TRUNCATE's list), and what is not one.
func TestRelationsIn(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Table
	}{
		{`public.a`, []Table{{"public", "a"}}},
		{`public.a, "My S"."odd: INSERT:, x"`, []Table{{"public", "a"}, {"My S", "odd: INSERT:, x"}}},
		{`"we""ird"."q"""`, []Table{{`we"ird`, `q"`}}},
		{`"we""ird"."q""", "x"`, nil},
		{`"a"."b"`, []Table{{"a", "b"}}},
		{`public.`, nil},
		{`public`, nil},
		{`"unterminated.b`, nil},
		{`public.a,public.b`, nil},
		{`public.a; DROP TABLE x`, nil},
		{``, nil},
		{`?`, nil},
	} {
		got, ok := relationsIn(tc.in)
		if ok != (tc.want != nil) || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %v %v, want %v", tc.in, got, ok, tc.want)
		}
	}
}

const watchSeed = `
CREATE TABLE quiet (id int PRIMARY KEY, v text);
CREATE TABLE busy (id bigserial PRIMARY KEY, v text);
CREATE TABLE events (id int, k int, PRIMARY KEY (id, k)) PARTITION BY RANGE (k);
CREATE TABLE events_a PARTITION OF events FOR VALUES FROM (0) TO (10);
CREATE TABLE events_b PARTITION OF events FOR VALUES FROM (10) TO (20);
CREATE SCHEMA "My S";
CREATE TABLE "My S"."odd: INSERT:, x" (id int PRIMARY KEY);
INSERT INTO quiet SELECT g, md5(g::text) FROM generate_series(1, 3000) g;
INSERT INTO busy (v) SELECT md5(g::text) FROM generate_series(1, 3000) g;
INSERT INTO events SELECT g, g % 20 FROM generate_series(1, 2000) g;
INSERT INTO "My S"."odd: INSERT:, x" SELECT generate_series(1, 10);`

// watchedRun starts a source holding watchSeed and an empty target, and
// an online migration between them; targetArgs start the target.
func watchedRun(t *testing.T, targetArgs ...string) (src, dst *testutil.Postgres, r *Run) {
	src = testutil.StartPostgres(t, "-c wal_level=logical")
	dst = testutil.StartPostgres(t, targetArgs...)
	src.Exec(t, "nextflow", watchSeed)
	plan, err := NewPlan(load(t, "laptop", map[string]string{"migration": `{"mode": "online"}`, "redis": `{"data": "cache"}`}), load(t, "server", nil))
	if err != nil {
		t.Fatal(err)
	}
	r = &Run{Plan: plan, Dir: filepath.Join(t.TempDir(), "j"), E: Endpoints{SourceDB: testDB("source", src, "nextflow"), TargetDB: testDB("target", dst, "nextflow"), Cutover: "true"},
		Jobs: 2, MaxFreeze: time.Minute}
	return src, dst, r
}

// Online mode verifies every table while replication runs and, with the
// source frozen, sums again only the tables written since: on the source
// (the watch slot: a table, a partition and its parent, a quoted name)
// or on the target alone (its counters, a TRUNCATE's new file). A table
// the target changed stops the cutover; one that differs before the
// freeze stops the migration with the source still writable.
func TestOnlineVerifiesBeforeTheFreeze(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// window runs after the pre-verification, before the freeze;
		// before runs before it.
		window, before func(t *testing.T, src, dst *testutil.Postgres)
		// subscribe runs as the replication starts.
		subscribe func(t *testing.T, src, dst *testutil.Postgres)
		rechecked int
		want      string
	}{
		{name: "no writes", rechecked: 0},
		{name: "source writes", rechecked: 4, window: func(t *testing.T, src, dst *testutil.Postgres) {
			src.Exec(t, "nextflow", `INSERT INTO busy (v) VALUES ('new'); INSERT INTO events VALUES (5000, 3); INSERT INTO "My S"."odd: INSERT:, x" VALUES (99)`)
		}},
		{name: "a target write, its session left open", want: "table public.quiet: 3000 rows on the source, 3001 on the target", window: func(t *testing.T, src, dst *testutil.Postgres) {
			c := dst.Conn(t, "nextflow")
			if _, err := c.Exec(ctx, "INSERT INTO quiet VALUES (-1, 'stray')"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a target TRUNCATE", want: "table public.quiet: 3000 rows on the source, 0 on the target", window: func(t *testing.T, src, dst *testutil.Postgres) {
			dst.Exec(t, "nextflow", "TRUNCATE quiet")
		}},
		{name: "a session's temporary table on the source", rechecked: 0, subscribe: func(t *testing.T, src, dst *testutil.Postgres) {
			c := src.Conn(t, "nextflow")
			if _, err := c.Exec(ctx, "CREATE TEMP TABLE scratch (v int); INSERT INTO scratch VALUES (1)"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a difference before the freeze", want: "tables that took no writes since replication caught up differ", before: func(t *testing.T, src, dst *testutil.Postgres) {
			dst.Exec(t, "nextflow", "UPDATE quiet SET v = 'x' WHERE id = 7")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst, r := watchedRun(t)
			defer func() { stepHook = func(string) {} }()
			stepHook = func(id string) {
				switch {
				case id == "postgres.subscribe" && tc.subscribe != nil:
					tc.subscribe(t, src, dst)
				case id == "postgres.preverify" && tc.before != nil:
					tc.before(t, src, dst)
				case id == "freeze" && tc.window != nil:
					tc.window(t, src, dst)
				}
			}
			j, err := r.Execute(ctx)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want %q", err, tc.want)
				}
				if tc.before == nil {
					readOnlyVerify(t, r, src, dst)
				}
				frozen, _ := Frozen(ctx, *r.E.SourceDB)
				if before := tc.before != nil; frozen == before {
					t.Errorf("the source frozen: %v; a difference found before the freeze must leave it writable, one after it frozen", frozen)
				}
				if _, err := r.Rollback(ctx, false); err != nil {
					t.Fatal(err)
				}
				if n := src.Query(t, "nextflow", "SELECT count(*) FROM pg_replication_slots"); n != "0" {
					t.Errorf("%s replication slots left on the source after the rollback", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v := j.Verification
			if !v.OK || v.Full != "" || v.Rechecked != tc.rechecked || len(v.Tables) != 6 {
				t.Fatalf("verification: ok %v, full %q, %d of %d tables summed frozen, want %d", v.OK, v.Full, v.Rechecked, len(v.Tables), tc.rechecked)
			}
			if tc.window != nil {
				got := strings.Join(j.Online.Watch.Changed, " ")
				if want := "My S.odd: INSERT:, x public.busy public.events public.events_a"; got != want {
					t.Errorf("the watch saw %q, want %q", got, want)
				}
			}
			if n := src.Query(t, "nextflow", "SELECT count(*) FROM pg_replication_slots"); n != "0" {
				t.Errorf("%s replication slots left on the source", n)
			}
			full, err := TakeSnapshot(ctx, *r.E.TargetDB)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(full.Tables, v.Tables) {
				t.Errorf("the verification's sums are not the target's:\n%v\n%v", v.Tables, full.Tables)
			}
		})
	}
}

// readOnlyVerify runs nfx migrate verify on a migration stopped at its
// verification, the watch slot still there: it sums every table and
// touches nothing of the migration's (the journal, the slot's position,
// the target's sessions).
func readOnlyVerify(t *testing.T, r *Run, src, dst *testutil.Postgres) {
	t.Helper()
	ctx := context.Background()
	slot := func() string {
		return src.Query(t, "nextflow", "SELECT coalesce((SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '"+watchSlot+"'), 'none')")
	}
	journal, _ := os.ReadFile(JournalPath(r.Dir))
	was := slot()
	src.Exec(t, "nextflow", "SELECT pg_switch_wal()")
	session := dst.Conn(t, "nextflow")
	v, err := r.Verify(ctx)
	if err == nil || v.Rechecked != 0 || len(v.Tables) != 6 {
		t.Errorf("nfx migrate verify: %v, %d of %d tables summed by the re-check", err, v.Rechecked, len(v.Tables))
	}
	if now := slot(); now != was || was == "none" {
		t.Errorf("nfx migrate verify moved the watch slot from %s to %s", was, now)
	}
	if after, _ := os.ReadFile(JournalPath(r.Dir)); string(after) != string(journal) {
		t.Error("nfx migrate verify changed the journal")
	}
	if err := session.Ping(ctx); err != nil {
		t.Errorf("nfx migrate verify ended a target session: %v", err)
	}
}

// A watch slot that is gone by the verification leaves every table to be
// summed, and says so.
func TestOnlineVerifiesAllWithoutTheWatch(t *testing.T) {
	ctx := context.Background()
	src, _, r := watchedRun(t)
	defer func() { stepHook = func(string) {} }()
	stepHook = func(id string) {
		if id == "verify" {
			src.Exec(t, "nextflow", "SELECT pg_drop_replication_slot('"+watchSlot+"')")
		}
	}
	j, err := r.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v := j.Verification; !v.OK || !strings.Contains(v.Full, "gone") || v.Rechecked != 0 {
		t.Fatalf("verification: %+v", v)
	}
}

// As RDS's master user (a member of rds_superuser, no superuser) nfx ends
// the target's other sessions but a superuser's (rdsadmin's, on RDS),
// which it may not: reading the target's counters does not fail on them.
func TestTargetWritesAsAnRDSMasterUser(t *testing.T) {
	ctx := context.Background()
	p := testutil.StartPostgres(t)
	p.Exec(t, "postgres", "CREATE ROLE rds_superuser; CREATE ROLE master LOGIN PASSWORD 'Master-pw-1' IN ROLE rds_superuser, pg_signal_backend; CREATE ROLE app LOGIN PASSWORD 'App-pw-1'")
	p.Exec(t, "postgres", "CREATE DATABASE crm OWNER master")
	admin, err := pgx.Connect(ctx, fmt.Sprintf("postgres://nextflow:%s@127.0.0.1:%d/crm?sslmode=disable", p.Password, p.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	app, err := pgx.Connect(ctx, fmt.Sprintf("postgres://app:App-pw-1@127.0.0.1:%d/crm?sslmode=disable", p.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)
	if _, err := targetWrites(ctx, DB{Name: "target", Host: "127.0.0.1", Port: p.Port, User: "master", Password: "Master-pw-1", Database: "crm", SSLMode: "disable"}); err != nil {
		t.Fatalf("as the master user: %v", err)
	}
	if err := admin.Ping(ctx); err != nil {
		t.Errorf("the superuser's session was ended: %v", err)
	}
	if err := app.Ping(ctx); err == nil {
		t.Error("the application's session was not ended: its counters may not be reported")
	}
}

// A table written during the window whose key is one integer column is
// summed again, with the source frozen, only in the key ranges its
// changes touched, where the target's own watch shows what the target
// alone wrote; whatever a change cannot narrow is summed whole, and a
// difference anywhere in the table is still found.
func TestOnlineNarrowsWrittenTablesToTheirKeyRanges(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name          string
		logicalTarget bool
		window        func(t *testing.T, src, dst *testutil.Postgres)
		// summed runs once the written ranges are summed, before the
		// target's watch is read again.
		summed    func(t *testing.T, src, dst *testutil.Postgres)
		rechecked int
		ranged    int
		// touched bounds the ranges the changes named; want is an error.
		touched int
		want    string
	}{
		{name: "appends", logicalTarget: true, ranged: 1, touched: 7, window: func(t *testing.T, src, dst *testutil.Postgres) {
			src.Exec(t, "nextflow", "INSERT INTO busy (v) SELECT 'new ' || g FROM generate_series(1, 100) g")
		}},
		{name: "updates and deletes in two ranges, a key moved out of every range", logicalTarget: true, ranged: 1, touched: 3, window: func(t *testing.T, src, dst *testutil.Postgres) {
			src.Exec(t, "nextflow", "UPDATE busy SET v = 'changed' WHERE id = 7; DELETE FROM busy WHERE id = 1500; UPDATE busy SET id = -5 WHERE id = 8")
		}},
		{name: "a TRUNCATE on the source", logicalTarget: true, rechecked: 1, window: func(t *testing.T, src, dst *testutil.Postgres) {
			src.Exec(t, "nextflow", "TRUNCATE busy")
		}},
		{name: "the target alone writes an untouched range of a written table", logicalTarget: true, want: "public.busy", window: func(t *testing.T, src, dst *testutil.Postgres) {
			src.Exec(t, "nextflow", "INSERT INTO busy (v) VALUES ('new')")
			dst.Exec(t, "nextflow", "UPDATE busy SET v = 'stray' WHERE id = 20")
		}},
		{name: "a target without logical WAL", rechecked: 1, window: func(t *testing.T, src, dst *testutil.Postgres) {
			src.Exec(t, "nextflow", "INSERT INTO busy (v) VALUES ('new')")
		}},
		{name: "the target alone writes while the ranges are summed", logicalTarget: true, want: "public.busy", window: func(t *testing.T, src, dst *testutil.Postgres) {
			src.Exec(t, "nextflow", "INSERT INTO busy (v) VALUES ('new')")
		}, summed: func(t *testing.T, src, dst *testutil.Postgres) {
			dst.Exec(t, "nextflow", "UPDATE busy SET v = 'late' WHERE id = 20")
		}},
		{name: "a target trigger that fires on replicated changes", logicalTarget: true, rechecked: 1, window: func(t *testing.T, src, dst *testutil.Postgres) {
			dst.Exec(t, "nextflow", `CREATE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER keep BEFORE INSERT ON quiet FOR EACH ROW EXECUTE FUNCTION keep();
ALTER TABLE quiet ENABLE ALWAYS TRIGGER keep`)
			src.Exec(t, "nextflow", "INSERT INTO busy (v) VALUES ('new')")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			if tc.logicalTarget {
				args = []string{"-c wal_level=logical"}
			}
			src, dst, r := watchedRun(t, args...)
			defer func() { stepHook = func(string) {} }()
			stepHook = func(id string) {
				if id == "freeze" {
					tc.window(t, src, dst)
				}
			}
			defer func() { rangesSummedHook = func() {} }()
			rangesSummedHook = func() {
				if tc.summed != nil {
					tc.summed(t, src, dst)
				}
			}
			j, err := r.Execute(ctx)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want an error naming %q", err, tc.want)
				}
				if _, err := r.Rollback(ctx, false); err != nil {
					t.Fatal(err)
				}
				if n := dst.Query(t, "nextflow", "SELECT count(*) FROM pg_replication_slots"); n != "0" {
					t.Errorf("%s replication slots left on the target after the rollback", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v, w := j.Verification, j.Online.Watch
			if !v.OK || v.Full != "" || v.Rechecked != tc.rechecked || v.RangeChecked != tc.ranged {
				t.Fatalf("verification: ok %v, full %q, %d tables summed whole and %d by range, want %d and %d (local watch %v %q)",
					v.OK, v.Full, v.Rechecked, v.RangeChecked, tc.rechecked, tc.ranged, w.Local, w.LocalOff)
			}
			if k := w.Ranges["public.busy"]; tc.ranged > 0 && (k == nil || len(k.Touched) == 0 || len(k.Touched) > tc.touched) {
				t.Errorf("busy's touched ranges: %+v, want 1 to %d", k, tc.touched)
			}
			if tc.logicalTarget != (w.LocalOff == "") {
				t.Errorf("the target's watch: local %v, off %q", w.Local, w.LocalOff)
			}
			for _, p := range []*testutil.Postgres{src, dst} {
				if n := p.Query(t, "nextflow", "SELECT count(*) FROM pg_replication_slots"); n != "0" {
					t.Errorf("%s replication slots left", n)
				}
			}
			full, err := TakeSnapshot(ctx, *r.E.TargetDB)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(full.Tables, v.Tables) {
				t.Errorf("the verification's sums are not the target's:\n%v\n%v", v.Tables, full.Tables)
			}
		})
	}
}

// Key ranges as the journal keeps them: a tampered column or bound is
// never written into SQL, and the rest of a table outside its untouched
// ranges covers every key they do not.
func TestKeyRangesRest(t *testing.T) {
	k := &KeyRanges{Schema: "public", Name: "t", Column: "id", Prefix: "table public.t: ", Lo: "10", Width: "5"}
	if !k.valid() {
		t.Fatal("nfx's own ranges are not valid")
	}
	for _, bad := range []KeyRanges{
		{Column: "id; DROP TABLE t", Prefix: "table x: ", Lo: "1", Width: "1"},
		{Column: `"Id"`, Prefix: "table x: ", Lo: "1", Width: "1"},
		{Column: "id", Prefix: "table x: ", Lo: "1) OR (true", Width: "1"},
		{Column: "id", Prefix: "table x: ", Lo: "1", Width: "0"},
		{Column: "id", Prefix: "table x: ", Lo: "1", Width: "-3"},
		{Column: "id", Prefix: "table x: ", Lo: "", Width: "1"},
	} {
		if bad.valid() {
			t.Errorf("%+v is valid", bad)
		}
	}
	k.Touched, k.Differ = []int{0, 1, 7}, []int{255}
	got := k.rest(k.untouched())
	want := "(t.id >= 10 AND t.id < 20) OR (t.id >= 45 AND t.id < 50) OR (t.id >= 1285 AND t.id < 1290)"
	if got != want {
		t.Errorf("rest:\n got %s\nwant %s", got, want)
	}
	k.Touched = append(k.Touched, outside)
	if got := k.rest(k.untouched()); !strings.HasSuffix(got, "OR t.id < 10 OR t.id >= 1290") {
		t.Errorf("rest with the outside range touched: %s", got)
	}
	k.Touched, k.Differ = nil, nil
	if got := k.rest(k.untouched()); got != "false" {
		t.Errorf("rest with nothing touched: %s", got)
	}
	for i := outside; i < rangeCount; i++ {
		k.Touched = append(k.Touched, i)
	}
	if got := k.rest(k.untouched()); got != "" {
		t.Errorf("rest with everything touched: %q, want none (the table is summed whole)", got)
	}
}

// On a real server: a table's key ranges add up to its sum, in the
// numeric form (keys at bigint's ends) and the bigint one, and the rows
// outside any set of untouched ranges are exactly the rest.
func TestKeyRangesOnPostgres(t *testing.T) {
	ctx := context.Background()
	p := testutil.StartPostgres(t)
	p.Exec(t, "nextflow", `CREATE TABLE wide (id bigint PRIMARY KEY, v text);
INSERT INTO wide VALUES (-9223372036854775808, 'min'), (9223372036854775807, 'max'), (0, 'zero'), (5, 'five'), (-77, 'neg');
INSERT INTO wide SELECT g * 1000003, md5(g::text) FROM generate_series(1, 2000) g;
CREATE TABLE narrow (id int PRIMARY KEY, v text);
INSERT INTO narrow SELECT g, md5(g::text) FROM generate_series(-500, 4000) g;`)
	c := p.Conn(t, "nextflow")
	d := *testDB("source", p, "nextflow")
	ranges, err := keyedTables(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"wide", "narrow"} {
		k := ranges["public."+name]
		if k == nil {
			t.Fatalf("%s has no key ranges: %v", name, ranges)
		}
		tab := Table{"public", name}
		whole, err := sumTable(ctx, c, d, tab)
		if err != nil {
			t.Fatal(err)
		}
		by, err := sumRanges(ctx, c, d, tab, k)
		if err != nil {
			t.Fatal(err)
		}
		var all []TableSum
		for _, s := range by {
			all = append(all, s)
		}
		if sum, ok := addSums(all...); !ok || sum != whole {
			t.Errorf("%s: the ranges add up to %v, the table sums to %v", name, sum, whole)
		}
		// Touch every third range and the outside one: the untouched ranges'
		// sums and the rest add up to the whole again.
		k.Known = by
		for i := outside; i < rangeCount; i += 3 {
			k.Touched = append(k.Touched, i)
		}
		untouched := k.untouched()
		var parts []TableSum
		for _, i := range untouched {
			if s, ok := by[i]; ok {
				parts = append(parts, s)
			}
		}
		rest, err := sumRest(ctx, c, d, tab, k.rest(untouched))
		if err != nil {
			t.Fatal(err)
		}
		if sum, ok := addSums(append(parts, rest)...); !ok || sum != whole {
			t.Errorf("%s: untouched %v and the rest %v add up to %v, the table sums to %v", name, parts, rest, sum, whole)
		}
	}
}
