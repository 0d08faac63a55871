package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// qdrant reproduces Qdrant v1.13.2's REST surface as the rendered files use
// it (docs/redoc/v1.13.x/openapi.json): the HTTP API on
// QDRANT__SERVICE__HTTP_PORT (default 6333) with /healthz, /livez, /readyz and
// /metrics; collections under /collections (created with their parameters,
// points upserted and counted); a collection's cluster info, whose shards
// are all local to this one peer; snapshots of a shard (create, list,
// download, delete, recover from an upload; a snapshot's description
// carries its SHA-256) and of a collection, written to
// QDRANT__STORAGE__SNAPSHOTS_PATH. A collection's name follows Qdrant's rule
// (lib/common/common/src/validation.rs: none of <>:"/\|?* NUL 0x1F). When
// QDRANT__SERVICE__API_KEY is set every call but the health endpoints needs
// it in the api-key header, as in Qdrant. Flags such as --uri and
// --bootstrap (cluster mode) are accepted; no clustering happens here: each
// peer holds its own collections, every shard of them, one copy.
func qdrant(_ []string) error {
	port := os.Getenv("QDRANT__SERVICE__HTTP_PORT")
	if port == "" {
		port = "6333"
	}
	storage := filepath.Join(envOr("QDRANT__STORAGE__STORAGE_PATH", "./storage"), "collections")
	snapshots := envOr("QDRANT__STORAGE__SNAPSHOTS_PATH", "./snapshots")
	for _, d := range []string{storage, snapshots} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("qdrant: %w", err)
		}
	}
	q := &qdrantPeer{storage: storage, snapshots: snapshots}
	key := os.Getenv("QDRANT__SERVICE__API_KEY")
	mux := http.NewServeMux()
	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		mux.HandleFunc("GET "+p, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "healthz check passed") })
	}
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "# TYPE app_info gauge")
		fmt.Fprintln(w, `app_info{name="qdrant",version="1.13.2"} 1`)
	})
	mux.HandleFunc("GET /collections", q.list)
	mux.HandleFunc("PUT /collections/{c}", q.create)
	mux.HandleFunc("GET /collections/{c}", q.with(q.info))
	mux.HandleFunc("DELETE /collections/{c}", q.with(q.drop))
	mux.HandleFunc("PUT /collections/{c}/points", q.with(q.upsert))
	mux.HandleFunc("POST /collections/{c}/points/count", q.with(q.count))
	mux.HandleFunc("GET /collections/{c}/cluster", q.with(q.cluster))
	mux.HandleFunc("POST /collections/{c}/snapshots", q.with(q.snapshot(false)))
	mux.HandleFunc("GET /collections/{c}/snapshots", q.with(q.snapshotList(false)))
	mux.HandleFunc("GET /collections/{c}/snapshots/{s}", q.with(q.snapshotFile(false)))
	mux.HandleFunc("DELETE /collections/{c}/snapshots/{s}", q.with(q.snapshotFile(false)))
	mux.HandleFunc("POST /collections/{c}/snapshots/upload", q.with(q.recover(false)))
	mux.HandleFunc("POST /collections/{c}/shards/{id}/snapshots", q.with(q.snapshot(true)))
	mux.HandleFunc("GET /collections/{c}/shards/{id}/snapshots", q.with(q.snapshotList(true)))
	mux.HandleFunc("GET /collections/{c}/shards/{id}/snapshots/{s}", q.with(q.snapshotFile(true)))
	mux.HandleFunc("DELETE /collections/{c}/shards/{id}/snapshots/{s}", q.with(q.snapshotFile(true)))
	mux.HandleFunc("POST /collections/{c}/shards/{id}/snapshots/upload", q.with(q.recover(true)))
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

// qdrantPeer keeps each collection in a directory named by the hex of its
// name: params.json (its parameters) and points.json (id -> payload).
type qdrantPeer struct {
	mu                 sync.Mutex
	storage, snapshots string
}

