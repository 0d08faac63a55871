package server

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeQdrant stands in for a Qdrant v1.13.2 cluster's REST API as the
// backup and restore scripts use it. What it reproduces, and from where
// (github.com/qdrant/qdrant at v1.13.2):
//   - the answers' shapes: docs/redoc/v1.13.x/openapi.json and
//     lib/collection/src/operations/types.rs (CollectionClusterInfo,
//     LocalShardInfo with shard_id, points_count, state; RemoteShardInfo with
//     peer_id), compact JSON as serde writes it;
//   - a peer reports and snapshots only the shard copies it holds: a
//     snapshot of a shard it does not hold is refused (400; 404 for a shard
//     that does not exist), and a collection snapshot holds its own shards
//     only (docs: "you must create snapshots for each node separately"); a
//     snapshot's description carries its SHA-256 (snapshot_ops.rs), and an
//     upload's checksum parameter is checked;
//   - shard recovery (src/common/snapshots.rs; collections' in
//     lib/storage/src/content_manager/snapshots/recover.rs):
//     with priority=snapshot (the default in 1.13.2, snapshot_ops.rs) the
//     uploaded copy becomes active and the other active copies are marked
//     dead, then filled from it by a transfer after the upload has returned
//     (here: over the next two cluster-info requests); with replica the
//     uploaded copy is marked dead and resynced from the others, so the
//     upload changes nothing;
//   - collection creation (toc/create_collection.rs, collection_meta_ops.rs):
//     shard_number defaults to the number of peers, replication_factor to the
//     node's default (2 on the server stage); the copies start Initializing
//     (active after two cluster-info requests); hnsw, optimizer (optimizer_
//     config on GET, optimizers_config on PUT), WAL, quantization and strict
//     mode settings are kept; payload indexes are made by PUT .../index; a
//     collection that exists is refused.
//
// Points are id -> payload strings; a snapshot is the JSON of one copy's
// points. A peer that is down closes every connection.
type fakeQdrant struct {
	mu sync.Mutex
	// unauthorized counts the calls refused for a missing or wrong API key.
	unauthorized int
	t            *testing.T
	urls         []string
	down         map[int]bool
	colls        map[string]*fakeCollection
	// snaps are the snapshots on each peer's disk: peer -> path -> content.
	snaps map[int]map[string][]byte
	// failSnapshot and failDownload make a peer's shard snapshot fail (500)
	// or its download break off; hang makes a peer take connections and
	// never answer; listsNone makes its collection list empty (a peer still
	// catching up on the cluster's state).
	failSnapshot, failDownload, hang, listsNone map[int]bool
	// ghosts are listed by every peer but exist on none (deleted since);
	// onlyOn are collections only one peer still has (deleted, and that
	// peer behind the others).
	ghosts []string
	onlyOn map[string]int
	// remoteState, when set, is the state a viewer peer reports for
	// another peer's copy (a view that disagrees with the copy's own peer).
	remoteState func(viewer, owner, shard int, state string) string
}

type fakeCollection struct {
	shardNumber, rf int
	vectors         string
	// extra are the settings beside params, as GET shows them (hnsw_config,
	// optimizer_config, ...); indexes the payload indexes' entries of
	// payload_schema.
	extra, indexes map[string]json.RawMessage
	// copies: shard -> peer -> its copy.
	copies map[int]map[int]*fakeCopy
}

type fakeCopy struct {
	state  string
	points map[string]string
	// pending counts the cluster-info requests until the copy is active,
	// filled from from when that is set.
	pending int
	from    *fakeCopy
}

// fakeQdrantKey is the fake cluster's API key.
const fakeQdrantKey = "qdrant-Key.0_~+/=@%^*!,-9"

func newFakeQdrant(t *testing.T, peers int) *fakeQdrant {
	q := &fakeQdrant{t: t, down: map[int]bool{}, colls: map[string]*fakeCollection{}, snaps: map[int]map[string][]byte{},
		failSnapshot: map[int]bool{}, failDownload: map[int]bool{}, hang: map[int]bool{}, listsNone: map[int]bool{}, onlyOn: map[string]int{}}
	for p := range peers {
		q.snaps[p] = map[string][]byte{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { q.serve(p, w, r) }))
		t.Cleanup(srv.Close)
		q.urls = append(q.urls, srv.URL)
	}
	return q
}

func (q *fakeQdrant) peerID(p int) int64 { return 5419871205326400 + int64(p) }

