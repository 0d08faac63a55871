// Command nfx grows NextFlow CRM-AI from a laptop to a server to the cloud.
//
// Built as the Makefile builds it (go build -tags nfxfront), it is the
// front: every command's flags and help, and the commands that need no
// stage's program (migrate, release show, ci, and capacity but for the
// cloud's, which reads the ledger) run in it; it links
// neither the Pulumi SDK nor a stage's program, and hands a command that
// needs them, whole and before it has done anything, to nfx-pulumi (the
// laptop and the server) or nfx-cloud (the cloud). Built without the tag
// it is nfx-pulumi under this name: every laptop and server command in one
// binary, slower to start.
package main

import (
	"github.com/nextflow-crm/nfx/internal/cli"
)

func main() {
	cli.Run()
}
