//go:build !nfxfront

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

// promoteStack is stackOf's stack, as package promote takes it.
func promoteStack(proj, name, flag string) (promote.Stack, error) {
	s, err := stackOf(proj, name, flag)
	return promote.Stack(s), err
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
	from, err := promoteStack(proj, o.From, "--from")
	if err != nil {
		return err
	}
	to, err := promoteStack(proj, o.To, "--to")
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
	s, err := promoteStack(proj, stack, "--stage")
	if err != nil {
		return "", promote.Stack{}, nil, err
	}
	b, err := openBackend(ctx, proj, backend)
	return proj, s, b, err
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func init() {
	register("promote", func(c *cobra.Command, _ []string, io IO, o *PromoteOptions) error {
		return runPromote(c.Context(), io, o)
	})
	register("ledger", runLedger)
	register("approve", runApprove)
	register("reject", runReject)
	register("rollback", runRollback)
	register("verify", runVerify)
}

func runLedger(c *cobra.Command, _ []string, io IO, o *ledgerOptions) error {
	b, err := projectBackend(c.Context(), io, o.backend)
	if err != nil {
		return err
	}
	defer b.Close()
	l := b.Ledger
	if o.seal {
		n, err := l.Seal()
		if err != nil {
			return fmt.Errorf("the ledger %s: %w", l.Name(), err)
		}
		fmt.Fprintf(io.Out, "nfx: the ledger's %d entries verify; its head now records entry %d\n", n, n)
		return nil
	}
	if o.verify {
		n, err := l.Verify()
		if err != nil {
			return fmt.Errorf("the ledger %s does not verify: %w", l.Name(), err)
		}
		fmt.Fprintf(io.Out, "nfx: the ledger's %d entries verify, up to the end its head records\n", n)
		return nil
	}
	// Listed as it is, so that a damaged ledger can be read; a
	// ledger that does not o.verify is then an error.
	es, err := l.RawEntries()
	if err != nil {
		return err
	}
	if o.asJSON {
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
}

func runApprove(c *cobra.Command, args []string, io IO, o *approveOptions) error {
	seq, err := strconv.Atoi(args[0])
	if err != nil || seq < 1 {
		return usagef("ENTRY: a ledger entry number, such as 12; got %q", args[0])
	}
	b, err := projectBackend(c.Context(), io, o.backend)
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
}

func runReject(c *cobra.Command, args []string, io IO, o *rejectOptions) error {
	if !digestRE.MatchString(args[0]) {
		return usagef("RELEASE: a release digest as nfx release show prints it (sha256: and 64 hex digits)")
	}
	if len(o.reason) > 1000 {
		return usagef("--reason: at most 1000 characters, got %d", len(o.reason))
	}
	b, err := projectBackend(c.Context(), io, o.backend)
	if err != nil {
		return err
	}
	defer b.Close()
	l := b.Ledger
	e, err := promote.Reject(l, args[0], actor(), o.reason, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "nfx: release %s rejected, ledger entry %d\n", args[0], e.Seq)
	return nil
}

func runRollback(c *cobra.Command, _ []string, io IO, o *rollbackOptions) error {
	if o.stack == "" {
		return usagef("--stage is required: the stack to roll back")
	}
	if o.deploy != "" && o.configOnly {
		return usagef("--deploy-cmd runs after the engine's up: not with --config-only")
	}
	proj, s, b, err := stackAndBackend(c.Context(), io, o.stack, o.backend)
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
	if !o.configOnly {
		eng = newPromoteEngine(c.Context(), io, proj, b.URL, o.deploy, s)
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
}

func runVerify(c *cobra.Command, _ []string, io IO, o *verifyOptions) error {
	if o.stack == "" || o.prom == "" {
		return usagef("--stage and --prometheus are required")
	}
	win, err := monitoring.ParseWindow(o.window)
	if err != nil {
		return usageError{err}
	}
	now := time.Now()
	if o.at != "" {
		if now, err = time.Parse(time.RFC3339, o.at); err != nil {
			return usagef("--at: not an RFC 3339 time (such as 2026-12-03T09:00:00+07:00)")
		}
		if now.After(time.Now()) {
			return usagef("--at: %s is in the future", o.at)
		}
	}
	_, s, b, err := stackAndBackend(c.Context(), io, o.stack, o.backend)
	if err != nil {
		return err
	}
	defer b.Close()
	l := b.Ledger
	ctx, cancel := context.WithTimeout(c.Context(), 30*time.Second)
	defer cancel()
	v, err := monitoring.Verify(ctx, &http.Client{Timeout: 20 * time.Second}, o.prom, win, now)
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
}
