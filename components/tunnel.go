package components

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The Cloudflare provider's resources a managed tunnel is made of, by
// their type tokens in the provider's schema (pulumi-cloudflare v5.49.1,
// the version go.mod pins and the engine loads). They are registered
// here by token, as the provider's generated SDK does, instead of through
// that SDK: it is 7 MB of Go whose compilation the laptop's and the
// server's builds would pay for three resources. TestTunnelRegistersAsTheSDK
// holds the two to the same requests.
const (
	cloudflareVersion = "5.49.1"
	cfTunnelType      = "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared"
	cfTunnelConfig    = "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig"
	cfRecordType      = "cloudflare:index/record:Record"
)

// cfTunnel is a Cloudflare tunnel's outputs nfx reads.
type cfTunnel struct {
	pulumi.CustomResourceState
	Cname       pulumi.StringOutput `pulumi:"cname"`
	TunnelToken pulumi.StringOutput `pulumi:"tunnelToken"`
}

// cfResource is a Cloudflare resource whose outputs nfx does not read.
type cfResource struct{ pulumi.CustomResourceState }

// ManagedTunnelType is the type token of a Cloudflare tunnel nfx manages.
const ManagedTunnelType = "nextflow:index:ManagedTunnel"

// ManagedTunnelArgs are the inputs of a managed Cloudflare tunnel.
type ManagedTunnelArgs struct {
	// AccountID is the Cloudflare account. Required.
	AccountID string
	// ZoneID is the zone of Hostname. Required.
	ZoneID string
	// Routes send each public hostname to its origin, such as
	// crm.example.com to http://crm:3000; the CRM's first. Required.
	Routes []Route
	// Secret seeds the tunnel secret; any length, it is hashed to 32 bytes. Required.
	Secret pulumi.StringOutput
	// NoRecords makes no DNS records: the hostnames reach the tunnel
	// through a load balancer's pool (a standby region's tunnel).
	NoRecords bool
}

// Route is one public hostname and the origin the tunnel sends it to.
type Route struct {
	Hostname string
	Service  string
	// Was names the DNS record an earlier release made for Hostname
	// under another name or parent: the record moves instead of a second
	// one being created beside it, which Cloudflare refuses (one CNAME per
	// name).
	Was *pulumi.Alias
	// HealthPath is the path a load balancer's monitor asks the origin
	// for (its HTTP health check); "/" where empty.
	HealthPath string
}

var cfID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// checkIDs checks a Cloudflare account's and zone's IDs.
func checkIDs(account, zone string) error {
	switch {
	case !cfID.MatchString(account):
		return fmt.Errorf("account ID %q is not a Cloudflare ID", account)
	case !cfID.MatchString(zone):
		return fmt.Errorf("zone ID %q is not a Cloudflare ID", zone)
	}
	return nil
}

// TunnelName is the name a stack's new tunnel gets in its Cloudflare
// account.
func TunnelName(component, stack string) string { return component + "-" + stack }

// Validate checks the args before anything is registered.
func (a *ManagedTunnelArgs) Validate() error {
	if a == nil {
		return fmt.Errorf("args are required")
	}
	if err := checkIDs(a.AccountID, a.ZoneID); err != nil {
		return err
	}
	switch {
	case len(a.Routes) == 0:
		return fmt.Errorf("at least one route is required")
	}
	seen := map[string]bool{}
	for _, r := range a.Routes {
		if r.Hostname == "" || r.Service == "" {
			return fmt.Errorf("a route needs a hostname and a service")
		}
		if seen[r.Hostname] {
			return fmt.Errorf("hostname %s is routed twice", r.Hostname)
		}
		seen[r.Hostname] = true
	}
	return nil
}

// ingressRules routes each hostname to its origin; anything else gets a
// 404 instead of reaching an origin.
func ingressRules(routes []Route) pulumi.Array {
	var out pulumi.Array
	for _, r := range routes {
		out = append(out, pulumi.Map{"hostname": pulumi.String(r.Hostname), "service": pulumi.String(r.Service)})
	}
	return append(out, pulumi.Map{"service": pulumi.String("http_status:404")})
}

