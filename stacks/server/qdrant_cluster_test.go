package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeQdrant stands in for a Qdrant v1.13.2 cluster's REST API as the
// backup and restore scripts use it. What it reproduces, and from where
// (github.com/qdrant/qdrant at v1.13.2):
//   - the answers' shapes: docs/redoc/v1.13.x/openapi.json and
//     lib/collection/src/operations/types.rs (CollectionClusterInfo,
//     LocalShardInfo with shard_id, points_count, state; RemoteShardInfo with
//     peer_id), compact JSON as serde writes it;
//   - a peer reports and snapshots only the shard copies it holds: a
//     snapshot of a shard it does not hold is an error, and a collection
//     snapshot holds its own shards only (docs: "you must create snapshots
//     for each node separately");
//   - shard recovery (src/common/snapshots.rs; collections' in
//     lib/storage/src/content_manager/snapshots/recover.rs):
//     with priority=snapshot the uploaded copy becomes active and the other
//     active copies are marked dead (the cluster then copies the shard to
//     them: done here at once); with the default, replica, the uploaded copy
//     is marked dead and resynced from the others, so the upload changes
//     nothing;
//   - collection creation (toc/create_collection.rs): shard_number defaults
//     to the number of peers, replication_factor to the node's default (2 on
//     the server stage); a collection that exists is refused.
//
// Points are id -> payload strings; a snapshot is the JSON of one copy's
// points. A peer that is down closes every connection.
type fakeQdrant struct {
	mu    sync.Mutex
	t     *testing.T
	urls  []string
	down  map[int]bool
	colls map[string]*fakeCollection
	// snaps are the snapshots on each peer's disk: peer -> path -> content.
	snaps map[int]map[string][]byte
	// failSnapshot and failDownload make a peer's shard snapshot fail (500)
	// or its download break off.
	failSnapshot, failDownload map[int]bool
}

type fakeCollection struct {
	shardNumber, rf int
	vectors         string
	// copies: shard -> peer -> its copy.
	copies map[int]map[int]*fakeCopy
}

type fakeCopy struct {
	state  string
	points map[string]string
}

func newFakeQdrant(t *testing.T, peers int) *fakeQdrant {
	q := &fakeQdrant{t: t, down: map[int]bool{}, colls: map[string]*fakeCollection{}, snaps: map[int]map[string][]byte{},
		failSnapshot: map[int]bool{}, failDownload: map[int]bool{}}
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
	c := &fakeCollection{shardNumber: shards, rf: rf, vectors: vectors, copies: map[int]map[int]*fakeCopy{}}
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
	defer q.mu.Unlock()
	if q.down[p] {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}
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
		var names []string
		for n := range q.colls {
			names = append(names, n)
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
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
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
		q.create(name, shards, rf, string(body.Vectors))
		ok(true)
		return
	}
	if c == nil {
		fail(404, fmt.Sprintf("Not found: Collection `%s` doesn't exist!", name))
		return
	}
	switch {
	case len(parts) == 2 && r.Method == "GET":
		params := fmt.Sprintf(`{"vectors":%s,"shard_number":%d,"replication_factor":%d,"write_consistency_factor":1,"on_disk_payload":true}`, c.vectors, c.shardNumber, c.rf)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"result":{"status":"green","optimizer_status":"ok","indexed_vectors_count":0,"points_count":0,"segments_count":2,`+
			`"config":{"params":%s,"hnsw_config":{"m":16,"ef_construct":100,"full_scan_threshold":10000,"max_indexing_threads":0,"on_disk":false},`+
			`"optimizer_config":{"deleted_threshold":0.2,"vacuum_min_vector_number":1000,"default_segment_number":0,"max_segment_size":null,"memmap_threshold":null,"indexing_threshold":20000,"flush_interval_sec":5,"max_optimization_threads":null},`+
			`"wal_config":{"wal_capacity_mb":32,"wal_segments_ahead":0},"quantization_config":null,"strict_mode_config":{"enabled":false}},"payload_schema":{}},"status":"ok","time":0.0002}`, params)
	case len(parts) == 2 && r.Method == "DELETE":
		delete(q.colls, name)
		ok(true)
	case len(parts) == 3 && parts[2] == "cluster" && r.Method == "GET":
		local, remote := []map[string]any{}, []map[string]any{}
		for s := range c.shardNumber {
			for peer, cp := range c.copies[s] {
				if peer == p {
					local = append(local, map[string]any{"shard_id": s, "points_count": len(cp.points), "state": cp.state})
				} else {
					remote = append(remote, map[string]any{"shard_id": s, "peer_id": q.peerID(peer), "state": cp.state})
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
		cp := c.copies[s][p]
		if err != nil || cp == nil {
			fail(404, fmt.Sprintf("Not found: shard %s of collection `%s` is not on this peer", parts[3], name))
			return
		}
		switch {
		case len(parts) == 5 && r.Method == "POST":
			if q.failSnapshot[p] {
				fail(500, "Service internal error: No space left on device")
				return
			}
			b, _ := json.Marshal(fakeSnapshot{Collection: name, Shards: map[int]map[string]string{s: cp.points}})
			snapName := fmt.Sprintf("%s-shard-%d-%d-2026-12-05-03-00-00.snapshot", name, s, q.peerID(p))
			q.snaps[p][name+"/"+parts[3]+"/"+snapName] = b
			ok(map[string]any{"name": snapName, "creation_time": "2026-12-05T03:00:00", "size": len(b), "checksum": "0"})
		case len(parts) == 6 && parts[5] == "upload" && r.Method == "POST":
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
	case "snapshot":
		me.state = "Active"
		for peer, cp := range c.copies[s] {
			if peer != p {
				// Dead, then recovered by a transfer from the active copy.
				cp.points = map[string]string{}
				for k, v := range me.points {
					cp.points[k] = v
				}
				cp.state = "Active"
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

func readSnapshot(r *http.Request) (fakeSnapshot, error) {
	var snap fakeSnapshot
	f, _, err := r.FormFile("snapshot")
	if err != nil {
		return snap, fmt.Errorf("Bad request: no snapshot in the form: %v", err)
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	if err := json.Unmarshal(b, &snap); err != nil {
		return snap, fmt.Errorf("Bad request: not a snapshot: %v", err)
	}
	return snap, nil
}
