package aws

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Name is a stack's name as an AWS name takes it: letters, digits and
// single hyphens (lowercase where lower), at most n characters. A name
// that had to change, or was cut short, ends in a hash of the whole, so
// that two stacks never share one.
func Name(stack string, n int, lower bool) string {
	var b strings.Builder
	changed := false
	for _, c := range stack {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c >= 'A' && c <= 'Z':
			if lower {
				c += 'a' - 'A'
			}
		default:
			if c != '-' {
				changed = true
			}
			if b.Len() == 0 || strings.HasSuffix(b.String(), "-") {
				changed = true
				continue
			}
			c = '-'
		}
		b.WriteRune(c)
	}
	out := strings.TrimRight(b.String(), "-")
	if out != b.String() || out == "" {
		changed = true
	}
	if !changed && len(out) <= n {
		return out
	}
	sum := sha256.Sum256([]byte(stack))
	h := hex.EncodeToString(sum[:3])
	if len(out) > n-len(h)-1 {
		out = strings.TrimRight(out[:n-len(h)-1], "-")
	}
	if out == "" {
		return h
	}
	return out + "-" + h
}

// ClusterName is the EKS cluster's name, the same in both regions:
// "nextflow-" and the stack's name as EKS takes it (CreateCluster: 1 to
// 100 letters, digits, hyphens and underscores, starting with a letter or
// digit); Pulumi's stack names may also hold dots and run to 100
// characters.
func ClusterName(stack string) string {
	return "nextflow-" + Name(stack, 100-len("nextflow-"), false)
}

// PrivateZone is the private DNS zone of a stack with a standby region,
// in both regions' VPCs: the workloads reach the database by its names
// there (WriterName, ReaderName), which `nfx failover` moves to the
// promoted standby. A DNS label is at most 63 characters; .internal is the
// top-level domain kept for private use (ICANN, 2024).
func PrivateZone(stack string) string {
	return Name(stack, 63, true) + ".nextflow.internal"
}

// WriterName is the database's writer in PrivateZone; ReaderName its read
// endpoint (the read replica with cloud.dbReadReplica, else the writer).
func WriterName(stack string) string { return "postgres." + PrivateZone(stack) }

// ReaderName: see WriterName.
func ReaderName(stack string) string { return "postgres-read." + PrivateZone(stack) }

// NameTTL is how long, in seconds, a resolver keeps the database's names:
// how long after `nfx failover` moves them a new connection may still
// reach the former writer (fenced read-only by then).
const NameTTL = 30

// PrimaryDB and StandbyDB are the Name tags of the database's primary and
// standby instances (stacks/cloud tags them so), by which `nfx failover`
// finds them; StageTag is the tag that says their stage.
const (
	PrimaryDB = "nextflow-postgres"
	StandbyDB = "nextflow-standby-postgres"
	StageTag  = "nextflow.io/stage"
	StackTag  = "nextflow.io/stack"
)

// FenceParameter is the PostgreSQL setting `nfx failover` turns on in the
// former primary's parameter group (and the program keeps on once the
// standby is promoted): every new transaction is read-only. RDS applies it
// without a restart (a dynamic parameter); sessions take it up at their
// next transaction unless they set it themselves (PostgreSQL docs,
// "default_transaction_read_only").
const FenceParameter = "default_transaction_read_only"

// The database writer's windows and log exports: the primary's, and a
// promoted standby's (`nfx failover` sets them as it promotes it).
const (
	DBBackupWindow      = "03:00-04:00"
	DBMaintenanceWindow = "sun:04:30-sun:05:30"
)

// DBLogExports are the logs the writer sends to CloudWatch.
var DBLogExports = []string{"postgresql", "upgrade"}