// create makes a collection, its shards placed round the peers.
func (q *fakeQdrant) create(name string, shards, rf int, vectors string) *fakeCollection {
	c := &fakeCollection{shardNumber: shards, rf: rf, vectors: vectors, copies: map[int]map[int]*fakeCopy{},
		extra:   map[string]json.RawMessage{"hnsw_config": json.RawMessage(`{"m":16,"ef_construct":100,"full_scan_threshold":10000,"max_indexing_threads":0,"on_disk":false}`)},
		indexes: map[string]json.RawMessage{}}
	for s := range shards {
		c.copies[s] = map[int]*fakeCopy{}
		for k := range rf {
			c.copies[s][(s+k)%len(q.urls)] = &fakeCopy{state: "Active", points: map[string]string{}}
		}
	}
	q.colls[name] = c
	return c
}

// put writes a point to every copy of its shard.
func (c *fakeCollection) put(id, payload string) {
	n, _ := strconv.Atoi(id)
	for _, cp := range c.copies[n%c.shardNumber] {
		cp.points[id] = payload
	}
}

// points are what a search would find: each shard's points from an active
// copy, which must agree with every other active copy.
func (q *fakeQdrant) points(name string) (map[string]string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.colls[name]
	if c == nil {
		return nil, fmt.Errorf("no collection %q", name)
	}
	all := map[string]string{}
	for s, copies := range c.copies {
		var seen string
		for p, cp := range copies {
			if cp.state != "Active" {
				return nil, fmt.Errorf("shard %d on peer %d is %s", s, p, cp.state)
			}
			b, _ := json.Marshal(cp.points)
			if seen != "" && seen != string(b) {
				return nil, fmt.Errorf("the copies of shard %d differ", s)
			}
			seen = string(b)
			for k, v := range cp.points {
				all[k] = v
			}
		}
	}
	return all, nil
}

type fakeSnapshot struct {
	Collection string                    `json:"collection"`
	Shards     map[int]map[string]string `json:"shards"`
}

