//go:build !nfxfront

package cli

import (
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/stagediff"
)

func init() {
	registerIO("roi", runRoi)
}

func runRoi(io IO, o *RoiOptions) error {
	if _, err := model.ParseStage(o.From); err == nil && o.From == o.To {
		return usagef("--from and --to: both are %s; name two stages, such as --from laptop --to server", o.From)
	}
	from, to, err := o.sides(io)
	if err != nil {
		return err
	}
	c, err := stagediff.BusinessCase(from, to)
	if err != nil {
		return usageError{err}
	}
	return o.print(io, c, c.Markdown, c.Text)
}
