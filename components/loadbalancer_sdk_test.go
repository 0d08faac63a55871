package components_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-cloudflare/sdk/v5/go/cloudflare"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/nextflow-crm/nfx/components"
)

// The load balancer registers its monitors, pools and balancers by type
// token; the engine must get the requests the SDK's constructors send.
// The tunnels are the component's in both runs; only the load balancing
// resources are compared.
func TestLoadBalancerRegistersAsTheSDK(t *testing.T) {
	acct, zone := strings.Repeat("a", 32), strings.Repeat("b", 32)
	routes := []components.Route{
		{Hostname: "crm.example.com", Service: "http://crm:3000", HealthPath: "/healthz"},
		{Hostname: "admin.example.com", Service: "http://admin:80"},
	}
	for _, serving := range []int{0, 1} {
		origins := func(ctx *pulumi.Context) ([]components.TunnelOrigin, error) {
			var out []components.TunnelOrigin
			for i, region := range []string{"us-east-1", "ap-southeast-1"} {
				tun, err := components.NewManagedTunnel(ctx, "tunnel-"+region, &components.ManagedTunnelArgs{
					AccountID: acct, ZoneID: zone, Routes: routes, Secret: pulumi.String("seed").ToStringOutput(), NoRecords: i > 0,
				})
				if err != nil {
					return nil, err
				}
				out = append(out, components.TunnelOrigin{Region: region, Tunnel: tun, Pool: func(h string) string { return "p_" + region + "_" + h }})
			}
			return out, nil
		}
		record := func(fn pulumi.RunFunc) []*pulumirpc.RegisterResourceRequest {
			r := &registrations{}
			if err := pulumi.RunErr(fn, pulumi.WithMocks("nextflow", "cloud", r)); err != nil {
				t.Fatal(err)
			}
			var lb []*pulumirpc.RegisterResourceRequest
			for _, q := range r.reqs {
				if strings.HasPrefix(q.Type, "cloudflare:index/loadBalancer") || strings.HasPrefix(q.Type, "cloudflare:index/notificationPolicy") {
					lb = append(lb, q)
				}
			}
			slices.SortFunc(lb, func(a, b *pulumirpc.RegisterResourceRequest) int {
				return strings.Compare(a.Type+" "+a.Name, b.Type+" "+b.Name)
			})
			return lb
		}
		got := record(func(ctx *pulumi.Context) error {
			o, err := origins(ctx)
			if err != nil {
				return err
			}
			_, err = components.NewTunnelLoadBalancer(ctx, "lb", &components.TunnelLoadBalancerArgs{
				AccountID: acct, ZoneID: zone, Origins: o, Serving: serving, CheckRegion: "SEAS", AlertEmail: "ops@example.com"})
			return err
		})
		want := record(func(ctx *pulumi.Context) error {
			o, err := origins(ctx)
			if err != nil {
				return err
			}
			return sdkLoadBalancer(ctx, "lb", acct, zone, o, serving, "SEAS", "ops@example.com")
		})
		// Per hostname a monitor, two pools and a balancer; one alert on them all.
		if len(got) != 9 || len(want) != 9 {
			t.Fatalf("serving %d: registered %d and %d load balancing resources, want 9", serving, len(got), len(want))
		}
		for i := range want {
			if !proto.Equal(got[i], want[i]) {
				t.Errorf("serving %d: %s %s differs from the SDK's request:\n got %s\nwant %s", serving, want[i].Type, want[i].Name,
					protojson.Format(got[i]), protojson.Format(want[i]))
			}
		}
	}
}

