package components_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/components"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/offline"
	_ "github.com/nextflow-crm/nfx/internal/testutil"
)

func run(t *testing.T, fn pulumi.RunFunc) (*offline.Recorder, error) {
	t.Helper()
	rec := &offline.Recorder{}
	err := pulumi.RunErr(fn, pulumi.WithMocks("nextflow", "laptop", rec))
	return rec, err
}

func app(t *testing.T) *model.App {
	cfg, ds := model.Load("laptop", model.Raw{Values: map[string]string{}, Secret: map[string]bool{}}, model.LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	return model.Build(cfg)
}

// noRealiser provisions every kind but those in missing, and creates nothing.
type noRealiser struct {
	called  *bool
	missing model.Kind
}

type stubProvisioner struct{}

func (stubProvisioner) Describe(*model.App, *model.Part) string { return "stub" }
func (stubProvisioner) Inputs(_ *model.App, p *model.Part) map[string]any {
	return map[string]any{"image": p.Service.Image}
}

func (n noRealiser) Provisioner(k model.Kind) (components.Provisioner, bool) {
	if k == n.missing {
		return nil, false
	}
	return stubProvisioner{}, true
}

func (n noRealiser) Realise(*pulumi.Context, components.Realisation) (pulumi.Map, error) {
	*n.called = true
	return nil, nil
}

// Invalid input is rejected before anything is registered.
func TestInvalidArgsRegisterNothing(t *testing.T) {
	a := app(t)
	bad := a.Parts[0]
	bad.Replicas = 0
	noImage := a.Parts[0]
	noImage.Service.Image = ""
	cases := map[string]pulumi.RunFunc{
		"part with 0 replicas": func(ctx *pulumi.Context) error {
			_, err := components.NewPart(ctx, "p", &components.PartArgs{Part: &bad})
			return err
		},
		"part without image": func(ctx *pulumi.Context) error {
			_, err := components.NewPart(ctx, "p", &components.PartArgs{Part: &noImage})
			return err
		},
		"part without a description": func(ctx *pulumi.Context) error {
			_, err := components.NewPart(ctx, "p", &components.PartArgs{})
			return err
		},
		"nextflow without a stage realiser": func(ctx *pulumi.Context) error {
			_, err := components.NewNextFlow(ctx, "nf", &components.NextFlowArgs{App: a})
			return err
		},
		"nextflow without app": func(ctx *pulumi.Context) error {
			called := false
			_, err := components.NewNextFlow(ctx, "nf", &components.NextFlowArgs{Stage: noRealiser{called: &called}})
			return err
		},
		"managed tunnel with a bad account": func(ctx *pulumi.Context) error {
			_, err := components.NewManagedTunnel(ctx, "t", &components.ManagedTunnelArgs{
				AccountID: "nope", ZoneID: strings.Repeat("a", 32), Routes: []components.Route{{Hostname: "crm.example.com", Service: "http://crm:3000"}},
				Secret: pulumi.String("x").ToStringOutput(),
			})
			return err
		},
		"managed tunnel routing a hostname twice": func(ctx *pulumi.Context) error {
			_, err := components.NewManagedTunnel(ctx, "t", &components.ManagedTunnelArgs{
				AccountID: strings.Repeat("a", 32), ZoneID: strings.Repeat("a", 32),
				Routes: []components.Route{{Hostname: "crm.example.com", Service: "http://crm:3000"}, {Hostname: "crm.example.com", Service: "http://admin:80"}},
				Secret: pulumi.String("x").ToStringOutput(),
			})
			return err
		},
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			rec, err := run(t, fn)
			if err == nil {
				t.Fatal("want an error")
			}
			if n := len(rec.Resources()); n != 0 {
				t.Errorf("registered %d resources before failing: %+v", n, rec.Resources())
			}
		})
	}
}

// Every child of NextFlow is parented to it and the realiser runs after the parts.
func TestNextFlowParentsEveryPart(t *testing.T) {
	a := app(t)
	called := false
	rec, err := run(t, func(ctx *pulumi.Context) error {
		_, err := components.NewNextFlow(ctx, "nf", &components.NextFlowArgs{App: a, Stage: noRealiser{called: &called}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !called {
		t.Error("the stage realiser was not called")
	}
	res := rec.Resources()
	// NextFlow, its parts, and the stage's monitoring.
	if len(res) != 2+len(a.Parts) {
		t.Fatalf("want NextFlow, %d parts and the monitoring, got %d", len(a.Parts), len(res))
	}
	for _, r := range res {
		if r.Name == "nf" {
			if r.Type != components.NextFlowType {
				t.Errorf("nf has type %s", r.Type)
			}
			continue
		}
		if r.Parent != "nf" || !strings.HasPrefix(r.Name, "nf-") {
			t.Errorf("%s (%s) is not a child of nf named after it: parent %q", r.Name, r.Type, r.Parent)
		}
	}
}

// A part whose kind the stage cannot provision fails before anything is
// registered, with the part, its kind and the stage named: no part is
// ever dropped in silence.
func TestNoProvisionerIsAnError(t *testing.T) {
	cfg, ds := model.Load("laptop", model.Raw{Values: map[string]string{"services": `[{"name": "mailer", "kind": "worker",
		"image": "ghcr.io/acme/mailer:1.0.0", "health": {"command": "test -e /tmp/ok"}}]`}, Secret: map[string]bool{}}, model.LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	a := model.Build(cfg)
	for _, k := range model.Kinds {
		t.Run(string(k), func(t *testing.T) {
			called := false
			rec, err := run(t, func(ctx *pulumi.Context) error {
				_, err := components.NewNextFlow(ctx, "nf", &components.NextFlowArgs{App: a, Stage: noRealiser{called: &called, missing: k}})
				return err
			})
			var want *model.Part
			for i := range a.Parts {
				if a.Parts[i].Kind == k {
					want = &a.Parts[i]
					break
				}
			}
			if want == nil {
				t.Fatalf("the test app has no part of kind %s", k)
			}
			if err == nil {
				t.Fatal("want an error")
			}
			msg := err.Error()
			for _, s := range []string{want.Key, "stage laptop has no provisioner", `part "` + want.Name + `"`, "kind " + string(k)} {
				if !strings.Contains(msg, s) {
					t.Errorf("%q is not in %q", s, msg)
				}
			}
			if n := len(rec.Resources()); n != 0 || called {
				t.Errorf("registered %d resources (realiser called: %v) before failing", n, called)
			}
		})
	}
}
