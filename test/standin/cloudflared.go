package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"time"
)

// cloudflared reproduces cloudflared 2025.4.0's command line as the rendered
// files use it (cmd/cloudflared/tunnel at 2025.4.0): `tunnel [--metrics
// ADDR] run --token-file FILE` reads the token from the file (failing as
// cloudflared does when it cannot: the image runs as nonroot, uid 65532),
// checks it is a tunnel token (base64 of a JSON object with the account
// "a", tunnel "t" and secret "s"), and serves /ready and /metrics on ADDR;
// `tunnel --metrics ADDR ready` asks /ready and exits 0 only on 200. Instead
// of dialling Cloudflare's edge, the stand-in is its own edge: it listens
// on :8080 and proxies each request to the origin named in the
// X-Standin-Origin header, which a test sets to the ingress rule's service
// nfx configures, so that the request crosses the same network, names and
// ports a real tunnel's would.
func cloudflared(args []string) error {
	var metrics, tokenFile, sub string
	for i := 0; i < len(args); i++ {
		a := args[i]
		val := func() string {
			if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "--") {
				return v
			}
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch {
		case a == "--metrics" || strings.HasPrefix(a, "--metrics="):
			metrics = val()
		case a == "--token-file" || strings.HasPrefix(a, "--token-file="):
			tokenFile = val()
		case a == "--no-autoupdate" || a == "tunnel":
		case a == "run" || a == "ready" || a == "version":
			sub = a
		case strings.HasPrefix(a, "-"):
			return fmt.Errorf("Incorrect Usage: flag provided but not defined: %s", a)
		}
	}
	switch sub {
	case "version":
		fmt.Println("cloudflared version 2025.4.0 (stand-in)")
		return nil
	case "ready":
		if metrics == "" {
			return errors.New("--metrics has to be provided")
		}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + metrics + "/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("http://%s/ready endpoint returned status code %d", metrics, resp.StatusCode)
		}
		return nil
	case "run":
	default:
		return errors.New("usage: cloudflared tunnel [--metrics ADDR] run --token-file FILE | ready")
	}
	if tokenFile == "" {
		return errors.New("the stand-in runs only token tunnels: --token-file is required")
	}
	raw, err := os.ReadFile(tokenFile)
	if err != nil {
		return fmt.Errorf("Failed to read token file %s: %w", tokenFile, err)
	}
	dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	var tok struct{ A, T, S string }
	if err == nil {
		err = json.Unmarshal(dec, &tok)
	}
	if err != nil || tok.A == "" || tok.T == "" || tok.S == "" {
		return errors.New("Provided Tunnel token is not valid.")
	}
	if metrics == "" {
		metrics = "localhost:0"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"status": 200, "readyConnections": 4, "connectorId": tok.T})
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "# TYPE cloudflared_tunnel_ha_connections gauge")
		fmt.Fprintln(w, "cloudflared_tunnel_ha_connections 4")
	})
	errs := make(chan error, 2)
	go func() { errs <- http.ListenAndServe(metrics, mux) }()
	edge := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin, err := url.Parse(r.Header.Get("X-Standin-Origin"))
		if err != nil || origin.Host == "" {
			http.Error(w, "no X-Standin-Origin", http.StatusBadGateway)
			return
		}
		httputil.NewSingleHostReverseProxy(origin).ServeHTTP(w, r)
	})
	go func() { errs <- http.ListenAndServe(":8080", edge) }()
	return <-errs
}
