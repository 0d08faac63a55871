// Package engine runs the NextFlow program under the real Pulumi engine
// through the Automation API, with an inline program: preview, up and
// destroy. State lives in a local file backend under the project unless a
// backend URL is given; secrets are encrypted with a passphrase.
package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/stacks"
)

// Options say which stack to run and where.
type Options struct {
	// ProjectDir holds Pulumi.yaml.
	ProjectDir string
	Stage      model.Stage
	// Stack is the stack's name (its Pulumi.<stack>.yaml); empty means the
	// stage's own stack. Another stack of a stage, such as server-staging,
	// sets nextflow:stage.
	Stack string
	// Locked says the caller holds the stack's lock (Lock) for the whole
	// operation, as a promotion does across its preview and up.
	Locked bool
	// ConfigFile is the stack config file; empty means Pulumi.<stage>.yaml
	// in ProjectDir.
	ConfigFile string
	// Backend is a Pulumi backend URL; empty means file://<ProjectDir>/.nfx/state.
	Backend string
	// OutDir receives the stage's files on up; empty means <ProjectDir>/out/<stage>.
	OutDir string
	Stdout io.Writer
	Stderr io.Writer
	// NoRefresh skips the provider-hosted stage's refresh (refresh), as
	// when a lost region's resources cannot be read.
	NoRefresh bool
}

// StateDir is the project-local directory of nfx's state and passphrase.
const StateDir = files.StateDir

func (o *Options) defaults() {
	if o.Stack == "" {
		o.Stack = string(o.Stage)
	}
	if o.Backend == "" {
		o.Backend = "file://" + files.BackendDir(o.ProjectDir)
	}
	if o.OutDir == "" {
		o.OutDir = filepath.Join(o.ProjectDir, "out", o.Stack)
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
}

// configFileOption is the file passed with --config-file, or "" for the default.
func (o *Options) configFileOption() string {
	if o.ConfigFile == "" {
		return ""
	}
	def := filepath.Join(o.ProjectDir, "Pulumi."+o.Stack+".yaml")
	if abs, err := filepath.Abs(o.ConfigFile); err == nil && abs == def {
		return ""
	}
	return o.ConfigFile
}

// refresh says whether a preview and an up read the stack's resources from
// their provider first (pulumi up --refresh). A provider-hosted stage's
// state drifts by design: the Cluster Autoscaler sets its node groups'
// desired sizes, and nfx failover promotes a database and moves names.
// Without a refresh, an up that changes a node group's minimum or maximum
// sends back the desired size stored at the last up (ignoreChanges keeps
// the stored input), which scales a grown group down or is refused below
// the new minimum; a refresh stores the live one. The Terraform bridge
// refreshes only inputs already present, so nothing else is added.
func (o *Options) refresh() bool {
	return model.Profiles[o.Stage].Hosting == model.Provider && !o.NoRefresh
}

func (o *Options) upOptions() []optup.Option {
	opts := []optup.Option{optup.ProgressStreams(o.Stdout), optup.ErrorProgressStreams(o.Stderr)}
	if f := o.configFileOption(); f != "" {
		opts = append(opts, optup.ConfigFile(f))
	}
	if o.refresh() {
		opts = append(opts, optup.Refresh())
	}
	return opts
}

func (o *Options) previewOptions() []optpreview.Option {
	opts := []optpreview.Option{optpreview.ProgressStreams(o.Stdout), optpreview.ErrorProgressStreams(o.Stderr), optpreview.Diff()}
	if f := o.configFileOption(); f != "" {
		opts = append(opts, optpreview.ConfigFile(f))
	}
	if o.refresh() {
		opts = append(opts, optpreview.Refresh())
	}
	return opts
}

// PulumiCLI finds the Pulumi CLI: `pulumi` on PATH, else the pinned build
// at <ProjectDir>/bin/pulumi. When neither exists it builds the pinned one
// from the Go module proxy with the project's scripts/build-pulumi.sh (a
// few minutes, once), reporting progress to progress. It returns the
// command for the Automation API and the binary's path.
func PulumiCLI(projectDir string, progress io.Writer) (auto.PulumiCommand, string, error) {
	root := ""
	bin, err := exec.LookPath("pulumi")
	if err != nil {
		bin = filepath.Join(projectDir, "bin", "pulumi")
		if _, err := os.Stat(bin); err != nil {
			script := filepath.Join(projectDir, "scripts", "build-pulumi.sh")
			if _, serr := os.Stat(script); serr != nil {
				return nil, "", fmt.Errorf("no Pulumi CLI: none on PATH and no %s; install Pulumi or build it with scripts/build-pulumi.sh", bin)
			}
			fmt.Fprintf(progress, "nfx: no Pulumi CLI on PATH; building the pinned one into %s (once, a few minutes)\n", bin)
			cmd := exec.Command("bash", script)
			cmd.Dir = projectDir
			cmd.Stdout, cmd.Stderr = progress, progress
			if err := cmd.Run(); err != nil {
				return nil, "", fmt.Errorf("building the Pulumi CLI with %s: %w", script, err)
			}
		}
		root = projectDir
	}
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root, SkipVersionCheck: true})
	return cmd, bin, err
}

