package model

import (
	"fmt"
	"strings"
	"testing"
)

// svc is a valid worker; tests change one field at a time.
func svc(fields string) string {
	base := `"name": "worker", "kind": "worker", "image": "ghcr.io/acme/worker:1.0.0", "health": {"command": "true"}`
	if fields != "" {
		base += ", " + fields
	}
	return "[{" + base + "}]"
}

func TestServicesLoad(t *testing.T) {
	values := map[string]string{
		"services": `[{"name": "worker", "kind": "worker", "image": "ghcr.io/acme/worker:1.0.0", "needs": ["db", "cache"],
			"env": {"DATABASE_URL": "${db.url}", "Q": "${cache.sentinels?}"}, "health": {"command": "true"}, "replicas": {"server": 4}},
			{"name": "admin", "kind": "web", "image": "ghcr.io/acme/admin:1.0.0", "port": 8080, "health": {"http": "/healthz"},
			 "public": {"hostname": "admin.example.com", "localPort": 3001}, "cpus": 0.5, "memory": "256MiB"}]`,
	}
	for _, st := range Stages {
		cfg, ds := Load(string(st), raw(values), LoadOptions{})
		if ds.HasErrors() {
			t.Fatalf("%s: %s", st, ds)
		}
		app := Build(cfg)
		w, ok := app.Part("worker")
		if !ok || w.Kind != KindWorker || w.Type != ServiceType || w.Key != "nextflow:services[0]" {
			t.Fatalf("%s: worker part %+v", st, w)
		}
		want := map[Stage]int{Laptop: 1, Server: 4, Cloud: 2}[st]
		if w.Replicas != want {
			t.Errorf("%s: worker runs %d replicas, want %d", st, w.Replicas, want)
		}
		a, _ := app.Part("admin")
		if a.Service.Sizing.CPUs != 0.5 || a.Service.Sizing.Memory != 256*MiB || a.Service.Sizing.MemoryRequest != DefaultServiceSizing.MemoryRequest {
			t.Errorf("%s: admin sizing %+v: set fields over the defaults", st, a.Service.Sizing)
		}
		if a.Public == nil || a.Public.Hostname != "admin.example.com" || a.Service.Health.HTTPPath != "/healthz" {
			t.Errorf("%s: admin %+v", st, a)
		}
		deps := fmt.Sprint(w.Service.DependsOn)
		if !strings.Contains(deps, "postgres") || !strings.Contains(deps, "redis") || strings.Contains(deps, "qdrant") {
			t.Errorf("%s: worker depends on %s", st, deps)
		}
	}
}

