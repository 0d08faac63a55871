// Package failover moves the cloud stage's database to its standby region
// (cloud.standbyRegion) through AWS's own APIs, as `nfx failover` runs it:
// a planned switchover that loses nothing (the primary is fenced read-only
// and the standby holds all it wrote before it is promoted), or an
// unplanned failover, when the primary's region is lost, that promotes the
// standby at once and reports how much it may have missed. Either way the
// database's names (the CNAMEs the workloads use, stacks/cloud) move to the
// promoted standby, so that the workloads follow without an up.
//
// Every step reads before it writes: a run that was stopped part-way is run
// again and goes on from where AWS stands.
package failover

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"

	nfxaws "github.com/nextflow-crm/nfx/internal/provider/aws"
)

// RDS is what a failover asks of RDS in one region (*rds.Client).
type RDS interface {
	DescribeDBInstances(context.Context, *rds.DescribeDBInstancesInput, ...func(*rds.Options)) (*rds.DescribeDBInstancesOutput, error)
	ModifyDBParameterGroup(context.Context, *rds.ModifyDBParameterGroupInput, ...func(*rds.Options)) (*rds.ModifyDBParameterGroupOutput, error)
	ResetDBParameterGroup(context.Context, *rds.ResetDBParameterGroupInput, ...func(*rds.Options)) (*rds.ResetDBParameterGroupOutput, error)
	PromoteReadReplica(context.Context, *rds.PromoteReadReplicaInput, ...func(*rds.Options)) (*rds.PromoteReadReplicaOutput, error)
	ModifyDBInstance(context.Context, *rds.ModifyDBInstanceInput, ...func(*rds.Options)) (*rds.ModifyDBInstanceOutput, error)
	RebootDBInstance(context.Context, *rds.RebootDBInstanceInput, ...func(*rds.Options)) (*rds.RebootDBInstanceOutput, error)
	CreateDBInstanceReadReplica(context.Context, *rds.CreateDBInstanceReadReplicaInput, ...func(*rds.Options)) (*rds.CreateDBInstanceReadReplicaOutput, error)
	DeleteDBInstance(context.Context, *rds.DeleteDBInstanceInput, ...func(*rds.Options)) (*rds.DeleteDBInstanceOutput, error)
}

