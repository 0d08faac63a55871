package migrate

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// The checksum sees what a copy can get wrong (a row changed, lost,
// doubled or swapped for another; a value's text, which equality or a
// type's hash may ignore) and not what it may change (the rows' order, an
// enum's OID, a session's or a database's settings).
func TestSumSeesContentNotOrder(t *testing.T) {
	ctx := context.Background()
	p := testutil.StartPostgres(t)
	const types = `CREATE TYPE mood AS ENUM ('calm', 'busy');
CREATE TYPE addr AS (city text, zip int);
CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);`
	cols := "id, v, j, n, i, m, a, c, js, ts, b, ci, f, tsa, fa"
	const base = `CREATE TABLE base (id int, v text, j jsonb, n numeric, i interval, m mood, a int[], c addr, js json, ts timestamptz, b bytea, ci text COLLATE ci,
  f float8, tsa timestamptz[], fa float8[]);
INSERT INTO base SELECT g, md5(g::text),
  CASE g WHEN 9 THEN '{}' WHEN 10 THEN '[[1], 2]' WHEN 11 THEN '{"p": 1.5}' ELSE jsonb_build_object('g', g) END,
  g / 4.0, make_interval(days => g % 3), (ARRAY['calm', 'busy'])[1 + g % 2]::mood,
  ARRAY[g, g + 1], ROW('c' || g, g)::addr, json_build_object('g', g), '2026-01-01'::timestamptz + g * interval '1 minute', decode(md5(g::text), 'hex'), 'Name' || g,
  CASE WHEN g = 7 THEN 0 ELSE g / 3.0 END, ARRAY['2026-01-01'::timestamptz + g * interval '1 hour'], ARRAY[g / 3.0]
  FROM generate_series(1, 500) g;`
	// ICU's collations need an encoding such as UTF8.
	p.Exec(t, "postgres", "CREATE DATABASE sums ENCODING 'UTF8' LOCALE 'C' TEMPLATE template0")
	p.Exec(t, "postgres", "CREATE DATABASE other ENCODING 'UTF8' LOCALE 'C' TEMPLATE template0")
	p.Exec(t, "sums", types+base)
	// As nfx connects: its session settings.
	d := *testDB("x", p, "sums")
	c, err := pgx.Connect(ctx, d.url())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	sum := func(setup string) TableSum {
		t.Helper()
		p.Exec(t, "sums", "DROP TABLE IF EXISTS v; CREATE TABLE v AS "+setup)
		s, err := sumTable(ctx, c, d, Table{"public", "v"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// with is base with column col given by expr.
	with := func(col, expr string) string {
		list := strings.Split(cols, ", ")
		for i, name := range list {
			if name == col {
				list[i] = expr + " AS " + col
			}
		}
		return "SELECT " + strings.Join(list, ", ") + " FROM base"
	}
	want := sum("SELECT * FROM base ORDER BY id")
	if !strings.HasPrefix(want.Sum, "h:") || want.Rows != 500 {
		t.Fatalf("sum %+v", want)
	}
	if got := sum("SELECT * FROM base ORDER BY id DESC"); got != want {
		t.Errorf("the rows' order changed the sum: %+v, want %+v", got, want)
	}
	swap := func(col string) string {
		return with(col, "CASE WHEN id = 7 THEN (SELECT "+col+" FROM base WHERE id = 8) WHEN id = 8 THEN (SELECT "+col+" FROM base WHERE id = 7) ELSE "+col+" END")
	}
	at := func(id int, col, value string) string {
		return with(col, fmt.Sprintf("CASE WHEN id = %d THEN %s ELSE %s END", id, value, col))
	}
	for name, setup := range map[string]string{
		"a value changed":   at(7, "v", "'x'"),
		"a row lost":        "SELECT * FROM base WHERE id <> 7",
		"a row doubled":     "SELECT * FROM base UNION ALL SELECT * FROM base WHERE id = 7",
		"a row for another": "SELECT * FROM base WHERE id <> 8 UNION ALL SELECT * FROM base WHERE id = 7",
		"a null for a ''":   at(7, "v", "NULL"),
		// Hashes of 0: a seed of 0 made a NULL, a float's 0 and an empty
		// jsonb hash alike.
		"a null for a float's 0":     at(7, "f", "NULL"),
		"a null for an empty jsonb":  at(9, "j", "NULL"),
		"two values swapped":         swap("v"),
		"enums swapped":              swap("m"),
		"jsonbs swapped":             swap("j"),
		"floats swapped":             swap("f"),
		"a numeric's scale":          at(8, "n", "2.00"),
		"an interval's form":         at(4, "i", "interval '24 hours'"),
		"a case, ignored":            at(7, "ci", "'NAME7' COLLATE ci"),
		"a json's spacing":           at(7, "js", `'{"g":7}'::json`),
		"a jsonb's nesting":          at(10, "j", `'[[1, 2]]'::jsonb`),
		"a jsonb number's scale":     at(11, "j", `'{"p": 1.50}'::jsonb`),
		"an array's element":         at(7, "a", "ARRAY[7, 9]"),
		"a composite's field":        at(7, "c", "ROW('c7', 8)::addr"),
		"a byte":                     at(7, "b", "'\\x00'::bytea"),
		"an instant":                 at(7, "ts", "ts + interval '1 microsecond'"),
		"an instant in an array":     at(7, "tsa", "ARRAY[tsa[1] + interval '1 microsecond']"),
		"a float's last bit":         at(7, "fa", "ARRAY[fa[1] + 1e-15]"),
		"a float's last bit, stored": at(8, "f", "f + 1e-15"),
	} {
		if got := sum(setup); got == want {
			t.Errorf("%s: the same sum %+v", name, got)
		}
	}
	// The same rows in another database, whose enum has other OIDs (as a
	// restore gives it), with a column dropped before, and whose own
	// settings (a time zone, date and interval styles, float digits) give
	// the values other text: the same sum.
	p.Exec(t, "other", "CREATE TYPE filler AS ENUM ('x', 'y', 'z'); "+types+strings.NewReplacer("(id int,", "(id int, gone int,", "SELECT g,", "SELECT g, 0,").Replace(base)+" ALTER TABLE base DROP COLUMN gone")
	p.Exec(t, "other", "ALTER DATABASE other SET TimeZone = 'Asia/Ho_Chi_Minh'; ALTER DATABASE other SET DateStyle = 'SQL, DMY'; ALTER DATABASE other SET IntervalStyle = 'iso_8601'; ALTER DATABASE other SET extra_float_digits = 0")
	if a, b := p.Query(t, "sums", "SELECT oid FROM pg_enum WHERE enumlabel = 'busy'"), p.Query(t, "other", "SELECT oid FROM pg_enum WHERE enumlabel = 'busy'"); a == b {
		t.Fatalf("the enums have the same OIDs (%s): the case proves nothing", a)
	}
	if a, b := p.Query(t, "sums", "SELECT tsa::text FROM base WHERE id = 1"), p.Query(t, "other", "SELECT tsa::text FROM base WHERE id = 1"); a == b {
		t.Fatalf("the databases' settings give the same text (%s): the case proves nothing", a)
	}
	od := *testDB("x", p, "other")
	o, err := pgx.Connect(ctx, od.url())
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close(ctx)
	p.Exec(t, "other", "CREATE TABLE v AS SELECT * FROM base")
	if got, err := sumTable(ctx, o, od, Table{"public", "v"}); err != nil || got != want {
		t.Errorf("the same rows in another database: %+v (%v), want %+v", got, err, want)
	}
	// migrate.sh, by hand, sums as nfx does, in either database.
	script := laptopToServerScript(t)
	byHand := func(db string, env ...string) string {
		t.Helper()
		url := p.URL("nextflow", db) + "?sslmode=disable"
		// The script's own PGOPTIONS, as its top sets it.
		cmd := exec.Command("bash", "-c", `eval "$(grep '^export PGOPTIONS=' "$0"; sed -n '/^sum_format() {/,/^}/p; /^sums() {/,/^}/p' "$0")"; sums "$1"`, script, url)
		cmd.Env = append(append(os.Environ(), "PGPASSWORD="+p.Password, "SOURCE_DB="+url, "TARGET_DB="+url), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("migrate.sh's sums: %v\n%s", err, out)
		}
		return string(out)
	}
	for _, db := range []string{"sums", "other"} {
		if out, line := byHand(db), fmt.Sprintf("public.base|%d|%s\n", want.Rows, want.Sum); !strings.Contains(out, line) {
			t.Errorf("migrate.sh's sums, by hand, of %s:\n%s\nwant the line %q", db, out, line)
		}
	}
	// Beside a server before PostgreSQL 14 (a psql that says the server is
	// 13, as no such server runs here), md5 sums, as nfx's agreeSums.
	real, err := exec.LookPath("psql")
	if err != nil {
		t.Fatal(err)
	}
	stub := t.TempDir()
	os.WriteFile(filepath.Join(stub, "psql"), []byte("#!/bin/sh\ncase \"$*\" in *'SHOW server_version_num'*) echo 130011; exit 0 ;; esac\nexec "+real+" \"$@\"\n"), 0o755)
	md5, err := sumTableWith(ctx, c, d, Table{"public", "base"}, sumRowsMD5)
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{"sums", "other"} {
		if out, line := byHand(db, "PATH="+stub+":"+os.Getenv("PATH")), fmt.Sprintf("public.base|%d|%s\n", md5.Rows, md5.Sum); !strings.Contains(out, line) {
			t.Errorf("migrate.sh's sums of %s beside PostgreSQL 13:\n%s\nwant the line %q", db, out, line)
		}
	}
	// A verification by hand whose sums cannot be taken (neither database
	// exists) fails: it does not compare two empty lists and say verified.
	gone := p.URL("nextflow", "gone") + "?sslmode=disable"
	cmd := exec.Command("bash", script, "verify")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "PGPASSWORD="+p.Password, "SOURCE_DB="+gone, "TARGET_DB="+gone)
	if out, err := cmd.CombinedOutput(); err == nil || strings.Contains(string(out), "verified") {
		t.Errorf("migrate.sh verify against no database: %v\n%s", err, out)
	}
	// The md5 sums read the row, even where a column is named t.
	p.Exec(t, "sums", "CREATE TABLE named_t (id int, t text); INSERT INTO named_t VALUES (1, 'same'), (2, 'same')")
	a, err := sumTableWith(ctx, c, d, Table{"public", "named_t"}, sumRowsMD5)
	if err != nil {
		t.Fatal(err)
	}
	p.Exec(t, "sums", "UPDATE named_t SET id = 3 WHERE id = 2")
	if b, err := sumTableWith(ctx, c, d, Table{"public", "named_t"}, sumRowsMD5); err != nil || a == b {
		t.Errorf("md5 sums of a table with a column named t: %+v then %+v (%v): the id's change unseen", a, b, err)
	}
}

// The sides of one comparison sum the same way: with the row hash, or,
// when one runs a PostgreSQL before 14 (which has no hash_record_extended;
// a side agreed as such here, as no such server runs here), every side
// with md5 sums, which then compare equal.
func TestSumsAgreeAcrossSides(t *testing.T) {
	ctx := context.Background()
	p := testutil.StartPostgres(t)
	p.Exec(t, "nextflow", "CREATE TABLE deals (id int PRIMARY KEY, v text); INSERT INTO deals SELECT g, md5(g::text) FROM generate_series(1, 50) g")
	p.Exec(t, "postgres", "CREATE DATABASE copy TEMPLATE nextflow")
	a, b := testDB("source", p, "nextflow"), testDB("target", p, "copy")
	snaps, errs := snapshots(ctx, []*DB{a, b}, nil, nil)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if s := snaps[0].Tables["public.deals"]; !strings.HasPrefix(s.Sum, "h:") || s != snaps[1].Tables["public.deals"] {
		t.Fatalf("PostgreSQL 15 on both sides: %+v and %+v, want equal row hashes", s, snaps[1].Tables["public.deals"])
	}
	old, fresh := testDB("source", p, "nextflow"), testDB("target", p, "copy")
	old.md5Sums, old.sumsAgreed = true, true
	snaps, errs = snapshots(ctx, []*DB{fresh, old}, nil, nil)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !fresh.md5Sums {
		t.Error("the side agreed with one before PostgreSQL 14 sums with the row hash")
	}
	if s := snaps[0].Tables["public.deals"]; !strings.HasPrefix(s.Sum, "a:") || s != snaps[1].Tables["public.deals"] {
		t.Errorf("beside a server before PostgreSQL 14: %+v and %+v, want equal md5 sums", s, snaps[1].Tables["public.deals"])
	}
}

// A journal an earlier nfx wrote holds md5-of-md5s checksums: a rollback
// compares the target with them, not with the new sums, which would
// differ for every table.
func TestRollbackReadsAnEarlierJournal(t *testing.T) {
	ctx := context.Background()
	src := testutil.StartPostgres(t)
	dst := testutil.StartPostgres(t)
	dst.Exec(t, "nextflow", "CREATE TABLE deals (id int PRIMARY KEY, v text); INSERT INTO deals SELECT g, md5(g::text) FROM generate_series(1, 100) g")
	plan, err := NewPlan(load(t, "laptop", map[string]string{"redis": `{"data": "cache"}`}), load(t, "server", nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, earlier, write, want string
	}{
		{"md5 of md5s, unchanged", md5Rows, "", ""},
		{"md5 of md5s, written after the cutover", md5Rows, "UPDATE deals SET v = 'new' WHERE id = 3", "the target took writes after the cutover (1 tables changed: public.deals)"},
		{"sum of md5s, unchanged", sumRowsMD5, "", ""},
		{"sum of md5s, written after the cutover", sumRowsMD5, "DELETE FROM deals WHERE id = 3", "the target took writes after the cutover (1 tables changed: public.deals)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Run{Plan: plan, Dir: filepath.Join(t.TempDir(), "j"), E: Endpoints{SourceDB: testDB("source", src, "nextflow"), TargetDB: testDB("target", dst, "nextflow"), Rollback: "true"}}
			c, err := pgx.Connect(ctx, r.E.TargetDB.url())
			if err != nil {
				t.Fatal(err)
			}
			old, err := sumTableWith(ctx, c, *r.E.TargetDB, Table{"public", "deals"}, tc.earlier)
			c.Close(ctx)
			if err != nil {
				t.Fatal(err)
			}
			r.j = newJournal(plan)
			r.j.State = MigrationCutOver
			r.j.Verification = &Verification{OK: true, Tables: map[string]TableSum{"public.deals": old}}
			if err := r.save(); err != nil {
				t.Fatal(err)
			}
			if tc.write != "" {
				dst.Exec(t, "nextflow", tc.write)
				defer dst.Exec(t, "nextflow", "TRUNCATE deals; INSERT INTO deals SELECT g, md5(g::text) FROM generate_series(1, 100) g")
			}
			_, err = r.Rollback(ctx, false)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// A dump that cannot be written (a full disk) fails with that cause, at
// once: pg_dump, no longer read, does not wait on its pipe until nfx is
// killed.
func TestDumpOnAFullDisk(t *testing.T) {
	src := testutil.StartPostgres(t)
	dst := testutil.StartPostgres(t)
	src.Exec(t, "nextflow", "CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS v FROM generate_series(1, 300000) g")
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("a small tmpfs for the dump: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, _, err := DumpStreaming(ctx, *testDB("source", src, "nextflow"), *testDB("target", dst, "nextflow"), filepath.Join(dir, "postgres.dump"))
	if err == nil || !strings.Contains(err.Error(), "no space left on device") || ctx.Err() != nil {
		t.Fatalf("got %v (context: %v), want the full disk, before any deadline", err, ctx.Err())
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("a failed dump left %s", entries[0].Name())
	}
}
