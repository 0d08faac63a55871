package migrate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nextflow-crm/nfx/internal/model"
)

// connect opens a connection that can write even while the database is
// frozen (default_transaction_read_only applies to the app's sessions).
func connect(ctx context.Context, d DB) (*pgx.Conn, error) {
	c, err := pgx.Connect(ctx, d.url())
	if err != nil {
		return nil, fmt.Errorf("%s database %s: %s", d.Name, d, scrub(err.Error(), d.Password))
	}
	if _, err := c.Exec(ctx, "SET default_transaction_read_only = off"); err != nil {
		c.Close(ctx)
		return nil, fmt.Errorf("%s database %s: %v", d.Name, d, err)
	}
	return c, nil
}

// scrub removes a password from a message, should a library have put it there.
func scrub(msg, secret string) string {
	if secret == "" {
		return msg
	}
	return strings.ReplaceAll(msg, secret, "[secret]")
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// pgTool finds a PostgreSQL client program, the newest installed: pg_dump
// must be at least the server's version.
func pgTool(name string) (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	sort.Slice(matches, func(i, j int) bool { return pgDirVersion(matches[i]) < pgDirVersion(matches[j]) })
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s is not installed; fix: install PostgreSQL's client programs (Debian: postgresql-client)", name)
}

func pgDirVersion(p string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
	return v
}

// pgEnv is the environment of a client program for d: the connection in
// libpq's variables and the password in a 0600 password file, never on
// the command line.
func pgEnv(d DB, dir string) ([]string, error) {
	esc := func(s string) string { return strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(s) }
	pass := filepath.Join(dir, "."+d.Name+".pgpass")
	line := fmt.Sprintf("%s:%d:*:%s:%s\n", esc(d.Host), d.Port, esc(d.User), esc(d.Password))
	if err := os.WriteFile(pass, []byte(line), 0o600); err != nil {
		return nil, err
	}
	return append(os.Environ(), "PGHOST="+d.Host, "PGPORT="+strconv.Itoa(d.Port), "PGUSER="+d.User, "PGDATABASE="+d.Database,
		"PGSSLMODE="+d.SSLMode, "PGPASSFILE="+pass, "PGPASSWORD=", "PGAPPNAME=nfx-migrate"), nil
}

// toolCmd prepares a client program for d; its diagnostics go to the
// buffer returned. The caller removes d's password file.
func toolCmd(ctx context.Context, d DB, dir, tool string, args ...string) (*exec.Cmd, *bytes.Buffer, error) {
	bin, err := pgTool(tool)
	if err != nil {
		return nil, nil, err
	}
	env, err := pgEnv(d, dir)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	// A client outliving a killed nfx would race the rerun's own (two
	// pg_restore --clean at once): it dies with nfx.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stderr = &out
	return cmd, &out, nil
}

// runTool runs a client program; its output, scrubbed of the password,
// goes to the error.
func runTool(ctx context.Context, d DB, dir, tool string, args ...string) error {
	cmd, out, err := toolCmd(ctx, d, dir, tool, args...)
	if err != nil {
		return err
	}
	defer os.Remove(filepath.Join(dir, "."+d.Name+".pgpass"))
	cmd.Stdout = out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s on the %s database %s: %v: %s", tool, d.Name, d, err, strings.TrimSpace(scrub(out.String(), d.Password)))
	}
	return nil
}

// serverMajor is the server's major version.
func serverMajor(ctx context.Context, c *pgx.Conn) (int, error) {
	var v int
	err := c.QueryRow(ctx, "SELECT current_setting('server_version_num')::int / 10000").Scan(&v)
	return v, err
}

// Freeze stops writes to the source database: new sessions are read-only
// by default and the open ones are ended. Its data is not touched.
func Freeze(ctx context.Context, d DB) error {
	c, err := connect(ctx, d)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "ALTER DATABASE "+quoteIdent(d.Database)+" SET default_transaction_read_only = on"); err != nil {
		return fmt.Errorf("freeze %s: %v", d, err)
	}
	_, err = c.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND coalesce(application_name, '') NOT LIKE 'nfx-migrate%'", d.Database)
	if err != nil {
		return fmt.Errorf("freeze %s: end the open sessions: %v", d, err)
	}
	return nil
}