// Metrics is CloudWatch in one region (*cloudwatch.Client).
type Metrics interface {
	GetMetricData(context.Context, *cloudwatch.GetMetricDataInput, ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// DNS is Route 53 (*route53.Client), a global service.
type DNS interface {
	ListHostedZonesByName(context.Context, *route53.ListHostedZonesByNameInput, ...func(*route53.Options)) (*route53.ListHostedZonesByNameOutput, error)
	ChangeResourceRecordSets(context.Context, *route53.ChangeResourceRecordSetsInput, ...func(*route53.Options)) (*route53.ChangeResourceRecordSetsOutput, error)
	GetChange(context.Context, *route53.GetChangeInput, ...func(*route53.Options)) (*route53.GetChangeOutput, error)
}

// Region is one region's clients.
type Region struct {
	Name    string
	RDS     RDS
	Metrics Metrics
}

// Mode is a planned switchover or an unplanned failover.
type Mode string

// The modes.
const (
	Planned   Mode = "switchover"
	Unplanned Mode = "failover"
)

// Target names what the stage's program made (stacks/cloud): the instances
// by their Name tags, the private zone and the database's names in it.
type Target struct {
	Stage       string // the nextflow.io/stage tag's value
	Stack       string // the nextflow.io/stack tag's value
	PrimaryName string // the primary's Name tag
	StandbyName string // the standby's Name tag
	Zone        string // the private zone
	Names       []string
	TTL         time.Duration // the names' TTL
	BackupDays  int
	// The writer's settings the primary has, which the promoted standby
	// takes.
	BackupWindow, MaintenanceWindow string
	LogExports                      []string
	// Fence is the parameter that makes every new transaction read-only.
	Fence string
}

// Options is one run.
type Options struct {
	Mode             Mode
	Primary, Standby Region
	DNS              DNS
	Target
	// AcceptUnknownLoss lets an unplanned failover promote a standby whose
	// lag CloudWatch cannot say.
	AcceptUnknownLoss bool
	// CatchUp is how long the standby has, once the fenced primary has
	// restarted, to hold all it wrote; Wait the longest any other step
	// waits.
	CatchUp, Wait time.Duration
	// Poll is how often a wait asks again.
	Poll  time.Duration
	Now   func() time.Time
	Sleep func(context.Context, time.Duration) error
	// Log says each step as it starts.
	Log func(string)
	// DryRun finds and checks the databases (and, unplanned, reads the
	// standby's lag) and changes nothing.
	DryRun bool
	// Promoted says the stack's config records the promotion already: the
	// run only finishes what an earlier one began, and refuses a standby
	// that still replicates.
	Promoted bool
	// OnPromoted is called once the standby is the writer, before its names
	// move: the config is written there, so that a run stopped after it
	// leaves a config that says what AWS holds.
	OnPromoted func(at time.Time) error
	// Serve, where a cluster runs in the standby's region, moves the
	// traffic to it once the names have moved (serve.go).
	Serve *Serving
}

// Report is what a run did and measured.
type Report struct {
	Mode    Mode   `json:"mode"`
	Primary string `json:"primary"` // region/identifier
	Standby string `json:"standby"`
	// Resumed: the standby was promoted already (a run stopped part-way).
	Resumed bool `json:"resumed,omitempty"`
	// DryRun: nothing was changed.
	DryRun   bool      `json:"dryRun,omitempty"`
	Started  time.Time `json:"started"`
	Fenced   time.Time `json:"fenced,omitzero"`
	CaughtUp time.Time `json:"caughtUp,omitzero"`
	Promoted time.Time `json:"promoted"`
	Named    time.Time `json:"named"`
	// RTO is from the start to when a new connection by the database's
	// names reaches the promoted standby (Named plus the names' TTL), or,
	// with a standby cluster, to when it serves, if later.
	RTO time.Duration `json:"rto"`
	// NoLoss: a switchover whose standby held all the fenced primary wrote.
	NoLoss bool `json:"noLoss,omitempty"`
	// ReplayedTo: an unplanned failover's standby had applied the primary's
	// commits up to this time at least; later ones may be lost. Zero when
	// CloudWatch could not say (LossUnknown).
	ReplayedTo  time.Time `json:"replayedTo,omitzero"`
	LossUnknown bool      `json:"lossUnknown,omitempty"`
	// RPO is the loss bound: Started minus ReplayedTo (the primary may have
	// failed earlier than the run started: the bound is an upper one).
	RPO time.Duration `json:"rpo"`
	// FenceError: the former primary could not be fenced (its region did
	// not answer); the next up fences it once it does.
	FenceError string `json:"fenceError,omitempty"`
	// Serving, with a standby cluster, is when its tunnel had a ready
	// connector; TunnelError why the former primary's could not be
	// stopped.
	Serving     time.Time `json:"serving,omitzero"`
	TunnelError string    `json:"tunnelError,omitempty"`
	// Switched are the load balancers (their hostnames) this run switched
	// to the standby's pools (cloud.loadBalancer).
	Switched []string `json:"switched,omitempty"`
	// Balanced: load balancers send the visitors, to the standby's pools
	// once the run served (Switched or switched before).
	Balanced bool `json:"loadBalanced,omitempty"`
	// RestoreJob is the standby's vector-store restore, Restored whether
	// it finished before the connectors started.
	RestoreJob string `json:"restoreJob,omitempty"`
	Restored   bool   `json:"restored,omitempty"`
	// Warnings are what did not happen once the standby served (its AI,
	// its vector store's restore, the backups' handover), each with its
	// fix.
	Warnings   []string `json:"warnings,omitempty"`
	fenceGroup *string
	lifted     bool
}

// Run performs the failover and reports it. An error after the fence says
// the primary is fenced, unless the fence was lifted.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	rep := &Report{Mode: o.Mode, Started: o.Now().UTC()}
	out, err := o.run(ctx, rep)
	if err != nil && rep.fenceGroup != nil && !rep.lifted {
		err = fmt.Errorf("%w (the primary %s is fenced, read-only: run nfx failover again to go on)", err, rep.Primary)
	}
	return out, err
}

func (o *Options) run(ctx context.Context, rep *Report) (*Report, error) {
	sb, err := o.find(ctx, o.Standby, o.StandbyName)
	if err != nil {
		return nil, err
	}
	sbID := aws.ToString(sb.DBInstanceIdentifier)
	rep.Standby = o.Standby.Name + "/" + sbID
	if passing[aws.ToString(sb.DBInstanceStatus)] {
		// A promotion (or a restart, a backup) under way, of a run
		// stopped part-way or of RDS's own: what it becomes decides.
		o.Log(fmt.Sprintf("the standby %s is %s: waiting for it", rep.Standby, aws.ToString(sb.DBInstanceStatus)))
		if sb, err = o.waitInstance(ctx, o.Standby, sbID, "available", func(db *rdstypes.DBInstance) bool {
			return !passing[aws.ToString(db.DBInstanceStatus)]
		}); err != nil {
			return nil, err
		}
	}
	source := aws.ToString(sb.ReadReplicaSourceDBInstanceIdentifier)
	var primaryID string
	if source == "" {
		if o.DryRun {
			return nil, fmt.Errorf("the standby %s is promoted already: a failover would only finish what a stopped run began (its names, Multi-AZ, the config); fix: run it without --dry-run", rep.Standby)
		}
		// The run that promoted it measured the loss; this one cannot.
		rep.Resumed, rep.LossUnknown = true, true
		o.Log(fmt.Sprintf("the standby %s is promoted already: going on from there", rep.Standby))
		// The former primary by its tag, to fence it if the run that
		// promoted was stopped before it could.
		if pr, err := o.find(ctx, o.Primary, o.PrimaryName); err == nil {
			primaryID = aws.ToString(pr.DBInstanceIdentifier)
			rep.Primary = o.Primary.Name + "/" + primaryID
			o.fenceLost(ctx, primaryID, rep)
		} else {
			rep.FenceError = err.Error()
			o.Log(fmt.Sprintf("the former primary could not be found to fence it (%v): the next up fences it once its region answers", err))
		}
	} else {
		if o.Promoted {
			return nil, fmt.Errorf("the config says the standby was promoted, but %s still replicates from %s; fix: remove cloud.standbyPromoted from the config (nfx failover writes it once RDS has promoted the standby)", rep.Standby, source)
		}
		a, err := arn.Parse(source)
		if err != nil || a.Region != o.Primary.Name {
			return nil, fmt.Errorf("the standby %s replicates from %s, not from a database in cloud.region %s; fix: check cloud.region and cloud.standbyRegion against AWS", rep.Standby, source, o.Primary.Name)
		}
		primaryID = strings.TrimPrefix(a.Resource, "db:")
		rep.Primary = o.Primary.Name + "/" + primaryID
		// A replica whose source's region is lost reports its replication
		// broken: that is what an unplanned failover is for.
		if err := ready(sb, o.Mode == Planned); err != nil {
			return nil, fmt.Errorf("the standby %s: %w", rep.Standby, err)
		}
		// The standby's cluster must answer before anything changes:
		// found out after the fence, the database would move without the
		// traffic.
		if err := o.reachStandbyCluster(ctx, o.Mode == Planned); err != nil {
			return nil, err
		}
		if o.DryRun {
			return o.dryRun(ctx, primaryID, sbID, rep)
		}
		switch o.Mode {
		case Planned:
			if err := o.switchover(ctx, primaryID, rep); err != nil {
				return nil, err
			}
		case Unplanned:
			if err := o.bound(ctx, sbID, rep); err != nil {
				return nil, err
			}
			o.fenceLost(ctx, primaryID, rep)
		default:
			return nil, fmt.Errorf("unknown mode %q", o.Mode)
		}
		o.Log("promoting " + rep.Standby)
		if _, err := o.Standby.RDS.PromoteReadReplica(ctx, &rds.PromoteReadReplicaInput{
			DBInstanceIdentifier: aws.String(sbID), BackupRetentionPeriod: aws.Int32(int32(o.BackupDays)),
		}); err != nil {
			var api smithy.APIError
			if o.Mode == Planned && errors.As(err, &api) {
				// RDS refused it (a standby backing up, say): the
				// primary takes its writes back.
				return nil, o.unfence(ctx, aws.ToString(rep.fenceGroup), rep, fmt.Errorf("RDS refused to promote %s: %w", rep.Standby, err))
			}
			return nil, fmt.Errorf("promote %s: %w; fix: run nfx failover again, which goes on from where AWS stands", rep.Standby, err)
		}
	}
	sb, err = o.waitInstance(ctx, o.Standby, sbID, "promoted and available", promotedAndAvailable)
	if err != nil {
		return nil, err
	}
	rep.Promoted = o.Now().UTC()
	if o.OnPromoted != nil {
		if err := o.OnPromoted(rep.Promoted); err != nil {
			return nil, fmt.Errorf("%s is promoted: %w", rep.Standby, err)
		}
	}
	if sb.Endpoint == nil || aws.ToString(sb.Endpoint.Address) == "" {
		return nil, fmt.Errorf("the promoted %s reports no endpoint", rep.Standby)
	}
	if err := o.rename(ctx, aws.ToString(sb.Endpoint.Address)); err != nil {
		// Route 53's changes are served from us-east-1: with that region
		// lost, they may wait for it. The promotion stands; a run again
		// goes on from here.
		return nil, fmt.Errorf("%s is promoted, but the database's names still point at the former primary: %w; fix: run nfx failover again (it goes on from the promotion), or point %s at %s yourself", rep.Standby, err, strings.Join(o.Names, " and "), aws.ToString(sb.Endpoint.Address))
	}
	rep.Named = o.Now().UTC()
	rep.RTO = rep.Named.Add(o.TTL).Sub(rep.Started)
	if !o.writerLike(sb) {
		// The writer takes the primary's Multi-AZ (RDS converts it while
		// it serves), windows, Performance Insights and logs.
		o.Log("turning Multi-AZ on for " + rep.Standby + ", with the primary's windows, Performance Insights and logs")
		if _, err := o.Standby.RDS.ModifyDBInstance(ctx, &rds.ModifyDBInstanceInput{
			DBInstanceIdentifier: aws.String(sbID), MultiAZ: aws.Bool(true), ApplyImmediately: aws.Bool(true),
			PreferredBackupWindow: aws.String(o.BackupWindow), PreferredMaintenanceWindow: aws.String(o.MaintenanceWindow),
			EnablePerformanceInsights:         aws.Bool(true),
			CloudwatchLogsExportConfiguration: &rdstypes.CloudwatchLogsExportConfiguration{EnableLogTypes: o.LogExports},
		}); err != nil {
			return nil, fmt.Errorf("turn Multi-AZ on for %s (it serves, single-AZ, by the names already): %w; fix: run nfx failover again", rep.Standby, err)
		}
	}

	if o.Serve != nil {
		if err := o.serve(ctx, rep); err != nil {
			// The report goes with the error: the promotion it measured
			// is recorded, and a run again finishes the rest.
			return rep, fmt.Errorf("%s is promoted and the names moved, but the standby's cluster does not serve yet: %w", rep.Standby, err)
		}
		if d := rep.Serving.Sub(rep.Started); d > rep.RTO {
			rep.RTO = d
		}
	}
	switch {
	case rep.ReplayedTo.IsZero():
		rep.RPO = 0
	case !rep.Fenced.IsZero():
		// The primary answered: it committed until its fence.
		rep.RPO = rep.Fenced.Sub(rep.ReplayedTo)
	default:
		// It did not: the bound holds if it stopped before the run.
		rep.RPO = rep.Started.Sub(rep.ReplayedTo)
	}
	if primaryID != "" && rep.FenceError == "" {
		// Sessions still open on the former primary write nowhere (it is
		// fenced) and would not reconnect by themselves: once the names'
		// TTL has passed, a restart of it sends them to the new writer.
		if err := o.Sleep(ctx, o.TTL); err != nil {
			o.Log("stopped before restarting the former primary " + rep.Primary + ": its sessions end when their clients reconnect, or restart it yourself")
			return rep, nil
		}
		o.Log("restarting the former primary " + rep.Primary + " to close its sessions")
		if _, err := o.Primary.RDS.RebootDBInstance(ctx, &rds.RebootDBInstanceInput{DBInstanceIdentifier: aws.String(primaryID)}); err != nil {
			o.Log(fmt.Sprintf("the former primary did not restart (%v): its sessions end when their clients reconnect", err))
		}
	}
	return rep, nil
}

// reachStandbyCluster asks the standby's cluster for its tunnel, where
// one runs there, and reads the balancers in front; refuseUnhealthy
// refuses an unhealthy standby pool (a switchover, a rehearsal) where a
// lost region's failover warns and goes on.
func (o *Options) reachStandbyCluster(ctx context.Context, refuseUnhealthy bool) error {
	s := o.Serve
	if s == nil {
		return nil
	}
	c, err := s.Standby(ctx)
	if err != nil {
		return fmt.Errorf("the standby's cluster cannot be reached (%v): a failover would move the database without the traffic; fix: check the credentials' access to EKS in its region, or run nfx failover --database-only", err)
	}
	if s.Edge != nil {
		unhealthy, err := s.Edge.Check(ctx)
		if err != nil {
			return fmt.Errorf("the load balancers in front of the regions: %w", err)
		}
		for _, h := range slices.Sorted(maps.Keys(unhealthy)) {
			// A planned switchover has the time to make the standby's
			// path healthy first; a lost region does not wait for it (the
			// standby's CRM may fail its checks until its database is
			// promoted).
			if refuseUnhealthy {
				return fmt.Errorf("the standby's pool for %s is not healthy (%s): the switch would send its visitors nowhere; fix: check the standby's tunnel connectors and its CRM (%s; kubectl -n nextflow get pods), wait for Cloudflare's next checks, or run nfx failover --unplanned", h, unhealthy[h], s.Kubectl)
			}
			o.Log(fmt.Sprintf("WARNING: the standby's pool for %s is not healthy (%s); the failover goes on", h, unhealthy[h]))
		}
	}
	for _, obj := range [][2]string{{"deployments", s.Tunnel}, {"statefulsets", s.AI}, {"cronjobs", s.Restore}, {"cronjobs", s.Backup}} {
		if obj[1] == "" {
			continue
		}
		err := c.Exists(ctx, obj[0], obj[1])
		switch code := kubeCode(err); {
		case err == nil:
			continue
		case code == 401 || code == 403:
			return fmt.Errorf("the standby's cluster refuses this principal (%v): a failover would move the database without the traffic; fix: add it to cloud.admins (an EKS access entry in both clusters) and up, or run nfx failover --database-only", err)
		case code == 404:
			return fmt.Errorf("the standby's cluster has no %s %s (%v): it was not brought up to this config; fix: nfx up --stage cloud while the primary's region answers, or run nfx failover --database-only", obj[0], obj[1], err)
		case code != 0:
			return fmt.Errorf("the standby's cluster: %v; fix: %s, or run nfx failover --database-only", err, s.Kubectl)
		default:
			return fmt.Errorf("the standby's cluster does not answer (%v): a failover would move the database without the traffic; fix: check that its API admits this address (cloud.publicAccessCidrs) and any HTTPS_PROXY, or run nfx failover --database-only", err)
		}
	}
	return nil
}

// writerLike: the promoted standby has the writer's settings already (or
// RDS is applying its Multi-AZ).
func (o *Options) writerLike(db *rdstypes.DBInstance) bool {
	multi := aws.ToBool(db.MultiAZ) || (db.PendingModifiedValues != nil && aws.ToBool(db.PendingModifiedValues.MultiAZ))
	logs := true
	for _, l := range o.LogExports {
		logs = logs && slices.Contains(db.EnabledCloudwatchLogsExports, l)
	}
	return multi && logs && aws.ToBool(db.PerformanceInsightsEnabled) &&
		aws.ToString(db.PreferredBackupWindow) == o.BackupWindow && aws.ToString(db.PreferredMaintenanceWindow) == o.MaintenanceWindow
}

// passing are the states RDS moves an instance out of by itself (RDS user
// guide, "Viewing Amazon RDS DB instance status").
var passing = map[string]bool{"modifying": true, "rebooting": true, "backing-up": true, "configuring-enhanced-monitoring": true,
	"configuring-log-exports": true, "maintenance": true, "upgrading": true, "renaming": true, "starting": true}

// dryRun checks what the run would need: the primary answering and ready
// for a switchover, the standby's lag known for a failover.
func (o *Options) dryRun(ctx context.Context, primaryID, standbyID string, rep *Report) (*Report, error) {
	rep.DryRun = true
	if o.Mode == Planned {
		pr, err := describe(ctx, o.Primary, primaryID)
		if err != nil {
			return nil, fmt.Errorf("the primary %s does not answer (%v): a switchover needs it; fix: if its region is lost, nfx failover --unplanned", rep.Primary, err)
		}
		if err := ready(pr, false); err != nil {
			return nil, fmt.Errorf("the primary %s: %w", rep.Primary, err)
		}
		o.Log(fmt.Sprintf("would fence %s, restart it, wait up to %s for the standby, promote %s and move the names", rep.Primary, o.CatchUp, rep.Standby))
		return rep, nil
	}
	if err := o.bound(ctx, standbyID, rep); err != nil {
		return nil, err
	}
	rep.RPO = 0
	if !rep.ReplayedTo.IsZero() {
		rep.RPO = rep.Started.Sub(rep.ReplayedTo)
	}
	o.Log(fmt.Sprintf("would try to fence %s, promote %s and move the names", rep.Primary, rep.Standby))
	return rep, nil
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}
	}
	if o.Log == nil {
		o.Log = func(string) {}
	}
	if o.Poll <= 0 {
		o.Poll = 15 * time.Second
	}
	if o.Wait <= 0 {
		o.Wait = time.Hour
	}
	if o.CatchUp <= 0 {
		o.CatchUp = 15 * time.Minute
	}
}

