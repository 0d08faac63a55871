// Command nfx-pulumi is nfx with the Pulumi SDK and the laptop's and the
// server's programs: the front nfx, which links neither, hands it every
// command that runs a stage's program (render, plan, cost, diff, preview,
// up, promote and the others; see internal/cli's runners) for the laptop
// and the server. It runs every command itself, and hands the cloud to
// nfx-cloud. `go build ./cmd/nfx` without -tags nfxfront builds the same.
package main

import (
	"github.com/nextflow-crm/nfx/internal/cli"
)

func main() {
	cli.Run()
}
