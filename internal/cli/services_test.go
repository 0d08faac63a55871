package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// withServices adds the shared user services to every stage file of a
// project copy.
func withServices(t *testing.T, dir string) {
	t.Helper()
	for _, st := range model.Stages {
		f := filepath.Join(dir, "Pulumi."+string(st)+".yaml")
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		add := "  nextflow:services: " + strings.Join(strings.Fields(testutil.ServicesConfig), " ") + "\n" +
			"  nextflow:secrets: " + testutil.ServicesSecrets + "\n"
		if st == model.Laptop {
			// Three more services leave the laptop no room for its
			// monitoring: the fit says so and offers this.
			add += "  nextflow:monitoring: {\"enabled\": false}\n"
		}
		write(t, f, string(data)+add)
	}
}

// The user's services are in the diff on both stages, in the cost by
// part, in the capacity's CPU shares and in the report's diagrams.
func TestServicesInDiffCostCapacityReport(t *testing.T) {
	dir := project(t)
	withServices(t, dir)
	code, out, stderr := nfx(t, dir, "diff", "--from", "laptop", "--to", "cloud", "--json")
	if code != ExitOK {
		t.Fatalf("diff: exit %d: %s", code, stderr)
	}
	var d struct {
		Parts []struct{ Name, Kind, From, To string }
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range d.Parts {
		got[p.Name] = p.Kind + ": " + p.From + " -> " + p.To
	}
	for name, want := range map[string]string{
		"worker":  "worker: 1 container (Docker Compose) -> EKS Deployment, 4 pods",
		"admin":   "web: 1 container (Docker Compose) behind the tunnel at admin.nextflow.example -> EKS Deployment, 2 pods behind the Cloudflare Tunnel at admin.nextflow.example",
		"reports": "web: 1 container (Docker Compose) -> EKS Deployment, 2 pods behind a ClusterIP Service",
	} {
		if got[name] != want {
			t.Errorf("diff part %s:\n got %q\nwant %q", name, got[name], want)
		}
	}
	code, out, stderr = nfx(t, dir, "cost", "--stage", "server")
	if code != ExitOK || !strings.Contains(out, "part: worker ") || !strings.Contains(out, "part: reports ") {
		t.Errorf("cost by part: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = nfx(t, dir, "capacity", "--stage", "server")
	if code != ExitOK || !strings.Contains(out, " worker 4.5 (") {
		t.Errorf("capacity's CPU share (3 worker replicas of 1.5 cores): exit %d\n%s%s", code, out, stderr)
	}
	report := filepath.Join(dir, "report.html")
	if code, _, stderr := nfx(t, dir, "report", "--out", report); code != ExitOK {
		t.Fatalf("report: exit %d: %s", code, stderr)
	}
	html, _ := os.ReadFile(report)
	for _, want := range []string{">worker<", ">admin<", ">reports<", "EKS Deployment, 4 pods"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}
