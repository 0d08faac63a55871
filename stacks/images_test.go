package stacks_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	"mvdan.cc/sh/v3/syntax"

	"github.com/nextflow-crm/nfx/internal/imagefacts"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
)

// The containers of the cloud's rendered workloads, each against its
// image's facts as checkService reads a Compose service: the programs its
// command and exec probes run exist in the image, with the shell they run
// in, and every variable of a prefix the image owns is one its programs
// read. (Scripts the cloud mounts from ConfigMaps are checked by the
// stages that run them as files, not here.)
func TestCloudContainersMatchTheirImages(t *testing.T) {
	files, _ := filepath.Glob("cloud/testdata/*/k8s/*.yaml")
	checked, engines := 0, map[string]bool{}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var obj struct {
			Kind string
			Spec struct {
				Template    podTemplate
				JobTemplate struct {
					Spec struct{ Template podTemplate } `yaml:"spec"`
				} `yaml:"jobTemplate"`
			}
		}
		if err := yaml.Unmarshal(data, &obj); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		pod := obj.Spec.Template.Spec
		if obj.Kind == "CronJob" {
			pod = obj.Spec.JobTemplate.Spec.Template.Spec
		}
		for _, c := range append(pod.InitContainers, pod.Containers...) {
			im, ok := imagefacts.Known(c.Image)
			if !ok {
				continue // the user's own image
			}
			checked++
			engines[c.Image] = true
			svc := renderedService{Image: c.Image, Entrypoint: c.Command, Command: c.Args, Environment: map[string]any{}}
			for _, e := range c.Env {
				svc.Environment[e.Name] = e.Value
			}
			where := fmt.Sprintf("%s: container %s (%s)", path, c.Name, c.Image)
			checkService(t.Errorf, where, svc, im, false, func(string) string { return "" })
			for what, p := range map[string]*probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
				if p != nil && len(p.Exec.Command) > 0 {
					checkService(t.Errorf, where+" "+what+" probe", renderedService{Healthcheck: struct {
						Test []string `yaml:"test"`
					}{append([]string{"CMD"}, p.Exec.Command...)}}, im, false, func(string) string { return "" })
				}
			}
		}
	}
	if checked < 30 || !engines[model.DefaultVLLMImage] || !engines[model.DefaultOllamaImage] {
		t.Fatalf("checked only %d containers, of images %v", checked, engines)
	}
}

type probe struct {
	Exec struct{ Command []string } `yaml:"exec"`
}

type podTemplate struct {
	Spec struct {
		Containers     []k8sContainer `yaml:"containers"`
		InitContainers []k8sContainer `yaml:"initContainers"`
	} `yaml:"spec"`
}

type k8sContainer struct {
	Name, Image    string
	Command, Args  []string
	Env            []struct{ Name, Value string }
	StartupProbe   *probe `yaml:"startupProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
}

// A service of a rendered Compose or stack file, as far as the images'
// facts are concerned.
type renderedService struct {
	Image       string         `yaml:"image"`
	User        string         `yaml:"user"`
	Entrypoint  []string       `yaml:"entrypoint"`
	Command     []string       `yaml:"command"`
	Environment map[string]any `yaml:"environment"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Secrets []fileRef `yaml:"secrets"`
	Configs []fileRef `yaml:"configs"`
}

type fileRef struct {
	Source string  `yaml:"source"`
	Target string  `yaml:"target"`
	UID    string  `yaml:"uid"`
	GID    string  `yaml:"gid"`
	Mode   *string `yaml:"mode"`
}

type renderedFile struct {
	Services map[string]renderedService `yaml:"services"`
	Configs  map[string]struct {
		File    string `yaml:"file"`
		Content string `yaml:"content"`
	} `yaml:"configs"`
}

// shellBuiltins are the commands a POSIX shell or bash runs itself.
var shellBuiltins = map[string]bool{}

