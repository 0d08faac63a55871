package model

import (
	"strings"
	"testing"
)

func raw(values map[string]string, secret ...string) Raw {
	r := Raw{Values: values, Secret: map[string]bool{}, Complete: true}
	for _, s := range secret {
		r.Secret[s] = true
	}
	return r
}

func TestLoadDefaultsPerStage(t *testing.T) {
	cfg, ds := Load("laptop", raw(map[string]string{}), LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	if !cfg.UseGPU || cfg.AI.Model != DefaultGPUModel {
		t.Errorf("laptop with its RTX 4060: want GPU and %s, got gpu=%v model=%s", DefaultGPUModel, cfg.UseGPU, cfg.AI.Model)
	}
	if cfg.Host.Memory != 40*GiB || cfg.Host.Threads != 24 || cfg.Host.VRAM != 8*GiB {
		t.Errorf("laptop hardware is not the seed's: %+v", cfg.Host)
	}
	srv, ds := Load("server", raw(map[string]string{}), LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	if srv.CRM.Replicas != 3 || srv.AI.Replicas != 2 || srv.Host.Memory != 128*GiB {
		t.Errorf("server defaults are not the seed's: crm=%d ai=%d mem=%s", srv.CRM.Replicas, srv.AI.Replicas, srv.Host.Memory)
	}
}

func TestLoadOverlaysValuesOnDefaults(t *testing.T) {
	cfg, ds := Load("laptop", raw(map[string]string{
		"crm":    `{"cpus": 3, "memory": "3GiB"}`,
		"tunnel": `{"mode": "none", "localPort": 8080}`,
	}), LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	if cfg.CRM.CPUs != 3 || cfg.CRM.Memory != 3*GiB || cfg.CRM.Image != DefaultCRMImage || cfg.CRM.Port != 3000 {
		t.Errorf("overlay lost defaults or values: %+v", cfg.CRM)
	}
	if cfg.Tunnel.Mode != TunnelNone || cfg.Tunnel.LocalPort != 8080 || cfg.Tunnel.Hostname == "" {
		t.Errorf("tunnel overlay: %+v", cfg.Tunnel)
	}
}

func TestCPUFallbackWithoutGPU(t *testing.T) {
	for name, values := range map[string]map[string]string{
		"gpu off in config": {"ai": `{"gpu": false}`},
		"host without GPU":  {"host": `{"gpu": "", "gpuCount": 0, "vram": 0}`},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, ds := Load("laptop", raw(values), LoadOptions{})
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			if cfg.UseGPU || cfg.AI.Model != DefaultCPUModel {
				t.Errorf("want CPU with %s, got gpu=%v model=%s", DefaultCPUModel, cfg.UseGPU, cfg.AI.Model)
			}
		})
	}
	// Asking for a GPU the host lacks is a warning, and Ollama runs on CPU.
	cfg, ds := Load("laptop", raw(map[string]string{"ai": `{"gpu": true}`, "host": `{"gpu": "", "gpuCount": 0, "vram": 0}`}), LoadOptions{})
	if ds.HasErrors() || len(ds.Warnings()) != 1 || cfg.UseGPU {
		t.Errorf("want one warning and CPU, got %v gpu=%v", ds, cfg.UseGPU)
	}
}

// Each bad config is reported with its key path, the bad value and a fix.
func TestLoadRejectsBadConfig(t *testing.T) {
	cases := []struct {
		name    string
		stage   string
		values  map[string]string
		secret  []string
		opts    LoadOptions
		path    string
		mention []string
	}{
		{"unknown stage", "desktop", nil, nil, LoadOptions{}, "stage", []string{`"desktop"`, "laptop, server"}},
		{"stage mismatch", "laptop", map[string]string{"stage": "cloud"}, nil, LoadOptions{}, "nextflow:stage", []string{`"cloud"`}},
		{"replicas 0", "laptop", map[string]string{"crm": `{"replicas": 0}`}, nil, LoadOptions{}, "nextflow:crm.replicas", []string{"got 0", ">= 1"}},
		{"unpinned image", "laptop", map[string]string{"postgres": `{"image": "postgres"}`}, nil, LoadOptions{}, "nextflow:postgres.image", []string{`"postgres"`, "postgres:<version>"}},
		{"latest image", "laptop", map[string]string{"ai": `{"image": "ollama/ollama:latest"}`}, nil, LoadOptions{}, "nextflow:ai.image", []string{"not pinned"}},
		{"missing required secret", "laptop", nil, nil, LoadOptions{RequireSecrets: true}, "nextflow:tunnelToken", []string{"required", "NFX_TUNNEL_TOKEN"}},
		{"vLLM's gated model without a token", "cloud", map[string]string{"cloud": `{"aiEngine": "vllm", "publicAccessCidrs": ["198.51.100.7/32"]}`, "crm": `{"aiApi": "openai"}`}, nil, LoadOptions{RequireSecrets: true}, "nextflow:hfToken", []string{"required", "gated", "NFX_HF_TOKEN"}},
		{"wrong type", "laptop", map[string]string{"crm": `{"replicas": "three"}`}, nil, LoadOptions{}, "nextflow:crm.replicas", []string{"an integer", `"three"`}},
		{"object expected", "laptop", map[string]string{"redis": `7`}, nil, LoadOptions{}, "nextflow:redis", []string{"an object", "number 7"}},
		{"unknown field", "laptop", map[string]string{"crm": `{"replica": 1}`}, nil, LoadOptions{}, "nextflow:crm.replica", []string{`"replicas"`}},
		{"unknown key", "laptop", map[string]string{"crmm": `{}`}, nil, LoadOptions{}, "nextflow:crmm", []string{"unknown config key"}},
		{"model larger than VRAM", "laptop", map[string]string{"ai": `{"model": "llama3.1:70b"}`}, nil, LoadOptions{}, "nextflow:ai.model", []string{"50.2 GiB", "40.0 GiB weights", "1.9 GiB of KV cache for 3 more request slots", "8.0 GiB of VRAM", "llama3.1:8b"}},
		{"model larger than RAM on CPU", "laptop", map[string]string{"ai": `{"gpu": false, "model": "qwen2.5:32b"}`}, nil, LoadOptions{}, "nextflow:ai.model", []string{"24.2 GiB", "0.3 GiB for nomic-embed-text", "ai.memory is 16.0 GiB"}},
		{"too many request slots for the VRAM", "laptop", map[string]string{"ai": `{"parallel": 16}`}, nil, LoadOptions{}, "nextflow:ai.model", []string{"9.5 GiB", "3.8 GiB of KV cache for 15 more request slots", "lower ai.parallel"}},
		{"parallel out of range", "laptop", map[string]string{"ai": `{"parallel": 0}`}, nil, LoadOptions{}, "nextflow:ai.parallel", []string{"got 0", "1 to 64"}},
		{"unknown embedding model", "laptop", map[string]string{"ai": `{"embeddingModel": "bge-m9"}`}, nil, LoadOptions{}, "nextflow:ai.embeddingModel", []string{`"bge-m9"`, "nomic-embed-text"}},
		{"embed share above 1", "laptop", map[string]string{"capacity": `{"embedShare": 1.5}`}, nil, LoadOptions{}, "nextflow:capacity.embedShare", []string{"got 1.5", "between 0 and 1"}},
		{"negative users per second", "laptop", map[string]string{"capacity": `{"aiPerUser": -0.1}`}, nil, LoadOptions{}, "nextflow:capacity.aiPerUser", []string{"got -0.1", "0.001 or more"}},
		{"generation larger than a slot", "laptop", map[string]string{"capacity": `{"promptTokens": 2000, "outputTokens": 200}`}, nil, LoadOptions{}, "nextflow:capacity.promptTokens", []string{"2000 prompt and 200 output", "2048-token context"}},
		{"utilization of 1", "server", map[string]string{"capacity": `{"utilization": 1}`}, nil, LoadOptions{}, "nextflow:capacity.utilization", []string{"got 1", "0.8"}},
		{"unknown model", "laptop", map[string]string{"ai": `{"model": "mystery:13b"}`}, nil, LoadOptions{}, "nextflow:ai.model", []string{"mystery:13b", "modelSize"}},
		{"invalid tunnel mode", "laptop", map[string]string{"tunnel": `{"mode": "ngrok"}`}, nil, LoadOptions{}, "nextflow:tunnel.mode", []string{`"ngrok"`, "managed, token, none"}},
		{"managed without ids", "laptop", map[string]string{"tunnel": `{"mode": "managed"}`}, nil, LoadOptions{}, "nextflow:tunnel.accountId", []string{"account ID"}},
		{"plaintext secret", "laptop", map[string]string{"redisPassword": "hunter2"}, nil, LoadOptions{}, "nextflow:redisPassword", []string{"plaintext", "--secret"}},
		{"limits exceed host", "laptop", map[string]string{"ai": `{"memory": "30GiB"}`}, nil, LoadOptions{}, "nextflow:host.memory", []string{"43.8 GiB", "32.0 GiB available", "monitoring.enabled false"}},
		{"cpu exceeds host", "laptop", map[string]string{"ai": `{"cpus": 16}`}, nil, LoadOptions{}, "nextflow:host.threads", []string{"24.85 but", "20 available", "lower the parts' cpus by 4.85,"}},
		{"prometheus volume below the retention's need", "server", map[string]string{"monitoring": `{"diskGB": 1, "retentionDays": 90}`}, nil, LoadOptions{}, "nextflow:monitoring.diskGB", []string{"90 days of about 12200 series scraped every 30 s need about 7.4 GiB", "raise it to 8 or more"}},
		{"prometheus volume above the host's disk", "laptop", map[string]string{"host": `{"disk": "5GiB"}`}, nil, LoadOptions{}, "nextflow:host.disk", []string{"Prometheus's volume takes 10.0 GiB", "the host's disk is 5.0 GiB"}},
		{"negative prometheus volume", "cloud", map[string]string{"monitoring": `{"diskGB": -5}`}, nil, LoadOptions{}, "nextflow:monitoring.diskGB", []string{"got -5"}},
		{"request above limit", "laptop", map[string]string{"crm": `{"cpuRequest": 4}`}, nil, LoadOptions{}, "nextflow:crm.cpuRequest", []string{"4 > 2"}},
		{"laptop replicas", "laptop", map[string]string{"crm": `{"replicas": 3}`}, nil, LoadOptions{}, "nextflow:crm.replicas", []string{"server stage"}},
		{"bad size", "laptop", map[string]string{"qdrant": `{"memory": "lots"}`}, nil, LoadOptions{}, "nextflow:qdrant.memory", []string{"a size", `"lots"`}},
		{"margin above 1", "laptop", map[string]string{"business": `{"margin": 1.5}`}, nil, LoadOptions{}, "nextflow:business.margin", []string{"got 1.5", "between 0 and 1"}},
		{"margin NaN", "laptop", map[string]string{"business": `{"margin": "NaN"}`}, nil, LoadOptions{}, "nextflow:business.margin", []string{"a number"}},
		{"no revenue per user", "server", map[string]string{"business": `{"revenuePerUser": 0}`}, nil, LoadOptions{}, "nextflow:business.revenuePerUser", []string{"got 0", "500000"}},
		{"growth losing every user", "laptop", map[string]string{"business": `{"growth": -100}`}, nil, LoadOptions{}, "nextflow:business.growth", []string{"got -100", "above -100"}},
		{"negative revenue", "cloud", map[string]string{"business": `{"revenue": -5}`}, nil, LoadOptions{}, "nextflow:business.revenue", []string{"got -5", "0 or more"}},
		{"negative downtime cost", "laptop", map[string]string{"business": `{"downtimeHourCost": -1}`}, nil, LoadOptions{}, "nextflow:business.downtimeHourCost", []string{"got -1"}},
		{"revenue beyond range", "laptop", map[string]string{"business": `{"revenue": 1e300}`}, nil, LoadOptions{}, "nextflow:business.revenue", []string{"out of range"}},
		{"ten years of migration", "laptop", map[string]string{"business": `{"migrationWeeks": 1000}`}, nil, LoadOptions{}, "nextflow:business.migrationWeeks", []string{"got 1000", "3.2"}},
		{"unknown compliance framework", "server", map[string]string{"promotion": `{"compliance": ["soc2", "pci-dss"]}`}, nil, LoadOptions{}, "nextflow:promotion.compliance[1]", []string{`"pci-dss"`, "soc2, iso27001, gdpr"}},
		{"bad hostname", "laptop", map[string]string{"tunnel": `{"hostname": "not a host"}`}, nil, LoadOptions{}, "nextflow:tunnel.hostname", []string{"not a host"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			values := tc.values
			if values == nil {
				values = map[string]string{}
			}
			cfg, ds := Load(tc.stage, raw(values, tc.secret...), tc.opts)
			if cfg != nil || !ds.HasErrors() {
				t.Fatalf("want an error, got none (diagnostics %v)", ds)
			}
			var found *Diagnostic
			for i, d := range ds.Errors() {
				if d.Path == tc.path {
					found = &ds.Errors()[i]
				}
			}
			if found == nil {
				t.Fatalf("no error at %s; got:\n%s", tc.path, ds)
			}
			if found.Fix == "" {
				t.Errorf("no fix in %s", found)
			}
			for _, m := range tc.mention {
				if !strings.Contains(found.String(), m) {
					t.Errorf("%q is not in %q", m, found)
				}
			}
		})
	}
}

// A config with several problems reports them all, not only the first.
func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	_, ds := Load("laptop", raw(map[string]string{
		"crm":   `{"replicas": "x", "cpus": "y", "colour": "red"}`,
		"redis": `{"image": 5}`,
		"bogus": "1",
	}), LoadOptions{})
	want := []string{"nextflow:bogus", "nextflow:crm.colour", "nextflow:crm.cpus", "nextflow:crm.replicas", "nextflow:redis.image"}
	var got []string
	for _, d := range ds.Errors().Sorted() {
		got = append(got, d.Path)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("paths: got %v, want %v", got, want)
	}
}

