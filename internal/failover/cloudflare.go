package failover

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nextflow-crm/nfx/internal/jsonhttp"
)

// Edge is what sends visitors to a region in front of the tunnels
// (cloud.loadBalancer): Cloudflare's load balancers.
type Edge interface {
	// Check reads every load balancer and the pool it is to be switched
	// to, before anything is fenced, and says which of those pools
	// Cloudflare's checks do not find healthy (hostname: why).
	Check(ctx context.Context) (unhealthy map[string]string, err error)
	// Switch sends every load balancer's visitors to its standby pool,
	// its fallback too; a balancer switched already is left as it is.
	Switch(ctx context.Context) (switched []string, err error)
}

// CloudflareAPI is Cloudflare's API v4.
const CloudflareAPI = "https://api.cloudflare.com/client/v4"

// cloudflareClient bounds each request: an API that hangs fails the step
// (a run again goes on) instead of holding the failover.
var cloudflareClient = &http.Client{Timeout: 30 * time.Second}

// CloudflareLB switches Cloudflare load balancers through Cloudflare's
// API v4 ("List Load Balancers", "List Pools", "Patch Load Balancer"):
// Cloudflare answers while an AWS region is lost.
type CloudflareLB struct {
	// API is the API's base URL (CloudflareAPI); Token an API token with
	// Load Balancers Edit on the zone and Load Balancing: Monitors and
	// Pools Read on the account. HTTP is the client (one whose requests
	// time out after 30 s where nil).
	API, Token string
	HTTP       *http.Client
	AccountID  string
	ZoneID     string
	// To names, for each load balancer (its hostname), the pool its
	// visitors go to once switched.
	To map[string]string
	// Backoff is the first wait before a request Cloudflare refused for
	// the moment (429, 5xx) or that got no answer is made again, doubling,
	// three tries in all; 2 s where 0.
	Backoff time.Duration
}

// cfLB is the part of a load balancer a switch reads and writes.
type cfLB struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	DefaultPools []string `json:"default_pools"`
	FallbackPool string   `json:"fallback_pool"`
}

type cfPool struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// CloudflareError is an answer of Cloudflare's API that is not a success.
type CloudflareError struct {
	Request string
	Status  int
	// Messages are the API's errors, as "code: message".
	Messages []string
}

func (e *CloudflareError) Error() string {
	return fmt.Sprintf("%s: %d %s", e.Request, e.Status, strings.Join(e.Messages, "; "))
}

