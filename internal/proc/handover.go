// Package proc is how an nfx process starts and hands its command to
// another of nfx's binaries: the front nfx links neither the Pulumi SDK nor
// a stage's program and hands a command that needs them to nfx-pulumi (the
// laptop and the server) or nfx-cloud (every stage), and the lean Pulumi
// program hands the cloud to nextflow-cloud. It links no SDK itself.
package proc

import (
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
)

// nfx's binaries, by what they link.
const (
	// PulumiCLI is nfx with the Pulumi SDK and the laptop's and the
	// server's programs: the front nfx hands it their renders, plans and
	// engine runs.
	PulumiCLI = "nfx-pulumi"
	// CloudCLI and CloudProgram realise the cloud stage too: the CLI and
	// the Pulumi program.
	CloudCLI     = "nfx-cloud"
	CloudProgram = "nextflow-cloud"
)

// HandedOverEnv marks a process another of nfx's binaries started in its
// place, so that a binary that lacks what the command needs all the same
// (a lean one copied under another's name) fails instead of handing over
// again, for ever.
const HandedOverEnv = "NFX_HANDED_OVER"

// TakeHandedOver says this process was started by another of nfx's
// binaries in its place, and removes the mark, so that the processes it
// starts are not.
func TakeHandedOver() bool {
	v := os.Getenv(HandedOverEnv)
	os.Unsetenv(HandedOverEnv)
	return v != ""
}

// HandOver starts bin in this process's place with args, the environment
// and the open descriptors; it returns only on failure. handedOver is
// TakeHandedOver's answer at this process's start: a binary another one
// handed the command to does not hand it on (two binaries that disagree
// on who runs it, such as a new nfx beside an old nfx-pulumi, would
// otherwise pass it back and forth); rebuild names the make targets that
// bring the binaries back in step.
func HandOver(bin string, args []string, handedOver bool, rebuild string) error {
	if handedOver {
		return fmt.Errorf("this binary was handed the command by another of nfx's binaries and would hand it on to %s: they are not of one build; rebuild them (make %s)", filepath.Base(bin), rebuild)
	}
	return syscall.Exec(bin, append([]string{bin}, args...), append(os.Environ(), HandedOverEnv+"=1"))
}

// BuildBinary builds ./cmd/<name> of the nfx project at root into its
// bin/<name> (the flags as the Makefile gives them) and returns its path;
// what says what it is, for the line printed when it is built the first
// time. go build relinks nothing when the binary is up to date, so a run
// after the first costs a check of the build cache, and only when
// something it is built from is newer than the binary (upToDate). Two nfx
// started at once build one after the other (a lock in bin/), so that
// neither runs a binary the other is writing.
func BuildBinary(root, name, what string, stderr io.Writer, flags ...string) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("%s is built with go, which is not on PATH: %w", name, err)
	}
	binDir := filepath.Join(root, "bin")
	bin := filepath.Join(binDir, name)
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
	if upToDate(root, bin) {
		return bin, nil
	}
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(stderr, "nfx: building %s into bin/ (%s: minutes the first time, then cached)\n", name, what)
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
