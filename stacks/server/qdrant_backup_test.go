package server

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// qdrantScripts renders the backup and restore scripts and runs them
// against a fake cluster's peers.
type qdrantScripts struct {
	// key is the file of Qdrant's API key, as its secret is mounted.
	dir, backup, restore, key string
}

func newQdrantScripts(t *testing.T) qdrantScripts {
	t.Helper()
	for _, tool := range []string{"bash", "curl", "flock", "tar", "sha256sum", "awk", "paste"} {
		testutil.Tool(t, tool)
	}
	bk := BackupDefaults(testApp(t, "server", nil))
	// The job asks every peer the stage runs.
	if want := "http://qdrant-1:6333 http://qdrant-2:6333 http://qdrant-3:6333"; bk.QdrantURLs != want {
		t.Fatalf("the backup asks %q, not the stage's three peers %q", bk.QdrantURLs, want)
	}
	s := qdrantScripts{dir: t.TempDir()}
	s.backup, s.restore = writeBackupScripts(t, s.dir, bk)
	s.key = filepath.Join(s.dir, bk.QdrantSecret)
	if err := os.WriteFile(s.key, []byte(fakeQdrantKey), 0o400); err != nil {
		t.Fatal(err)
	}
	return s
}

// writeBackupScripts renders backup.sh and restore.sh into dir.
func writeBackupScripts(t *testing.T, dir string, bk BackupParams) (backup, restore string) {
	t.Helper()
	b, r, err := BackupScripts(bk)
	if err != nil {
		t.Fatal(err)
	}
	backup, restore = filepath.Join(dir, "backup.sh"), filepath.Join(dir, "restore.sh")
	for path, data := range map[string][]byte{backup: b, restore: r} {
		if err := os.WriteFile(path, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return backup, restore
}

func (s qdrantScripts) run(q *fakeQdrant, script string, args ...string) (string, error) {
	return s.runEnv(q, nil, script, args...)
}

func (s qdrantScripts) runEnv(q *fakeQdrant, env []string, script string, args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "QDRANT_URLS="+strings.Join(q.urls, " "), "BACKUP_DIR="+filepath.Join(s.dir, "nas"), "QDRANT_POLL=0.1", "QDRANT_API_KEY_FILE="+s.key)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// archive is what a backup file holds: name -> content.
func readArchive(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if h.Typeflag == tar.TypeReg {
			out[strings.TrimPrefix(h.Name, "./")] = string(b)
		}
	}
}

// A collection snapshot holds only the shards of the peer that makes it;
// with three peers and two copies of each of three shards no peer holds
// them all. The backup saves every shard of every collection, each from a
// peer whose copy is active, so it survives a peer down; a shard with no
// such copy fails it and nothing is kept. The restore brings every copy of
// every shard back to the backup's points, on the same cluster or on an
// empty one (the collection created as it was).
func TestQdrantBackupHoldsEveryShard(t *testing.T) {
	s := newQdrantScripts(t)
	vectors := `{"size":4,"distance":"Cosine","on_disk":true}`
	hnsw := `{"m":32,"ef_construct":200,"full_scan_threshold":10000,"max_indexing_threads":0,"on_disk":false}`
	for _, tc := range []struct {
		name        string
		collections []string
		prepare     func(q *fakeQdrant)
		// fail is what a failed backup says; "" when it succeeds.
		fail string
		env  []string
	}{
		{"every peer up", []string{"crm"}, nil, "", nil},
		{"a peer down", []string{"crm"}, func(q *fakeQdrant) { q.down[0] = true }, "", nil},
		{"both copies of a shard down", []string{"crm"}, func(q *fakeQdrant) { q.down[1], q.down[2] = true, true },
			"shard 1 of collection crm has no active copy that could be saved", nil},
		{"the only copy that answers is partial", []string{"crm"}, func(q *fakeQdrant) {
			q.down[1] = true
			q.colls["crm"].copies[1][2].state = "Partial"
		}, "shard 1 of collection crm has no active copy", nil},
		// Peer 0 calls its copy of shard 0 active; the others call it dead
		// (and it lacks a point): shard 0 comes from peer 1.
		{"a copy only its own peer calls active", []string{"crm"}, func(q *fakeQdrant) {
			delete(q.colls["crm"].copies[0][0].points, "3")
			q.remoteState = func(viewer, owner, shard int, state string) string {
				if owner == 0 && shard == 0 {
					return "Dead"
				}
				return state
			}
		}, "", nil},
		{"a peer cannot make a snapshot", []string{"crm"}, func(q *fakeQdrant) { q.failSnapshot[1] = true }, "", nil},
		{"neither copy of a shard can make a snapshot", []string{"crm"}, func(q *fakeQdrant) { q.failSnapshot[1], q.failSnapshot[2] = true, true },
			"shard 1 of collection crm has no active copy that could be saved", nil},
		{"a download breaks off", []string{"crm"}, func(q *fakeQdrant) { q.failDownload[0] = true }, "", nil},
		{"downloads of both copies break off", []string{"crm"}, func(q *fakeQdrant) { q.failDownload[1], q.failDownload[2] = true, true },
			"curl: (18)", nil},
		{"a peer that never answers", []string{"crm"}, func(q *fakeQdrant) { q.hang[2] = true }, "", []string{"QDRANT_TIMEOUT=2"}},
		{"a peer that lists no collections", []string{"crm"}, func(q *fakeQdrant) { q.listsNone[0] = true }, "", nil},
		{"a collection deleted during the backup", []string{"crm"}, func(q *fakeQdrant) { q.ghosts = []string{"gone"} }, "", nil},
		{"a deleted collection a peer behind still has", []string{"crm"}, func(q *fakeQdrant) {
			q.create("deleted", 1, 1, `{"size":4,"distance":"Dot"}`)
			q.onlyOn["deleted"] = 2
		}, "", nil},
		{"no peer answers", []string{"crm"}, func(q *fakeQdrant) { q.down[0], q.down[1], q.down[2] = true, true, true }, "no peer answers", nil},
		{"no collections", nil, nil, "", nil},
		{"names a URL or a line does not carry as they are", []string{"crm notes 100%", "контакты", "a&b=c#d;e,f", "two\nlines", "ends in a newline\n"}, nil, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			nas := t.TempDir()
			env := append([]string{"BACKUP_DIR=" + nas}, tc.env...)
			q := newFakeQdrant(t, 3)
			want := map[string]map[string]string{}
			for _, c := range tc.collections {
				col := q.create(c, 3, 2, vectors)
				col.extra["hnsw_config"] = json.RawMessage(hnsw)
				col.indexes["owner"] = json.RawMessage(`{"data_type":"keyword","points":30}`)
				col.indexes["tenant"] = json.RawMessage(`{"data_type":"keyword","params":{"type":"keyword","is_tenant":true},"points":30}`)
				col.indexes[`meta."a b"`] = json.RawMessage(`{"data_type":"integer","points":30}`)
				for i := range 30 {
					col.put(fmt.Sprint(i), fmt.Sprintf("%s point %d", c, i))
				}
				want[c], _ = q.points(c)
			}
			if tc.prepare != nil {
				tc.prepare(q)
			}
			out, err := s.runEnv(q, env, s.backup, "qdrant")
			files, _ := filepath.Glob(filepath.Join(nas, "qdrant", "*.tar"))
			if tc.fail != "" {
				hidden, _ := filepath.Glob(filepath.Join(nas, "qdrant", ".partial*"))
				if err == nil || !strings.Contains(out, tc.fail) || len(files)+len(hidden) != 0 {
					t.Fatalf("want a failure saying %q and nothing kept; err %v, kept %v %v:\n%s", tc.fail, err, files, hidden, out)
				}
				for p, snaps := range q.snaps {
					if len(snaps) != 0 {
						t.Errorf("peer %d keeps snapshots on its disk: %v", p, keysOf(snaps))
					}
				}
				return
			}
			if err != nil || len(files) != 1 {
				t.Fatalf("backup: %v, files %v:\n%s", err, files, out)
			}
			ar := readArchive(t, files[0])
			for p, snaps := range q.snaps {
				if len(snaps) != 0 {
					t.Errorf("peer %d keeps snapshots on its disk: %v", p, keysOf(snaps))
				}
			}
			// Every shard of every collection is in the archive, whole.
			dirs := map[string]string{}
			for f, content := range ar {
				if strings.HasSuffix(f, "/name.json") {
					var name string
					if err := json.Unmarshal([]byte(content), &name); err != nil {
						t.Fatalf("%s: %v", f, err)
					}
					dirs[name] = strings.TrimSuffix(f, "name.json")
				}
			}
			if len(dirs) != len(tc.collections) {
				t.Fatalf("the archive holds collections %v, want %v", keysOf(dirs), tc.collections)
			}
			for _, c := range tc.collections {
				dir, found := dirs[c]
				if !found {
					t.Fatalf("%q is not in the archive: %v", c, keysOf(dirs))
				}
				saved := map[string]string{}
				for sh := range 3 {
					var snap fakeSnapshot
					if err := json.Unmarshal([]byte(ar[fmt.Sprintf("%sshard-%d.snapshot", dir, sh)]), &snap); err != nil {
						t.Fatalf("shard %d of %s: %v; archive %v", sh, c, err, keysOf(ar))
					}
					maps.Copy(saved, snap.Shards[sh])
				}
				if !maps.Equal(saved, want[c]) {
					t.Errorf("%s: the archive holds %d of %d points", c, len(saved), len(want[c]))
				}
				if !strings.Contains(ar[dir+"config.json"], `"shard_number":3`) || !strings.Contains(ar[dir+"config.json"], vectors) {
					t.Errorf("%s: config.json = %s", c, ar[dir+"config.json"])
				}
			}

			// Restore on the same cluster, every copy changed since: the
			// backup's points on every copy (with the replica priority, the
			// default, the copies that were not uploaded to would win).
			q.down, q.hang, q.listsNone = map[int]bool{}, map[int]bool{}, map[int]bool{}
			q.failSnapshot, q.failDownload, q.remoteState, q.ghosts = map[int]bool{}, map[int]bool{}, nil, nil
			for _, c := range tc.collections {
				col := q.colls[c]
				for _, copies := range col.copies {
					for _, cp := range copies {
						cp.state = "Active"
						cp.points = map[string]string{"999": "written after the backup"}
					}
				}
			}
			if out, err := s.run(q, s.restore, "qdrant", files[0]); err != nil {
				t.Fatalf("restore: %v\n%s", err, out)
			}
			for _, c := range tc.collections {
				if got, err := q.points(c); err != nil || !maps.Equal(got, want[c]) {
					t.Errorf("after the restore %s holds %d points (%v), want %d", c, len(got), err, len(want[c]))
				}
			}

			// Restore on an empty cluster: each collection created as it was.
			empty := newFakeQdrant(t, 3)
			if out, err := s.run(empty, s.restore, "qdrant", files[0]); err != nil {
				t.Fatalf("restore on an empty cluster: %v\n%s", err, out)
			}
			for _, c := range tc.collections {
				col := empty.colls[c]
				if col == nil || col.shardNumber != 3 || col.rf != 2 || col.vectors != vectors || string(col.extra["hnsw_config"]) != hnsw {
					t.Fatalf("%s created as %+v", c, col)
				}
				if got := string(col.indexes["tenant"]); !strings.Contains(got, `"is_tenant":true`) || !strings.Contains(string(col.indexes["owner"]), `"data_type":"keyword"`) ||
					!strings.Contains(string(col.indexes[`meta."a b"`]), `"data_type":"integer"`) {
					t.Errorf("%s: payload indexes %v", c, col.indexes)
				}
				if got, err := empty.points(c); err != nil || !maps.Equal(got, want[c]) {
					t.Errorf("on an empty cluster %s holds %d points (%v), want %d", c, len(got), err, len(want[c]))
				}
			}
		})
	}
}

