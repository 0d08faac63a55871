//go:build !nfxfront

package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/engine"
)

func init() {
	register("engine", func(c *cobra.Command, _ []string, io IO, o *EngineOptions) error {
		return runEngine(c, io, o, c.Name())
	})
}

func runEngine(cmd *cobra.Command, io IO, o *EngineOptions, verb string) error {
	in, err := o.resolve(io, false)
	if err != nil {
		return err
	}
	opts := engine.Options{
		ProjectDir: in.ProjectDir, Stage: in.Stage, Stack: in.Stack, ConfigFile: in.ConfigFile,
		Backend: o.Backend, Stdout: io.Out, Stderr: io.Err, NoRefresh: !o.Refresh,
	}
	ctx := cmd.Context()
	switch verb {
	case "preview":
		ch, err := engine.Preview(ctx, opts)
		if err != nil {
			return err
		}
		if ch.HasChanges() {
			fmt.Fprintf(io.Out, "nfx: preview of %s: changes: %s\n", in.Stack, ch)
		} else {
			fmt.Fprintf(io.Out, "nfx: preview of %s: no changes (%s)\n", in.Stack, ch)
		}
	case "up":
		ch, err := engine.Up(ctx, opts)
		if err != nil {
			return err
		}
		fmt.Fprintf(io.Out, "nfx: up %s: %s; files in %s\n", in.Stack, ch, filepath.Join(in.ProjectDir, "out", in.Stack))
	case "destroy":
		if err := engine.Destroy(ctx, opts); err != nil {
			return err
		}
		fmt.Fprintf(io.Out, "nfx: destroyed %s\n", in.Stack)
	case "cancel":
		if err := engine.Cancel(ctx, opts); err != nil {
			return err
		}
		fmt.Fprintf(io.Out, "nfx: cleared the engine's lock on %s; run nfx up again\n", in.Stack)
	default:
		return fmt.Errorf("nfx %s: no such engine command", verb)
	}
	return nil
}
