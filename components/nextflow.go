package components

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/model"
)

// NextFlowType is the type token of the whole stack's component.
const NextFlowType = "nextflow:index:NextFlow"

// Realisation is what a stage gets to realise NextFlow: the app, the part
// components to parent its resources to, and the secret values.
type Realisation struct {
	// Name is the NextFlow component's name; children derive theirs from it.
	Name    string
	App     *model.App
	Parent  pulumi.Resource
	Parts   map[string]*Part
	Secrets map[string]pulumi.StringOutput
}

// Realiser realises NextFlow on one stage. It returns the outputs the stage
// adds to the NextFlow component.
type Realiser interface {
	Realise(ctx *pulumi.Context, r Realisation) (pulumi.Map, error)
}

// NextFlowArgs are the inputs of the NextFlow component.
type NextFlowArgs struct {
	// App is the platform-neutral description. Required.
	App *model.App
	// Stage realises the parts on the target. Required.
	Stage Realiser
	// Secrets holds the secret values by secret name (model.SecretSpec.Name).
	Secrets map[string]pulumi.StringOutput
}

// Validate checks the args before anything is registered.
func (a *NextFlowArgs) Validate() error {
	switch {
	case a == nil:
		return fmt.Errorf("args are required")
	case a.App == nil || a.App.Config == nil:
		return fmt.Errorf("app is required")
	case a.Stage == nil:
		return fmt.Errorf("no realiser for stage %s", a.App.Config.Stage)
	}
	for _, s := range a.App.Services {
		if _, ok := PartTypes[s.Part]; !ok {
			return fmt.Errorf("service %s: unknown part %q", s.Name, s.Part)
		}
	}
	return nil
}

// NextFlow is the whole NextFlow CRM-AI stack on one stage.
type NextFlow struct {
	pulumi.ResourceState

	Stage pulumi.StringOutput `pulumi:"stage"`
	Parts map[string]*Part
}

// NewNextFlow registers the stack, its parts and the stage's realisation.
func NewNextFlow(ctx *pulumi.Context, name string, args *NextFlowArgs, opts ...pulumi.ResourceOption) (*NextFlow, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("nextflow %s: %w", name, err)
	}
	cfg := args.App.Config
	props := pulumi.Map{
		"stage":    pulumi.String(string(cfg.Stage)),
		"hostname": pulumi.String(cfg.Tunnel.Hostname),
		"tunnel":   pulumi.String(cfg.Tunnel.Mode),
		"model":    pulumi.String(cfg.AI.Model),
		"gpu":      pulumi.Bool(cfg.UseGPU),
	}
	nf := &NextFlow{Parts: map[string]*Part{}}
	if err := ctx.RegisterComponentResourceV2(NextFlowType, name, props, nf, opts...); err != nil {
		return nil, fmt.Errorf("nextflow %s: %w", name, err)
	}
	for _, s := range args.App.Services {
		p, err := NewPart(ctx, name+"-"+s.Name, &PartArgs{Service: s, Secrets: args.Secrets}, pulumi.Parent(nf))
		if err != nil {
			return nil, fmt.Errorf("nextflow %s: %w", name, err)
		}
		nf.Parts[s.Name] = p
	}
	outs, err := args.Stage.Realise(ctx, Realisation{Name: name, App: args.App, Parent: nf, Parts: nf.Parts, Secrets: args.Secrets})
	if err != nil {
		return nil, fmt.Errorf("nextflow %s: stage %s: %w", name, cfg.Stage, err)
	}
	nf.Stage = pulumi.String(string(cfg.Stage)).ToStringOutput()
	if outs == nil {
		outs = pulumi.Map{}
	}
	outs["stage"] = nf.Stage
	if err := ctx.RegisterResourceOutputs(nf, outs); err != nil {
		return nil, fmt.Errorf("nextflow %s: %w", name, err)
	}
	return nf, nil
}
