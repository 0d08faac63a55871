package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/proc"
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

// delegated ends a command that ran in another of nfx's binaries, with
// its exit code.
type delegated struct {
	bin  string
	code int
}

func (d delegated) Error() string { return fmt.Sprintf("ran in %s: exit %d", d.bin, d.code) }

// cloudLinked says this binary realises the cloud stage (nfx-cloud); set
// by the files a binary with the Pulumi SDK builds.
var cloudLinked = func() bool { return false }

// handTo is the binary a command is handed to, or "" when this one runs
// it: nfx-cloud for a command that realises the cloud, unless this is it;
// nfx-pulumi for one that needs the Pulumi SDK in a binary without it (the
// front nfx). Each binary hands a command over whole, before it has done
// anything.
func handTo(cmd *cobra.Command, io IO) string {
	if !cloudLinked() && cloudCommand(cmd, io) {
		return proc.CloudCLI
	}
	if key, ok := cmd.Annotations[needsPulumi]; ok && runners[key] == nil {
		return proc.PulumiCLI
	}
	return ""
}

// delegate runs the command line in the binary handTo names, in this
// process's place: the front nfx keeps the Pulumi SDK out of its start,
// and nfx-pulumi the AWS, Kubernetes and Cloudflare SDKs out of every
// laptop and server command.
func delegate(cmd *cobra.Command, io IO, args []string) error {
	name := handTo(cmd, io)
	if name == "" {
		return nil
	}
	// Refused here rather than there: cobra checks these after this hook.
	if err := cmd.ValidateRequiredFlags(); err != nil {
		return err
	}
	if err := cmd.ValidateFlagGroups(); err != nil {
		return err
	}
	if io.Delegate != nil {
		return delegated{name, io.Delegate(append([]string{name}, args...))}
	}
	bin, err := binaryOf(io, name)
	if err != nil {
		return err
	}
	err = proc.HandOver(bin, args, io.HandedOver, name)
	return fmt.Errorf("running %s: %w", bin, err)
}

// binaryOf finds nfx-cloud or nfx-pulumi. In the nfx project, with go on
// PATH, it is the project's own, built (or found up to date) into bin/ by
// go build: nfx-cloud when no source is newer than it, nfx-pulumi when it
// is not older than this nfx (make nfx builds the two together). Elsewhere
// it is beside this nfx or on PATH, as a release installs them.
func binaryOf(io IO, name string) (string, error) {
	self, _ := os.Executable()
	if proj, err := findProject(io.Dir); err == nil {
		if fi, err := os.Stat(filepath.Join(proj, "cmd", name)); err == nil && fi.IsDir() {
			if _, err := exec.LookPath("go"); err == nil {
				var bin string
				if name == proc.CloudCLI {
					bin, err = proc.BuildBinary(proj, name, "the cloud stage, with the AWS, Kubernetes and Cloudflare SDKs", io.Err)
				} else {
					bin, err = proc.BuildBinaryFor(self, proj, name, "the Pulumi SDK and the laptop's and server's programs", io.Err)
				}
				if err != nil {
					return "", fmt.Errorf("%s: %w", name, err)
				}
				return bin, nil
			}
		}
	}
	if self != "" {
		bin := filepath.Join(filepath.Dir(self), name)
		if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
			return bin, nil
		}
	}
	if bin, err := exec.LookPath(name); err == nil {
		return bin, nil
	}
	what := "nfx with the Pulumi SDK"
	if name == proc.CloudCLI {
		what = "nfx with the cloud stage"
	}
	return "", fmt.Errorf("this command runs in %s (%s), which is neither beside this nfx nor on PATH: build it with `make %s` (go build -o bin/%s ./cmd/%s) or install it beside nfx", name, what, name, name, name)
}
