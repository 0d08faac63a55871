package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/advise"
	"github.com/nextflow-crm/nfx/internal/model"
)

// AdviseOptions are the flags of `nfx advise`.
type AdviseOptions struct {
	Metrics advise.Metrics
	Stage   string
	Config  string
	JSON    bool
	// Prometheus, when set, is the stage's Prometheus the users, p95 and
	// downtime are read from, over Window.
	Prometheus string
	Window     string
	// At is the end of the window, RFC 3339; "" is now.
	At string
	// observed names the series behind each figure read from Prometheus.
	observed map[string]string
	// inProject says the current stack was read, so the move can be weighed.
	inProject bool
}

// NewCmdAdvise builds `nfx advise`.
func NewCmdAdvise(io IO) *cobra.Command {
	o := &AdviseOptions{}
	cmd := &cobra.Command{
		Use:   "advise (--users N --p95 SECONDS --downtime PCT | --prometheus URL [--window 30d]) --revenue VND --team N [--compliance LEVEL] [--stage CURRENT] [--json]",
		Short: "Say whether the measured metrics call for staying, preparing or upgrading now, and why",
		Long: `advise evaluates the decision matrix and signals of NextFlow's scaling strategy on what you
measure. A row fires when its metric reaches the current stage's limit. Performance degradation or
frequent downtime (red) or two rows firing call for an upgrade now; one business row alone, a metric
within 20 % of its limit, or fast growth call for preparing.

With --prometheus, the users, p95 and downtime are read from the stage's own Prometheus over the
window (30 days by default), by the PromQL the README documents; a series missing or shorter than
the window is an error naming it, never a zero.`,
		Example: `  nfx advise --users 120 --p95 4.2 --downtime 1.2 --revenue 60000000 --team 3
  nfx advise --stage server --users 900 --p95 3.4 --downtime 0.2 --revenue 300000000 --team 6 --json
  nfx advise --stage server --prometheus http://127.0.0.1:9090 --revenue 300000000 --team 6`,
		Args: cobra.NoArgs,
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
	f.StringVar(&o.Prometheus, "prometheus", "", "read --users, --p95 and --downtime from the stage's Prometheus at this URL")
	f.StringVar(&o.Window, "window", "30d", "with --prometheus, the window the figures cover")
	f.StringVar(&o.At, "at", "", "with --prometheus, the end of the window (RFC 3339, such as 2026-12-01T00:00:00Z; default now)")
	for _, required := range []string{"revenue", "team"} {
		_ = cmd.MarkFlagRequired(required)
	}
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		measured := []string{"users", "p95", "downtime"}
		if o.Prometheus == "" {
			var missing []string
			for _, n := range measured {
				if !cmd.Flags().Changed(n) {
					missing = append(missing, `"`+n+`"`)
				}
			}
			for _, n := range []string{"window", "at"} {
				if cmd.Flags().Changed(n) {
					return usagef("--%s: only with --prometheus", n)
				}
			}
			if len(missing) > 0 {
				return usagef("required flag(s) %s not set (or give --prometheus URL to read them from the stage's metrics)", strings.Join(missing, ", "))
			}
			return nil
		}
		for _, n := range measured {
			if cmd.Flags().Changed(n) {
				return usagef("--%s: read from --prometheus; fix: give one or the other", n)
			}
		}
		return nil
	}
	return viaPulumi(cmd, io, "advise", o)
}
