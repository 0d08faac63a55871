package components

import (
	"fmt"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
)

// Output says where a stage's rendered files go.
type Output struct {
	// Dir receives the files (rendered and secret) when the program runs an
	// update; previews write nothing. Empty writes nothing.
	Dir string
	// Collect, if set, receives the non-secret files as soon as they are
	// rendered, and the paths the stage's secret files go to; offline
	// commands use it.
	Collect func(public files.Set, secretPaths []string)
	// Stage names the stage, for the output's manifest.
	Stage string
}

// StageFilesArgs are the inputs of a stage's rendered files.
type StageFilesArgs struct {
	// Type is the component's type token, such as nextflow:laptop:ComposeProject. Required.
	Type string
	// Public are the rendered files, which hold no secret. Required.
	Public files.Set
	// Secrets holds the value of every secret file, by secret name; they are
	// written to SecretPath(name). Required when Output.Dir is set.
	Secrets map[string]pulumi.StringOutput
	// SecretNames lists the secret files the stage needs.
	SecretNames []string
	// SecretPath places a secret's file, relative to the output directory.
	SecretPath func(name string) string
	Output     Output
}

// Validate checks the args before anything is registered.
func (a *StageFilesArgs) Validate() error {
	switch {
	case a == nil:
		return fmt.Errorf("args are required")
	case a.Type == "":
		return fmt.Errorf("type token is required")
	case len(a.Public) == 0:
		return fmt.Errorf("no rendered files")
	case len(a.SecretNames) > 0 && a.SecretPath == nil:
		return fmt.Errorf("secret files need a SecretPath")
	}
	if a.Output.Dir != "" {
		for _, n := range a.SecretNames {
			if _, ok := a.Secrets[n]; !ok {
				return fmt.Errorf("secret %s has no value", n)
			}
		}
	}
	return nil
}

// StageFiles is the set of files a stage renders: its inputs are the files'
// contents, so a preview shows a changed file as an update; on update they
// are written, with the secret files, in one atomic swap of the directory.
type StageFiles struct {
	pulumi.ResourceState

	// Digest is a SHA-256 of the non-secret files.
	Digest pulumi.StringOutput `pulumi:"digest"`
}

// NewStageFiles registers the files and, on update, writes them.
func NewStageFiles(ctx *pulumi.Context, name string, args *StageFilesArgs, opts ...pulumi.ResourceOption) (*StageFiles, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("stage files %s: %w", name, err)
	}
	public := args.Public.Sorted()
	digest := public.Digest()
	secretNames := append([]string(nil), args.SecretNames...)
	sort.Strings(secretNames)
	contents := pulumi.StringMap{}
	for _, f := range public {
		contents[f.Path] = pulumi.String(string(f.Data))
	}
	sf := &StageFiles{}
	props := pulumi.Map{"files": contents, "secretFiles": pulumi.ToStringArray(secretNames)}
	if args.Output.Dir != "" {
		// An update writes the files, so its state records them in
		// place; a preview checks the disk, so that a deleted or edited
		// file (a secret file a user removed) shows as a change.
		props["inSync"] = pulumi.Bool(true)
		if ctx.DryRun() {
			// Whether the disk matches is no secret, though the files hold some.
			props["inSync"] = pulumi.Unsecret(withSecrets(public, secretNames, args).ApplyT(func(set any) bool {
				return files.InSync(args.Output.Dir, set.(files.Set))
			})).(pulumi.BoolOutput)
		}
	}
	if err := ctx.RegisterComponentResourceV2(args.Type, name, props, sf, opts...); err != nil {
		return nil, fmt.Errorf("stage files %s: %w", name, err)
	}
	var secretPaths []string
	for _, n := range secretNames {
		secretPaths = append(secretPaths, args.SecretPath(n))
	}
	if args.Output.Collect != nil {
		args.Output.Collect(public, secretPaths)
	}
	sf.Digest = pulumi.String(digest).ToStringOutput()
	outputs := pulumi.Map{"digest": sf.Digest}
	if args.Output.Dir != "" && !ctx.DryRun() {
		outputs["written"] = withSecrets(public, secretNames, args).ApplyT(func(set any) (string, error) {
			if err := files.WriteOutput(args.Output.Dir, set.(files.Set), files.Options{Stage: args.Output.Stage}); err != nil {
				return "", fmt.Errorf("stage files %s: write %s: %w", name, args.Output.Dir, err)
			}
			return digest, nil
		})
	}
	if err := ctx.RegisterResourceOutputs(sf, outputs); err != nil {
		return nil, fmt.Errorf("stage files %s: %w", name, err)
	}
	return sf, nil
}

// withSecrets is the whole set of files, the secret ones with their values;
// a secret output.
func withSecrets(public files.Set, secretNames []string, args *StageFilesArgs) pulumi.Output {
	values := make([]any, len(secretNames))
	for i, n := range secretNames {
		values[i] = args.Secrets[n]
	}
	return pulumi.All(values...).ApplyT(func(vals []any) any {
		set := append(files.Set{}, public...)
		for i, n := range secretNames {
			set = append(set, files.File{Path: args.SecretPath(n), Data: []byte(vals[i].(string)), Secret: true})
		}
		return set
	})
}

// TunnelSecrets returns the realisation's secrets with the tunnel token a
// stage's cloudflared needs: in managed mode from a ManagedTunnel it
// creates (routing each public hostname to its origin), otherwise as
// configured.
func TunnelSecrets(ctx *pulumi.Context, in Realisation, routes []Route) (map[string]pulumi.StringOutput, error) {
	secrets, _, err := TunnelSecretsOf(ctx, in, routes)
	return secrets, err
}

// TunnelSecretsOf is TunnelSecrets with the tunnel it made (nil where
// tunnel.mode is not managed).
func TunnelSecretsOf(ctx *pulumi.Context, in Realisation, routes []Route) (map[string]pulumi.StringOutput, *ManagedTunnel, error) {
	secrets := map[string]pulumi.StringOutput{}
	for k, v := range in.Secrets {
		secrets[k] = v
	}
	cfg := in.App.Config
	if cfg.Tunnel.Mode != model.TunnelManaged {
		return secrets, nil, nil
	}
	seed, ok := in.Secrets[model.KeyTunnelSecret]
	if !ok {
		return nil, nil, fmt.Errorf("tunnel: %s is required when tunnel.mode is managed", model.FullKey(model.KeyTunnelSecret))
	}
	t, err := NewManagedTunnel(ctx, in.Name+"-cloudflare", &ManagedTunnelArgs{
		AccountID: cfg.Tunnel.AccountID,
		ZoneID:    cfg.Tunnel.ZoneID,
		Routes:    routes,
		Secret:    seed,
	}, pulumi.Parent(in.Parts[model.PartTunnel]))
	if err != nil {
		return nil, nil, err
	}
	secrets[model.SecretTunnelToken] = t.Token
	return secrets, t, nil
}
