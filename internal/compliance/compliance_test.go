package compliance

import (
	"strings"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/plan"
)

func config(t *testing.T, stage model.Stage) *model.Config {
	t.Helper()
	c := model.Defaults(stage)
	return &c
}

func find(t *testing.T, r *Report, id string) Finding {
	t.Helper()
	for _, f := range r.Findings {
		if f.ID == id {
			return f
		}
	}
	t.Fatalf("no finding %s", id)
	return Finding{}
}

// cloudPlan is the part of a cloud plan the checks read, as nfx plans it.
func cloudPlan() *plan.Plan {
	return &plan.Plan{Stage: "cloud", Resources: []plan.Resource{
		{Type: rdsInstance, Name: "db", Inputs: map[string]any{"storageEncrypted": true, "publiclyAccessible": false, "backupRetentionPeriod": 7.0,
			"multiAz": true, "enabledCloudwatchLogsExports": []any{"postgresql"}, "password": plan.Secret}},
		{Type: rdsParams, Name: "params", Inputs: map[string]any{"parameters": []any{map[string]any{"name": "rds.force_ssl", "value": "1"}}}},
		{Type: cacheGroup, Name: "cache", Inputs: map[string]any{"atRestEncryptionEnabled": true, "transitEncryptionEnabled": true, "snapshotRetentionLimit": 7.0,
			"multiAzEnabled": true, "automaticFailoverEnabled": true, "authToken": plan.Secret}},
		{Type: eksCluster, Name: "eks", Inputs: map[string]any{"encryptionConfig": map[string]any{"resources": []any{"secrets"}},
			"enabledClusterLogTypes": []any{"api", "audit", "authenticator"},
			"vpcConfig":              map[string]any{"endpointPublicAccess": true, "publicAccessCidrs": []any{"198.51.100.7/32"}}}},
		{Type: secGroup, Name: "db-sg", Inputs: map[string]any{"ingress": []any{map[string]any{"fromPort": 5432.0, "securityGroups": []any{"sg-1"}}}}},
		{Type: rolePolicy, Name: "scaler", Inputs: map[string]any{"policy": `{"Statement":[{"Effect":"Allow","Action":["autoscaling:DescribeTags"],"Resource":"*"}]}`}},
		{Type: kmsKey, Name: "key", Inputs: map[string]any{"enableKeyRotation": true}},
		{Type: promRule, Name: "rules"},
	}}
}

// tamper changes one input of the named resource.
func tamper(p *plan.Plan, name string, set func(map[string]any)) *plan.Plan {
	out := &plan.Plan{Stage: p.Stage}
	for _, r := range p.Resources {
		in := map[string]any{}
		for k, v := range r.Inputs {
			in[k] = v
		}
		if r.Name == name {
			set(in)
		}
		r.Inputs = in
		out.Resources = append(out.Resources, r)
	}
	return out
}

