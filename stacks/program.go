package stacks

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/nextflow-crm/nfx/components"
	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/plan"
	"github.com/nextflow-crm/nfx/internal/proc"
	"github.com/nextflow-crm/nfx/stacks/laptop"
	"github.com/nextflow-crm/nfx/stacks/server"
)

// Options tune one evaluation of the program.
type Options struct {
	// Offline marks a run under mocks: secret values are not required, and
	// nothing is written except through Collect.
	Offline bool
	// OutDir receives the stage's files on update; empty means
	// "out/<stage>" in the project (the directory of Pulumi.yaml, where
	// `pulumi up` runs the program from its main: directory). Ignored
	// offline.
	OutDir string
	// Collect receives the non-secret rendered files and the paths of the
	// secret ones (offline render).
	Collect func(public files.Set, secretPaths []string)
	// Diagnostics, if set, receives the configuration's warnings.
	Diagnostics func(model.Diagnostics)
}

// StageDef is one stage's contract: its realiser (which holds a
// provisioner per part kind) and the files it renders from the whole plan.
// The stage's facts (hosting, provider, topology, targets) are its
// model.Profile.
type StageDef struct {
	// New returns the stage's realiser for one evaluation.
	New func(Options, model.Stage) components.Realiser
	// PlanFiles renders the files that come from the stage's whole plan,
	// after the program ran (the cloud's Kubernetes manifests and
	// resources.json); nil when there are none.
	PlanFiles func(*plan.Plan) (files.Set, error)
}

// Stages is the registry of stages. A stage without an entry is an error,
// never a silent no-op. The laptop and the server are always here; the
// cloud joins when a binary imports stacks/cloudstage (nfx-cloud and
// nextflow-cloud), so that the laptop's and the server's commands never
// compile or link the AWS, Kubernetes and Cloudflare SDKs.
var Stages = map[model.Stage]StageDef{
	model.Laptop: {New: func(o Options, st model.Stage) components.Realiser {
		return laptop.Realiser{Output: o.output(st)}
	}},
	model.Server: {New: func(o Options, st model.Stage) components.Realiser {
		return server.Realiser{Output: o.output(st)}
	}},
}

// Register adds a stage to the registry; it is called from the init of
// the package that realises the stage.
func Register(st model.Stage, def StageDef) {
	if _, dup := Stages[st]; dup {
		panic("stacks: stage " + string(st) + " registered twice")
	}
	Stages[st] = def
}

// NotBuiltInError is the error of a stage nfx knows but this binary does
// not realise (the cloud, in the lean nfx): the command runs in the
// binary that does.
type NotBuiltInError struct{ Stage model.Stage }

func (e *NotBuiltInError) Error() string {
	return fmt.Sprintf("stage %s: this binary was built without the %s stage's program (its SDKs make a binary of their own); run the command with %s, built by `make %s` (go build -o bin/%s ./cmd/%s)",
		e.Stage, e.Stage, CloudCLI, CloudCLI, CloudCLI, CloudCLI)
}

// The binaries that realise the cloud stage: the CLI and the Pulumi program.
const (
	CloudCLI     = proc.CloudCLI
	CloudProgram = proc.CloudProgram
)

// Lookup returns a stage's definition, or an error naming the stages nfx has.
func Lookup(st model.Stage) (StageDef, error) {
	def, ok := Stages[st]
	if !ok {
		if st.Index() >= 0 {
			return StageDef{}, &NotBuiltInError{Stage: st}
		}
		return StageDef{}, fmt.Errorf("stage %s: nfx has no provisioners for this stage; stages available: %s", st, available())
	}
	return def, nil
}

// Describe says, part by part in the app's order, how the stage runs each
// part, from the stage's provisioners.
func Describe(cfg *model.Config) ([]model.PartText, error) {
	def, err := Lookup(cfg.Stage)
	if err != nil {
		return nil, err
	}
	r := def.New(Options{Offline: true}, cfg.Stage)
	app := model.Build(cfg)
	out := make([]model.PartText, 0, len(app.Parts))
	for i := range app.Parts {
		p := &app.Parts[i]
		pr, err := components.ProvisionerFor(r, cfg.Stage, p)
		if err != nil {
			return nil, err
		}
		out = append(out, model.PartText{Name: p.Name, Kind: p.Kind, Text: pr.Describe(app, p)})
	}
	return out, nil
}

