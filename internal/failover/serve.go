package failover

import (
	"context"
	"fmt"
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
	// StartJob starts a Job named name from a CronJob's template, as
	// `kubectl create job --from=cronjob/...` does; a Job of that name
	// already there is left as it is.
	StartJob(ctx context.Context, cronJob, name string) error
}

// Serving moves the traffic with the database where the standby's region
// runs a cluster (cloud.standbyCluster), whose workloads idle until then:
// its tunnel connectors and AI are started, its vector store is restored
// from the primary's replicated backups, and, once its connectors are
// ready, the former primary's stop. It is what the program describes once
// promoted (stacks/cloud primaryApp, standbyConfig), done through the
// clusters' APIs: the up that would do it needs the primary's region too,
// which an unplanned failover has lost.
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
	// Restore is the vector store's restore CronJob, started once as the
	// Job RestoreRun.
	Restore, RestoreRun string
}

// tunnelWait bounds the wait for the standby's connectors: cloudflared
// starts in seconds on a running node.
const tunnelWait = 10 * time.Minute

// serve starts the standby's cluster serving and stops the former
// primary's connectors. Every step is idempotent: a run again repeats it.
func (o *Options) serve(ctx context.Context, rep *Report) error {
	s := o.Serve
	sc, err := s.Standby(ctx)
	if err != nil {
		return fmt.Errorf("the standby's cluster: %w", err)
	}
	o.Log(fmt.Sprintf("starting the standby cluster: %d tunnel connectors, %d AI pods, the vector store's restore (%s)", s.TunnelReplicas, s.AIReplicas, s.RestoreRun))
	if err := sc.Scale(ctx, "deployments", s.Tunnel, s.TunnelReplicas); err != nil {
		return fmt.Errorf("start the standby's tunnel: %w", err)
	}
	if s.AI != "" && s.AIReplicas > 0 {
		if err := sc.Scale(ctx, "statefulsets", s.AI, s.AIReplicas); err != nil {
			return fmt.Errorf("start the standby's AI: %w", err)
		}
	}
	if s.Restore != "" {
		if err := sc.StartJob(ctx, s.Restore, s.RestoreRun); err != nil {
			return fmt.Errorf("start the standby's vector-store restore: %w", err)
		}
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
			return fmt.Errorf("the standby's tunnel has no ready connector after %s (%s); fix: check its pods (kubectl -n nextflow get pods -l app.kubernetes.io/name=%s), then run nfx failover again", min(o.Wait, tunnelWait), why, s.Tunnel)
		}
		if err := o.Sleep(ctx, o.Poll); err != nil {
			return err
		}
	}
	rep.Serving = o.Now().UTC()
	// The former primary's connectors stop: their CRM serves on a cache
	// the standby's does not share. Its region may be lost: a minute,
	// then reported.
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	pc, err := s.Primary(pctx)
	if err == nil {
		err = pc.Scale(pctx, "deployments", s.Tunnel, 0)
	}
	if err != nil {
		rep.TunnelError = err.Error()
		o.Log(fmt.Sprintf("the former primary's tunnel connectors could not be stopped (%v): they stop with its region, or at the next up that reaches it", err))
	}
	return nil
}
