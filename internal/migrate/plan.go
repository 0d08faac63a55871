// Package migrate moves a running NextFlow's data and traffic from one
// stage to the next: the plan of steps computed from both stages' models,
// its execution (resumable, never touching the source beyond its write
// freeze), the verification that gates the cutover, the rollback, and the
// rehearsal of a restore.
package migrate

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nextflow-crm/nfx/internal/model"
)

// Phases of a migration, in order.
const (
	PhasePrepare = "prepare"
	PhaseCopy    = "copy"
	PhaseFreeze  = "freeze"
	PhaseVerify  = "verify"
	PhaseCutover = "cutover"
)

// Step is one step of a migration.
type Step struct {
	// ID names the step in the journal and on the command line
	// (postgres.restore).
	ID    string `json:"id"`
	Part  string `json:"part"`
	Phase string `json:"phase"`
	Title string `json:"title"`
	// Detail says how, with the commands a user would run by hand.
	Detail string `json:"detail"`
	// Preconditions are checked before the step runs.
	Preconditions []string `json:"preconditions,omitempty"`
	// Frozen marks the steps that run while the source takes no writes.
	Frozen bool `json:"frozen,omitempty"`
}

// Plan is a migration from one stage to another.
type Plan struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Mode is the database's mode, dump or online.
	Mode string `json:"mode"`
	// RedisData is state (copied) or cache (the target starts empty).
	RedisData string `json:"redisData"`
	Steps     []Step `json:"steps"`
	// Checks are the compatibility checks made from both models: the
	// versions of each data store.
	Checks []Check `json:"checks"`
	// Downtime says how long writes stop.
	Downtime string `json:"downtime"`
}

// Check is a compatibility check of the plan.
type Check struct {
	What string `json:"what"`
	From string `json:"from"`
	To   string `json:"to"`
	OK   bool   `json:"ok"`
	Fix  string `json:"fix,omitempty"`
}

// Stores says where a stage keeps each kind of data, for the plan: the
// service or managed store and its version.
type Stores struct {
	Postgres, Redis, Qdrant string
	// Versions, as major[.minor].
	PostgresVersion, RedisVersion, QdrantVersion string
	// Replica is the PostgreSQL streaming replica the target runs, if any.
	Replica string
	Models  string
}

// StoresOf says where a loaded stage keeps its data.
func StoresOf(c *model.Config) Stores {
	s := Stores{
		Postgres: model.PartPostgres, Redis: model.PartRedis, Qdrant: model.PartQdrant, Models: model.VolModels,
		PostgresVersion: imageVersion(c.Postgres.Image, 1), RedisVersion: imageVersion(c.Redis.Image, 2),
		QdrantVersion: imageVersion(c.Qdrant.Image, 2),
	}
	t := model.Profiles[c.Stage].Topology
	if t.PostgresInstances > 1 {
		s.Postgres, s.Replica = model.PartPostgres+"-"+model.RolePrimary, model.PartPostgres+"-"+model.RoleReplica
	}
	if t.RedisInstances > 1 {
		s.Redis = model.PartRedis + "-" + model.RolePrimary
	}
	if t.IsManaged(model.KindDatabase) {
		s.Postgres, s.PostgresVersion = "RDS PostgreSQL", majorMinor(c.Cloud.DBEngineVersion, 1)
	}
	if t.IsManaged(model.KindCache) {
		s.Redis, s.RedisVersion = "ElastiCache Redis", majorMinor(c.Cloud.CacheEngineVersion, 2)
	}
	return s
}

// imageVersion is the version of an image's tag, to n parts
// (postgres:16.6-bookworm -> 16; redis:7.4.2 -> 7.4; qdrant/qdrant:v1.13.2 -> 1.13).
func imageVersion(ref string, n int) string {
	name, _, _ := strings.Cut(ref, "@")
	i := strings.LastIndex(name, ":")
	if i < 0 || i < strings.LastIndex(name, "/") {
		return ""
	}
	tag := strings.TrimPrefix(name[i+1:], "v")
	tag, _, _ = strings.Cut(tag, "-")
	return majorMinor(tag, n)
}

func majorMinor(v string, n int) string {
	parts := strings.Split(v, ".")
	if len(parts) > n {
		parts = parts[:n]
	}
	return strings.Join(parts, ".")
}

// newer reports whether version a is at or above b (major[.minor]).
func atLeast(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x > y
		}
	}
	return true
}

