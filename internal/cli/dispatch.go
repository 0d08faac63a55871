package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/stacks"
)

// everyStage marks a command that realises every stage (the report).
const everyStage = "nfx/every-stage"

// stageFlags are the flags that name a stage or a stack of one.
var stageFlags = []string{"stage", "from", "to"}

// cloudCommand says whether cmd, as parsed, realises the cloud stage: a
// flag names the cloud or a stack of it, or the command covers every
// stage. A name nfx cannot resolve is left to the command to refuse.
func cloudCommand(cmd *cobra.Command, io IO) bool {
	if cmd.Annotations[everyStage] != "" {
		return true
	}
	found := false
	cmd.Flags().Visit(func(f *pflag.Flag) {
		for _, name := range stageFlags {
			if f.Name == name && stageOfName(io, f.Value.String()) == model.Cloud {
				found = true
			}
		}
	})
	return found
}

// stageOfName is the stage a --stage, --from or --to value names, or "".
func stageOfName(io IO, v string) model.Stage {
	if st, err := model.ParseStage(v); err == nil {
		return st
	}
	proj, err := findProject(io.Dir)
	if err != nil {
		return ""
	}
	s, err := stackOf(proj, v, "")
	if err != nil {
		return ""
	}
	return s.Stage
}

// delegated ends a command that ran in nfx-cloud, with its exit code.
type delegated struct{ code int }

func (d delegated) Error() string { return fmt.Sprintf("ran in %s: exit %d", stacks.CloudCLI, d.code) }

// delegate runs the command line in the binary that realises the cloud,
// when this one does not: the lean nfx keeps the AWS, Kubernetes and
// Cloudflare SDKs out of every laptop and server command, and hands a
// cloud command, whole, to nfx-cloud before it has done anything.
func delegate(cmd *cobra.Command, io IO, args []string) error {
	if _, err := stacks.Lookup(model.Cloud); err == nil || !cloudCommand(cmd, io) {
		return nil
	}
	if io.Delegate != nil {
		return delegated{io.Delegate(args)}
	}
	bin, err := cloudCLI(io)
	if err != nil {
		return err
	}
	err = stacks.HandOver(bin, args, io.HandedOver)
	return fmt.Errorf("stage cloud: running %s: %w", bin, err)
}

// cloudCLI finds nfx-cloud: in the nfx project, built (or found up to
// date) into its bin/ by go build, so that it is always the project's
// code; elsewhere beside this nfx or on PATH, as a release installs them.
func cloudCLI(io IO) (string, error) {
	name := stacks.CloudCLI
	if proj, err := findProject(io.Dir); err == nil {
		if fi, err := os.Stat(filepath.Join(proj, "cmd", name)); err == nil && fi.IsDir() {
			if _, err := exec.LookPath("go"); err == nil {
				bin, err := stacks.BuildCloudBinary(proj, name, io.Err)
				if err != nil {
					return "", fmt.Errorf("stage cloud: %w", err)
				}
				return bin, nil
			}
		}
	}
	if self, err := os.Executable(); err == nil {
		bin := filepath.Join(filepath.Dir(self), name)
		if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
			return bin, nil
		}
	}
	if bin, err := exec.LookPath(name); err == nil {
		return bin, nil
	}
	return "", errors.New((&stacks.NotBuiltInError{Stage: model.Cloud}).Error() + "; it is neither beside this nfx nor on PATH")
}
