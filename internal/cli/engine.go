package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/engine"
)

// EngineOptions are the flags of `nfx preview|up|destroy`.
type EngineOptions struct {
	stackFlags
	Backend string
}

// NewCmdEngine builds `nfx preview`, `nfx up` or `nfx destroy`.
func NewCmdEngine(io IO, verb string) *cobra.Command {
	o := &EngineOptions{}
	short := map[string]string{
		"preview": "Show what `up` would change, with the real Pulumi engine",
		"up":      "Create or update a stage's stack and write its files",
		"destroy": "Delete a stage's resources and its written files",
		"cancel":  "Clear the engine's lock that a killed nfx up (or pulumi up) left on a stage's stack",
	}[verb]
	cmd := &cobra.Command{
		Use:   verb + " --stage STAGE [--config FILE] [--backend URL]",
		Short: short,
		Example: fmt.Sprintf(`  nfx %[1]s --stage laptop
  nfx %[1]s --stage laptop --backend file:///srv/pulumi-state`, verb),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runEngine(cmd, io, o, verb) },
	}
	o.add(cmd)
	cmd.Flags().StringVar(&o.Backend, "backend", "", "a Pulumi backend URL (default file://<project>/.nfx/state)")
	return cmd
}

func runEngine(cmd *cobra.Command, io IO, o *EngineOptions, verb string) error {
	in, err := o.resolve(io, false)
	if err != nil {
		return err
	}
	opts := engine.Options{
		ProjectDir: in.ProjectDir, Stage: in.Stage, Stack: in.Stack, ConfigFile: in.ConfigFile,
		Backend: o.Backend, Stdout: io.Out, Stderr: io.Err,
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
	}
	return nil
}