// qdrantCollection is one collection's state on disk.
type qdrantCollection struct {
	Name   string                     `json:"-"`
	Params map[string]json.RawMessage `json:"params"`
	Points map[string]json.RawMessage `json:"points"`
}

func (c *qdrantCollection) shards() int {
	n := 1
	if raw, ok := c.Params["shard_number"]; ok {
		_ = json.Unmarshal(raw, &n)
	}
	return max(n, 1)
}

// shardOf places a point: its numeric id modulo the shards (UUIDs by their
// bytes' sum), as stable as Qdrant's hash ring for this purpose.
func (c *qdrantCollection) shardOf(id string) int {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		for _, b := range []byte(id) {
			n += uint64(b)
		}
	}
	return int(n % uint64(c.shards()))
}

func qdrantOK(w http.ResponseWriter, result any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"result": result, "status": "ok", "time": 0.0001})
}

func qdrantError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": map[string]string{"error": msg}, "time": 0.0001})
}

func validCollectionName(n string) bool {
	return n != "" && len(n) <= 255 && !strings.ContainsAny(n, "<>:\"/\\|?*\x00\x1f")
}

func (q *qdrantPeer) dir(name string) string {
	return filepath.Join(q.storage, hex.EncodeToString([]byte(name)))
}

func (q *qdrantPeer) load(name string) (*qdrantCollection, error) {
	b, err := os.ReadFile(filepath.Join(q.dir(name), "collection.json"))
	if err != nil {
		return nil, err
	}
	c := &qdrantCollection{Name: name}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, err
	}
	if c.Points == nil {
		c.Points = map[string]json.RawMessage{}
	}
	return c, nil
}

func (q *qdrantPeer) save(c *qdrantCollection) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tmp := filepath.Join(q.dir(c.Name), "collection.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(q.dir(c.Name), "collection.json"))
}

// with runs h on the collection the path names, under the peer's lock.
func (q *qdrantPeer) with(h func(http.ResponseWriter, *http.Request, *qdrantCollection)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q.mu.Lock()
		defer q.mu.Unlock()
		name := r.PathValue("c")
		c, err := q.load(name)
		if err != nil {
			qdrantError(w, http.StatusNotFound, fmt.Sprintf("Not found: Collection `%s` doesn't exist!", name))
			return
		}
		h(w, r, c)
	}
}

func (q *qdrantPeer) list(w http.ResponseWriter, _ *http.Request) {
	q.mu.Lock()
	defer q.mu.Unlock()
	entries, _ := os.ReadDir(q.storage)
	cs := []map[string]string{}
	for _, e := range entries {
		if n, err := hex.DecodeString(e.Name()); err == nil {
			cs = append(cs, map[string]string{"name": string(n)})
		}
	}
	qdrantOK(w, map[string]any{"collections": cs})
}

func (q *qdrantPeer) create(w http.ResponseWriter, r *http.Request) {
	q.mu.Lock()
	defer q.mu.Unlock()
	name := r.PathValue("c")
	if !validCollectionName(name) {
		qdrantError(w, http.StatusUnprocessableEntity, "Validation error in path parameters: [name: collection name cannot contain a forbidden char]")
		return
	}
	if _, err := q.load(name); err == nil {
		qdrantError(w, http.StatusBadRequest, fmt.Sprintf("Wrong input: Collection `%s` already exists!", name))
		return
	}
	c := &qdrantCollection{Name: name, Params: map[string]json.RawMessage{}, Points: map[string]json.RawMessage{}}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&c.Params); err != nil {
			qdrantError(w, http.StatusBadRequest, "Format error in JSON body: "+err.Error())
			return
		}
	}
	if err := os.MkdirAll(q.dir(name), 0o755); err != nil {
		qdrantError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if err := q.save(c); err != nil {
		qdrantError(w, http.StatusInternalServerError, err.Error())
		return
	}
	qdrantOK(w, true)
}

