package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// The drills the README's operations sections describe, run on the Swarm
// of TestServerServesOnSwarm against the deployed stack.

// inTask runs a shell script in a running task of a service, on its node.
func inTask(t *testing.T, sw testutil.Swarm, service, script string, args ...string) (string, error) {
	t.Helper()
	node, id := task(t, sw, service)
	return node.Try(append([]string{"exec", id, "sh", "-c", script, "sh"}, args...)...)
}

// until retries f every 2 s for up to d.
func until(t *testing.T, d time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	testutil.Eventually(t, d, 2*time.Second, what, f)
}

// newTask waits for a running task of a service other than the container
// old (Swarm's replacement of a killed task).
func newTask(t *testing.T, sw testutil.Swarm, service, old string) (testutil.Docker, string) {
	t.Helper()
	var node testutil.Docker
	var id string
	until(t, 2*time.Minute, "a new task of "+service, func() (bool, string) {
		for _, n := range sw.Nodes {
			ids := strings.Fields(n.Run(t, "ps", "-q", "--no-trunc", "--filter", "label=com.docker.swarm.service.name="+service))
			for _, i := range ids {
				if !strings.HasPrefix(i, old) && !strings.HasPrefix(old, i) {
					node, id = n, i
					return true, ""
				}
			}
		}
		return false, "none yet"
	})
	return node, id
}

