package main

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// grafana plays Grafana 11.4's server as the rendered files use it
// (docs: "Provision Grafana", "Configure a Grafana Docker image", the HTTP
// API's /api/health, /api/search, /api/dashboards/uid and the data source
// proxy): it reads GF_* settings, provisions the data sources and the
// dashboard providers under GF_PATHS_PROVISIONING (a data source file that
// does not parse stops the server, as Grafana's provisioning does), loads
// each provider's dashboards (one that is not a dashboard is skipped, with
// an error logged), writes its database under GF_PATHS_DATA (a data
// directory it cannot write stops it), and answers as the admin user with
// the password it was given, under the root URL's path when
// GF_SERVER_SERVE_FROM_SUB_PATH is true. It draws nothing.
func grafana(args []string) error {
	if len(args) == 0 || args[0] != "server" {
		return fmt.Errorf("grafana: usage: grafana server [flags]")
	}
	env := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	data := env("GF_PATHS_DATA", "/var/lib/grafana")
	if err := os.WriteFile(filepath.Join(data, "grafana.db"), []byte("standin\n"), 0o640); err != nil {
		return fmt.Errorf("grafana: the data directory %s is not writable: %w", data, err)
	}
	user, pass := env("GF_SECURITY_ADMIN_USER", "admin"), env("GF_SECURITY_ADMIN_PASSWORD", "admin")
	prov := env("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning")
	sources, err := grafanaDatasources(filepath.Join(prov, "datasources"))
	if err != nil {
		return err
	}
	g := &grafanaServer{user: user, pass: pass, sources: sources, dashboards: map[string]json.RawMessage{}}
	if err := g.provisionDashboards(filepath.Join(prov, "dashboards")); err != nil {
		return err
	}
	prefix := ""
	if os.Getenv("GF_SERVER_SERVE_FROM_SUB_PATH") == "true" {
		// Grafana expands its own settings in the root URL first
		// (conf/defaults.ini: root_url = %(protocol)s://%(domain)s:%(http_port)s/).
		root := strings.NewReplacer("%(protocol)s", "http", "%(domain)s", "localhost", "%(http_port)s", env("GF_SERVER_HTTP_PORT", "3000")).Replace(os.Getenv("GF_SERVER_ROOT_URL"))
		u, err := url.Parse(root)
		if err != nil {
			return fmt.Errorf("grafana: GF_SERVER_ROOT_URL: %w", err)
		}
		prefix = strings.TrimSuffix(u.Path, "/")
	}
	mux := http.NewServeMux()
	mux.HandleFunc(prefix+"/api/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"database":"ok","version":"11.4.0"}`)
	})
	mux.HandleFunc(prefix+"/api/search", g.auth(g.search))
	mux.HandleFunc(prefix+"/api/dashboards/uid/", g.auth(func(w http.ResponseWriter, r *http.Request) {
		uid := strings.TrimPrefix(r.URL.Path, prefix+"/api/dashboards/uid/")
		g.mu.Lock()
		d, ok := g.dashboards[uid]
		g.mu.Unlock()
		if !ok {
			http.Error(w, `{"message":"Dashboard not found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"dashboard":%s,"meta":{"provisioned":true}}`, d)
	}))
	mux.HandleFunc(prefix+"/api/datasources/proxy/uid/", g.auth(g.proxy(prefix)))
	port := env("GF_SERVER_HTTP_PORT", "3000")
	fmt.Fprintf(os.Stderr, "grafana standin: %d data sources, %d dashboards, serving on :%s%s/\n", len(sources), len(g.dashboards), port, prefix)
	return http.ListenAndServe(":"+port, mux)
}

type grafanaServer struct {
	user, pass string
	sources    map[string]string // uid -> url
	mu         sync.Mutex
	dashboards map[string]json.RawMessage
	titles     map[string]string
}

// grafanaDatasources reads the provisioned data sources: uid -> url.
func grafanaDatasources(dir string) (map[string]string, error) {
	out := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.y*ml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var doc struct {
			APIVersion  int `yaml:"apiVersion"`
			Datasources []struct {
				Name, Type, UID, URL, Access string
			} `yaml:"datasources"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("grafana: datasource provisioning %s: %w", f, err)
		}
		for _, d := range doc.Datasources {
			if d.Name == "" || d.Type == "" {
				return nil, fmt.Errorf("grafana: datasource provisioning %s: a data source needs a name and a type", f)
			}
			out[d.UID] = d.URL
		}
	}
	return out, nil
}

// provisionDashboards loads each file provider's dashboards.
func (g *grafanaServer) provisionDashboards(dir string) error {
	g.titles = map[string]string{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.y*ml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var doc struct {
			Providers []struct {
				Name, Type string
				Options    struct{ Path string }
			} `yaml:"providers"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("grafana: dashboard provisioning %s: %w", f, err)
		}
		for _, p := range doc.Providers {
			jsons, _ := filepath.Glob(filepath.Join(p.Options.Path, "*.json"))
			for _, j := range jsons {
				raw, err := os.ReadFile(j)
				var d struct {
					UID, Title    string
					SchemaVersion int `json:"schemaVersion"`
				}
				if err == nil {
					err = json.Unmarshal(raw, &d)
				}
				if err != nil || d.Title == "" || d.SchemaVersion == 0 {
					fmt.Fprintf(os.Stderr, "grafana standin: provider %s: failed to load dashboard %s: %v\n", p.Name, j, err)
					continue
				}
				g.dashboards[d.UID], g.titles[d.UID] = raw, d.Title
			}
		}
	}
	return nil
}

// auth admits the admin user by basic authentication.
func (g *grafanaServer) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(g.user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(g.pass)) != 1 {
			http.Error(w, `{"message":"Unauthorized"}`, http.StatusUnauthorized)
			return
		}
		next(w, r)
	}
}

func (g *grafanaServer) search(w http.ResponseWriter, _ *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []map[string]string
	for uid, title := range g.titles {
		out = append(out, map[string]string{"uid": uid, "title": title, "type": "dash-db"})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// proxy forwards /api/datasources/proxy/uid/<uid>/<path> to the data
// source's URL, as Grafana's data source proxy does for access: proxy.
func (g *grafanaServer) proxy(prefix string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, prefix+"/api/datasources/proxy/uid/")
		uid, path, _ := strings.Cut(rest, "/")
		target, ok := g.sources[uid]
		if !ok {
			http.Error(w, `{"message":"Data source not found"}`, http.StatusNotFound)
			return
		}
		u, err := url.Parse(target)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = u.Scheme, u.Host
			pr.Out.URL.Path = strings.TrimSuffix(u.Path, "/") + "/" + path
			pr.Out.Host = u.Host
			pr.Out.Header.Del("Authorization")
		}}
		rp.ServeHTTP(w, r)
	}
}
