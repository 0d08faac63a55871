package stacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/model"
)

// RunStage is the stage a run of the Pulumi program realises, read from
// the environment Pulumi's language host gives the program (the stack's
// name and its configuration, as pulumi.Run reads them): the stack's
// nextflow:stage, or its name. "" when the program does not run under
// the engine.
func RunStage(getenv func(string) string) model.Stage {
	stack := getenv(pulumi.EnvStack)
	if stack == "" {
		return ""
	}
	raw := model.Raw{Values: map[string]string{}}
	var cfg map[string]string
	if err := json.Unmarshal([]byte(getenv(pulumi.EnvConfig)), &cfg); err == nil {
		raw.Values["stage"] = cfg[model.FullKey("stage")]
	}
	return model.Stage(model.StageOfStack(stack, raw))
}

// ProgramMain is the Pulumi program's entry: it runs the program for a
// stage this binary realises, and hands a stage it does not (the cloud,
// in the lean program) to the program that does, built beside it in the
// project's bin/ and started in its place with the same arguments and
// environment, so that the engine and the language host see one program.
func ProgramMain(getenv func(string) string, stderr io.Writer) {
	handedOver := TakeHandedOver()
	st := RunStage(getenv)
	var nb *NotBuiltInError
	if _, err := Lookup(st); st != "" && errors.As(err, &nb) {
		bin, err := BuildCloudProgram(getenv(pulumi.EnvPulumiRootDirectory), stderr)
		if err == nil {
			err = HandOver(bin, os.Args[1:], handedOver)
		}
		fmt.Fprintf(stderr, "nextflow: stage %s: %v\n", st, err)
		os.Exit(1)
	}
	pulumi.Run(Program(Options{}))
}

// HandedOverEnv marks a process a lean binary started in its place, so
// that a binary in the cloud's place that lacks the cloud all the same (a
// lean one copied under its name) fails instead of handing over again, for
// ever.
const HandedOverEnv = "NFX_HANDED_OVER"

// TakeHandedOver says this process was started by a lean binary in its
// place, and removes the mark, so that the processes it starts are not.
func TakeHandedOver() bool {
	v := os.Getenv(HandedOverEnv)
	os.Unsetenv(HandedOverEnv)
	return v != ""
}

// HandOver starts bin in this process's place with args, the environment
// and the open descriptors; it returns only on failure. handedOver is
// TakeHandedOver's answer at this process's start.
func HandOver(bin string, args []string, handedOver bool) error {
	if handedOver {
		return fmt.Errorf("%s was started by a binary without the cloud stage, and lacks it too: rebuild it (make %s program)", filepath.Base(bin), CloudCLI)
	}
	return syscall.Exec(bin, append([]string{bin}, args...), append(os.Environ(), HandedOverEnv+"=1"))
}

// BuildCloudProgram builds the cloud stage's program into the project's
// bin/ as Pulumi's Go language host builds a program (-trimpath, no
// symbols), and returns its path.
func BuildCloudProgram(root string, stderr io.Writer) (string, error) {
	if root == "" {
		var err error
		if root, err = os.Getwd(); err != nil {
			return "", err
		}
	}
	return BuildCloudBinary(root, CloudProgram, stderr, "-buildvcs=false", "-trimpath", "-ldflags", "-w -s")
}

// BuildCloudBinary builds ./cmd/<name> of the nfx project at root into its
// bin/<name> (the flags as the Makefile gives them) and returns its path.
// go build relinks nothing when the binary is up to date, so a run after
// the first costs a check of the build cache. Two nfx started at once
// build one after the other (a lock in bin/), so that neither runs a
// binary the other is writing.
func BuildCloudBinary(root, name string, stderr io.Writer, flags ...string) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the cloud stage's %s is built with go, which is not on PATH: %w", name, err)
	}
	binDir := filepath.Join(root, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(binDir, "."+name+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	bin := filepath.Join(binDir, name)
	if upToDate(root, bin) {
		return bin, nil
	}
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(stderr, "nfx: building the cloud stage's %s into bin/ (the AWS, Kubernetes and Cloudflare SDKs: minutes the first time, then cached)\n", name)
	}
	args := append(append([]string{"build"}, flags...), "-o", bin, "./cmd/"+name)
	cmd := exec.Command(gobin, args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/%s in %s: %w", name, root, err)
	}
	// go build leaves an up-to-date binary as it is: stamp it, so that the
	// next run finds it newer than what it was just checked against.
	now := time.Now()
	if err := os.Chtimes(bin, now, now); err != nil {
		return "", err
	}
	return bin, nil
}

// upToDate says bin is newer than every Go source, directory (a file
// removed or added), go.mod and go.sum of the project at root (the build
// outputs, state and VCS data aside): then go build would find nothing to
// do, and asking it costs most of a second. Anything newer, or any doubt,
// and go build decides (and the binary is stamped after it).
func upToDate(root, bin string) bool {
	fi, err := os.Stat(bin)
	if err != nil {
		return false
	}
	built := fi.ModTime()
	skip := map[string]bool{".git": true, "bin": true, "out": true, ".nfx": true, "testdata": true, "node_modules": true}
	newer := errors.New("newer")
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && skip[d.Name()] {
			return filepath.SkipDir
		}
		if !d.IsDir() && !strings.HasSuffix(p, ".go") && d.Name() != "go.mod" && d.Name() != "go.sum" {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.ModTime().After(built) {
			return newer
		}
		return nil
	})
	return err == nil
}
