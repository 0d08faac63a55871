package migrate

import (
	"context"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Key ranges narrow the re-check after the freeze from a written table to
// the parts of it a change touched. A table whose primary key is one
// integer column is summed before the freeze range by range of its keys
// (rangeCount ranges between its smallest and largest key, and one for
// every key outside them); test_decoding prints the key of every row a
// change inserts, updates or deletes (its replica identity), so the watch
// slot names the ranges each change touched. A range no change touched
// since the watch began holds its final rows on every side, as an
// unwritten table does: its sums, equal on every side before the freeze,
// are final. After the freeze only the other ranges are read, through the
// key's index: a client appending to a 1 GB table makes the freeze sum the
// new rows, not the gigabyte. A change that names the table without a key
// (a TRUNCATE), a write on the target alone, or a table without such a key
// is summed whole, as before.
const rangeCount = 256

// outside is the range of every key outside the table's ranges.
const outside = -1

// KeyRanges is a table's key ranges, in the journal.
type KeyRanges struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
	Column string `json:"column"`
	// Prefix starts every change test_decoding writes of the table.
	Prefix string `json:"prefix"`
	// Range i holds the keys from Lo + i*Width up to Lo + (i+1)*Width.
	Lo    string `json:"lo"`
	Width string `json:"width"`
	// Known are the ranges whose sums were equal on every side before the
	// freeze, and not empty; Differ those whose were not (a range in
	// neither was empty on every side); Touched those a change named since
	// the watch began.
	Known   map[int]TableSum `json:"known,omitempty"`
	Differ  []int            `json:"differ,omitempty"`
	Touched []int            `json:"touched,omitempty"`
	// Whole says a change named the table without a key.
	Whole bool `json:"whole,omitempty"`
}

func (k *KeyRanges) bounds() (lo, width *big.Int) {
	lo, _ = new(big.Int).SetString(k.Lo, 10)
	width, _ = new(big.Int).SetString(k.Width, 10)
	return lo, width
}

// bucket is the range expression of the key column of the row t.
func (k *KeyRanges) bucket() string {
	lo, width := k.bounds()
	hi := new(big.Int).Add(lo, new(big.Int).Mul(width, big.NewInt(rangeCount)))
	// Within ±2^62 the key's distance from lo fits a bigint: integer
	// arithmetic, several times faster over a table than numeric's.
	limit := new(big.Int).Lsh(big.NewInt(1), 62)
	form := "CASE WHEN %[1]s >= %[2]s::numeric AND %[1]s < %[3]s::numeric THEN div(%[1]s::numeric - %[2]s::numeric, %[4]s::numeric)::int ELSE %[5]d END"
	if lo.CmpAbs(limit) < 0 && hi.CmpAbs(limit) < 0 {
		form = "CASE WHEN %[1]s >= %[2]s::bigint AND %[1]s < %[3]s::bigint THEN ((%[1]s::bigint - %[2]s::bigint) / %[4]s::bigint)::int ELSE %[5]d END"
	}
	return fmt.Sprintf(form, "t."+k.Column, lo, hi, width, outside)
}

// keyedTables finds the source's tables a key range can narrow: a plain,
// permanent table with no partitions, parent or children, whose primary
// key is one smallint, integer or bigint column named without quotes, and
// whose replica identity prints that key (the default, or full). Their
// ranges span the keys the source holds now.
func keyedTables(ctx context.Context, c *pgx.Conn) (map[string]*KeyRanges, error) {
	return keyed(ctx, c, true)
}

