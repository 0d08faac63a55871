package monitoring

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nextflow-crm/nfx/internal/model"
)

// The CRM's own metrics, at its /metrics (the crm-app job): the sessions
// active now, and the standard request-duration histogram.
const (
	ActiveUsersMetric     = "nextflow_crm_active_users"
	RequestDurationMetric = "http_request_duration_seconds"
)

// Query is one figure the advisor reads from a stage's Prometheus: the
// PromQL, the series it rests on (which must cover the whole window) and
// the fix when it does not.
type Query struct {
	// Flag is the advise flag the figure stands for.
	Flag string
	// Series is the selector that must have samples across the window.
	Series string
	// PromQL computes the figure over the window (%s is the window).
	PromQL string
	Fix    string
}

// Queries are the documented PromQL behind `nfx advise --prometheus`.
var Queries = []Query{
	{Flag: "--users", Series: ActiveUsersMetric + `{job="crm-app"}`,
		PromQL: `max(max_over_time(` + ActiveUsersMetric + `{job="crm-app"}[%s]))`,
		Fix:    "the CRM exports " + ActiveUsersMetric + " at /metrics, scraped by the crm-app job; give --users until it has a full window"},
	{Flag: "--p95", Series: RequestDurationMetric + `_bucket{job="crm-app"}`,
		PromQL: `histogram_quantile(0.95, sum by (le) (increase(` + RequestDurationMetric + `_bucket{job="crm-app"}[%s])))`,
		Fix:    "the CRM exports the " + RequestDurationMetric + " histogram at /metrics, scraped by the crm-app job; give --p95 until it has a full window"},
	{Flag: "--downtime", Series: CRMUp,
		PromQL: `100 * (1 - avg_over_time(` + CRMUp + `[%s]))`,
		Fix:    "the blackbox probe of the CRM's health URL (job crm) and the rule recording " + CRMUp + " must have run for the whole window; give --downtime until then"},
}

// Observed are the figures read from Prometheus over a window.
type Observed struct {
	Users    int
	P95      float64
	Downtime float64
	// Series names the series behind each flag's figure.
	Series map[string]string
}

// SeriesError is a series missing, or shorter than the window.
type SeriesError struct {
	Query  Query
	Window string
	Since  time.Time // the oldest sample found; zero when none
}

func (e *SeriesError) Error() string {
	if e.Since.IsZero() {
		return fmt.Sprintf("%s: Prometheus has no series %s; fix: %s", e.Query.Flag, e.Query.Series, e.Query.Fix)
	}
	return fmt.Sprintf("%s: series %s starts at %s, less than the %s window; fix: %s",
		e.Query.Flag, e.Query.Series, e.Since.UTC().Format(time.RFC3339), e.Window, e.Query.Fix)
}

// ParseWindow reads a window such as 30d, 12h or 90m.
func ParseWindow(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("--window: empty; fix: give a duration such as 30d")
	}
	unit := map[byte]time.Duration{'d': 24 * time.Hour, 'h': time.Hour, 'm': time.Minute}[s[len(s)-1]]
	n, err := strconv.Atoi(s[:len(s)-1])
	if unit == 0 || err != nil || n <= 0 || n > 3660 {
		return 0, fmt.Errorf("--window: %q is not a window; fix: give a whole number of days, hours or minutes, such as 30d", s)
	}
	return time.Duration(n) * unit, nil
}

// Observe reads the advisor's figures from the Prometheus at base over the
// window ending at now. Every series must have a sample within the
// window's first scrape hour and at its end: a missing or shorter series
// is a SeriesError, never a zero.
func Observe(ctx context.Context, client *http.Client, base string, window time.Duration, now time.Time) (*Observed, error) {
	api, err := queryAPI(base)
	if err != nil {
		return nil, err
	}
	win := promDuration(window)
	start := now.Add(-window)
	o := &Observed{Series: map[string]string{}}
	for _, q := range Queries {
		// The series has samples at both ends of the window.
		oldest, err := instant(ctx, client, api, fmt.Sprintf("min(min_over_time(timestamp(%s)[%s:5m]))", q.Series, win), now)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.Flag, err)
		}
		if math.IsNaN(oldest) {
			return nil, &SeriesError{Query: q, Window: win}
		}
		since := time.Unix(0, int64(oldest*1e9))
		if since.After(start.Add(time.Hour)) {
			return nil, &SeriesError{Query: q, Window: win, Since: since}
		}
		v, err := instant(ctx, client, api, fmt.Sprintf(q.PromQL, win), now)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.Flag, err)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s: %s gives %g over %s; fix: check that %s has samples that change over the window", q.Flag, fmt.Sprintf(q.PromQL, win), v, win, q.Series)
		}
		o.Series[q.Flag] = q.Series
		switch q.Flag {
		case "--users":
			o.Users = int(math.Round(v))
		case "--p95":
			o.P95 = v
		case "--downtime":
			o.Downtime = v
		}
	}
	return o, nil
}

// queryAPI is the query endpoint of the Prometheus at base, refusing a
// URL with credentials without echoing it.
func queryAPI(base string) (string, error) {
	switch model.URLFault(base) {
	case model.URLCredentials:
		// Never echoed: it may hold a password.
		return "", fmt.Errorf("--prometheus: the URL holds credentials; fix: put Prometheus behind a proxy that needs none from the command line")
	case model.URLNotHTTP:
		return "", fmt.Errorf("--prometheus: not a Prometheus URL (not shown: it may hold a secret); fix: give its base URL, such as http://127.0.0.1:9090")
	}
	u, _ := url.Parse(base)
	if u.RawQuery != "" || u.Fragment != "" || strings.Contains(base, "#") {
		// A base URL takes none, and the client's errors would repeat it.
		return "", fmt.Errorf("--prometheus: a base URL takes no ?query or #fragment (not shown); fix: give its base URL, such as http://127.0.0.1:9090")
	}
	return strings.TrimSuffix(u.String(), "/") + "/api/v1/query", nil
}

// instant runs one instant query and returns its single value; NaN when
// the result is empty.
func instant(ctx context.Context, client *http.Client, api, q string, at time.Time) (float64, error) {
	form := url.Values{"query": {q}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("Prometheus: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	var r struct {
		Status    string `json:"status"`
		Error     string `json:"error"`
		ErrorType string `json:"errorType"`
		Data      struct {
			ResultType string            `json:"resultType"`
			Result     []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, fmt.Errorf("Prometheus answered %s with no query result; fix: give the base URL of a Prometheus server", resp.Status)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("Prometheus refused %s: %s: %s", q, r.ErrorType, r.Error)
	}
	if len(r.Data.Result) == 0 {
		return math.NaN(), nil
	}
	if len(r.Data.Result) > 1 {
		return 0, fmt.Errorf("%s gives %d series, want one", q, len(r.Data.Result))
	}
	var s struct {
		Value [2]any `json:"value"`
	}
	if err := json.Unmarshal(r.Data.Result[0], &s); err != nil {
		return 0, err
	}
	str, _ := s.Value[1].(string)
	return strconv.ParseFloat(str, 64)
}