func (q *qdrantPeer) info(w http.ResponseWriter, _ *http.Request, c *qdrantCollection) {
	params := map[string]any{"shard_number": c.shards(), "replication_factor": 1, "write_consistency_factor": 1, "on_disk_payload": true}
	for k, v := range c.Params {
		switch k {
		case "vectors", "sparse_vectors", "shard_number", "replication_factor", "write_consistency_factor", "on_disk_payload":
			params[k] = v
		}
	}
	qdrantOK(w, map[string]any{"status": "green", "optimizer_status": "ok", "points_count": len(c.Points), "segments_count": 1,
		"config":         map[string]any{"params": params, "hnsw_config": map[string]any{"m": 16, "ef_construct": 100}, "wal_config": map[string]any{"wal_capacity_mb": 32}},
		"payload_schema": map[string]any{}})
}

func (q *qdrantPeer) drop(w http.ResponseWriter, _ *http.Request, c *qdrantCollection) {
	if err := os.RemoveAll(q.dir(c.Name)); err != nil {
		qdrantError(w, http.StatusInternalServerError, err.Error())
		return
	}
	qdrantOK(w, true)
}

func (q *qdrantPeer) upsert(w http.ResponseWriter, r *http.Request, c *qdrantCollection) {
	var body struct {
		Points []struct {
			ID      json.RawMessage `json:"id"`
			Payload json.RawMessage `json:"payload"`
		} `json:"points"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		qdrantError(w, http.StatusBadRequest, "Format error in JSON body: "+err.Error())
		return
	}
	for _, p := range body.Points {
		c.Points[strings.Trim(string(p.ID), `"`)] = p.Payload
	}
	if err := q.save(c); err != nil {
		qdrantError(w, http.StatusInternalServerError, err.Error())
		return
	}
	qdrantOK(w, map[string]any{"operation_id": 1, "status": "completed"})
}

func (q *qdrantPeer) count(w http.ResponseWriter, _ *http.Request, c *qdrantCollection) {
	qdrantOK(w, map[string]int{"count": len(c.Points)})
}

func (q *qdrantPeer) cluster(w http.ResponseWriter, _ *http.Request, c *qdrantCollection) {
	local := []map[string]any{}
	for s := range c.shards() {
		n := 0
		for id := range c.Points {
			if c.shardOf(id) == s {
				n++
			}
		}
		local = append(local, map[string]any{"shard_id": s, "points_count": n, "state": "Active"})
	}
	qdrantOK(w, map[string]any{"peer_id": 5419871205326466, "shard_count": c.shards(), "local_shards": local,
		"remote_shards": []any{}, "shard_transfers": []any{}})
}

// snapshotDir is where a collection's (or a shard's) snapshots are kept.
func (q *qdrantPeer) snapshotDir(r *http.Request, c *qdrantCollection, shard bool) (string, int, bool) {
	dir := filepath.Join(q.snapshots, hex.EncodeToString([]byte(c.Name)))
	if !shard {
		return dir, -1, true
	}
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 0 || id >= c.shards() {
		return "", 0, false
	}
	return filepath.Join(dir, "shards", strconv.Itoa(id)), id, true
}

// qdrantSnapshot is a snapshot's content: the points of a shard, or of
// every shard.
type qdrantSnapshot struct {
	Collection string                     `json:"collection"`
	Shard      int                        `json:"shard"`
	Points     map[string]json.RawMessage `json:"points"`
}