func taskIP(t *testing.T, node testutil.Docker, id string) string {
	t.Helper()
	return strings.TrimSpace(node.Run(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", id))
}

const redisCLI = `REDISCLI_AUTH="$(cat /run/secrets/redis_password)" exec redis-cli --no-auth-warning "$@"`

// redisFailover: 200 writes acknowledged by the replica (WAIT 1), the
// primary frozen; the Sentinels promote the replica, which takes a write;
// the old primary's task is lost and Swarm starts another, with another
// address, which joins the promoted primary as its replica with every
// write; the CRM, which finds the primary through the Sentinels, keeps
// serving.
func redisFailover(t *testing.T, sw testutil.Swarm, stack string, viaTunnel func() (string, error)) {
	t.Helper()
	cli := func(service string, args ...string) string {
		t.Helper()
		o, _ := inTask(t, sw, stack+"_"+service, redisCLI, args...)
		return strings.TrimSpace(o)
	}
	o, err := inTask(t, sw, stack+"_redis-primary", `{ printf '%s\n' "EVAL \"for i=1,200 do redis.call('SET','drill:'..i,i) end return 200\" 0" "WAIT 1 10000"; } | `+redisCLI)
	if lines := strings.Fields(o); err != nil || len(lines) != 2 || lines[1] != "1" {
		t.Fatalf("200 writes acknowledged by the replica (EVAL, WAIT 1): %v\n%s", err, o)
	}
	// The primary stops answering (frozen, as a hung or cut-off node is),
	// for longer than the Sentinels wait. Its task stays, so its name still
	// resolves: on this engine (dockerd 20.10) a name with no task gets no
	// DNS answer at all on an internal network, which stalls Sentinel
	// (README, "Redis after a failover"); newer engines answer at once.
	node, old := task(t, sw, stack+"_redis-primary")
	oldIP := taskIP(t, node, old)
	node.Run(t, "pause", old)
	until(t, 90*time.Second, "the Sentinels naming redis-replica the primary", func() (bool, string) {
		o := cli("redis-sentinel", "-p", "26379", "sentinel", "get-master-addr-by-name", "nextflow")
		return strings.HasPrefix(o, "redis-replica"), o
	})
	if o := cli("redis-replica", "-p", "6379", "set", "drill:after", "failover"); o != "OK" {
		t.Errorf("the promoted redis-replica refuses a write: %s", o)
	}
	// The old primary's task is then lost: Swarm starts a new one, with a
	// new address, which must join the promoted primary.
	node.Run(t, "unpause", old)
	node.Run(t, "kill", old)
	node, id := newTask(t, sw, stack+"_redis-primary", old)
	if ip := taskIP(t, node, id); ip == oldIP {
		t.Errorf("the restarted redis-primary task kept its address %s; the drill needs a new one", ip)
	}
	until(t, 2*time.Minute, "the restarted redis-primary replicating from redis-replica", func() (bool, string) {
		o := cli("redis-primary", "-p", "6379", "info", "replication")
		return strings.Contains(o, "role:slave") && strings.Contains(o, "master_host:redis-replica") &&
			strings.Contains(o, "master_link_status:up"), o
	})
	for _, svc := range []string{"redis-replica", "redis-primary"} {
		if got := cli(svc, "-p", "6379", "get", "drill:after"); got != "failover" {
			t.Errorf("%s after the failover: the write made after it is %q", svc, got)
		}
		if got := cli(svc, "-p", "6379", "get", "drill:200"); got != "200" {
			t.Errorf("%s after the failover: drill:200 = %q, want 200", svc, got)
		}
		if got := cli(svc, "-p", "6379", "eval_ro", "return #redis.call('keys','drill:[0-9]*')", "0"); got != "200" {
			t.Errorf("%s after the failover holds %s of the 200 acknowledged writes", svc, got)
		}
	}
	serves(t, "the Redis failover", 2*time.Minute, viaTunnel)
}

const psqlIn = `PGPASSWORD="$(cat /run/secrets/postgres_password)" exec psql -X -U nextflow -d "${DB:-nextflow}" -v ON_ERROR_STOP=1 -tAc "$1"`

// pgIn runs one statement as the CRM's user in a PostgreSQL task.
func pgIn(t *testing.T, sw testutil.Swarm, service, sql string) (string, error) {
	t.Helper()
	o, err := inTask(t, sw, service, psqlIn, sql)
	return strings.TrimSpace(o), err
}

// postgresFailover runs the README's "After a PostgreSQL failover": the
// primary is lost (its service at 0), failover.sh promotes the replica in
// its container, postgres.failedOver is set, and `nfx up` and `docker
// stack deploy` re-point the CRM and bring postgres-primary back on its
// own node and volume as the promoted server's streaming replica.
func postgresFailover(t *testing.T, sw testutil.Swarm, dir, out, stack string, viaTunnel func() (string, error)) {
	t.Helper()
	mgr := sw.Nodes[0]
	primary, replica := stack+"_postgres-primary", stack+"_postgres-replica"
	if _, err := pgIn(t, sw, primary, "CREATE TABLE drill_rows (id int PRIMARY KEY); INSERT INTO drill_rows SELECT generate_series(1, 5000)"); err != nil {
		t.Fatal(err)
	}
	// Asynchronous replication: a commit is acknowledged before the
	// replica has it. The drill fails over once the replica has replayed.
	until(t, time.Minute, "the rows on the replica", func() (bool, string) {
		o, _ := pgIn(t, sw, replica, "SELECT count(*) FROM drill_rows")
		return o == "5000", o
	})
	mgr.Run(t, "service", "scale", "--detach", primary+"=0")
	until(t, time.Minute, "postgres-primary stopped", func() (bool, string) {
		for _, n := range sw.Nodes {
			if ids := strings.Fields(n.Run(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+primary)); len(ids) > 0 {
				return false, "still running"
			}
		}
		return true, ""
	})
	o, err := inTask(t, sw, replica, "exec failover.sh")
	if err != nil || !strings.Contains(o, "accepts writes") || !strings.Contains(o, "nextflow:postgres.failedOver true") {
		t.Fatalf("failover.sh in the replica's container: %v\n%s", err, o)
	}

	// `pulumi config set --path nextflow:postgres.failedOver true`: the
	// stack's file keeps everything else, its generated secrets among them
	// (Swarm refuses a changed secret under the same name).
	setFailedOver(t, filepath.Join(dir, "Pulumi.server.yaml"))
	if code, stdout, stderr := nfx(t, dir, "up", "--stage", "server"); code != ExitOK {
		t.Fatalf("nfx up after the failover: exit %d\n%s\n%s", code, stdout, stderr)
	}
	deployStack(t, mgr, out, stack)
	until(t, 4*time.Minute, "the CRM's update to the promoted server", func() (bool, string) {
		o, _ := mgr.Try("service", "inspect", "-f", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}} {{json .Spec.TaskTemplate.ContainerSpec.Env}}", stack+"_crm")
		state, env, _ := strings.Cut(o, " ")
		return (state == "completed" || state == "") && strings.Contains(env, "DATABASE_URL=postgres://nextflow@postgres-replica:5432/nextflow"), o
	})
	converge(t, mgr, stack)

	if o, _ := pgIn(t, sw, replica, "SELECT count(*) FROM drill_rows"); o != "5000" {
		t.Errorf("the promoted server holds %s of the 5000 replicated rows", o)
	}
	if _, err := pgIn(t, sw, replica, "INSERT INTO drill_rows VALUES (5001)"); err != nil {
		t.Fatalf("the promoted server refuses a write: %v", err)
	}
	until(t, 4*time.Minute, "postgres-primary, rebuilt, streaming the promoted server's rows", func() (bool, string) {
		o, _ := pgIn(t, sw, primary, "SELECT pg_is_in_recovery(), count(*) FROM drill_rows")
		return o == "t|5001", o
	})
	if o, _ := inTask(t, sw, primary, "ls /var/lib/postgresql/data"); !strings.Contains(o, "pgdata.before-failover-") {
		t.Errorf("the old primary's data was not set aside in its volume: %s", o)
	}
	serves(t, "the PostgreSQL failover", 2*time.Minute, viaTunnel)
}

// backupKilledThenRestored: a good backup of PostgreSQL, then one held
// half way (an exclusive lock on the writer, replayed on the server it
// dumps from) and its task killed outright; the killed one is never the
// newest good backup (not listed, not reported), and the good one restores
// every row from the NAS volume into a new database.
func backupKilledThenRestored(t *testing.T, sw testutil.Swarm, stack string) {
	t.Helper()
	bk, writer := stack+"_backup-postgres", stack+"_postgres-replica"
	o, err := inTask(t, sw, bk, "exec bash /usr/local/bin/backup.sh postgres")
	good := regexp.MustCompile(`wrote (/backups/postgres/postgres-\S+\.dump) \((\d+) bytes\)`).FindStringSubmatch(o)
	if err != nil || good == nil {
		t.Fatalf("a backup of PostgreSQL: %v\n%s", err, o)
	}
	rows, _ := pgIn(t, sw, writer, "SELECT count(*) FROM drill_rows")
	time.Sleep(1100 * time.Millisecond) // the next backup's name is a second later

	wnode, wid := task(t, sw, writer)
	wnode.Run(t, "exec", "-d", wid, "sh", "-c", `PGPASSWORD="$(cat /run/secrets/postgres_password)" psql -X -U nextflow -d nextflow -c "BEGIN; LOCK TABLE drill_rows IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(300); COMMIT"`)
	// The lock taken, and replayed on the follower the dump reads from.
	until(t, time.Minute, "the writer's lock replayed on the follower", func() (bool, string) {
		o, _ := pgIn(t, sw, stack+"_postgres-primary", "SELECT count(*) FROM pg_locks WHERE relation = 'drill_rows'::regclass AND mode = 'AccessExclusiveLock'")
		return o == "1", o
	})
	bnode, bid := task(t, sw, bk)
	bnode.Run(t, "exec", "-d", bid, "bash", "/usr/local/bin/backup.sh", "postgres")
	until(t, time.Minute, "the second backup's partial file", func() (bool, string) {
		o, _ := inTask(t, sw, bk, "ls -a /backups/postgres")
		return strings.Contains(o, ".partial-postgres-"), o
	})
	time.Sleep(3 * time.Second)
	bnode.Run(t, "kill", bid)
	if _, err := pgIn(t, sw, writer, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(300)%' AND pid <> pg_backend_pid()"); err != nil {
		t.Fatal(err)
	}
	newTask(t, sw, bk, bid)

	list, _ := inTask(t, sw, bk, "cd /backups/postgres && ls -t postgres-*.dump")
	if f := strings.Fields(list); len(f) != 1 || "/backups/postgres/"+f[0] != good[1] {
		t.Errorf("after a backup killed half way, the backups are %q; want only %s", list, good[1])
	}
	report, _ := inTask(t, sw, bk, "cat /metrics/backup-postgres.prom")
	if !strings.Contains(report, fmt.Sprintf(`nextflow_backup_last_size_bytes{kind="postgres"} %s`, good[2])) {
		t.Errorf("the node exporter's report is not the good backup's:\n%s", report)
	}

	if _, err := pgIn(t, sw, writer, "CREATE DATABASE restore_check"); err != nil {
		t.Fatal(err)
	}
	if o, err := inTask(t, sw, bk, "exec bash /usr/local/bin/restore.sh postgres \"$1\" restore_check", good[1]); err != nil {
		t.Fatalf("restore.sh from the NAS volume: %v\n%s", err, o)
	}
	got, err := inTask(t, sw, writer, "DB=restore_check; "+psqlIn, "SELECT count(*) FROM drill_rows")
	if strings.TrimSpace(got) != rows || err != nil {
		t.Errorf("the restore holds %q rows; the database held %s at the backup (%v)", got, rows, err)
	}
}

// qdrantBackedUpThenRestored runs the rendered Qdrant backup and restore in
// the backup job's task, in its image, over the stack's network: every
// shard of a two-shard collection saved, and a restore that undoes what
// was written since, on every copy. The stand-in peers are not a cluster
// (each keeps its own collections): the cluster's facts, copies placed on
// some peers, are checked against a model of Qdrant in stacks/server.
func qdrantBackedUpThenRestored(t *testing.T, sw testutil.Swarm, stack string) {
	t.Helper()
	bk := stack + "_backup-qdrant"
	const api = "http://qdrant-1:6333/collections/drill"
	// Qdrant asks for its key: the job's task has it as a Swarm secret, and
	// curl reads it from its standard input as a config line.
	const curl = `printf 'header = "api-key: %s"\n' "$(cat /run/secrets/qdrant_api_key)" | curl -K - `
	if o, err := inTask(t, sw, bk, `curl -sS -o /dev/null -w '%{http_code}' "$1"`, "http://qdrant-1:6333/collections"); err != nil || o != "401" {
		t.Errorf("Qdrant without its key answers %q (%v), want 401", o, err)
	}
	put := func(points string) {
		t.Helper()
		if o, err := inTask(t, sw, bk, curl+`-fsS -X PUT -H 'Content-Type: application/json' --data-binary "$1" "$2"`, `{"points":`+points+`}`, api+"/points"); err != nil {
			t.Fatalf("points: %v\n%s", err, o)
		}
	}
	count := func() string {
		o, _ := inTask(t, sw, bk, curl+`-fsS -X POST "$1"`, api+"/points/count")
		return o
	}
	// The stand-in peers are not a cluster: the collection is made on each,
	// as a cluster whose every peer holds a copy of every shard would have it.
	for i := 1; i <= 3; i++ {
		if o, err := inTask(t, sw, bk, curl+`-fsS -X PUT -H 'Content-Type: application/json' --data-binary '{"vectors":{"size":2,"distance":"Dot"},"shard_number":2}' "$1"`,
			fmt.Sprintf("http://qdrant-%d:6333/collections/drill", i)); err != nil {
			t.Fatalf("a collection on qdrant-%d: %v\n%s", i, err, o)
		}
	}
	put(`[{"id":1,"vector":[1,0]},{"id":2,"vector":[0,1]},{"id":3,"vector":[1,1]}]`)
	o, err := inTask(t, sw, bk, "exec bash /usr/local/bin/backup.sh qdrant")
	file := regexp.MustCompile(`wrote (/backups/qdrant/qdrant-\S+\.tar)`).FindStringSubmatch(o)
	if err != nil || file == nil {
		t.Fatalf("a backup of Qdrant: %v\n%s", err, o)
	}
	listing, _ := inTask(t, sw, bk, `tar -tf "$1"`, file[1])
	if !strings.Contains(listing, "shard-0.snapshot") || !strings.Contains(listing, "shard-1.snapshot") {
		t.Errorf("the archive does not hold both shards:\n%s", listing)
	}
	before := count()
	put(`[{"id":4,"vector":[2,2]},{"id":5,"vector":[3,3]}]`)
	if o, err := inTask(t, sw, bk, `exec bash /usr/local/bin/restore.sh qdrant "$1"`, file[1]); err != nil || !strings.Contains(o, "restored collection drill (2 shards") {
		t.Fatalf("restore.sh qdrant: %v\n%s", err, o)
	}
	if after := count(); after != before || !strings.Contains(before, `"count":3`) {
		t.Errorf("after the restore Qdrant counts %s; at the backup %s", after, before)
	}
}

// setFailedOver sets nextflow:postgres.failedOver in a stack's file, as
// `pulumi config set --path` does, leaving every other key as it is.
func setFailedOver(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	cfg, _ := doc["config"].(map[string]any)
	pg, _ := cfg["nextflow:postgres"].(map[string]any)
	if cfg == nil || pg == nil {
		t.Fatalf("%s has no nextflow:postgres:\n%s", path, data)
	}
	pg["failedOver"] = true
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	write(t, path, string(out))
}
