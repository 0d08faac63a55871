// Package cli is the nfx command line: one options struct, constructor and
// run function per command, flags never in globals, exit codes mapped in
// one place (Main).
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/migrate"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/proc"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitFailed = 1
	// ExitUsage is for bad flags and invalid configuration.
	ExitUsage = 2
)

// IO is where a command reads and writes.
type IO struct {
	Out io.Writer
	Err io.Writer
	// Dir is the working directory the project is searched from.
	Dir string
	// Delegate, if set, runs a command line handed over, its first word
	// the binary (nfx-pulumi or nfx-cloud), and returns its exit code
	// (tests); by default nfx starts that binary in its own place.
	Delegate func(args []string) int
	// HandedOver says another of nfx's binaries started this one in its
	// place.
	HandedOver bool
}

// usageError marks errors caused by the user's input.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// Run is a binary's main: nfx with the process's arguments, interrupted
// by Ctrl-C, exiting with Main's code.
func Run() {
	proc.TuneGC()
	handedOver := proc.TakeHandedOver()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	dir, _ := os.Getwd()
	code := Main(ctx, os.Args[1:], IO{Out: os.Stdout, Err: os.Stderr, Dir: dir, HandedOver: handedOver})
	stop()
	os.Exit(code)
}

// Main runs nfx with args and returns the exit code.
func Main(ctx context.Context, args []string, io IO) int {
	root := NewCmdRoot(io)
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return delegate(cmd, io, args) }
	root.SetArgs(args)
	root.SetOut(io.Out)
	root.SetErr(io.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ran delegated
	if errors.As(err, &ran) {
		return ran.code
	}
	var cfgErr *model.ConfigError
	var uErr usageError
	var blocked blockedError
	var missing *migrate.MissingError
	switch {
	case errors.As(err, &blocked):
		fmt.Fprintf(io.Err, "nfx: %v\n", err)
		return ExitBlocked
	case errors.As(err, &cfgErr):
		n := len(cfgErr.Diagnostics.Errors())
		noun := "problems"
		if n == 1 {
			noun = "problem"
		}
		fmt.Fprintf(io.Err, "nfx: invalid configuration%s (%d %s):\n", cfgErr.Of(), n, noun)
		for _, d := range cfgErr.Diagnostics.Sorted() {
			fmt.Fprintf(io.Err, "  %s\n", d)
		}
		return ExitUsage
	case errors.As(err, &uErr) || errors.As(err, &missing) || isCobraUsage(err):
		fmt.Fprintf(io.Err, "nfx: %v\n", err)
		return ExitUsage
	default:
		fmt.Fprintf(io.Err, "nfx: %v\n", err)
		return ExitFailed
	}
}

// isCobraUsage recognises the usage errors cobra returns as plain errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "required flag") || strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "accepts ")
}

