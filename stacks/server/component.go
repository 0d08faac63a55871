package server

import (
	"fmt"

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

// Realise implements components.Realiser.
func (r Realiser) Realise(ctx *pulumi.Context, in components.Realisation) (pulumi.Map, error) {
	// On the server the tunnel sends traffic to nginx, the one entry point.
	secrets, err := components.TunnelSecrets(ctx, in, fmt.Sprintf("http://%s:80", NginxService))
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
