package jsonhttp

import (
	"context"
	"io"
	"testing"
)

// A body goes as JSON with its content type; none, no body and no type;
// the base's trailing slash does not double the path's.
func TestNewRequest(t *testing.T) {
	req, err := NewRequest(context.Background(), "PATCH", "https://api.example/client/v4/", "/zones/z/load_balancers/l", map[string]any{"fallback_pool": "p"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(req.Body)
	if req.URL.String() != "https://api.example/client/v4/zones/z/load_balancers/l" || string(b) != `{"fallback_pool":"p"}` || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s %q %q", req.Method, req.URL, b, req.Header.Get("Content-Type"))
	}
	req, err = NewRequest(context.Background(), "GET", "http://qdrant:6333", "/collections", nil)
	if err != nil || req.Body != nil || req.Header.Get("Content-Type") != "" || req.URL.String() != "http://qdrant:6333/collections" {
		t.Errorf("%v %v %q %s", err, req.Body, req.Header.Get("Content-Type"), req.URL)
	}
	if _, err := NewRequest(context.Background(), "POST", "http://x", "/", map[string]any{"f": func() {}}); err == nil {
		t.Error("a body that is not JSON is sent")
	}
}
