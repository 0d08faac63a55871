// Command nextflow is the Pulumi program that Pulumi.yaml's `main:` points
// at: `pulumi up -s laptop` runs it. It evaluates the same program as nfx.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/stacks"
)

func main() {
	pulumi.Run(stacks.Program(stacks.Options{}))
}
