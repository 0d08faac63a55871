package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nextflow-crm/nfx/internal/engine"
	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
	"github.com/nextflow-crm/nfx/internal/promote"
	"github.com/nextflow-crm/nfx/internal/release"
)

// ExitBlocked is promote's exit code when a blocking gate fails: distinct
// from a failure to run, so that CI can tell "refused" from "broken".
const ExitBlocked = 3

// blockedError is a promotion a blocking gate refused.
type blockedError struct{ gates []string }

func (e blockedError) Error() string {
	return "promotion blocked by " + strings.Join(e.gates, ", ")
}

// blockedBy is the error of a promotion its blocking gates refused, nil
// when none did.
func blockedBy(res *promote.Result) error {
	if !res.Blocked {
		return nil
	}
	var names []string
	for _, g := range res.Gates {
		if g.Blocks() {
			names = append(names, g.Name)
		}
	}
	return blockedError{names}
}

var stackNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// stackOf is a stack of the project by name: its file Pulumi.<name>.yaml
// and its stage, the file's nextflow:stage or the name itself.
func stackOf(proj, name, flag string) (promote.Stack, error) {
	if !stackNameRE.MatchString(name) {
		return promote.Stack{}, usagef("%s: %q is not a stack name; use lower-case letters, digits and dashes, such as server or server-staging", flag, name)
	}
	file := filepath.Join(proj, "Pulumi."+name+".yaml")
	raw, _, err := model.ReadStackFile(file)
	if err != nil {
		return promote.Stack{}, usagef("%s %s: %v; fix: create the stack's Pulumi.%s.yaml", flag, name, err, name)
	}
	stage := model.StageOfStack(name, raw)
	st, err := model.ParseStage(stage)
	if err != nil {
		return promote.Stack{}, usagef("%s %s: its stage %q is not one of %s; fix: set nextflow:stage in Pulumi.%s.yaml", flag, name, stage, strings.Join(model.StageNames(), ", "), name)
	}
	return promote.Stack{Stage: st, File: file}, nil
}

// stateBackend is a state backend (its layout is engine.Backend's) and
// the ledger nfx keeps beside its stacks.
type stateBackend struct {
	*engine.Backend
	Ledger promote.Ledger
}

// openBackend opens the backend preview, up and destroy use: the flag,
// else the project's file backend (PULUMI_BACKEND_URL is not read).
func openBackend(ctx context.Context, proj, backend string) (*stateBackend, error) {
	b, err := engine.OpenBackend(ctx, proj, backend)
	if err != nil {
		return nil, usageError{err}
	}
	l := promote.Ledger{Path: b.LedgerFile(), Bucket: b.Bucket, Where: b.Where}
	return &stateBackend{Backend: b, Ledger: l}, nil
}

func actor() string {
	for _, v := range []string{"GITHUB_ACTOR", "GITLAB_USER_LOGIN", "USER"} {
		if s := os.Getenv(v); s != "" {
			return s
		}
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

// NewCmdRelease is `nfx release show`.
func NewCmdRelease(io IO) *cobra.Command {
	var f stackFlags
	var asJSON bool
	cmd := &cobra.Command{Use: "release", Short: "What a stack runs: its images and models, with a digest"}
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the stage's release and its digest",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			in, err := f.resolve(io, false)
			if err != nil {
				return err
			}
			r := release.Of(in.Config)
			if asJSON {
				return printJSON(io, r)
			}
			tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "release %s of %s\n", r.Digest, in.Stage)
			for _, s := range r.Services() {
				mark := ""
				if why := release.Mutable(r.Images[s]); why != "" {
					mark = "  (" + why + ": promotion refuses it)"
				}
				fmt.Fprintf(tw, "%s\t%s%s\n", s, r.Images[s], mark)
			}
			fmt.Fprintf(tw, "ai.model\t%s\nai.embeddingModel\t%s\n", r.Models["model"], r.Models["embeddingModel"])
			return tw.Flush()
		},
	}
	f.add(show)
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(show)
	return cmd
}

