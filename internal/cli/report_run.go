//go:build !nfxfront

package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nextflow-crm/nfx/internal/compliance"
	"github.com/nextflow-crm/nfx/internal/engine"
	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/migrate"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/report"
)

func init() {
	registerIO("report", runReport)
}

func runReport(io IO, o *ReportOptions) error {
	var stages []report.Stage
	var proj string
	for _, st := range model.Stages {
		s, dir, err := side(io, string(st), "", o.Backend)
		if err != nil {
			return err
		}
		// The report's table of each stage's controls.
		if rec, err := records(dir, s.Config); err == nil {
			if r, err := compliance.Evaluate(s.Config, s.Plan, s.Files, rec, compliance.Frameworks); err == nil {
				s.Compliance = r
			}
		}
		stages, proj = append(stages, s), dir
	}
	migrations, err := loadMigrations(proj)
	if err != nil {
		return err
	}
	html, err := report.Render(stages, migrations)
	if err != nil {
		return err
	}
	out := o.Out
	switch {
	case out == "":
		out = filepath.Join(proj, "out", "report.html")
	case !filepath.IsAbs(out):
		out = filepath.Join(io.Dir, out)
	}
	if err := reportIsOurs(out); err != nil {
		return usageError{err}
	}
	// One file, swapped in whole.
	if err := files.WriteFile(out, html); err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "wrote %s\n", out)
	return nil
}

// reportIsOurs refuses to replace a file that is not an nfx report: a
// directory, a symbolic link, or any other file the user keeps.
func reportIsOurs(out string) error {
	fi, err := os.Lstat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	fix := "; fix: give --out a new file's path, or move it away yourself"
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("--out %s: not a regular file (a directory or a link); nfx replaces only a report it wrote%s", out, fix)
	}
	f, err := os.Open(out)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(f, head)
	if !bytes.Contains(head[:n], []byte(`<meta name="generator" content="nfx report">`)) &&
		!bytes.Contains(head[:n], []byte("<title>NextFlow CRM-AI: from a laptop to the cloud</title>")) {
		return fmt.Errorf("--out %s: the file is not an nfx report; nfx replaces only a report it wrote%s", out, fix)
	}
	return nil
}

// loadMigrations reads the project's migration records, in order of the
// stages they move between.
func loadMigrations(proj string) ([]*migrate.Journal, error) {
	var out []*migrate.Journal
	for i, from := range model.Stages {
		for _, to := range model.Stages[i+1:] {
			j, err := migrate.LoadJournal(filepath.Join(proj, engine.StateDir, "migrations", string(from)+"-to-"+string(to)))
			if err != nil {
				return nil, err
			}
			if j != nil {
				out = append(out, j)
			}
		}
	}
	return out, nil
}