// sdkLoadBalancer is the load balancer as the provider's SDK builds it.
func sdkLoadBalancer(ctx *pulumi.Context, name, acct, zone string, origins []components.TunnelOrigin, serving int, region, email string) error {
	parent := &struct{ pulumi.ResourceState }{}
	if err := ctx.RegisterComponentResource(components.TunnelLoadBalancerType, name, parent); err != nil {
		return err
	}
	child := pulumi.Parent(parent)
	var all pulumi.StringArray
	for _, r := range origins[0].Tunnel.Routes {
		slug := strings.ReplaceAll(r.Hostname, ".", "-")
		path := r.HealthPath
		if path == "" {
			path = "/"
		}
		m, err := cloudflare.NewLoadBalancerMonitor(ctx, name+"-monitor-"+slug, &cloudflare.LoadBalancerMonitorArgs{
			AccountId: pulumi.String(acct), Type: pulumi.String("https"), Method: pulumi.String("GET"), Path: pulumi.String(path),
			ExpectedCodes: pulumi.String("2xx"),
			Headers: cloudflare.LoadBalancerMonitorHeaderArray{cloudflare.LoadBalancerMonitorHeaderArgs{
				Header: pulumi.String("Host"), Values: pulumi.StringArray{pulumi.String(r.Hostname)}}},
			Interval: pulumi.Int(60), Timeout: pulumi.Int(5), Retries: pulumi.Int(2), FollowRedirects: pulumi.Bool(false),
			Description: pulumi.String("NextFlow " + r.Hostname + " through each region's tunnel; managed by nfx"),
		}, child)
		if err != nil {
			return err
		}
		var ids []pulumi.IDOutput
		for _, o := range origins {
			p, err := cloudflare.NewLoadBalancerPool(ctx, name+"-pool-"+o.Region+"-"+slug, &cloudflare.LoadBalancerPoolArgs{
				AccountId: pulumi.String(acct), Name: pulumi.String(o.Pool(r.Hostname)),
				Origins: cloudflare.LoadBalancerPoolOriginArray{cloudflare.LoadBalancerPoolOriginArgs{
					Name: pulumi.String(o.Region), Address: o.Tunnel.Cname,
					Headers: cloudflare.LoadBalancerPoolOriginHeaderArray{cloudflare.LoadBalancerPoolOriginHeaderArgs{
						Header: pulumi.String("Host"), Values: pulumi.StringArray{pulumi.String(r.Hostname)}}},
				}},
				Monitor: m.ID().ToStringOutput(), CheckRegions: pulumi.StringArray{pulumi.String(region)}, MinimumOrigins: pulumi.Int(1),
				Description: pulumi.String("NextFlow " + r.Hostname + " in " + o.Region + "; managed by nfx"),
			}, child)
			if err != nil {
				return err
			}
			ids = append(ids, p.ID())
			all = append(all, p.ID().ToStringOutput())
		}
		s := ids[serving].ToStringOutput()
		if _, err := cloudflare.NewLoadBalancer(ctx, name+"-"+slug, &cloudflare.LoadBalancerArgs{
			ZoneId: pulumi.String(zone), Name: pulumi.String(r.Hostname), DefaultPoolIds: pulumi.StringArray{s}, FallbackPoolId: s,
			Proxied: pulumi.Bool(true), SteeringPolicy: pulumi.String("off"),
			Description: pulumi.String("NextFlow " + r.Hostname + ": the serving region's pool (nfx failover switches it); managed by nfx"),
		}, child, pulumi.IgnoreChanges([]string{"defaultPoolIds", "fallbackPoolId"})); err != nil {
			return err
		}
	}
	// Cloudflare's Load Balancing guide: alert_type load_balancing_health_alert,
	// filters pool_id, new_health (Unhealthy, Healthy) and event_source.
	_, err := cloudflare.NewNotificationPolicy(ctx, name+"-health-alert", &cloudflare.NotificationPolicyArgs{
		AccountId: pulumi.String(acct), Name: pulumi.String("NextFlow " + ctx.Stack() + " (" + name + "): a region's pool changed health"),
		Description: pulumi.String("A pool of the load balancers in front of NextFlow's regions turned unhealthy " +
			"(the standby's cannot take a failover; the serving one's visitors are failing) or healthy again; managed by nfx"),
		AlertType: pulumi.String("load_balancing_health_alert"), Enabled: pulumi.Bool(true),
		EmailIntegrations: cloudflare.NotificationPolicyEmailIntegrationArray{cloudflare.NotificationPolicyEmailIntegrationArgs{Id: pulumi.String(email)}},
		Filters: cloudflare.NotificationPolicyFiltersArgs{
			PoolIds: all, NewHealths: pulumi.StringArray{pulumi.String("Unhealthy"), pulumi.String("Healthy")},
			EventSources: pulumi.StringArray{pulumi.String("pool")},
		},
	}, child)
	return err
}
