// Command nfx grows NextFlow CRM-AI from a laptop to a server to the cloud.
package main

import (
	"github.com/nextflow-crm/nfx/internal/cli"
)

func main() {
	cli.Run()
}