// Unfreeze lets the source take writes again (rollback, or the user's
// confirmation that the migration is over).
func Unfreeze(ctx context.Context, d DB) error {
	c, err := connect(ctx, d)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "ALTER DATABASE "+quoteIdent(d.Database)+" RESET default_transaction_read_only"); err != nil {
		return fmt.Errorf("unfreeze %s: %v", d, err)
	}
	return nil
}

// Frozen reports whether the database takes no writes by default.
func Frozen(ctx context.Context, d DB) (bool, error) {
	c, err := pgx.Connect(ctx, d.url())
	if err != nil {
		return false, fmt.Errorf("%s database %s: %s", d.Name, d, scrub(err.Error(), d.Password))
	}
	defer c.Close(ctx)
	var v string
	err = c.QueryRow(ctx, "SHOW default_transaction_read_only").Scan(&v)
	return v == "on", err
}

// DumpStreaming dumps the source with pg_dump -Fc into file (written
// beside and renamed, so a crash leaves none) and, from the same bytes as
// they come, restores it into the target with pg_restore: the copy takes
// the time of the slower of the two instead of their sum, and the
// checksum is taken on the way, not by reading the file again. A dump
// that completes is kept, with its sha256, even when the restore fails:
// restoreErr says so, and the file can be restored again.
func DumpStreaming(ctx context.Context, src, dst DB, file string) (sum string, restoreErr, err error) {
	dir := filepath.Dir(file)
	tmp := file + ".part"
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	// -Z1: zlib's fastest level; the default (6) takes about twice the
	// CPU for a file a tenth smaller, with the source frozen meanwhile.
	dump, dumpOut, err := toolCmd(ctx, src, dir, "pg_dump", "-Fc", "-Z1", "--no-password")
	if err != nil {
		return "", nil, err
	}
	defer os.Remove(filepath.Join(dir, "."+src.Name+".pgpass"))
	restore, restoreOut, err := toolCmd(ctx, dst, dir, "pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--exit-on-error", "--no-password", "-d", dst.Database)
	if err != nil {
		return "", nil, err
	}
	defer os.Remove(filepath.Join(dir, "."+dst.Name+".pgpass"))
	stream, err := dump.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	in, err := restore.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	if err := restore.Start(); err != nil {
		return "", nil, err
	}
	if err := dump.Start(); err != nil {
		in.Close()
		restore.Wait()
		return "", nil, err
	}
	h := sha256.New()
	tee := &lenient{w: in}
	_, copyErr := io.Copy(io.MultiWriter(f, h, tee), stream)
	if copyErr != nil {
		// The file could not be written (a full disk): pg_dump, no longer
		// read, would wait on its pipe for ever; closing it ends it.
		stream.Close()
	}
	in.Close()
	rerr := restore.Wait()
	derr := dump.Wait()
	if copyErr != nil {
		os.Remove(tmp)
		return "", nil, fmt.Errorf("write the dump %s: %v", tmp, copyErr)
	}
	if derr != nil {
		os.Remove(tmp)
		return "", nil, fmt.Errorf("pg_dump on the %s database %s: %v: %s", src.Name, src, derr, strings.TrimSpace(scrub(dumpOut.String(), src.Password)))
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", nil, err
	}
	if err := os.Rename(tmp, file); err != nil {
		return "", nil, err
	}
	if rerr == nil && tee.err != nil {
		rerr = tee.err
	}
	if rerr != nil {
		restoreErr = fmt.Errorf("pg_restore on the %s database %s: %v: %s", dst.Name, dst, rerr, strings.TrimSpace(scrub(restoreOut.String(), dst.Password)))
	}
	return hex.EncodeToString(h.Sum(nil)), restoreErr, nil
}

// lenient passes writes on until the first error, then drops them: a
// restore that stops does not stop the dump it reads.
type lenient struct {
	w   io.Writer
	err error
}

