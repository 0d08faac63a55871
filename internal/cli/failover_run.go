//go:build !nfxfront

package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/engine"
	"github.com/nextflow-crm/nfx/internal/failover"
	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/promote"
	"github.com/nextflow-crm/nfx/internal/provider/aws"
	"github.com/nextflow-crm/nfx/internal/release"
)

func init() {
	register("failover", func(c *cobra.Command, _ []string, io IO, o *FailoverOptions) error {
		return runFailover(c.Context(), io, o)
	})
}

// openCluster opens a region's cluster's namespace (tests open their own
// API server's).
var openCluster = func(ctx context.Context, cfg awssdk.Config, region, cluster string) (failover.Cluster, error) {
	k, err := failover.EKS(ctx, cfg, region, cluster, model.KubeNamespace)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// edgeOf is the load balancers in front of the regions, switched to the
// standby's pools (cloud.loadBalancer); nil without them.
func edgeOf(cfg *model.Config, stack string) failover.Edge {
	if !cfg.Cloud.LoadBalancer {
		return nil
	}
	to := map[string]string{}
	for _, p := range model.Build(cfg).RoutedParts() {
		to[p.Public.Hostname] = model.LBPoolName(stack, cfg.Cloud.StandbyRegion, p.Public.Hostname)
	}
	// The token the Cloudflare provider reads too; never printed.
	return &failover.CloudflareLB{API: cloudflareAPI, Token: os.Getenv("CLOUDFLARE_API_TOKEN"),
		AccountID: cfg.Tunnel.AccountID, ZoneID: cfg.Tunnel.ZoneID, To: to}
}

// cloudflareAPI is Cloudflare's API (tests point it at a stand-in).
var cloudflareAPI = failover.CloudflareAPI

// servingSleep, when set, is the failover's waits on the clusters (tests
// wait on their API server's clock).
var servingSleep func(context.Context, time.Duration) error

// serving is how a failover moves the traffic to a standby cluster, as
// the program describes it promoted: the primary's tunnel connectors and
// AI pods there, the vector store restored from the replicated backups.
// Each region's cluster is opened once, when first asked for.
func serving(cfg *model.Config, stack, cluster string, restoreWait time.Duration, open func(context.Context, string) (failover.Cluster, error)) *failover.Serving {
	// The stage's connectors, whatever tunnel.standby says of this stack.
	tunnel := model.Profiles[cfg.Stage].Topology.EdgeReplicas
	ai := model.PartAI
	if model.AIEngineOf(cfg) == model.EngineVLLM {
		ai = model.VLLMSet
	}
	once := func(region string) func(context.Context) (failover.Cluster, error) {
		var c failover.Cluster
		return func(ctx context.Context) (failover.Cluster, error) {
			if c != nil {
				return c, nil
			}
			var err error
			c, err = open(ctx, region)
			return c, err
		}
	}
	return &failover.Serving{
		Standby: once(cfg.Cloud.StandbyRegion), Primary: once(cfg.Cloud.Region), Edge: edgeOf(cfg, stack),
		Tunnel: model.PartTunnel, TunnelReplicas: tunnel,
		AI: ai, AIReplicas: cfg.AI.Replicas,
		Restore: model.RestoreJob, Backup: model.BackupJob, RestoreWait: restoreWait,
		Kubectl: fmt.Sprintf("aws eks update-kubeconfig --region %s --name %s (the standby's cluster)", cfg.Cloud.StandbyRegion, cluster),
		Sleep:   servingSleep,
	}
}

// The failover's clock and how often it asks AWS again (tests run it on
// a clock of their own; nil is the real one).
var (
	failoverPoll  = 15 * time.Second
	failoverNow   func() time.Time
	failoverSleep func(context.Context, time.Duration) error
)

func runFailover(ctx context.Context, io IO, o *FailoverOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	in, err := o.resolve(io, false)
	if err != nil {
		return err
	}
	cc := in.Config.Cloud
	if cc.StandbyRegion == "" {
		return usagef("%s has no standby: %s is empty; fix: set it, nfx up --stage %s, and wait for the replica", in.Stack, model.FullKey("cloud.standbyRegion"), in.Stack)
	}
	if cc.StandbyPromoted != "" && o.DryRun {
		return usagef("%s's standby in %s was promoted at %s (%s): it is the writer already; run without --dry-run to finish what that failover left (the fence, Multi-AZ, the names); a failover back needs a new standby in %s, which nfx does not build yet", in.Stack, cc.StandbyRegion, cc.StandbyPromoted, model.FullKey("cloud.standbyPromoted"), cc.Region)
	}
	// The config must take the promotion before anything is fenced: found
	// out after it, the names would wait on a hand edit.
	if !o.DryRun && !o.Rehearse && cc.StandbyPromoted == "" {
		if err := checkWritable(in); err != nil {
			return usagef("%s cannot record a failover (%v); fix it before the failover: nfx failover writes %s there", in.ConfigFile, err, model.FullKey("cloud.standbyPromoted"))
		}
	}
	// No up of the stack while its database moves, nor a second failover.
	unlock, err := engine.Lock(in.ProjectDir, in.Stack)
	if err != nil {
		return err
	}
	defer unlock()
	var b *stateBackend
	if !o.DryRun {
		// The ledger is opened first: a failover that could not be
		// recorded is found out before it starts.
		if b, err = openBackend(ctx, in.ProjectDir, o.Backend); err != nil {
			return err
		}
		defer b.Close()
	}
	// The SDK's configuration once (its files, its credentials), a
	// region's clients from it; Route 53 answers in us-east-1.
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("AWS credentials: %w", err)
	}
	region := func(name string) failover.Region {
		return failover.Region{Name: name,
			RDS:     rds.NewFromConfig(awsCfg, func(o *rds.Options) { o.Region = name }),
			Metrics: cloudwatch.NewFromConfig(awsCfg, func(o *cloudwatch.Options) { o.Region = name })}
	}
	primary, standby := region(cc.Region), region(cc.StandbyRegion)
	global := route53.NewFromConfig(awsCfg, func(o *route53.Options) { o.Region = "us-east-1" })
	mode := failover.Planned
	if o.Unplanned {
		mode = failover.Unplanned
	}
	opts := failover.Options{
		Mode: mode, Primary: primary, Standby: standby, DNS: global,
		Target: failover.Target{
			Stage: string(model.Cloud), Stack: in.Stack, PrimaryName: aws.PrimaryDB, StandbyName: aws.StandbyDB,
			Zone: aws.PrivateZone(in.Stack), Names: []string{aws.WriterName(in.Stack), aws.ReaderName(in.Stack)},
			TTL: aws.NameTTL * time.Second, BackupDays: cc.DBBackupDays, Fence: aws.FenceParameter,
			BackupWindow: aws.DBBackupWindow, MaintenanceWindow: aws.DBMaintenanceWindow, LogExports: aws.DBLogExports,
		},
		AcceptUnknownLoss: o.AcceptUnknownLoss, DryRun: o.DryRun, Promoted: cc.StandbyPromoted != "",
		OnPromoted: func(at time.Time) error {
			if cc.StandbyPromoted != "" {
				return nil
			}
			if err := writePromoted(in, at); err != nil {
				return fmt.Errorf("%s could not be written (%w); fix: set %s: %q in it before the next up, then run nfx failover again", in.ConfigFile, err, model.FullKey("cloud.standbyPromoted"), at.Format(time.RFC3339))
			}
			return nil
		},
		CatchUp: o.CatchUp, Poll: failoverPoll, Now: failoverNow, Sleep: failoverSleep,
		Log: func(s string) { fmt.Fprintf(io.Err, "nfx: failover: %s\n", s) },
	}
	// A rehearsal reads the same path before its drill (--rehearse takes
	// no --database-only).
	if cc.StandbyCluster && !o.DatabaseOnly {
		if in.Config.Tunnel.Standby {
			if o.Rehearse {
				return usagef("%s is true: this stack's connectors are held stopped for a migration's cutover, and a failover now would be refused (or move the database alone); fix: finish the cutover (set it false and up), then rehearse", model.FullKey("tunnel.standby"))
			}
			return usagef("%s is true: this stack's connectors are held stopped for a migration's cutover, and a failover would start them in %s; fix: finish the cutover (set it false and up) first, or run nfx failover --database-only", model.FullKey("tunnel.standby"), cc.StandbyRegion)
		}
		opts.Serve = serving(in.Config, in.Stack, aws.ClusterName(in.Stack), o.RestoreWait, func(ctx context.Context, region string) (failover.Cluster, error) {
			return openCluster(ctx, awsCfg, region, aws.ClusterName(in.Stack))
		})
	}
	if o.Rehearse {
		return rehearse(ctx, io, o, in, b, opts)
	}
	rep, err := failover.Run(ctx, opts)
	if err != nil && rep != nil && !rep.Named.IsZero() && !o.DryRun {
		// Promoted and named, the traffic not moved yet: what it measured
		// is recorded; a run again finishes the rest.
		kind := promote.KindFailover
		if rep.Resumed {
			kind = promote.KindFailoverFinished
		}
		if _, lerr := b.Ledger.Append(promote.Entry{Time: rep.Named, Kind: kind, To: in.Stack, Actor: actor(), Note: failoverNote(rep), Gates: failoverFigures(rep)}); lerr != nil {
			return fmt.Errorf("%w (and the ledger could not record the promotion: %v)", err, lerr)
		}
		return err
	}
	if err != nil {
		return err
	}
	if !o.DryRun {
		// A run that finished another's promotion measured neither its
		// RTO nor its RPO: recorded, but not as a failover the gate counts.
		kind := promote.KindFailover
		if rep.Resumed {
			kind = promote.KindFailoverFinished
		}
		if _, err := b.Ledger.Append(promote.Entry{Time: rep.Named, Kind: kind, To: in.Stack, Actor: actor(), Note: failoverNote(rep), Gates: failoverFigures(rep)}); err != nil {
			return fmt.Errorf("the failover is done and written to %s, but the ledger could not record it: %w", in.ConfigFile, err)
		}
	}
	if o.JSON {
		return printJSON(io, rep)
	}
	fmt.Fprintln(io.Out, failoverText(in.Stack, rep))
	if o.DatabaseOnly && cc.LoadBalancer {
		fmt.Fprintf(io.Out, "  the load balancers still send visitors to %s's pools (--database-only): run nfx failover --stage %s again without it once the standby's cluster answers, to start it and switch them\n", cc.Region, in.Stack)
	}
	return nil
}

