package model

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/provider/aws"
)

// The versions' support is read on the day of the check: the same
// configuration is fine one day, a warning with its price later, refused
// once AWS stops creating it.
func TestVersionsAgainstTheirSupportWindows(t *testing.T) {
	cases := []struct {
		name, cloud, day string
		sev              Severity // -1: no diagnostic on the key
		key, mention     string
	}{
		{"1.35 in standard support", `{"kubernetesVersion": "1.35"}`, "2026-12-05", -1, "kubernetesVersion", ""},
		{"1.31 after its extended support (the issue's date)", `{"kubernetesVersion": "1.31"}`, "2026-12-05", Error, "kubernetesVersion", "left support on 2026-11-26"},
		{"1.31 in extended support, priced", `{"kubernetesVersion": "1.31"}`, "2026-06-01", Warning, "kubernetesVersion", "$0.60 per cluster-hour"},
		{"1.34 just past standard support", `{"kubernetesVersion": "1.34"}`, "2026-12-05", Warning, "kubernetesVersion", "extended support until 2027-12-02"},
		{"1.35 near its end of standard support", `{"kubernetesVersion": "1.35"}`, "2027-02-01", Warning, "kubernetesVersion", "leaves standard support on 2027-03-27"},
		{"a version EKS never ran", `{"kubernetesVersion": "1.99"}`, "2026-12-05", Error, "kubernetesVersion", "not one AWS creates"},
		{"not a version", `{"kubernetesVersion": "latest"}`, "2026-12-05", Error, "kubernetesVersion", "not a Kubernetes version"},
		{"RDS major alone", `{"dbEngineVersion": "16"}`, "2026-12-05", -1, "dbEngineVersion", ""},
		{"RDS 16.4 no longer created (the issue's case)", `{"dbEngineVersion": "16.4"}`, "2026-12-05", Error, "dbEngineVersion", "takes no new instances since 2026-05-01"},
		{"RDS 16.8, the last closed minor", `{"dbEngineVersion": "16.8"}`, "2026-12-05", Error, "dbEngineVersion", "16.9 or later"},
		{"RDS 16.4 before the closure", `{"dbEngineVersion": "16.4"}`, "2026-04-30", -1, "dbEngineVersion", ""},
		{"RDS 16.11", `{"dbEngineVersion": "16.11"}`, "2026-12-05", -1, "dbEngineVersion", ""},
		{"RDS 14 after its standard support", `{"dbEngineVersion": "14"}`, "2027-06-01", Warning, "dbEngineVersion", "extended support"},
		{"RDS 13, not in the table", `{"dbEngineVersion": "13"}`, "2026-12-05", Error, "dbEngineVersion", "not one AWS creates"},
		{"RDS version with junk", `{"dbEngineVersion": "16.4; drop"}`, "2026-12-05", Error, "dbEngineVersion", "not a PostgreSQL version"},
		{"ElastiCache 7.1", `{"cacheEngineVersion": "7.1"}`, "2026-12-05", -1, "cacheEngineVersion", ""},
		{"ElastiCache Redis 5", `{"cacheEngineVersion": "5.0.6"}`, "2026-12-05", Error, "cacheEngineVersion", "use one of 7.1, 7.0, 6.2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			today, _ := time.Parse("2006-01-02", tc.day)
			_, ds := Load("cloud", raw(map[string]string{"cloud": tc.cloud}), LoadOptions{Today: today})
			key := "nextflow:cloud." + tc.key
			var got *Diagnostic
			for i := range ds {
				if ds[i].Path != key || strings.Contains(ds[i].Problem, "Cluster Autoscaler") {
					continue
				}
				if got == nil || strings.Contains(ds[i].Problem+ds[i].Fix, tc.mention) {
					got = &ds[i]
				}
			}
			if tc.sev == -1 {
				if got != nil {
					t.Fatalf("unexpected: %s", got)
				}
				return
			}
			if got == nil || got.Severity != tc.sev || !strings.Contains(got.Problem+got.Fix, tc.mention) {
				t.Fatalf("want a %s on %s mentioning %q, got %v", tc.sev, key, tc.mention, ds)
			}
			if got.Severity == Error && !strings.Contains(got.Fix, "use ") && !strings.Contains(got.Fix, "pin ") {
				t.Errorf("the fix names no version to use: %s", got)
			}
		})
	}
}

