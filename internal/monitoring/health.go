package monitoring

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Health is the outcome of a stack's health checks after an up.
type Health struct {
	Passed bool
	Detail string
	// Checks is how many requests were made, Seconds how long it took.
	Checks  int
	Seconds float64
}

// CheckHealth requests every URL each interval until hold has passed:
// each must answer 2xx within hold and keep answering 2xx at every check
// after its first. hold 0 checks each once. A URL that never answered,
// or failed after answering, fails the whole.
func CheckHealth(ctx context.Context, client *http.Client, urls []string, hold, every time.Duration) Health {
	start := time.Now()
	deadline := start.Add(hold)
	up := make([]bool, len(urls))
	last := make([]string, len(urls))
	h := Health{}
	for {
		all := true
		for i, u := range urls {
			code, err := get(ctx, client, u)
			h.Checks++
			ok := err == nil && code >= 200 && code < 300
			switch {
			case err != nil:
				last[i] = err.Error()
			default:
				last[i] = fmt.Sprintf("HTTP %d", code)
			}
			if up[i] && !ok {
				h.Seconds = time.Since(start).Seconds()
				h.Detail = fmt.Sprintf("%s answered, then %s %.0f s after the up", u, last[i], h.Seconds)
				return h
			}
			up[i] = up[i] || ok
			all = all && up[i]
		}
		now := time.Now()
		if !now.Before(deadline) || ctx.Err() != nil {
			h.Seconds = now.Sub(start).Seconds()
			for i, u := range urls {
				if !up[i] {
					h.Detail = fmt.Sprintf("%s did not answer 2xx within %.0f s of the up (last: %s)", u, hold.Seconds(), last[i])
					return h
				}
			}
			if all {
				h.Passed = true
				h.Detail = fmt.Sprintf("%d health URLs answered 2xx at every check for %.0f s (%d requests)", len(urls), h.Seconds, h.Checks)
			}
			return h
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(every, deadline.Sub(now))):
		}
	}
}

func get(ctx context.Context, client *http.Client, u string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, nil
}