// Every bad service is refused with the item's key path, the bad value
// where it is not a secret, and a fix.
func TestServicesRejectBadConfig(t *testing.T) {
	cases := []struct {
		name   string
		values map[string]string
		stage  string
		path   string
		text   string
	}{
		{"not a list", map[string]string{"services": `{"name": "x"}`}, "laptop", "nextflow:services", "expected a list"},
		{"item not an object", map[string]string{"services": `["worker"]`}, "laptop", "nextflow:services[0]", "expected an object"},
		{"unknown field", map[string]string{"services": svc(`"imgae": "x"`)}, "laptop", "nextflow:services[0].imgae", `did you mean "image"`},
		{"unknown nested field", map[string]string{"services": `[{"name": "w", "kind": "worker", "image": "a:1", "health": {"comand": "true"}}]`}, "laptop", "nextflow:services[0].health.comand", `did you mean "command"`},
		{"wrong type", map[string]string{"services": svc(`"port": "80"`)}, "laptop", "nextflow:services[0].port", "expected an integer"},
		{"bad name", map[string]string{"services": `[{"name": "My_Worker", "kind": "worker", "image": "a:1", "health": {"command": "true"}}]`}, "laptop", "nextflow:services[0].name", `"My_Worker" is not a service name`},
		{"empty name", map[string]string{"services": `[{"kind": "worker", "image": "a:1", "health": {"command": "true"}}]`}, "laptop", "nextflow:services[0].name", `"" is not a service name`},
		{"built-in name", map[string]string{"services": `[{"name": "postgres", "kind": "worker", "image": "a:1", "health": {"command": "true"}}]`}, "laptop", "nextflow:services[0].name", "built-in part"},
		{"stage helper name", map[string]string{"services": `[{"name": "nginx", "kind": "worker", "image": "a:1", "health": {"command": "true"}}]`}, "laptop", "nextflow:services[0].name", "stage's own service"},
		{"a part's service name", map[string]string{"services": `[{"name": "postgres-primary", "kind": "worker", "image": "a:1", "health": {"command": "true"}}]`}, "laptop", "nextflow:services[0].name", "postgres part's services"},
		{"headless suffix", map[string]string{"services": `[{"name": "x-headless", "kind": "worker", "image": "a:1", "health": {"command": "true"}}]`}, "laptop", "nextflow:services[0].name", "headless"},
		{"too long a name", map[string]string{"services": `[{"name": "` + strings.Repeat("a", 40) + `", "kind": "worker", "image": "a:1", "health": {"command": "true"}}]`}, "laptop", "nextflow:services[0].name", "not a service name"},
		{"duplicate", map[string]string{"services": `[{"name": "w", "kind": "worker", "image": "a:1", "health": {"command": "true"}}, {"name": "w", "kind": "worker", "image": "a:1", "health": {"command": "true"}}]`}, "laptop", "nextflow:services[1].name", "services[0]"},
		{"unknown kind", map[string]string{"services": `[{"name": "w", "kind": "cron", "image": "a:1", "health": {"command": "true"}}]`}, "laptop", "nextflow:services[0].kind", `unknown service kind "cron"`},
		{"worker with a port", map[string]string{"services": svc(`"port": 8080`)}, "laptop", "nextflow:services[0].port", "worker takes no inbound traffic"},
		{"web without a port", map[string]string{"services": `[{"name": "w", "kind": "web", "image": "a:1", "health": {"http": "/"}}]`}, "laptop", "nextflow:services[0].port", "must be a TCP port, got 0"},
		{"unpinned image", map[string]string{"services": `[{"name": "w", "kind": "worker", "image": "acme/w", "health": {"command": "true"}}]`}, "laptop", "nextflow:services[0].image", "not pinned"},
		{"latest image", map[string]string{"services": `[{"name": "w", "kind": "worker", "image": "acme/w:latest", "health": {"command": "true"}}]`}, "laptop", "nextflow:services[0].image", "not pinned"},
		{"bad image", map[string]string{"services": `[{"name": "w", "kind": "worker", "image": "a b:1", "health": {"command": "true"}}]`}, "laptop", "nextflow:services[0].image", "not a valid image reference"},
		{"cpus zero", map[string]string{"services": svc(`"cpus": 0`)}, "laptop", "nextflow:services[0].cpus", "must be > 0"},
		{"request over limit", map[string]string{"services": svc(`"cpus": 1, "cpuRequest": 2`)}, "laptop", "nextflow:services[0].cpuRequest", "more CPU than the limit"},
		{"bad env name", map[string]string{"services": svc(`"env": {"1X": "a"}`)}, "laptop", "nextflow:services[0].env.1X", "not an environment variable name"},
		{"NUL in env", map[string]string{"services": svc(`"env": {"X": "a\u0000b"}`)}, "laptop", "nextflow:services[0].env.X", "NUL"},
		{"unknown endpoint", map[string]string{"services": svc(`"env": {"X": "${mongo.url}"}`)}, "laptop", "nextflow:services[0].env.X", `unknown endpoint "mongo"`},
		{"unknown attribute", map[string]string{"services": svc(`"needs": ["db"], "env": {"X": "${db.password}"}`)}, "laptop", "nextflow:services[0].env.X", `no attribute "password"`},
		{"optional without ?", map[string]string{"services": svc(`"needs": ["cache"], "env": {"X": "${cache.sentinels}"}`)}, "laptop", "nextflow:services[0].env.X", "${cache.sentinels?}"},
		{"unclosed reference", map[string]string{"services": svc(`"env": {"X": "${db.url"}`)}, "laptop", "nextflow:services[0].env.X", "not closed"},
		{"reference not needed", map[string]string{"services": svc(`"env": {"X": "${db.url}"}`)}, "laptop", "nextflow:services[0].env.X", "add db to services[0].needs"},
		{"public reference on a private service", map[string]string{"services": svc(`"env": {"X": "${public.url}"}`)}, "laptop", "nextflow:services[0].env.X", "has none"},
		{"unknown need", map[string]string{"services": svc(`"needs": ["s3"]`)}, "laptop", "nextflow:services[0].needs[0]", `unknown endpoint "s3"`},
		{"public is not a need", map[string]string{"services": svc(`"needs": ["public"]`)}, "laptop", "nextflow:services[0].needs[0]", `unknown endpoint "public"`},
		{"bad secret name", map[string]string{"services": svc(`"secrets": [{"name": "api-key"}]`)}, "laptop", "nextflow:services[0].secrets[0].name", "not a secret name"},
		{"bad secret env", map[string]string{"services": svc(`"secrets": [{"name": "apiKey", "env": "API KEY"}]`)}, "laptop", "nextflow:services[0].secrets[0].env", "not an environment variable name"},
		{"secret env also in env", map[string]string{"services": svc(`"secrets": [{"name": "apiKey", "env": "K"}], "env": {"K": "v"}`)}, "laptop", "nextflow:services[0].secrets[0].env", "also set in env"},
		{"no health check", map[string]string{"services": `[{"name": "w", "kind": "worker", "image": "a:1"}]`}, "laptop", "nextflow:services[0].health", "every service needs a health check"},
		{"two health checks", map[string]string{"services": svc(`"health": {"command": "true", "exec": ["true"]}`)}, "laptop", "nextflow:services[0].health", "more than one kind"},
		{"http check on a worker", map[string]string{"services": svc(`"health": {"http": "/healthz"}`)}, "laptop", "nextflow:services[0].health.http", "serves no HTTP"},
		{"http path with a quote", map[string]string{"services": `[{"name": "w", "kind": "web", "port": 80, "image": "a:1", "health": {"http": "/x';touch /tmp/p;'"}}]`}, "laptop", "nextflow:services[0].health.http", "not an HTTP path"},
		{"http path with a space", map[string]string{"services": `[{"name": "w", "kind": "web", "port": 80, "image": "a:1", "health": {"http": "/a b"}}]`}, "laptop", "nextflow:services[0].health.http", "not an HTTP path"},
		{"relative http path", map[string]string{"services": `[{"name": "w", "kind": "web", "port": 80, "image": "a:1", "health": {"http": "healthz"}}]`}, "laptop", "nextflow:services[0].health.http", "not an HTTP path"},
		{"interval too short", map[string]string{"services": svc(`"health": {"command": "true", "interval": "10ms"}`)}, "laptop", "nextflow:services[0].health.interval", "between 1s and 24h"},
		{"bad duration", map[string]string{"services": svc(`"health": {"command": "true", "interval": "often"}`)}, "laptop", "nextflow:services[0].health.interval", "expected a duration"},
		{"negative retries", map[string]string{"services": svc(`"health": {"command": "true", "retries": -1}`)}, "laptop", "nextflow:services[0].health.retries", "use 1 to 100"},
		{"replicas for an unknown stage", map[string]string{"services": svc(`"replicas": {"prod": 2}`)}, "laptop", "nextflow:services[0].replicas.prod", `unknown stage "prod"`},
		{"zero replicas", map[string]string{"services": svc(`"replicas": {"server": 0}`)}, "server", "nextflow:services[0].replicas.server", "between 1 and 1000"},
		{"laptop replicas", map[string]string{"services": svc(`"replicas": {"laptop": 2}`)}, "laptop", "nextflow:services[0].replicas.laptop", "one container per service"},
		{"gpu without memory", map[string]string{"services": svc(`"gpu": true`)}, "laptop", "nextflow:services[0].gpuMemory", "must be > 0 when gpu is true"},
		{"gpu memory without gpu", map[string]string{"services": svc(`"gpuMemory": "1GiB"`)}, "laptop", "nextflow:services[0].gpuMemory", "has no GPU"},
		{"gpu on a host without one", map[string]string{"services": svc(`"gpu": true, "gpuMemory": "1GiB"`), "host": `{"gpu": "", "gpuCount": 0, "vram": 0}`}, "laptop", "nextflow:services[0].gpu", "has no GPU"},
		{"gpu memory beside the model", map[string]string{"services": svc(`"gpu": true, "gpuMemory": "6GiB"`)}, "laptop", "nextflow:services", "do not fit one GPU"},
		{"no GPU left on the server", map[string]string{"services": svc(`"gpu": true, "gpuMemory": "2GiB"`)}, "server", "nextflow:services", "each need a GPU of their own"},
		{"public worker", map[string]string{"services": svc(`"public": {"hostname": "w.example.com", "localPort": 3001}`)}, "laptop", "nextflow:services[0].public", "only a web service"},
		{"bad public hostname", map[string]string{"services": `[{"name": "w", "kind": "web", "port": 80, "image": "a:1", "health": {"http": "/"}, "public": {"hostname": "not a host", "localPort": 3001}}]`}, "laptop", "nextflow:services[0].public.hostname", "not a valid hostname"},
		{"the CRM's hostname", map[string]string{"services": `[{"name": "w", "kind": "web", "port": 80, "image": "a:1", "health": {"http": "/"}, "public": {"hostname": "crm.nextflow.example", "localPort": 3001}}]`}, "laptop", "nextflow:services[0].public.hostname", "nextflow:tunnel.hostname"},
		{"the CRM's loopback port", map[string]string{"tunnel": `{"mode": "none"}`, "services": `[{"name": "w", "kind": "web", "port": 80, "image": "a:1", "health": {"http": "/"}, "public": {"hostname": "w.example.com", "localPort": 3000}}]`}, "laptop", "nextflow:services[0].public.localPort", "nextflow:tunnel.localPort"},
		{"services over the host", map[string]string{"services": svc(`"memory": "30GiB"`)}, "laptop", "nextflow:host.memory", "container memory limits add up"},
		{"plaintext app secret", map[string]string{"secrets": `{"apiKey": "hunter2"}`}, "laptop", "nextflow:secrets.apiKey", "stored in plaintext"},
		{"app secrets not an object", map[string]string{"secrets": `["hunter2"]`}, "laptop", "nextflow:secrets", "expected an object of secrets"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ds := Load(tc.stage, raw(tc.values), LoadOptions{})
			if !ds.HasErrors() {
				t.Fatalf("accepted: %s", tc.values)
			}
			msg := ds.Error()
			if !strings.Contains(msg, tc.path+":") || !strings.Contains(msg, tc.text) {
				t.Errorf("want %s: ...%s...; got:\n%s", tc.path, tc.text, msg)
			}
			if !strings.Contains(msg, "fix:") {
				t.Errorf("no fix in:\n%s", msg)
			}
			if strings.Contains(msg, "hunter2") {
				t.Errorf("a secret value reached a message:\n%s", msg)
			}
		})
	}
}