// rehearse runs a failover's rehearsal and records it.
func rehearse(ctx context.Context, io IO, o *FailoverOptions, in *stackInput, b *stateBackend, opts failover.Options) error {
	if in.Config.Cloud.StandbyPromoted != "" {
		return usagef("%s's standby was promoted at %s: there is no standby to rehearse a failover to", in.Stack, in.Config.Cloud.StandbyPromoted)
	}
	r, err := failover.Rehearse(ctx, opts)
	if err != nil {
		return err
	}
	loss := fmt.Sprintf("RPO %s at most (the standby's lag then)", r.RPO.Round(time.Second))
	if r.LossUnknown {
		loss = "RPO unknown (CloudWatch had no lag for the standby)"
	}
	note := fmt.Sprintf("rehearsal: promoting a replica of %s took %s; RTO %s with the names' TTL; %s", r.Standby, r.Promote.Round(time.Second), r.RTO.Round(time.Second), loss)
	if !r.CheckedAt.IsZero() {
		note += "; before the drill (" + r.CheckedAt.Format(time.RFC3339) + ") the standby's cluster held what a failover starts"
		if in.Config.Cloud.LoadBalancer {
			note += ", and the load balancers and the standby's healthy pools were ready to switch"
		}
	}
	figures := map[string]float64{promote.FigureRTO: r.RTO.Seconds(), promote.FigurePromote: r.Promote.Seconds()}
	if !r.LossUnknown {
		figures[promote.FigureRPO] = r.RPO.Seconds()
	}
	if _, err := b.Ledger.Append(promote.Entry{Time: r.Ended, Kind: promote.KindRehearsal, To: in.Stack, Actor: actor(), Note: note, Gates: promote.MeasuredGate("what the rehearsal measured, in seconds", figures)}); err != nil {
		return fmt.Errorf("the rehearsal is done, but the ledger could not record it: %w", err)
	}
	if o.JSON {
		return printJSON(io, r)
	}
	fmt.Fprintf(io.Out, "nfx failover --rehearse of %s: %s; the drill %s is deleted\n", in.Stack, note, r.Drill)
	return nil
}