func (l *lenient) Write(p []byte) (int, error) {
	if l.err == nil {
		_, l.err = l.w.Write(p)
	}
	return len(p), nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Restore loads a dump into the target with pg_restore: --clean
// --if-exists drops what an interrupted restore left before creating each
// object again, so a rerun never holds a row twice. Ownership and grants
// are the target's own (--no-owner --no-privileges), as on RDS, where the
// master user is no superuser.
func Restore(ctx context.Context, d DB, file string, jobs int) error {
	args := []string{"--clean", "--if-exists", "--no-owner", "--no-privileges", "--exit-on-error", "--no-password",
		"-j", strconv.Itoa(jobs), "-d", d.Database, file}
	if err := runTool(ctx, d, filepath.Dir(file), "pg_restore", args...); err != nil {
		return err
	}
	return Analyze(ctx, d)
}

// Analyze gathers the planner's statistics of a restored database.
func Analyze(ctx context.Context, d DB) error {
	c, err := connect(ctx, d)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, "ANALYZE")
	return err
}

// Table is one user table.
type Table struct {
	Schema, Name string
}

func (t Table) String() string { return t.Schema + "." + t.Name }

func (t Table) quoted() string { return quoteIdent(t.Schema) + "." + quoteIdent(t.Name) }

const userTables = `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY 1, 2`

// Tables lists the user tables.
func tables(ctx context.Context, c querier) ([]Table, error) {
	rows, err := c.Query(ctx, userTables)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Table, error) {
		var t Table
		err := r.Scan(&t.Schema, &t.Name)
		return t, err
	})
}

// TableSum is a table's row count and a checksum of its content that does
// not depend on the rows' physical order.
type TableSum struct {
	Rows int64  `json:"rows"`
	Sum  string `json:"sum"`
}

// Snapshot is what verification compares: every table's sum, every
// sequence's position, the extensions.
type Snapshot struct {
	Tables     map[string]TableSum `json:"tables"`
	Sequences  map[string]int64    `json:"sequences"`
	Extensions []string            `json:"extensions"`
	// Columns is, per owned sequence, the max of the column it feeds.
	Columns map[string]int64 `json:"columns"`
	// Ranges are, for the tables summed by key range, each range's sum.
	Ranges map[string]map[int]TableSum `json:"-"`
}

// TakeSnapshot sums every table of a database. It only reads.
func TakeSnapshot(ctx context.Context, d DB) (*Snapshot, error) {
	if err := agreeSums(ctx, &d); err != nil {
		return nil, err
	}
	return takeSnapshot(ctx, d, nil, nil)
}

// takeSnapshot sums every table of a database but those whose sums are
// known: a table in known is listed with its known sum, not read. A table
// in ranges is summed range by range of its keys (Snapshot.Ranges), and
// its sum is theirs.
func takeSnapshot(ctx context.Context, d DB, known map[string]TableSum, ranges map[string]*KeyRanges) (*Snapshot, error) {
	c, err := pgx.Connect(ctx, d.url())
	if err != nil {
		return nil, fmt.Errorf("%s database %s: %s", d.Name, d, scrub(err.Error(), d.Password))
	}
	defer c.Close(ctx)
	return snapshotOn(ctx, c, d, known, ranges)
}

