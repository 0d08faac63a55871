package cloud

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/model"
)

// standbyConfig is the configuration of the standby region's resources:
// the primary's, in the standby's region and on its range. Its GPU pool's
// minimum is zero, promoted or not: the autoscaler adds nodes for the AI's
// pods (a pool's minimum raised above the count it holds is refused by
// EKS), and a promoted pool's desired size is the primary's for the cost
// (an up leaves the count to the autoscaler). Until `nfx failover`
// promotes the region (cloud.standbyPromoted), its cluster idles:
//   - no AI pods, so no GPU node is billed;
//   - no tunnel connectors: Cloudflare spreads a tunnel's visitors over its
//     connectors, and the standby's would serve sessions its cache lacks
//     (behind a load balancer, cloud.loadBalancer, they run: the tunnel is
//     the standby's own, and its pool takes no visitors until a failover
//     switches it, while Cloudflare checks the region's health through it);
//   - no monitoring and no backup of its empty vector store (the restore
//     job is there, on the primary's copies);
//
// while the CRM, its workers and Qdrant run, the CRM on the primary's
// database through the peering and on a cache of the region's own.
func standbyConfig(c *model.Config) *model.Config {
	s := *c
	s.Cloud.Region, s.Cloud.VpcCidr = c.Cloud.StandbyRegion, c.Cloud.StandbyVpcCidr
	s.Cloud.GPUMin = 0
	if c.Cloud.StandbyPromoted == "" {
		s.Cloud.GPUDesired = 0
		s.AI.Replicas = 0
		if s.Tunnel.Mode != model.TunnelNone && !c.Cloud.LoadBalancer {
			s.Tunnel.Standby = true
		}
		s.Monitoring.Enabled = false
	}
	return &s
}

// standbyServes says the standby region's cluster serves the stage: a
// failover promoted a standby region that runs one. The primary's cluster
// then idles, and the standby's does not.
func standbyServes(c model.CloudConfig) bool {
	return c.StandbyPromoted != "" && c.StandbyCluster
}

// primaryApp is what the primary region runs: app, but once the standby's
// cluster serves, without tunnel connectors. Visitors then enter the
// standby's cluster only: the primary's CRM would serve them on its own
// cache, where their sessions are not.
func primaryApp(app *model.App) *model.App {
	c := app.Config
	if !standbyServes(c.Cloud) || c.Tunnel.Mode == model.TunnelNone || c.Tunnel.Standby {
		return app
	}
	pc := *c
	pc.Tunnel.Standby = true
	return model.Build(&pc)
}

// standbyCluster realises the workloads in the standby region
// (cloud.standbyCluster) on its network: EKS and its node groups, a cache
// of the region's own (ElastiCache has no cross-region replica below a
// Global Datastore, which takes no t-class nodes; the cache's contents are
// sessions and queues the CRM rebuilds, and a failover starts it empty),
// the workloads, on the database's names, with the stage's secrets, and
// the cluster's add-ons.
func (rz *realisation) standbyCluster(site *standbySite, sby *standby, secrets map[string]pulumi.StringOutput, tunnelID pulumi.StringInput) (*cluster, error) {
	if site == nil || !rz.cfg.Cloud.StandbyCluster {
		return nil, nil
	}
	b := site.b
	app := model.Build(b.cfg)
	in := rz.in
	in.App = app
	srz := &realisation{builder: b, in: in, app: app, platform: rz.platform, net: site.net, db: rz.db,
		values: map[string]pulumi.StringOutput{}, idle: !standbyServes(rz.cfg.Cloud), tunnelID: tunnelID}
	for _, e := range []model.Endpoint{model.EndpointDB, model.EndpointDBRead} {
		if v, ok := rz.values[string(e)]; ok {
			srz.values[string(e)] = v
		}
	}
	var err error
	if srz.cl, err = b.cluster(site.net); err != nil {
		return nil, err
	}
	for i := range app.Parts {
		if p := &app.Parts[i]; p.Kind == model.KindCache && p.Runs {
			if err := (elastiCache{}).provision(srz, p); err != nil {
				return nil, err
			}
		}
	}
	// The cache's and the node groups' alarms, in the region, to its topic.
	if err := b.alarmSet(sby.topic, append(cacheAlarms(srz.cache.group), b.poolAlarms(srz.cl)...)); err != nil {
		return nil, err
	}
	provider, err := b.provider(srz.cl)
	if err != nil {
		return nil, err
	}
	srz.k = &k8s{builder: b, provider: provider, parts: rz.k.parts, mon: rz.k.mon}
	// The same secrets: the cache's token is the stage's, as the primary's.
	if err := srz.base(secrets); err != nil {
		return nil, err
	}
	if err := srz.phase(phaseWorkloads); err != nil {
		return nil, err
	}
	if err := srz.backups(sby.bucket, sby.key); err != nil {
		return nil, err
	}
	if err := srz.k.addons(b.cfg, srz.cl); err != nil {
		return nil, err
	}
	if model.MonitoringRuns(b.cfg) {
		if err := srz.k.monitoring(app, srz.inNS); err != nil {
			return nil, err
		}
	}
	return srz.cl, nil
}