// checkWritable: the config takes cloud.standbyPromoted (its nextflow:cloud
// a mapping, the result valid) and its directory can be written.
func checkWritable(in *stackInput) error {
	if _, err := promoted(in, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		return err
	}
	if err := syscall.Access(filepath.Dir(in.ConfigFile), 2 /* W_OK */); err != nil {
		return fmt.Errorf("its directory is not writable: %w", err)
	}
	return nil
}

// writePromoted writes cloud.standbyPromoted into the stack's config.
func writePromoted(in *stackInput, at time.Time) error {
	out, err := promoted(in, at)
	if err != nil {
		return err
	}
	return files.WriteFile(in.ConfigFile, out)
}

// promoted is the stack's config with cloud.standbyPromoted at, checked by
// loading it.
func promoted(in *stackInput, at time.Time) ([]byte, error) {
	data, err := model.ReadStackData(in.ConfigFile)
	if err != nil {
		return nil, err
	}
	out, err := release.SetField(data, model.Namespace+":cloud", "standbyPromoted", at.UTC().Format(time.RFC3339))
	if err != nil {
		return nil, err
	}
	raw, _, err := model.ParseStackFile(in.ConfigFile, out)
	if err != nil {
		return nil, err
	}
	if cfg, ds := model.Load(string(in.Stage), raw, model.LoadOptions{Stack: in.Stack}); ds.HasErrors() || cfg.Cloud.StandbyPromoted == "" {
		return nil, fmt.Errorf("the config with it does not load: %s", ds.Error())
	}
	return out, nil
}

