package model

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ServiceConfig is one item of `nextflow:services`: a service of the
// user's own (a background worker, a scheduler, an internal admin app),
// rendered on every stage with the guarantees of the built-in parts.
type ServiceConfig struct {
	// Name is the service's name: a DNS label, unique among the parts.
	Name string `json:"name"`
	// Kind is web (it serves HTTP on Port) or worker (no inbound traffic).
	Kind string `json:"kind"`
	// Image is the image, pinned to a version tag or digest.
	Image string `json:"image"`
	// Command overrides the image's command.
	Command []string `json:"command"`
	// Env is the environment; values may refer to the endpoints the
	// service needs, such as ${db.url}.
	Env map[string]string `json:"env"`
	// Secrets are mounted as files from `nextflow:secrets`.
	Secrets []ServiceSecret `json:"secrets"`
	// Port is the HTTP port of a web service.
	Port int `json:"port"`
	// Health is the service's health check.
	Health HealthConfig `json:"health"`
	// Replicas per stage; a stage not listed runs its default.
	Replicas map[string]int `json:"replicas"`
	// Needs lists the endpoints the service connects to: db, db-read,
	// cache, vector, ai. It starts once they are healthy.
	Needs []string `json:"needs"`
	// GPU gives the service one GPU; GPUMemory is the VRAM it uses.
	GPU       bool  `json:"gpu"`
	GPUMemory Bytes `json:"gpuMemory"`
	// Public makes a web service reachable from outside.
	Public *PublicConfig `json:"public"`
	Sizing
}

// ServiceSecret mounts the secret `nextflow:secrets.<name>` as a file;
// Env, if set, names the variable that holds the file's path.
type ServiceSecret struct {
	Name string `json:"name"`
	Env  string `json:"env"`
}

// HealthConfig is a user service's health check: an HTTP path (web
// services), a shell command, or an exec form for images without a shell.
type HealthConfig struct {
	HTTP        string   `json:"http"`
	Command     string   `json:"command"`
	Exec        []string `json:"exec"`
	Interval    Duration `json:"interval"`
	Timeout     Duration `json:"timeout"`
	Retries     int      `json:"retries"`
	StartPeriod Duration `json:"startPeriod"`
}

// PublicConfig says where a web service is reachable from outside.
type PublicConfig struct {
	// Hostname is its public hostname (the tunnel, nginx and the cloud's
	// load balancer route it to the service).
	Hostname string `json:"hostname"`
	// LocalPort is the loopback port it is published on where the stage
	// has no tunnel.
	LocalPort int `json:"localPort"`
}

// User service kinds.
var serviceKinds = []string{string(KindWeb), string(KindWorker)}

var (
	dnsLabelRE   = lazy(`^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$`)
	envNameRE    = lazy(`^[A-Za-z_][A-Za-z0-9_]*$`)
	secretNameRE = lazy(`^[a-z][a-zA-Z0-9]{0,39}$`)
	// httpPathRE is an absolute path with an optional query, from the
	// characters RFC 3986 allows, without quotes, spaces or backslashes:
	// it is safe inside single quotes in a shell and in an HTTP probe.
	httpPathRE = boundedRE{lazy(`^/[A-Za-z0-9._~!$&()*+,;=:@%/?-]*$`), 1, 1001}
)

// Default health-check timing of a user's service.
const (
	defaultInterval    = 15 * time.Second
	defaultTimeout     = 5 * time.Second
	defaultRetries     = 5
	defaultStartPeriod = 60 * time.Second
)

// MaxServices bounds nextflow:services.
const MaxServices = 1000

// DefaultServiceSizing is a user service's sizing when it sets none.
var DefaultServiceSizing = Sizing{CPUs: 1, Memory: 512 * MiB, CPURequest: 0.1, MemoryRequest: 128 * MiB}