// passphraseEnv returns the variables that give Pulumi the passphrase: the
// user's own if set, else a random one kept in <project>/.nfx/passphrase.
func passphraseEnv(projectDir string) (map[string]string, error) {
	if os.Getenv("PULUMI_CONFIG_PASSPHRASE") != "" || os.Getenv("PULUMI_CONFIG_PASSPHRASE_FILE") != "" {
		return map[string]string{}, nil
	}
	dir := filepath.Join(projectDir, StateDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	file := filepath.Join(dir, "passphrase")
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		if _, err := f.WriteString(model.GenerateSecret()); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return map[string]string{"PULUMI_CONFIG_PASSPHRASE_FILE": file}, nil
}

// Stack prepares the stack: backend, passphrase, workspace, and the secrets
// nfx generates when they are unset. It validates the configuration first,
// so a bad config fails before the engine starts.
// checkConfig reads and validates the stack's configuration, with the
// secrets nfx would supply (from the environment, or generated) counted as
// set; it writes nothing. It returns those secrets and the config file.
func checkConfig(o Options) (map[string]string, string, error) {
	o.defaults()
	cfgFile := o.ConfigFile
	if cfgFile == "" {
		cfgFile = filepath.Join(o.ProjectDir, "Pulumi."+o.Stack+".yaml")
	}
	raw, _, err := model.ReadStackFile(cfgFile)
	if err != nil {
		return nil, "", err
	}
	cfg, ds := model.Load(string(o.Stage), raw, model.LoadOptions{Stack: o.Stack})
	if ds.HasErrors() {
		return nil, "", &stacks.ConfigError{Diagnostics: ds, Stage: o.Stage, File: cfgFile}
	}
	// The secrets the stack needs and has not set: from the environment,
	// or generated. They count as set for the check below, and are stored
	// once the workspace is ready. A supplied value is checked for what
	// every place it goes can take; its error names the key, not the value.
	supplied := map[string]string{}
	var bad model.Diagnostics
	for _, r := range model.RequiredSecrets(cfg) {
		if raw.Values[r.Key] != "" {
			continue
		}
		key, _ := model.LookupKey(r.Key)
		switch v := os.Getenv(model.SecretEnv(r.Key)); {
		case v != "":
			if err := model.CheckSecretValue(cfg.Stage, r.Key, v); err != nil {
				problem, fix := "", model.SecretValueFix
				var se *model.SecretValueError
				if errors.As(err, &se) {
					problem, fix = ": "+se.Problem, se.Fix
				}
				bad.Errorf(model.FullKey(r.Key), fix, "%s holds a value nfx cannot use%s (the value is not shown)", model.SecretEnv(r.Key), problem)
				continue
			}
			supplied[r.Key] = v
		case key.Generated:
			supplied[r.Key] = model.GenerateSecret()
		}
	}
	if bad.HasErrors() {
		return nil, "", &stacks.ConfigError{Diagnostics: bad, Stage: o.Stage, File: cfgFile}
	}
	withSupplied := model.Raw{Values: map[string]string{}, Secret: map[string]bool{}, Complete: raw.Complete, Source: raw.Source}
	for k, v := range raw.Values {
		withSupplied.Values[k], withSupplied.Secret[k] = v, raw.Secret[k]
	}
	for k := range supplied {
		withSupplied.Values[k], withSupplied.Secret[k] = "[supplied]", true
	}
	if _, ds := model.Load(string(o.Stage), withSupplied, model.LoadOptions{RequireSecrets: true, Stack: o.Stack}); ds.HasErrors() {
		return nil, "", &stacks.ConfigError{Diagnostics: ds, Stage: o.Stage, File: cfgFile}
	}
	return supplied, cfgFile, nil
}

func Stack(ctx context.Context, o Options) (auto.Stack, error) {
	o.defaults()
	supplied, cfgFile, err := checkConfig(o)
	if err != nil {
		return auto.Stack{}, err
	}
	st, err := workspace(ctx, o)
	if err != nil {
		return auto.Stack{}, err
	}
	_, bin, _ := PulumiCLI(o.ProjectDir, io.Discard)
	env, err := engineEnv(o)
	if err != nil {
		return auto.Stack{}, err
	}
	// Store the supplied secrets once, encrypted in the stack config file,
	// as `pulumi config set --secret` does: the value goes through the
	// CLI's standard input, never its command line, where every local user
	// could read it. Values are never printed.
	for _, k := range model.SortedKeys(supplied) {
		if err := setSecret(ctx, bin, o, env, k, supplied[k]); err != nil {
			return auto.Stack{}, err
		}
		how := "generated"
		if os.Getenv(model.SecretEnv(k)) != "" {
			how = "took " + model.SecretEnv(k) + " as"
		}
		where := filepath.Base(cfgFile)
		if rel, err := filepath.Rel(o.ProjectDir, cfgFile); err == nil && o.configFileOption() != "" {
			where = rel
		}
		fmt.Fprintf(o.Stderr, "nfx: %s %s and stored it encrypted in %s\n", how, model.FullKey(k), where)
	}
	return st, nil
}

// engineEnv is what the engine runs with: the backend, the passphrase.
func engineEnv(o Options) (map[string]string, error) {
	env, err := passphraseEnv(o.ProjectDir)
	if err != nil {
		return nil, err
	}
	env["PULUMI_BACKEND_URL"] = o.Backend
	env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
	return env, nil
}

// workspace selects (or creates) the stack with the inline program.
func workspace(ctx context.Context, o Options) (auto.Stack, error) {
	cmd, _, err := PulumiCLI(o.ProjectDir, o.Stderr)
	if err != nil {
		return auto.Stack{}, err
	}
	if strings.HasPrefix(o.Backend, "file://") {
		if err := os.MkdirAll(strings.TrimPrefix(o.Backend, "file://"), 0o700); err != nil {
			return auto.Stack{}, err
		}
	}
	env, err := engineEnv(o)
	if err != nil {
		return auto.Stack{}, err
	}
	program := stacks.Program(stacks.Options{OutDir: o.OutDir})
	st, err := auto.UpsertStackInlineSource(ctx, o.Stack, model.Namespace, program,
		auto.WorkDir(o.ProjectDir), auto.Pulumi(cmd), auto.EnvVars(env), auto.SecretsProvider("passphrase"))
	if err != nil {
		return auto.Stack{}, fmt.Errorf("stack %s: %w", o.Stack, err)
	}
	return st, nil
}

// setSecret stores one secret key with `pulumi config set --secret`, the
// value on standard input.
func setSecret(ctx context.Context, bin string, o Options, env map[string]string, key, value string) error {
	args := []string{"config", "set", "--secret", "--stack", o.Stack, "--non-interactive"}
	if f := o.configFileOption(); f != "" {
		args = append(args, "--config-file", f)
	}
	cmd := exec.CommandContext(ctx, bin, append(args, model.FullKey(key))...)
	cmd.Dir = o.ProjectDir
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(value)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.ReplaceAll(out.String(), value, "[secret]")
		return fmt.Errorf("store %s: %v: %s", model.FullKey(key), err, strings.TrimSpace(msg))
	}
	return nil
}