// NewCmdRoot builds the nfx command tree.
func NewCmdRoot(io IO) *cobra.Command {
	root := &cobra.Command{
		Use:   "nfx",
		Short: "Grow NextFlow CRM-AI from a laptop to a server to the cloud with Pulumi",
		Long: `nfx describes the NextFlow CRM-AI stack once, as Pulumi components, and realises
it per stage: laptop (Docker Compose), server (Docker Swarm) and cloud (AWS EKS).
render and plan run offline under the Pulumi SDK's mocks; preview, up and destroy
run the real Pulumi engine.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(NewCmdRender(io), NewCmdPlan(io), NewCmdAdvise(io), NewCmdDiff(io), NewCmdCost(io), NewCmdCapacity(io), NewCmdRoi(io), NewCmdCompliance(io), NewCmdReport(io), NewCmdMigrate(io), NewCmdUpgrade(io),
		NewCmdRelease(io), NewCmdPromote(io), NewCmdLedger(io), NewCmdApprove(io), NewCmdReject(io), NewCmdRollback(io), NewCmdCI(io), NewCmdVerify(io), NewCmdFailover(io))
	for _, verb := range []string{"preview", "up", "destroy", "cancel"} {
		root.AddCommand(NewCmdEngine(io, verb))
	}
	return root
}

// stackFlags are the flags every stack command takes.
type stackFlags struct {
	Stage  string
	Config string
}

func (f *stackFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.Stage, "stage", "", "the stage: laptop, server or cloud (required)")
	cmd.Flags().StringVar(&f.Config, "config", "", "a stack config file in the Pulumi.<stage>.yaml format (default: the project's)")
}

// stackInput is a resolved stack: its project, stage, config file and raw config.
type stackInput struct {
	ProjectDir string
	Stage      model.Stage
	// Stack is the stack's name: the stage's, or another of its stacks.
	Stack      string
	ConfigFile string
	Raw        model.Raw
	Config     *model.Config
	Warnings   model.Diagnostics
}

// resolve finds the project, reads and validates the stack's configuration.
func (f *stackFlags) resolve(io IO, requireSecrets bool) (*stackInput, error) {
	if f.Stage == "" {
		return nil, usagef("--stage is required: laptop, server or cloud")
	}
	proj, err := findProject(io.Dir)
	if err != nil {
		return nil, err
	}
	// A stage's own stack, or another stack of a stage by its name (such
	// as server-staging, whose Pulumi.server-staging.yaml sets nextflow:stage).
	stack := f.Stage
	st, err := model.ParseStage(f.Stage)
	if err != nil {
		if _, ferr := os.Stat(filepath.Join(proj, "Pulumi."+f.Stage+".yaml")); ferr != nil || f.Config != "" || !stackNameRE.MatchString(f.Stage) {
			return nil, usagef("--stage: %v (or the name of a stack whose Pulumi.<name>.yaml sets nextflow:stage)", err)
		}
		s, serr := stackOf(proj, f.Stage, "--stage")
		if serr != nil {
			return nil, serr
		}
		st = s.Stage
	}
	file := f.Config
	if file == "" {
		file = filepath.Join(proj, "Pulumi."+stack+".yaml")
	} else if !filepath.IsAbs(file) {
		file = filepath.Join(io.Dir, file)
	}
	raw, _, err := model.ReadStackFile(file)
	if err != nil {
		return nil, usagef("stage %s: %v", st, err)
	}
	cfg, ds := model.Load(string(st), raw, model.LoadOptions{RequireSecrets: requireSecrets, Stack: stack})
	if ds.HasErrors() {
		return nil, &model.ConfigError{Diagnostics: ds, Stage: st, File: file}
	}
	for _, w := range ds.Warnings() {
		fmt.Fprintf(io.Err, "nfx: %s\n", w)
	}
	return &stackInput{ProjectDir: proj, Stage: st, Stack: stack, ConfigFile: file, Raw: raw, Config: cfg, Warnings: ds.Warnings()}, nil
}

// findProject walks up from dir to the directory holding Pulumi.yaml.
func findProject(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "Pulumi.yaml")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", usagef("no Pulumi.yaml in %s or any parent: run nfx inside the nfx project", dir)
		}
		d = parent
	}
}

// printJSON writes v to the output as indented JSON, the --json form of
// every report command.
func printJSON(io IO, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(io.Out, "%s\n", b)
	return err
}

// stackRef is a stack of the project: its stage and its file.
type stackRef struct {
	Stage model.Stage
	File  string
}

// stackOf is a stack of the project by name: its file Pulumi.<name>.yaml
// and its stage, the file's nextflow:stage or the name itself.
func stackOf(proj, name, flag string) (stackRef, error) {
	if !stackNameRE.MatchString(name) {
		return stackRef{}, usagef("%s: %q is not a stack name; use lower-case letters, digits and dashes, such as server or server-staging", flag, name)
	}
	file := filepath.Join(proj, "Pulumi."+name+".yaml")
	raw, _, err := model.ReadStackFile(file)
	if err != nil {
		return stackRef{}, usagef("%s %s: %v; fix: create the stack's Pulumi.%s.yaml", flag, name, err, name)
	}
	stage := model.StageOfStack(name, raw)
	st, err := model.ParseStage(stage)
	if err != nil {
		return stackRef{}, usagef("%s %s: its stage %q is not one of %s; fix: set nextflow:stage in Pulumi.%s.yaml", flag, name, stage, strings.Join(model.StageNames(), ", "), name)
	}
	return stackRef{Stage: st, File: file}, nil
}
