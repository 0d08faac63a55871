// Package cloudstage adds the cloud stage (AWS EKS, its data stores and
// Cloudflare in front) to the stage registry. Only the binaries that
// realise the cloud import it, for its side effect: nfx-cloud and the
// Pulumi program nextflow-cloud. Everything else (nfx, the laptop's and
// the server's program) stays free of the AWS, Kubernetes and Cloudflare
// SDKs, and builds in a fraction of the time and memory.
package cloudstage

import (
	"github.com/nextflow-crm/nfx/components"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/stacks"
	"github.com/nextflow-crm/nfx/stacks/cloud"
)

func init() {
	stacks.Register(model.Cloud, stacks.StageDef{
		New:       func(o stacks.Options, _ model.Stage) components.Realiser { return cloud.Realiser{Offline: o.Offline} },
		PlanFiles: cloud.Manifests,
	})
}
