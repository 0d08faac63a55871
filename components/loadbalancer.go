package components

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The Cloudflare Load Balancing resources, by type token as the tunnel's
// (pulumi-cloudflare v5.49.1); TestLoadBalancerRegistersAsTheSDK holds
// them to the SDK's requests.
const (
	cfMonitorType = "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor"
	cfPoolType    = "cloudflare:index/loadBalancerPool:LoadBalancerPool"
	cfLBType      = "cloudflare:index/loadBalancer:LoadBalancer"
	cfAlertType   = "cloudflare:index/notificationPolicy:NotificationPolicy"
)

// PoolHealthAlert is the Cloudflare notification a pool's change of health
// sends (the alerting API's alert_type, with its filters pool_id,
// new_health and event_source, as Cloudflare's Load Balancing guide sets
// them).
const PoolHealthAlert = "load_balancing_health_alert"

// TunnelLoadBalancerType is the type token of the load balancers nfx puts
// in front of a stage's regions.
const TunnelLoadBalancerType = "nextflow:index:TunnelLoadBalancer"

// The monitor's schedule, Cloudflare's defaults (the API's and the
// provider's): a check every 60 s from each data centre of the check
// region, 5 s to answer, 2 retries at once before a check fails. Shorter
// intervals depend on the account's Load Balancing subscription.
const (
	MonitorInterval = 60
	MonitorTimeout  = 5
	MonitorRetries  = 2
)

// TunnelOrigin is one region's tunnel as a load balancer's origin.
type TunnelOrigin struct {
	// Region names the origin (the AWS region it runs in).
	Region string
	// Tunnel is the region's managed tunnel, with the same routes.
	Tunnel *ManagedTunnel
	// Pool names the region's pool of a hostname (model.LBPoolName).
	Pool func(hostname string) string
}

// TunnelLoadBalancerArgs are a load balancer per public hostname in front
// of two or more regions' tunnels.
type TunnelLoadBalancerArgs struct {
	AccountID, ZoneID string
	// Origins are the regions, each a pool per hostname.
	Origins []TunnelOrigin
	// Serving is the index of the origin visitors are sent to; the others
	// are checked, and take visitors when a failover switches them.
	Serving int
	// CheckRegion is the Cloudflare region the monitors check from
	// (WNAM ... NEAS).
	CheckRegion string
	// AlertEmail, if set, is sent Cloudflare's notification when any of
	// the pools turns unhealthy or healthy again: without it, a standby
	// whose path broke is found out only by the failover that needs it.
	AlertEmail string
}

// TunnelLoadBalancer is Cloudflare Load Balancing in front of a stage's
// regions' tunnels: for each public hostname, a monitor (an HTTPS GET of
// its health path with its Host header, through the tunnel, as
// Cloudflare's tunnel guide asks), a pool per region whose origin is the
// region's <tunnel-id>.cfargotunnel.com, and a proxied load balancer of
// the hostname, which takes precedence over the tunnel's own DNS record of
// that name. The load balancer sends visitors to the serving region's pool
// only, its fallback too: until a failover promotes the standby's
// database, the standby's CRM reaches the primary's database across the
// regions, on a cache of its own, so that visitors a balancer moved there
// by itself would lose their sessions, and with the primary's region lost
// find no database. `nfx failover` switches the pools through Cloudflare's
// API, which a lost AWS region does not take down, and owns them from then
// on: the balancer's pools are set when it is made (the serving region's)
// and left to the failover after (ignoreChanges), so that the preview
// after a failover shows no change to them, whatever the stack's state
// holds.
type TunnelLoadBalancer struct {
	pulumi.ResourceState
}

// Validate checks the args before anything is registered.
func (a *TunnelLoadBalancerArgs) Validate() error {
	if a == nil {
		return fmt.Errorf("args are required")
	}
	if err := checkIDs(a.AccountID, a.ZoneID); err != nil {
		return err
	}
	switch {
	case len(a.Origins) < 2:
		return fmt.Errorf("a load balancer in front of regions needs two origins, not %d", len(a.Origins))
	case a.Serving < 0 || a.Serving >= len(a.Origins):
		return fmt.Errorf("serving origin %d is not one of the %d", a.Serving, len(a.Origins))
	case a.CheckRegion == "":
		return fmt.Errorf("a check region is required (below an Enterprise plan a pool names its check regions)")
	case a.AlertEmail != "" && (strings.Count(a.AlertEmail, "@") != 1 || strings.ContainsFunc(a.AlertEmail, func(r rune) bool { return r <= ' ' || r == 0x7f })):
		return fmt.Errorf("the alert e-mail is not one address: use one, such as ops@example.com")
	}
	for _, o := range a.Origins {
		if o.Tunnel == nil || o.Pool == nil || o.Region == "" {
			return fmt.Errorf("origin %q needs a region, a tunnel and its pools' names", o.Region)
		}
		if len(o.Tunnel.Routes) != len(a.Origins[0].Tunnel.Routes) {
			return fmt.Errorf("origin %s's tunnel routes %d hostnames, the first's %d: every region serves the same", o.Region, len(o.Tunnel.Routes), len(a.Origins[0].Tunnel.Routes))
		}
	}
	return nil
}

