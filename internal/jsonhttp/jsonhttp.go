// Package jsonhttp builds the JSON requests nfx makes of the APIs it
// drives itself (Cloudflare's, Qdrant's); each caller reads its API's own
// answer envelope.
package jsonhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// NewRequest is a request of path under base (its trailing slash
// trimmed), with body as JSON when it is not nil.
func NewRequest(ctx context.Context, method, base, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}
