package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The secret every case below hides somewhere in its input: no output may
// hold it.
const hidden = "hunter2"

// A value that may hold a secret is refused without being repeated, with
// the flag and the part at fault named: libpq's keyword form, a URL short
// of a colon, a password in a query parameter or an encoded user name, a
// credential in --prometheus or --backend. Nothing is written.
func TestRefusalsNeverEchoASecret(t *testing.T) {
	run := []string{"migrate", "run", "--from", "laptop", "--to", "server"}
	verify := []string{"verify", "--stage", "laptop"}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"libpq keyword form with a password", append(run, "--source-db", "host=127.0.0.1 user=nextflow password="+hidden+" dbname=nextflow"), []string{"--source-db", "keyword=value form and holds a password"}},
		{"libpq keyword form with a quoted password", append(run, "--source-db", "password='"+hidden+"' host=h"), []string{"--source-db", "holds a password"}},
		{"postgres URL missing a colon", append(run, "--source-db", "postgresql//nextflow:"+hidden+"@127.0.0.1/nextflow"), []string{"--source-db", "seems to hold a password"}},
		{"postgres URL missing both slashes", append(run, "--target-db", "postgres:nextflow:"+hidden+"@127.0.0.1/nextflow"), []string{"--target-db", "seems to hold a password"}},
		{"redis URL missing a colon", append(run, "--source-redis", "redis//default:"+hidden+"@127.0.0.1:6379"), []string{"--source-redis", "seems to hold a password"}},
		{"qdrant URL missing a colon", append(run, "--source-qdrant", "http//admin:"+hidden+"@127.0.0.1:6333"), []string{"--source-qdrant", "seems to hold a password"}},
		{"?password= on a valid postgres URL", append(run, "--source-db", "postgres://nextflow@127.0.0.1/nextflow?password="+hidden), []string{"--source-db", "query parameter password holds a credential"}},
		{"?PASSWORD= in capitals", append(run, "--source-db", "postgres://nextflow@127.0.0.1/nextflow?sslmode=disable&PASSWORD="+hidden), []string{"--source-db", "holds a credential"}},
		{"a query parameter postgres does not take", append(run, "--source-db", "postgres://nextflow@127.0.0.1/nextflow?options="+hidden), []string{"--source-db", "options is not taken (only sslmode)"}},
		{"a bad sslmode", append(run, "--source-db", "postgres://nextflow@127.0.0.1/nextflow?sslmode="+hidden), []string{"--source-db", "sslmode is not one of"}},
		{"a fragment", append(run, "--source-db", "postgres://nextflow@127.0.0.1/nextflow#"+hidden), []string{"--source-db", "#fragment"}},
		{"an encoded colon in the user name", append(run, "--source-db", "postgres://nextflow%3A"+hidden+"@127.0.0.1/nextflow"), []string{"--source-db", "password in its user name"}},
		{"a line break", append(run, "--source-db", "postgres://nextflow@127.0.0.1/nextflow\n"+hidden), []string{"--source-db", "space or a control character"}},
		{"?password= on a redis URL", append(run, "--source-redis", "redis://127.0.0.1:6379?password="+hidden), []string{"--source-redis", "holds a credential"}},
		{"a redis path that is not a database", append(run, "--source-redis", "redis://127.0.0.1:6379/"+hidden), []string{"--source-redis", "not a database number"}},
		{"?api_key= on a qdrant URL", append(run, "--target-qdrant", "http://127.0.0.1:6333?api_key="+hidden), []string{"--target-qdrant", "api_key holds a credential"}},
		{"a qdrant URL with a path", append(run, "--target-qdrant", "http://127.0.0.1:6333/"+hidden), []string{"--target-qdrant", "has a path"}},
		{"a scheme nfx does not take", append(run, "--source-db", "mysql://root:"+hidden+"@h/db"), []string{"--source-db", "holds a password"}},
		{"an unknown scheme, no password", append(run, "--source-db", hidden+"://h/db"), []string{"--source-db", "does not start with postgres:// or postgresql://"}},
		{"rehearse: a password in the keyword form", []string{"migrate", "rehearse", "--stage", "laptop", "--source-db", "password=" + hidden, "--scratch-db", "postgres://n@h/s"}, []string{"--source-db", "holds a password"}},
		{"verify: ?access_token= on --prometheus", append(verify, "--prometheus", "http://127.0.0.1:9090?access_token="+hidden), []string{"--prometheus", "credentials"}},
		{"verify: a query on --prometheus", append(verify, "--prometheus", "http://127.0.0.1:9090/?q="+hidden), []string{"--prometheus", "no ?query or #fragment"}},
		{"verify: a fragment on --prometheus", append(verify, "--prometheus", "http://127.0.0.1:9090/#"+hidden), []string{"--prometheus", "no ?query or #fragment"}},
		{"verify: not a URL", append(verify, "--prometheus", "ftp//"+hidden), []string{"--prometheus", "not a Prometheus URL"}},
		{"advise: ?token= on --prometheus", []string{"advise", "--stage", "laptop", "--revenue", "1", "--team", "1", "--prometheus", "http://127.0.0.1:9090/?token=" + hidden}, []string{"--prometheus", "credentials"}},
		{"ledger: a secret key in an s3 backend's query", []string{"ledger", "--backend", "s3://bucket?aws_secret_access_key=" + hidden}, []string{"--backend", "holds a credential"}},
		{"ledger: a token in a file backend's query", []string{"ledger", "--backend", "file:///tmp/x?token=" + hidden}, []string{"--backend", "holds a credential"}},
		{"ledger: user and password in the backend", []string{"ledger", "--backend", "s3://AKIA:" + hidden + "@bucket"}, []string{"--backend", "credentials are never taken in a URL"}},
		{"upgrade: a password in --target-db", []string{"upgrade", "--from", "laptop", "--to", "server", "--target-db", "postgresql//n:" + hidden + "@h/db"}, []string{"--target-db", "seems to hold a password"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := project(t)
			before := snapshot(t, dir)
			code, stdout, stderr := nfx(t, dir, tc.args...)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d\n%s", code, ExitUsage, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("%q is not in: %s", w, stderr)
				}
			}
			if strings.Contains(stdout+stderr, hidden) {
				t.Errorf("the secret was echoed: %s", stderr)
			}
			if snapshot(t, dir) != before {
				t.Error("the refused command changed the project")
			}
		})
	}
}

