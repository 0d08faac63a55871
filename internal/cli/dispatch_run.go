//go:build !nfxfront

package cli

import (
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/stacks"
)

func init() {
	cloudLinked = func() bool {
		_, err := stacks.Lookup(model.Cloud)
		return err == nil
	}
}
