package migrate

import (
	"context"
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
// doubled or swapped for another) and not what it may change (the rows'
// order).
func TestSumSeesContentNotOrder(t *testing.T) {
	ctx := context.Background()
	p := testutil.StartPostgres(t)
	p.Exec(t, "nextflow", `CREATE TABLE base (id int, v text, j jsonb);
INSERT INTO base SELECT g, md5(g::text), jsonb_build_object('g', g) FROM generate_series(1, 500) g;`)
	c := p.Conn(t, "nextflow")
	d := DB{Name: "x"}
	sum := func(setup string) TableSum {
		t.Helper()
		p.Exec(t, "nextflow", "DROP TABLE IF EXISTS v; CREATE TABLE v AS "+setup)
		s, err := sumTable(ctx, c, d, Table{"public", "v"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	want := sum("SELECT * FROM base ORDER BY id")
	if !strings.HasPrefix(want.Sum, "a:") || want.Rows != 500 {
		t.Fatalf("sum %+v", want)
	}
	if got := sum("SELECT * FROM base ORDER BY id DESC"); got != want {
		t.Errorf("the rows' order changed the sum: %+v, want %+v", got, want)
	}
	for name, setup := range map[string]string{
		"a value changed":    "SELECT id, CASE WHEN id = 7 THEN 'x' ELSE v END AS v, j FROM base",
		"a row lost":         "SELECT * FROM base WHERE id <> 7",
		"a row doubled":      "SELECT * FROM base UNION ALL SELECT * FROM base WHERE id = 7",
		"a row for another":  "SELECT * FROM base WHERE id <> 8 UNION ALL SELECT * FROM base WHERE id = 7",
		"a null for a ''":    "SELECT id, CASE WHEN id = 7 THEN NULL ELSE v END AS v, j FROM base",
		"two values swapped": "SELECT id, CASE WHEN id = 7 THEN (SELECT v FROM base WHERE id = 8) WHEN id = 8 THEN (SELECT v FROM base WHERE id = 7) ELSE v END AS v, j FROM base",
	} {
		if got := sum(setup); got == want {
			t.Errorf("%s: the same sum %+v", name, got)
		}
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
		name, write, want string
	}{
		{"unchanged", "", ""},
		{"written after the cutover", "UPDATE deals SET v = 'new' WHERE id = 3", "the target took writes after the cutover (1 tables changed: public.deals)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Run{Plan: plan, Dir: filepath.Join(t.TempDir(), "j"), E: Endpoints{SourceDB: testDB("source", src, "nextflow"), TargetDB: testDB("target", dst, "nextflow"), Rollback: "true"}}
			c, err := pgx.Connect(ctx, r.E.TargetDB.url())
			if err != nil {
				t.Fatal(err)
			}
			old, err := sumTableWith(ctx, c, *r.E.TargetDB, Table{"public", "deals"}, md5Rows)
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
				defer dst.Exec(t, "nextflow", "UPDATE deals SET v = md5(id::text)")
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
