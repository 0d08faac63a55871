package server

import (
	"bytes"
	"embed"
	"fmt"
	"strconv"
	"text/template"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
)

//go:embed templates
var templatesFS embed.FS

var templates = template.Must(template.New("").Option("missingkey=error").ParseFS(templatesFS, "templates/*.tmpl"))

func execute(name string, data any) ([]byte, error) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return nil, fmt.Errorf("server: render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// NginxParams are the values of nginx.conf. Swarm renders them from the
// app; tests render them with loopback addresses and private paths.
type NginxParams struct {
	// Listen is the listen address, such as "80" or "127.0.0.1:18080".
	Listen string
	// CRM and AI are the upstream servers, host:port.
	CRM, AI []string
	// Sites are the other public web apps, each routed by its hostname.
	Sites     []Site
	RateLimit int
	// Burst and AIBurst are the request bursts allowed above the rate.
	Burst, AIBurst int
	// BodyLimit is client_max_body_size, such as "20m".
	BodyLimit string
	PidFile   string
	AccessLog string
	ErrorLog  string
	// TempDir, if set, holds nginx's temporary files.
	TempDir string
	// StatusListen, if set, serves stub_status there for the nginx exporter.
	StatusListen string
	// Resolver, if set, is the DNS server nginx re-resolves its upstream
	// names with while it runs (each upstream server gets `resolve`).
	Resolver string
	// Grafana, if set, is Grafana's upstream (host:port), served at
	// GrafanaPath behind the stage's entry.
	Grafana string
}

// GrafanaPath is where the server's nginx serves Grafana.
const GrafanaPath = "/grafana/"

// DockerDNS is the engine's embedded DNS server, in every container on a
// user-defined network (Docker's networking documentation, "DNS services").
const DockerDNS = "127.0.0.11"

// Site is a public web app nginx routes by hostname to its upstream.
type Site struct {
	// Name is the upstream's name (the service's).
	Name     string
	Hostname string
	Servers  []string
}

// NginxDefaults are the Swarm values for an app.
func NginxDefaults(app *model.App) NginxParams {
	c := app.Config
	p := NginxParams{
		Listen:    "80",
		CRM:       []string{fmt.Sprintf("tasks.%s:%d", model.PartCRM, c.CRM.Port)},
		RateLimit: c.Nginx.RateLimit,
		Burst:     c.Nginx.RateLimit * 2,
		AIBurst:   max(c.Nginx.RateLimit/2, 1),
		BodyLimit: fmt.Sprintf("%dm", max(int64(c.Nginx.BodyLimit/model.MiB), 1)),
		PidFile:   "/tmp/nginx.pid",
		Resolver:  DockerDNS,
		AccessLog: "/dev/stdout",
		ErrorLog:  "/dev/stderr",
	}
	if model.MonitoringRuns(c) {
		p.StatusListen = strconv.Itoa(monitoring.NginxStatusPort)
	}
	if model.GrafanaRuns(c) {
		p.Grafana = fmt.Sprintf("%s:%d", model.GrafanaService, monitoring.GrafanaPort)
	}
	for _, in := range app.InstancesOf(model.PartAI) {
		p.AI = append(p.AI, fmt.Sprintf("%s:%d", in.Name, model.OllamaPort))
	}
	for _, part := range app.PublicParts() {
		if part.Name == model.PartCRM || len(part.Service.Ports) == 0 {
			continue
		}
		p.Sites = append(p.Sites, Site{Name: part.Name, Hostname: part.Public.Hostname,
			Servers: []string{fmt.Sprintf("tasks.%s:%d", part.Name, part.Service.Ports[0].Port)}})
	}
	return p
}

// NginxConf renders nginx.conf.
func NginxConf(p NginxParams) ([]byte, error) {
	if len(p.CRM) == 0 || len(p.AI) == 0 {
		return nil, fmt.Errorf("server: nginx needs CRM and AI upstreams")
	}
	return execute("nginx.conf.tmpl", p)
}

func aiName(i int) string     { return fmt.Sprintf("%s-%d", model.PartAI, i) }
func qdrantName(i int) string { return fmt.Sprintf("%s-%d", model.PartQdrant, i) }
