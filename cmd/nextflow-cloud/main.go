// Command nextflow-cloud is the Pulumi program with the cloud stage in it:
// the program nextflow hands a cloud stack's run to. It realises every
// stage; only the cloud needs it.
package main

import (
	"os"

	"github.com/nextflow-crm/nfx/stacks"
	_ "github.com/nextflow-crm/nfx/stacks/cloudstage"
)

func main() {
	stacks.ProgramMain(os.Getenv, os.Stderr)
}