// Every table's newest version is in standard support on the day the
// rules were read: the defaults never start a user on a version AWS is
// retiring.
func TestDefaultsAreInStandardSupport(t *testing.T) {
	today, err := time.Parse("2006-01-02", aws.VersionsDate)
	if err != nil {
		t.Fatal(err)
	}
	c := Defaults(Cloud)
	if s := aws.EKSSupport(c.Cloud.KubernetesVersion, today); s != aws.SupportStandard {
		t.Errorf("default Kubernetes %s: %s", c.Cloud.KubernetesVersion, s)
	}
	if w, ok := aws.Window(aws.RDSPostgresMajors, c.Cloud.DBEngineVersion); !ok || w.At(today) != aws.SupportStandard {
		t.Errorf("default PostgreSQL %s is not in standard support", c.Cloud.DBEngineVersion)
	}
	if newest := aws.NewestStandard(aws.EKSVersions, today).Version; newest != c.Cloud.KubernetesVersion {
		t.Errorf("the default Kubernetes version %s is not the newest in standard support (%s)", c.Cloud.KubernetesVersion, newest)
	}
}

func TestSecretRules(t *testing.T) {
	cases := []struct {
		name  string
		stage Stage
		key   string
		value string
		bad   string // "" when accepted; else a word of the error
	}{
		{"generated shape on the cloud's Redis", Cloud, KeyRedisPassword, "Abcdefghijklmnop0123456789", ""},
		{"underscore to ElastiCache (the issue's case)", Cloud, KeyRedisPassword, "abcdefgh_ijklmnopqrstu", "ElastiCache's AUTH token takes only"},
		{"underscore on the server's Redis", Server, KeyRedisPassword, "abcdefgh_ijklmnopqrstu", ""},
		{"ElastiCache under 16", Cloud, KeyRedisPassword, "abcdefgh12345", "16 to 128"},
		{"ElastiCache over 128", Cloud, KeyRedisPassword, strings.Repeat("a", 129), "16 to 128"},
		{"ElastiCache's specials nfx takes", Cloud, KeyRedisPassword, "abcdefgh12345678-!", ""},
		{"ElastiCache's specials nfx refuses", Cloud, KeyRedisPassword, "abcdefgh12345678#", "holds a character nfx cannot pass"},
		{"at-sign to RDS", Cloud, KeyPostgresPassword, "abcdefgh@12345678", "RDS's master password takes only"},
		{"slash to RDS", Cloud, KeyPostgresPassword, "abcdefgh/12345678", "RDS's master password"},
		{"RDS over 128", Cloud, KeyPostgresPassword, strings.Repeat("a", 129), "8 to 128"},
		{"at-sign on the laptop", Laptop, KeyPostgresPassword, "abcdefgh@12345678", ""},
		{"quote anywhere", Laptop, KeyPostgresPassword, `abcdefgh"12345678`, "cannot pass"},
		// cloudflared 2025.4.0's ParseToken: base64 of {"a","s","t"}.
		{"a tunnel token", Laptop, KeyTunnelToken, tunnelToken(`"a":"0123456789abcdef","s":"c2VjcmV0LXNlY3JldC1zZWNyZXQ=","t":"6ff42ae2-765d-4adf-8112-31c55c1551ef"`), ""},
		{"a tunnel token with an endpoint", Server, KeyTunnelToken, tunnelToken(`"a":"acct","s":"c2VjcmV0","t":"6ff42ae2765d4adf811231c55c1551ef","e":"fed"`), ""},
		{"a tunnel's name for its token", Laptop, KeyTunnelToken, "nextflow-laptop-tunnel", "not base64"},
		{"a tunnel's UUID for its token", Cloud, KeyTunnelToken, "6ff42ae2-765d-4adf-8112-31c55c1551ef", "not base64"},
		{"a token cut short", Laptop, KeyTunnelToken, tunnelToken(`"a":"acct","s":"c2VjcmV0","t":"6ff42ae2-765d-4adf-8112-31c55c1551ef"`)[:40], "JSON object"},
		{"base64 of something else", Laptop, KeyTunnelToken, "aGVsbG8gd29ybGQgaGVsbG8=", "JSON object"},
		{"a token without its account", Laptop, KeyTunnelToken, tunnelToken(`"s":"c2VjcmV0","t":"6ff42ae2-765d-4adf-8112-31c55c1551ef"`), `no account ("a")`},
		{"a token without its secret", Laptop, KeyTunnelToken, tunnelToken(`"a":"acct","t":"6ff42ae2-765d-4adf-8112-31c55c1551ef"`), `no tunnel secret ("s")`},
		{"a token whose secret is not base64", Laptop, KeyTunnelToken, tunnelToken(`"a":"acct","s":"not base64!","t":"6ff42ae2-765d-4adf-8112-31c55c1551ef"`), "JSON object"},
		{"a token whose tunnel id is no UUID", Laptop, KeyTunnelToken, tunnelToken(`"a":"acct","s":"c2VjcmV0","t":"nextflow"`), `tunnel id ("t") is not a UUID`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSecretValue(tc.stage, tc.key, tc.value)
			switch {
			case tc.bad == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
				t.Fatalf("want an error with %q, got %v", tc.bad, err)
			case err != nil && len(tc.value) > 3 && strings.Contains(err.Error(), tc.value):
				t.Fatalf("the error shows the value: %v", err)
			case err != nil && !strings.Contains(err.Error(), FullKey(tc.key)):
				t.Fatalf("the error names no key: %v", err)
			}
		})
	}
}

