package monitoring

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"
)

// Verification is a stage's health over a window, read from its
// Prometheus: the CRM answered throughout, and nothing pages now.
type Verification struct {
	Window string `json:"window"`
	// CRMUpMin is the lowest of nextflow:crm_up over the window: 1 when at
	// least one CRM replica answered at every evaluation.
	CRMUpMin float64 `json:"crmUpMin"`
	// PagesFiring counts the page-severity alerts firing at the end.
	PagesFiring int    `json:"pagesFiring"`
	Passed      bool   `json:"passed"`
	Detail      string `json:"detail"`
}

// Verify reads whether the stage was healthy over the window ending at
// now: nextflow:crm_up never below 1 (its series covering the window, a
// missing one is an error, never a pass) and no page firing at the end.
func Verify(ctx context.Context, client *http.Client, base string, window time.Duration, now time.Time) (*Verification, error) {
	api, err := queryAPI(base)
	if err != nil {
		return nil, err
	}
	win := promDuration(window)
	v := &Verification{Window: win}
	oldest, err := instant(ctx, client, api, fmt.Sprintf("min(min_over_time(timestamp(%s)[%s:1m]))", CRMUp, win), now)
	if err != nil {
		return nil, err
	}
	tolerance := max(window/10, 2*time.Minute)
	if math.IsNaN(oldest) {
		return nil, fmt.Errorf("Prometheus has no series %s over the %s window; fix: the blackbox probe of the CRM (job crm) and the stage's rules must run before a verification", CRMUp, win)
	}
	if since := time.Unix(0, int64(oldest*1e9)); since.After(now.Add(-window).Add(tolerance)) {
		return nil, fmt.Errorf("%s starts at %s, inside the %s window; fix: verify once the stage has run the whole window", CRMUp, since.UTC().Format(time.RFC3339), win)
	}
	if v.CRMUpMin, err = instant(ctx, client, api, fmt.Sprintf("min(min_over_time(%s[%s]))", CRMUp, win), now); err != nil {
		return nil, err
	}
	pages, err := instant(ctx, client, api, `count(ALERTS{alertstate="firing",severity="`+SeverityPage+`"})`, now)
	if err != nil {
		return nil, err
	}
	if !math.IsNaN(pages) {
		v.PagesFiring = int(pages)
	}
	switch {
	case v.CRMUpMin < 1:
		v.Detail = fmt.Sprintf("the CRM did not answer at some point of the %s window (%s fell to %g)", win, CRMUp, v.CRMUpMin)
	case v.PagesFiring > 0:
		v.Detail = fmt.Sprintf("%d page alerts are firing", v.PagesFiring)
	default:
		v.Passed = true
		v.Detail = fmt.Sprintf("the CRM answered throughout the %s window and no page is firing", win)
	}
	return v, nil
}