// querier is a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// snapshotOn sums every table through q (a transaction sees one moment),
// but those in known.
func snapshotOn(ctx context.Context, c querier, d DB, known map[string]TableSum, ranges map[string]*KeyRanges) (*Snapshot, error) {
	ts, err := tables(ctx, c)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{Tables: map[string]TableSum{}, Sequences: map[string]int64{}, Columns: map[string]int64{}}
	for _, t := range ts {
		if sum, ok := known[t.String()]; ok {
			s.Tables[t.String()] = sum
			continue
		}
		if k, ok := ranges[t.String()]; ok && !d.md5Sums && k.valid() {
			by, err := sumRanges(ctx, c, d, t, k)
			if err != nil {
				return nil, err
			}
			all := make([]TableSum, 0, len(by))
			for _, r := range by {
				all = append(all, r)
			}
			if sum, ok := addSums(all...); ok {
				if s.Ranges == nil {
					s.Ranges = map[string]map[int]TableSum{}
				}
				s.Ranges[t.String()], s.Tables[t.String()] = by, sum
				continue
			}
		}
		sum, err := sumTable(ctx, c, d, t)
		if err != nil {
			return nil, err
		}
		s.Tables[t.String()] = sum
	}
	rows, err := c.Query(ctx, `SELECT s.schemaname, s.sequencename, coalesce(s.last_value, 0),
		coalesce(a.attname, ''), coalesce(tn.nspname, ''), coalesce(tc.relname, '')
		FROM pg_sequences s
		JOIN pg_class sc ON sc.relname = s.sequencename JOIN pg_namespace sn ON sn.oid = sc.relnamespace AND sn.nspname = s.schemaname
		LEFT JOIN pg_depend d ON d.objid = sc.oid AND d.deptype IN ('a', 'i') AND d.classid = 'pg_class'::regclass
		LEFT JOIN pg_class tc ON tc.oid = d.refobjid LEFT JOIN pg_namespace tn ON tn.oid = tc.relnamespace
		LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
		ORDER BY 1, 2`)
	if err != nil {
		return nil, err
	}
	type owned struct{ seq, col string }
	var cols []owned
	for rows.Next() {
		var schema, name, col, tschema, table string
		var last int64
		if err := rows.Scan(&schema, &name, &last, &col, &tschema, &table); err != nil {
			return nil, err
		}
		key := schema + "." + name
		s.Sequences[key] = last
		if col != "" {
			cols = append(cols, owned{key, quoteIdent(tschema) + "." + quoteIdent(table) + "." + quoteIdent(col)})
		}
	}
	rows.Close()
	for _, o := range cols {
		i := strings.LastIndex(o.col, ".")
		var m int64
		if err := c.QueryRow(ctx, "SELECT coalesce(max("+o.col[i+1:]+"), 0)::bigint FROM "+o.col[:i]).Scan(&m); err != nil {
			return nil, fmt.Errorf("%s: max of %s: %v", d, o.col, err)
		}
		s.Columns[o.seq] = m
	}
	rows, err = c.Query(ctx, "SELECT extname FROM pg_extension ORDER BY 1")
	if err != nil {
		return nil, err
	}
	s.Extensions, err = pgx.CollectRows(rows, pgx.RowTo[string])
	return s, err
}

// A table's checksum is the exact (numeric) sum over its rows of a 64-bit
// hash of each row: a sum needs no order, so no sort. The row's hash is
// PostgreSQL's own hash of the record of its columns (hash_record_extended,
// which hash partitioning relies on, stable across versions), under a seed
// that is not 0 (with 0, a NULL and a float's 0 both hash to 0), then mixed
// over its 64 bits (hashtextextended of its digits: the record's hash is
// linear in its columns', so two rows swapping a value would keep the sum,
// and hashint8extended would fold it to 32 bits). Columns of the types
// below are hashed as they are stored; every other column as its text,
// collated "C", byte for byte, under the session settings sessionSettings
// pins: an enum's stored value is its OID, which a restore changes; the
// hashes of numeric, interval and jsonb (its numbers, its nesting) follow
// equality or less (1.5 and 1.50, 1 day and 24 hours, [[1],2] and [[1,2]]);
// a case-insensitive collation's hash ignores case; a type may have no hash
// at all (json, arrays of it, ...). A float's -0 and 0, equal, hash alike.
// It reads a 1.1 GB table in under a quarter of the time of md5 over each
// row's text (sumRowsMD5, which an earlier nfx recorded with the "a:"
// prefix, and which a server before PostgreSQL 14 still needs; before it,
// md5Rows, the md5 of the sorted md5s).
const (
	hashedTypes = "{int2,int4,int8,float4,float8,bool,date,time,timetz,timestamp,timestamptz,uuid,bytea,inet,macaddr,macaddr8,pg_lsn}"
	// hashColumns lists the columns of the relation %s names as the row's
	// hash reads them (t is the row).
	hashColumns = `SELECT coalesce(string_agg('t.' || quote_ident(a.attname) ||
  CASE WHEN a.atttypid = ANY ('` + hashedTypes + `'::regtype[]) THEN '' ELSE '::text COLLATE "C"' END, ', ' ORDER BY a.attnum), '')
  FROM pg_attribute a WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped`
	// hashSeed is the seed of every hash of the checksum.
	hashSeed = "7458294118592034173"
	// (t.*), not t: a column named t would stand for the row.
	sumRowsMD5 = "'a:' || coalesce(sum(('x' || left(md5((t.*)::text), 16))::bit(64)::bigint), 0)::text"
	md5Rows    = "coalesce(md5(string_agg(md5((t.*)::text), '' ORDER BY md5((t.*)::text))), '')"
)