// failoverNote is the ledger's line: what moved, how long it took, what
// it may have lost.
func failoverNote(r *failover.Report) string {
	return fmt.Sprintf("%s: %s -> %s; RTO %s; %s", r.Mode, orUnknown(r.Primary), r.Standby, r.RTO.Round(time.Second), lossText(r))
}

// failoverFigures are what a failover measured, for the ledger; a run
// that finished another's measured nothing.
func failoverFigures(r *failover.Report) []promote.GateResult {
	if r.Resumed {
		return nil
	}
	f := map[string]float64{promote.FigureRTO: r.RTO.Seconds()}
	if r.NoLoss || !r.LossUnknown {
		f[promote.FigureRPO] = r.RPO.Seconds()
	}
	return promote.MeasuredGate("what the failover measured, in seconds", f)
}

func lossText(r *failover.Report) string {
	switch {
	case r.NoLoss:
		return "RPO 0 (the standby held all the fenced primary wrote)"
	case r.Resumed:
		return "RPO not known to this run (it finished a failover whose run was stopped after the promotion)"
	case r.LossUnknown:
		return "RPO unknown (CloudWatch had no lag for the standby)"
	default:
		return fmt.Sprintf("RPO %s at most (commits after %s may be lost)", r.RPO.Round(time.Second), r.ReplayedTo.Format(time.RFC3339))
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "the former primary"
	}
	return s
}

func failoverText(stack string, r *failover.Report) string {
	var b strings.Builder
	if r.DryRun {
		fmt.Fprintf(&b, "nfx failover (dry run) of %s: %s from %s to %s; nothing changed", stack, r.Mode, orUnknown(r.Primary), r.Standby)
		if r.Mode == failover.Unplanned {
			fmt.Fprintf(&b, "; now it would be %s", lossText(r))
		}
		return b.String()
	}
	fmt.Fprintf(&b, "nfx failover of %s: %s from %s to %s\n", stack, r.Mode, orUnknown(r.Primary), r.Standby)
	fmt.Fprintf(&b, "  promoted at %s; the database's names moved at %s\n", r.Promoted.Format(time.RFC3339), r.Named.Format(time.RFC3339))
	if !r.Serving.IsZero() {
		fmt.Fprintf(&b, "  the standby's cluster serves from %s: its tunnel connectors ready, its AI starting\n", r.Serving.Format(time.RFC3339))
		if r.Balanced {
			fmt.Fprintf(&b, "  Cloudflare's load balancers send visitors to its pools (switched by this run: %s)\n", orNone(strings.Join(r.Switched, ", ")))
		}
		if r.Restored {
			fmt.Fprintf(&b, "  its vector store restored from the replicated backups first (Job %s)\n", r.RestoreJob)
		}
		fmt.Fprintf(&b, "  RTO %s (from the start to the standby's cluster serving); %s\n", r.RTO.Round(time.Second), lossText(r))
	} else {
		fmt.Fprintf(&b, "  RTO %s (from the start to a new connection reaching it); %s\n", r.RTO.Round(time.Second), lossText(r))
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "  WARNING: %s\n", w)
	}
	if r.TunnelError != "" && r.Balanced {
		fmt.Fprintf(&b, "  the former primary's tunnel connectors were not stopped (%s): its pools take no visitors; they stop at the next up that reaches its region\n", r.TunnelError)
	} else if r.TunnelError != "" {
		fmt.Fprintf(&b, "  WARNING: the former primary's tunnel connectors were not stopped (%s): while its region runs, some visitors\n", r.TunnelError)
		fmt.Fprintf(&b, "  reach its CRM, on a cache the standby's does not share; stop them: kubectl -n nextflow scale deployment/tunnel --replicas=0\n")
	}
	if r.FenceError != "" {
		fmt.Fprintf(&b, "  WARNING: the former primary is not fenced (%s). If it still runs, connections the workloads hold to it keep\n", r.FenceError)
		fmt.Fprintf(&b, "  writing there, and those writes are not on the new writer: restart the workloads now (kubectl -n nextflow rollout\n")
		fmt.Fprintf(&b, "  restart deployment) so that they reconnect by name; the next up fences it once its region answers\n")
	} else if r.Mode == failover.Unplanned && !r.Fenced.IsZero() {
		fmt.Fprintf(&b, "  the former primary answered and is fenced: a --planned switchover would have lost nothing\n")
	}
	fmt.Fprintf(&b, "  %s is in the stack's config; next: nfx preview --stage %s", model.FullKey("cloud.standbyPromoted"), stack)
	return b.String()
}
