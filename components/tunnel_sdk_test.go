package components_test

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-cloudflare/sdk/v5/go/cloudflare"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/nextflow-crm/nfx/components"
)

// registrations keeps every custom resource's register request.
type registrations struct {
	reqs []*pulumirpc.RegisterResourceRequest
}

func (r *registrations) NewResource(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	if a.Custom && a.RegisterRPC != nil {
		req := proto.Clone(a.RegisterRPC).(*pulumirpc.RegisterResourceRequest)
		// A set to the engine: the SDK sends its own list and the caller's.
		slices.Sort(req.AdditionalSecretOutputs)
		req.AdditionalSecretOutputs = slices.Compact(req.AdditionalSecretOutputs)
		// Where in Go the call was made is not the request's.
		req.SourcePosition, req.StackTrace = nil, nil
		r.reqs = append(r.reqs, req)
	}
	out := a.Inputs.Copy()
	out["cname"] = resource.NewStringProperty("0f0e.cfargotunnel.com")
	out["tunnelToken"] = resource.NewStringProperty("token")
	return a.Name + "-id", out, nil
}

func (r *registrations) Call(pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return resource.PropertyMap{}, nil
}

// The managed tunnel registers its three Cloudflare resources by type
// token, without the provider's SDK; the engine must get the very
// requests the SDK's constructors send (type, name, parent, inputs with
// their secrets, provider version, options), or a stack made by an earlier
// nfx would see a change, a replacement or a provider it lacks.
func TestTunnelRegistersAsTheSDK(t *testing.T) {
	args := components.ManagedTunnelArgs{
		AccountID: strings.Repeat("a", 32), ZoneID: strings.Repeat("b", 32),
		Routes: []components.Route{
			{Hostname: "crm.example.com", Service: "http://crm:3000"},
			{Hostname: "admin.example.com", Service: "http://admin:80", Was: &pulumi.Alias{Name: pulumi.String("old-dns")}},
		},
	}
	record := func(fn pulumi.RunFunc) []*pulumirpc.RegisterResourceRequest {
		r := &registrations{}
		if err := pulumi.RunErr(fn, pulumi.WithMocks("nextflow", "server", r)); err != nil {
			t.Fatal(err)
		}
		// Registered from goroutines: in no set order.
		slices.SortFunc(r.reqs, func(a, b *pulumirpc.RegisterResourceRequest) int {
			return strings.Compare(a.Type+" "+a.Name, b.Type+" "+b.Name)
		})
		return r.reqs
	}
	got := record(func(ctx *pulumi.Context) error {
		a := args
		a.Secret = pulumi.String("seed").ToStringOutput()
		_, err := components.NewManagedTunnel(ctx, "tunnel", &a)
		return err
	})
	want := record(func(ctx *pulumi.Context) error {
		return sdkTunnel(ctx, "tunnel", args, pulumi.String("seed").ToStringOutput())
	})
	if len(got) != 4 || len(want) != 4 {
		t.Fatalf("registered %d and %d Cloudflare resources, want 4", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("%s %s differs from the SDK's request:\n got %s\nwant %s", want[i].Type, want[i].Name,
				protojson.Format(got[i]), protojson.Format(want[i]))
		}
	}
	if v := got[0].GetVersion(); v == "" {
		t.Error("no provider version: the engine would load whichever Cloudflare plugin it has")
	}
}

// sdkTunnel is the managed tunnel as the provider's generated SDK builds
// it: the reference the test holds the token registrations to.
func sdkTunnel(ctx *pulumi.Context, name string, args components.ManagedTunnelArgs, seed pulumi.StringOutput) error {
	parent := &struct{ pulumi.ResourceState }{}
	if err := ctx.RegisterComponentResource(components.ManagedTunnelType, name, parent); err != nil {
		return err
	}
	child := pulumi.Parent(parent)
	secret := pulumi.ToSecret(seed.ApplyT(func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return base64.StdEncoding.EncodeToString(sum[:])
	})).(pulumi.StringOutput)
	tunnel, err := cloudflare.NewZeroTrustTunnelCloudflared(ctx, name, &cloudflare.ZeroTrustTunnelCloudflaredArgs{
		AccountId: pulumi.String(args.AccountID),
		Name:      pulumi.String(components.TunnelName(name, ctx.Stack())),
		Secret:    secret,
		ConfigSrc: pulumi.String("cloudflare"),
	}, child, pulumi.AdditionalSecretOutputs([]string{"tunnelToken", "secret"}), pulumi.IgnoreChanges([]string{"name"}))
	if err != nil {
		return err
	}
	var rules cloudflare.ZeroTrustTunnelCloudflaredConfigConfigIngressRuleArray
	for _, r := range args.Routes {
		rules = append(rules, cloudflare.ZeroTrustTunnelCloudflaredConfigConfigIngressRuleArgs{
			Hostname: pulumi.String(r.Hostname), Service: pulumi.String(r.Service),
		})
	}
	rules = append(rules, cloudflare.ZeroTrustTunnelCloudflaredConfigConfigIngressRuleArgs{Service: pulumi.String("http_status:404")})
	if _, err := cloudflare.NewZeroTrustTunnelCloudflaredConfig(ctx, name+"-ingress", &cloudflare.ZeroTrustTunnelCloudflaredConfigArgs{
		AccountId: pulumi.String(args.AccountID),
		TunnelId:  tunnel.ID().ToStringOutput(),
		Config:    cloudflare.ZeroTrustTunnelCloudflaredConfigConfigArgs{IngressRules: rules},
	}, child); err != nil {
		return err
	}
	for i, r := range args.Routes {
		recName := name + "-dns"
		if i > 0 {
			recName += "-" + strings.ReplaceAll(r.Hostname, ".", "-")
		}
		opts := []pulumi.ResourceOption{child}
		if r.Was != nil {
			opts = append(opts, pulumi.Aliases([]pulumi.Alias{*r.Was}))
		}
		if _, err := cloudflare.NewRecord(ctx, recName, &cloudflare.RecordArgs{
			ZoneId:  pulumi.String(args.ZoneID),
			Name:    pulumi.String(r.Hostname),
			Type:    pulumi.String("CNAME"),
			Content: tunnel.Cname,
			Proxied: pulumi.Bool(true),
			Comment: pulumi.String("NextFlow through its Cloudflare tunnel; managed by nfx"),
		}, opts...); err != nil {
			return err
		}
	}
	return nil
}