// ManagedTunnel is a Cloudflare tunnel with its ingress rules and a proxied
// DNS record for its hostname.
type ManagedTunnel struct {
	pulumi.ResourceState

	// Token is the token cloudflared runs with; a secret.
	Token pulumi.StringOutput `pulumi:"token"`
	// Cname is the tunnel's <id>.cfargotunnel.com name.
	Cname pulumi.StringOutput `pulumi:"cname"`
	// Routes are the routes it was made with.
	Routes []Route
	// ID is the tunnel's ID: its token changes with it (a tunnel whose
	// secret changes is replaced).
	ID pulumi.StringOutput
}

// NewManagedTunnel creates the tunnel, its configuration and its DNS record.
func NewManagedTunnel(ctx *pulumi.Context, name string, args *ManagedTunnelArgs, opts ...pulumi.ResourceOption) (*ManagedTunnel, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("managed tunnel %s: %w", name, err)
	}
	t := &ManagedTunnel{}
	first := args.Routes[0]
	props := pulumi.Map{"hostname": pulumi.String(first.Hostname), "service": pulumi.String(first.Service)}
	if len(args.Routes) > 1 {
		routes := pulumi.StringMap{}
		for _, r := range args.Routes {
			routes[r.Hostname] = pulumi.String(r.Service)
		}
		props["routes"] = routes
	}
	if err := ctx.RegisterComponentResourceV2(ManagedTunnelType, name, props, t, opts...); err != nil {
		return nil, fmt.Errorf("managed tunnel %s: %w", name, err)
	}
	child := pulumi.Parent(t)
	secret := pulumi.ToSecret(args.Secret.ApplyT(func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return base64.StdEncoding.EncodeToString(sum[:])
	})).(pulumi.StringOutput)
	// A tunnel's name is unique in its account, and every stack's tunnel
	// is this component's: the name carries the stack, so that the
	// server's and the cloud's stacks can each have one. A tunnel made
	// before keeps the name it has (a new name would replace it, and its
	// token with it).
	cf := pulumi.Version(cloudflareVersion)
	tunnel := &cfTunnel{}
	err := ctx.RegisterResource(cfTunnelType, name, pulumi.Map{
		"accountId": pulumi.String(args.AccountID),
		"name":      pulumi.String(TunnelName(name, ctx.Stack())),
		"secret":    secret,
		"configSrc": pulumi.String("cloudflare"),
	}, tunnel, cf, child, pulumi.AdditionalSecretOutputs([]string{"tunnelToken", "secret"}), pulumi.IgnoreChanges([]string{"name"}))
	if err != nil {
		return nil, fmt.Errorf("managed tunnel %s: tunnel: %w", name, err)
	}
	err = ctx.RegisterResource(cfTunnelConfig, name+"-ingress", pulumi.Map{
		"accountId": pulumi.String(args.AccountID),
		"tunnelId":  tunnel.ID().ToStringOutput(),
		"config":    pulumi.Map{"ingressRules": ingressRules(args.Routes)},
	}, &cfResource{}, cf, child)
	if err != nil {
		return nil, fmt.Errorf("managed tunnel %s: ingress: %w", name, err)
	}
	for i, r := range args.Routes {
		if args.NoRecords {
			break
		}
		// The first route's record keeps the name it always had: child
		// names are API.
		recName := name + "-dns"
		if i > 0 {
			recName += "-" + strings.ReplaceAll(r.Hostname, ".", "-")
		}
		opts := []pulumi.ResourceOption{cf, child}
		if r.Was != nil {
			opts = append(opts, pulumi.Aliases([]pulumi.Alias{*r.Was}))
		}
		err = ctx.RegisterResource(cfRecordType, recName, pulumi.Map{
			"zoneId":  pulumi.String(args.ZoneID),
			"name":    pulumi.String(r.Hostname),
			"type":    pulumi.String("CNAME"),
			"content": tunnel.Cname,
			"proxied": pulumi.Bool(true),
			"comment": pulumi.String("NextFlow through its Cloudflare tunnel; managed by nfx"),
		}, &cfResource{}, opts...)
		if err != nil {
			return nil, fmt.Errorf("managed tunnel %s: dns %s: %w", name, r.Hostname, err)
		}
	}
	t.Token = pulumi.ToSecret(tunnel.TunnelToken).(pulumi.StringOutput)
	t.Cname = tunnel.Cname
	t.Routes = args.Routes
	t.ID = tunnel.ID().ToStringOutput()
	if err := ctx.RegisterResourceOutputs(t, pulumi.Map{"token": t.Token, "cname": t.Cname}); err != nil {
		return nil, fmt.Errorf("managed tunnel %s: %w", name, err)
	}
	return t, nil
}
