//go:build !nfxfront

package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nextflow-crm/nfx/internal/advise"
	"github.com/nextflow-crm/nfx/internal/capacity"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
	"github.com/nextflow-crm/nfx/internal/roi"
	"github.com/nextflow-crm/nfx/internal/stagediff"
	"github.com/nextflow-crm/nfx/stacks"
)

func init() {
	registerIO("advise", runAdvise)
}

func runAdvise(io IO, o *AdviseOptions) error {
	if err := o.estimate(io); err != nil {
		return err
	}
	if o.Prometheus != "" {
		if err := o.observe(); err != nil {
			return err
		}
	}
	if err := o.Metrics.Validate(); err != nil {
		return usageError{err}
	}
	if o.inProject {
		// With the figures as measured, from the flags or Prometheus.
		o.weigh(io)
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
		fmt.Fprintf(io.Out, "  [%s] %s%s\n", strings.ToUpper(r.Signal), r.Text, o.seriesOf(r.Metric))
	}
	if o.observed != nil {
		o.budget(io)
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
	o.inProject = true
	return nil
}

// weigh sets the payback of the move to the next stage (nfx roi), with
// the measured users, revenue and growth in place of the stack's
// nextflow:business figures. A move that cannot be weighed here is said
// so and left to the matrix.
func (o *AdviseOptions) weigh(io IO) {
	next := model.Stage(o.Stage).Next()
	if next == "" {
		return
	}
	if _, err := stacks.Lookup(next); err != nil {
		fmt.Fprintf(io.Err, "nfx: the payback of the move to %s is not weighed by this binary; run nfx roi --from %s --to %s\n", next, o.Stage, next)
		return
	}
	from, _, err := side(io, o.Stage, o.Config, "")
	if err == nil {
		// The measured revenue over the measured users is the revenue a
		// user brings; the demand starts at the users measured.
		from.Config.Business.Revenue = o.Metrics.Revenue
		if o.Metrics.Users > 0 && o.Metrics.Revenue > 0 {
			from.Config.Business.RevenuePerUser = o.Metrics.Revenue / float64(o.Metrics.Users)
		}
		if o.Metrics.Growth != 0 {
			from.Config.Business.Growth = o.Metrics.Growth
		}
		var to stagediff.Side
		if to, _, err = side(io, string(next), "", ""); err == nil {
			var c *roi.Case
			if c, err = stagediff.BusinessCase(from, to); err == nil {
				o.Metrics.Payback = &c.PaybackMonth
				return
			}
		}
	}
	fmt.Fprintf(io.Err, "nfx: the payback of the move to %s is not weighed: %v\n", next, err)
}

// observe reads the measured figures from the stage's Prometheus.
func (o *AdviseOptions) observe() error {
	w, err := monitoring.ParseWindow(o.Window)
	if err != nil {
		return usageError{err}
	}
	now := time.Now()
	if o.At != "" {
		if now, err = time.Parse(time.RFC3339, o.At); err != nil {
			return usagef("--at: %q is not a time; fix: give RFC 3339, such as 2026-12-01T00:00:00Z", o.At)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	obs, err := monitoring.Observe(ctx, &http.Client{Timeout: time.Minute}, o.Prometheus, w, now)
	if err != nil {
		return usageError{err}
	}
	o.Metrics.Users, o.Metrics.P95, o.Metrics.Downtime = obs.Users, obs.P95, obs.Downtime
	o.observed = obs.Series
	return nil
}

// seriesOf names the series behind a reason's figure, when it was read
// from Prometheus.
func (o *AdviseOptions) seriesOf(metric string) string {
	flag := map[string]string{model.MetricUsers: "--users", model.MetricResponse: "--p95", model.MetricDowntime: "--downtime"}[metric]
	if s, ok := o.observed[flag]; ok {
		return " (from " + s + ")"
	}
	return ""
}

// budget says how much of the stage's error budget the window's downtime
// spent, and the observed load against the capacity estimate.
func (o *AdviseOptions) budget(io IO) {
	prof, _ := model.ProfileOf(model.Stage(o.Stage))
	allowed := 100 - prof.Uptime
	fmt.Fprintf(io.Out, "  error budget: %.3g %% down of the %.3g %% the %s stage's %g %% uptime target allows: %.0f %% spent (from %s)\n",
		o.Metrics.Downtime, allowed, o.Stage, prof.Uptime, 100*o.Metrics.Downtime/allowed, monitoring.CRMUp)
	if o.Metrics.Capacity > 0 {
		fmt.Fprintf(io.Out, "  load: a peak of %d concurrent users observed, %.0f %% of the %d `nfx capacity` estimates for this stack\n",
			o.Metrics.Users, 100*float64(o.Metrics.Users)/float64(o.Metrics.Capacity), o.Metrics.Capacity)
	}
}