// A restore whose archive does not fit the cluster (a collection with
// other shards) restores nothing, says so and how to go on; an archive the
// checksum does not match restores nothing either.
func TestQdrantRestoreRefusesWhatDoesNotFit(t *testing.T) {
	s := newQdrantScripts(t)
	q := newFakeQdrant(t, 3)
	for _, c := range []string{"crm", "notes"} {
		col := q.create(c, 3, 2, `{"size":4,"distance":"Dot"}`)
		col.put("1", "before")
	}
	out, err := s.run(q, s.backup, "qdrant")
	files, _ := filepath.Glob(filepath.Join(s.dir, "nas", "qdrant", "*.tar"))
	if err != nil || len(files) != 1 {
		t.Fatalf("backup: %v %v\n%s", err, files, out)
	}
	// notes now has two shards: neither collection is touched.
	q.colls["crm"].put("1", "after")
	delete(q.colls, "notes")
	q.create("notes", 2, 2, `{"size":4,"distance":"Dot"}`).put("1", "after")
	out, err = s.run(q, s.restore, "qdrant", files[0])
	if err == nil || !strings.Contains(out, "collection notes has shards 0 1 on the cluster and 0 1 2 in") || !strings.Contains(out, `curl -H @<(printf 'api-key: %s\n' "$(cat `+s.key+`)") -X DELETE`) {
		t.Fatalf("want a refusal naming the shards and the way on; err %v:\n%s", err, out)
	}
	for _, c := range []string{"crm", "notes"} {
		if got, _ := q.points(c); got["1"] != "after" {
			t.Errorf("%s was changed by a refused restore: %v", c, got)
		}
	}
	// A collection of the same shards and other vectors: a snapshot loaded
	// into it fails, and the copy it replaced is gone.
	delete(q.colls, "notes")
	q.create("notes", 3, 2, `{"size":8,"distance":"Dot"}`).put("1", "after")
	out, err = s.run(q, s.restore, "qdrant", files[0])
	if err == nil || !strings.Contains(out, "collection notes has other vectors on the cluster") {
		t.Fatalf("want a refusal naming the vectors; err %v:\n%s", err, out)
	}
	for _, c := range []string{"crm", "notes"} {
		if got, _ := q.points(c); got["1"] != "after" {
			t.Errorf("%s was changed by a refused restore: %v", c, got)
		}
	}
	// A peer down: a restore writes every copy, so nothing is restored.
	q.down[1] = true
	out, err = s.run(q, s.restore, "qdrant", files[0])
	q.down[1] = false
	if err == nil || !strings.Contains(out, "does not answer; a restore writes every copy") {
		t.Fatalf("want a refusal with a peer down; err %v:\n%s", err, out)
	}
	// A tampered archive.
	b, _ := os.ReadFile(files[0])
	os.WriteFile(files[0], append(b, 0), 0o644)
	out, err = s.run(q, s.restore, "qdrant", files[0])
	if err == nil || !strings.Contains(out, "does not match its checksum") {
		t.Fatalf("a tampered archive: err %v:\n%s", err, out)
	}
}