func tunnelToken(fields string) string {
	return base64.StdEncoding.EncodeToString([]byte("{" + fields + "}"))
}

// A generated secret satisfies every consumer on every stage: by
// construction (its alphabet is in every rule's) and by draw.
func TestGeneratedSecretsSatisfyEveryConsumer(t *testing.T) {
	keys := []string{KeyPostgresPassword, KeyRedisPassword, KeyReplicationPassword, KeyTunnelSecret}
	for _, r := range []SecretRule{ElastiCacheAuthRule, RDSMasterPasswordRule} {
		if why := r.Check(GeneratedSecretAlphabet[:16]); why != "" || GeneratedSecretLength > r.Max || GeneratedSecretLength < r.Min {
			t.Errorf("%s: the generator's alphabet or length breaks it: %s", r.Consumer, why)
		}
	}
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		v := GenerateSecret()
		if seen[v] {
			t.Fatal("a generated secret repeated")
		}
		seen[v] = true
		for _, st := range Stages {
			for _, k := range keys {
				if err := CheckSecretValue(st, k, v); err != nil {
					t.Fatalf("generated secret refused: %v", err)
				}
			}
		}
	}
}

// What a fresh account and the cloud's own shape refuse, found before `up`.
func TestCloudFirstUpBlockers(t *testing.T) {
	today, _ := time.Parse("2006-01-02", RulesDate)
	cases := []struct {
		name   string
		values map[string]string
		opts   LoadOptions
		sev    Severity
		key    string
		words  []string
	}{
		{"the GPU quota at the group's maximum", map[string]string{"cloud": `{"gpuMax": 6, "nodeMax": 10}`}, LoadOptions{Today: today}, Warning,
			"nextflow:cloud.gpuMax", []string{"24 vCPUs of G and VT", "L-DB2E81BA"}},
		{"the Standard quota at the general group's maximum", map[string]string{"cloud": `{"gpuMax": 6, "nodeMax": 10}`}, LoadOptions{Today: today}, Warning,
			"nextflow:cloud.nodeMax", []string{"40 vCPUs of Standard", "L-1216C47A"}},
		{"compute-optimised nodes count against the Standard quota too, without a GPU pool", map[string]string{"cloud": `{"nodeInstanceType": "c6i.2xlarge", "nodeMax": 10, "gpuPool": false}`}, LoadOptions{Today: today}, Warning,
			"nextflow:cloud.nodeMax", []string{"80 vCPUs of Standard", "10 x c6i.2xlarge"}},
		{"the standby cluster's GPU quota, in its region", map[string]string{"cloud": `{"gpuMax": 6, "standbyRegion": "ap-southeast-1", "standbyCluster": true}`}, LoadOptions{Today: today}, Warning,
			"nextflow:cloud.gpuMax", []string{"24 vCPUs of G and VT", "in ap-southeast-1", "--region ap-southeast-1"}},
		{"the load balancers' pools against the account's limit", map[string]string{
			"cloud":    `{"standbyRegion": "ap-southeast-1", "standbyCluster": true, "loadBalancer": true}`,
			"tunnel":   `{"mode": "managed", "hostname": "crm.nextflow.example", "accountId": "0123456789abcdef0123456789abcdef", "zoneId": "0123456789abcdef0123456789abcdef"}`,
			"services": `[{"name": "s1", "image": "nginx:1.27", "port": 8080, "public": {"hostname": "s1.nextflow.example"}, "health": {"http": "/healthz"}},{"name": "s2", "image": "nginx:1.27", "port": 8080, "public": {"hostname": "s2.nextflow.example"}, "health": {"http": "/healthz"}},{"name": "s3", "image": "nginx:1.27", "port": 8080, "public": {"hostname": "s3.nextflow.example"}, "health": {"http": "/healthz"}},{"name": "s4", "image": "nginx:1.27", "port": 8080, "public": {"hostname": "s4.nextflow.example"}, "health": {"http": "/healthz"}},{"name": "s5", "image": "nginx:1.27", "port": 8080, "public": {"hostname": "s5.nextflow.example"}, "health": {"http": "/healthz"}}]`}, LoadOptions{Today: today}, Warning,
			"nextflow:cloud.loadBalancer", []string{"6 public hostnames take 12 pools", "of the account's 20"}},
		{"no tunnel on the cloud", map[string]string{"tunnel": `{"mode": "none"}`}, LoadOptions{Today: today}, Error,
			"nextflow:tunnel.mode", []string{"no other entry"}},
		{"a private API for up", map[string]string{"cloud": `{"publicAccessCidrs": []}`}, LoadOptions{Today: today, RequireSecrets: true}, Error,
			"nextflow:cloud.publicAccessCidrs", []string{"could not reach the cluster"}},
		{"a private API offline", map[string]string{"cloud": `{"publicAccessCidrs": []}`}, LoadOptions{Today: today}, Warning,
			"nextflow:cloud.publicAccessCidrs", []string{"could not reach the cluster"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ds := Load("cloud", raw(tc.values), tc.opts)
			for _, d := range ds {
				if d.Path != tc.key || d.Severity != tc.sev {
					continue
				}
				all := true
				for _, w := range tc.words {
					all = all && strings.Contains(d.Problem+d.Fix, w)
				}
				if all {
					return
				}
			}
			t.Fatalf("want a %s on %s with %v, got %v", tc.sev, tc.key, tc.words, ds)
		})
	}
	// Every minor EKS supports has an autoscaler of its own: no warning
	// that the chart's would run.
	for _, v := range []string{"1.32", "1.33", "1.34", "1.35"} {
		_, ds := Load("cloud", raw(map[string]string{"cloud": `{"kubernetesVersion": "` + v + `"}`}), LoadOptions{Today: today})
		for _, d := range ds {
			if strings.Contains(d.Problem, "Cluster Autoscaler") {
				t.Errorf("%s: %s", v, d.Problem)
			}
		}
	}
}

