//go:build !nfxfront

package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/nextflow-crm/nfx/internal/compliance"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/offline"
)

func init() {
	registerIO("compliance", runCompliance)
}

func runCompliance(io IO, o *ComplianceOptions) error {
	if o.JSON && o.Markdown {
		return usagef("--json and --markdown: choose one")
	}
	fws, err := compliance.ParseFramework(o.Framework)
	if err != nil {
		return usagef("--framework: %v", err)
	}
	in, err := o.resolve(io, false)
	if err != nil {
		return err
	}
	res, err := offline.Run(in.Stage, in.Raw)
	if err != nil {
		return err
	}
	rec, err := records(in.ProjectDir, in.Config)
	if err != nil {
		return err
	}
	r, err := compliance.Evaluate(in.Config, &res.Plan, res.Files, rec, fws)
	if err != nil {
		return err
	}
	if err := o.print(io, r, r.Markdown, r.Text); err != nil {
		return err
	}
	if failed := r.Failed(); len(failed) > 0 {
		var names []string
		for _, f := range failed {
			names = append(names, f.ID)
		}
		return fmt.Errorf("the %s stage fails %d control(s) its plan can show: %s", r.Stage, len(failed), strings.Join(names, ", "))
	}
	return nil
}

// records reads what nfx keeps of the stage for its compliance: the
// latest restore rehearsal (nfx migrate rehearse).
func records(project string, c *model.Config) (compliance.Records, error) {
	now := c.Today
	if now.IsZero() {
		now = time.Now()
	}
	return compliance.LoadRecords(rehearsalDir(project, c.Stage), now)
}
