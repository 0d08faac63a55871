package cli

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/capacity"
	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
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
	}
	o.add(cmd)
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the estimate as JSON")
	cmd.Flags().StringVar(&o.Backend, "backend", "", "the cloud stage: the Pulumi backend whose ledger holds the stack's failover rehearsals (default file://<project>/.nfx/state)")
	// The laptop's and the server's run in the front nfx; the cloud's in
	// nfx-cloud, which reads the ledger (ledgerMeasured).
	return viaPulumi(cmd, io, "capacity", o)
}

func init() {
	registerFront("capacity", runCapacity)
	cloudWhen["capacity"] = capacityReadsLedger
}

// capacityReadsLedger says whether the cloud's capacity has a ledger to
// read (in nfx-cloud, which has the ledger's code): a --backend, or the
// project's own ledger, of a stack with an unpromoted standby cluster.
// Without one it runs in the front, as the laptop's and the server's do;
// a config it cannot read is left to the command to refuse.
func capacityReadsLedger(cmd *cobra.Command, x IO) bool {
	if b, _ := cmd.Flags().GetString("backend"); b != "" {
		return true
	}
	stage, _ := cmd.Flags().GetString("stage")
	config, _ := cmd.Flags().GetString("config")
	in, err := (&stackFlags{Stage: stage, Config: config}).resolve(IO{Out: io.Discard, Err: io.Discard, Dir: x.Dir}, false)
	if err != nil {
		return false
	}
	if !countsRehearsal(in.Config) {
		return false
	}
	_, err = os.Stat(files.LedgerIn(files.BackendDir(in.ProjectDir)))
	return err == nil
}

// countsRehearsal says whether a failover rehearsal in the ledger counts
// in the stage's capacity: a provider's stage with a standby cluster not
// yet promoted, whose failover the rehearsal measured.
func countsRehearsal(cfg *model.Config) bool {
	cc := cfg.Cloud
	return model.Profiles[cfg.Stage].Hosting == model.Provider && cc.StandbyCluster && cc.StandbyPromoted == ""
}

// ledgerMeasured is what the ledger holds measured of the stack (a
// rehearsal's promotion); set by the binaries that read the ledger, which
// the cloud's capacity runs in.
var ledgerMeasured = func(IO, string, *stackInput) capacity.Measured { return capacity.Measured{} }

func runCapacity(io IO, o *CapacityOptions) error {
	in, err := o.resolve(io, false)
	if err != nil {
		return err
	}
	e, err := capacity.ComputeMeasured(in.Config, ledgerMeasured(io, o.Backend, in))
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
			fmt.Fprintf(io.Out, "to reach the seed's uptime: a failover within %.1f minutes of an outage, not %.1f (a promotion decided by health checks, not by an operator)\n", sb.FailoverMinutesForSeed, sb.FailoverMinutes)
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