// keyed lists the tables keyedTables does, their bounds read when bounds
// is set (a query a table).
func keyed(ctx context.Context, c *pgx.Conn, bounds bool) (map[string]*KeyRanges, error) {
	rows, err := c.Query(ctx, `SELECT n.nspname, c.relname, a.attname, quote_ident(n.nspname) || '.' || quote_ident(c.relname)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
		WHERE i.indisprimary AND i.indnkeyatts = 1 AND c.relkind = 'r' AND NOT c.relispartition AND c.relpersistence = 'p'
		AND c.relreplident IN ('d', 'f') AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
		AND quote_ident(a.attname) = a.attname
		AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
		AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhparent = c.oid OR h.inhrelid = c.oid)`)
	if err != nil {
		return nil, fmt.Errorf("source: the tables' integer keys: %v", err)
	}
	type keyed struct {
		t           Table
		col, prefix string
	}
	var list []keyed
	for rows.Next() {
		var k keyed
		if err := rows.Scan(&k.t.Schema, &k.t.Name, &k.col, &k.prefix); err != nil {
			return nil, err
		}
		list = append(list, k)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := map[string]*KeyRanges{}
	for _, k := range list {
		if !bounds {
			out[k.t.String()] = &KeyRanges{Schema: k.t.Schema, Name: k.t.Name, Column: k.col, Prefix: "table " + k.prefix + ": "}
			continue
		}
		var lo, hi *string
		if err := c.QueryRow(ctx, fmt.Sprintf("SELECT min(%[1]s)::text, max(%[1]s)::text FROM %[2]s", k.col, k.t.quoted())).Scan(&lo, &hi); err != nil {
			return nil, fmt.Errorf("source: the keys of %s: %v", k.t, err)
		}
		first, last := big.NewInt(0), big.NewInt(rangeCount-1)
		if lo != nil && hi != nil {
			first.SetString(*lo, 10)
			last.SetString(*hi, 10)
		}
		// Width = ceil((last - first + 1) / rangeCount), at least 1.
		span := new(big.Int).Sub(last, first)
		span.Add(span, big.NewInt(rangeCount))
		width := span.Quo(span, big.NewInt(rangeCount))
		if width.Sign() <= 0 {
			width.SetInt64(1)
		}
		out[k.t.String()] = &KeyRanges{Schema: k.t.Schema, Name: k.t.Name, Column: k.col, Prefix: "table " + k.prefix + ": ", Lo: first.String(), Width: width.String()}
	}
	return out, nil
}

// sumRanges sums a table range by range of its keys (hashRows for each).
func sumRanges(ctx context.Context, c querier, d DB, t Table, k *KeyRanges) (map[int]TableSum, error) {
	var cols string
	if err := c.QueryRow(ctx, fmt.Sprintf(hashColumns, "$1::regclass"), t.quoted()).Scan(&cols); err != nil {
		return nil, fmt.Errorf("%s: the columns of %s: %v", d, t, err)
	}
	// The planner takes the range expression for as many groups as the
	// key has values and sorts every row to group them: 2.5 times the
	// table's plain sum, where hashing into rangeCount groups adds a
	// quarter (289 MB: 0.65 s and 0.32 s against 0.26 s).
	// The setting holds for this transaction only (behind a pooler, a
	// session's setting would outlive it).
	if conn, ok := c.(*pgx.Conn); ok {
		tx, err := conn.Begin(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", d, err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck // read only: nothing to keep
		c = tx
	}
	if err := c.QueryRow(ctx, "SELECT set_config('enable_sort', 'off', true)").Scan(new(string)); err != nil {
		return nil, fmt.Errorf("%s: %v", d, err)
	}
	rows, err := c.Query(ctx, "SELECT "+k.bucket()+", count(*), "+hashRows(cols)+" FROM "+t.quoted()+" t GROUP BY 1")
	if err != nil {
		return nil, fmt.Errorf("%s: sum %s by key range: %v", d, t, err)
	}
	out := map[int]TableSum{}
	for rows.Next() {
		var i int
		var s TableSum
		if err := rows.Scan(&i, &s.Rows, &s.Sum); err != nil {
			return nil, fmt.Errorf("%s: sum %s by key range: %v", d, t, err)
		}
		out[i] = s
	}
	return out, rows.Err()
}

// addSums is the sum of table sums taken with hashRows ("h:" and the exact
// sum of the rows' hashes), false for any other.
func addSums(sums ...TableSum) (TableSum, bool) {
	total := new(big.Int)
	var rows int64
	for _, s := range sums {
		v, ok := strings.CutPrefix(s.Sum, "h:")
		if !ok {
			return TableSum{}, false
		}
		n, ok := new(big.Int).SetString(v, 10)
		if !ok {
			return TableSum{}, false
		}
		total.Add(total, n)
		rows += s.Rows
	}
	return TableSum{Rows: rows, Sum: "h:" + total.String()}, true
}

// touchedRanges reads, from the watch slot's changes up to upto, the key
// ranges each ranged table's changes named; a change of one with no key
// (a TRUNCATE, alone or in a list) makes it Whole.
func (w *WatchState) touchedRanges(ctx context.Context, src *pgx.Conn, upto string) error {
	if len(w.Ranges) == 0 {
		return nil
	}
	names := make([]string, 0, len(w.Ranges))
	var prefixes, patterns, los, widths []string
	for t, k := range w.Ranges {
		if k.Whole {
			continue
		}
		names = append(names, t)
		prefixes = append(prefixes, k.Prefix)
		// The key is printed after a space: "INSERT: id[bigint]:7 ...",
		// "UPDATE: old-key: id[integer]:7 new-tuple: id[integer]:8 ...".
		patterns = append(patterns, ` `+k.Column+`\[(?:smallint|integer|bigint)\]:(-?[0-9]+)`)
		los, widths = append(los, k.Lo), append(widths, k.Width)
	}
	rows, err := src.Query(ctx, `WITH c AS MATERIALIZED (
			SELECT data FROM pg_logical_slot_peek_changes($1, $2::pg_lsn, NULL, 'include-xids', '0', 'skip-empty-xacts', '1')
			WHERE data LIKE 'table %'),
		p AS (SELECT * FROM unnest($3::text[], $4::text[], $5::numeric[], $6::numeric[]) AS p(prefix, pat, lo, width))
		SELECT p.prefix, CASE WHEN k.v IS NULL THEN NULL
			WHEN k.v::numeric >= p.lo AND k.v::numeric < p.lo + `+fmt.Sprint(rangeCount)+` * p.width THEN div(k.v::numeric - p.lo, p.width)::int
			ELSE `+fmt.Sprint(outside)+` END
		FROM c JOIN p ON starts_with(c.data, p.prefix)
		LEFT JOIN LATERAL (SELECT (regexp_matches(c.data, p.pat, 'g'))[1] AS v) k ON true
		GROUP BY 1, 2
		UNION ALL
		SELECT 'truncate ' || substring(data FROM '^table (.+): TRUNCATE:'), NULL FROM c WHERE data ~ '^table .+: TRUNCATE:'`,
		watchSlot, upto, prefixes, patterns, los, widths)
	if err != nil {
		return fmt.Errorf("source: the key ranges in the watch slot %s: %v", watchSlot, err)
	}
	byPrefix := map[string]*KeyRanges{}
	for _, t := range names {
		byPrefix[w.Ranges[t].Prefix] = w.Ranges[t]
	}
	for rows.Next() {
		var prefix string
		var i *int
		if err := rows.Scan(&prefix, &i); err != nil {
			return err
		}
		if list, ok := strings.CutPrefix(prefix, "truncate "); ok {
			ts, ok := relationsIn(list)
			if !ok {
				// A list nfx cannot read: none of the tables is narrowed.
				for _, k := range w.Ranges {
					k.Whole = true
				}
				continue
			}
			for _, t := range ts {
				if k := w.Ranges[t.String()]; k != nil {
					k.Whole = true
				}
			}
			continue
		}
		k := byPrefix[prefix]
		switch {
		case k == nil:
		case i == nil:
			k.Whole = true
		case !slices.Contains(k.Touched, *i):
			k.Touched = append(k.Touched, *i)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("source: the key ranges in the watch slot %s: %v", watchSlot, err)
	}
	for _, k := range w.Ranges {
		slices.Sort(k.Touched)
	}
	return nil
}

// untouched are the ranges known before the freeze (equal or empty on
// every side) and named by no change since: their sums are final.
func (k *KeyRanges) untouched() []int {
	var out []int
	for i := outside; i < rangeCount; i++ {
		if !slices.Contains(k.Touched, i) && !slices.Contains(k.Differ, i) {
			out = append(out, i)
		}
	}
	return out
}

// knownRanges records, for each table summed by key range on every side,
// which ranges were equal; a table some side did not sum by range (a
// server before PostgreSQL 14) is not narrowed.
func (w *WatchState) knownRanges(snaps []*Snapshot) {
	for t, k := range w.Ranges {
		var sides []map[int]TableSum
		for _, s := range snaps {
			by, ok := s.Ranges[t]
			if !ok {
				break
			}
			sides = append(sides, by)
		}
		if len(sides) != len(snaps) {
			delete(w.Ranges, t)
			continue
		}
		k.Known, k.Differ = map[int]TableSum{}, nil
		for i := outside; i < rangeCount; i++ {
			first, same := sides[0][i], true
			for _, by := range sides[1:] {
				same = same && by[i] == first
			}
			switch {
			case !same:
				k.Differ = append(k.Differ, i)
			case first.Rows > 0:
				k.Known[i] = first
			}
		}
	}
}

// rest is the condition on the key column of the row t that selects every
// row outside the untouched ranges: the ranges between them, merged, and
// the keys outside all ranges unless that range is untouched; "" when
// nothing is untouched.
func (k *KeyRanges) rest(untouched []int) string {
	if len(untouched) == 0 {
		return ""
	}
	lo, width := k.bounds()
	at := func(i int) *big.Int { return new(big.Int).Add(lo, new(big.Int).Mul(width, big.NewInt(int64(i)))) }
	c := "t." + k.Column
	var parts []string
	// The gaps between untouched ranges, within [0, rangeCount).
	next := 0
	for _, i := range append(slices.DeleteFunc(slices.Clone(untouched), func(i int) bool { return i == outside }), rangeCount) {
		if i > next {
			parts = append(parts, fmt.Sprintf("(%s >= %s AND %s < %s)", c, at(next), c, at(i)))
		}
		next = i + 1
	}
	if !slices.Contains(untouched, outside) {
		parts = append(parts, fmt.Sprintf("%s < %s OR %s >= %s", c, lo, c, at(rangeCount)))
	}
	if len(parts) == 0 {
		return "false"
	}
	return strings.Join(parts, " OR ")
}

// sumRest sums the rows of a table outside its untouched ranges.
func sumRest(ctx context.Context, c querier, d DB, t Table, cond string) (TableSum, error) {
	var cols string
	if err := c.QueryRow(ctx, fmt.Sprintf(hashColumns, "$1::regclass"), t.quoted()).Scan(&cols); err != nil {
		return TableSum{}, fmt.Errorf("%s: the columns of %s: %v", d, t, err)
	}
	var s TableSum
	if err := c.QueryRow(ctx, "SELECT count(*), "+hashRows(cols)+" FROM "+t.quoted()+" t WHERE "+cond).Scan(&s.Rows, &s.Sum); err != nil {
		return s, fmt.Errorf("%s: sum the written key ranges of %s: %v", d, t, err)
	}
	return s, nil
}

// valid says the ranges, as the journal holds them, are nfx's own: a
// plain column name and integer bounds (they are written into SQL).
func (k *KeyRanges) valid() bool {
	lo, width := k.bounds()
	return plainIdent.MatchString(k.Column) && lo != nil && width != nil && width.Sign() > 0 && strings.HasPrefix(k.Prefix, "table ")
}

var plainIdent = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// recheckKeys makes Whole every ranged table whose key the source no
// longer keeps as it did (another key, another replica identity, gone):
// its changes' keys may not have been printed.
func (w *WatchState) recheckKeys(ctx context.Context, src *pgx.Conn) error {
	if len(w.Ranges) == 0 {
		return nil
	}
	now, err := keyed(ctx, src, false)
	if err != nil {
		return err
	}
	for t, k := range w.Ranges {
		if n, ok := now[t]; !ok || n.Column != k.Column || n.Prefix != k.Prefix {
			k.Whole = true
		}
	}
	return nil
}
