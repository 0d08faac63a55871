// Command nextflow is the Pulumi program that Pulumi.yaml's `main:` points
// at: `pulumi up -s laptop` runs it. It evaluates the same program as nfx.
// It realises the laptop and the server itself; a cloud stack's run goes
// to nextflow-cloud, which it builds into bin/ on first use, so that the
// laptop's and the server's `pulumi up` never compile the cloud's SDKs.
package main

import (
	"os"

	"github.com/nextflow-crm/nfx/stacks"
)

func main() {
	stacks.ProgramMain(os.Getenv, os.Stderr)
}
