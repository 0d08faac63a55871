package cli

import (
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
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
	}
	o.stackFlags.add(cmd)
	f := cmd.Flags()
	f.StringVar(&o.Framework, "framework", "", "soc2, iso27001 or gdpr (default: all three)")
	f.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	f.BoolVar(&o.Markdown, "markdown", false, "print the report as Markdown")
	return viaPulumi(cmd, io, "compliance", o)
}

// rehearsalDir is where nfx migrate rehearse records a stage's rehearsals.
func rehearsalDir(project string, stage model.Stage) string {
	return filepath.Join(project, files.StateDir, "rehearsals", string(stage))
}
