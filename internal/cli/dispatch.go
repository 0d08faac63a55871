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

// cloudWhen are, by runner key, the front's commands that the cloud's
// needs nfx-cloud for only at times: each says whether this command line
// does (capacity: when it has a ledger's rehearsal to read).
var cloudWhen = map[string]func(cmd *cobra.Command, io IO) bool{}

// handTo is the binary a command is handed to, or "" when this one runs
// it. A command that runs no stage's program runs in any binary, for any
// stage (migrate, release show, ci init: the front has their code), and
// capacity, whose runner every binary has, runs in the front but for a
// cloud whose ledger may hold a rehearsal to count (cloudWhen), which it
// reads in nfx-cloud. One that runs a program goes to nfx-cloud when it realises the
// cloud, unless this is it, and to nfx-pulumi when this binary has no
// runner for it (the front nfx). Each binary hands a command over whole,
// before it has done anything.
func handTo(cmd *cobra.Command, io IO) string {
	key, needs := cmd.Annotations[needsPulumi]
	if !needs {
		return ""
	}
	if !cloudLinked() && cloudCommand(cmd, io) {
		if when := cloudWhen[key]; when == nil || when(cmd, io) {
			return proc.CloudCLI
		}
	}
	if runners[key] == nil {
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
	// Refused here rather than there, in the order cobra checks them after
	// this hook: the command's own checks of its flags (advise's), the
	// required flags, the flags' groups. (A check in a runner, such as
	// approve's of its entry number, is the runner's binary's.)
	if cmd.PreRunE != nil {
		if err := cmd.PreRunE(cmd, cmd.Flags().Args()); err != nil {
			return err
		}
	}
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
	err = proc.HandOver(bin, args, io.HandedOver, "nfx nfx-cloud")
	return fmt.Errorf("running %s: %w", bin, err)
}

// binaryOf finds nfx-cloud or nfx-pulumi. In the nfx project, with go on
// PATH, it is the project's own, built into bin/ by go build, or taken as
// it is when no Go source, directory, go.mod or go.sum is newer than it,
// so that it always runs the project's code. Elsewhere it is beside this
// nfx or on PATH, as a release installs them.
func binaryOf(io IO, name string) (string, error) {
	what := "the Pulumi SDK and the laptop's and server's programs"
	if name == proc.CloudCLI {
		what = "the cloud stage, with the AWS, Kubernetes and Cloudflare SDKs"
	}
	if proj, err := findProject(io.Dir); err == nil {
		if fi, err := os.Stat(filepath.Join(proj, "cmd", name)); err == nil && fi.IsDir() {
			if _, err := exec.LookPath("go"); err == nil {
				bin, err := proc.BuildBinary(proj, name, what, io.Err)
				if err != nil {
					return "", fmt.Errorf("%s: %w", name, err)
				}
				return bin, nil
			}
		}
	}
	self, _ := os.Executable()
	if self != "" {
		bin := filepath.Join(filepath.Dir(self), name)
		if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
			return bin, nil
		}
	}
	if bin, err := exec.LookPath(name); err == nil {
		return bin, nil
	}
	return "", fmt.Errorf("this command runs in %s (nfx with %s), which is neither beside this nfx nor on PATH: build it with `make %s` (go build -o bin/%s ./cmd/%s) or install it beside nfx", name, what, name, name, name)
}
