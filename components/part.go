package components

import (
	"fmt"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/model"
)

// PartTypes maps each built-in part to its component type token, from the
// model's part table; a user's service is a model.ServiceType. Type tokens
// and child names are API: changing one replaces the resources of every
// existing stack.
var PartTypes = partTypes()

func partTypes() map[string]string {
	out := map[string]string{}
	for _, p := range model.BuiltinParts {
		out[p.Name] = p.Type
	}
	return out
}

// PartArgs are the inputs of one part.
type PartArgs struct {
	// Part is the part's platform-neutral description. Required.
	Part *model.Part
	// Inputs are what the stage runs for the part (its provisioner's
	// Inputs), recorded in state so that a preview shows what changes.
	Inputs map[string]any
	// Secrets holds the secret values the part uses, by secret name. Every
	// secret the service mounts must be present, except where the stage
	// provides it itself (a managed tunnel's token).
	Secrets map[string]pulumi.StringOutput
}

// Validate checks the args before anything is registered.
func (a *PartArgs) Validate() error {
	switch {
	case a == nil:
		return fmt.Errorf("args are required")
	case a.Part == nil:
		return fmt.Errorf("part is required")
	case a.Part.Type == "":
		return fmt.Errorf("part %s has no type token", a.Part.Name)
	case a.Part.Runs && a.Part.Service.Image == "":
		return fmt.Errorf("part %s has no image", a.Part.Name)
	case a.Part.Replicas < 1:
		return fmt.Errorf("part %s: replicas must be >= 1, got %d", a.Part.Name, a.Part.Replicas)
	}
	return nil
}

// Part is one logical part of NextFlow, realised by the stage below it.
type Part struct {
	pulumi.ResourceState

	// Part is the description the part was built from.
	Part *model.Part
	// Kind is the part's kind.
	Kind pulumi.StringOutput `pulumi:"kind"`
}

// NewPart registers a part. Its inputs are what the stage runs for it (a
// container's image, sizing, ports and volumes; RDS's class and Multi-AZ),
// with the secrets it uses as Pulumi secrets.
func NewPart(ctx *pulumi.Context, name string, args *PartArgs, opts ...pulumi.ResourceOption) (*Part, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("part %s: %w", name, err)
	}
	p := args.Part
	props := pulumi.Map{}
	for k, v := range ToInputs(args.Inputs) {
		props[k] = v
	}
	props["kind"] = pulumi.String(string(p.Kind))
	secrets := pulumi.Map{}
	names := make([]string, 0, len(p.Service.Secrets))
	for _, sec := range p.Service.Secrets {
		names = append(names, sec.Secret)
	}
	sort.Strings(names)
	for _, n := range names {
		if v, ok := args.Secrets[n]; ok {
			secrets[n] = pulumi.ToSecret(v).(pulumi.StringOutput)
		}
	}
	if len(secrets) > 0 {
		props["secrets"] = secrets
	}
	c := &Part{Part: p}
	if err := ctx.RegisterComponentResourceV2(p.Type, name, props, c, opts...); err != nil {
		return nil, fmt.Errorf("part %s: %w", name, err)
	}
	c.Kind = pulumi.String(string(p.Kind)).ToStringOutput()
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"kind": c.Kind}); err != nil {
		return nil, fmt.Errorf("part %s: %w", name, err)
	}
	return c, nil
}

// ToInputs converts plain values (strings, numbers, booleans, and maps and
// lists of them) to Pulumi inputs.
func ToInputs(in map[string]any) pulumi.Map {
	out := pulumi.Map{}
	for k, v := range in {
		if iv := toInput(v); iv != nil {
			out[k] = iv
		}
	}
	return out
}

func toInput(v any) pulumi.Input {
	switch t := v.(type) {
	case nil:
		return nil
	case pulumi.Input:
		return t
	case string:
		return pulumi.String(t)
	case bool:
		return pulumi.Bool(t)
	case int:
		return pulumi.Int(t)
	case float64:
		return pulumi.Float64(t)
	case []string:
		return pulumi.ToStringArray(t)
	case map[string]string:
		return pulumi.ToStringMap(t)
	case map[string]any:
		return ToInputs(t)
	case []any:
		arr := pulumi.Array{}
		for _, e := range t {
			arr = append(arr, toInput(e))
		}
		return arr
	}
	return pulumi.String(fmt.Sprint(v))
}

// ContainerInputs are what a container-running provisioner records for a
// part: the image, the services that run it with their replicas, the
// sizing of one, and its ports, volumes and environment as written.
func ContainerInputs(app *model.App, p *model.Part, extra map[string]any) map[string]any {
	s := p.Service
	in := map[string]any{
		"image":  s.Image,
		"cpus":   s.Sizing.CPUs,
		"memory": s.Sizing.Memory.String(),
		"gpus":   s.GPUs,
	}
	total := 0
	var services []string
	for _, i := range app.InstancesOf(p.Name) {
		total += i.Replicas
		services = append(services, fmt.Sprintf("%s x%d", i.Name, i.Replicas))
	}
	in["replicas"] = total
	in["services"] = services
	if len(s.Env) > 0 {
		in["env"] = s.Env
	}
	var ports, vols []string
	for _, pt := range s.Ports {
		ports = append(ports, fmt.Sprintf("%s/%d", pt.Name, pt.Port))
	}
	for _, m := range s.Volumes {
		vols = append(vols, m.Volume+":"+m.Path)
	}
	if len(ports) > 0 {
		in["ports"] = ports
	}
	if len(vols) > 0 {
		in["volumes"] = vols
	}
	for k, v := range extra {
		in[k] = v
	}
	return in
}