// PromoteOptions are nfx promote's flags.
type PromoteOptions struct {
	From, To string
	DryRun   bool
	JSON     bool
	Markdown bool
	Backend  string
	// At is the time the freeze windows are read at (RFC 3339), for
	// checking a planned promotion; default now.
	At string
	// Approved is the approved dry run's ledger entry.
	Approved int
	LiftHold bool
	// PreviewJSON is the target's `pulumi preview --json`; Migration a
	// verified migration journal covering a stateful replacement.
	PreviewJSON string
	Migration   string
	// ConfigOnly carries the release into the config file only: no
	// preview, up or verification by the engine.
	ConfigOnly bool
	DeployCmd  string
}

// NewCmdPromote is `nfx promote`.
func NewCmdPromote(io IO) *cobra.Command {
	o := &PromoteOptions{}
	cmd := &cobra.Command{
		Use:   "promote --from STACK --to STACK [--dry-run]",
		Short: "Carry the release of one stack into another through its gates",
		Long: `promote carries the release of --from (its images and models) into the config file of
--to, keeping the target's topology and sizing, after the target's gates
(nextflow:promotion): the config stays valid, the plan within policy, every image
pinned, the cost within budget, the capacity enough, no freeze window, and the real
engine's preview of the target loses no stateful resource. Then it writes the file,
runs the target's up and --deploy-cmd, and verifies the target
(nextflow:promotion.verify); a failed up or verification carries the earlier release
back and holds the target. A blocking gate exits 3 and leaves the target untouched.
Every run is an entry of the ledger.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runPromote(c.Context(), io, o) },
	}
	fl := cmd.Flags()
	fl.StringVar(&o.From, "from", "", "the stack whose release is promoted (required)")
	fl.StringVar(&o.To, "to", "", "the stack it is promoted into (required)")
	fl.BoolVar(&o.DryRun, "dry-run", false, "evaluate and record the gates, change nothing")
	fl.BoolVar(&o.JSON, "json", false, "print JSON")
	fl.BoolVar(&o.Markdown, "markdown", false, "print Markdown (a pull request's comment)")
	fl.StringVar(&o.Backend, "backend", "", "the file:// or s3:// state backend whose ledger records the promotion (default file://<project>/.nfx/state)")
	fl.StringVar(&o.At, "at", "", "with --dry-run: read the freeze windows at this RFC 3339 time, to check a planned promotion")
	fl.IntVar(&o.Approved, "approved", 0, "the ledger entry of the approved dry run this apply carries out")
	fl.BoolVar(&o.LiftHold, "lift-hold", false, "promote into a stack a rollback holds, ending the hold")
	fl.StringVar(&o.PreviewJSON, "preview-json", "", "the target's `pulumi preview --json`: its replace and delete steps on stateful resources block")
	fl.StringVar(&o.Migration, "migration", "", "a migration journal (.nfx/migrations/<from>-to-<to>.json) whose passed verification covers a stateful replacement")
	fl.BoolVar(&o.ConfigOnly, "config-only", false, "the offline gates and the config file only: no engine preview, up or verification (a pull request's review, which has no state or secrets)")
	fl.StringVar(&o.DeployCmd, "deploy-cmd", "", "the command that starts the target after its up, before the verification (the server: docker stack deploy -c out/server/stack.yaml nextflow)")
	return cmd
}

// promoteEngine runs a promotion's target with the real engine, under the
// lock the promotion holds.
type promoteEngine struct {
	ctx     context.Context
	project string
	opts    engine.Options
	deploy  string
	client  *http.Client
}

func newPromoteEngine(ctx context.Context, io IO, proj, backend, deploy string, s promote.Stack) *promoteEngine {
	return &promoteEngine{ctx: ctx, project: proj, deploy: deploy, client: &http.Client{Timeout: 10 * time.Second},
		opts: engine.Options{ProjectDir: proj, Stage: s.Stage, Stack: s.Name(), Backend: backend, Locked: true, Stderr: io.Err}}
}

// Preview previews the target with config written beside the state (its
// own config file untouched); the copy is removed afterwards.
func (p *promoteEngine) Preview(config []byte) ([]promote.Step, error) {
	dir := filepath.Join(p.project, engine.StateDir, "promote")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f := filepath.Join(dir, "Pulumi."+p.opts.Stack+".yaml")
	if err := os.WriteFile(f, config, 0o600); err != nil {
		return nil, err
	}
	defer os.Remove(f)
	// The engine writes a new stack's encryption salt into the stack's
	// own file when the preview creates the stack: a gate that blocks, or a
	// dry run, leaves that file byte for byte as it was (the up writes the
	// salt again).
	own := filepath.Join(p.project, "Pulumi."+p.opts.Stack+".yaml")
	if was, err := os.ReadFile(own); err == nil {
		defer func() {
			if now, err := os.ReadFile(own); err == nil && !bytes.Equal(now, was) {
				_ = files.WriteFile(own, was)
			}
		}()
	}
	o := p.opts
	o.ConfigFile = f
	_, steps, err := engine.PreviewSteps(p.ctx, o)
	if err != nil {
		return nil, err
	}
	out := make([]promote.Step, len(steps))
	for i, s := range steps {
		out[i] = promote.Step(s)
	}
	return out, nil
}

// Up applies the target's config file, then runs --deploy-cmd.
func (p *promoteEngine) Up() (string, error) {
	ch, err := engine.Up(p.ctx, p.opts)
	if err != nil {
		return "", err
	}
	if p.deploy == "" {
		return ch.String(), nil
	}
	if out, err := runDeployCmd(p.ctx, p.project, p.deploy); err != nil {
		return "", fmt.Errorf("--deploy-cmd: %v: %s", err, lastLines(out, 5))
	}
	return ch.String() + "; deployed", nil
}

// runDeployCmd runs a --deploy-cmd with bash in the project, and returns its
// output (stdout and stderr together).
func runDeployCmd(ctx context.Context, project, cmdline string) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", "-c", cmdline)
	cmd.Dir = project
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Verify checks the target's health URLs for their hold, then asks its
// Prometheus about the time since the up.
func (p *promoteEngine) Verify(v model.VerifyConfig) (promote.GateResult, bool) {
	g := promote.GateResult{Name: "verification", Level: model.GateBlocking, Figures: map[string]float64{}}
	if len(v.Health) == 0 && v.Prometheus == "" {
		g.Passed, g.Detail = true, "nothing declared to verify after up (nextflow:promotion.verify.health, .prometheus)"
		return g, false
	}
	start := time.Now()
	hold := time.Duration(v.Seconds) * time.Second
	var parts []string
	g.Passed = true
	if len(v.Health) > 0 {
		h := monitoring.CheckHealth(p.ctx, p.client, v.Health, hold, min(5*time.Second, max(hold/6, time.Second)))
		g.Passed, g.Figures["healthChecks"] = h.Passed, float64(h.Checks)
		parts = append(parts, h.Detail)
	}
	if len(v.Health) == 0 && hold > 0 {
		// Prometheus alone: its window is the time since the up.
		select {
		case <-p.ctx.Done():
		case <-time.After(hold):
		}
	}
	if g.Passed && v.Prometheus != "" {
		win := max(time.Since(start).Round(time.Minute), time.Minute)
		ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
		mv, err := monitoring.Verify(ctx, p.client, v.Prometheus, win, time.Now())
		cancel()
		switch {
		case err != nil:
			g.Passed = false
			parts = append(parts, "Prometheus: "+err.Error())
		default:
			g.Passed = mv.Passed
			g.Figures["crmUpMin"], g.Figures["pagesFiring"] = mv.CRMUpMin, float64(mv.PagesFiring)
			parts = append(parts, mv.Detail)
		}
	}
	end := time.Now()
	g.Figures["windowEnd"], g.Figures["windowSeconds"] = float64(end.Unix()), end.Sub(start).Round(time.Second).Seconds()
	g.Detail = strings.Join(parts, "; ")
	return g, true
}

// lastLines is the end of a command's output.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func runPromote(ctx context.Context, io IO, o *PromoteOptions) error {
	if o.From == "" || o.To == "" {
		return usagef("--from and --to are required: the stacks to promote from and into")
	}
	if o.From == o.To {
		return usagef("--from and --to are both %q: promote between two stacks", o.From)
	}
	if o.JSON && o.Markdown {
		return usagef("--json and --markdown: choose one")
	}
	if o.DeployCmd != "" && (o.ConfigOnly || o.DryRun) {
		return usagef("--deploy-cmd runs after the engine's up: not with --config-only or --dry-run")
	}
	now := time.Now()
	if o.At != "" && !o.DryRun {
		return usagef("--at reads the freeze windows at another time for a --dry-run only: an apply is judged now")
	}
	if o.At != "" {
		t, err := time.Parse(time.RFC3339, o.At)
		if err != nil {
			return usagef("--at: not an RFC 3339 time (such as 2026-12-03T09:00:00+07:00)")
		}
		now = t
	}
	proj, err := findProject(io.Dir)
	if err != nil {
		return err
	}
	from, err := stackOf(proj, o.From, "--from")
	if err != nil {
		return err
	}
	to, err := stackOf(proj, o.To, "--to")
	if err != nil {
		return err
	}
	if o.Approved < 0 {
		return usagef("--approved: a ledger entry number, got %d", o.Approved)
	}
	b, err := openBackend(ctx, proj, o.Backend)
	if err != nil {
		return err
	}
	defer b.Close()
	var preview []byte
	if o.PreviewJSON != "" {
		fi, err := os.Stat(o.PreviewJSON)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > 64<<20 {
			return usagef("--preview-json: %s is not a readable preview file of at most 64 MiB", o.PreviewJSON)
		}
		if preview, err = os.ReadFile(o.PreviewJSON); err != nil {
			return usagef("--preview-json: %v", err)
		}
	}
	unlock, err := engine.Lock(proj, to.Name())
	if err != nil {
		return err
	}
	defer unlock()
	popts := promote.Options{From: from, To: to, Now: now, DryRun: o.DryRun, Ledger: b.Ledger, Actor: actor(),
		Approved: o.Approved, LiftHold: o.LiftHold, ReadState: func() ([]byte, error) { return b.State(to.Name()) },
		PreviewJSON: preview, Migration: o.Migration, Rehearsals: rehearsalDir(proj, to.Stage)}
	if !o.ConfigOnly {
		popts.Engine = newPromoteEngine(ctx, io, proj, b.URL, o.DeployCmd, to)
	}
	res, err := promote.Run(popts)
	if err != nil {
		return err
	}
	switch {
	case o.JSON:
		if err := printJSON(io, res); err != nil {
			return err
		}
	case o.Markdown:
		writePromoteMarkdown(io, res)
	default:
		writePromoteText(io, res)
	}
	return blockedBy(res)
}

func verdict(g promote.GateResult) string {
	switch {
	case g.Passed:
		return "pass"
	case g.Level == model.GateAdvisory:
		return "warn"
	}
	return "BLOCK"
}

func writePromoteText(io IO, r *promote.Result) {
	fmt.Fprintf(io.Out, "promote %s -> %s: release %s, %d changes\n", r.From, r.To, r.Release.Digest, len(r.Changes))
	for _, c := range r.Changes {
		fmt.Fprintf(io.Out, "  %s: %s -> %s\n", c.Key, orNone(c.From), c.To)
	}
	tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	for _, g := range r.Gates {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", verdict(g), g.Name, g.Level, g.Detail)
	}
	tw.Flush()
	state := "applied"
	switch {
	case r.RolledBack:
		state = fmt.Sprintf("the verification failed: rolled back (ledger entry %d), automatic promotion of %s held", r.RollbackEntry, r.To)
	case r.Blocked:
		state = "blocked: the target is unchanged"
	case r.DryRun:
		state = "dry run: nothing changed"
	case !r.Applied && r.Up == "":
		state = "nothing to change"
	case !r.Applied:
		state = "the target's config already carried the release; up (" + r.Up + ")"
	case r.Up != "":
		state = "applied and up (" + r.Up + ")"
	}
	fmt.Fprintf(io.Out, "%s (ledger entry %d)\n", state, r.Entry)
}

func writePromoteMarkdown(io IO, r *promote.Result) {
	fmt.Fprintf(io.Out, "### Promotion %s → %s\n\nRelease `%s`, %d changes.\n\n", r.From, r.To, r.Release.Short(), len(r.Changes))
	if len(r.Changes) > 0 {
		fmt.Fprintf(io.Out, "| key | from | to |\n|---|---|---|\n")
		for _, c := range r.Changes {
			fmt.Fprintf(io.Out, "| `%s` | `%s` | `%s` |\n", c.Key, orNone(c.From), c.To)
		}
		fmt.Fprintln(io.Out)
	}
	fmt.Fprintf(io.Out, "| gate | level | result | detail |\n|---|---|---|---|\n")
	for _, g := range r.Gates {
		fmt.Fprintf(io.Out, "| %s | %s | %s | %s |\n", g.Name, g.Level, verdict(g), strings.ReplaceAll(g.Detail, "|", `\|`))
	}
	switch {
	case r.RolledBack:
		fmt.Fprintf(io.Out, "\n**Verification failed**: rolled back (ledger entry %d); automatic promotion of %s held.\n", r.RollbackEntry, r.To)
	case r.Blocked:
		fmt.Fprintf(io.Out, "\n**Blocked**: the target is unchanged (ledger entry %d).\n", r.Entry)
	case r.DryRun:
		fmt.Fprintf(io.Out, "\nAll blocking gates pass; dry run, nothing changed (ledger entry %d).\n", r.Entry)
	default:
		fmt.Fprintf(io.Out, "\nAll blocking gates pass; applied (ledger entry %d).\n", r.Entry)
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// NewCmdLedger is `nfx ledger`.
func NewCmdLedger(io IO) *cobra.Command {
	var backend string
	var verify, asJSON, seal bool
	cmd := &cobra.Command{
		Use:   "ledger [--verify | --seal]",
		Short: "List every promotion, refusal and rollback; --verify checks the hash chain",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			b, err := projectBackend(c.Context(), io, backend)
			if err != nil {
				return err
			}
			defer b.Close()
			l := b.Ledger
			if seal {
				n, err := l.Seal()
				if err != nil {
					return fmt.Errorf("the ledger %s: %w", l.Name(), err)
				}
				fmt.Fprintf(io.Out, "nfx: the ledger's %d entries verify; its head now records entry %d\n", n, n)
				return nil
			}
			if verify {
				n, err := l.Verify()
				if err != nil {
					return fmt.Errorf("the ledger %s does not verify: %w", l.Name(), err)
				}
				fmt.Fprintf(io.Out, "nfx: the ledger's %d entries verify, up to the end its head records\n", n)
				return nil
			}
			// Listed as it is, so that a damaged ledger can be read; a
			// ledger that does not verify is then an error.
			es, err := l.RawEntries()
			if err != nil {
				return err
			}
			if asJSON {
				if es == nil {
					es = []promote.Entry{}
				}
				err = printJSON(io, es)
			} else {
				tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "SEQ\tTIME\tKIND\tFROM\tTO\tRELEASE\tBY\n")
				for _, e := range es {
					rel := release.Short(e.Release)
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Format(time.RFC3339), e.Kind, e.From, e.To, rel, e.Actor)
				}
				err = tw.Flush()
			}
			if _, verr := l.Verify(); verr != nil && err == nil {
				err = fmt.Errorf("the ledger %s does not verify: %w", l.Name(), verr)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&backend, "backend", "", "the file:// or s3:// state backend whose ledger to read (default file://<project>/.nfx/state)")
	cmd.Flags().BoolVar(&verify, "verify", false, "check every entry's hash and link, and the end its head records")
	cmd.Flags().BoolVar(&seal, "seal", false, "give a ledger written before heads were kept its head, once its chain verifies")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// projectBackend is the project's backend (--backend) with its ledger.
func projectBackend(ctx context.Context, io IO, backend string) (*stateBackend, error) {
	proj, err := findProject(io.Dir)
	if err != nil {
		return nil, err
	}
	return openBackend(ctx, proj, backend)
}

// stackAndBackend resolves --stage's stack and the backend.
func stackAndBackend(ctx context.Context, io IO, stack, backend string) (string, promote.Stack, *stateBackend, error) {
	proj, err := findProject(io.Dir)
	if err != nil {
		return "", promote.Stack{}, nil, err
	}
	s, err := stackOf(proj, stack, "--stage")
	if err != nil {
		return "", promote.Stack{}, nil, err
	}
	b, err := openBackend(ctx, proj, backend)
	return proj, s, b, err
}

// NewCmdApprove is `nfx approve ENTRY`.
func NewCmdApprove(io IO) *cobra.Command {
	var backend string
	cmd := &cobra.Command{
		Use:   "approve ENTRY",
		Short: "Approve a promotion's dry run (by its ledger entry); its author cannot",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			seq, err := strconv.Atoi(args[0])
			if err != nil || seq < 1 {
				return usagef("ENTRY: a ledger entry number, such as 12; got %q", args[0])
			}
			b, err := projectBackend(c.Context(), io, backend)
			if err != nil {
				return err
			}
			defer b.Close()
			l := b.Ledger
			e, err := promote.Approve(l, seq, actor(), time.Now())
			if err != nil {
				return usageError{err}
			}
			fmt.Fprintf(io.Out, "nfx: %s approved dry run %d (%s to %s), ledger entry %d\n", e.Actor, seq, e.From, e.To, e.Seq)
			return nil
		},
	}
	cmd.Flags().StringVar(&backend, "backend", "", "the file:// or s3:// state backend whose ledger holds the dry run")
	return cmd
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// NewCmdReject is `nfx reject RELEASE`.
func NewCmdReject(io IO) *cobra.Command {
	var backend, reason string
	cmd := &cobra.Command{
		Use:   "reject RELEASE",
		Short: "Make a release (its sha256: digest) unpromotable",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if !digestRE.MatchString(args[0]) {
				return usagef("RELEASE: a release digest as nfx release show prints it (sha256: and 64 hex digits)")
			}
			if len(reason) > 1000 {
				return usagef("--reason: at most 1000 characters, got %d", len(reason))
			}
			b, err := projectBackend(c.Context(), io, backend)
			if err != nil {
				return err
			}
			defer b.Close()
			l := b.Ledger
			e, err := promote.Reject(l, args[0], actor(), reason, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(io.Out, "nfx: release %s rejected, ledger entry %d\n", args[0], e.Seq)
			return nil
		},
	}
	cmd.Flags().StringVar(&backend, "backend", "", "the file:// or s3:// state backend whose ledger records it")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the ledger")
	return cmd
}

// NewCmdRollback is `nfx rollback --stage STACK`.
func NewCmdRollback(io IO) *cobra.Command {
	var backend, stack, deploy string
	var configOnly bool
	cmd := &cobra.Command{
		Use:   "rollback --stage STACK",
		Short: "Go back to the release a stack last passed its verification with, and hold its automatic promotion",
		Long: `rollback carries back into the stack the newest release it ran before its current one
that passed a verification there and is not rejected (else the newest not rejected),
runs its up (and --deploy-cmd), and holds automatic promotion of the stack until a
promotion with --lift-hold.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if stack == "" {
				return usagef("--stage is required: the stack to roll back")
			}
			if deploy != "" && configOnly {
				return usagef("--deploy-cmd runs after the engine's up: not with --config-only")
			}
			proj, s, b, err := stackAndBackend(c.Context(), io, stack, backend)
			if err != nil {
				return err
			}
			defer b.Close()
			l := b.Ledger
			unlock, err := engine.Lock(proj, s.Name())
			if err != nil {
				return err
			}
			defer unlock()
			var eng promote.Engine
			if !configOnly {
				eng = newPromoteEngine(c.Context(), io, proj, b.URL, deploy, s)
			}
			res, err := promote.Rollback(l, s, actor(), time.Now(), eng)
			if err != nil {
				return err
			}
			fmt.Fprintf(io.Out, "nfx: %s rolled back to %s, %d changes; automatic promotion held (ledger entry %d)\n", s.Name(), res.From, len(res.Changes), res.Entry)
			for _, c := range res.Changes {
				fmt.Fprintf(io.Out, "  %s: %s -> %s\n", c.Key, orNone(c.From), c.To)
			}
			if res.Up != "" {
				fmt.Fprintf(io.Out, "  up: %s\n", res.Up)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&stack, "stage", "", "the stack to roll back (required)")
	cmd.Flags().StringVar(&backend, "backend", "", "the file:// or s3:// state backend whose ledger holds its releases")
	cmd.Flags().BoolVar(&configOnly, "config-only", false, "carry the release back into the config file only, without the engine's up")
	cmd.Flags().StringVar(&deploy, "deploy-cmd", "", "the command that starts the stack after its up")
	return cmd
}

// NewCmdVerify is `nfx verify`.
func NewCmdVerify(io IO) *cobra.Command {
	var backend, stack, prom, window, at string
	cmd := &cobra.Command{
		Use:   "verify --stage STACK --prometheus URL [--window 15m]",
		Short: "Check a stack's health from its Prometheus and record it for the soak gate",
		Long: `verify reads from the stack's Prometheus whether the CRM answered throughout the
window (nextflow:crm_up) and no page alert fires at its end, and records the result in
the ledger for the release the stack's config runs: the soak gate of a promotion from
this stack needs a passed verification. A failed verification exits 3.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if stack == "" || prom == "" {
				return usagef("--stage and --prometheus are required")
			}
			win, err := monitoring.ParseWindow(window)
			if err != nil {
				return usageError{err}
			}
			now := time.Now()
			if at != "" {
				if now, err = time.Parse(time.RFC3339, at); err != nil {
					return usagef("--at: not an RFC 3339 time (such as 2026-12-03T09:00:00+07:00)")
				}
				if now.After(time.Now()) {
					return usagef("--at: %s is in the future", at)
				}
			}
			_, s, b, err := stackAndBackend(c.Context(), io, stack, backend)
			if err != nil {
				return err
			}
			defer b.Close()
			l := b.Ledger
			ctx, cancel := context.WithTimeout(c.Context(), 30*time.Second)
			defer cancel()
			v, err := monitoring.Verify(ctx, &http.Client{Timeout: 20 * time.Second}, prom, win, now)
			if err != nil {
				return usageError{err}
			}
			e, err := promote.RecordVerification(l, s, v, now, win, actor())
			if err != nil {
				return err
			}
			fmt.Fprintf(io.Out, "nfx: %s, release %s: %s (ledger entry %d)\n", s.Name(), release.Short(e.Release), v.Detail, e.Seq)
			if !v.Passed {
				return blockedError{[]string{"verification"}}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&stack, "stage", "", "the stack to verify (required)")
	fl.StringVar(&prom, "prometheus", "", "the stack's Prometheus, such as http://127.0.0.1:9090 (required)")
	fl.StringVar(&window, "window", "15m", "how long the CRM must have answered")
	fl.StringVar(&at, "at", "", "the window's end, RFC 3339 (default now)")
	fl.StringVar(&backend, "backend", "", "the file:// or s3:// state backend whose ledger records it")
	return cmd
}
