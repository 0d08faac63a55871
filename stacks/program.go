package stacks

import (
	"fmt"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/nextflow-crm/nfx/components"
	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/plan"
	"github.com/nextflow-crm/nfx/stacks/cloud"
	"github.com/nextflow-crm/nfx/stacks/laptop"
	"github.com/nextflow-crm/nfx/stacks/server"
)

// Options tune one evaluation of the program.
type Options struct {
	// Offline marks a run under mocks: secret values are not required, and
	// nothing is written except through Collect.
	Offline bool
	// OutDir receives the stage's files on update; empty means "out/<stage>"
	// under the program's working directory. Ignored offline.
	OutDir string
	// Collect receives the non-secret rendered files (offline render).
	Collect func(files.Set)
	// Diagnostics, if set, receives the configuration's warnings.
	Diagnostics func(model.Diagnostics)
}

// Stages is the registry of stage realisers. A stage without an entry is
// an error, never a silent no-op.
var Stages = map[model.Stage]func(Options, model.Stage) components.Realiser{
	model.Laptop: func(o Options, st model.Stage) components.Realiser {
		return laptop.Realiser{Output: o.output(st)}
	},
	model.Server: func(o Options, st model.Stage) components.Realiser {
		return server.Realiser{Output: o.output(st)}
	},
	model.Cloud: func(o Options, _ model.Stage) components.Realiser { return cloud.Realiser{Offline: o.Offline} },
}

// Describe says how each stage runs each part, for `nfx diff` and reports.
var Describe = map[model.Stage]func(*model.Config) map[string]string{
	model.Laptop: laptop.Describe,
	model.Server: server.Describe,
	model.Cloud:  cloud.Describe,
}

// PlanFiles renders the files of a stage that come from its whole plan,
// after the program ran: the cloud's Kubernetes manifests and resources.json.
var PlanFiles = map[model.Stage]func(*plan.Plan) (files.Set, error){
	model.Cloud: cloud.Manifests,
}

func (o Options) output(st model.Stage) components.Output {
	return components.Output{Dir: o.outDir(st), Collect: o.Collect}
}

func (o Options) outDir(st model.Stage) string {
	if o.Offline {
		return ""
	}
	if o.OutDir != "" {
		return o.OutDir
	}
	return "out/" + string(st)
}

// ConfigError is returned when the stack configuration is invalid; it holds
// every problem found.
type ConfigError struct{ Diagnostics model.Diagnostics }

func (e *ConfigError) Error() string {
	return "invalid configuration:\n" + e.Diagnostics.Errors().Error()
}

// ReadConfig reads the `nextflow:` keys from the program's context.
func ReadConfig(ctx *pulumi.Context) model.Raw {
	raw := model.Raw{Values: map[string]string{}, Secret: map[string]bool{}, Source: "stack " + ctx.Stack()}
	for _, k := range model.Keys {
		full := model.FullKey(k.Name)
		if v, ok := ctx.GetConfig(full); ok {
			raw.Values[k.Name] = v
			raw.Secret[k.Name] = ctx.IsConfigSecret(full)
		}
	}
	return raw
}

// Load reads and validates the configuration of the running stack.
func Load(ctx *pulumi.Context, opts Options) (*model.Config, model.Diagnostics, error) {
	cfg, ds := model.Load(ctx.Stack(), ReadConfig(ctx), model.LoadOptions{RequireSecrets: !opts.Offline})
	if ds.HasErrors() {
		return nil, ds, &ConfigError{Diagnostics: ds}
	}
	return cfg, ds, nil
}

// Program returns the NextFlow program.
func Program(opts Options) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		cfg, ds, err := Load(ctx, opts)
		if err != nil {
			return err
		}
		if opts.Diagnostics != nil && len(ds) > 0 {
			opts.Diagnostics(ds)
		}
		for _, w := range ds.Warnings() {
			_ = ctx.Log.Warn(w.String(), nil)
		}
		newRealiser, ok := Stages[cfg.Stage]
		if !ok {
			return fmt.Errorf("stage %s: nfx has no provisioner for this stage yet; stages available: %s", cfg.Stage, available())
		}
		app := model.Build(cfg)
		secrets := map[string]pulumi.StringOutput{}
		secret := func(name, key string) {
			switch {
			case cfg.SecretsSet[key]:
				secrets[name] = config.GetSecret(ctx, model.FullKey(key))
			case opts.Offline:
				// Offline, an unset secret stands as an empty secret: it
				// only ever shows as "[secret]", and offline runs write no
				// secret file. (The SDK's mocks cannot carry an unknown
				// secret.)
				secrets[name] = pulumi.ToSecret(pulumi.String("")).(pulumi.StringOutput)
			}
		}
		for _, s := range app.Secrets {
			secret(s.Name, s.Key)
		}
		if cfg.Tunnel.Mode == model.TunnelManaged {
			secret(model.KeyTunnelSecret, model.KeyTunnelSecret)
		}
		if model.Profiles[cfg.Stage].Topology.PostgresInstances > 1 {
			secret(model.KeyReplicationPassword, model.KeyReplicationPassword)
		}
		nf, err := components.NewNextFlow(ctx, "nextflow", &components.NextFlowArgs{
			App: app, Stage: newRealiser(opts, cfg.Stage), Secrets: secrets,
		})
		if err != nil {
			return err
		}
		ctx.Export("stage", nf.Stage)
		ctx.Export("model", pulumi.String(cfg.AI.Model))
		ctx.Export("gpu", pulumi.Bool(cfg.UseGPU))
		return nil
	}
}

func available() string {
	var names []string
	for st := range Stages {
		names = append(names, string(st))
	}
	sort.Strings(names)
	return fmt.Sprint(names)
}