func init() {
	for _, b := range strings.Fields(`: . [ [[ alias bg break cd command continue declare echo eval exec exit export false fg getopts
		hash jobs kill let local mapfile printf pwd read readonly return set shift source test times trap true type ulimit umask
		unalias unset wait`) {
		shellBuiltins[b] = true
	}
}

// programsOf lists the programs a script run with args runs: the first
// word of every simple command reachable from its top level, and the
// program after exec, gosu USER, timeout N, env, nice and nohup. Functions
// the script defines are followed where called, a call built from a
// variable ("backup_$kind") reaching the functions of that prefix whose
// rest is one of args; builtins are not programs, and other words built
// from variables are skipped (they are checked where the variable's value
// is rendered).
func programsOf(script string, args ...string) ([]string, error) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(script), "")
	if err != nil {
		return nil, err
	}
	type uses struct {
		progs, calls map[string]bool
		prefixes     []string
	}
	funcs := map[string]*uses{}
	var funcBodies = map[string]syntax.Node{}
	top := []syntax.Node{}
	for _, st := range f.Stmts {
		if fd, ok := st.Cmd.(*syntax.FuncDecl); ok {
			funcBodies[fd.Name.Value] = fd.Body
			continue
		}
		top = append(top, st)
	}
	printer := syntax.NewPrinter()
	analyse := func(nodes ...syntax.Node) *uses {
		u := &uses{progs: map[string]bool{}, calls: map[string]bool{}}
		for _, node := range nodes {
			var walk func(n syntax.Node) bool
			walk = func(n syntax.Node) bool {
				// A case on the arguments follows the branches they
				// choose (and the default); without arguments, all.
				if cc, ok := n.(*syntax.CaseClause); ok && len(args) > 0 {
					for _, item := range cc.Items {
						take := false
						for _, pat := range item.Patterns {
							lit := pat.Lit()
							take = take || lit == "*" || slices.Contains(args, lit)
						}
						if take {
							for _, st := range item.Stmts {
								syntax.Walk(st, walk)
							}
						}
					}
					return false
				}
				call, ok := n.(*syntax.CallExpr)
				if !ok || len(call.Args) == 0 {
					return true
				}
				for i := 0; i < len(call.Args); {
					w := call.Args[i].Lit()
					switch {
					case w == "":
						var b strings.Builder
						_ = printer.Print(&b, call.Args[i])
						raw := strings.Trim(b.String(), `"`)
						if pre, _, ok := strings.Cut(raw, "$"); ok && pre != "" && strings.HasSuffix(pre, "_") {
							u.prefixes = append(u.prefixes, pre)
						}
						i = len(call.Args)
					case w == "exec" || w == "nohup" || w == "nice" || w == "env":
						i++
						for i < len(call.Args) && (strings.HasPrefix(call.Args[i].Lit(), "-") || strings.Contains(call.Args[i].Lit(), "=")) {
							i++
						}
						continue
					case w == "command":
						i = len(call.Args) // command -v NAME: a question, not a run
					case w == "gosu" || w == "timeout":
						u.progs[w] = true
						i += 2
						continue
					case funcBodies[w] != nil:
						u.calls[w] = true
						i = len(call.Args)
					case shellBuiltins[w]:
						i = len(call.Args)
					default:
						u.progs[w] = true
						i = len(call.Args)
					}
				}
				return true
			}
			syntax.Walk(node, walk)
		}
		return u
	}
	for name, body := range funcBodies {
		funcs[name] = analyse(body)
	}
	seen := map[string]bool{}
	done := map[string]bool{}
	var visit func(u *uses)
	visit = func(u *uses) {
		for p := range u.progs {
			seen[p] = true
		}
		next := []string{}
		for c := range u.calls {
			next = append(next, c)
		}
		for _, pre := range u.prefixes {
			for _, a := range args {
				if funcs[pre+a] != nil {
					next = append(next, pre+a)
				}
			}
		}
		for _, c := range next {
			if !done[c] {
				done[c] = true
				visit(funcs[c])
			}
		}
	}
	visit(analyse(top...))
	var out []string
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

