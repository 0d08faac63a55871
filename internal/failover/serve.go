package failover

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Cluster is one region's cluster as a failover moves the traffic: the
// Kubernetes API of its namespace (KubeAPI).
type Cluster interface {
	// Scale sets a Deployment's or a StatefulSet's pod count (resource
	// "deployments" or "statefulsets") through its scale subresource.
	Scale(ctx context.Context, resource, name string, replicas int) error
	// Ready is how many of its pods are ready.
	Ready(ctx context.Context, resource, name string) (int, error)
	// Exists reads an object (resource "deployments", "statefulsets" or
	// "cronjobs").
	Exists(ctx context.Context, resource, name string) error
	// StartJob starts a Job named name from a CronJob's template, as
	// `kubectl create job --from=cronjob/...` does; a Job of that name
	// that failed is made again, one running or done is left as it is.
	StartJob(ctx context.Context, cronJob, name string) error
	// JobDone says whether a Job has finished, and whether it failed.
	JobDone(ctx context.Context, name string) (done, failed bool, err error)
	// Suspend suspends or resumes a CronJob; Marked and Mark read and set
	// an annotation on it.
	Suspend(ctx context.Context, cronJob string, suspend bool) error
	Marked(ctx context.Context, cronJob, key string) (string, error)
	Mark(ctx context.Context, cronJob, key, value string) error
}

// Serving moves the traffic with the database where the standby's region
// runs a cluster (cloud.standbyCluster), whose workloads idle until then:
// its AI is started, its vector store restored from the primary's
// replicated backups (before its tunnel connectors start, up to
// RestoreWait: writes the CRM made to a store being restored would be
// overwritten), its connectors started, and, once they are ready, the
// former primary's stopped, with its backup. It is what the program
// describes once promoted (stacks/cloud primaryApp, standbyConfig), done
// through the clusters' APIs: the up that would do it needs the primary's
// region too, which an unplanned failover has lost.
type Serving struct {
	// Standby opens the standby's cluster; Primary the former primary's,
	// whose errors are reported, not fatal (its region may be lost).
	Standby, Primary func(context.Context) (Cluster, error)
	// Tunnel is the tunnel's Deployment and the connectors it runs.
	Tunnel         string
	TunnelReplicas int
	// AI is the AI's StatefulSet and its pods (none where 0).
	AI         string
	AIReplicas int
	// Restore is the vector store's restore CronJob, run once per
	// promotion (restoreRun); Backup the daily backup's CronJob.
	Restore, Backup string
	// RestoreWait bounds the wait for the restore before the connectors
	// start anyway (0: they start at once, the restore beside them).
	RestoreWait time.Duration
	// Kubectl is how an operator reaches the standby's cluster, for the
	// messages (its region and name).
	Kubectl string
	// Edge, when set, is the load balancers in front of the regions'
	// tunnels (cloud.loadBalancer): switched to the standby's pools once
	// its connectors are ready, checked before anything is fenced.
	Edge Edge
	// Sleep, when set, is the waits' between the clusters' answers (a
	// test's API server runs on its own clock); the run's otherwise.
	Sleep func(context.Context, time.Duration) error
}

func (s *Serving) sleep(o *Options) func(context.Context, time.Duration) error {
	if s.Sleep != nil {
		return s.Sleep
	}
	return o.Sleep
}

// restoreRun names the restore's Job after the promoted standby: a
// standby is promoted once (a failover back takes a new one), so that a
// run again finds the Job its promotion started.
func restoreRun(cronJob, standby string) string {
	sum := sha256.Sum256([]byte(standby))
	return cronJob + "-" + hex.EncodeToString(sum[:4])
}

// restoredKey marks the restore CronJob with the promotion its Job
// restored for: a run again does not restore over what the store took
// since.
const restoredKey = "nextflow.io/restored-for"

// tunnelWait bounds the wait for the standby's connectors: cloudflared
// starts in seconds on a running node.
const tunnelWait = 10 * time.Minute

