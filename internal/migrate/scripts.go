package migrate

import (
	"bytes"
	_ "embed"
	"fmt"
	"strings"
	"text/template"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
)

//go:embed scripts/migrate.sh.tmpl
var migrateScript string

//go:embed scripts/cutover.sh.tmpl
var cutoverScript string

// scriptData are the values of the migration scripts.
type scriptData struct {
	Plan *Plan
	// Steps are the plan's step IDs, as the script's function names.
	Steps    []scriptStep
	Database string
	Jobs     int
	Tunnel   bool
	Hostname string
	// The commands that start and stop each side's cloudflared.
	SourceStart, SourceStop, TargetStart, TargetStop string
	Rollback                                         bool
	Project                                          string
	StateCopy                                        bool
	// QdrantReplicas is the replication factor of the target's collections.
	QdrantReplicas int
	// SumFormat (MD5Format beside a server before PostgreSQL 14) and
	// HashColumns make the query that sums a table as nfx does: format()'s
	// string, given the table's name, its columns (the query HashColumns,
	// of the table c), its schema and name.
	SumFormat, MD5Format, HashColumns string
	// SessionOptions are sessionSettings as PGOPTIONS gives them.
	SessionOptions string
}

type scriptStep struct {
	ID, Func, Title string
}

// TunnelCommand is the command that starts a stage's cloudflared (its
// edge replicas) or stops it, by the stage's runtime: Compose's service,
// Swarm's service, the cloud's Deployment. Its words need no quoting.
func TunnelCommand(stage model.Stage, start bool) string {
	n := 0
	if start {
		n = max(1, model.Profiles[stage].Topology.EdgeReplicas)
	}
	switch model.Profiles[stage].Runtime {
	case "docker-swarm":
		return fmt.Sprintf("docker service scale --detach=false %s_%s=%d", model.Namespace, model.PartTunnel, n)
	case "kubernetes":
		// The cloud's workloads run in the namespace named like the project.
		return fmt.Sprintf("kubectl -n %s scale deployment/%s --replicas=%d", model.Namespace, model.PartTunnel, n)
	}
	if !start {
		return fmt.Sprintf("docker compose -p %s stop %s", model.Namespace, model.PartTunnel)
	}
	return fmt.Sprintf("docker compose -p %s start %s", model.Namespace, model.PartTunnel)
}

func funcName(id string) string { return "step_" + strings.NewReplacer(".", "_", "-", "_").Replace(id) }

// Scripts renders the plan as shell scripts, for users who run the steps
// by hand: migrate.sh (one function per step: `migrate.sh freeze`, or
// `migrate.sh all`), cutover.sh and rollback.sh.
func Scripts(p *Plan, from, to *model.Config) (files.Set, error) {
	d := scriptData{Plan: p, Database: from.Postgres.Database, Jobs: from.Migration.Jobs, Project: model.Namespace,
		Tunnel:      to.Tunnel.Mode != model.TunnelNone,
		SourceStart: TunnelCommand(from.Stage, true), SourceStop: TunnelCommand(from.Stage, false),
		TargetStart: TunnelCommand(to.Stage, true), TargetStop: TunnelCommand(to.Stage, false),
		Hostname: to.Tunnel.Hostname, StateCopy: p.RedisData == model.RedisState, QdrantReplicas: QdrantReplicationFactor(to),
		SumFormat: "SELECT %1$L, count(*), " + hashRows("%2$s") + " FROM %3$I.%4$I t;",
		MD5Format: "SELECT %1$L, count(*), " + sumRowsMD5 + " FROM %3$I.%4$I t;", HashColumns: fmt.Sprintf(hashColumns, "c.oid")}
	for _, s := range p.Steps {
		d.Steps = append(d.Steps, scriptStep{s.ID, funcName(s.ID), s.Title})
	}
	var opts []string
	for _, kv := range sessionSettings {
		opts = append(opts, "-c "+kv[0]+"="+kv[1])
	}
	d.SessionOptions = strings.Join(opts, " ")
	var set files.Set
	for _, f := range []struct {
		path, tmpl string
		rollback   bool
	}{{"migrate.sh", migrateScript, false}, {"cutover.sh", cutoverScript, false}, {"rollback.sh", cutoverScript, true}} {
		t, err := template.New(f.path).Option("missingkey=error").Funcs(template.FuncMap{"sq": shellSingleQuote}).Parse(f.tmpl)
		if err != nil {
			return nil, err
		}
		d.Rollback = f.rollback
		var b bytes.Buffer
		if err := t.Execute(&b, d); err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
		set = append(set, files.File{Path: f.path, Data: b.Bytes(), Exec: true})
	}
	return set, nil
}

func shellSingleQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// QdrantReplicationFactor is the replication factor a stage's collections
// get: two copies of each shard on a cluster, one on a single node.
func QdrantReplicationFactor(c *model.Config) int {
	if model.Profiles[c.Stage].Topology.QdrantNodes > 1 {
		return 2
	}
	return 1
}
