//go:build !nfxfront

package cli

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/offline"
)

func init() {
	registerIO("render", runRender)
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