func parseIdent(s string, def imagefacts.Ident) imagefacts.Ident {
	if s == "" {
		return def
	}
	u, g, _ := strings.Cut(s, ":")
	id := imagefacts.Ident{UID: atoi(u, 0), GID: def.GID}
	if g != "" {
		id.GID = atoi(g, 0)
	} else if u == "root" || u == "0" {
		id.GID = 0
	}
	return id
}

func atoi(s string, def int) int {
	if s == "root" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}

// permits reports whether a file of owner and mode can be read (or, with
// exec, run) by a user.
func permits(owner imagefacts.Ident, mode int, u imagefacts.Ident, exec bool) bool {
	bit := 4
	if exec {
		bit = 1
	}
	switch {
	case u.UID == 0:
		return !exec || mode&0o111 != 0
	case u.UID == owner.UID:
		return mode&(bit<<6) != 0
	case u.GID == owner.GID:
		return mode&(bit<<3) != 0
	}
	return mode&bit != 0
}

// Every pinned image has facts, so a tag changed without its facts fails.
func TestEveryPinnedImageHasFacts(t *testing.T) {
	pinned := []string{model.DefaultOllamaImage, model.DefaultPostgresImage, model.DefaultRedisImage, model.DefaultQdrantImage,
		model.DefaultTunnelImage, model.DefaultNginxImage, model.DefaultVLLMImage}
	for _, im := range monitoring.Images {
		pinned = append(pinned, im)
	}
	for _, ref := range pinned {
		im, ok := imagefacts.Known(ref)
		if !ok {
			t.Errorf("%s: no facts in internal/imagefacts: read the image's Dockerfile and entrypoint at this tag and add them", ref)
			continue
		}
		if im.Source == "" || len(im.Programs) == 0 {
			t.Errorf("%s: facts without a source or programs", ref)
		}
	}
}

// Every service of every rendered variant of the laptop and the server,
// against its image's facts: the programs its health check, entrypoint,
// command and mounted scripts run exist in the image, with the shell they
// run in; every secret and config it mounts is readable by the user the
// container runs as (and the one its entrypoint drops to), and executable
// where it is run; every variable of a prefix the image owns is one its
// programs read.
func TestRendersMatchTheirImages(t *testing.T) {
	var files []string
	for _, g := range []string{"laptop/testdata/*/compose.yaml", "server/testdata/*/stack.yaml"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) < 8 {
		t.Fatalf("the goldens: %v", files)
	}
	checked := 0
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var doc renderedFile
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		swarm := strings.HasSuffix(path, "stack.yaml")
		configText := func(name string) string {
			c := doc.Configs[name]
			if c.File != "" {
				// The variants' goldens keep their stack file only; their
				// scripts are the default render's.
				b, err := os.ReadFile(filepath.Join(filepath.Dir(path), c.File))
				if os.IsNotExist(err) {
					b, err = os.ReadFile(filepath.Join(filepath.Dir(path), "..", "default", c.File))
				}
				if err != nil {
					t.Fatalf("%s: config %s: %v", path, name, err)
				}
				return string(b)
			}
			// Compose escapes $ as $$ in inline content.
			return strings.ReplaceAll(c.Content, "$$", "$")
		}
		for _, name := range sortedKeys(doc.Services) {
			svc := doc.Services[name]
			im, ok := imagefacts.Known(svc.Image)
			if !ok {
				continue // the user's own image
			}
			checked++
			where := fmt.Sprintf("%s: service %s (%s)", path, name, svc.Image)
			checkService(t.Errorf, where, svc, im, swarm, configText)
		}
	}
	if checked < 40 {
		t.Fatalf("checked only %d services", checked)
	}
}

