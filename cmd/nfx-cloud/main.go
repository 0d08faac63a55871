// Command nfx-cloud is nfx with the cloud stage in it: nfx and nfx-pulumi
// hand it every command that runs the cloud's program (render, plan, cost,
// up and the others with --stage, --from or --to naming a cloud stack; the
// report).
// It runs every command for every stage.
package main

import (
	"github.com/nextflow-crm/nfx/internal/cli"
	_ "github.com/nextflow-crm/nfx/stacks/cloudstage"
)

func main() {
	cli.Run()
}
