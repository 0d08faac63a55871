package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/ciinit"
	"github.com/nextflow-crm/nfx/internal/files"
)

// NewCmdCI is `nfx ci init`.
func NewCmdCI(io IO) *cobra.Command {
	cmd := &cobra.Command{Use: "ci", Short: "CI pipelines that promote the stacks"}
	var provider string
	var force bool
	initCmd := &cobra.Command{
		Use:   "init --provider github|gitlab",
		Short: "Write the pipelines a team commits: review on pull requests, promotion on merge, the stage upgrade by hand",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			proj, err := findProject(io.Dir)
			if err != nil {
				return err
			}
			set, err := ciinit.Files(provider)
			if err != nil {
				return usagef("--provider: %v", err)
			}
			// All or nothing: no file is written if one would be overwritten.
			var exist []string
			for _, f := range set {
				if _, err := os.Lstat(filepath.Join(proj, f.Path)); err == nil {
					exist = append(exist, f.Path)
				}
			}
			if len(exist) > 0 && !force {
				return usagef("%s already exist; nothing written (fix: --force replaces them)", strings.Join(exist, ", "))
			}
			for _, f := range set {
				if err := files.WriteFile(filepath.Join(proj, f.Path), f.Data); err != nil {
					return err
				}
				fmt.Fprintf(io.Out, "nfx: wrote %s\n", f.Path)
			}
			return nil
		},
	}
	initCmd.Flags().StringVar(&provider, "provider", "", "github or gitlab (required)")
	initCmd.Flags().BoolVar(&force, "force", false, "replace pipeline files that exist")
	cmd.AddCommand(initCmd)
	return cmd
}
