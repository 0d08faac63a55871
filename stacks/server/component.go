package server

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/components"
	"github.com/nextflow-crm/nfx/internal/model"
)

// SwarmStackType is the type token of the server's Swarm stack.
const SwarmStackType = "nextflow:server:SwarmStack"

// Realiser realises NextFlow as a Docker Swarm stack.
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
	// On the server the tunnel sends traffic to nginx, the one entry point.
	secrets, err := components.TunnelSecrets(ctx, in, Routes(in.App))
	if err != nil {
		return nil, err
	}
	if v, ok := in.Secrets[model.KeyReplicationPassword]; ok {
		secrets[SecretReplicationPassword] = v
	}
	set, err := Render(in.App)
	if err != nil {
		return nil, err
	}
	names := append([]string{SecretReplicationPassword}, in.App.SecretNames()...)
	st, err := components.NewStageFiles(ctx, in.Name+"-swarm", &components.StageFilesArgs{
		Type:        SwarmStackType,
		Public:      set,
		Secrets:     secrets,
		SecretNames: names,
		SecretPath:  SecretFile,
		Output:      r.Output,
	}, pulumi.Parent(in.Parent))
	if err != nil {
		return nil, err
	}
	return pulumi.Map{"stackDigest": st.Digest}, nil
}
