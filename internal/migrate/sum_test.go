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
// doubled or swapped for another; a value's text, which equality may
// ignore) and not what it may change (the rows' order, an enum's OID).
func TestSumSeesContentNotOrder(t *testing.T) {
	ctx := context.Background()
	p := testutil.StartPostgres(t)
	const types = `CREATE TYPE mood AS ENUM ('calm', 'busy');
CREATE TYPE addr AS (city text, zip int);
CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);`
	const base = `CREATE TABLE base (id int, v text, j jsonb, n numeric, i interval, m mood, a int[], c addr, js json, ts timestamptz, b bytea, ci text COLLATE ci);
INSERT INTO base SELECT g, md5(g::text), jsonb_build_object('g', g), g / 4.0, make_interval(days => g % 3), (ARRAY['calm', 'busy'])[1 + g % 2]::mood,
  ARRAY[g, g + 1], ROW('c' || g, g)::addr, json_build_object('g', g), '2026-01-01'::timestamptz + g * interval '1 minute', decode(md5(g::text), 'hex'), 'Name' || g
  FROM generate_series(1, 500) g;`
	// ICU's collations need an encoding such as UTF8.
	p.Exec(t, "postgres", "CREATE DATABASE sums ENCODING 'UTF8' LOCALE 'C' TEMPLATE template0")
	p.Exec(t, "postgres", "CREATE DATABASE other ENCODING 'UTF8' LOCALE 'C' TEMPLATE template0")
	p.Exec(t, "sums", types+base)
	c := p.Conn(t, "sums")
	d := DB{Name: "x"}
	sum := func(setup string) TableSum {
		t.Helper()
		p.Exec(t, "sums", "DROP TABLE IF EXISTS v; CREATE TABLE v AS "+setup)
		s, err := sumTable(ctx, c, d, Table{"public", "v"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	want := sum("SELECT * FROM base ORDER BY id")
	if !strings.HasPrefix(want.Sum, "h:") || want.Rows != 500 {
		t.Fatalf("sum %+v", want)
	}
	if got := sum("SELECT * FROM base ORDER BY id DESC"); got != want {
		t.Errorf("the rows' order changed the sum: %+v, want %+v", got, want)
	}
	swap := func(col string) string {
		return "SELECT id, v, j, n, i, m, a, c, js, ts, b, ci, " + col + "x FROM (SELECT *, CASE WHEN id = 7 THEN (SELECT " + col + " FROM base WHERE id = 8) WHEN id = 8 THEN (SELECT " + col + " FROM base WHERE id = 7) ELSE " + col + " END AS " + col + "x FROM base) q"
	}
	for name, setup := range map[string]string{
		"a value changed":    "SELECT id, CASE WHEN id = 7 THEN 'x' ELSE v END AS v, j, n, i, m, a, c, js, ts, b, ci FROM base",
		"a row lost":         "SELECT * FROM base WHERE id <> 7",
		"a row doubled":      "SELECT * FROM base UNION ALL SELECT * FROM base WHERE id = 7",
		"a row for another":  "SELECT * FROM base WHERE id <> 8 UNION ALL SELECT * FROM base WHERE id = 7",
		"a null for a ''":    "SELECT id, CASE WHEN id = 7 THEN NULL ELSE v END AS v, j, n, i, m, a, c, js, ts, b, ci FROM base",
		"two values swapped": "SELECT id, CASE WHEN id = 7 THEN (SELECT v FROM base WHERE id = 8) WHEN id = 8 THEN (SELECT v FROM base WHERE id = 7) ELSE v END AS v, j, n, i, m, a, c, js, ts, b, ci FROM base",
		// Equal to PostgreSQL's = (and so to its hashes), not the same text.
		"a numeric's scale":   "SELECT id, v, j, CASE WHEN id = 8 THEN 2.00 ELSE n END AS n, i, m, a, c, js, ts, b, ci FROM base",
		"an interval's form":  "SELECT id, v, j, n, CASE WHEN id = 4 THEN interval '24 hours' ELSE i END AS i, m, a, c, js, ts, b, ci FROM base",
		"a case, ignored":     "SELECT id, v, j, n, i, m, a, c, js, ts, b, CASE WHEN id = 7 THEN 'NAME7' COLLATE ci ELSE ci END AS ci FROM base",
		"a json's spacing":    `SELECT id, v, j, n, i, m, a, c, CASE WHEN id = 7 THEN '{"g":7}'::json ELSE js END AS js, ts, b, ci FROM base`,
		"an array's element":  "SELECT id, v, j, n, i, m, CASE WHEN id = 7 THEN ARRAY[7, 9] ELSE a END AS a, c, js, ts, b, ci FROM base",
		"a composite's field": "SELECT id, v, j, n, i, m, a, CASE WHEN id = 7 THEN ROW('c7', 8)::addr ELSE c END AS c, js, ts, b, ci FROM base",
		"a byte":              "SELECT id, v, j, n, i, m, a, c, js, ts, CASE WHEN id = 7 THEN '\\x00'::bytea ELSE b END AS b, ci FROM base",
		"an instant":          "SELECT id, v, j, n, i, m, a, c, js, CASE WHEN id = 7 THEN ts + interval '1 microsecond' ELSE ts END AS ts, b, ci FROM base",
		"enums swapped":       swap("m"),
		"jsonbs swapped":      swap("j"),
	} {
		if got := sum(setup); got == want {
			t.Errorf("%s: the same sum %+v", name, got)
		}
	}
	// The same rows in another database, whose enum has other OIDs (as a
	// restore gives it), and with a column dropped before: the same sum.
	p.Exec(t, "other", "CREATE TYPE filler AS ENUM ('x', 'y', 'z'); "+types+strings.NewReplacer("(id int,", "(id int, gone int,", "SELECT g,", "SELECT g, 0,").Replace(base)+" ALTER TABLE base DROP COLUMN gone")
	if a, b := p.Query(t, "sums", "SELECT oid FROM pg_enum WHERE enumlabel = 'busy'"), p.Query(t, "other", "SELECT oid FROM pg_enum WHERE enumlabel = 'busy'"); a == b {
		t.Fatalf("the enums have the same OIDs (%s): the case proves nothing", a)
	}
	// migrate.sh, by hand, sums as nfx does.
	from, to := load(t, "laptop", nil), load(t, "server", nil)
	plan, _ := NewPlan(from, to)
	set, err := Scripts(plan, from, to)
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "migrate.sh")
	os.WriteFile(script, set[0].Data, 0o755)
	url := p.URL("nextflow", "sums") + "?sslmode=disable"
	cmd := exec.Command("bash", "-c", `eval "$(sed -n '/^sum_format() {/,/^}/p; /^sums() {/,/^}/p' "$0")"; sums "$1"`, script, url)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+p.Password, "SOURCE_DB="+url, "TARGET_DB="+url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("migrate.sh's sums: %v\n%s", err, out)
	}
	if line := fmt.Sprintf("public.base|%d|%s\n", want.Rows, want.Sum); !strings.Contains(string(out), line) {
		t.Errorf("migrate.sh's sums, by hand:\n%s\nwant the line %q", out, line)
	}
	// Beside a server before PostgreSQL 14 (a psql that says the server is
	// 13, as no such server runs here), md5 sums, as nfx's agreeSums.
	real, err := exec.LookPath("psql")
	if err != nil {
		t.Fatal(err)
	}
	stub := t.TempDir()
	os.WriteFile(filepath.Join(stub, "psql"), []byte("#!/bin/sh\ncase \"$*\" in *'SHOW server_version_num'*) echo 130011; exit 0 ;; esac\nexec "+real+" \"$@\"\n"), 0o755)
	cmd = exec.Command("bash", "-c", `eval "$(sed -n '/^sum_format() {/,/^}/p; /^sums() {/,/^}/p' "$0")"; sums "$1"`, script, url)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+p.Password, "SOURCE_DB="+url, "TARGET_DB="+url, "PATH="+stub+":"+os.Getenv("PATH"))
	if out, err = cmd.CombinedOutput(); err != nil {
		t.Fatalf("migrate.sh's sums beside PostgreSQL 13: %v\n%s", err, out)
	}
	md5, err := sumTableWith(ctx, c, d, Table{"public", "base"}, sumRowsMD5)
	if err != nil {
		t.Fatal(err)
	}
	if line := fmt.Sprintf("public.base|%d|%s\n", md5.Rows, md5.Sum); !strings.Contains(string(out), line) {
		t.Errorf("migrate.sh's sums beside PostgreSQL 13:\n%s\nwant the line %q", out, line)
	}
	o := p.Conn(t, "other")
	p.Exec(t, "other", "CREATE TABLE v AS SELECT * FROM base")
	if got, err := sumTable(ctx, o, d, Table{"public", "v"}); err != nil || got != want {
		t.Errorf("the same rows in another database: %+v (%v), want %+v", got, err, want)
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
	snaps, errs := snapshots(ctx, []*DB{a, b}, nil)
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
	snaps, errs = snapshots(ctx, []*DB{fresh, old}, nil)
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