// Changes counts the steps of a preview by kind, for example {"same": 8}.
type Changes map[string]int

// HasChanges reports whether anything other than "same" steps would run.
func (c Changes) HasChanges() bool {
	for op, n := range c {
		if op != string(apitype.OpSame) && n > 0 {
			return true
		}
	}
	return false
}

func (c Changes) String() string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, c[k]))
	}
	return strings.Join(parts, " ")
}

// Step is one step of a preview: its operation, resource and type.
type Step struct {
	Op   string `json:"op"`
	URN  string `json:"urn"`
	Type string `json:"type"`
}

// Preview shows what up would change.
func Preview(ctx context.Context, o Options) (Changes, error) {
	ch, _, err := PreviewSteps(ctx, o)
	return ch, err
}

// PreviewSteps shows what up would change, and each step it would take.
func PreviewSteps(ctx context.Context, o Options) (ch Changes, steps []Step, err error) {
	o.defaults()
	// A bad configuration fails before anything is written, the lock too.
	if _, _, err := checkConfig(o); err != nil {
		return nil, nil, err
	}
	unlock, err := o.lock()
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	defer func() { err = explain(o, err) }()
	st, err := Stack(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	events := make(chan events.EngineEvent)
	done := make(chan struct{})
	var collected []Step
	go func() {
		defer close(done)
		for e := range events {
			// A refresh's steps read the resources; they change none.
			if e.ResourcePreEvent != nil && e.ResourcePreEvent.Metadata.Op != apitype.OpRefresh {
				m := e.ResourcePreEvent.Metadata
				collected = append(collected, Step{Op: string(m.Op), URN: m.URN, Type: m.Type})
			}
		}
	}()
	res, err := st.Preview(ctx, append(o.previewOptions(), optpreview.EventStreams(events))...)
	if err != nil {
		// The event stream may never have started: do not wait for it.
		return nil, nil, fmt.Errorf("preview %s: %w", o.Stack, err)
	}
	<-done
	ch = Changes{}
	for op, n := range res.ChangeSummary {
		ch[string(op)] = n
	}
	return ch, collected, nil
}

// Up applies the stack and writes the stage's files.
func Up(ctx context.Context, o Options) (ch Changes, err error) {
	o.defaults()
	// A bad configuration fails before anything is written, the lock too.
	if _, _, err := checkConfig(o); err != nil {
		return nil, err
	}
	unlock, err := o.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	defer func() { err = explain(o, err) }()
	st, err := Stack(ctx, o)
	if err != nil {
		return nil, err
	}
	res, err := st.Up(ctx, o.upOptions()...)
	if err != nil {
		return nil, fmt.Errorf("up %s: %w", o.Stack, err)
	}
	ch = Changes{}
	if res.Summary.ResourceChanges != nil {
		for op, n := range *res.Summary.ResourceChanges {
			ch[op] = n
		}
	}
	return ch, nil
}

// Destroy deletes the stack's resources and the stage's written files.
func Destroy(ctx context.Context, o Options) (err error) {
	o.defaults()
	// A bad configuration fails before anything is written, the lock too.
	if _, _, err := checkConfig(o); err != nil {
		return err
	}
	unlock, err := o.lock()
	if err != nil {
		return err
	}
	defer unlock()
	defer func() { err = explain(o, err) }()
	st, err := Stack(ctx, o)
	if err != nil {
		return err
	}
	opts := []optdestroy.Option{optdestroy.ProgressStreams(o.Stdout), optdestroy.ErrorProgressStreams(o.Stderr)}
	if f := o.configFileOption(); f != "" {
		opts = append(opts, optdestroy.ConfigFile(f))
	}
	if _, err := st.Destroy(ctx, opts...); err != nil {
		return fmt.Errorf("destroy %s: %w", o.Stack, err)
	}
	// Only what nfx wrote goes; the user's files beside it stay.
	return files.RemoveOutput(o.OutDir)
}
