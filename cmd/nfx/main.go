// Command nfx grows NextFlow CRM-AI from a laptop to a server to the cloud.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/nextflow-crm/nfx/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, _ := os.Getwd()
	code := cli.Main(ctx, os.Args[1:], cli.IO{Out: os.Stdout, Err: os.Stderr, Dir: dir})
	stop()
	os.Exit(code)
}
