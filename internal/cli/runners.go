package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/proc"
)

// needsPulumi marks a command that runs a stage's Pulumi program (offline
// under the SDK's mocks, or under the engine), by its runner's key.
const needsPulumi = "nfx/pulumi"

// runner runs a command that needs the Pulumi SDK, with its options.
type runner func(c *cobra.Command, args []string, io IO, o any) error

// runners are the commands that need the Pulumi SDK, by key, registered by
// the files a binary with the SDK builds (the default; the front nfx is
// built with -tags nfxfront and has none). Their commands' flags, help and
// validation are in every binary; a binary without a command's runner
// hands the command over before it runs (dispatch.go).
var runners = map[string]runner{}

// register adds the runner of the commands marked with key.
func register[O any](key string, run func(*cobra.Command, []string, IO, *O) error) {
	if _, dup := runners[key]; dup {
		panic("cli: runner " + key + " registered twice")
	}
	runners[key] = func(c *cobra.Command, args []string, io IO, o any) error { return run(c, args, io, o.(*O)) }
}

// frontKeys are the runners every binary has, the front nfx's too: a
// command marked with one runs in the front for the laptop and the server
// and is handed to nfx-cloud for the cloud (capacity, which reads the
// cloud's ledger there).
var frontKeys = map[string]bool{}

// registerFront is registerIO for a runner in every binary (frontKeys).
func registerFront[O any](key string, run func(IO, *O) error) {
	registerIO(key, run)
	frontKeys[key] = true
}

// registerIO is register for a runner that needs only the IO and its
// options.
func registerIO[O any](key string, run func(IO, *O) error) {
	register(key, func(_ *cobra.Command, _ []string, io IO, o *O) error { return run(io, o) })
}

// viaPulumi marks cmd as needing the Pulumi SDK and runs it with the runner
// registered under key, with its options o.
func viaPulumi[O any](cmd *cobra.Command, io IO, key string, o *O) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[needsPulumi] = key
	cmd.RunE = func(c *cobra.Command, args []string) error {
		run, ok := runners[key]
		if !ok {
			// dispatch hands such a command over before it runs.
			return fmt.Errorf("%s: this nfx was built without the Pulumi SDK; run it with %s", c.CommandPath(), proc.PulumiCLI)
		}
		return run(c, args, io, o)
	}
	return cmd
}
