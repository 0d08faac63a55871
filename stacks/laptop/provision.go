package laptop

import (
	"fmt"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/nextflow-crm/nfx/components"
	"github.com/nextflow-crm/nfx/internal/model"
)

// provisioner realises the parts of one kind as Compose services.
type provisioner interface {
	components.Provisioner
	// services returns the part's Compose services (none where it runs no
	// container of its own).
	services(app *model.App, p *model.Part) ([]types.ServiceConfig, error)
}

// Provisioners are the laptop's provisioners, one per part kind: every
// part is one container on the one machine.
var Provisioners = map[model.Kind]provisioner{
	model.KindWeb:      container{describe: describeWeb},
	model.KindWorker:   container{describe: func(*model.App, *model.Part) string { return "1 container (Docker Compose)" }},
	model.KindAI:       container{describe: describeAI},
	model.KindDatabase: container{describe: func(*model.App, *model.Part) string { return "1 container, data in a named volume, no backups" }},
	model.KindCache:    container{describe: func(*model.App, *model.Part) string { return "1 container" }},
	model.KindVector:   container{describe: func(*model.App, *model.Part) string { return "1 container" }},
	model.KindEdge:     container{describe: describeEdge},
}

// container runs a part as one Compose service.
type container struct {
	describe func(*model.App, *model.Part) string
}

func (c container) Describe(app *model.App, p *model.Part) string { return c.describe(app, p) }

func (container) Inputs(app *model.App, p *model.Part) map[string]any {
	extra := map[string]any{}
	if p.Kind == model.KindEdge {
		extra["mode"] = app.Config.Tunnel.Mode
	}
	if addr := published(app, p); addr != "" {
		extra["published"] = addr
	}
	return components.ContainerInputs(app, p, extra)
}

func (container) services(app *model.App, p *model.Part) ([]types.ServiceConfig, error) {
	if !p.Runs {
		return nil, nil
	}
	svc, err := service(app, p)
	if err != nil {
		return nil, err
	}
	return []types.ServiceConfig{svc}, nil
}

// published is the loopback address a public part is published on when
// the laptop runs no tunnel, else "".
func published(app *model.App, p *model.Part) string {
	if p.Public == nil || app.Config.Tunnel.Mode != model.TunnelNone || !p.Runs {
		return ""
	}
	return fmt.Sprintf("127.0.0.1:%d", p.Public.LocalPort)
}

func describeWeb(app *model.App, p *model.Part) string {
	if addr := published(app, p); addr != "" {
		return "1 container (Docker Compose) on " + addr
	}
	if p.Public != nil {
		return "1 container (Docker Compose) behind the tunnel at " + p.Public.Hostname
	}
	return "1 container (Docker Compose)"
}

func describeAI(app *model.App, _ *model.Part) string {
	c := app.Config
	if !c.UseGPU {
		return fmt.Sprintf("Ollama container on CPU (%s)", c.AI.Model)
	}
	return fmt.Sprintf("Ollama container on the %s (%s)", c.Host.GPU, c.AI.Model)
}

func describeEdge(app *model.App, _ *model.Part) string {
	c := app.Config
	if c.Tunnel.Mode == model.TunnelNone {
		return fmt.Sprintf("none: the CRM on 127.0.0.1:%d", c.Tunnel.LocalPort)
	}
	return "cloudflared container (" + c.Tunnel.Mode + " mode)"
}

// addrs are where the laptop serves each endpoint: every part is the one
// container named after it.
func addrs(app *model.App) model.Addrs {
	name := func(e model.Endpoint) string {
		if p, ok := app.Offering(e); ok {
			return p.Name
		}
		return ""
	}
	return model.Addrs{
		DB:      model.HostPort{Host: name(model.EndpointDB), Port: model.PostgresPort},
		DBRead:  model.HostPort{Host: name(model.EndpointDBRead), Port: model.PostgresPort},
		SSLMode: "disable",
		Cache:   model.HostPort{Host: name(model.EndpointCache), Port: model.RedisPort},
		Vector:  model.HostPort{Host: name(model.EndpointVector), Port: model.QdrantHTTPPort}, VectorGRPCPort: model.QdrantGRPCPort,
		AI: model.HostPort{Host: name(model.EndpointAI), Port: model.OllamaPort},
		Public: func(p *model.Part) (string, string, bool) {
			if app.Config.Tunnel.Mode == model.TunnelNone {
				return fmt.Sprintf("http://127.0.0.1:%d", p.Public.LocalPort), "127.0.0.1", true
			}
			return "https://" + p.Public.Hostname, p.Public.Hostname, true
		},
	}
}

// Routes are where the laptop's tunnel sends each public hostname: to the
// part's container.
func Routes(app *model.App) []components.Route {
	var out []components.Route
	for _, p := range app.PublicParts() {
		if len(p.Service.Ports) > 0 {
			out = append(out, components.Route{Hostname: p.Public.Hostname, Service: fmt.Sprintf("http://%s:%d", p.Name, p.Service.Ports[0].Port)})
		}
	}
	return out
}