// NewTunnelLoadBalancer registers the monitors, pools and load balancers.
func NewTunnelLoadBalancer(ctx *pulumi.Context, name string, args *TunnelLoadBalancerArgs, opts ...pulumi.ResourceOption) (*TunnelLoadBalancer, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("load balancer %s: %w", name, err)
	}
	lb := &TunnelLoadBalancer{}
	if err := ctx.RegisterComponentResource(TunnelLoadBalancerType, name, lb, opts...); err != nil {
		return nil, fmt.Errorf("load balancer %s: %w", name, err)
	}
	cf, child := pulumi.Version(cloudflareVersion), pulumi.Parent(lb)
	var allPools pulumi.StringArray
	for _, r := range args.Origins[0].Tunnel.Routes {
		host := r.Hostname
		slug := strings.ReplaceAll(host, ".", "-")
		hostHeader := pulumi.Array{pulumi.Map{"header": pulumi.String("Host"), "values": pulumi.StringArray{pulumi.String(host)}}}
		path := r.HealthPath
		if path == "" {
			path = "/"
		}
		monitor := &cfResource{}
		err := ctx.RegisterResource(cfMonitorType, name+"-monitor-"+slug, pulumi.Map{
			"accountId":       pulumi.String(args.AccountID),
			"type":            pulumi.String("https"),
			"method":          pulumi.String("GET"),
			"path":            pulumi.String(path),
			"expectedCodes":   pulumi.String("2xx"),
			"headers":         hostHeader,
			"interval":        pulumi.Int(MonitorInterval),
			"timeout":         pulumi.Int(MonitorTimeout),
			"retries":         pulumi.Int(MonitorRetries),
			"followRedirects": pulumi.Bool(false),
			"description":     pulumi.String("NextFlow " + host + " through each region's tunnel; managed by nfx"),
		}, monitor, cf, child)
		if err != nil {
			return nil, fmt.Errorf("load balancer %s: monitor %s: %w", name, host, err)
		}
		pools := make([]pulumi.IDOutput, len(args.Origins))
		for i, o := range args.Origins {
			pool := &cfResource{}
			err := ctx.RegisterResource(cfPoolType, name+"-pool-"+o.Region+"-"+slug, pulumi.Map{
				"accountId": pulumi.String(args.AccountID),
				"name":      pulumi.String(o.Pool(host)),
				"origins": pulumi.Array{pulumi.Map{
					"name":    pulumi.String(o.Region),
					"address": o.Tunnel.Cname,
					"headers": hostHeader,
				}},
				"monitor":        monitor.ID(),
				"checkRegions":   pulumi.StringArray{pulumi.String(args.CheckRegion)},
				"minimumOrigins": pulumi.Int(1),
				"description":    pulumi.String("NextFlow " + host + " in " + o.Region + "; managed by nfx"),
			}, pool, cf, child)
			if err != nil {
				return nil, fmt.Errorf("load balancer %s: pool %s %s: %w", name, o.Region, host, err)
			}
			pools[i] = pool.ID()
			allPools = append(allPools, pool.ID().ToStringOutput())
		}
		serving := pools[args.Serving].ToStringOutput()
		err = ctx.RegisterResource(cfLBType, name+"-"+slug, pulumi.Map{
			"zoneId":         pulumi.String(args.ZoneID),
			"name":           pulumi.String(host),
			"defaultPoolIds": pulumi.StringArray{serving},
			"fallbackPoolId": serving,
			"proxied":        pulumi.Bool(true),
			"steeringPolicy": pulumi.String("off"),
			"description":    pulumi.String("NextFlow " + host + ": the serving region's pool (nfx failover switches it); managed by nfx"),
		}, &cfResource{}, cf, child, pulumi.IgnoreChanges([]string{"defaultPoolIds", "fallbackPoolId"}))
		if err != nil {
			return nil, fmt.Errorf("load balancer %s: %s: %w", name, host, err)
		}
	}
	if args.AlertEmail != "" {
		err := ctx.RegisterResource(cfAlertType, name+"-health-alert", pulumi.Map{
			"accountId": pulumi.String(args.AccountID),
			"name":      pulumi.String("NextFlow " + ctx.Stack() + " (" + name + "): a region's pool changed health"),
			"description": pulumi.String("A pool of the load balancers in front of NextFlow's regions turned unhealthy " +
				"(the standby's cannot take a failover; the serving one's visitors are failing) or healthy again; managed by nfx"),
			"alertType":         pulumi.String(PoolHealthAlert),
			"enabled":           pulumi.Bool(true),
			"emailIntegrations": pulumi.Array{pulumi.Map{"id": pulumi.String(args.AlertEmail)}},
			"filters": pulumi.Map{
				"poolIds":      allPools,
				"newHealths":   pulumi.StringArray{pulumi.String("Unhealthy"), pulumi.String("Healthy")},
				"eventSources": pulumi.StringArray{pulumi.String("pool")},
			},
		}, &cfResource{}, cf, child)
		if err != nil {
			return nil, fmt.Errorf("load balancer %s: health alert: %w", name, err)
		}
	}
	if err := ctx.RegisterResourceOutputs(lb, pulumi.Map{}); err != nil {
		return nil, fmt.Errorf("load balancer %s: %w", name, err)
	}
	return lb, nil
}
