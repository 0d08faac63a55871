package monitoring

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// CheckHealth against real HTTP servers: healthy throughout, down
// throughout, up only after a while (within the hold: a pass), healthy
// then failing (a fail naming the URL and the status), a closed port, and
// one bad URL among good ones.
func TestCheckHealth(t *testing.T) {
	serve := func(status func(n int64) int) string {
		var n atomic.Int64
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status(n.Add(1)))
		}))
		t.Cleanup(s.Close)
		return s.URL + "/healthz"
	}
	ok := serve(func(int64) int { return 200 })
	down := serve(func(int64) int { return 503 })
	late := serve(func(n int64) int {
		if n < 3 {
			return 502
		}
		return 204
	})
	flaps := serve(func(n int64) int {
		if n < 3 {
			return 200
		}
		return 500
	})
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	for _, tc := range []struct {
		name   string
		urls   []string
		hold   time.Duration
		passed bool
		want   string
	}{
		{"healthy", []string{ok}, 2 * time.Second, true, "answered 2xx at every check"},
		{"one check", []string{ok}, 0, true, "answered 2xx"},
		{"down", []string{down}, 2 * time.Second, false, "did not answer 2xx within 2 s of the up (last: HTTP 503)"},
		{"up within the hold", []string{late}, 4 * time.Second, true, "answered 2xx at every check"},
		{"healthy, then failing", []string{flaps}, 5 * time.Second, false, flaps + " answered, then HTTP 500"},
		{"a closed port", []string{closedURL}, time.Second, false, "connection refused"},
		{"one bad among good", []string{ok, down}, time.Second, false, down + " did not answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := CheckHealth(context.Background(), &http.Client{Timeout: 2 * time.Second}, tc.urls, tc.hold, 500*time.Millisecond)
			if h.Passed != tc.passed || !strings.Contains(h.Detail, tc.want) {
				t.Errorf("passed %v, %q; want %v, %q", h.Passed, h.Detail, tc.passed, tc.want)
			}
			if tc.passed && h.Seconds < tc.hold.Seconds()-0.01 {
				t.Errorf("passed after %.2f s of a %s hold", h.Seconds, tc.hold)
			}
		})
	}
}
