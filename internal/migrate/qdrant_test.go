package migrate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// qdrantOperations are the operations of Qdrant's REST API that nfx calls,
// as its OpenAPI document (v1.13) defines them.
type qdrantOperation struct {
	Method, Path string
	Query        []string
	Body         *struct {
		Properties, Required []string
	}
}

func loadQdrantOperations(t *testing.T) []qdrantOperation {
	b, err := os.ReadFile("testdata/qdrant-v1.13-operations.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Operations []qdrantOperation }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Operations
}

type qdrantCollection struct {
	params map[string]json.RawMessage
	points map[string]json.RawMessage // by canonical id
}

// fakeQdrant answers the operations nfx uses as Qdrant does, refusing any
// request its OpenAPI document does not allow, and records them.
type fakeQdrant struct {
	t           *testing.T
	ops         []qdrantOperation
	key         string
	mu          sync.Mutex
	collections map[string]*qdrantCollection
	requests    []string
	creates     []map[string]json.RawMessage
}

func newFakeQdrant(t *testing.T, key string) (*fakeQdrant, *httptest.Server) {
	f := &fakeQdrant{t: t, ops: loadQdrantOperations(t), key: key, collections: map[string]*qdrantCollection{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeQdrant) match(r *http.Request, body map[string]json.RawMessage) (qdrantOperation, string, error) {
	for _, op := range f.ops {
		re := regexp.MustCompile("^" + regexp.MustCompile(`\{[a-z_]+\}`).ReplaceAllString(op.Path, `([^/]+)`) + "$")
		m := re.FindStringSubmatch(r.URL.EscapedPath())
		if m == nil || op.Method != r.Method {
			continue
		}
		for q := range r.URL.Query() {
			if !slices.Contains(op.Query, q) {
				return op, "", fmt.Errorf("%s %s: query parameter %q is not in the API", r.Method, op.Path, q)
			}
		}
		if op.Body != nil {
			for k := range body {
				if !slices.Contains(op.Body.Properties, k) {
					return op, "", fmt.Errorf("%s %s: body property %q is not in the API", r.Method, op.Path, k)
				}
			}
			for _, k := range op.Body.Required {
				if _, ok := body[k]; !ok {
					return op, "", fmt.Errorf("%s %s: body lacks the required %q", r.Method, op.Path, k)
				}
			}
		} else if len(body) > 0 {
			return op, "", fmt.Errorf("%s %s takes no body", r.Method, op.Path)
		}
		name := ""
		if len(m) > 1 {
			name = m[1]
		}
		return op, name, nil
	}
	return qdrantOperation{}, "", fmt.Errorf("%s %s is no operation of Qdrant's API", r.Method, r.URL.Path)
}

func (f *fakeQdrant) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, _ := io.ReadAll(r.Body)
	var body map[string]json.RawMessage
	if len(data) > 0 {
		if err := json.Unmarshal(data, &body); err != nil {
			f.t.Errorf("%s %s: body is not a JSON object: %s", r.Method, r.URL, data)
		}
	}
	op, name, err := f.match(r, body)
	if err != nil {
		f.t.Error(err)
		http.Error(w, `{"status":{"error":"bad request"}}`, http.StatusBadRequest)
		return
	}
	if f.key != "" && r.Header.Get("api-key") != f.key {
		http.Error(w, `{"status":{"error":"Unauthorized"}}`, http.StatusUnauthorized)
		return
	}
	f.requests = append(f.requests, op.Method+" "+op.Path)
	reply := func(result any) {
		_ = json.NewEncoder(w).Encode(map[string]any{"result": result, "status": "ok", "time": 0.001})
	}
	c := f.collections[name]
	if name != "" && c == nil && !(op.Method == "PUT" && op.Path == "/collections/{collection_name}") {
		http.Error(w, `{"status":{"error":"Not found: Collection `+name+` doesn't exist!"}}`, http.StatusNotFound)
		return
	}
	switch op.Method + " " + op.Path {
	case "GET /collections":
		var cs []map[string]string
		for n := range f.collections {
			cs = append(cs, map[string]string{"name": n})
		}
		reply(map[string]any{"collections": cs})
	case "GET /collections/{collection_name}":
		reply(map[string]any{"status": "green", "points_count": len(c.points), "config": map[string]any{"params": c.params}})
	case "PUT /collections/{collection_name}":
		f.creates = append(f.creates, body)
		f.collections[name] = &qdrantCollection{params: body, points: map[string]json.RawMessage{}}
		reply(true)
	case "PUT /collections/{collection_name}/points":
		var ps []json.RawMessage
		_ = json.Unmarshal(body["points"], &ps)
		for _, p := range ps {
			var pt struct {
				ID json.RawMessage `json:"id"`
			}
			_ = json.Unmarshal(p, &pt)
			c.points[canonical(pt.ID)] = p
		}
		reply(map[string]any{"operation_id": len(f.requests), "status": "completed"})
	case "POST /collections/{collection_name}/points/count":
		reply(map[string]any{"count": len(c.points)})
	case "POST /collections/{collection_name}/points/scroll":
		var limit int
		_ = json.Unmarshal(body["limit"], &limit)
		ids := make([]string, 0, len(c.points))
		for id := range c.points {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		start := 0
		if off, ok := body["offset"]; ok && string(off) != "null" {
			start = sort.SearchStrings(ids, canonical(off))
		}
		end := min(start+limit, len(ids))
		var page []json.RawMessage
		for _, id := range ids[start:end] {
			page = append(page, c.points[id])
		}
		var next any
		if end < len(ids) {
			next = json.RawMessage(ids[end])
		}
		reply(map[string]any{"points": page, "next_page_offset": next})
	}
}

func (f *fakeQdrant) seed(name, params string, n int) {
	c := &qdrantCollection{points: map[string]json.RawMessage{}}
	_ = json.Unmarshal([]byte(params), &c.params)
	for i := 0; i < n; i++ {
		id := fmt.Sprint(i)
		if i%3 == 0 {
			id = fmt.Sprintf(`"%08x-0000-4000-8000-%012x"`, i, i)
		}
		vec := fmt.Sprintf(`[%d.5, -1, 0.25, %d]`, i, i%7)
		if strings.Contains(params, "image") {
			vec = fmt.Sprintf(`{"text": [1, %d, 0], "image": [0.5, %d], "keywords": {"indices": [1, %d], "values": [0.5, 0.25]}}`, i, i%5, 2+i)
		}
		c.points[canonical(json.RawMessage(id))] = json.RawMessage(fmt.Sprintf(`{"id": %s, "vector": %s, "payload": {"title": "doc %d ü \"q\"", "tags": ["a", %d]}}`, id, vec, i, i%4))
	}
	f.collections[name] = c
}

// Qdrant cannot run here: the copy runs against a fake that answers as
// Qdrant does and refuses any request its OpenAPI document does not allow.
// Every point arrives with its payload and vectors (dense, named and
// sparse), across pages; the collections are created with the target's
// replication factor; a rerun adds nothing; a collection with other
// vector parameters on the target stops the copy.
func TestCopyQdrantAgainstItsDocumentedAPI(t *testing.T) {
	ctx := context.Background()
	src, srcSrv := newFakeQdrant(t, "src-key")
	dst, dstSrv := newFakeQdrant(t, "")
	src.seed("docs", `{"vectors": {"size": 4, "distance": "Cosine"}}`, 700)
	src.seed("multi", `{"vectors": {"text": {"size": 3, "distance": "Dot"}, "image": {"size": 2, "distance": "Euclid"}}, "sparse_vectors": {"keywords": {}}}`, 90)
	s := Qdrant{Name: "source", URL: srcSrv.URL, APIKey: "src-key"}
	d := Qdrant{Name: "target", URL: dstSrv.URL}
	st, err := CopyQdrant(ctx, s, d, 2)
	if err != nil {
		t.Fatal(err)
	}
	if st.Collections != 2 || st.Points != 790 {
		t.Errorf("copied %+v", st)
	}
	a, err := SumQdrant(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SumQdrant(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if bad := CompareQdrant(a, b); len(bad) > 0 || b["docs"].Points != 700 {
		t.Errorf("after the copy: %v %+v", bad, b)
	}
	for _, c := range dst.creates {
		if string(c["replication_factor"]) != "2" {
			t.Errorf("created without the replication factor: %s", c["replication_factor"])
		}
	}
	if len(dst.creates) != 2 || !strings.Contains(string(dst.creates[1]["sparse_vectors"])+string(dst.creates[0]["sparse_vectors"]), "keywords") {
		t.Errorf("the sparse vectors' parameters were not carried: %v", dst.creates)
	}
	// A rerun upserts the same ids.
	if _, err := CopyQdrant(ctx, s, d, 2); err != nil {
		t.Fatal(err)
	}
	if n, _ := d.Count(ctx, "docs"); n != 700 || len(dst.creates) != 2 {
		t.Errorf("after a rerun: %d points, %d creates", n, len(dst.creates))
	}
	// A point changed on the target is found.
	dst.collections["docs"].points["1"] = json.RawMessage(`{"id": 1, "vector": [0, 0, 0, 0], "payload": {}}`)
	b, _ = SumQdrant(ctx, d)
	if bad := CompareQdrant(a, b); len(bad) != 1 || !strings.Contains(bad[0], "different content") {
		t.Errorf("a changed point: %v", bad)
	}
	// Other vector parameters on the target: refused, naming the collection.
	other, otherSrv := newFakeQdrant(t, "")
	other.seed("docs", `{"vectors": {"size": 8, "distance": "Cosine"}}`, 1)
	if _, err := CopyQdrant(ctx, s, Qdrant{Name: "target", URL: otherSrv.URL}, 1); err == nil || !strings.Contains(err.Error(), "collection docs exists on the target with other vector parameters") {
		t.Errorf("conflicting parameters: %v", err)
	}
	// A wrong API key is an error naming the side.
	if _, err := (Qdrant{Name: "source", URL: srcSrv.URL, APIKey: "wrong"}).Collections(ctx); err == nil || !strings.Contains(err.Error(), "source Qdrant") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("a wrong key: %v", err)
	}
	if len(src.requests) == 0 || len(dst.requests) == 0 {
		t.Error("no request was recorded")
	}
}

// The hand-run script's Qdrant step, against the same fakes: every request
// is one the API documents, and the collections arrive whole.
func TestScriptCopiesQdrant(t *testing.T) {
	for _, tool := range []string{"curl", "jq"} {
		testutil.Tool(t, tool)
	}
	// Each side asks for its own key (every stage's Qdrant does), which
	// the script sends from its environment, never on a command line.
	const srcKey, dstKey = "src-Key.0_~+/=@%^*!,-1", "dst-Key.0_~+/=@%^*!,-2"
	src, srcSrv := newFakeQdrant(t, srcKey)
	dst, dstSrv := newFakeQdrant(t, dstKey)
	src.seed("docs", `{"vectors": {"size": 4, "distance": "Cosine"}}`, 600)
	src.seed("multi", `{"vectors": {"text": {"size": 3, "distance": "Dot"}, "image": {"size": 2, "distance": "Euclid"}}, "sparse_vectors": {"keywords": {}}}`, 30)
	script := laptopToServerScript(t)
	for run := 0; run < 2; run++ {
		cmd := exec.Command("bash", script, "qdrant.copy")
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "SOURCE_QDRANT="+srcSrv.URL, "TARGET_QDRANT="+dstSrv.URL,
			"SOURCE_QDRANT_API_KEY="+srcKey, "TARGET_QDRANT_API_KEY="+dstKey)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("migrate.sh qdrant.copy: %v\n%s", err, out)
		}
		if strings.Contains(string(out), srcKey) || strings.Contains(string(out), dstKey) {
			t.Fatalf("migrate.sh printed a key:\n%s", out)
		}
	}
	// Without the target's key, the copy stops.
	cmd := exec.Command("bash", script, "qdrant.copy")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "SOURCE_QDRANT="+srcSrv.URL, "TARGET_QDRANT="+dstSrv.URL, "SOURCE_QDRANT_API_KEY="+srcKey)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("migrate.sh qdrant.copy without the target's key succeeded:\n%s", out)
	}
	ctx := context.Background()
	a, _ := SumQdrant(ctx, Qdrant{Name: "source", URL: srcSrv.URL, APIKey: srcKey})
	b, _ := SumQdrant(ctx, Qdrant{Name: "target", URL: dstSrv.URL, APIKey: dstKey})
	if bad := CompareQdrant(a, b); len(bad) > 0 || b["docs"].Points != 600 {
		t.Errorf("after the script: %v %+v", bad, b)
	}
	if len(dst.creates) != 2 || string(dst.creates[0]["replication_factor"]) != "2" {
		t.Errorf("created: %v", dst.creates)
	}
}