// NewPlan computes the migration from one loaded stage to another.
func NewPlan(from, to *model.Config) (*Plan, error) {
	if from.Stage.Index() < 0 || to.Stage.Index() < 0 {
		return nil, fmt.Errorf("unknown stage")
	}
	if from.Stage.Index() >= to.Stage.Index() {
		return nil, fmt.Errorf("--from %s --to %s: a migration moves a stack to a later stage; to go back, run nfx migrate rollback on the migration that brought it here", from.Stage, to.Stage)
	}
	src, dst := StoresOf(from), StoresOf(to)
	p := &Plan{From: string(from.Stage), To: string(to.Stage), Mode: from.Migration.Mode, RedisData: from.Redis.Data}
	check := func(what, a, b, fix string) {
		c := Check{What: what, From: a, To: b, OK: atLeast(b, a)}
		if !c.OK {
			c.Fix = fix
		}
		p.Checks = append(p.Checks, c)
	}
	check("PostgreSQL major version", src.PostgresVersion, dst.PostgresVersion,
		"run the target on PostgreSQL "+src.PostgresVersion+" or later (postgres.image, cloud.dbEngineVersion): pg_restore and logical replication move data only forward")
	if from.Redis.Data == model.RedisState {
		check("Redis version", src.RedisVersion, dst.RedisVersion,
			"nfx copies Redis by value, which works across versions; a newer source may hold types the target lacks: check them, or raise cloud.cacheEngineVersion")
		p.Checks[len(p.Checks)-1].OK = true // by-value copy: informational
	}
	check("Qdrant minor version", src.QdrantVersion, dst.QdrantVersion,
		"run the target's Qdrant at "+src.QdrantVersion+" or later (qdrant.image): a snapshot restores only into the same or a later minor")
	add := func(s Step) { p.Steps = append(p.Steps, s) }
	pre := []string{"both stacks answer on their connections", "the target stack is up (" + string(to.Stage) + "): its data stores run and are empty or hold only an earlier attempt of this migration"}
	if to.Tunnel.Mode != model.TunnelNone {
		pre = append(pre, "the target's cloudflared does not serve before the cutover: nextflow:tunnel.standby true on the target before its first nfx up (or "+TunnelCommand(to.Stage, false)+" right after it), false again after the cutover")
	}
	if model.Profiles[to.Stage].Topology.IsManaged(model.KindDatabase) {
		pre = append(pre, fmt.Sprintf("the source database fits %s's %d GB with a fifth to spare (cloud.dbStorageGB)", dst.Postgres, to.Cloud.DBStorageGB))
	}
	pre = append(pre, "a command switches the traffic (--cutover-cmd, or out/"+string(to.Stage)+"/migrate/cutover.sh)")
	add(Step{ID: "preflight", Part: "all", Phase: PhasePrepare, Title: "Check both stacks",
		Detail:        fmt.Sprintf("connect to %s, %s and Qdrant on both stages; compare versions; measure the source's data against the target's room", src.Postgres, src.Redis),
		Preconditions: pre})
	if p.Mode == model.MigrateOnline {
		add(Step{ID: "postgres.online-check", Part: model.PartPostgres, Phase: PhasePrepare, Title: "Check the tables can replicate",
			Detail:        "every table has a primary key or a replica identity; wal_level is logical on the source; the schema is fingerprinted to refuse DDL during the window",
			Preconditions: []string{"wal_level = logical on " + src.Postgres, "no table without a primary key or replica identity"}})
	}
	add(Step{ID: "postgres.rehearse", Part: model.PartPostgres, Phase: PhasePrepare, Title: "Rehearse the restore",
		Detail: "pg_dump -Fc the source (no freeze), pg_restore it into a throwaway database, verify it table by table; record the restore time (RTO) and the dump's age (RPO)"})
	add(Step{ID: "models.copy", Part: model.PartAI, Phase: PhaseCopy, Title: "Copy the models",
		Detail: "Ollama's blobs by their sha256 digest, then the manifests that name them; a blob already there with its digest is not copied again"})
	switch p.Mode {
	case model.MigrateOnline:
		add(Step{ID: "postgres.schema", Part: model.PartPostgres, Phase: PhaseCopy, Title: "Copy the schema",
			Detail: "pg_dump -Fc --schema-only, pg_restore --no-owner --no-privileges into the target"})
		add(Step{ID: "postgres.subscribe", Part: model.PartPostgres, Phase: PhaseCopy, Title: "Replicate",
			Detail: "CREATE PUBLICATION nfx_migrate FOR TABLE (every user table) on the source; CREATE SUBSCRIPTION on the target: its slot is created before the initial copy's snapshot, so nothing written during the copy is missed; watch the lag down to zero"})
		add(Step{ID: "postgres.preverify", Part: model.PartPostgres, Phase: PhaseCopy, Title: "Verify while replicating",
			Detail: "a second logical slot (test_decoding) records which tables are written from now on; once the target has applied every change up to the source's WAL end, every table is summed on both sides (and the target's replica) with the source still taking writes: a table no one wrote since is verified, a difference in one stops the migration before the freeze; those written are summed again after it"})
		add(Step{ID: "freeze", Part: "all", Phase: PhaseFreeze, Title: "Freeze writes on the source", Frozen: true,
			Detail: "ALTER DATABASE ... SET default_transaction_read_only = on, end the open sessions; CLIENT PAUSE WRITE on Redis"})
		add(Step{ID: "postgres.catchup", Part: model.PartPostgres, Phase: PhaseCopy, Title: "Wait for the last writes", Frozen: true,
			Detail: fmt.Sprintf("the subscription's flushed position reaches the source's WAL end, within migration.maxFreezeSeconds (%d s); the schema fingerprint is unchanged", from.Migration.MaxFreezeSeconds)})
		add(Step{ID: "postgres.sequences", Part: model.PartPostgres, Phase: PhaseCopy, Title: "Carry the sequences over", Frozen: true,
			Detail: "setval on the target to each source sequence's last value (logical replication does not carry them)"})
		add(Step{ID: "postgres.unsubscribe", Part: model.PartPostgres, Phase: PhaseCopy, Title: "End the replication", Frozen: true,
			Detail: "DROP SUBSCRIPTION on the target, DROP PUBLICATION and the replication slot on the source (a slot left behind would keep its WAL forever)"})
		p.Downtime = fmt.Sprintf("writes stop from the freeze until the cutover: the target's last catch-up (seconds, at most %d s), the Redis and Qdrant copies and the verification of the tables written since the pre-verification", from.Migration.MaxFreezeSeconds)
	default:
		add(Step{ID: "freeze", Part: "all", Phase: PhaseFreeze, Title: "Freeze writes on the source", Frozen: true,
			Detail: "ALTER DATABASE ... SET default_transaction_read_only = on, end the open sessions; CLIENT PAUSE WRITE on Redis"})
		add(Step{ID: "postgres.dump", Part: model.PartPostgres, Phase: PhaseCopy, Title: "Dump the source into the target", Frozen: true,
			Detail: fmt.Sprintf("pg_dump -Fc into a file kept as the migration's backup, checksummed as it is written, and from the same bytes pg_restore --clean --if-exists --no-owner --no-privileges into %s (a rerun replaces what an interrupted one left: no row twice)", dst.Postgres)})
		add(Step{ID: "postgres.restore", Part: model.PartPostgres, Phase: PhaseCopy, Title: "Finish the restore", Frozen: true,
			Detail: fmt.Sprintf("ANALYZE; if the restore while dumping failed, first the file, checked against its checksum, with pg_restore --clean --if-exists -j %d", from.Migration.Jobs)})
		p.Downtime = "writes stop from the freeze until the cutover: the dump and restore (at once) and the verification"
	}
	if from.Redis.Data == model.RedisState {
		add(Step{ID: "redis.copy", Part: model.PartRedis, Phase: PhaseCopy, Title: "Copy Redis", Frozen: true,
			Detail: fmt.Sprintf("SCAN the source; copy each key by value with its type and TTL into %s (a rerun replaces each key: nothing twice)", dst.Redis)})
	} else {
		add(Step{ID: "redis.copy", Part: model.PartRedis, Phase: PhaseCopy, Title: "Start Redis empty",
			Detail: "redis.data is cache: the target's Redis starts empty and fills as the CRM runs"})
	}
	add(Step{ID: "qdrant.copy", Part: model.PartQdrant, Phase: PhaseCopy, Title: "Copy the collections", Frozen: true,
		Detail: "per collection: created on the target with the source's vector parameters and the target's replication factor, then the points scrolled from the source and upserted in batches (any shard layout on either side; a rerun upserts the same ids again, adding none); counts and checksums compared"})
	verify := "per table: row count and content checksum on both sides; every sequence at or above the max of its column; the extensions; Redis key counts, TTLs and values; Qdrant point counts; the models' digests"
	if dst.Replica != "" {
		verify += "; " + dst.Replica + " has replayed the primary's WAL up to the restore's end"
	}
	add(Step{ID: "verify", Part: "all", Phase: PhaseVerify, Title: "Verify before cutover", Frozen: true, Detail: verify + "; a mismatch stops the migration"})
	edge := "start the " + string(to.Stage) + " stack's cloudflared (the same tunnel token), then stop the source's: the tunnel's traffic moves with no DNS change"
	add(Step{ID: "cutover", Part: model.PartTunnel, Phase: PhaseCutover, Title: "Switch the traffic", Frozen: true, Detail: edge})
	return p, nil
}
