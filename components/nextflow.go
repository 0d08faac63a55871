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
	// Monitoring is the monitoring's component, nil where the stage runs none.
	Monitoring *Monitoring
}

// Provisioner realises the parts of one kind on one stage. Beyond what it
// creates, it says how it runs a part (for diffs and reports) and what it
// runs (recorded as the part component's inputs).
type Provisioner interface {
	// Describe says in a phrase how the stage runs the part.
	Describe(app *model.App, p *model.Part) string
	// Inputs are what the stage runs for the part, as plain values.
	Inputs(app *model.App, p *model.Part) map[string]any
}

// Realiser realises NextFlow on one stage: one provisioner per part kind,
// and Realise, which creates the stage's resources and returns the outputs
// it adds to the NextFlow component.
type Realiser interface {
	// Provisioner returns the stage's provisioner for parts of kind k.
	Provisioner(k model.Kind) (Provisioner, bool)
	Realise(ctx *pulumi.Context, r Realisation) (pulumi.Map, error)
}

// NoProvisionerError says a stage cannot realise a part: no part is ever
// dropped in silence.
type NoProvisionerError struct {
	Stage model.Stage
	Part  *model.Part
}

func (e *NoProvisionerError) Error() string {
	return fmt.Sprintf("%s: stage %s has no provisioner for part %q (kind %s); fix: remove the part from the stack, or use a stage that provisions %s parts",
		e.Part.Key, e.Stage, e.Part.Name, e.Part.Kind, e.Part.Kind)
}

// ProvisionerFor returns the stage's provisioner for a part, or a
// NoProvisionerError.
func ProvisionerFor(r Realiser, stage model.Stage, p *model.Part) (Provisioner, error) {
	if r != nil {
		if pr, ok := r.Provisioner(p.Kind); ok && pr != nil {
			return pr, nil
		}
	}
	return nil, &NoProvisionerError{Stage: stage, Part: p}
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
	for i := range a.App.Parts {
		if _, err := ProvisionerFor(a.Stage, a.App.Config.Stage, &a.App.Parts[i]); err != nil {
			return err
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
	for i := range args.App.Parts {
		part := &args.App.Parts[i]
		pr, _ := ProvisionerFor(args.Stage, cfg.Stage, part)
		p, err := NewPart(ctx, name+"-"+part.Name, &PartArgs{Part: part, Inputs: pr.Inputs(args.App, part), Secrets: args.Secrets}, pulumi.Parent(nf))
		if err != nil {
			return nil, fmt.Errorf("nextflow %s: %w", name, err)
		}
		nf.Parts[part.Name] = p
	}
	var mon *Monitoring
	if model.MonitoringRuns(cfg) {
		var err error
		if mon, err = NewMonitoring(ctx, name+"-monitoring", args.App, pulumi.Parent(nf)); err != nil {
			return nil, fmt.Errorf("nextflow %s: %w", name, err)
		}
	}
	outs, err := args.Stage.Realise(ctx, Realisation{Name: name, App: args.App, Parent: nf, Parts: nf.Parts, Secrets: args.Secrets, Monitoring: mon})
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
