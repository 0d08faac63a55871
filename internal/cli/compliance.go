package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/compliance"
	"github.com/nextflow-crm/nfx/internal/engine"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/offline"
)

// ComplianceOptions are the flags of `nfx compliance`.
type ComplianceOptions struct {
	stackFlags
	Framework string
	moveFlags
}

// NewCmdCompliance builds `nfx compliance`.
func NewCmdCompliance(io IO) *cobra.Command {
	o := &ComplianceOptions{}
	cmd := &cobra.Command{
		Use:   "compliance --stage STAGE [--framework soc2|iso27001|gdpr] [--json | --markdown]",
		Short: "Map SOC 2, ISO 27001 and GDPR controls to what a stage's plan meets or fails, offline",
		Long: `Map each control a stage's plan can show (encryption at rest and in transit, network
exposure, backups and their retention, redundancy, audit logging, monitoring, least
privilege, secret handling, data residency, change approval) to the resources and
settings that meet or fail it, with the controls' identifiers as Prowler's compliance
files name them. The controls no plan can show (a host's disk encryption, the
account's trail, people and processes) are listed as such, never as passed.
It exits 1 when a control the plan can show fails.`,
		Example: `  nfx compliance --stage server
  nfx compliance --stage cloud --framework soc2 --markdown`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCompliance(io, o) },
	}
	o.stackFlags.add(cmd)
	f := cmd.Flags()
	f.StringVar(&o.Framework, "framework", "", "soc2, iso27001 or gdpr (default: all three)")
	f.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	f.BoolVar(&o.Markdown, "markdown", false, "print the report as Markdown")
	return cmd
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

// rehearsalDir is where nfx migrate rehearse records a stage's rehearsals.
func rehearsalDir(project string, stage model.Stage) string {
	return filepath.Join(project, engine.StateDir, "rehearsals", string(stage))
}
