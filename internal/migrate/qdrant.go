package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/nextflow-crm/nfx/internal/jsonhttp"
	"github.com/nextflow-crm/nfx/internal/model"
)

// Qdrant is a Qdrant REST endpoint (http://host:6333), with its API key
// from the environment when it has one.
type Qdrant struct {
	Name   string
	URL    string
	APIKey string
	Client *http.Client
}

func (q Qdrant) do(ctx context.Context, method, path string, body any, out any) error {
	req, err := jsonhttp.NewRequest(ctx, method, q.URL, path, body)
	if err != nil {
		return err
	}
	if q.APIKey != "" {
		req.Header.Set("api-key", q.APIKey)
	}
	c := q.Client
	if c == nil {
		c = &http.Client{Timeout: 60 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s Qdrant %s: %v", q.Name, q.URL, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s Qdrant %s: %s %s: %s: %s", q.Name, q.URL, method, path, resp.Status, strings.TrimSpace(string(data)))
	}
	var env struct {
		Result json.RawMessage `json:"result"`
		Status any             `json:"status"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return fmt.Errorf("%s Qdrant %s: %s %s: not Qdrant's answer: %v", q.Name, q.URL, method, path, err)
	}
	if out != nil {
		return json.Unmarshal(env.Result, out)
	}
	return nil
}

// Collections lists the collections.
func (q Qdrant) Collections(ctx context.Context) ([]string, error) {
	var r struct {
		Collections []struct {
			Name string `json:"name"`
		} `json:"collections"`
	}
	if err := q.do(ctx, http.MethodGet, "/collections", nil, &r); err != nil {
		return nil, err
	}
	var out []string
	for _, c := range r.Collections {
		out = append(out, c.Name)
	}
	sort.Strings(out)
	return out, nil
}

// vectorParams are a collection's dense and sparse vector parameters.
type vectorParams struct {
	Vectors       json.RawMessage `json:"vectors"`
	SparseVectors json.RawMessage `json:"sparse_vectors,omitempty"`
}

func (v vectorParams) String() string {
	if len(v.SparseVectors) == 0 || string(v.SparseVectors) == "null" {
		return canonical(v.Vectors)
	}
	return canonical(v.Vectors) + " sparse " + canonical(v.SparseVectors)
}

// vectorsConfig is a collection's vector parameters, as Qdrant gives them.
func (q Qdrant) vectorsConfig(ctx context.Context, name string) (vectorParams, bool, error) {
	var r struct {
		Config struct {
			Params vectorParams `json:"params"`
		} `json:"config"`
	}
	err := q.do(ctx, http.MethodGet, "/collections/"+url.PathEscape(name), nil, &r)
	if err != nil && strings.Contains(err.Error(), "404") {
		return vectorParams{}, false, nil
	}
	return r.Config.Params, err == nil, err
}

// Count is a collection's exact point count.
func (q Qdrant) Count(ctx context.Context, name string) (int64, error) {
	var r struct {
		Count int64 `json:"count"`
	}
	err := q.do(ctx, http.MethodPost, "/collections/"+url.PathEscape(name)+"/points/count", map[string]any{"exact": true}, &r)
	return r.Count, err
}

type point struct {
	ID      json.RawMessage `json:"id"`
	Payload json.RawMessage `json:"payload,omitempty"`
	Vector  json.RawMessage `json:"vector,omitempty"`
}

// scroll pages through a collection's points, with payloads and vectors.
func (q Qdrant) scroll(ctx context.Context, name string, each func([]point) error) error {
	var offset json.RawMessage
	for {
		body := map[string]any{"limit": 256, "with_payload": true, "with_vector": true}
		if len(offset) > 0 && string(offset) != "null" {
			body["offset"] = offset
		}
		var r struct {
			Points []point         `json:"points"`
			Next   json.RawMessage `json:"next_page_offset"`
		}
		if err := q.do(ctx, http.MethodPost, "/collections/"+url.PathEscape(name)+"/points/scroll", body, &r); err != nil {
			return err
		}
		if len(r.Points) > 0 {
			if err := each(r.Points); err != nil {
				return err
			}
		}
		if len(r.Next) == 0 || string(r.Next) == "null" {
			return nil
		}
		offset = r.Next
	}
}

// QdrantStats says what a collection copy did.
type QdrantStats struct {
	Collections int   `json:"collections"`
	Points      int64 `json:"points"`
}

// CopyQdrant copies every collection of the source into the target by
// scrolling its points and upserting them in batches: it works whatever
// the shard layouts (one node on the laptop, a cluster with two copies of
// each shard on the server), and a rerun upserts the same points again
// instead of adding any. A collection the target lacks is created with
// the source's vector parameters and the target's replication factor.
func CopyQdrant(ctx context.Context, src, dst Qdrant, replicationFactor int) (QdrantStats, error) {
	var st QdrantStats
	names, err := src.Collections(ctx)
	if err != nil {
		return st, err
	}
	for _, name := range names {
		vectors, _, err := src.vectorsConfig(ctx, name)
		if err != nil {
			return st, err
		}
		have, exists, err := dst.vectorsConfig(ctx, name)
		if err != nil {
			return st, err
		}
		if !exists {
			spec := map[string]any{"vectors": vectors.Vectors}
			if vectors.String() != canonical(vectors.Vectors) {
				spec["sparse_vectors"] = vectors.SparseVectors
			}
			if replicationFactor > 1 {
				spec["replication_factor"] = replicationFactor
			}
			if err := dst.do(ctx, http.MethodPut, "/collections/"+url.PathEscape(name), spec, nil); err != nil {
				return st, err
			}
		} else if have.String() != vectors.String() {
			return st, fmt.Errorf("collection %s exists on the target with other vector parameters (%s, not %s); fix: drop it there, or rename one", name, have, vectors)
		}
		err = src.scroll(ctx, name, func(ps []point) error {
			st.Points += int64(len(ps))
			return dst.do(ctx, http.MethodPut, "/collections/"+url.PathEscape(name)+"/points?wait=true", map[string]any{"points": ps}, nil)
		})
		if err != nil {
			return st, err
		}
		st.Collections++
	}
	return st, nil
}

// canonical re-marshals JSON with sorted keys.
func canonical(raw json.RawMessage) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// QdrantSum is a collection's point count and a checksum over its points'
// ids, payloads and vectors, independent of their order.
type QdrantSum struct {
	Points int64  `json:"points"`
	Sum    string `json:"sum"`
}

// SumQdrant sums every collection.
func SumQdrant(ctx context.Context, q Qdrant) (map[string]QdrantSum, error) {
	names, err := q.Collections(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]QdrantSum{}
	for _, name := range names {
		var hashes []string
		err := q.scroll(ctx, name, func(ps []point) error {
			for _, p := range ps {
				h := sha256.Sum256([]byte(canonical(p.ID) + "\x00" + canonical(p.Payload) + "\x00" + canonical(p.Vector)))
				hashes = append(hashes, hex.EncodeToString(h[:]))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(hashes)
		h := sha256.Sum256([]byte(strings.Join(hashes, "")))
		n, err := q.Count(ctx, name)
		if err != nil {
			return nil, err
		}
		out[name] = QdrantSum{Points: n, Sum: hex.EncodeToString(h[:])}
	}
	return out, nil
}

// CompareQdrant lists the collections that differ.
func CompareQdrant(src, dst map[string]QdrantSum) []string {
	var bad []string
	for _, name := range model.SortedKeys(src) {
		a := src[name]
		b, ok := dst[name]
		switch {
		case !ok:
			bad = append(bad, "Qdrant collection "+name+" is missing on the target")
		case a.Points != b.Points:
			bad = append(bad, fmt.Sprintf("Qdrant collection %s: %d points on the source, %d on the target", name, a.Points, b.Points))
		case a.Sum != b.Sum:
			bad = append(bad, fmt.Sprintf("Qdrant collection %s: the same %d points but different content", name, a.Points))
		}
	}
	return bad
}