// No input makes a workflow command panic: each runs in process under a
// recover, and ends with a usage error (exit 2) that names what is
// missing, or a plain failure, never a crash.
func TestNoInputPanics(t *testing.T) {
	db := "postgres://nextflow@127.0.0.1:1/nextflow"
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"migrate rollback without --source-db", []string{"migrate", "rollback", "--from", "laptop", "--to", "server"}, ExitUsage, "rollback needs --source-db"},
		{"migrate rollback with the target only", []string{"migrate", "rollback", "--from", "laptop", "--to", "server", "--target-db", db}, ExitUsage, "needs --source-db"},
		{"upgrade --rollback without --source-db", []string{"upgrade", "--from", "laptop", "--to", "server", "--rollback"}, ExitUsage, "rollback needs --source-db"},
		{"migrate run without databases", []string{"migrate", "run", "--from", "laptop", "--to", "server"}, ExitUsage, "run needs --source-db and --target-db"},
		{"migrate run with the source only", []string{"migrate", "run", "--from", "laptop", "--to", "server", "--source-db", db}, ExitUsage, "needs --target-db"},
		{"migrate verify without databases", []string{"migrate", "verify", "--from", "laptop", "--to", "server"}, ExitUsage, "verify needs --source-db and --target-db"},
		{"migrate confirm with no migration", []string{"migrate", "confirm", "--from", "laptop", "--to", "server"}, ExitFailed, "only a cut-over migration"},
		{"migrate report with no migration", []string{"migrate", "report", "--from", "laptop", "--to", "server"}, ExitFailed, "no migration laptop -> server"},
		{"upgrade --approved -1", []string{"upgrade", "--from", "laptop", "--to", "server", "--approved", "-1"}, ExitUsage, "--approved"},
		{"upgrade --rollback --dry-run", []string{"upgrade", "--from", "laptop", "--to", "server", "--rollback", "--dry-run"}, ExitUsage, "not with --dry-run"},
		{"upgrade backwards", []string{"upgrade", "--from", "server", "--to", "laptop"}, ExitUsage, "later stage"},
		{"promote --approved of no entry", []string{"promote", "--from", "laptop", "--to", "server", "--approved", "99999", "--config-only"}, ExitBlocked, "there is no ledger entry 99999"},
		{"approve 0", []string{"approve", "0"}, ExitUsage, "a ledger entry number"},
		{"approve a word", []string{"approve", "$(id)"}, ExitUsage, "a ledger entry number"},
		{"approve an entry that is not there", []string{"approve", "7"}, ExitUsage, "there is no ledger entry 7"},
		{"reject a tag, not a digest", []string{"reject", "crm:1.0"}, ExitUsage, "release digest"},
		{"ledger --seal on no ledger", []string{"ledger", "--seal"}, ExitOK, "0 entries verify"},
		{"verify without --prometheus", []string{"verify", "--stage", "laptop"}, ExitUsage, "--prometheus are required"},
		{"rollback of a stack with no history", []string{"rollback", "--stage", "server", "--config-only"}, ExitFailed, "nothing to go back to"},
		{"rollback of no stack", []string{"rollback"}, ExitUsage, "--stage is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := project(t)
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("nfx %s panicked: %v", strings.Join(tc.args, " "), r)
				}
			}()
			code, stdout, stderr := nfx(t, dir, tc.args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Errorf("exit %d (want %d)\n%s%s", code, tc.code, stdout, stderr)
			}
		})
	}
}