// Qdrant answers only with its API key: a service that needs the vector
// store reads it from QDRANT_API_KEY_FILE, as the CRM does, unless it uses
// that variable for something of its own; one that does not need it gets
// no key.
func TestServicesThatNeedQdrantGetItsKey(t *testing.T) {
	for _, tc := range []struct {
		name, fields string
		want         []SecretUse
	}{
		{"needs vector", `"needs": ["vector"]`, []SecretUse{{SecretQdrantAPIKey, QdrantKeyFileEnv}}},
		{"needs vector and a secret", `"needs": ["vector"], "secrets": [{"name": "apiKey", "env": "API_KEY_FILE"}]`,
			[]SecretUse{{AppSecretName("apiKey"), "API_KEY_FILE"}, {SecretQdrantAPIKey, QdrantKeyFileEnv}}},
		{"its own QDRANT_API_KEY_FILE", `"needs": ["vector"], "env": {"QDRANT_API_KEY_FILE": "/etc/key"}`, nil},
		{"its own secret there", `"needs": ["vector"], "secrets": [{"name": "q", "env": "QDRANT_API_KEY_FILE"}]`,
			[]SecretUse{{AppSecretName("q"), QdrantKeyFileEnv}}},
		{"no vector", `"needs": ["db"]`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ds := Load("cloud", raw(map[string]string{"services": svc(tc.fields)}), LoadOptions{})
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			w, _ := Build(cfg).Part("worker")
			if fmt.Sprint(w.Service.Secrets) != fmt.Sprint(tc.want) {
				t.Errorf("secrets %v, want %v", w.Service.Secrets, tc.want)
			}
		})
	}
}

