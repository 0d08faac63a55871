package laptop

import (
	"fmt"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/components"
	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
)

// ComposeProjectType is the type token of the laptop's Compose project.
const ComposeProjectType = "nextflow:laptop:ComposeProject"

// Output says where the stage's files go.
type Output struct {
	// Dir receives the files (compose file and secret files) when the
	// program runs an update; previews write nothing. Empty writes nothing.
	Dir string
	// Collect, if set, receives the non-secret files as soon as they are
	// rendered; offline commands use it.
	Collect func(files.Set)
}

// Realiser realises NextFlow as a Docker Compose project.
type Realiser struct {
	Output Output
}

// Realise implements components.Realiser.
func (r Realiser) Realise(ctx *pulumi.Context, in components.Realisation) (pulumi.Map, error) {
	secrets := map[string]pulumi.StringOutput{}
	for k, v := range in.Secrets {
		secrets[k] = v
	}
	cfg := in.App.Config
	if cfg.Tunnel.Mode == model.TunnelManaged {
		seed, ok := in.Secrets[model.KeyTunnelSecret]
		if !ok {
			return nil, fmt.Errorf("tunnel: %s is required when tunnel.mode is managed", model.FullKey(model.KeyTunnelSecret))
		}
		t, err := components.NewManagedTunnel(ctx, in.Name+"-cloudflare", &components.ManagedTunnelArgs{
			AccountID: cfg.Tunnel.AccountID,
			ZoneID:    cfg.Tunnel.ZoneID,
			Hostname:  cfg.Tunnel.Hostname,
			Service:   in.App.TunnelIngress(),
			Secret:    seed,
		}, pulumi.Parent(in.Parts[model.PartTunnel]))
		if err != nil {
			return nil, err
		}
		secrets[model.SecretTunnelToken] = t.Token
	}
	cp, err := NewComposeProject(ctx, in.Name+"-compose", &ComposeProjectArgs{App: in.App, Secrets: secrets, Output: r.Output}, pulumi.Parent(in.Parent))
	if err != nil {
		return nil, err
	}
	return pulumi.Map{"composeDigest": cp.Digest}, nil
}

// ComposeProjectArgs are the inputs of the Compose project.
type ComposeProjectArgs struct {
	// App is the neutral description to render. Required.
	App *model.App
	// Secrets holds a value for every secret the app declares, by secret
	// name, when files are to be written.
	Secrets map[string]pulumi.StringOutput
	// Output says where files go.
	Output Output
}

// Validate checks the args before anything is registered.
func (a *ComposeProjectArgs) Validate() error {
	if a == nil || a.App == nil {
		return fmt.Errorf("app is required")
	}
	if a.Output.Dir != "" {
		for _, s := range a.App.Secrets {
			if _, ok := a.Secrets[s.Name]; !ok {
				return fmt.Errorf("secret %s (%s) has no value", s.Name, model.FullKey(s.Key))
			}
		}
	}
	return nil
}

// ComposeProject is the rendered Compose project of the laptop stage.
type ComposeProject struct {
	pulumi.ResourceState

	// Digest is a SHA-256 of the non-secret rendered files.
	Digest pulumi.StringOutput `pulumi:"digest"`
}

// NewComposeProject renders the compose file and, on update, writes it with
// the secret files next to it.
func NewComposeProject(ctx *pulumi.Context, name string, args *ComposeProjectArgs, opts ...pulumi.ResourceOption) (*ComposeProject, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("compose project %s: %w", name, err)
	}
	compose, err := Render(args.App)
	if err != nil {
		return nil, fmt.Errorf("compose project %s: %w", name, err)
	}
	public := files.Set{{Path: ComposeFile, Data: compose}}
	digest := public.Digest()
	var secretNames []string
	for _, s := range args.App.Secrets {
		secretNames = append(secretNames, s.Name)
	}
	sort.Strings(secretNames)

	cp := &ComposeProject{}
	props := pulumi.Map{
		"composeFile": pulumi.String(string(compose)),
		"secretFiles": pulumi.ToStringArray(secretNames),
	}
	if err := ctx.RegisterComponentResourceV2(ComposeProjectType, name, props, cp, opts...); err != nil {
		return nil, fmt.Errorf("compose project %s: %w", name, err)
	}
	if args.Output.Collect != nil {
		args.Output.Collect(public)
	}
	cp.Digest = pulumi.String(digest).ToStringOutput()
	outputs := pulumi.Map{"digest": cp.Digest}
	if args.Output.Dir != "" && !ctx.DryRun() {
		values := make([]any, len(secretNames))
		for i, n := range secretNames {
			values[i] = args.Secrets[n]
		}
		// Written once every secret is known, in one atomic swap of the directory.
		written := pulumi.All(values...).ApplyT(func(vals []any) (string, error) {
			set := append(files.Set{}, public...)
			for i, n := range secretNames {
				set = append(set, files.File{Path: SecretFile(n), Data: []byte(vals[i].(string)), Secret: true})
			}
			if err := files.WriteDir(args.Output.Dir, set); err != nil {
				return "", fmt.Errorf("compose project %s: write %s: %w", name, args.Output.Dir, err)
			}
			return digest, nil
		})
		outputs["written"] = written
	}
	if err := ctx.RegisterResourceOutputs(cp, outputs); err != nil {
		return nil, fmt.Errorf("compose project %s: %w", name, err)
	}
	return cp, nil
}