func TestSecretValuesNeverInDiagnostics(t *testing.T) {
	_, ds := Load("laptop", raw(map[string]string{"postgresPassword": "s3ntinel-pw"}), LoadOptions{})
	if !ds.HasErrors() {
		t.Fatal("a plaintext secret must be rejected")
	}
	if strings.Contains(ds.Error(), "s3ntinel-pw") {
		t.Errorf("a diagnostic echoes the secret: %s", ds)
	}
}

func TestSecretEnv(t *testing.T) {
	for key, want := range map[string]string{"tunnelToken": "NFX_TUNNEL_TOKEN", "postgresPassword": "NFX_POSTGRES_PASSWORD"} {
		if got := SecretEnv(key); got != want {
			t.Errorf("SecretEnv(%s) = %s, want %s", key, got, want)
		}
	}
}

// What the data is and how it moves decide how the stores run: state is
// never evicted, a cache is; a stage migrated online writes logical WAL.
func TestDataAndMigrationShapeTheStores(t *testing.T) {
	for _, tc := range []struct {
		values        map[string]string
		policy, wal   string
		postgresFlags bool
	}{
		{map[string]string{}, "noeviction", "replica", false},
		{map[string]string{"redis": `{"data": "cache"}`}, "allkeys-lru", "replica", false},
		{map[string]string{"migration": `{"mode": "online"}`}, "noeviction", "logical", true},
	} {
		cfg, ds := Load("laptop", raw(tc.values), LoadOptions{})
		if ds.HasErrors() {
			t.Fatal(ds)
		}
		if got := cfg.Redis.EvictionPolicy(); got != tc.policy || !strings.Contains(redisStart(cfg), "--maxmemory-policy "+tc.policy) {
			t.Errorf("%v: eviction %s, want %s", tc.values, got, tc.policy)
		}
		cmd := postgresService(cfg).Command
		if cfg.WALLevel() != tc.wal || (len(cmd) > 0) != tc.postgresFlags || (tc.postgresFlags && strings.Join(cmd, " ") != "postgres -c wal_level=logical") {
			t.Errorf("%v: wal %s, command %q", tc.values, cfg.WALLevel(), cmd)
		}
	}
}