// A service that mounts a secret needs its value before `up`.
func TestServiceSecretsRequired(t *testing.T) {
	values := map[string]string{"services": svc(`"secrets": [{"name": "apiKey", "env": "API_KEY_FILE"}]`)}
	r := raw(values)
	for _, k := range Keys {
		if k.Secret {
			r.Values[k.Name], r.Secret[k.Name] = "x", true
		}
	}
	_, ds := Load("laptop", r, LoadOptions{RequireSecrets: true})
	if msg := ds.Error(); !strings.Contains(msg, "nextflow:services[0].secrets[0]: refers to nextflow:secrets.apiKey, which has no value") ||
		!strings.Contains(msg, "--path 'nextflow:secrets.apiKey'") {
		t.Errorf("got:\n%s", msg)
	}
	r.Values["secrets"] = `{"apiKey": {"secure": "v1:abc"}}`
	if _, ds := Load("laptop", r, LoadOptions{RequireSecrets: true}); ds.HasErrors() {
		t.Errorf("a secure value is set: %s", ds)
	}
}

func TestParseValue(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                     "plain",
		"${db.url}":                 "<db.url>",
		"a ${db.host}:${db.port}/x": "a <db.host>:<db.port>/x",
		"$${literal}":               "${literal}",
		"$5 and $$ and $":           "$5 and $$ and $",
		"${cache.sentinels?}":       "<cache.sentinels>",
		"":                          "",
	} {
		got, keep, err := Expand(in, func(r Ref) (string, bool) { return "<" + string(r.Endpoint) + "." + r.Attr + ">", true })
		if err != nil || !keep || got != want {
			t.Errorf("Expand(%q) = %q, %v, %v; want %q", in, got, keep, err, want)
		}
	}
	if _, keep, err := Expand("x${cache.master?}", func(Ref) (string, bool) { return "", false }); keep || err != nil {
		t.Errorf("an optional reference the stage lacks must drop the variable: keep=%v err=%v", keep, err)
	}
	if _, _, err := Expand("${db.url}", func(Ref) (string, bool) { return "", false }); err == nil {
		t.Error("a required reference the stage cannot resolve must be an error")
	}
}