// find is the one instance of region tagged with name and the stage.
func (o *Options) find(ctx context.Context, r Region, name string) (*rdstypes.DBInstance, error) {
	all, err := o.instances(ctx, r)
	if err != nil {
		return nil, err
	}
	return o.one(r, all, name)
}

// one is the one instance of all tagged with name for the stack.
func (o *Options) one(r Region, all []rdstypes.DBInstance, name string) (*rdstypes.DBInstance, error) {
	found := o.tagged(all, name)
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no database of %s is tagged Name=%s for the stack %s; fix: nfx up --stage %s with cloud.standbyRegion set, and wait for it to finish", r.Name, name, o.Stack, o.Stack)
	case 1:
		return &found[0], nil
	}
	var ids []string
	for _, db := range found {
		ids = append(ids, aws.ToString(db.DBInstanceIdentifier))
	}
	return nil, fmt.Errorf("%d databases of %s are tagged Name=%s for the stack %s (%s): nfx cannot tell which one is this stack's; fix: check the tags %s in the RDS console: only the stack's own should carry it", len(found), r.Name, name, o.Stack, strings.Join(ids, ", "), nfxaws.StackTag)
}

// instances is every instance of region, page by page.
func (o *Options) instances(ctx context.Context, r Region) ([]rdstypes.DBInstance, error) {
	var all []rdstypes.DBInstance
	var marker *string
	for {
		out, err := r.RDS.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{Marker: marker})
		if err != nil {
			return nil, fmt.Errorf("list the databases of %s: %w", r.Name, err)
		}
		all = append(all, out.DBInstances...)
		if marker = out.Marker; aws.ToString(marker) == "" {
			return all, nil
		}
	}
}