// sessionSettings are the settings every connection of a migration runs
// with, so that a value's text, which a checksum may read, is the same on
// both sides whatever each server's, database's or role's defaults.
var sessionSettings = [][2]string{
	{"TimeZone", "UTC"}, {"DateStyle", "ISO"}, {"IntervalStyle", "postgres"},
	{"extra_float_digits", "3"}, {"bytea_output", "hex"}, {"lc_monetary", "C"},
}

// hashRows is the checksum of the rows, given their columns (hashColumns).
func hashRows(cols string) string {
	return "'h:' || coalesce(sum(hashtextextended(hash_record_extended(ROW(" + cols + "), " + hashSeed + ")::text, " + hashSeed + ")), 0)::text"
}

// hashSince is the first PostgreSQL with hash_record_extended.
const hashSince = 14

// agreeSums makes the databases of one comparison sum their tables the
// same way: with hashRows, or with sumRowsMD5 when one of them (or one
// agreed with before) runs a PostgreSQL before 14. Each is asked once.
func agreeSums(ctx context.Context, dbs ...*DB) error {
	old := false
	for _, d := range dbs {
		if d.sumsAgreed {
			old = old || d.md5Sums
			continue
		}
		c, err := pgx.Connect(ctx, d.url())
		if err != nil {
			return fmt.Errorf("%s database %s: %s", d.Name, d, scrub(err.Error(), d.Password))
		}
		major, err := serverMajor(ctx, c)
		c.Close(ctx)
		if err != nil {
			return fmt.Errorf("%s database %s: %v", d.Name, d, err)
		}
		old = old || major < hashSince
	}
	for _, d := range dbs {
		d.md5Sums, d.sumsAgreed = old, true
	}
	return nil
}

// sumTable is a table's row count and content checksum (hashRows, or
// sumRowsMD5 as agreeSums decided).
func sumTable(ctx context.Context, c querier, d DB, t Table) (TableSum, error) {
	if d.md5Sums {
		return sumTableWith(ctx, c, d, t, sumRowsMD5)
	}
	var cols string
	if err := c.QueryRow(ctx, fmt.Sprintf(hashColumns, "$1::regclass"), t.quoted()).Scan(&cols); err != nil {
		return TableSum{}, fmt.Errorf("%s: the columns of %s: %v", d, t, err)
	}
	return sumTableWith(ctx, c, d, t, hashRows(cols))
}

// sumTableWith is a table's row count and the checksum expr gives.
func sumTableWith(ctx context.Context, c querier, d DB, t Table, expr string) (TableSum, error) {
	var sum TableSum
	if err := c.QueryRow(ctx, "SELECT count(*), "+expr+" FROM "+t.quoted()+" t").Scan(&sum.Rows, &sum.Sum); err != nil {
		return sum, fmt.Errorf("%s: sum %s: %v", d, t, err)
	}
	return sum, nil
}

// earlierChecksum is the expression of the checksum an earlier nfx
// recorded as sum, or "" for the current one.
func earlierChecksum(sum string) string {
	switch {
	case strings.HasPrefix(sum, "h:"):
		return ""
	case strings.HasPrefix(sum, "a:"):
		return sumRowsMD5
	}
	return md5Rows
}

// resumEarlier sums the named tables of a snapshot again with the
// checksums an earlier nfx recorded (by table, their expressions), as a
// journal it wrote holds them.
func resumEarlier(ctx context.Context, d DB, s *Snapshot, exprs map[string]string) error {
	if len(exprs) == 0 {
		return nil
	}
	c, err := pgx.Connect(ctx, d.url())
	if err != nil {
		return fmt.Errorf("%s database %s: %s", d.Name, d, scrub(err.Error(), d.Password))
	}
	defer c.Close(ctx)
	ts, err := tables(ctx, c)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if expr, ok := exprs[t.String()]; ok {
			if s.Tables[t.String()], err = sumTableWith(ctx, c, d, t, expr); err != nil {
				return err
			}
		}
	}
	return nil
}