func (q *fakeQdrant) serve(p int, w http.ResponseWriter, r *http.Request) {
	q.mu.Lock()
	if q.hang[p] {
		q.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
		return
	}
	defer q.mu.Unlock()
	if q.down[p] {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}
		return
	}
	// Qdrant's API key (src/actix/auth.rs, common/auth/mod.rs at v1.13.2):
	// every call but /, /healthz, /readyz and /livez needs it, in the
	// api-key header or as a bearer token; without it, 401.
	if got := r.Header.Get("api-key"); got != fakeQdrantKey && r.Header.Get("Authorization") != "Bearer "+fakeQdrantKey {
		q.unauthorized++
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"status":{"error":"Must provide an API key or an Authorization bearer token"},"time":0.0}`))
		return
	}
	ok := func(result any) {
		w.Header().Set("Content-Type", "application/json")
		b, _ := json.Marshal(map[string]any{"result": result, "status": "ok", "time": 0.000123})
		w.Write(b)
	}
	fail := func(code int, msg string) {
		w.WriteHeader(code)
		b, _ := json.Marshal(map[string]any{"status": map[string]string{"error": msg}, "time": 0.0001})
		w.Write(b)
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) == 0 || parts[0] != "collections" {
		fail(404, "not found")
		return
	}
	if len(parts) == 1 && r.Method == "GET" {
		names := append([]string{}, q.ghosts...)
		for n := range q.colls {
			if only, ok := q.onlyOn[n]; !q.listsNone[p] && (!ok || only == p) {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		cs := []map[string]string{}
		for _, n := range names {
			cs = append(cs, map[string]string{"name": n})
		}
		ok(map[string]any{"collections": cs})
		return
	}
	name := parts[1]
	c := q.colls[name]
	if only, ok := q.onlyOn[name]; ok && only != p {
		c = nil
	}
	if len(parts) == 2 && r.Method == "PUT" {
		if c != nil {
			fail(400, fmt.Sprintf("Wrong input: Collection `%s` already exists!", name))
			return
		}
		var body struct {
			Vectors                json.RawMessage `json:"vectors"`
			ShardNumber            *int            `json:"shard_number"`
			ReplicationFactor      *int            `json:"replication_factor"`
			WriteConsistencyFactor *int            `json:"write_consistency_factor"`
			HNSW                   json.RawMessage `json:"hnsw_config"`
			Optimizers             json.RawMessage `json:"optimizers_config"`
			Quantization           json.RawMessage `json:"quantization_config"`
		}
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(&body); err != nil {
			fail(400, "Format error in JSON body: "+err.Error())
			return
		}
		shards, rf := len(q.urls), 2
		if body.ShardNumber != nil {
			shards = *body.ShardNumber
		}
		if body.ReplicationFactor != nil {
			rf = *body.ReplicationFactor
		}
		c := q.create(name, shards, rf, string(body.Vectors))
		for k, v := range map[string]json.RawMessage{"hnsw_config": body.HNSW, "optimizer_config": body.Optimizers, "quantization_config": body.Quantization} {
			if v != nil {
				c.extra[k] = v
			}
		}
		for _, copies := range c.copies {
			for _, cp := range copies {
				cp.state, cp.pending = "Initializing", 2
			}
		}
		ok(true)
		return
	}
	if c == nil {
		fail(404, fmt.Sprintf("Not found: Collection `%s` doesn't exist!", name))
		return
	}
	switch {
	case len(parts) == 2 && r.Method == "GET":
		config := map[string]json.RawMessage{"params": json.RawMessage(fmt.Sprintf(`{"vectors":%s,"shard_number":%d,"replication_factor":%d,"write_consistency_factor":1,"on_disk_payload":true}`, c.vectors, c.shardNumber, c.rf)),
			"wal_config": json.RawMessage(`{"wal_capacity_mb":32,"wal_segments_ahead":0}`), "quantization_config": json.RawMessage(`null`)}
		maps.Copy(config, c.extra)
		schema := map[string]json.RawMessage{}
		maps.Copy(schema, c.indexes)
		ok(map[string]any{"status": "green", "optimizer_status": "ok", "indexed_vectors_count": 0, "points_count": 0, "segments_count": 2,
			"config": config, "payload_schema": schema})
	case len(parts) == 3 && parts[2] == "index" && r.Method == "PUT":
		var body struct {
			Field  string          `json:"field_name"`
			Schema json.RawMessage `json:"field_schema"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Field == "" {
			fail(400, "Format error in JSON body")
			return
		}
		entry := map[string]any{"points": 0}
		var typ string
		if json.Unmarshal(body.Schema, &typ) == nil {
			entry["data_type"] = typ
		} else {
			var params struct{ Type string }
			json.Unmarshal(body.Schema, &params)
			entry["data_type"], entry["params"] = params.Type, body.Schema
		}
		b, _ := json.Marshal(entry)
		c.indexes[body.Field] = b
		ok(map[string]any{"operation_id": 1, "status": "completed"})
	case len(parts) == 2 && r.Method == "DELETE":
		delete(q.colls, name)
		ok(true)
	case len(parts) == 3 && parts[2] == "cluster" && r.Method == "GET":
		q.tick()
		local, remote := []map[string]any{}, []map[string]any{}
		for s := range c.shardNumber {
			for peer, cp := range c.copies[s] {
				if peer == p {
					local = append(local, map[string]any{"shard_id": s, "points_count": len(cp.points), "state": cp.state})
				} else {
					state := cp.state
					if q.remoteState != nil {
						state = q.remoteState(p, peer, s, state)
					}
					remote = append(remote, map[string]any{"shard_id": s, "peer_id": q.peerID(peer), "state": state})
				}
			}
		}
		// serde writes the fields in the struct's order.
		w.Header().Set("Content-Type", "application/json")
		lj, _ := json.Marshal(local)
		rj, _ := json.Marshal(remote)
		fmt.Fprintf(w, `{"result":{"peer_id":%d,"shard_count":%d,"local_shards":%s,"remote_shards":%s,"shard_transfers":[]},"status":"ok","time":0.00001}`,
			q.peerID(p), c.shardNumber, lj, rj)
	case len(parts) == 4 && parts[2] == "snapshots" && parts[3] == "upload" && r.Method == "POST":
		// A collection snapshot: this peer's copies of the shards in it.
		snap, err := readSnapshot(r)
		if err != nil {
			fail(400, err.Error())
			return
		}
		for s, pts := range snap.Shards {
			if cp := c.copies[s][p]; cp != nil {
				cp.points = pts
				q.recovered(c, s, p, r.URL.Query().Get("priority"))
			}
		}
		ok(true)
	case len(parts) >= 5 && parts[2] == "shards" && parts[4] == "snapshots":
		s, err := strconv.Atoi(parts[3])
		if _, exists := c.copies[s]; err != nil || !exists {
			fail(404, fmt.Sprintf("Not found: shard %s of collection `%s` does not exist", parts[3], name))
			return
		}
		cp := c.copies[s][p]
		if cp == nil {
			fail(400, fmt.Sprintf("Bad request: shard %d is not a local or queue proxy shard", s))
			return
		}
		switch {
		case len(parts) == 5 && r.Method == "POST":
			if q.failSnapshot[p] {
				fail(500, "Service internal error: No space left on device")
				return
			}
			b, _ := json.Marshal(fakeSnapshot{Collection: name, Shards: map[int]map[string]string{s: cp.points}})
			snapName := fmt.Sprintf("%s-shard-%d-2026-12-05-03-00-00.snapshot", name, s)
			q.snaps[p][name+"/"+parts[3]+"/"+snapName] = b
			ok(map[string]any{"name": snapName, "creation_time": "2026-12-05T03:00:00", "size": len(b), "checksum": fmt.Sprintf("%x", sha256.Sum256(b))})
		case len(parts) == 6 && parts[5] == "upload" && r.Method == "POST":
			if cp.state != "Active" {
				fail(400, fmt.Sprintf("Bad request: the copy of shard %d on this peer is %s", s, cp.state))
				return
			}
			snap, err := readSnapshot(r)
			if err != nil {
				fail(400, err.Error())
				return
			}
			pts, ok2 := snap.Shards[s]
			if snap.Collection != name || !ok2 || len(snap.Shards) != 1 {
				fail(400, fmt.Sprintf("Bad request: the snapshot is not of shard %d of `%s`", s, name))
				return
			}
			cp.points = pts
			q.recovered(c, s, p, r.URL.Query().Get("priority"))
			ok(true)
		case len(parts) == 6 && r.Method == "GET":
			b, found := q.snaps[p][name+"/"+parts[3]+"/"+parts[5]]
			if !found {
				fail(404, "Not found: Snapshot "+parts[5])
				return
			}
			if q.failDownload[p] {
				w.Header().Set("Content-Length", strconv.Itoa(len(b)*2))
				w.Write(b[:len(b)/2])
				return
			}
			w.Write(b)
		case len(parts) == 6 && r.Method == "DELETE":
			delete(q.snaps[p], name+"/"+parts[3]+"/"+parts[5])
			ok(true)
		default:
			fail(404, "not found")
		}
	default:
		fail(404, "not found")
	}
}