func (o Options) output(st model.Stage) components.Output {
	return components.Output{Dir: o.outDir(st), Collect: o.Collect, Stage: string(st)}
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

// ConfigError is model.ConfigError, by the name the program's callers know.
type ConfigError = model.ConfigError

// ReadConfig reads the `nextflow:` keys from the program's context.
func ReadConfig(ctx *pulumi.Context) model.Raw {
	raw := model.Raw{Values: map[string]string{}, Secret: map[string]bool{}, Source: "stack " + ctx.Stack()}
	for _, k := range model.Keys {
		full := model.FullKey(k.Name)
		if v, ok := ctx.GetConfig(full); ok {
			raw.Values[k.Name] = v
			// An object holding a secure value (nextflow:secrets) is secret as a whole.
			raw.Secret[k.Name] = ctx.IsConfigSecret(full)
		}
	}
	return raw
}

// Load reads and validates the configuration of the running stack.
func Load(ctx *pulumi.Context, opts Options) (*model.Config, model.Diagnostics, error) {
	raw := ReadConfig(ctx)
	cfg, ds := model.Load(model.StageOfStack(ctx.Stack(), raw), raw, model.LoadOptions{RequireSecrets: !opts.Offline, Stack: ctx.Stack()})
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
		def, err := Lookup(cfg.Stage)
		if err != nil {
			return err
		}
		if !opts.Offline && opts.OutDir == "" {
			root := ctx.RootDirectory()
			if root == "" {
				root = "."
			}
			opts.OutDir = filepath.Join(root, "out", ctx.Stack())
		}
		app := model.Build(cfg)
		secrets := map[string]pulumi.StringOutput{}
		secret := func(name, key string) {
			switch {
			case cfg.SecretsSet[key] && opts.Offline:
				// Offline, a set secret is a placeholder, never the value.
				secrets[name] = config.GetSecret(ctx, model.FullKey(key))
			case cfg.SecretsSet[key]:
				// Checked where the value is known; the error names the key only.
				secrets[name] = pulumi.ToSecret(config.GetSecret(ctx, model.FullKey(key)).ApplyT(func(v string) (string, error) {
					return v, model.CheckSecretValue(cfg.Stage, key, v)
				})).(pulumi.StringOutput)
			case opts.Offline:
				// Offline, an unset secret stands as an empty secret: it
				// only ever shows as "[secret]", and offline runs write no
				// secret file. (The SDK's mocks cannot carry an unknown
				// secret.)
				secrets[name] = pulumi.ToSecret(pulumi.String("")).(pulumi.StringOutput)
			}
		}
		var appSecrets pulumi.StringOutput
		for _, s := range app.Secrets {
			if s.Field == "" {
				secret(s.Name, s.Key)
				continue
			}
			if opts.Offline {
				secrets[s.Name] = pulumi.ToSecret(pulumi.String("")).(pulumi.StringOutput)
				continue
			}
			if appSecrets == (pulumi.StringOutput{}) {
				appSecrets = config.GetSecret(ctx, model.FullKey(model.KeyAppSecrets))
			}
			secrets[s.Name] = appSecretField(appSecrets, s.Field)
		}
		if cfg.Tunnel.Mode == model.TunnelManaged {
			secret(model.KeyTunnelSecret, model.KeyTunnelSecret)
		}
		if model.NeedsReplication(cfg.Stage) {
			secret(model.KeyReplicationPassword, model.KeyReplicationPassword)
		}
		nf, err := components.NewNextFlow(ctx, "nextflow", &components.NextFlowArgs{
			App: app, Stage: def.New(opts, cfg.Stage), Secrets: secrets,
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

// appSecretField reads one field of nextflow:secrets; the value stays a
// Pulumi secret and is named in no error.
func appSecretField(obj pulumi.StringOutput, field string) pulumi.StringOutput {
	return pulumi.ToSecret(obj.ApplyT(func(js string) (string, error) {
		var m map[string]string
		if err := json.Unmarshal([]byte(js), &m); err != nil {
			return "", fmt.Errorf("%s: not an object of strings", model.FullKey(model.KeyAppSecrets))
		}
		v := m[field]
		return v, model.CheckAppSecretValue(field, v)
	})).(pulumi.StringOutput)
}

func available() string {
	var names []string
	for st := range Stages {
		names = append(names, string(st))
	}
	sort.Strings(names)
	return fmt.Sprint(names)
}