// tagged is the instances of all tagged with name and the stage, and with
// the stack, or, made before nfx tagged the stack, with no stack tag (then
// only if no instance has this stack's); none that is being deleted.
func (o *Options) tagged(all []rdstypes.DBInstance, name string) []rdstypes.DBInstance {
	var found, legacy []rdstypes.DBInstance
	for _, db := range all {
		if tag(db.TagList, "Name") != name || tag(db.TagList, nfxaws.StageTag) != o.Stage || aws.ToString(db.DBInstanceStatus) == "deleting" {
			continue
		}
		switch stack, tagged := hasTag(db.TagList, nfxaws.StackTag); {
		case stack == o.Stack:
			found = append(found, db)
		case !tagged:
			legacy = append(legacy, db)
		}
	}
	if len(found) == 0 {
		return legacy
	}
	return found
}

func hasTag(tags []rdstypes.Tag, key string) (string, bool) {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value), true
		}
	}
	return "", false
}

func tag(tags []rdstypes.Tag, key string) string {
	v, _ := hasTag(tags, key)
	return v
}

// promotedAndAvailable: the instance names no source and takes writes.
func promotedAndAvailable(db *rdstypes.DBInstance) bool {
	return aws.ToString(db.ReadReplicaSourceDBInstanceIdentifier) == "" && aws.ToString(db.DBInstanceStatus) == "available"
}

