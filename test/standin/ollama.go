package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ollama reproduces Ollama 0.5.7's CLI and API as the rendered files use
// them (docs/api.md and cmd/cmd.go at v0.5.7): `ollama serve` listens on
// OLLAMA_HOST (default 127.0.0.1:11434); `ollama list`, `ollama pull M` and
// `ollama show M` are clients of the same address; a name without a tag
// means ":latest"; models live under $HOME/.ollama (the image's
// /root/.ollama volume). A pull records the model instead of downloading it:
// nothing here reaches registry.ollama.ai.
func ollama(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: ollama serve|list|pull MODEL|show MODEL")
	}
	host := os.Getenv("OLLAMA_HOST")
	if host == "" {
		host = "127.0.0.1:11434"
	}
	home, _ := os.UserHomeDir()
	dir := filepath.Join(home, ".ollama", "models", "standin")
	switch args[0] {
	case "serve":
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		return http.ListenAndServe(host, ollamaAPI(dir))
	case "list":
		var tags struct{ Models []struct{ Name string } }
		if err := ollamaCall(host, http.MethodGet, "/api/tags", nil, &tags); err != nil {
			return err
		}
		fmt.Println("NAME")
		for _, m := range tags.Models {
			fmt.Println(m.Name)
		}
		return nil
	case "pull", "show":
		if len(args) != 2 {
			return fmt.Errorf("usage: ollama %s MODEL", args[0])
		}
		return ollamaCall(host, http.MethodPost, "/api/"+args[0], map[string]string{"model": args[1]}, nil)
	}
	return fmt.Errorf("ollama: unknown command %q", args[0])
}

func ollamaCall(host, method, path string, body, out any) error {
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, "http://"+host+path, rd)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("could not connect to ollama app, is it running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("Error: %s", e.Error)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

func modelName(n string) string {
	if n != "" && !strings.Contains(n, ":") {
		n += ":latest"
	}
	return n
}

func ollamaAPI(dir string) http.Handler {
	file := func(m string) string { return filepath.Join(dir, strings.ReplaceAll(m, "/", "_")) }
	have := func(m string) bool { _, err := os.Stat(file(m)); return err == nil }
	req := func(r *http.Request) (string, map[string]any) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		m, _ := body["model"].(string)
		if m == "" {
			m, _ = body["name"].(string)
		}
		return modelName(m), body
	}
	notFound := func(w http.ResponseWriter, m string) {
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf("model '%s' not found", m)})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "Ollama is running") })
	mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"version": "0.5.7"})
	})
	list := func() []map[string]any {
		entries, _ := os.ReadDir(dir)
		var out []map[string]any
		for _, e := range entries {
			name, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			out = append(out, map[string]any{"name": string(name), "model": string(name), "size": 1 << 20})
		}
		sort.Slice(out, func(i, j int) bool { return out[i]["name"].(string) < out[j]["name"].(string) })
		return out
	}
	mux.HandleFunc("GET /api/tags", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"models": list()})
	})
	mux.HandleFunc("GET /api/ps", func(w http.ResponseWriter, _ *http.Request) {
		models := list()
		for _, m := range models {
			m["size_vram"] = 0
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"models": models})
	})
	mux.HandleFunc("POST /api/pull", func(w http.ResponseWriter, r *http.Request) {
		m, _ := req(r)
		if m == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if err := os.WriteFile(file(m), []byte(m), 0o644); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "success"})
	})
	mux.HandleFunc("POST /api/show", func(w http.ResponseWriter, r *http.Request) {
		m, _ := req(r)
		if !have(m) {
			notFound(w, m)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"modelfile": "FROM " + m, "details": map[string]string{"format": "gguf"}})
	})
	mux.HandleFunc("POST /api/generate", func(w http.ResponseWriter, r *http.Request) {
		m, _ := req(r)
		if !have(m) {
			notFound(w, m)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"model": m, "response": "OK", "done": true,
			"eval_count": 2, "eval_duration": 50_000_000, "prompt_eval_duration": 10_000_000, "load_duration": 1_000_000})
	})
	mux.HandleFunc("POST /api/embed", func(w http.ResponseWriter, r *http.Request) {
		m, _ := req(r)
		if !have(m) {
			notFound(w, m)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"model": m, "embeddings": [][]float64{{0.1, 0.2, 0.3}}})
	})
	return mux
}