func (q *qdrantPeer) snapshot(shard bool) func(http.ResponseWriter, *http.Request, *qdrantCollection) {
	return func(w http.ResponseWriter, r *http.Request, c *qdrantCollection) {
		dir, id, ok := q.snapshotDir(r, c, shard)
		if !ok {
			qdrantError(w, http.StatusNotFound, fmt.Sprintf("Not found: shard %s of collection `%s` is not on this peer", r.PathValue("id"), c.Name))
			return
		}
		snap := qdrantSnapshot{Collection: c.Name, Shard: id, Points: map[string]json.RawMessage{}}
		for pid, p := range c.Points {
			if id < 0 || c.shardOf(pid) == id {
				snap.Points[pid] = p
			}
		}
		b, _ := json.Marshal(snap)
		name := fmt.Sprintf("%s-%s.snapshot", c.Name, time.Now().UTC().Format("2006-01-02-15-04-05.000"))
		if id >= 0 {
			name = fmt.Sprintf("%s-shard-%d-%s.snapshot", c.Name, id, time.Now().UTC().Format("2006-01-02-15-04-05.000"))
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			qdrantError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if err := os.WriteFile(filepath.Join(dir, hex.EncodeToString([]byte(name))), b, 0o644); err != nil {
			qdrantError(w, http.StatusInternalServerError, err.Error())
			return
		}
		qdrantOK(w, map[string]any{"name": name, "creation_time": time.Now().UTC().Format("2006-01-02T15:04:05"), "size": len(b),
			"checksum": fmt.Sprintf("%x", sha256.Sum256(b))})
	}
}

func (q *qdrantPeer) snapshotList(shard bool) func(http.ResponseWriter, *http.Request, *qdrantCollection) {
	return func(w http.ResponseWriter, r *http.Request, c *qdrantCollection) {
		dir, _, _ := q.snapshotDir(r, c, shard)
		entries, _ := os.ReadDir(dir)
		out := []map[string]string{}
		for _, e := range entries {
			if n, err := hex.DecodeString(e.Name()); err == nil && !e.IsDir() {
				out = append(out, map[string]string{"name": string(n)})
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i]["name"] < out[j]["name"] })
		qdrantOK(w, out)
	}
}

// snapshotFile downloads (GET) or deletes (DELETE) one snapshot.
func (q *qdrantPeer) snapshotFile(shard bool) func(http.ResponseWriter, *http.Request, *qdrantCollection) {
	return func(w http.ResponseWriter, r *http.Request, c *qdrantCollection) {
		dir, _, ok := q.snapshotDir(r, c, shard)
		path := filepath.Join(dir, hex.EncodeToString([]byte(r.PathValue("s"))))
		if _, err := os.Stat(path); !ok || err != nil {
			qdrantError(w, http.StatusNotFound, "Not found: Snapshot "+r.PathValue("s")+" not found")
			return
		}
		if r.Method == http.MethodDelete {
			_ = os.Remove(path)
			qdrantOK(w, true)
			return
		}
		http.ServeFile(w, r, path)
	}
}

// recover replaces a shard's points (or every shard's) with an uploaded
// snapshot's. One copy, one peer: the priority has nothing to choose from.
func (q *qdrantPeer) recover(shard bool) func(http.ResponseWriter, *http.Request, *qdrantCollection) {
	return func(w http.ResponseWriter, r *http.Request, c *qdrantCollection) {
		_, id, ok := q.snapshotDir(r, c, shard)
		if !ok {
			qdrantError(w, http.StatusNotFound, fmt.Sprintf("Not found: shard %s of collection `%s` is not on this peer", r.PathValue("id"), c.Name))
			return
		}
		f, _, err := r.FormFile("snapshot")
		if err != nil {
			qdrantError(w, http.StatusBadRequest, "Bad request: no snapshot in the form")
			return
		}
		defer f.Close()
		var snap qdrantSnapshot
		if err := json.NewDecoder(f).Decode(&snap); err != nil || snap.Shard != id {
			qdrantError(w, http.StatusBadRequest, "Bad request: not a snapshot of this shard")
			return
		}
		for pid := range c.Points {
			if id < 0 || c.shardOf(pid) == id {
				delete(c.Points, pid)
			}
		}
		for pid, p := range snap.Points {
			c.Points[pid] = p
		}
		if err := q.save(c); err != nil {
			qdrantError(w, http.StatusInternalServerError, err.Error())
			return
		}
		qdrantOK(w, true)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
