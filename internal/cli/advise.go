package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/advise"
	"github.com/nextflow-crm/nfx/internal/capacity"
	"github.com/nextflow-crm/nfx/internal/model"
)

// AdviseOptions are the flags of `nfx advise`.
type AdviseOptions struct {
	Metrics advise.Metrics
	Stage   string
	Config  string
	JSON    bool
}

// NewCmdAdvise builds `nfx advise`.
func NewCmdAdvise(io IO) *cobra.Command {
	o := &AdviseOptions{}
	cmd := &cobra.Command{
		Use:   "advise --users N --p95 SECONDS --downtime PCT --revenue VND --team N [--compliance LEVEL] [--stage CURRENT] [--json]",
		Short: "Say whether the measured metrics call for staying, preparing or upgrading now, and why",
		Long: `advise evaluates the decision matrix and signals of NextFlow's scaling strategy on what you
measure. A row fires when its metric reaches the current stage's limit. Performance degradation or
frequent downtime (red) or two rows firing call for an upgrade now; one business row alone, a metric
within 20 % of its limit, or fast growth call for preparing.`,
		Example: `  nfx advise --users 120 --p95 4.2 --downtime 1.2 --revenue 60000000 --team 3
  nfx advise --stage server --users 900 --p95 3.4 --downtime 0.2 --revenue 300000000 --team 6 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAdvise(io, o) },
	}
	f := cmd.Flags()
	f.IntVar(&o.Metrics.Users, "users", 0, "peak concurrent users")
	f.Float64Var(&o.Metrics.P95, "p95", 0, "95th-percentile response time, seconds")
	f.Float64Var(&o.Metrics.Downtime, "downtime", 0, "downtime in the last month, percent")
	f.Float64Var(&o.Metrics.Revenue, "revenue", 0, "revenue per month, VND")
	f.IntVar(&o.Metrics.Team, "team", 1, "people running the product")
	f.StringVar(&o.Metrics.Compliance, "compliance", "basic", "compliance needs: basic, medium or enterprise")
	f.Float64Var(&o.Metrics.Growth, "growth", 0, "month-on-month user growth, percent")
	f.StringVar(&o.Stage, "stage", string(model.Laptop), "the stage you run now")
	f.StringVar(&o.Config, "config", "", "the current stack's config file (default: the project's, when run in one)")
	f.BoolVar(&o.JSON, "json", false, "print the advice as JSON")
	for _, required := range []string{"users", "p95", "downtime", "revenue", "team"} {
		_ = cmd.MarkFlagRequired(required)
	}
	return cmd
}

func runAdvise(io IO, o *AdviseOptions) error {
	if err := o.estimate(io); err != nil {
		return err
	}
	a, err := advise.Evaluate(model.Stage(o.Stage), o.Metrics)
	if err != nil {
		return usageError{err}
	}
	if o.JSON {
		return printJSON(io, a)
	}
	switch a.Recommendation {
	case advise.Upgrade:
		fmt.Fprintf(io.Out, "UPGRADE NOW (%s): move from %s to %s\n", a.Signal, a.CurrentStage, a.TargetStage)
	case advise.Prepare:
		fmt.Fprintf(io.Out, "PREPARE (%s): plan the move from %s to %s\n", a.Signal, a.CurrentStage, a.TargetStage)
	default:
		fmt.Fprintf(io.Out, "STAY (%s): %s holds; every metric is inside its limits\n", a.Signal, a.CurrentStage)
	}
	for _, r := range a.Reasons {
		fmt.Fprintf(io.Out, "  [%s] %s\n", strings.ToUpper(r.Signal), r.Text)
	}
	for _, m := range a.Avoid {
		fmt.Fprintf(io.Out, "  avoid %s\n", m)
	}
	return nil
}

// estimate sets the current stack's estimated capacity when there is a
// stack to read: a --config file, or the project around the working
// directory. Outside a project the matrix alone decides.
func (o *AdviseOptions) estimate(io IO) error {
	if _, err := model.ParseStage(o.Stage); err != nil {
		return usagef("--stage: %v", err)
	}
	if o.Config == "" {
		proj, err := findProject(io.Dir)
		if err != nil {
			return nil
		}
		if _, err := os.Stat(filepath.Join(proj, "Pulumi."+o.Stage+".yaml")); err != nil {
			return nil
		}
	}
	in, err := (&stackFlags{Stage: o.Stage, Config: o.Config}).resolve(io, false)
	if err != nil {
		return err
	}
	e, err := capacity.Compute(in.Config)
	if err != nil {
		fmt.Fprintf(io.Err, "nfx: capacity not estimated, the decision matrix alone decides: %v\n", err)
		return nil
	}
	o.Metrics.Capacity = e.ConcurrentUsers
	return nil
}