// One command never replaces the files of another: migrate scripts and
// render refuse a directory that holds another kind's or another stage's
// files nfx wrote, and the files stay byte for byte.
func TestOutputsOfOneKindAreNotReplacedByAnother(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first []string
		then  []string
		want  string
	}{
		{"migrate scripts over the server's render", []string{"render", "--stage", "server"},
			[]string{"migrate", "scripts", "--from", "laptop", "--to", "server", "--out", "out/server"}, "it holds the stage's files of server, and this writes a migration's scripts"},
		{"the laptop's render over the server's", []string{"render", "--stage", "server"},
			[]string{"render", "--stage", "laptop", "--out", "out/server"}, "it holds the stage's files of server, and this writes the stage's files of laptop"},
		{"a render over a migration's scripts", []string{"migrate", "scripts", "--from", "laptop", "--to", "server"},
			[]string{"render", "--stage", "server", "--out", "out/server/migrate"}, "it holds a migration's scripts of server"},
		{"scripts for another stage over the scripts", []string{"migrate", "scripts", "--from", "laptop", "--to", "server", "--out", "s"},
			[]string{"migrate", "scripts", "--from", "server", "--to", "cloud", "--out", "s"}, "of server, and this writes a migration's scripts of cloud"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := project(t)
			if code, _, stderr := nfx(t, dir, tc.first...); code != ExitOK {
				t.Fatalf("%v: %s", tc.first, stderr)
			}
			before := snapshot(t, dir)
			code, _, stderr := nfx(t, dir, tc.then...)
			if code != ExitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d: %s", code, stderr)
			}
			if snapshot(t, dir) != before {
				t.Error("the refused write changed files")
			}
		})
	}
	// The same command into its own directory still replaces its files.
	dir := project(t)
	for i := 0; i < 2; i++ {
		if code, _, stderr := nfx(t, dir, "migrate", "scripts", "--from", "laptop", "--to", "server"); code != ExitOK {
			t.Fatalf("scripts, run %d: %s", i+1, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "server", "migrate", "cutover.sh")); err != nil {
		t.Error(fmt.Errorf("the scripts are not written: %w", err))
	}
}
