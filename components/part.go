package components

import (
	"fmt"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/model"
)

// Part type tokens. Type tokens and child names are API: changing one
// replaces the resources of every existing stack.
var PartTypes = map[string]string{
	model.PartCRM:      "nextflow:index:Crm",
	model.PartAI:       "nextflow:index:Ai",
	model.PartPostgres: "nextflow:index:Postgres",
	model.PartRedis:    "nextflow:index:Redis",
	model.PartQdrant:   "nextflow:index:Qdrant",
	model.PartTunnel:   "nextflow:index:Tunnel",
}

// PartArgs are the inputs of one part.
type PartArgs struct {
	// Service is the part's platform-neutral description. Required.
	Service model.Service
	// Secrets holds the secret values the part uses, by secret name. Every
	// secret the service mounts must be present, except where the stage
	// provides it itself (a managed tunnel's token).
	Secrets map[string]pulumi.StringOutput
}

// Validate checks the args before anything is registered.
func (a *PartArgs) Validate() error {
	if a == nil {
		return fmt.Errorf("args are required")
	}
	if _, ok := PartTypes[a.Service.Part]; !ok {
		return fmt.Errorf("unknown part %q", a.Service.Part)
	}
	if a.Service.Image == "" {
		return fmt.Errorf("service %s has no image", a.Service.Name)
	}
	if a.Service.Replicas < 1 {
		return fmt.Errorf("service %s: replicas must be >= 1, got %d", a.Service.Name, a.Service.Replicas)
	}
	return nil
}

// Part is one logical part of NextFlow, realised by the stage below it.
type Part struct {
	pulumi.ResourceState

	// Service is the description the part was built from.
	Service model.Service
	// Image is the image the part runs.
	Image pulumi.StringOutput `pulumi:"image"`
}

// NewPart registers a part. Its inputs (image, sizing, ports, volumes and
// secrets, the latter as Pulumi secrets) are recorded in state, so a preview
// shows what changes in a part.
func NewPart(ctx *pulumi.Context, name string, args *PartArgs, opts ...pulumi.ResourceOption) (*Part, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("part %s: %w", name, err)
	}
	s := args.Service
	props := pulumi.Map{
		"image":    pulumi.String(s.Image),
		"replicas": pulumi.Int(s.Replicas),
		"cpus":     pulumi.Float64(s.Sizing.CPUs),
		"memory":   pulumi.String(s.Sizing.Memory.String()),
		"gpus":     pulumi.Int(s.GPUs),
	}
	env := pulumi.StringMap{}
	for k, v := range s.Env {
		env[k] = pulumi.String(v)
	}
	props["env"] = env
	var ports pulumi.StringArray
	for _, p := range s.Ports {
		exp := "internal"
		if p.Exposure == model.Loopback {
			exp = fmt.Sprintf("127.0.0.1:%d", p.HostPort)
		}
		ports = append(ports, pulumi.Sprintf("%s/%d (%s)", p.Name, p.Port, exp))
	}
	props["ports"] = ports
	var vols pulumi.StringArray
	for _, m := range s.Volumes {
		vols = append(vols, pulumi.String(m.Volume+":"+m.Path))
	}
	props["volumes"] = vols
	secrets := pulumi.Map{}
	names := make([]string, 0, len(s.Secrets))
	for _, sec := range s.Secrets {
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

	p := &Part{Service: s}
	if err := ctx.RegisterComponentResourceV2(PartTypes[s.Part], name, props, p, opts...); err != nil {
		return nil, fmt.Errorf("part %s: %w", name, err)
	}
	p.Image = pulumi.String(s.Image).ToStringOutput()
	if err := ctx.RegisterResourceOutputs(p, pulumi.Map{"image": p.Image}); err != nil {
		return nil, fmt.Errorf("part %s: %w", name, err)
	}
	return p, nil
}