// deleteDrill deletes a rehearsal's instance, its snapshots and backups
// with it.
func (o *Options) deleteDrill(ctx context.Context, id string) error {
	_, err := o.Standby.RDS.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{
		DBInstanceIdentifier: aws.String(id), SkipFinalSnapshot: aws.Bool(true), DeleteAutomatedBackups: aws.Bool(true),
	})
	return err
}

// ready: the instance is available and, for a replica, replicating.
func ready(db *rdstypes.DBInstance, replica bool) error {
	// storage-optimization serves as available does, for hours after a
	// storage change (RDS user guide, DB instance status).
	if s := aws.ToString(db.DBInstanceStatus); s != "available" && s != "storage-optimization" {
		return fmt.Errorf("its status is %s, not available; fix: wait for it, or see its events in the RDS console", s)
	}
	if !replica {
		return nil
	}
	for _, si := range db.StatusInfos {
		if aws.ToString(si.StatusType) == "read replication" && aws.ToString(si.Status) != "replicating" {
			return fmt.Errorf("its replication is %s (%s): a switchover needs it streaming; fix: see the replica's events in the RDS console, or, if the primary's region is lost, nfx failover --unplanned", aws.ToString(si.Status), aws.ToString(si.Message))
		}
	}
	return nil
}

// describe is one instance by identifier.
func describe(ctx context.Context, r Region, id string) (*rdstypes.DBInstance, error) {
	out, err := r.RDS.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
	if err != nil {
		return nil, err
	}
	if len(out.DBInstances) != 1 {
		return nil, fmt.Errorf("%s/%s: %d instances", r.Name, id, len(out.DBInstances))
	}
	return &out.DBInstances[0], nil
}

// waitInstance asks again until cond holds, or Wait has passed.
func (o *Options) waitInstance(ctx context.Context, r Region, id, what string, cond func(*rdstypes.DBInstance) bool) (*rdstypes.DBInstance, error) {
	deadline := o.Now().Add(o.Wait)
	failed := 0
	for {
		db, err := describe(ctx, r, id)
		if err != nil {
			// A throttled or lost answer is asked again, a few times.
			if failed++; failed >= 5 || ctx.Err() != nil || o.Now().After(deadline) {
				return nil, fmt.Errorf("%s/%s: %w", r.Name, id, err)
			}
			o.Log(fmt.Sprintf("%s/%s did not answer (%v): asking again", r.Name, id, err))
			if err := o.Sleep(ctx, o.Poll); err != nil {
				return nil, err
			}
			continue
		}
		failed = 0
		if cond(db) {
			return db, nil
		}
		if o.Now().After(deadline) {
			return nil, fmt.Errorf("%s/%s is not %s after %s (status %s); fix: see its events in the RDS console, then run nfx failover again: it goes on from there", r.Name, id, what, o.Wait, aws.ToString(db.DBInstanceStatus))
		}
		if err := o.Sleep(ctx, o.Poll); err != nil {
			return nil, err
		}
	}
}

// switchover fences the primary, restarts it so that nothing from before
// the fence writes on, and waits for the standby to hold all the primary
// wrote: the replication slots' lag (WAL the most lagging replica has not
// received) at zero for two whole minutes after the restart.
func (o *Options) switchover(ctx context.Context, primaryID string, rep *Report) error {
	pr, err := describe(ctx, o.Primary, primaryID)
	if err != nil {
		return fmt.Errorf("the primary %s does not answer (%v): a switchover needs it; fix: if its region is lost, nfx failover --unplanned", rep.Primary, err)
	}
	if err := ready(pr, false); err != nil {
		return fmt.Errorf("the primary %s: %w", rep.Primary, err)
	}
	if len(pr.DBParameterGroups) != 1 {
		return fmt.Errorf("the primary %s has %d parameter groups, want its one", rep.Primary, len(pr.DBParameterGroups))
	}
	group := aws.ToString(pr.DBParameterGroups[0].DBParameterGroupName)
	rep.fenceGroup = &group
	o.Log(fmt.Sprintf("fencing %s: %s=1 in its parameter group %s", rep.Primary, o.Fence, group))
	if err := o.fence(ctx, o.Primary, group); err != nil {
		// RDS may have applied it without nfx hearing: lift it.
		return o.unfence(ctx, group, rep, fmt.Errorf("fence: %w", err))
	}
	if _, err := o.waitInstance(ctx, o.Primary, primaryID, "fenced (its parameters in-sync)", func(db *rdstypes.DBInstance) bool {
		return len(db.DBParameterGroups) == 1 && aws.ToString(db.DBParameterGroups[0].ParameterApplyStatus) == "in-sync"
	}); err != nil {
		return o.unfence(ctx, group, rep, err)
	}
	// The fence holds for transactions that begin after it; a restart
	// ends those begun before, and every session: each one after it
	// begins read-only (a client that sets the default off itself, or
	// begins READ WRITE, is not fenced: the CRM does neither).
	o.Log("restarting " + rep.Primary + " so that no session or transaction from before the fence survives")
	if _, err := o.Primary.RDS.RebootDBInstance(ctx, &rds.RebootDBInstanceInput{DBInstanceIdentifier: aws.String(primaryID)}); err != nil {
		return o.unfence(ctx, group, rep, fmt.Errorf("restart the fenced primary: %w", err))
	}
	if _, err := o.waitInstance(ctx, o.Primary, primaryID, "restarted with the fence", func(db *rdstypes.DBInstance) bool {
		return aws.ToString(db.DBInstanceStatus) == "available" && len(db.DBParameterGroups) == 1 && aws.ToString(db.DBParameterGroups[0].ParameterApplyStatus) == "in-sync"
	}); err != nil {
		return o.unfence(ctx, group, rep, err)
	}
	rep.Fenced = o.Now().UTC()
	from := rep.Fenced.Truncate(time.Minute).Add(time.Minute)
	o.Log(fmt.Sprintf("waiting for the standby to hold all %s wrote (its replication slots' lag at 0 for 2 minutes from %s)", rep.Primary, from.Format(time.TimeOnly)))
	deadline := o.Now().Add(o.CatchUp)
	for {
		points, err := o.series(ctx, o.Primary.Metrics, "OldestReplicationSlotLag", primaryID, from, o.Now())
		if err != nil {
			return o.unfence(ctx, group, rep, fmt.Errorf("read the replication lag of %s: %w", rep.Primary, err))
		}
		if caughtUp(points) {
			rep.CaughtUp, rep.NoLoss = o.Now().UTC(), true
			return nil
		}
		if o.Now().After(deadline) {
			return o.unfence(ctx, group, rep, fmt.Errorf("the standby did not catch up in %s (the primary's replication slots %s)", o.CatchUp, describePoints(points)))
		}
		if err := o.Sleep(ctx, o.Poll); err != nil {
			return o.unfence(ctx, group, rep, err)
		}
	}
}

