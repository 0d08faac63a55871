package model

import (
	"strings"
	"testing"
)

func TestParseStackFile(t *testing.T) {
	raw, others, err := ParseStackFile("Pulumi.laptop.yaml", []byte(`
config:
  nextflow:stage: laptop
  nextflow:crm:
    replicas: 1
    memory: 2GiB
  nextflow:redisPassword:
    secure: v1:abc:def
  cloudflare:apiToken:
    secure: v1:xyz
  aws:region: us-east-1
encryptionsalt: v1:salt
`))
	if err != nil {
		t.Fatal(err)
	}
	if raw.Values["stage"] != "laptop" || raw.Values["crm"] != `{"memory":"2GiB","replicas":1}` {
		t.Errorf("values: %v", raw.Values)
	}
	if !raw.Secret["redisPassword"] || raw.Values["redisPassword"] == "v1:abc:def" {
		t.Errorf("a secure value must be marked secret and not carried: %v", raw.Values["redisPassword"])
	}
	if others["aws:region"] != "us-east-1" || others["cloudflare:apiToken"] != "" {
		t.Errorf("other namespaces: %v", others)
	}
	cfg, ds := Load("laptop", raw, LoadOptions{})
	if ds.HasErrors() || !cfg.SecretsSet[KeyRedisPassword] || cfg.SecretsSet[KeyPostgresPassword] {
		t.Errorf("load: %v %v", ds, cfg.SecretsSet)
	}
}

func TestParseStackFileErrorsNameTheLine(t *testing.T) {
	for name, tc := range map[string]struct{ doc, want string }{
		"bad yaml":      {"config:\n  nextflow:crm: {replicas: 1\n", "not valid YAML"},
		"unknown top":   {"config: {}\nconfg: {}\n", `:2: unknown top-level key "confg"`},
		"config list":   {"config:\n  - a\n", ":2: `config:` must be a mapping"},
		"duplicate":     {"config:\n  nextflow:crm: {}\n  crm: {}\n", ":3: key crm is set twice (first on line 2)"},
		"not a mapping": {"- 1\n", ":1: expected a mapping"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := ParseStackFile("f.yaml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// FuzzStackFile feeds arbitrary stack files through reading and every
// loading phase: no input may panic, and loading is deterministic.
func FuzzStackFile(f *testing.F) {
	f.Add([]byte("config:\n  nextflow:crm:\n    replicas: 1\n"))
	f.Add([]byte("config:\n  nextflow:ai: {model: llama3.1:70b, gpu: true}\n  nextflow:tunnel: {mode: managed}\n"))
	f.Add([]byte("config:\n  nextflow:host: {memory: 1TiB, threads: -1}\n  nextflow:redisPassword: {secure: x}\n"))
	f.Add([]byte("config:\n  nextflow:crm: [1, 2]\n  nextflow:qdrant: {memory: 1e400}\n"))
	f.Add([]byte("config:\n  nextflow:cloud: {region: ap-southeast-1, gpuPool: false, publicAccessCidrs: [0.0.0.0/0]}\n  nextflow:costs: {tariff: -3}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		raw, _, err := ParseStackFile("fuzz.yaml", data)
		if err != nil {
			return
		}
		for _, st := range []string{"laptop", "server", "cloud"} {
			a, da := Load(st, raw, LoadOptions{RequireSecrets: true})
			b, db := Load(st, raw, LoadOptions{RequireSecrets: true})
			if da.Error() != db.Error() || (a == nil) != (b == nil) {
				t.Fatalf("loading is not deterministic:\n%s\n---\n%s", da, db)
			}
			if a != nil {
				Build(a) // a valid config always builds
			}
		}
	})
}