// call makes an API request, again after a refusal for the moment (429,
// 5xx) or no answer: the reads and the PATCH (which sets, not adds) may be
// made twice.
func (c *CloudflareLB) call(ctx context.Context, method, path string, body, out any) error {
	wait := cmp.Or(c.Backoff, 2*time.Second)
	for try := 1; ; try++ {
		err := c.once(ctx, method, path, body, out)
		var ce *CloudflareError
		transient := err != nil && (!errors.As(err, &ce) || ce.Status == http.StatusTooManyRequests || ce.Status >= 500)
		if !transient || try == 3 || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// once makes one API request, its body JSON, and decodes the envelope's
// result into out.
func (c *CloudflareLB) once(ctx context.Context, method, path string, body, out any) error {
	req, err := jsonhttp.NewRequest(ctx, method, c.API, path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	hc := c.HTTP
	if hc == nil {
		hc = cloudflareClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		// The URL's error names the URL, which holds no secret.
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Success bool `json:"success"`
		Errors  []struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
		Result json.RawMessage `json:"result"`
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	derr := json.Unmarshal(data, &env)
	if resp.StatusCode/100 != 2 || derr != nil || !env.Success {
		e := &CloudflareError{Request: method + " " + path, Status: resp.StatusCode}
		for _, m := range env.Errors {
			e.Messages = append(e.Messages, fmt.Sprintf("%d: %s", m.Code, m.Message))
		}
		if len(e.Messages) == 0 {
			e.Messages = []string{http.StatusText(resp.StatusCode)}
		}
		return e
	}
	if out != nil {
		return json.Unmarshal(env.Result, out)
	}
	return nil
}

// read lists the zone's load balancers and the account's pools, and pairs
// each of To's hostnames with its balancer and the pool it goes to.
func (c *CloudflareLB) read(ctx context.Context) (map[string]cfLB, map[string]string, error) {
	if c.Token == "" {
		return nil, nil, errors.New("no Cloudflare API token: set CLOUDFLARE_API_TOKEN to one with Load Balancers Edit on the zone and Load Balancing: Monitors and Pools Read on the account")
	}
	var lbs []cfLB
	if err := c.call(ctx, http.MethodGet, "/zones/"+url.PathEscape(c.ZoneID)+"/load_balancers", nil, &lbs); err != nil {
		return nil, nil, c.explain(err)
	}
	var pools []cfPool
	if err := c.call(ctx, http.MethodGet, "/accounts/"+url.PathEscape(c.AccountID)+"/load_balancers/pools", nil, &pools); err != nil {
		return nil, nil, c.explain(err)
	}
	byHost, poolID := map[string]cfLB{}, map[string]string{}
	hosts := make([]string, 0, len(c.To))
	for h := range c.To {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	for _, h := range hosts {
		i := slices.IndexFunc(lbs, func(l cfLB) bool { return strings.EqualFold(l.Name, h) })
		if i < 0 {
			return nil, nil, fmt.Errorf("zone %s has no load balancer %s: the stack was not brought up with cloud.loadBalancer; fix: nfx up --stage cloud while both regions answer, or run nfx failover --database-only", c.ZoneID, h)
		}
		byHost[h] = lbs[i]
		var ids []string
		for _, p := range pools {
			if p.Name == c.To[h] {
				ids = append(ids, p.ID)
			}
		}
		switch len(ids) {
		case 0:
			return nil, nil, fmt.Errorf("account %s has no pool %s for %s: the stack was not brought up with cloud.loadBalancer; fix: nfx up --stage cloud, or run nfx failover --database-only", c.AccountID, c.To[h], h)
		case 1:
			poolID[h] = ids[0]
		default:
			return nil, nil, fmt.Errorf("account %s has %d pools named %s: which one takes %s is not known; fix: delete the ones nfx did not make (their descriptions do not say \"managed by nfx\"), then run nfx failover again", c.AccountID, len(ids), c.To[h], h)
		}
	}
	return byHost, poolID, nil
}

// explain adds the fix to an API error: a refused token, or an API that
// does not answer.
func (c *CloudflareLB) explain(err error) error {
	var ce *CloudflareError
	switch {
	case errors.As(err, &ce) && (ce.Status == 401 || ce.Status == 403):
		return fmt.Errorf("the Cloudflare API refuses the token (%v); fix: give CLOUDFLARE_API_TOKEN Load Balancers Edit on zone %s and Load Balancing: Monitors and Pools Read on account %s", err, c.ZoneID, c.AccountID)
	case errors.As(err, &ce):
		return fmt.Errorf("the Cloudflare API: %w", err)
	default:
		return fmt.Errorf("the Cloudflare API does not answer (%v); fix: check the network and any HTTPS_PROXY, then run nfx failover again", err)
	}
}

// Check implements Edge. A pool is healthy as Cloudflare counts it: in
// most of the data centres that check it ("Pool Health Details", whose
// pop_health has a verdict per data centre); one no data centre has
// checked yet is not.
func (c *CloudflareLB) Check(ctx context.Context) (map[string]string, error) {
	_, pools, err := c.read(ctx)
	if err != nil {
		return nil, err
	}
	unhealthy := map[string]string{}
	for _, h := range slices.Sorted(maps.Keys(pools)) {
		var health struct {
			PopHealth map[string]struct {
				Healthy bool `json:"healthy"`
			} `json:"pop_health"`
		}
		path := "/accounts/" + url.PathEscape(c.AccountID) + "/load_balancers/pools/" + url.PathEscape(pools[h]) + "/health"
		if err := c.call(ctx, http.MethodGet, path, nil, &health); err != nil {
			return nil, c.explain(err)
		}
		ok := 0
		for _, p := range health.PopHealth {
			if p.Healthy {
				ok++
			}
		}
		switch n := len(health.PopHealth); {
		case n == 0:
			unhealthy[h] = fmt.Sprintf("pool %s has no health reported by Cloudflare yet", c.To[h])
		case 2*ok <= n:
			unhealthy[h] = fmt.Sprintf("pool %s is healthy in %d of the %d data centres that check it", c.To[h], ok, n)
		}
	}
	return unhealthy, nil
}

// Switch implements Edge: a PATCH of each balancer's default_pools and
// fallback_pool, read again first, so that a run again changes nothing
// switched already.
func (c *CloudflareLB) Switch(ctx context.Context) ([]string, error) {
	lbs, pools, err := c.read(ctx)
	if err != nil {
		return nil, err
	}
	var switched []string
	for _, h := range slices.Sorted(maps.Keys(lbs)) {
		lb, to := lbs[h], pools[h]
		if slices.Equal(lb.DefaultPools, []string{to}) && lb.FallbackPool == to {
			continue
		}
		body := map[string]any{"default_pools": []string{to}, "fallback_pool": to}
		path := "/zones/" + url.PathEscape(c.ZoneID) + "/load_balancers/" + url.PathEscape(lb.ID)
		if err := c.call(ctx, http.MethodPatch, path, body, nil); err != nil {
			return switched, c.explain(err)
		}
		switched = append(switched, h)
	}
	return switched, nil
}