// An archive an earlier nfx made (one peer's collection snapshots) still
// restores what it holds, and says what it lacks.
func TestQdrantRestoreOfCollectionSnapshots(t *testing.T) {
	s := newQdrantScripts(t)
	q := newFakeQdrant(t, 3)
	col := q.create("crm", 3, 2, `{"size":4,"distance":"Dot"}`)
	for i := range 9 {
		col.put(fmt.Sprint(i), "after")
	}
	// The first peer holds shards 0 and 2.
	snap, _ := json.Marshal(fakeSnapshot{Collection: "crm", Shards: map[int]map[string]string{0: {"0": "before"}, 2: {"2": "before"}}})
	work := t.TempDir()
	os.WriteFile(filepath.Join(work, "crm.snapshot"), snap, 0o644)
	file := filepath.Join(s.dir, "qdrant-20261201T030000Z.tar")
	if out, err := exec.Command("tar", "-C", work, "-cf", file, ".").CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	b, _ := os.ReadFile(file)
	os.WriteFile(file+".sha256", fmt.Appendf(nil, "%x  %s\n", sha256.Sum256(b), filepath.Base(file)), 0o644)
	out, err := s.run(q, s.restore, "qdrant", file)
	if err != nil || !strings.Contains(out, "one peer's collection snapshots") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	got, err := q.points("crm")
	if err != nil || got["0"] != "before" || got["2"] != "before" || got["1"] != "after" {
		t.Errorf("after the restore: %v %v", got, err)
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The scripts' JSON reader (the images have awk, not jq), on what Qdrant
// and a hostile collection name can put in an answer.
func TestScriptsReadJSON(t *testing.T) {
	testutil.Tool(t, "bash")
	testutil.Tool(t, "awk")
	body, err := execute("backup.sh.tmpl", BackupDefaults(testApp(t, "server", nil)))
	if err != nil {
		t.Fatal(err)
	}
	script := string(body)
	script = script[:strings.LastIndex(script, "case ${1:-} in")]
	for _, tc := range []struct {
		name, doc, path, want string
	}{
		{"a nested key", `{"result":{"config":{"params":{"shard_number":3}}}}`, "result config params shard_number", "3"},
		{"every member", `{"result":{"collections":[{"name":"a"},{"name":"b"}]}}`, "result collections * name", "a\nb"},
		{"an index", `{"a":[10,20,30]}`, "a 1", "20"},
		{"the first index", `{"a":[10,20,30]}`, "a 0", "10"},
		{"the keys of an object", `{"a":{"x":1,"y z":{"k":2},"\u00e9":[]}}`, "--keys a", "\"x\"\n\"y z\"\n\"\\u00e9\""},
		{"the keys of no object", `{"a":[1]}`, "--keys a", ""},
		{"an object raw", `{"a":{"b":[1,{"c":"}]"}],"d":null},"e":1}`, "--raw a", `{"b":[1,{"c":"}]"}],"d":null}`},
		{"a string raw", `{"a":"x\"y"}`, "--raw a", `"x\"y"`},
		{"spaces and newlines", "{ \"a\" :\n [ { \"b\" : \"c\" } ,\n { \"b\" : 2 } ] }", "a * b", "c\n2"},
		{"braces and quotes in strings", `{"x":"{[\"","a":{"b":"]}"}}`, "a b", "]}"},
		{"escapes", `{"a":"tab\there \u0026 \u00e9 \ud83d\ude00 \\ \/"}`, "a", "tab\there & é 😀 \\ /"},
		{"a missing key", `{"a":1}`, "b", ""},
		{"a path through a number", `{"a":1}`, "a b", ""},
		{"not JSON", `<html>502 Bad Gateway</html>`, "result", ""},
		{"empty", ``, "result", ""},
		{"the members of an object", `{"a":{"x":1,"y":"z"}}`, "a *", "1\nz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("bash", "-c", script+"\nset -f; json "+tc.path)
			cmd.Stdin = strings.NewReader(tc.doc)
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSuffix(string(out), "\n") != tc.want {
				t.Errorf("json %s on %s = %q (%v), want %q", tc.path, tc.doc, out, err, tc.want)
			}
		})
	}
	for in, want := range map[string]string{"crm": "crm", "crm notes 100%": "crm%20notes%20100%25", "контакты": "%D0%BA%D0%BE%D0%BD%D1%82%D0%B0%D0%BA%D1%82%D1%8B", "a&b=c#d?e": "a%26b%3Dc%23d%3Fe"} {
		out, err := exec.Command("bash", "-c", script+"\nurlenc \"$1\"", "-", in).CombinedOutput()
		if err != nil || string(out) != want {
			t.Errorf("urlenc %q = %q (%v), want %q", in, out, err, want)
		}
	}
}

// Qdrant answers nothing but its health checks without its API key: a
// backup without the key's file, with an empty one or with a wrong key
// fails, keeps nothing and never prints the key it read.
func TestQdrantBackupNeedsTheAPIKey(t *testing.T) {
	for _, tc := range []struct {
		name, key string // key "" writes no file
		want      string
	}{
		{"no key file", "", "no API key in"},
		{"an empty key file", "\n", "no API key in"},
		{"a wrong key", "not-the-Key-of-this-cluster", "401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newQdrantScripts(t)
			q := newFakeQdrant(t, 3)
			q.create("crm", 3, 2, `{"size":4,"distance":"Cosine"}`).put("1", "a")
			os.Remove(s.key)
			if tc.key != "" {
				if err := os.WriteFile(s.key, []byte(tc.key), 0o400); err != nil {
					t.Fatal(err)
				}
			}
			out, err := s.run(q, s.backup, "qdrant")
			kept, _ := filepath.Glob(filepath.Join(s.dir, "nas", "qdrant", "qdrant-*"))
			if err == nil || len(kept) != 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("want a failure saying %q and nothing kept; err %v, kept %v:\n%s", tc.want, err, kept, out)
			}
			if strings.TrimSpace(tc.key) != "" && strings.Contains(out, tc.key) {
				t.Errorf("the output shows the key:\n%s", out)
			}
			if tc.key != "" && strings.TrimSpace(tc.key) != "" && q.unauthorized == 0 {
				t.Error("no call reached Qdrant with the wrong key")
			}
		})
	}
}
