package stacks_test

import (
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/offline"
	_ "github.com/nextflow-crm/nfx/internal/testutil"
	"github.com/nextflow-crm/nfx/stacks"
	"github.com/nextflow-crm/nfx/stacks/laptop"
)

const managedTunnel = `{"mode": "managed", "hostname": "crm.example.com",
	"accountId": "0123456789abcdef0123456789abcdef", "zoneId": "fedcba9876543210fedcba9876543210"}`

func rawWithSecrets(values map[string]string) model.Raw {
	r := model.Raw{Values: map[string]string{}, Secret: map[string]bool{}, Complete: true}
	for k, v := range values {
		r.Values[k] = v
	}
	for _, k := range model.Keys {
		if k.Secret {
			r.Values[k.Name], r.Secret[k.Name] = "s3ntinel-"+k.Name, true
		}
	}
	return r
}

func tree(res []offline.Resource) []string {
	var out []string
	for _, r := range res {
		out = append(out, r.Type+" "+r.Name+" <- "+r.Parent)
	}
	sort.Strings(out)
	return out
}

func TestProgramComponentTree(t *testing.T) {
	cases := map[string]struct {
		values map[string]string
		want   []string
	}{
		"token": {nil, []string{
			"nextflow:index:Ai nextflow-ai <- nextflow",
			"nextflow:index:Crm nextflow-crm <- nextflow",
			"nextflow:index:Monitoring nextflow-monitoring <- nextflow",
			"nextflow:index:NextFlow nextflow <- nextflow-laptop",
			"nextflow:index:Postgres nextflow-postgres <- nextflow",
			"nextflow:index:Qdrant nextflow-qdrant <- nextflow",
			"nextflow:index:Redis nextflow-redis <- nextflow",
			"nextflow:index:Tunnel nextflow-tunnel <- nextflow",
			"nextflow:laptop:ComposeProject nextflow-compose <- nextflow",
		}},
		"none": {map[string]string{"tunnel": `{"mode": "none"}`}, []string{
			"nextflow:index:Ai nextflow-ai <- nextflow",
			"nextflow:index:Crm nextflow-crm <- nextflow",
			"nextflow:index:Monitoring nextflow-monitoring <- nextflow",
			"nextflow:index:NextFlow nextflow <- nextflow-laptop",
			"nextflow:index:Postgres nextflow-postgres <- nextflow",
			"nextflow:index:Qdrant nextflow-qdrant <- nextflow",
			"nextflow:index:Redis nextflow-redis <- nextflow",
			// The edge is a part without a tunnel too: it publishes the CRM on loopback.
			"nextflow:index:Tunnel nextflow-tunnel <- nextflow",
			"nextflow:laptop:ComposeProject nextflow-compose <- nextflow",
		}},
		"managed": {map[string]string{"tunnel": managedTunnel}, []string{
			"cloudflare:index/record:Record nextflow-cloudflare-dns <- nextflow-cloudflare",
			"cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared nextflow-cloudflare <- nextflow-cloudflare",
			"cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig nextflow-cloudflare-ingress <- nextflow-cloudflare",
			"nextflow:index:Ai nextflow-ai <- nextflow",
			"nextflow:index:Crm nextflow-crm <- nextflow",
			"nextflow:index:ManagedTunnel nextflow-cloudflare <- nextflow-tunnel",
			"nextflow:index:Monitoring nextflow-monitoring <- nextflow",
			"nextflow:index:NextFlow nextflow <- nextflow-laptop",
			"nextflow:index:Postgres nextflow-postgres <- nextflow",
			"nextflow:index:Qdrant nextflow-qdrant <- nextflow",
			"nextflow:index:Redis nextflow-redis <- nextflow",
			"nextflow:index:Tunnel nextflow-tunnel <- nextflow",
			"nextflow:laptop:ComposeProject nextflow-compose <- nextflow",
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rec := &offline.Recorder{}
			res, err := offline.RunWith(model.Laptop, rawWithSecrets(tc.values), rec)
			if err != nil {
				t.Fatal(err)
			}
			got := tree(res.Plan.Resources)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("component tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			checkSecretInputs(t, rec)
			plan, err := json.Marshal(res.Plan)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(plan), "s3ntinel") {
				t.Error("a secret value reached the plan")
			}
		})
	}
}