// serve starts the standby's cluster serving and stops the former
// primary's connectors and backup. Every step reads before it writes: a
// run again repeats what is left. Once the standby's connectors serve,
// what fails is reported (rep.Warnings), not fatal.
func (o *Options) serve(ctx context.Context, rep *Report) error {
	s := o.Serve
	sc, err := s.Standby(ctx)
	if err != nil {
		return fmt.Errorf("the standby's cluster: %w", err)
	}
	warn := func(format string, args ...any) {
		w := fmt.Sprintf(format, args...)
		rep.Warnings = append(rep.Warnings, w)
		o.Log(w)
	}
	// The AI first: its GPU nodes take minutes to join.
	if s.AI != "" && s.AIReplicas > 0 {
		o.Log(fmt.Sprintf("starting the standby's AI: %d pods of %s (its GPU pool grows as they ask)", s.AIReplicas, s.AI))
		if err := sc.Scale(ctx, "statefulsets", s.AI, s.AIReplicas); err != nil {
			warn("the standby's AI was not started (%v): the CRM serves without it; fix: %s, then kubectl scale statefulset/%s --replicas=%d", err, s.Kubectl, s.AI, s.AIReplicas)
		}
	}
	restored := o.restore(ctx, sc, rep, warn)
	rep.Restored = restored
	o.Log(fmt.Sprintf("starting the standby's tunnel: %d connectors", s.TunnelReplicas))
	if err := sc.Scale(ctx, "deployments", s.Tunnel, s.TunnelReplicas); err != nil {
		return fmt.Errorf("start the standby's tunnel: %w; fix: %s, check deployment/%s, then run nfx failover again", err, s.Kubectl, s.Tunnel)
	}
	// The connectors, ready, serve: Cloudflare sends the tunnel's
	// visitors to the connectors it has.
	deadline := o.Now().Add(min(o.Wait, tunnelWait))
	for {
		n, err := sc.Ready(ctx, "deployments", s.Tunnel)
		if err == nil && n > 0 {
			break
		}
		if o.Now().After(deadline) {
			why := fmt.Sprintf("0 of %d ready", s.TunnelReplicas)
			if err != nil {
				why = err.Error()
			}
			return fmt.Errorf("the standby's tunnel has no ready connector after %s (%s); fix: %s, check its pods (kubectl -n nextflow get pods -l app.kubernetes.io/name=%s), then run nfx failover again", min(o.Wait, tunnelWait), why, s.Kubectl, s.Tunnel)
		}
		if err := s.sleep(o)(ctx, o.Poll); err != nil {
			return err
		}
	}
	if s.Edge != nil {
		// Behind load balancers, the connectors' pools take visitors once
		// switched to: the standby's run idle, checked by Cloudflare.
		switched, err := s.Edge.Switch(ctx)
		rep.Switched = switched
		if err != nil {
			moved := "none was"
			if len(switched) > 0 {
				moved = "those of " + strings.Join(switched, ", ") + " were"
			}
			return fmt.Errorf("the load balancers were not all switched to the standby's pools (%w; %s): the others still send visitors to the former primary's; fix it, then run nfx failover again", err, moved)
		}
		rep.Balanced = true
		if len(switched) > 0 {
			o.Log(fmt.Sprintf("load balancers switched to the standby's pools: %s", strings.Join(switched, ", ")))
		}
	}
	rep.Serving = o.Now().UTC()
	if restored {
		// The standby's store is the one to back up now.
		if err := sc.Suspend(ctx, s.Backup, false); err != nil {
			warn("the standby's vector-store backup was not resumed (%v); fix: %s, then kubectl patch cronjob/%s -p '{\"spec\":{\"suspend\":false}}'", err, s.Kubectl, s.Backup)
		}
	}
	// The former primary's connectors stop (their CRM serves on a cache
	// the standby's does not share), and its backup (its stale archive
	// would replicate over the standby's). Its region may be lost: a
	// minute, then reported.
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	pc, err := s.Primary(pctx)
	if err == nil {
		err = pc.Scale(pctx, "deployments", s.Tunnel, 0)
	}
	if err != nil {
		rep.TunnelError = err.Error()
		o.Log(fmt.Sprintf("the former primary's tunnel connectors could not be stopped (%v): they stop with its region, or at the next up that reaches it", err))
		return nil
	}
	if err := pc.Suspend(pctx, s.Backup, true); err != nil {
		warn("the former primary's vector-store backup was not suspended (%v): its archives replicate into the standby's bucket until the next up", err)
	}
	return nil
}

// restore restores the standby's vector store from the newest replicated
// backup, once per promotion, before its connectors start, waiting up to
// RestoreWait. It says whether the store is restored.
func (o *Options) restore(ctx context.Context, sc Cluster, rep *Report, warn func(string, ...any)) bool {
	s := o.Serve
	if s.Restore == "" {
		return false
	}
	run := restoreRun(s.Restore, rep.Standby)
	rep.RestoreJob = run
	if done, err := sc.Marked(ctx, s.Restore, restoredKey); err == nil && done == run {
		o.Log("the standby's vector store was restored for this promotion already (" + run + ")")
		return true
	}
	o.Log(fmt.Sprintf("restoring the standby's vector store from the replicated backups (Job %s)", run))
	if err := sc.StartJob(ctx, s.Restore, run); err != nil {
		warn("the standby's vector-store restore was not started (%v): AI search finds nothing the primary held; fix: %s, then kubectl create job --from=cronjob/%s %s", err, s.Kubectl, s.Restore, run)
		return false
	}
	deadline := o.Now().Add(s.RestoreWait)
	for {
		done, failed, err := sc.JobDone(ctx, run)
		switch {
		case err == nil && done && !failed:
			if err := sc.Mark(ctx, s.Restore, restoredKey, run); err != nil {
				warn("the restore is done, but not marked on cronjob/%s (%v): a run again would restore again", s.Restore, err)
			}
			return true
		case err == nil && failed:
			warn("the standby's vector-store restore failed (Job %s): AI search finds nothing the primary held; fix: %s, kubectl logs job/%s (no backup replicated yet?), then run nfx failover again", run, s.Kubectl, run)
			return false
		}
		if !o.Now().Before(deadline) {
			warn("the standby's vector-store restore (Job %s) runs beside the connectors (--restore-wait %s): vectors the CRM writes before it ends may be overwritten; once it is done, run nfx failover again to resume the standby's backup", run, s.RestoreWait)
			return false
		}
		if err := s.sleep(o)(ctx, o.Poll); err != nil {
			warn("stopped while the restore ran (%v)", err)
			return false
		}
	}
}

// KubeError is the Kubernetes API's answer to a request it refused.
type KubeError struct {
	Code    int
	Message string
	Request string
}

func (e *KubeError) Error() string { return fmt.Sprintf("%s: %d %s", e.Request, e.Code, e.Message) }

// kubeCode is a KubeError's status, 0 for another error.
func kubeCode(err error) int {
	var k *KubeError
	if errors.As(err, &k) {
		return k.Code
	}
	return 0
}
