package stacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/proc"
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
	handedOver := proc.TakeHandedOver()
	st := RunStage(getenv)
	var nb *NotBuiltInError
	if _, err := Lookup(st); st != "" && errors.As(err, &nb) {
		bin, err := BuildCloudProgram(getenv(pulumi.EnvPulumiRootDirectory), stderr)
		if err == nil {
			err = proc.HandOver(bin, os.Args[1:], handedOver, "program")
		}
		fmt.Fprintf(stderr, "nextflow: stage %s: %v\n", st, err)
		os.Exit(1)
	}
	pulumi.Run(Program(Options{}))
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
	return proc.BuildBinary(root, CloudProgram, cloudSDKs, stderr, "-buildvcs=false", "-trimpath", "-ldflags", "-w -s")
}

// cloudSDKs says what makes the cloud's binaries slow to build the first time.
const cloudSDKs = "the cloud stage's program, with the AWS, Kubernetes and Cloudflare SDKs"
