package testutil

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Postgres is a throwaway PostgreSQL server on loopback, run as the
// postgres system user, with the superuser nextflow.
type Postgres struct {
	Port     int
	Password string
	dir      string
	user     string
}

// StartPostgres initialises and starts a PostgreSQL server; opts are extra
// server settings ("-c wal_level=logical"). It stops at the test's end.
func StartPostgres(t testing.TB, opts ...string) *Postgres {
	t.Helper()
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		Tool(t, "initdb")
	}
	bin := filepath.Dir(matches[len(matches)-1])
	u, err := user.Lookup("postgres")
	if err != nil {
		Tool(t, "a postgres system user")
	}
	dir, err := os.MkdirTemp("", "nfx-pg-")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	p := &Postgres{Password: "Test-pg-0", dir: dir, user: "postgres"}
	t.Cleanup(func() {
		_ = p.cmd(bin, "pg_ctl", "-D", filepath.Join(dir, "data"), "-m", "immediate", "-w", "stop").Run()
		os.RemoveAll(dir)
	})
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte(p.Password), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{dir, pw} {
		if err := os.Chown(f, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := p.cmd(bin, "initdb", "-D", filepath.Join(dir, "data"), "-U", "nextflow", "--pwfile", pw, "--auth=scram-sha-256").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.Port = FreePort(t)
	o := fmt.Sprintf("-c port=%d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s %s", p.Port, dir, strings.Join(opts, " "))
	if out, err := p.cmd(bin, "pg_ctl", "-D", filepath.Join(dir, "data"), "-o", o, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	p.Exec(t, "postgres", "CREATE DATABASE nextflow")
	return p
}

func (p *Postgres) cmd(bin, name string, args ...string) *exec.Cmd {
	c := exec.Command("runuser", append([]string{"-u", p.user, "--", filepath.Join(bin, name)}, args...)...)
	c.Dir = p.dir
	c.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "LC_ALL=C", "HOME=" + p.dir}
	return c
}

// URL is the server's database db as role, without its password.
func (p *Postgres) URL(role, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s", role, p.Port, db)
}

func (p *Postgres) conn(t testing.TB, db string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://nextflow:%s@127.0.0.1:%d/%s?sslmode=disable", p.Password, p.Port, db))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Conn opens a connection to database db as the superuser, closed when
// the test ends.
func (p *Postgres) Conn(t testing.TB, db string) *pgx.Conn {
	t.Helper()
	c := p.conn(t, db)
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// Exec runs SQL statements in database db as the superuser.
func (p *Postgres) Exec(t testing.TB, db, sql string) {
	t.Helper()
	c := p.conn(t, db)
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%.200s: %v", sql, err)
	}
}

// Query returns the text of the first column of the first row of a query.
func (p *Postgres) Query(t testing.TB, db, sql string) string {
	t.Helper()
	c := p.conn(t, db)
	defer c.Close(context.Background())
	var out string
	if err := c.QueryRow(context.Background(), "SELECT ("+sql+")::text").Scan(&out); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// Stop stops the server at once, as a crash would.
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) == 0 {
		t.Fatal("pg_ctl not found")
	}
	if out, err := p.cmd(filepath.Dir(matches[len(matches)-1]), "pg_ctl", "-D", filepath.Join(p.dir, "data"), "-m", "immediate", "-w", "stop").CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}
