package migrate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// rehearsalMark marks a scratch database as a rehearsal's, which the next
// rehearsal may replace.
const rehearsalMark = "nfx rehearsal: a throwaway copy"

// Rehearse restores the latest backup into a throwaway database and
// verifies it: a backup given as a file (the server's nightly pg_dump) is
// checked to restore and its sequences to be ahead of their columns; with
// none, a dump of the source taken now, in one snapshot with the sums it
// is compared against, table by table. It records the restore's duration
// (RTO) and the backup's age at the end of the restore (RPO). The source
// is only read; the scratch database must be empty or a rehearsal's.
func Rehearse(ctx context.Context, source, scratch DB, backup, dir string, jobs int) (*Rehearsal, error) {
	reh := &Rehearsal{At: time.Now().UTC(), Backup: backup}
	if scratch.Host == source.Host && scratch.Port == source.Port && scratch.Database == source.Database {
		return reh, fmt.Errorf("--scratch-db is the source database; fix: give a throwaway database")
	}
	if err := claimScratch(ctx, scratch); err != nil {
		return reh, err
	}
	// The source is asked only when it is summed: a backup given as a file
	// is compared with itself, and the source may be down.
	sides := []*DB{&scratch}
	if backup == "" {
		sides = append(sides, &source)
	}
	if err := agreeSums(ctx, sides...); err != nil {
		return reh, err
	}
	var want *Snapshot
	var taken time.Time
	if backup == "" {
		backup = filepath.Join(dir, "rehearsal.dump")
		reh.Backup = backup
		c, err := pgx.Connect(ctx, source.url())
		if err != nil {
			return reh, fmt.Errorf("source database %s: %s", source, scrub(err.Error(), source.Password))
		}
		defer c.Close(ctx)
		tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return reh, err
		}
		defer tx.Rollback(ctx)
		var snap string
		if err := tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&snap); err != nil {
			return reh, err
		}
		taken = time.Now()
		if want, err = snapshotOn(ctx, tx, source, nil, nil); err != nil {
			return reh, err
		}
		tmp := backup + ".part"
		if err := runTool(ctx, source, dir, "pg_dump", "-Fc", "--no-password", "--snapshot="+snap, "-f", tmp); err != nil {
			return reh, err
		}
		if err := os.Rename(tmp, backup); err != nil {
			return reh, err
		}
	} else {
		latest, err := LatestBackup(backup)
		if err != nil {
			return reh, err
		}
		backup, reh.Backup = latest, latest
		fi, err := os.Stat(backup)
		if err != nil {
			return reh, fmt.Errorf("--backup: %v", err)
		}
		taken = fi.ModTime()
	}
	start := time.Now()
	if err := Restore(ctx, scratch, backup, jobs); err != nil {
		return reh, fmt.Errorf("the backup does not restore: %w", err)
	}
	reh.RTOSeconds = time.Since(start).Seconds()
	reh.RPOSeconds = time.Since(taken).Seconds()
	if err := markScratch(ctx, scratch); err != nil {
		return reh, err
	}
	got, err := takeSnapshot(ctx, scratch, nil, nil)
	if err != nil {
		return reh, err
	}
	reh.Tables = len(got.Tables)
	for _, t := range got.Tables {
		reh.Rows += t.Rows
	}
	if want != nil {
		reh.Problems = CompareSnapshots(want, got)
	} else {
		reh.Problems = CompareSnapshots(got, got)
	}
	reh.OK = len(reh.Problems) == 0
	if !reh.OK {
		return reh, fmt.Errorf("the restored backup differs: %s", reh.Problems[0])
	}
	return reh, nil
}

func claimScratch(ctx context.Context, d DB) error {
	c, err := connect(ctx, d)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	ts, err := tables(ctx, c)
	if err != nil || len(ts) == 0 {
		return err
	}
	var mark string
	_ = c.QueryRow(ctx, "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = current_database()").Scan(&mark)
	if mark != rehearsalMark {
		return fmt.Errorf("the scratch database %s holds %d tables and is no rehearsal's; nfx does not overwrite it; fix: give an empty throwaway database", d, len(ts))
	}
	return nil
}

func markScratch(ctx context.Context, d DB) error {
	c, err := connect(ctx, d)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, "COMMENT ON DATABASE "+quoteIdent(d.Database)+" IS '"+rehearsalMark+"'")
	return err
}

// LatestBackup is the backup to rehearse: path itself when it is a file,
// else the newest PostgreSQL backup the server's backup job wrote under it
// (postgres-<UTC stamp>.dump, in path or path/postgres). A checksum file
// beside it (<backup>.sha256) must match.
func LatestBackup(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("--backup: %v", err)
	}
	file := path
	if fi.IsDir() {
		var found []string
		for _, dir := range []string{path, filepath.Join(path, "postgres")} {
			m, _ := filepath.Glob(filepath.Join(dir, "postgres-*.dump"))
			found = append(found, m...)
		}
		if len(found) == 0 {
			return "", fmt.Errorf("--backup %s: no postgres-*.dump in it or in its postgres/; fix: point it at the backup directory (the NAS's backups) or a pg_dump -Fc file", path)
		}
		sort.Slice(found, func(i, j int) bool { return filepath.Base(found[i]) < filepath.Base(found[j]) })
		file = found[len(found)-1]
	}
	if sum, err := os.ReadFile(file + ".sha256"); err == nil {
		want, _, _ := strings.Cut(strings.TrimSpace(string(sum)), " ")
		got, err := fileSHA256(file)
		if err != nil {
			return "", err
		}
		if got != want {
			return "", fmt.Errorf("the backup %s does not match its checksum (%s): it is damaged; fix: rehearse an earlier backup, and find out why", file, file+".sha256")
		}
	}
	return file, nil
}
