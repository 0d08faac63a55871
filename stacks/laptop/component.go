package laptop

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/components"
	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
)

// ComposeProjectType is the type token of the laptop's Compose project.
const ComposeProjectType = "nextflow:laptop:ComposeProject"

// Realiser realises NextFlow as a Docker Compose project.
type Realiser struct {
	Output components.Output
}

// Provisioner implements components.Realiser.
func (Realiser) Provisioner(k model.Kind) (components.Provisioner, bool) {
	p, ok := Provisioners[k]
	return p, ok
}

// Realise implements components.Realiser.
func (r Realiser) Realise(ctx *pulumi.Context, in components.Realisation) (pulumi.Map, error) {
	secrets, err := components.TunnelSecrets(ctx, in, Routes(in.App))
	if err != nil {
		return nil, err
	}
	compose, err := Render(in.App)
	if err != nil {
		return nil, err
	}
	cp, err := components.NewStageFiles(ctx, in.Name+"-compose", &components.StageFilesArgs{
		Type:        ComposeProjectType,
		Public:      files.Set{{Path: ComposeFile, Data: compose}},
		Secrets:     secrets,
		SecretNames: in.App.SecretNames(),
		SecretPath:  SecretFile,
		Output:      r.Output,
	}, pulumi.Parent(in.Parent))
	if err != nil {
		return nil, err
	}
	return pulumi.Map{"composeDigest": cp.Digest}, nil
}
