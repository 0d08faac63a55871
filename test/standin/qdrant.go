package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

// qdrant reproduces Qdrant v1.13.2's REST surface as the rendered files use
// it (docs/redoc/v1.13.x/openapi.json): the HTTP API on
// QDRANT__SERVICE__HTTP_PORT (default 6333) with /healthz, /livez, /readyz and
// /metrics; collections under /collections; snapshots of a collection under
// /collections/{name}/snapshots, written to ./snapshots. When
// QDRANT__SERVICE__API_KEY is set every call but the health endpoints needs
// it in the api-key header, as in Qdrant. Flags such as --uri and
// --bootstrap (cluster mode) are accepted; no clustering happens here.
func qdrant(_ []string) error {
	port := os.Getenv("QDRANT__SERVICE__HTTP_PORT")
	if port == "" {
		port = "6333"
	}
	storage := envOr("QDRANT__STORAGE__STORAGE_PATH", "./storage")
	snapshots := envOr("QDRANT__STORAGE__SNAPSHOTS_PATH", "./snapshots")
	for _, d := range []string{storage, snapshots} {
		if err := os.MkdirAll(filepath.Join(d, "collections"), 0o755); err != nil {
			return fmt.Errorf("qdrant: %w", err)
		}
	}
	key := os.Getenv("QDRANT__SERVICE__API_KEY")
	name := regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	ok := func(w http.ResponseWriter, result any) {
		_ = json.NewEncoder(w).Encode(map[string]any{"result": result, "status": "ok", "time": 0.0001})
	}
	mux := http.NewServeMux()
	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		mux.HandleFunc("GET "+p, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "healthz check passed") })
	}
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "# TYPE app_info gauge")
		fmt.Fprintln(w, `app_info{name="qdrant",version="1.13.2"} 1`)
	})
	mux.HandleFunc("GET /collections", func(w http.ResponseWriter, _ *http.Request) {
		entries, _ := os.ReadDir(filepath.Join(storage, "collections"))
		var cs []map[string]string
		for _, e := range entries {
			cs = append(cs, map[string]string{"name": e.Name()})
		}
		ok(w, map[string]any{"collections": cs})
	})
	mux.HandleFunc("PUT /collections/{c}", func(w http.ResponseWriter, r *http.Request) {
		c := r.PathValue("c")
		if !name.MatchString(c) {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if err := os.MkdirAll(filepath.Join(storage, "collections", c), 0o755); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		ok(w, true)
	})
	mux.HandleFunc("POST /collections/{c}/snapshots", func(w http.ResponseWriter, r *http.Request) {
		c := r.PathValue("c")
		if _, err := os.Stat(filepath.Join(storage, "collections", c)); err != nil || !name.MatchString(c) {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		dir := filepath.Join(snapshots, c)
		_ = os.MkdirAll(dir, 0o755)
		snap := fmt.Sprintf("%s-%s.snapshot", c, time.Now().UTC().Format("2006-01-02-15-04-05"))
		if err := os.WriteFile(filepath.Join(dir, snap), []byte("qdrant snapshot of "+c+"\n"), 0o644); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		ok(w, map[string]any{"name": snap, "size": 1})
	})
	mux.HandleFunc("GET /collections/{c}/snapshots", func(w http.ResponseWriter, r *http.Request) {
		entries, _ := os.ReadDir(filepath.Join(snapshots, r.PathValue("c")))
		var out []map[string]string
		for _, e := range entries {
			out = append(out, map[string]string{"name": e.Name()})
		}
		sort.Slice(out, func(i, j int) bool { return out[i]["name"] < out[j]["name"] })
		ok(w, out)
	})
	mux.HandleFunc("GET /collections/{c}/snapshots/{s}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(snapshots, filepath.Base(r.PathValue("c")), filepath.Base(r.PathValue("s"))))
	})
	h := http.Handler(mux)
	if key != "" {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/healthz", "/livez", "/readyz":
			default:
				if r.Header.Get("api-key") != key && r.Header.Get("Authorization") != "Bearer "+key {
					w.WriteHeader(http.StatusUnauthorized)
					fmt.Fprint(w, "Must provide an API key or an Authorization bearer token")
					return
				}
			}
			mux.ServeHTTP(w, r)
		})
	}
	return http.ListenAndServe(":"+port, h)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