// CompareSnapshots lists every difference that stops a cutover: a table
// missing or with other rows, a sequence behind its column, an extension
// missing.
func CompareSnapshots(src, dst *Snapshot) []string {
	var bad []string
	for _, t := range model.SortedKeys(src.Tables) {
		a := src.Tables[t]
		b, ok := dst.Tables[t]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("table %s is missing on the target", t))
		case a.Rows != b.Rows:
			bad = append(bad, fmt.Sprintf("table %s: %d rows on the source, %d on the target", t, a.Rows, b.Rows))
		case a.Sum != b.Sum:
			bad = append(bad, fmt.Sprintf("table %s: the same %d rows but different content", t, a.Rows))
		}
	}
	for _, t := range model.SortedKeys(dst.Tables) {
		if _, ok := src.Tables[t]; !ok {
			bad = append(bad, fmt.Sprintf("table %s is on the target only", t))
		}
	}
	for _, seq := range model.SortedKeys(dst.Columns) {
		if dst.Sequences[seq] < dst.Columns[seq] {
			bad = append(bad, fmt.Sprintf("sequence %s is at %d, behind the %d its column holds: new rows would collide", seq, dst.Sequences[seq], dst.Columns[seq]))
		}
	}
	have := map[string]bool{}
	for _, e := range dst.Extensions {
		have[e] = true
	}
	for _, e := range src.Extensions {
		if !have[e] {
			bad = append(bad, fmt.Sprintf("extension %s is missing on the target", e))
		}
	}
	return bad
}

// UserTableCount counts the user tables of a database.
func UserTableCount(ctx context.Context, d DB) (int, error) {
	c, err := pgx.Connect(ctx, d.url())
	if err != nil {
		return 0, fmt.Errorf("%s database %s: %s", d.Name, d, scrub(err.Error(), d.Password))
	}
	defer c.Close(ctx)
	ts, err := tables(ctx, c)
	return len(ts), err
}

// Info is what preflight learns of a database.
type Info struct {
	Major int   `json:"major"`
	Bytes int64 `json:"bytes"`
}

// Inspect reads a database's version and size.
func Inspect(ctx context.Context, d DB) (Info, error) {
	c, err := pgx.Connect(ctx, d.url())
	if err != nil {
		return Info{}, fmt.Errorf("%s database %s: %s", d.Name, d, scrub(err.Error(), d.Password))
	}
	defer c.Close(ctx)
	var in Info
	if in.Major, err = serverMajor(ctx, c); err != nil {
		return in, err
	}
	err = c.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&in.Bytes)
	return in, err
}

// WaitReplayed waits until the streaming replica has replayed the
// primary's WAL up to its current end: the replica holds the import.
func WaitReplayed(ctx context.Context, primary, replica DB, timeout time.Duration) (string, error) {
	p, err := pgx.Connect(ctx, primary.url())
	if err != nil {
		return "", fmt.Errorf("primary %s: %s", primary, scrub(err.Error(), primary.Password))
	}
	defer p.Close(ctx)
	var lsn string
	if err := p.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
		return "", err
	}
	r, err := pgx.Connect(ctx, replica.url())
	if err != nil {
		return lsn, fmt.Errorf("replica %s: %s", replica, scrub(err.Error(), replica.Password))
	}
	defer r.Close(ctx)
	deadline := time.Now().Add(timeout)
	for {
		var done bool
		if err := r.QueryRow(ctx, "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)", lsn).Scan(&done); err != nil {
			return lsn, fmt.Errorf("replica %s: %v", replica, err)
		}
		if done {
			return lsn, nil
		}
		if time.Now().After(deadline) {
			return lsn, fmt.Errorf("the replica %s has not replayed the primary's WAL up to %s within %s", replica, lsn, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
