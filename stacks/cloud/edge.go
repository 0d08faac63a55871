package cloud

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/components"
	"github.com/nextflow-crm/nfx/internal/model"
)

// edge puts Cloudflare Load Balancing in front of both regions
// (cloud.loadBalancer): the standby's cluster runs a tunnel of its own,
// with the primary's routes and no DNS records of its own, and a load
// balancer per public hostname sends visitors to the serving region's
// pool (components.TunnelLoadBalancer). It returns the secrets the
// standby's cluster runs with, the stage's with its tunnel's token, and
// that tunnel's ID (the primary's where no load balancer is made).
func (rz *realisation) edge(site *standbySite, primary *components.ManagedTunnel, secrets map[string]pulumi.StringOutput) (map[string]pulumi.StringOutput, pulumi.StringInput, error) {
	cfg := rz.cfg
	if !cfg.Cloud.LoadBalancer || site == nil || primary == nil {
		return secrets, rz.tunnelID, nil
	}
	in := rz.in
	parent := pulumi.Parent(in.Parts[model.PartTunnel])
	// A secret of its own, from the stage's seed: a tunnel's secret is its
	// credential, and the standby's is not the primary's.
	seed := in.Secrets[model.KeyTunnelSecret].ApplyT(func(s string) string { return s + "\x00standby" }).(pulumi.StringOutput)
	routes := make([]components.Route, len(primary.Routes))
	for i, r := range primary.Routes {
		routes[i] = components.Route{Hostname: r.Hostname, Service: r.Service, HealthPath: r.HealthPath}
	}
	standby, err := components.NewManagedTunnel(rz.ctx, in.Name+"-cloudflare-standby", &components.ManagedTunnelArgs{
		AccountID: cfg.Tunnel.AccountID, ZoneID: cfg.Tunnel.ZoneID, Routes: routes, Secret: seed, NoRecords: true,
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	pool := func(region string) func(string) string {
		return func(host string) string { return model.LBPoolName(rz.stack, region, host) }
	}
	serving := 0
	if standbyServes(cfg.Cloud) {
		serving = 1
	}
	if _, err := components.NewTunnelLoadBalancer(rz.ctx, in.Name+"-lb", &components.TunnelLoadBalancerArgs{
		AccountID: cfg.Tunnel.AccountID, ZoneID: cfg.Tunnel.ZoneID,
		Origins: []components.TunnelOrigin{
			{Region: cfg.Cloud.Region, Tunnel: primary, Pool: pool(cfg.Cloud.Region)},
			{Region: cfg.Cloud.StandbyRegion, Tunnel: standby, Pool: pool(cfg.Cloud.StandbyRegion)},
		},
		Serving: serving, CheckRegion: cfg.Cloud.HealthCheckRegion, AlertEmail: cfg.Cloud.AlarmEmail,
	}, parent); err != nil {
		return nil, nil, err
	}
	out := make(map[string]pulumi.StringOutput, len(secrets))
	for k, v := range secrets {
		out[k] = v
	}
	out[model.SecretTunnelToken] = rz.createdToken(standby.Token)
	return out, standby.ID, nil
}
