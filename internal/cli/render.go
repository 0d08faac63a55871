package cli

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/offline"
)

// RenderOptions are the flags of `nfx render`.
type RenderOptions struct {
	stackFlags
	Out string
}

// NewCmdRender builds `nfx render`.
func NewCmdRender(io IO) *cobra.Command {
	o := &RenderOptions{}
	cmd := &cobra.Command{
		Use:   "render --stage STAGE [--config FILE] [--out DIR]",
		Short: "Write a stage's files offline (compose.yaml for the laptop)",
		Example: `  nfx render --stage laptop
  nfx render --stage laptop --config my-laptop.yaml --out /tmp/laptop`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRender(io, o) },
	}
	o.add(cmd)
	cmd.Flags().StringVar(&o.Out, "out", "", "the output directory (default out/<stack> in the project: out/<stage> for a stage's own)")
	return cmd
}

func runRender(io IO, o *RenderOptions) error {
	in, err := o.resolve(io, false)
	if err != nil {
		return err
	}
	res, err := offline.Run(in.Stage, in.Raw)
	if err != nil {
		return err
	}
	out := o.Out
	switch {
	case out == "":
		out = filepath.Join(in.ProjectDir, "out", in.Stack)
	case !filepath.IsAbs(out):
		out = filepath.Join(io.Dir, out)
	}
	set := append(files.Set{}, res.Files...)
	if len(set) == 0 {
		return fmt.Errorf("stage %s rendered no files", in.Stage)
	}
	if err := files.WriteOutput(out, set, files.Options{Stage: string(in.Stage), KeepSecrets: res.SecretPaths}); err != nil {
		var not *files.NotOursError
		if errors.As(err, &not) {
			return usageError{fmt.Errorf("--out %w", err)}
		}
		return err
	}
	for _, f := range set.Sorted() {
		fmt.Fprintf(io.Out, "wrote %s\n", filepath.Join(out, filepath.FromSlash(f.Path)))
	}
	fmt.Fprintf(io.Out, "secret files are written by `nfx up`, never by render\n")
	return nil
}