func checkService(errorf func(string, ...any), where string, svc renderedService, im imagefacts.Image, swarm bool, configText func(string) string) {
	user := parseIdent(svc.User, im.User)
	readers := []imagefacts.Ident{user}
	if im.Drops != nil && svc.User == "" {
		readers = append(readers, *im.Drops)
	}
	unescape := func(s string) string { return strings.ReplaceAll(s, "$$", "$") }
	runs := func(what, script string, args ...string) {
		progs, err := programsOf(unescape(script), args...)
		if err != nil {
			errorf("%s: %s does not parse: %v", where, what, err)
			return
		}
		for _, p := range progs {
			if !im.Has(p) {
				errorf("%s: %s runs %q, which the image does not have", where, what, p)
			}
		}
	}
	needShell := func(what, sh string) bool {
		if !im.Has(sh) {
			errorf("%s: %s needs %s, which the image does not have", where, what, sh)
			return false
		}
		return true
	}
	// Config targets, by path, for scripts run from them.
	targets := map[string]fileRef{}
	for _, c := range svc.Configs {
		targets[c.Target] = c
	}
	runFile := func(what string, argv []string) {
		if len(argv) == 0 {
			return
		}
		prog := unescape(argv[0])
		switch {
		case (prog == "/bin/sh" || prog == "sh" || prog == "/bin/bash" || prog == "bash") && len(argv) >= 3 && argv[1] == "-c":
			if needShell(what, prog) {
				runs(what, argv[2])
			}
		case prog == "/bin/sh" || prog == "sh" || prog == "/bin/bash" || prog == "bash":
			if needShell(what, prog) && len(argv) >= 2 {
				if c, ok := targets[argv[1]]; ok {
					runs(what+" "+argv[1], configText(c.Source), argv[2:]...)
				}
			}
		default:
			if c, ok := targets[prog]; ok {
				text := configText(c.Source)
				interp, _, _ := strings.Cut(strings.TrimPrefix(strings.SplitN(text, "\n", 2)[0], "#!"), " ")
				if !strings.HasPrefix(text, "#!") {
					errorf("%s: %s runs %s, which has no #! line", where, what, prog)
				} else if needShell(what+" "+prog, interp) {
					runs(what+" "+prog, text, argv[1:]...)
				}
				mode := 0o444
				if c.Mode != nil {
					m, _ := strconv.ParseInt(*c.Mode, 8, 32)
					mode = int(m)
				}
				if !permits(parseIdent(c.UID+":"+c.GID, imagefacts.Ident{}), mode, user, true) {
					errorf("%s: %s runs %s, which its user cannot execute (mode %o)", where, what, prog, mode)
				}
			} else if !im.Has(prog) {
				errorf("%s: %s runs %q, which the image does not have", where, what, prog)
			}
		}
	}
	if len(svc.Entrypoint) > 0 {
		runFile("the entrypoint", svc.Entrypoint)
	}
	// A script mounted executable is one an operator runs in the
	// container (docker exec), with the service's own role: the arguments
	// its entrypoint's script is given (backup-postgres restores postgres).
	var role []string
	if len(svc.Entrypoint) > 2 {
		role = svc.Entrypoint[2:]
	}
	for _, c := range svc.Configs {
		if c.Mode != nil {
			if m, _ := strconv.ParseInt(*c.Mode, 8, 32); m&0o111 != 0 && (len(svc.Entrypoint) < 2 || svc.Entrypoint[1] != c.Target) {
				runFile("the mounted script", append([]string{c.Target}, role...))
			}
		}
	}
	if h := svc.Healthcheck.Test; len(h) > 0 {
		switch h[0] {
		case "CMD-SHELL":
			if needShell("the health check", "/bin/sh") {
				runs("the health check", strings.Join(h[1:], " "))
			}
		case "CMD":
			runFile("the health check", h[1:])
		}
	}
	for _, ref := range append(append([]fileRef{}, svc.Secrets...), svc.Configs...) {
		owner := parseIdent(ref.UID+":"+ref.GID, imagefacts.Ident{})
		mode := 0o444
		if ref.Mode != nil {
			m, _ := strconv.ParseInt(*ref.Mode, 8, 32)
			mode = int(m)
		}
		if !swarm && (ref.UID != "" || ref.GID != "") {
			errorf("%s: %s sets uid/gid, which Compose ignores on file secrets and configs", where, ref.Source)
		}
		for _, u := range readers {
			if !permits(owner, mode, u, false) {
				errorf("%s: %s at %s (owner %d:%d, mode %o) is not readable by %d:%d", where, ref.Source, ref.Target, owner.UID, owner.GID, mode, u.UID, u.GID)
			}
		}
	}
	for _, k := range sortedKeys(svc.Environment) {
		if !im.KnowsEnv(k) {
			errorf("%s: %s is not a variable the image's programs read", where, k)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The check finds what it is for: each case is a service an image cannot
// run as rendered.
func TestImageCheckFindsMismatches(t *testing.T) {
	mode := func(m string) *string { return &m }
	scripts := map[string]string{
		"docker":  "#!/bin/bash\nset -e\npsql -c 'select 1'\ndocker service update x\n",
		"backup":  "#!/bin/bash\nbackup_postgres() { pg_dump x; }\nbackup_redis() { redis-cli --rdb x; }\nrun() { \"backup_$1\" f; }\ncase $1 in schedule) run \"$2\" ;; esac\n",
		"noshell": "echo hi\n",
	}
	cases := []struct {
		name, image string
		svc         renderedService
		swarm       bool
		want        string // "" for no finding
	}{
		{"a program the image lacks", "redis:7.4.2-bookworm",
			renderedService{Healthcheck: struct {
				Test []string `yaml:"test"`
			}{[]string{"CMD-SHELL", "wget -qO- http://127.0.0.1:6379/"}}}, true, `runs "wget"`},
		{"a shell where there is none", "cloudflare/cloudflared:2025.4.0",
			renderedService{Healthcheck: struct {
				Test []string `yaml:"test"`
			}{[]string{"CMD-SHELL", "cloudflared tunnel ready"}}}, true, "needs /bin/sh"},
		{"the program after exec", "prom/prometheus:v2.55.1",
			renderedService{Entrypoint: []string{"/bin/sh", "-c", "exec curl -s http://x"}}, true, `runs "curl"`},
		{"a secret its user cannot read", "prom/prometheus:v2.55.1",
			renderedService{Secrets: []fileRef{{Source: "s", Target: "/run/secrets/s", Mode: mode("0400")}}}, true, "not readable by 65534:65534"},
		{"a secret the entrypoint's user cannot read", "postgres:16.6-bookworm",
			renderedService{Secrets: []fileRef{{Source: "s", Target: "/run/secrets/s", Mode: mode("0440")}}}, true, "not readable by 999:999"},
		{"uid on a Compose file secret", "postgres:16.6-bookworm",
			renderedService{Secrets: []fileRef{{Source: "s", Target: "/run/secrets/s", UID: "999"}}}, false, "Compose ignores"},
		{"a mounted script calling docker", "postgres:16.6-bookworm",
			renderedService{Configs: []fileRef{{Source: "docker", Target: "/usr/local/bin/failover.sh", Mode: mode("0555")}}}, true, `runs "docker"`},
		{"a script run without its exec bit", "postgres:16.6-bookworm",
			renderedService{Entrypoint: []string{"/usr/local/bin/b.sh"}, Configs: []fileRef{{Source: "backup", Target: "/usr/local/bin/b.sh", Mode: mode("0444")}}}, true, "cannot execute"},
		{"a script with no #! run directly", "postgres:16.6-bookworm",
			renderedService{Entrypoint: []string{"/usr/local/bin/n.sh"}, Configs: []fileRef{{Source: "noshell", Target: "/usr/local/bin/n.sh", Mode: mode("0555")}}}, true, "no #! line"},
		{"a dispatched kind reaches its own function only", "postgres:16.6-bookworm",
			renderedService{Entrypoint: []string{"/bin/bash", "/b.sh", "schedule", "postgres"}, Configs: []fileRef{{Source: "backup", Target: "/b.sh"}}}, true, ""},
		{"the other kind's function reached", "postgres:16.6-bookworm",
			renderedService{Entrypoint: []string{"/bin/bash", "/b.sh", "schedule", "redis"}, Configs: []fileRef{{Source: "backup", Target: "/b.sh"}}}, true, `runs "redis-cli"`},
		{"a variable the program does not read", "ollama/ollama:0.5.7",
			renderedService{Environment: map[string]any{"OLLAMA_NUM_THREADS": "8"}}, false, "OLLAMA_NUM_THREADS is not a variable"},
		{"a variable of no owned prefix", "ollama/ollama:0.5.7",
			renderedService{Environment: map[string]any{"NFX_MODEL": "x"}}, false, ""},
		{"a user override that cannot read", "prom/alertmanager:v0.27.0",
			renderedService{User: "1000:1000", Configs: []fileRef{{Source: "c", Target: "/etc/c", UID: "0", GID: "0", Mode: mode("0440")}}}, true, "not readable by 1000:1000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			im, ok := imagefacts.Known(c.image)
			if !ok {
				t.Fatalf("no facts for %s", c.image)
			}
			var got []string
			checkService(func(f string, a ...any) { got = append(got, fmt.Sprintf(f, a...)) }, c.name, c.svc, im, c.swarm,
				func(name string) string { return scripts[name] })
			joined := strings.Join(got, "\n")
			switch {
			case c.want == "" && len(got) > 0:
				t.Errorf("unexpected findings:\n%s", joined)
			case c.want != "" && !strings.Contains(joined, c.want):
				t.Errorf("want a finding with %q, got:\n%s", c.want, joined)
			}
		})
	}
}

// The cloud's CronJobs run the backup scripts from a ConfigMap in a pinned
// image: every program they reach must be in it, run as the container's
// user.
func TestCloudJobsMatchTheirImages(t *testing.T) {
	read := func(path string) map[string]any {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(data, &obj); err != nil {
			t.Fatal(err)
		}
		return obj
	}
	dir := filepath.Join("cloud", "testdata", "default", "k8s")
	scripts := read(filepath.Join(dir, "configmap-backup-scripts.yaml"))["data"].(map[string]any)
	jobs, _ := filepath.Glob(filepath.Join(dir, "cronjob-*.yaml"))
	if len(jobs) < 2 {
		t.Fatalf("cron jobs: %v", jobs)
	}
	checked := 0
	for _, path := range jobs {
		pod := read(path)["spec"].(map[string]any)["jobTemplate"].(map[string]any)["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
		for _, c := range pod["containers"].([]any) {
			ctr := c.(map[string]any)
			im, ok := imagefacts.Known(ctr["image"].(string))
			if !ok {
				t.Fatalf("%s: no facts for %v", path, ctr["image"])
			}
			sc := ctr["securityContext"].(map[string]any)
			svc := renderedService{Image: ctr["image"].(string), User: fmt.Sprintf("%v:%v", sc["runAsUser"], sc["runAsGroup"])}
			for _, a := range ctr["command"].([]any) {
				svc.Entrypoint = append(svc.Entrypoint, a.(string))
			}
			mode := "0555"
			for name := range scripts {
				svc.Configs = append(svc.Configs, fileRef{Source: name, Target: "/scripts/" + name, Mode: &mode})
			}
			checked++
			checkService(t.Errorf, path, svc, im, false, func(name string) string { return scripts[name].(string) })
		}
	}
	if checked < 2 {
		t.Fatalf("checked %d containers", checked)
	}
}