// A migration's target renders its cloudflared stopped until the cutover.
func TestTunnelStandby(t *testing.T) {
	for _, st := range []string{"server", "cloud"} {
		cfg, ds := Load(st, raw(map[string]string{"tunnel": `{"standby": true}`}), LoadOptions{})
		if ds.HasErrors() {
			t.Fatal(ds)
		}
		app := Build(cfg)
		ins := app.InstancesOf(PartTunnel)
		if len(ins) != 1 || ins[0].Replicas != 0 {
			t.Errorf("%s: the tunnel on standby runs %+v", st, ins)
		}
		warned := false
		for _, d := range ds.Warnings() {
			warned = warned || d.Path == "nextflow:tunnel.standby"
		}
		if !warned {
			t.Errorf("%s: no warning that cloudflared stays stopped", st)
		}
		cfg, _ = Load(st, raw(nil), LoadOptions{})
		if ins := Build(cfg).InstancesOf(PartTunnel); len(ins) != 1 || ins[0].Replicas != Profiles[cfg.Stage].Topology.EdgeReplicas {
			t.Errorf("%s: the tunnel runs %+v", st, ins)
		}
	}
	if _, ds := Load("laptop", raw(map[string]string{"tunnel": `{"standby": true}`}), LoadOptions{}); !ds.HasErrors() {
		t.Error("the laptop took tunnel.standby, but it is never a migration's target")
	}
}

func TestTunnelImageHasTokenFile(t *testing.T) {
	for ref, ok := range map[string]bool{
		"cloudflare/cloudflared:2025.4.0": true, "cloudflare/cloudflared:2026.1.2": true,
		"cloudflare/cloudflared:2025.2.1": false, "cloudflare/cloudflared:2024.12.2": false,
		"cloudflare/cloudflared@sha256:" + strings.Repeat("a", 64): true,
	} {
		_, ds := Load("laptop", raw(map[string]string{"tunnel": `{"image": "` + ref + `"}`}), LoadOptions{})
		refused := false
		for _, d := range ds.Errors() {
			refused = refused || d.Path == "nextflow:tunnel.image"
		}
		if refused == ok {
			t.Errorf("%s: refused %v, want %v (%v)", ref, refused, !ok, ds)
		}
	}
}

func TestTodayFromTheEnvironment(t *testing.T) {
	t.Setenv(TodayEnv, "2027-06-01")
	cfg, ds := Load("cloud", raw(nil), LoadOptions{})
	if ds.HasErrors() || cfg.Today.Format("2006-01-02") != "2027-06-01" {
		t.Fatalf("today %v, %v", cfg.Today, ds)
	}
	t.Setenv(TodayEnv, "tomorrow")
	if _, ds := Load("cloud", raw(nil), LoadOptions{}); !ds.HasErrors() || !strings.Contains(ds.Error(), TodayEnv) {
		t.Fatalf("a bad %s was taken: %v", TodayEnv, ds)
	}
}