// recovered applies what Qdrant does after a copy is recovered on peer p.
func (q *fakeQdrant) recovered(c *fakeCollection, s, p int, priority string) {
	me := c.copies[s][p]
	switch priority {
	case "snapshot", "":
		me.state = "Active"
		for peer, cp := range c.copies[s] {
			if peer != p && cp.state == "Active" {
				// Dead, then filled by a transfer from the recovered copy.
				cp.state, cp.pending, cp.from = "Dead", 2, me
			}
		}
	case "no_sync":
		me.state = "Active"
	default: // replica: this copy is dead and resynced from the others
		for peer, cp := range c.copies[s] {
			if peer != p && cp.state == "Active" {
				me.points = map[string]string{}
				for k, v := range cp.points {
					me.points[k] = v
				}
				break
			}
		}
	}
}

// tick moves every copy being made or filled one request on.
func (q *fakeQdrant) tick() {
	for _, c := range q.colls {
		for _, copies := range c.copies {
			for _, cp := range copies {
				if cp.pending == 0 {
					continue
				}
				if cp.pending--; cp.pending == 0 {
					if cp.from != nil {
						cp.points = maps.Clone(cp.from.points)
						cp.from = nil
					}
					cp.state = "Active"
				}
			}
		}
	}
}

func readSnapshot(r *http.Request) (fakeSnapshot, error) {
	var snap fakeSnapshot
	f, _, err := r.FormFile("snapshot")
	if err != nil {
		return snap, fmt.Errorf("Bad request: no snapshot in the form: %v", err)
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	if sum := r.URL.Query().Get("checksum"); sum != "" && sum != fmt.Sprintf("%x", sha256.Sum256(b)) {
		return snap, fmt.Errorf("Bad request: the snapshot does not match its checksum")
	}
	if err := json.Unmarshal(b, &snap); err != nil {
		return snap, fmt.Errorf("Bad request: not a snapshot: %v", err)
	}
	return snap, nil
}