func TestProgramServerTree(t *testing.T) {
	rec := &offline.Recorder{}
	res, err := offline.RunWith(model.Server, rawWithSecrets(nil), rec)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"nextflow:index:Ai nextflow-ai <- nextflow",
		"nextflow:index:Crm nextflow-crm <- nextflow",
		"nextflow:index:Monitoring nextflow-monitoring <- nextflow",
		"nextflow:index:NextFlow nextflow <- nextflow-server",
		"nextflow:index:Postgres nextflow-postgres <- nextflow",
		"nextflow:index:Qdrant nextflow-qdrant <- nextflow",
		"nextflow:index:Redis nextflow-redis <- nextflow",
		"nextflow:index:Tunnel nextflow-tunnel <- nextflow",
		"nextflow:server:SwarmStack nextflow-swarm <- nextflow",
	}
	if got := tree(res.Plan.Resources); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("server tree:\n%s", strings.Join(got, "\n"))
	}
	checkSecretInputs(t, rec)
	var paths []string
	for _, f := range res.Files {
		paths = append(paths, f.Path)
	}
	if len(paths) < 10 || paths[len(paths)-1] != "stack.yaml" {
		t.Errorf("server files: %v", paths)
	}
}

func TestProgramKeyInputs(t *testing.T) {
	raw := rawWithSecrets(nil)
	res, err := offline.Run(model.Laptop, raw)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]offline.Resource{}
	for _, r := range res.Plan.Resources {
		byName[r.Name] = r
	}
	cfg, _ := model.Load("laptop", raw, model.LoadOptions{})
	compose, err := laptop.Render(model.Build(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if got := byName["nextflow-compose"].Inputs["files"].(map[string]any)["compose.yaml"]; got != string(compose) {
		t.Error("the ComposeProject's composeFile input is not the rendered compose file")
	}
	if len(res.Files) != 1 || res.Files[0].Path != "compose.yaml" || string(res.Files[0].Data) != string(compose) {
		t.Errorf("offline render collected %d files", len(res.Files))
	}
	ai := byName["nextflow-ai"].Inputs
	if ai["gpus"] != 1.0 || ai["image"] != model.DefaultOllamaImage || ai["memory"] != "16GiB" {
		t.Errorf("ai inputs: %v", ai)
	}
	pg := byName["nextflow-postgres"].Inputs
	if s, ok := pg["secrets"].(map[string]any); !ok || s["postgres_password"] != offline.Secret {
		t.Errorf("postgres password input is not shown as a secret: %v", pg["secrets"])
	}
	nf := byName["nextflow"].Inputs
	if nf["stage"] != "laptop" || nf["tunnel"] != "token" || nf["model"] != "llama3.1:8b" {
		t.Errorf("nextflow inputs: %v", nf)
	}
}

// checkSecretInputs fails on any password-, token- or secret-named input
// that is not a Pulumi secret.
func checkSecretInputs(t *testing.T, rec *offline.Recorder) {
	t.Helper()
	bad, total := rec.UnsecretInputs()
	for _, p := range bad {
		t.Errorf("%s is not a secret input", p)
	}
	if total == 0 {
		t.Error("no secret input found at all")
	}
}

// A stage this binary was built without (the cloud, in the lean nfx and
// program) is an error that names the binary with it, never a silent
// no-op; an unknown stage names the stages there are.
func TestStageWithoutProvisioner(t *testing.T) {
	saved := stacks.Stages[model.Cloud]
	delete(stacks.Stages, model.Cloud)
	defer func() { stacks.Stages[model.Cloud] = saved }()
	_, err := offline.Run(model.Cloud, rawWithSecrets(nil))
	var nb *stacks.NotBuiltInError
	if !errors.As(err, &nb) || !strings.Contains(err.Error(), "make nfx-cloud") {
		t.Errorf("got %v", err)
	}
	if _, err := stacks.Lookup("moon"); err == nil || !strings.Contains(err.Error(), "stages available: [laptop server]") {
		t.Errorf("unknown stage: %v", err)
	}
}