// Each setting a control reads, undone in the plan, fails that control
// and names the resource; as nfx plans it, it passes.
func TestCloudControlsFollowThePlan(t *testing.T) {
	cfg := config(t, model.Cloud)
	cfg.Promotion.Approvals = 1
	fresh := Records{Now: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC), Rehearsal: &Rehearsal{At: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), OK: true, RTOSeconds: 42}}
	base, err := Evaluate(cfg, cloudPlan(), nil, fresh, Frameworks)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range base.Findings {
		if f.Status == Fail {
			t.Errorf("%s fails on nfx's own plan: %v", f.ID, f.Evidence)
		}
	}
	cases := []struct {
		control, resource string
		set               func(map[string]any)
		mention           string
	}{
		{"encryption-at-rest", "db", func(m map[string]any) { m["storageEncrypted"] = false }, "RDS db: storageEncrypted"},
		{"encryption-at-rest", "cache", func(m map[string]any) { delete(m, "atRestEncryptionEnabled") }, "ElastiCache cache"},
		{"encryption-at-rest", "eks", func(m map[string]any) { delete(m, "encryptionConfig") }, "EKS eks"},
		{"encryption-in-transit", "params", func(m map[string]any) { m["parameters"] = []any{} }, "rds.force_ssl"},
		{"encryption-in-transit", "cache", func(m map[string]any) { m["transitEncryptionEnabled"] = "false" }, "transitEncryptionEnabled"},
		{"network-exposure", "eks", func(m map[string]any) {
			m["vpcConfig"] = map[string]any{"endpointPublicAccess": true, "publicAccessCidrs": []any{"0.0.0.0/0"}}
		}, "0.0.0.0/0"},
		{"network-exposure", "db", func(m map[string]any) { m["publiclyAccessible"] = true }, "not publicly accessible"},
		{"network-exposure", "db-sg", func(m map[string]any) {
			m["ingress"] = []any{map[string]any{"ipv6CidrBlocks": []any{"::/0"}}}
		}, "db-sg"},
		{"backups", "db", func(m map[string]any) { m["backupRetentionPeriod"] = 1.0 }, "kept 1 days"},
		{"redundancy", "db", func(m map[string]any) { m["multiAz"] = false }, "Multi-AZ"},
		{"audit-logging", "eks", func(m map[string]any) { m["enabledClusterLogTypes"] = []any{"api"} }, "control plane logs api"},
		{"least-privilege", "scaler", func(m map[string]any) {
			m["policy"] = `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
		}, `no Action "*"`},
		{"least-privilege", "scaler", func(m map[string]any) {
			m["policy"] = `{"Statement":{"Effect":"Allow","Action":"*:*","Resource":"*"}}`
		}, `no Action "*"`},
		{"least-privilege", "scaler", func(m map[string]any) { m["policy"] = `{"Statement": 7}` }, "does not parse"},
		{"secrets", "db", func(m map[string]any) { m["password"] = "hunter2" }, "password is a Pulumi secret"},
		{"secrets", "key", func(m map[string]any) { m["enableKeyRotation"] = false }, "rotated"},
	}
	for _, tc := range cases {
		t.Run(tc.control+"/"+tc.mention, func(t *testing.T) {
			r, err := Evaluate(cfg, tamper(cloudPlan(), tc.resource, tc.set), nil, fresh, Frameworks)
			if err != nil {
				t.Fatal(err)
			}
			f := find(t, r, tc.control)
			if f.Status != Fail {
				t.Fatalf("%s: %s with %v", tc.control, f.Status, f.Evidence)
			}
			if !strings.Contains(strings.Join(f.Evidence, "\n"), tc.mention) || f.Fix == "" {
				t.Errorf("%s: the evidence does not name %q, or no fix: %v (%s)", tc.control, tc.mention, f.Evidence, f.Fix)
			}
			if strings.Contains(strings.Join(f.Evidence, "\n"), "hunter2") {
				t.Error("a secret's value reached the report")
			}
		})
	}
}

const composeOK = `services:
  crm:
    environment:
      DATABASE_PASSWORD_FILE: /run/secrets/postgres_password
      NODE_ENV: production
    logging: {driver: json-file}
  prometheus:
    ports:
      - {target: 9090, published: 9090, host_ip: 127.0.0.1}
    configs:
      - {source: rules, target: /etc/prometheus/nextflow.rules.yml}
networks:
  backend: {driver: bridge}
`

// On a self-hosted stage the checks read the Compose or Swarm file: what
// it publishes, mounts and puts in the environment.
func TestHostedControlsReadTheStackFile(t *testing.T) {
	cfg := config(t, model.Laptop)
	cases := []struct {
		name, control string
		edit          func(string) string
		status        Status
		mention       string
	}{
		{"as rendered", "network-exposure", func(s string) string { return s }, Pass, "publishes no port beyond the loopback"},
		{"a port on every interface", "network-exposure", func(s string) string { return strings.Replace(s, ", host_ip: 127.0.0.1", "", 1) }, Fail, "port 9090 published on every interface"},
		{"a password in the environment", "secrets", func(s string) string {
			return strings.Replace(s, "NODE_ENV: production", "SMTP_PASSWORD: 'p@ss $(rm -rf /)'", 1)
		}, Fail, "SMTP_PASSWORD is set in the environment"},
		{"secrets from files", "secrets", func(s string) string { return s }, Pass, "read every secret from a file"},
		{"privileged", "least-privilege", func(s string) string { return strings.Replace(s, "  crm:\n", "  crm:\n    privileged: true\n", 1) }, Fail, "service crm: privileged"},
		{"the Docker socket", "least-privilege", func(s string) string {
			return strings.Replace(s, "  crm:\n", "  crm:\n    volumes:\n      - {type: bind, source: /var/run/docker.sock, target: /var/run/docker.sock, read_only: true}\n", 1)
		}, Fail, "mounts the Docker socket"},
		{"no backups on a laptop", "backups", func(s string) string { return s }, Fail, "schedules no backup"},
		{"the host's disk", "encryption-at-rest", func(s string) string { return s }, Outside, "the host's own disk"},
		{"one machine", "redundancy", func(s string) string { return s }, Fail, "1 machine"},
		{"a bridge stays on the host", "encryption-in-transit", func(s string) string { return s }, Pass, "never leaves the host"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := files.Set{{Path: "compose.yaml", Data: []byte(tc.edit(composeOK))}}
			r, err := Evaluate(cfg, &plan.Plan{Stage: "laptop"}, fs, Records{Now: time.Now()}, Frameworks)
			if err != nil {
				t.Fatal(err)
			}
			f := find(t, r, tc.control)
			if f.Status != tc.status || !strings.Contains(strings.Join(f.Evidence, "\n"), tc.mention) {
				t.Errorf("%s: %s %v; want %s naming %q", tc.control, f.Status, f.Evidence, tc.status, tc.mention)
			}
			if strings.Contains(strings.Join(f.Evidence, "\n"), "p@ss") {
				t.Error("a secret's value reached the report")
			}
			if len(f.Prowler) > 0 {
				t.Errorf("%s: Prowler's AWS checks listed on a self-hosted stage", f.ID)
			}
		})
	}
	// A Swarm overlay that crosses nodes unencrypted fails; encrypted passes.
	cfg = config(t, model.Server)
	for _, opts := range []string{"", `, driver_opts: {encrypted: "true"}`} {
		stack := "services: {}\nnetworks:\n  frontend: {driver: overlay" + opts + "}\n"
		r, err := Evaluate(cfg, &plan.Plan{}, files.Set{{Path: "stack.yaml", Data: []byte(stack)}}, Records{}, Frameworks)
		if err != nil {
			t.Fatal(err)
		}
		if f := find(t, r, "encryption-in-transit"); (f.Status == Pass) != (opts != "") {
			t.Errorf("overlay with %q: %s %v", opts, f.Status, f.Evidence)
		}
	}
	// A stack file that is not YAML is an error, not a report.
	if _, err := Evaluate(cfg, &plan.Plan{}, files.Set{{Path: "stack.yaml", Data: []byte("services: [")}}, Records{}, Frameworks); err == nil {
		t.Error("a broken stack file was reported on")
	}
}

// A policy the plan cannot read (it names resources created with it)
// leaves the control outside the plan, never passed.
func TestUnreadPolicyIsNotPassed(t *testing.T) {
	p := tamper(cloudPlan(), "scaler", func(m map[string]any) { m["policy"] = plan.Unknown })
	r, err := Evaluate(config(t, model.Cloud), p, nil, Records{}, Frameworks)
	if err != nil {
		t.Fatal(err)
	}
	if f := find(t, r, "least-privilege"); f.Status != Outside || !strings.Contains(strings.Join(f.Evidence, "\n"), "not readable before deployment") {
		t.Errorf("an unread policy: %s %v", f.Status, f.Evidence)
	}
}

// Every store's backup job must be there: three of four is a failure, and
// a user's service named like a backup is not one.
func TestEveryStoreIsBackedUp(t *testing.T) {
	cfg := config(t, model.Server)
	stack := "services:\n"
	for _, k := range model.BackupKinds[1:] {
		stack += "  backup-" + k + ": {}\n"
	}
	r, err := Evaluate(cfg, &plan.Plan{}, files.Set{{Path: "stack.yaml", Data: []byte(stack)}}, Records{}, Frameworks)
	if err != nil {
		t.Fatal(err)
	}
	if f := find(t, r, "backups"); f.Status != Fail || !strings.Contains(strings.Join(f.Evidence, "\n"), "backs up "+model.BackupKinds[0]) {
		t.Errorf("three of four backups: %s %v", f.Status, f.Evidence)
	}
	r, _ = Evaluate(config(t, model.Laptop), &plan.Plan{}, files.Set{{Path: "compose.yaml", Data: []byte("services:\n  backup-sync: {}\n")}}, Records{}, Frameworks)
	if f := find(t, r, "backups"); f.Status != Fail {
		t.Errorf("a service named backup-sync passed as the backups: %v", f.Evidence)
	}
}

// A rehearsal passes the control only when it is recorded, verified and
// recent.
func TestRehearsalMustBeRecentAndVerified(t *testing.T) {
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		r      *Rehearsal
		status Status
	}{
		{"none", nil, Fail},
		{"failed", &Rehearsal{At: now.AddDate(0, 0, -1)}, Fail},
		{"a quarter and a day old", &Rehearsal{At: now.AddDate(0, 0, -(RehearsalDays + 1)), OK: true}, Fail},
		{"dated next month", &Rehearsal{At: now.AddDate(0, 1, 0), OK: true}, Fail},
		{"last week", &Rehearsal{At: now.AddDate(0, 0, -7), OK: true, RTOSeconds: 12, RPOSeconds: 3600}, Pass},
	}
	for _, tc := range cases {
		r, err := Evaluate(config(t, model.Cloud), cloudPlan(), nil, Records{Now: now, Rehearsal: tc.r}, []string{ISO27001})
		if err != nil {
			t.Fatal(err)
		}
		if f := find(t, r, "restore-rehearsal"); f.Status != tc.status {
			t.Errorf("%s: %s %v", tc.name, f.Status, f.Evidence)
		}
	}
}

// People and processes are never passed, and a framework's report holds
// only its controls.
func TestPeopleAreNeverPassedAndFrameworksFilter(t *testing.T) {
	for _, fw := range Frameworks {
		r, err := Evaluate(config(t, model.Cloud), cloudPlan(), nil, Records{}, []string{fw})
		if err != nil {
			t.Fatal(err)
		}
		people := 0
		for _, f := range r.Findings {
			if len(f.IDs[fw]) == 0 {
				t.Errorf("%s: %s has no %s identifier", fw, f.ID, fw)
			}
			for _, p := range People {
				if p.ID == f.ID {
					people++
					if f.Status != Manual {
						t.Errorf("%s: %s is %s", fw, f.ID, f.Status)
					}
				}
			}
		}
		if people == 0 {
			t.Errorf("%s: no people-and-process control listed", fw)
		}
	}
	if _, err := ParseFramework("hipaa"); err == nil || !strings.Contains(err.Error(), "soc2, iso27001, gdpr") {
		t.Errorf("an unknown framework: %v", err)
	}
}
