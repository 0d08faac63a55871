package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/capacity"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/promote"
)

// CapacityOptions are the flags of `nfx capacity`.
type CapacityOptions struct {
	stackFlags
	JSON    bool
	Backend string
}

// NewCmdCapacity builds `nfx capacity`.
func NewCmdCapacity(io IO) *cobra.Command {
	o := &CapacityOptions{}
	cmd := &cobra.Command{
		Use:   "capacity --stage STAGE [--config FILE] [--json]",
		Short: "Estimate a stage's concurrent users, AI requests/s, response time and uptime, offline",
		Example: `  nfx capacity --stage server
  nfx capacity --stage cloud --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCapacity(io, o) },
	}
	o.add(cmd)
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the estimate as JSON")
	cmd.Flags().StringVar(&o.Backend, "backend", "", "the Pulumi backend whose ledger holds the stack's failover rehearsals (default file://<project>/.nfx/state)")
	return cmd
}

// measured reads the stack's latest failover rehearsal from the ledger,
// for a stage with a second region's cluster: its measured promotion
// takes the assumed one's place. The ledger is only read. One that
// cannot be read or does not verify is said, and the assumption kept.
func measured(ctx context.Context, io IO, o *CapacityOptions, in *stackInput) capacity.Measured {
	if !in.Config.Cloud.StandbyCluster || model.Profiles[in.Config.Stage].Hosting != model.Provider {
		return capacity.Measured{}
	}
	b, err := openBackend(ctx, in.ProjectDir, o.Backend)
	if err != nil {
		fmt.Fprintf(io.Err, "nfx capacity: %v; the failover's promotion is the model's assumption\n", err)
		return capacity.Measured{}
	}
	defer b.Close()
	entries, err := b.Ledger.Entries()
	if err != nil {
		fmt.Fprintf(io.Err, "nfx capacity: the ledger at %s cannot be read (%v); the failover's promotion is the model's assumption\n", b.Ledger.Name(), err)
		return capacity.Measured{}
	}
	r := promote.LastRehearsal(entries, in.Stack)
	if r == nil {
		return capacity.Measured{}
	}
	src := fmt.Sprintf("the rehearsal of %s (ledger entry %d)", r.Time.UTC().Format(time.RFC3339), r.Seq)
	d := time.Duration(r.Figures[promote.FigureRTO] * float64(time.Second))
	if d <= 0 || d > 24*time.Hour {
		fmt.Fprintf(io.Err, "nfx capacity: %s recorded an RTO of %.0f s, not a promotion's; the failover's promotion is the model's assumption\n", src, r.Figures[promote.FigureRTO])
		return capacity.Measured{}
	}
	return capacity.Measured{Promote: d, PromoteSource: src}
}

func runCapacity(io IO, o *CapacityOptions) error {
	in, err := o.resolve(io, false)
	if err != nil {
		return err
	}
	e, err := capacity.ComputeMeasured(in.Config, measured(context.Background(), io, o, in))
	if err != nil {
		return usageError{err}
	}
	if o.JSON {
		return printJSON(io, e)
	}
	tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "METRIC\tESTIMATE\tSEED\t\n")
	for _, c := range e.Seed {
		mark := "within"
		if !c.Within {
			mark = "outside"
		}
		v := figure(c.Estimate)
		switch c.Metric {
		case "concurrent users":
			v = money(c.Estimate)
		case "uptime (%)":
			// Three decimals: 99.985 is not the seed's 99.99.
			v = fmt.Sprintf("%.3f", c.Estimate)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Metric, v, c.Seed, mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	a := e.AI
	fmt.Fprintf(io.Out, "bound by: %s (AI serves %d users, the CRM %d)\n", e.Bottleneck, a.Users, e.CRM.Users)
	batch := fmt.Sprintf("Ollama, %d slots each", a.Slots)
	if a.Engine == model.EngineVLLM {
		batch = fmt.Sprintf("vLLM, %d sequences in flight each", a.Slots)
	}
	fmt.Fprintf(io.Out, "AI: %d x %s, %s + %s, %s: prefill %.0f tokens/s, decode %.0f tokens/s (%.0f ms a token); a generation %.3f GPU-s, an embedding %.4f GPU-s\n",
		a.GPUs, a.GPU, a.Model, a.EmbeddingModel, batch, a.PrefillTokensPerSecond, a.DecodeTokensPerSecond, a.TokenSeconds*1000, a.GenerateSeconds, a.EmbedSeconds)
	fmt.Fprintf(io.Out, "AI requests/s: %.1f on the stage's GPUs + %.1f from the AI API budget\n", a.SelfHosted, a.API)
	fmt.Fprintf(io.Out, "CRM: %d replicas, %g cores, %.0f requests/s\n", e.CRM.Replicas, e.CRM.Cores, e.CRM.RequestsPerSecond)
	fmt.Fprintf(io.Out, "CPU share (limits x replicas, of %g):", e.CPUAvailable)
	for _, s := range e.CPU {
		fmt.Fprintf(io.Out, " %s %g (%.1f %%)", s.Part, s.Cores, s.Percent)
	}
	fmt.Fprintln(io.Out)
	fmt.Fprintf(io.Out, "uptime: %.3f %% of %g h a day, %.2f h down a month:\n", e.UptimePercent, e.ServiceHoursPerDay, e.DowntimeHoursPerMonth)
	for _, u := range e.Uptime {
		if u.EventsPerMonth > 0 {
			fmt.Fprintf(io.Out, "  %.2f h  %s (%.3g a month x %.2f h)", u.DowntimeHours, u.Cause, u.EventsPerMonth, u.HoursEach)
		} else {
			fmt.Fprintf(io.Out, "  %.2f h  %s", u.DowntimeHours, u.Cause)
		}
		if u.Detail != "" {
			fmt.Fprintf(io.Out, ": %s", u.Detail)
		}
		fmt.Fprintln(io.Out)
	}
	if sb := e.Standby; sb != nil {
		fmt.Fprintf(io.Out, "data also in %s: losing %s loses %s; back by %s\n", sb.Region, in.Config.Cloud.Region, sb.DataLost, sb.Recovery)
		if sb.FailoverMinutesForSeed > 0 && sb.FailoverMinutesForSeed < sb.FailoverMinutes {
			fmt.Fprintf(io.Out, "to reach the seed's uptime: a failover within %.0f minutes of an outage, not %.0f (a promotion decided by health checks, not by an operator)\n", sb.FailoverMinutesForSeed, sb.FailoverMinutes)
		}
	}
	if r := e.Reach; r != nil {
		if r.MoreGPUs > 0 {
			fmt.Fprintf(io.Out, "to reach the seed's figures (%s AI requests/s): %d more GPU nodes (ai.replicas; on the cloud, room for them in cloud.gpuMax)", money(r.AIRequestsPerSecond), r.MoreGPUs)
			if r.APIBudget > 0 {
				fmt.Fprintf(io.Out, ", or costs.aiApi %s VND a month", money(r.APIBudget))
			}
			fmt.Fprintln(io.Out)
		}
		if r.CRMReplicas > 0 {
			fmt.Fprintf(io.Out, "to reach the seed's users: %d CRM replicas (crm.replicas; on the cloud, cloud.crmMaxReplicas)\n", r.CRMReplicas)
		}
	}
	printEngines(io, e)
	for _, s := range e.Assumptions {
		fmt.Fprintf(io.Out, "assumes: %s\n", s)
	}
	return nil
}

// figure prints a measure with the precision its size deserves.
func figure(v float64) string {
	switch {
	case v >= 1000:
		return money(v)
	case v >= 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// printEngines is the comparison of the serving engines on the stage's GPU.
func printEngines(io IO, e *capacity.Estimate) {
	if len(e.Engines) == 0 {
		return
	}
	fmt.Fprintf(io.Out, "serving engines, one %s each, for the %s stage's seed of %s AI requests/s on GPUs alone (first and last token: the wait's 95th percentile plus the mean prefill and decode):\n", e.Engines[0].GPU, e.Stage, money(e.EnginesFor))
	tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  ENGINE\tWEIGHTS\tBATCH\tSTEP tok/s\tGPU ON PROMPTS+EMBEDS\tREQ/S A GPU\tFIRST TOKEN\tLAST TOKEN\tGPUS\tGPU COST/MONTH\t\n")
	for _, s := range e.Engines {
		last := fmt.Sprintf("%.2f s", s.LastTokenP95)
		if !s.MeetsResponse {
			last += " (too slow)"
		}
		cost := "-"
		if s.GPUMonthlyVND > 0 {
			cost = money(s.GPUMonthlyVND) + " VND"
		}
		fmt.Fprintf(tw, "  %s\t%.1f GB\t%d\t%.0f\t%.0f %%\t%.1f\t%.2f s\t%s\t%d\t%s\t\n", s.Engine, s.WeightsGB, s.Batch, s.DecodeTokensPerSec,
			s.PrefillShare*100, s.PerGPU, s.TTFTP95, last, s.GPUsForSeed, cost)
	}
	tw.Flush()
}