// AppSecretName is the container secret that holds `nextflow:secrets.<name>`.
func AppSecretName(name string) string {
	var b strings.Builder
	b.WriteString("app_")
	for _, r := range name {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// reservedNames are names a service cannot take: the built-in parts, the
// services the stages run for them, and the stages' own helpers.
func reservedNames() map[string]bool {
	out := map[string]bool{"nginx": true, "nas": true}
	// The monitoring's services.
	for _, n := range []string{"prometheus", "alertmanager", "node-exporter", "blackbox", "ollama-probe", "gpu-exporter", GrafanaService} {
		out[n] = true
	}
	for _, p := range BuiltinParts {
		out[p.Name] = true
	}
	for _, k := range BackupKinds {
		out["backup-"+k] = true
	}
	return out
}

// reservedPrefix reports whether a name falls in a built-in part's
// namespace (postgres-primary, ai-2, redis-sentinel).
func reservedPrefix(name string) string {
	for _, p := range BuiltinParts {
		if strings.HasPrefix(name, p.Name+"-") {
			return p.Name
		}
	}
	return ""
}

func checkServices(c *Config, ds *Diagnostics) {
	if len(c.Services) > MaxServices {
		ds.Errorf(FullKey("services"), fmt.Sprintf("keep it to %d services or fewer", MaxServices), "lists %d services", len(c.Services))
		return
	}
	reserved := reservedNames()
	names := map[string]int{}
	hosts := map[string]string{c.Tunnel.Hostname: FullKey("tunnel.hostname")}
	ports := map[int]string{}
	if c.Tunnel.Mode == TunnelNone {
		ports[c.Tunnel.LocalPort] = FullKey("tunnel.localPort")
	}
	if MonitoringRuns(c) && Profiles[c.Stage].Hosting == SelfHosted {
		// The laptop publishes Prometheus's and Grafana's UIs on loopback.
		ports[c.Monitoring.PrometheusPort] = FullKey("monitoring.prometheusPort")
		ports[c.Monitoring.GrafanaPort] = FullKey("monitoring.grafanaPort")
	}
	secretsByFile := map[string]string{}
	for i := range c.Services {
		s := &c.Services[i]
		k := func(f string) string { return fmt.Sprintf("%s[%d].%s", FullKey("services"), i, f) }
		switch {
		case !dnsLabelRE.MatchString(s.Name):
			ds.Errorf(k("name"), "use lower-case letters, digits and dashes, starting with a letter, at most 32 characters", "%q is not a service name", s.Name)
		case reserved[s.Name]:
			ds.Errorf(k("name"), "choose another name", "%q is the name of a built-in part or a stage's own service", s.Name)
		case reservedPrefix(s.Name) != "":
			ds.Errorf(k("name"), "choose a name that does not start with "+reservedPrefix(s.Name)+"-", "%q is in the names of the %s part's services", s.Name, reservedPrefix(s.Name))
		case strings.HasSuffix(s.Name, "-headless"):
			ds.Errorf(k("name"), "choose a name that does not end in -headless", "%q would clash with a cluster's headless service", s.Name)
		default:
			if j, dup := names[s.Name]; dup {
				ds.Errorf(k("name"), "give every service its own name", "%q is also the name of services[%d]", s.Name, j)
			}
			names[s.Name] = i
		}
		switch s.Kind {
		case string(KindWeb):
			checkPort(k("port"), s.Port, ds)
		case string(KindWorker):
			if s.Port != 0 {
				ds.Errorf(k("port"), "remove it, or make the service kind web", "a worker takes no inbound traffic, got port %d", s.Port)
			}
		default:
			ds.Errorf(k("kind"), "use one of "+strings.Join(serviceKinds, ", "), "unknown service kind %q", s.Kind)
		}
		checkImage(k("image"), s.Image, ds)
		checkSizing(fmt.Sprintf("%s[%d]", FullKey("services"), i), s.Sizing, ds)
		for j, a := range s.Command {
			if strings.ContainsRune(a, 0) {
				ds.Errorf(fmt.Sprintf("%s[%d]", k("command"), j), "remove the NUL character", "holds a NUL character")
			}
		}
		needs := map[Endpoint]bool{}
		for j, n := range s.Needs {
			e := Endpoint(n)
			if _, ok := EndpointAttrs[e]; !ok || e == EndpointPublic {
				ds.Errorf(fmt.Sprintf("%s[%d]", k("needs"), j), "use one of "+strings.Join(EndpointNames(), ", "), "unknown endpoint %q", n)
				continue
			}
			needs[e] = true
		}
		for _, name := range SortedKeys(s.Env) {
			path := k("env." + name)
			if !envNameRE.MatchString(name) {
				ds.Errorf(path, "use letters, digits and underscores, not starting with a digit", "%q is not an environment variable name", name)
				continue
			}
			v := s.Env[name]
			if strings.ContainsRune(v, 0) {
				ds.Errorf(path, "remove the NUL character", "holds a NUL character")
				continue
			}
			segs, err := ParseValue(v)
			if err != nil {
				ds.Errorf(path, "write references as ${endpoint.attr}, such as ${db.url}", "%v", err)
				continue
			}
			for _, sg := range segs {
				if sg.Ref == nil {
					continue
				}
				switch {
				case sg.Ref.Endpoint == EndpointPublic:
					if s.Public == nil {
						ds.Errorf(path, "make the service public, or remove the reference", "%s refers to the service's public address, but it has none", sg.Ref)
					}
				case !needs[sg.Ref.Endpoint]:
					ds.Errorf(path, fmt.Sprintf("add %s to services[%d].needs", sg.Ref.Endpoint, i), "%s refers to endpoint %s, which the service does not need", sg.Ref, sg.Ref.Endpoint)
				}
			}
		}
		for j, sec := range s.Secrets {
			path := fmt.Sprintf("%s[%d]", k("secrets"), j)
			if !secretNameRE.MatchString(sec.Name) {
				ds.Errorf(path+".name", "use a name of letters and digits starting with a lower-case letter, such as workerApiKey", "%q is not a secret name", sec.Name)
				continue
			}
			if prev, dup := secretsByFile[AppSecretName(sec.Name)]; dup && prev != sec.Name {
				ds.Errorf(path+".name", "give secrets names that differ in more than case", "%q and %q would share the file %s", sec.Name, prev, AppSecretName(sec.Name))
			}
			secretsByFile[AppSecretName(sec.Name)] = sec.Name
			if sec.Env != "" && !envNameRE.MatchString(sec.Env) {
				ds.Errorf(path+".env", "use letters, digits and underscores, such as API_KEY_FILE", "%q is not an environment variable name", sec.Env)
			}
			if sec.Env != "" && s.Env[sec.Env] != "" {
				ds.Errorf(path+".env", "remove one of the two", "%s is also set in env", sec.Env)
			}
		}
		checkHealth(k("health"), s, ds)
		for _, st := range SortedKeys(s.Replicas) {
			n := s.Replicas[st]
			if _, err := ParseStage(st); err != nil {
				ds.Errorf(k("replicas."+st), "use one of "+strings.Join(StageNames(), ", "), "unknown stage %q", st)
			} else if n < 1 || n > 1000 {
				ds.Errorf(k("replicas."+st), "run 1 to 1000 replicas", "must be between 1 and 1000, got %d", n)
			}
		}
		if s.GPU && s.GPUMemory <= 0 {
			ds.Errorf(k("gpuMemory"), "set the VRAM the service uses, such as 2GiB, so that it is counted beside Ollama's model", "must be > 0 when gpu is true, got %s", s.GPUMemory)
		}
		if !s.GPU && s.GPUMemory != 0 {
			ds.Errorf(k("gpuMemory"), "set gpu true, or remove gpuMemory", "is set but the service has no GPU")
		}
		if s.Public != nil {
			if s.Kind != string(KindWeb) {
				ds.Errorf(k("public"), "remove it, or make the service kind web", "only a web service can be reachable from outside")
			}
			if !hostnameRE.MatchString(s.Public.Hostname) {
				ds.Errorf(k("public.hostname"), "use a DNS name such as admin.example.com", "%q is not a valid hostname", s.Public.Hostname)
			} else if prev, dup := hosts[s.Public.Hostname]; dup {
				ds.Errorf(k("public.hostname"), "give every public service its own hostname", "%s is also %s", s.Public.Hostname, prev)
			} else {
				hosts[s.Public.Hostname] = k("public.hostname")
			}
			checkPort(k("public.localPort"), s.Public.LocalPort, ds)
			if prev, dup := ports[s.Public.LocalPort]; dup && c.Tunnel.Mode == TunnelNone {
				ds.Errorf(k("public.localPort"), "publish every service on its own loopback port", "port %d is also %s", s.Public.LocalPort, prev)
			} else {
				ports[s.Public.LocalPort] = k("public.localPort")
			}
		}
	}
}

func checkHealth(path string, s *ServiceConfig, ds *Diagnostics) {
	h := s.Health
	n := 0
	for _, set := range []bool{h.HTTP != "", h.Command != "", len(h.Exec) > 0} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		fix := "set health.command to a check that exits 0 when the service works, or health.exec for an image without a shell"
		if s.Kind == string(KindWeb) {
			fix = "set health.http to a path that answers 200, such as /healthz, or health.command"
		}
		ds.Errorf(path, fix, "every service needs a health check: it gates the start of what depends on it and the rolling updates")
	case n > 1:
		ds.Errorf(path, "keep one of http, command and exec", "sets more than one kind of check")
	}
	if h.HTTP != "" {
		if s.Kind != string(KindWeb) {
			ds.Errorf(path+".http", "use health.command for a worker", "a worker serves no HTTP")
		}
		if !httpPathRE.MatchString(h.HTTP) {
			ds.Errorf(path+".http", "use an absolute path of URL characters, without quotes, spaces or backslashes, such as /healthz", "%q is not an HTTP path", h.HTTP)
		}
	}
	if strings.ContainsRune(h.Command, 0) {
		ds.Errorf(path+".command", "remove the NUL character", "holds a NUL character")
	}
	for _, d := range []struct {
		name string
		v    Duration
		lo   time.Duration
	}{{"interval", h.Interval, time.Second}, {"timeout", h.Timeout, time.Second}, {"startPeriod", h.StartPeriod, 0}} {
		if d.v != 0 && (time.Duration(d.v) < d.lo || time.Duration(d.v) > 24*time.Hour) {
			ds.Errorf(path+"."+d.name, "use a duration between "+d.lo.String()+" and 24h", "got %s", d.v)
		}
	}
	if h.Retries < 0 || h.Retries > 100 {
		ds.Errorf(path+".retries", "use 1 to 100", "got %d", h.Retries)
	}
}

// serviceReplicas is a user service's replica count on stage st.
func serviceReplicas(s ServiceConfig, st Stage) int {
	if n, ok := s.Replicas[string(st)]; ok {
		return n
	}
	if p, ok := Profiles[st]; ok {
		return p.ServiceReplicas
	}
	return 1
}

// userPart builds the part of the user's i-th service.
func userPart(c *Config, i int, s ServiceConfig) Part {
	kind := Kind(s.Kind)
	p := Part{
		Name: s.Name, Kind: kind, Type: ServiceType, Key: fmt.Sprintf("%s[%d]", FullKey("services"), i),
		Replicas: serviceReplicas(s, c.Stage), Runs: true, GPUMemory: s.GPUMemory,
		Doc: fmt.Sprintf("the %s service %s", s.Kind, s.Name),
	}
	for _, n := range s.Needs {
		p.Needs = append(p.Needs, Endpoint(n))
	}
	if s.Public != nil {
		p.Public = &Public{Hostname: s.Public.Hostname, LocalPort: s.Public.LocalPort}
	}
	env := map[string]string{}
	for k, v := range s.Env {
		env[k] = v
	}
	svc := Service{
		Name: s.Name, Part: s.Name, Image: s.Image, Command: s.Command, Env: env,
		Sizing: s.Sizing, Replicas: p.Replicas,
		Networks: []string{NetBackend, NetFrontend},
	}
	if s.Port > 0 {
		svc.Ports = []Port{{Name: "http", Port: s.Port}}
	}
	taken := map[string]bool{}
	for k := range env {
		taken[k] = true
	}
	for _, sec := range s.Secrets {
		svc.Secrets = append(svc.Secrets, SecretUse{Secret: AppSecretName(sec.Name), FileEnv: sec.Env})
		taken[sec.Env] = true
	}
	// Qdrant answers only with its API key: a service that needs the
	// vector store gets its file, as the CRM does.
	if slices.Contains(s.Needs, string(EndpointVector)) && !taken[QdrantKeyFileEnv] {
		svc.Secrets = append(svc.Secrets, SecretUse{Secret: SecretQdrantAPIKey, FileEnv: QdrantKeyFileEnv})
	}
	// So does the AI, where it asks for a key.
	if slices.Contains(s.Needs, string(EndpointAI)) && AIAsksForKey(c) && !taken[AIKeyFileEnv] {
		svc.Secrets = append(svc.Secrets, SecretUse{Secret: SecretAIAPIKey, FileEnv: AIKeyFileEnv})
	}
	h := s.Health
	svc.Health = Health{
		Shell: h.Command, Exec: h.Exec,
		Interval: durationOr(h.Interval, defaultInterval), Timeout: durationOr(h.Timeout, defaultTimeout),
		Retries: h.Retries, StartPeriod: durationOr(h.StartPeriod, defaultStartPeriod),
	}
	if svc.Health.Retries == 0 {
		svc.Health.Retries = defaultRetries
	}
	if h.HTTP != "" {
		svc.Health.HTTPPath, svc.Health.Port = h.HTTP, s.Port
		svc.Health.Shell = HTTPCheck(s.Port, h.HTTP)
	}
	if s.GPU {
		svc.GPUs = 1
	}
	p.Service = svc
	return p
}

func durationOr(d Duration, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}

// HTTPCheck is the shell health check of an HTTP path on the container's
// own port. The path is single-quoted (validated to hold no quote), and
// either wget or curl answers: images carry one or the other.
func HTTPCheck(port int, path string) string {
	url := shellQuote("http://127.0.0.1:" + strconv.Itoa(port) + path)
	return fmt.Sprintf("wget -q -O /dev/null %[1]s || curl -fsS -o /dev/null %[1]s", url)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// AppSecrets lists the secret names the services mount, sorted.
func (c *Config) AppSecrets() []string {
	set := map[string]bool{}
	for _, s := range c.Services {
		for _, sec := range s.Secrets {
			set[sec.Name] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