// unfence gives a switchover that will not happen its writes back.
func (o *Options) unfence(ctx context.Context, group string, rep *Report, cause error) error {
	ctx = context.WithoutCancel(ctx)
	// Never with the standby promoting: two writers.
	if id, ok := strings.CutPrefix(rep.Standby, o.Standby.Name+"/"); ok {
		// RDS turns a replica it promotes "modifying" at once (the AWS
		// CLI's example of promote-read-replica); one that names its
		// source in any other state is not promoting.
		sb, err := describe(ctx, o.Standby, id)
		if err != nil || aws.ToString(sb.ReadReplicaSourceDBInstanceIdentifier) == "" || aws.ToString(sb.DBInstanceStatus) == "modifying" {
			rep.lifted = true // said here
			return fmt.Errorf("switchover stopped: %w; the fence on %s stays, since the standby %s may be promoting (%v); fix: run nfx failover again, which goes on from where AWS stands", cause, rep.Primary, rep.Standby, standbyState(sb, err))
		}
	}
	if _, err := o.Primary.RDS.ResetDBParameterGroup(ctx, &rds.ResetDBParameterGroupInput{
		DBParameterGroupName: aws.String(group),
		Parameters:           []rdstypes.Parameter{{ParameterName: aws.String(o.Fence), ApplyMethod: rdstypes.ApplyMethodImmediate}},
	}); err != nil {
		rep.lifted = true // said here
		return fmt.Errorf("switchover abandoned: %w; and the fence could not be lifted (%v): %s still takes no writes; fix: reset %s in the parameter group %s (RDS console or aws rds reset-db-parameter-group)", cause, err, rep.Primary, o.Fence, group)
	}
	rep.lifted = true
	return fmt.Errorf("switchover abandoned, the primary %s takes writes again: %w", rep.Primary, cause)
}

func standbyState(db *rdstypes.DBInstance, err error) string {
	if err != nil {
		return "it did not answer: " + err.Error()
	}
	if aws.ToString(db.ReadReplicaSourceDBInstanceIdentifier) == "" {
		return "it is promoted"
	}
	return "its status is " + aws.ToString(db.DBInstanceStatus)
}

func (o *Options) fence(ctx context.Context, r Region, group string) error {
	_, err := r.RDS.ModifyDBParameterGroup(ctx, &rds.ModifyDBParameterGroupInput{
		DBParameterGroupName: aws.String(group),
		Parameters: []rdstypes.Parameter{{
			ParameterName: aws.String(o.Fence), ParameterValue: aws.String("1"), ApplyMethod: rdstypes.ApplyMethodImmediate,
		}},
	})
	return err
}

// fenceLost tries to fence a primary whose region may not answer: a
// primary that comes back must not take writes.
func (o *Options) fenceLost(ctx context.Context, primaryID string, rep *Report) {
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	pr, err := describe(tctx, o.Primary, primaryID)
	if err == nil && len(pr.DBParameterGroups) == 1 {
		err = o.fence(tctx, o.Primary, aws.ToString(pr.DBParameterGroups[0].DBParameterGroupName))
	} else if err == nil {
		err = fmt.Errorf("%d parameter groups", len(pr.DBParameterGroups))
	}
	if err != nil {
		rep.FenceError = err.Error()
		o.Log(fmt.Sprintf("the former primary %s could not be fenced (%v): the next up fences it once its region answers", rep.Primary, err))
		return
	}
	rep.Fenced = o.Now().UTC()
}

// bound reads how far behind the standby was: CloudWatch's ReplicaLag for
// it is now() minus the time of the last commit it applied (RDS user
// guide, "Monitoring and tuning the replication process"), so a datapoint
// at t of at most L seconds says it had applied everything up to t-L.
func (o *Options) bound(ctx context.Context, standbyID string, rep *Report) error {
	now := o.Now()
	points, err := o.series(ctx, o.Standby.Metrics, "ReplicaLag", standbyID, now.Add(-15*time.Minute), now)
	var last *point
	for i := range points {
		if points[i].v >= 0 && (last == nil || points[i].t.After(last.t)) {
			last = &points[i]
		}
	}
	if err != nil || last == nil {
		why := "no ReplicaLag datapoint in the last 15 minutes"
		if err != nil {
			why = err.Error()
		}
		if !o.AcceptUnknownLoss {
			return fmt.Errorf("the standby's lag is unknown (%s): nfx cannot bound what a failover would lose; fix: nfx failover --unplanned --accept-unknown-loss, if the primary's region is lost and you accept that", why)
		}
		rep.LossUnknown = true
		o.Log("the standby's lag is unknown (" + why + "): going on, as --accept-unknown-loss says")
		return nil
	}
	rep.ReplayedTo = last.t.Add(-time.Duration(last.v * float64(time.Second))).UTC()
	o.Log(fmt.Sprintf("the standby had applied the primary's commits up to %s at least (ReplicaLag %.0f s at %s); later ones may be lost", rep.ReplayedTo.Format(time.RFC3339), last.v, last.t.UTC().Format(time.TimeOnly)))
	return nil
}

type point struct {
	t time.Time
	v float64
}

