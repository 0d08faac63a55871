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

type noRealiser struct{ called *bool }

func (n noRealiser) Realise(*pulumi.Context, components.Realisation) (pulumi.Map, error) {
	*n.called = true
	return nil, nil
}

// Invalid input is rejected before anything is registered.
func TestInvalidArgsRegisterNothing(t *testing.T) {
	a := app(t)
	bad := a.Services[0]
	bad.Replicas = 0
	cases := map[string]pulumi.RunFunc{
		"part with 0 replicas": func(ctx *pulumi.Context) error {
			_, err := components.NewPart(ctx, "p", &components.PartArgs{Service: bad})
			return err
		},
		"part without image": func(ctx *pulumi.Context) error {
			s := a.Services[0]
			s.Image = ""
			_, err := components.NewPart(ctx, "p", &components.PartArgs{Service: s})
			return err
		},
		"nextflow without a stage realiser": func(ctx *pulumi.Context) error {
			_, err := components.NewNextFlow(ctx, "nf", &components.NextFlowArgs{App: a})
			return err
		},
		"nextflow without app": func(ctx *pulumi.Context) error {
			called := false
			_, err := components.NewNextFlow(ctx, "nf", &components.NextFlowArgs{Stage: noRealiser{&called}})
			return err
		},
		"managed tunnel with a bad account": func(ctx *pulumi.Context) error {
			_, err := components.NewManagedTunnel(ctx, "t", &components.ManagedTunnelArgs{
				AccountID: "nope", ZoneID: strings.Repeat("a", 32), Hostname: "crm.example.com", Service: "http://crm:3000",
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
		_, err := components.NewNextFlow(ctx, "nf", &components.NextFlowArgs{App: a, Stage: noRealiser{&called}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !called {
		t.Error("the stage realiser was not called")
	}
	res := rec.Resources()
	if len(res) != 1+len(a.Services) {
		t.Fatalf("want NextFlow and %d parts, got %d", len(a.Services), len(res))
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