// nextflow:promotion.verify: what a promotion checks after its up. Hostile
// values are named by key, a URL with credentials never repeated; the
// hold defaults to 60 s and keeps it when other promotion keys are set.
func TestPromotionVerifyConfig(t *testing.T) {
	cfg, ds := Load("server", raw(map[string]string{"promotion": `{"approvals": 1}`}), LoadOptions{})
	if ds.HasErrors() || cfg.Promotion.Verify.Seconds != 60 || cfg.Promotion.Approvals != 1 {
		t.Fatalf("defaults: %v %+v", ds, cfg.Promotion)
	}
	many := strings.TrimSuffix(strings.Repeat(`"https://crm.example.com/healthz",`, 21), ",")
	for _, tc := range []struct {
		name, value, key, want string
	}{
		{"credentials", `{"health": ["https://admin:hunter2@crm.example.com/healthz"]}`, "nextflow:promotion.verify.health[0]", "holds credentials"},
		{"not http", `{"health": ["ftp://crm.example.com/"]}`, "nextflow:promotion.verify.health[0]", "is not an http(s) URL"},
		{"shell text", `{"health": ["https://x/$(rm -rf ~) ; echo"]}`, "nextflow:promotion.verify.health[0]", "is not an http(s) URL"},
		{"no host", `{"health": ["http:///healthz"]}`, "nextflow:promotion.verify.health[0]", "is not an http(s) URL"},
		{"empty", `{"health": [""]}`, "nextflow:promotion.verify.health[0]", "is not an http(s) URL"},
		{"huge", `{"health": ["https://x/` + strings.Repeat("a", 5000) + `"]}`, "nextflow:promotion.verify.health[0]", "at most 2048"},
		{"too many", `{"health": [` + many + `]}`, "nextflow:promotion.verify.health", "has 21"},
		{"prometheus credentials", `{"prometheus": "http://u:hunter2@10.0.0.5:9090"}`, "nextflow:promotion.verify.prometheus", "holds credentials"},
		{"negative hold", `{"seconds": -1}`, "nextflow:promotion.verify.seconds", "got -1"},
		{"a day's hold", `{"seconds": 86400}`, "nextflow:promotion.verify.seconds", "0 to 3600"},
		{"NaN hold", `{"seconds": "NaN"}`, "nextflow:promotion", ""},
		{"a fraction", `{"seconds": 1.5}`, "nextflow:promotion", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ds := Load("server", raw(map[string]string{"promotion": `{"verify": ` + tc.value + `}`}), LoadOptions{})
			if !ds.HasErrors() {
				t.Fatalf("accepted %s", tc.value)
			}
			msg := ds.Error()
			if !strings.Contains(msg, tc.key) || !strings.Contains(msg, tc.want) || strings.Contains(msg, "hunter2") {
				t.Errorf("%s", msg)
			}
		})
	}
}

// The stage a stack runs: a stage's own stack runs its stage (a different
// nextflow:stage is reported by Load, not obeyed); another stack its
// nextflow:stage.
func TestStageOfStack(t *testing.T) {
	for _, tc := range []struct {
		stack, key, want string
	}{
		{"laptop", "", "laptop"},
		{"laptop", "cloud", "laptop"},
		{"server-staging", "server", "server"},
		{"qa", "", "qa"},
	} {
		r := raw(map[string]string{})
		if tc.key != "" {
			r.Values["stage"] = tc.key
		}
		if got := StageOfStack(tc.stack, r); got != tc.want {
			t.Errorf("%s with nextflow:stage %q: %s, want %s", tc.stack, tc.key, got, tc.want)
		}
	}
	r := raw(map[string]string{})
	r.Values["stage"] = "cloud"
	if _, ds := Load(StageOfStack("laptop", r), r, LoadOptions{}); !ds.HasErrors() || !strings.Contains(ds.Error(), "nextflow:stage") {
		t.Errorf("the laptop stack with nextflow:stage cloud: %v", ds)
	}
}