// series is a metric of an instance, the maximum of each minute.
func (o *Options) series(ctx context.Context, m Metrics, metric, id string, from, to time.Time) ([]point, error) {
	if m == nil {
		return nil, errors.New("no CloudWatch client")
	}
	out, err := m.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(from.Truncate(time.Minute)), EndTime: aws.Time(to.Truncate(time.Minute).Add(time.Minute)),
		MetricDataQueries: []cwtypes.MetricDataQuery{{
			Id: aws.String("m"),
			MetricStat: &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{
					Namespace: aws.String("AWS/RDS"), MetricName: aws.String(metric),
					Dimensions: []cwtypes.Dimension{{Name: aws.String("DBInstanceIdentifier"), Value: aws.String(id)}},
				},
				Period: aws.Int32(60), Stat: aws.String("Maximum"),
			},
		}},
	})
	if err != nil {
		return nil, err
	}
	var ps []point
	for _, r := range out.MetricDataResults {
		for i := range r.Timestamps {
			if i < len(r.Values) && !r.Timestamps[i].Before(from) {
				ps = append(ps, point{r.Timestamps[i], r.Values[i]})
			}
		}
	}
	return ps, nil
}

// caughtUp: the two latest datapoints are zero, and a minute apart (two
// whole minutes of nothing held back).
func caughtUp(ps []point) bool {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b point) int { return a.t.Compare(b.t) })
	n := len(ps)
	return n >= 2 && ps[n-1].v == 0 && ps[n-2].v == 0 && ps[n-1].t.Sub(ps[n-2].t) == time.Minute
}

func describePoints(ps []point) string {
	if len(ps) == 0 {
		return "reported no datapoint"
	}
	var s []string
	for _, p := range ps {
		s = append(s, fmt.Sprintf("%s %.1f MB", p.t.UTC().Format("15:04"), p.v))
	}
	return "lagged " + strings.Join(s, ", ")
}

// rename moves the database's names to the promoted standby and waits for
// Route 53 to have the change on all its servers.
func (o *Options) rename(ctx context.Context, address string) error {
	zones, err := o.DNS.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{DNSName: aws.String(o.Zone)})
	if err != nil {
		return fmt.Errorf("find the private zone %s: %w", o.Zone, err)
	}
	var id string
	for _, z := range zones.HostedZones {
		if strings.TrimSuffix(aws.ToString(z.Name), ".") == o.Zone && z.Config != nil && z.Config.PrivateZone {
			if id != "" {
				return fmt.Errorf("two private zones are named %s; fix: delete the one nfx did not make", o.Zone)
			}
			id = aws.ToString(z.Id)
		}
	}
	if id == "" {
		return fmt.Errorf("no private zone %s; fix: nfx up --stage %s with cloud.standbyRegion set makes it", o.Zone, o.Stage)
	}
	var changes []r53types.Change
	for _, n := range o.Names {
		changes = append(changes, r53types.Change{Action: r53types.ChangeActionUpsert, ResourceRecordSet: &r53types.ResourceRecordSet{
			Name: aws.String(n), Type: r53types.RRTypeCname, TTL: aws.Int64(int64(o.TTL / time.Second)),
			ResourceRecords: []r53types.ResourceRecord{{Value: aws.String(address)}},
		}})
	}
	o.Log(fmt.Sprintf("moving %s to %s", strings.Join(o.Names, " and "), address))
	out, err := o.DNS.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(id),
		ChangeBatch:  &r53types.ChangeBatch{Comment: aws.String("nfx failover"), Changes: changes},
	})
	if err != nil {
		return fmt.Errorf("move the database's names: %w", err)
	}
	change := out.ChangeInfo
	deadline := o.Now().Add(o.Wait)
	for change == nil || change.Status != r53types.ChangeStatusInsync {
		if o.Now().After(deadline) {
			return fmt.Errorf("Route 53 has not applied the names' change after %s; fix: run nfx failover again", o.Wait)
		}
		if err := o.Sleep(ctx, o.Poll); err != nil {
			return err
		}
		if change == nil {
			return errors.New("Route 53 answered the names' change without its status")
		}
		got, err := o.DNS.GetChange(ctx, &route53.GetChangeInput{Id: change.Id})
		if err != nil {
			return fmt.Errorf("the names' change: %w", err)
		}
		change = got.ChangeInfo
	}
	return nil
}

// DrillName is the Name tag of a rehearsal's instance.
const DrillName = "nextflow-failover-drill"

// Rehearsal is what a rehearsal measured.
type Rehearsal struct {
	Standby string `json:"standby"`
	Drill   string `json:"drill"`
	// Promote is how long RDS took to promote a replica of the standby,
	// from the request to the instance available for writes: the step of
	// a failover that takes longest.
	Promote time.Duration `json:"promote"`
	// RTO adds the names' TTL to it: Route 53's propagation (under a
	// minute, by its documentation) is not rehearsed.
	RTO time.Duration `json:"rto"`
	// RPO is the standby's lag at the promotion (CloudWatch's ReplicaLag):
	// what an unplanned failover then would have lost at most.
	RPO         time.Duration `json:"rpo"`
	LossUnknown bool          `json:"lossUnknown,omitempty"`
	// CheckedAt is when, before the drill, the standby's cluster (and the
	// load balancers in front, if any) held what a failover acts on,
	// checked as a switchover checks it; zero without a standby cluster.
	CheckedAt time.Time `json:"checkedAt,omitzero"`
	Started   time.Time `json:"started"`
	Ended     time.Time `json:"ended"`
}

