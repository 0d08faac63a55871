package migrate

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// online mode refuses, before anything changes, what it cannot do: a
// source without logical WAL, a target role that may not subscribe (RDS's
// master user may: it is a member of rds_superuser), and DDL made during
// the window.
func TestOnlineChecks(t *testing.T) {
	logical := testutil.StartPostgres(t, "-c wal_level=logical")
	replica := testutil.StartPostgres(t)
	target := testutil.StartPostgres(t)
	for _, p := range []*testutil.Postgres{logical, replica} {
		p.Exec(t, "nextflow", "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
	}
	logical.Exec(t, "postgres", "CREATE DATABASE u")
	logical.Exec(t, "u", "CREATE TABLE t (id int PRIMARY KEY); CREATE UNLOGGED TABLE sessions (id int PRIMARY KEY)")
	target.Exec(t, "postgres", "CREATE ROLE plain LOGIN PASSWORD 'Plain-pw-1'; CREATE ROLE rds_superuser; CREATE ROLE master LOGIN PASSWORD 'Master-pw-1' IN ROLE rds_superuser")
	target.Exec(t, "postgres", "CREATE DATABASE a OWNER plain")
	target.Exec(t, "postgres", "CREATE DATABASE b OWNER master")
	plan, err := NewPlan(load(t, "laptop", map[string]string{"migration": `{"mode": "online"}`, "redis": `{"data": "cache"}`}), load(t, "server", nil))
	if err != nil {
		t.Fatal(err)
	}
	db := func(p *testutil.Postgres, user, pw, database string) *DB {
		return &DB{Name: "x", Host: "127.0.0.1", Port: p.Port, User: user, Password: pw, Database: database, SSLMode: "disable"}
	}
	for _, tc := range []struct {
		name     string
		src, dst *DB
		want     string
	}{
		{"an unlogged table", db(logical, "nextflow", logical.Password, "u"), db(target, "nextflow", target.Password, "nextflow"), "unlogged tables do not write: public.sessions"},
		{"no logical WAL", db(replica, "nextflow", replica.Password, "nextflow"), db(target, "nextflow", target.Password, "nextflow"), "wal_level replica"},
		{"a role that may not subscribe", db(logical, "nextflow", logical.Password, "nextflow"), db(target, "plain", "Plain-pw-1", "a"), "may not create a subscription"},
		{"RDS's master user", db(logical, "nextflow", logical.Password, "nextflow"), db(target, "master", "Master-pw-1", "b"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Run{Plan: plan, Dir: filepath.Join(t.TempDir(), "j"), E: Endpoints{SourceDB: tc.src, TargetDB: tc.dst}}
			unlock, err := r.begin()
			if err != nil {
				t.Fatal(err)
			}
			defer unlock()
			_, _, err = r.onlineCheck(context.Background())
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if frozen, _ := Frozen(context.Background(), *tc.src); frozen {
				t.Error("the check froze the source")
			}
			if tc.want != "" {
				return
			}
			// DDL during the window stops the migration at the catch-up.
			logical.Exec(t, "nextflow", "ALTER TABLE t ADD COLUMN note text")
			if _, _, err := r.onlineCatchup(context.Background()); err == nil || !strings.Contains(err.Error(), "schema changed during the migration") {
				t.Errorf("DDL in the window: %v", err)
			}
		})
	}
}