// Rehearse measures a failover without touching the stage: it makes a
// replica of the standby in the standby's region (RDS for PostgreSQL
// replicates a replica), promotes it as a failover would promote the
// standby, times that, reads the standby's lag, and deletes it. A drill
// stopped part-way is found by its tag and taken on from where it stands.
func Rehearse(ctx context.Context, o Options) (*Rehearsal, error) {
	o.defaults()
	reh := &Rehearsal{Started: o.Now().UTC()}
	// One listing of the standby's region serves the standby and the
	// drills.
	all, err := o.instances(ctx, o.Standby)
	if err != nil {
		return nil, err
	}
	sb, err := o.one(o.Standby, all, o.StandbyName)
	if err != nil {
		return nil, err
	}
	sbID := aws.ToString(sb.DBInstanceIdentifier)
	reh.Standby = o.Standby.Name + "/" + sbID
	drills := o.tagged(all, DrillName)
	// A drill a stopped rehearsal left: taken on where it can serve, else
	// deleted (it is billed while it stands).
	var drillID string
	for _, d := range drills {
		id, st := aws.ToString(d.DBInstanceIdentifier), aws.ToString(d.DBInstanceStatus)
		if drillID == "" && (st == "available" || st == "creating" || passing[st]) && aws.ToString(sb.ReadReplicaSourceDBInstanceIdentifier) != "" {
			drillID = id
			o.Log("going on with the drill " + id + " a stopped rehearsal left")
			continue
		}
		o.Log(fmt.Sprintf("deleting the drill %s a stopped rehearsal left (%s)", id, st))
		if err := o.deleteDrill(ctx, id); err != nil {
			return nil, fmt.Errorf("delete the drill %s/%s (it is billed until deleted): %w; fix: delete it in the RDS console", o.Standby.Name, id, err)
		}
	}
	if aws.ToString(sb.ReadReplicaSourceDBInstanceIdentifier) == "" {
		return nil, fmt.Errorf("the standby %s is promoted: it is the writer, and there is no standby to rehearse a failover to", reh.Standby)
	}
	// Stopped before its drill is made, a rehearsal deletes one a stopped
	// run left: it is billed while what stops this one stays, which may be
	// days; the next run makes another.
	refuse := func(err error) (*Rehearsal, error) {
		if drillID != "" {
			if derr := o.deleteDrill(ctx, drillID); derr != nil {
				return nil, fmt.Errorf("%w; the drill %s/%s a stopped rehearsal left could not be deleted (%v): it is billed until it is, in the RDS console or by the next rehearsal", err, o.Standby.Name, drillID, derr)
			}
			return nil, fmt.Errorf("%w; the drill %s/%s a stopped rehearsal left is being deleted", err, o.Standby.Name, drillID)
		}
		return nil, err
	}
	if err := ready(sb, true); err != nil {
		return refuse(fmt.Errorf("the standby %s: %w", reh.Standby, err))
	}
	// What a switchover reads before it fences, read before the drill: a
	// rehearsal whose failover would stop there (the standby's cluster,
	// its objects, the balancers, the standby's pools' health) measures
	// nothing a failover would reach, and is not recorded.
	if err := o.reachStandbyCluster(ctx, true); err != nil {
		return refuse(fmt.Errorf("a failover now would stop before it fences, so the rehearsal measured nothing and recorded nothing: %w (for the rehearsal: fix that, then run nfx failover --rehearse again)", err))
	}
	if o.Serve != nil {
		reh.CheckedAt = o.Now().UTC()
	}
	if drillID == "" {
		var sgs []string
		for _, g := range sb.VpcSecurityGroups {
			sgs = append(sgs, aws.ToString(g.VpcSecurityGroupId))
		}
		drillID = fmt.Sprintf("nextflow-failover-drill-%s", reh.Started.Format("20060102t150405"))
		o.Log(fmt.Sprintf("making %s, a replica of the standby %s (RDS copies its storage: this takes a while)", drillID, reh.Standby))
		if _, err := o.Standby.RDS.CreateDBInstanceReadReplica(ctx, &rds.CreateDBInstanceReadReplicaInput{
			DBInstanceIdentifier: aws.String(drillID), SourceDBInstanceIdentifier: aws.String(sbID),
			DBInstanceClass: sb.DBInstanceClass, PubliclyAccessible: aws.Bool(false), MultiAZ: aws.Bool(false),
			DeletionProtection: aws.Bool(false), AutoMinorVersionUpgrade: aws.Bool(false), VpcSecurityGroupIds: sgs,
			Tags: []rdstypes.Tag{{Key: aws.String("Name"), Value: aws.String(DrillName)}, {Key: aws.String(nfxaws.StageTag), Value: aws.String(o.Stage)},
				{Key: aws.String(nfxaws.StackTag), Value: aws.String(o.Stack)}},
		}); err != nil {
			return nil, fmt.Errorf("make the drill's replica of %s: %w", reh.Standby, err)
		}
	}
	reh.Drill = o.Standby.Name + "/" + drillID
	db, err := o.waitInstance(ctx, o.Standby, drillID, "available", func(db *rdstypes.DBInstance) bool {
		return aws.ToString(db.DBInstanceStatus) == "available"
	})
	if err != nil {
		return nil, err
	}
	if aws.ToString(db.ReadReplicaSourceDBInstanceIdentifier) != "" {
		// The loss a failover now would bound, as it bounds it.
		var rep Report
		o.AcceptUnknownLoss = true
		rep.Started = o.Now().UTC()
		if err := o.bound(ctx, sbID, &rep); err != nil {
			return nil, err
		}
		if rep.LossUnknown {
			reh.LossUnknown = true
		} else {
			reh.RPO = rep.Started.Sub(rep.ReplayedTo)
		}
		o.Log("promoting the drill " + reh.Drill + " as a failover promotes the standby")
		start := o.Now()
		if _, err := o.Standby.RDS.PromoteReadReplica(ctx, &rds.PromoteReadReplicaInput{
			DBInstanceIdentifier: aws.String(drillID), BackupRetentionPeriod: aws.Int32(int32(o.BackupDays)),
		}); err != nil {
			return nil, fmt.Errorf("promote the drill %s: %w", reh.Drill, err)
		}
		if _, err := o.waitInstance(ctx, o.Standby, drillID, "promoted and available", promotedAndAvailable); err != nil {
			return nil, err
		}
		reh.Promote = o.Now().Sub(start)
		reh.RTO = reh.Promote + o.TTL
	} else {
		reh.LossUnknown = true
		o.Log("the drill " + reh.Drill + " was promoted by a stopped rehearsal: its time is not known; deleting it")
	}
	o.Log("deleting the drill " + reh.Drill)
	if err := o.deleteDrill(ctx, drillID); err != nil {
		return nil, fmt.Errorf("delete the drill %s (it is billed until deleted): %w; fix: run nfx failover --rehearse again, or delete it in the RDS console", reh.Drill, err)
	}
	reh.Ended = o.Now().UTC()
	if reh.Promote == 0 {
		return nil, fmt.Errorf("the drill %s was deleted; it had been promoted by a stopped rehearsal, whose time is lost: run nfx failover --rehearse again to measure", reh.Drill)
	}
	return reh, nil
}
