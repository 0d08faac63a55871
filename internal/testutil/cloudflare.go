package testutil

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Cloudflare is a stand-in for Cloudflare's API v4, for the three
// operations nfx failover makes, as the API's reference documents them
// (developers.cloudflare.com/api; the health's shape as cloudflare-go's
// LoadBalancerPoolHealth decodes it): "List Load Balancers", GET
// /zones/{zone_id}/load_balancers; "List Pools", GET
// /accounts/{account_id}/load_balancers/pools; "Pool Health Details", GET
// /accounts/{account_id}/load_balancers/pools/{id}/health; "Patch Load Balancer",
// PATCH /zones/{zone_id}/load_balancers/{id}, which overwrites the
// properties it is given. Answers are the API's envelope (success,
// errors, messages, result); a request without the bearer token is
// refused with 403 (code 10000, as Cloudflare's authentication error), an
// unknown balancer or pool 404, a body that is not JSON or names a pool
// the account lacks 400.
type Cloudflare struct {
	Account, Zone, Token string

	mu    sync.Mutex
	LBs   []CFLoadBalancer
	Pools []CFPool
	// Patches are the balancers' IDs patched, in order.
	Patches []string
	// Status, when set, is every answer's (an outage); FailPatches
	// answers that many PATCHes 503 first (a passing refusal).
	Status      int
	FailPatches int
	// Health is each pool's verdict per data centre ("Pool Health
	// Details"): every pool healthy in three data centres where a pool is
	// not listed; an empty list is a pool no data centre checked yet.
	Health map[string][]bool
}

// CFLoadBalancer is the part of a load balancer the stand-in keeps.
type CFLoadBalancer struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	DefaultPools []string `json:"default_pools"`
	FallbackPool string   `json:"fallback_pool"`
}

// CFPool is a pool's ID and name.
type CFPool struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Balancer returns the load balancer named name (a copy), or false.
func (s *Cloudflare) Balancer(name string) (CFLoadBalancer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.LBs, func(l CFLoadBalancer) bool { return l.Name == name })
	if i < 0 {
		return CFLoadBalancer{}, false
	}
	return s.LBs[i], true
}

func (s *Cloudflare) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reply := func(code int, result any, errs ...string) {
		var es []map[string]any
		for _, e := range errs {
			n := 1000 + code
			if code == 403 {
				n = 10000
			}
			es = append(es, map[string]any{"code": n, "message": e})
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"success": code < 300, "errors": es, "messages": []any{}, "result": result})
	}
	lbs := "/zones/" + s.Zone + "/load_balancers"
	switch {
	case s.Status != 0:
		reply(s.Status, nil, "unavailable")
	case r.Header.Get("Authorization") != "Bearer "+s.Token:
		reply(403, nil, "Authentication error")
	case r.Method == http.MethodGet && r.URL.Path == lbs:
		reply(200, s.LBs)
	case r.Method == http.MethodGet && r.URL.Path == "/accounts/"+s.Account+"/load_balancers/pools":
		reply(200, s.Pools)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/accounts/"+s.Account+"/load_balancers/pools/") && strings.HasSuffix(r.URL.Path, "/health"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/accounts/"+s.Account+"/load_balancers/pools/"), "/health")
		if !slices.ContainsFunc(s.Pools, func(p CFPool) bool { return p.ID == id }) {
			reply(404, nil, "pool not found")
			return
		}
		verdicts, ok := s.Health[id]
		if !ok {
			verdicts = []bool{true, true, true}
		}
		pops := map[string]any{}
		for i, v := range verdicts {
			pops[[]string{"Singapore, SG", "Kuala Lumpur, MY", "Jakarta, ID", "Bangkok, TH"}[i%4]+strings.Repeat(" ", i/4)] = map[string]any{"healthy": v}
		}
		reply(200, map[string]any{"pool_id": id, "pop_health": pops})
	case r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, lbs+"/"):
		id := strings.TrimPrefix(r.URL.Path, lbs+"/")
		i := slices.IndexFunc(s.LBs, func(l CFLoadBalancer) bool { return l.ID == id })
		if i < 0 {
			reply(404, nil, "load balancer not found")
			return
		}
		if s.FailPatches > 0 {
			s.FailPatches--
			reply(503, nil, "service unavailable")
			return
		}
		var body struct {
			DefaultPools *[]string `json:"default_pools"`
			FallbackPool *string   `json:"fallback_pool"`
		}
		if json.NewDecoder(r.Body).Decode(&body) != nil {
			reply(400, nil, "malformed request body")
			return
		}
		known := func(id string) bool { return slices.ContainsFunc(s.Pools, func(p CFPool) bool { return p.ID == id }) }
		if body.DefaultPools != nil && !all(*body.DefaultPools, known) || body.FallbackPool != nil && !known(*body.FallbackPool) {
			reply(400, nil, "pool not found")
			return
		}
		if body.DefaultPools != nil {
			s.LBs[i].DefaultPools = *body.DefaultPools
		}
		if body.FallbackPool != nil {
			s.LBs[i].FallbackPool = *body.FallbackPool
		}
		s.Patches = append(s.Patches, id)
		reply(200, s.LBs[i])
	default:
		reply(404, nil, "no route")
	}
}

func all(ids []string, ok func(string) bool) bool {
	for _, id := range ids {
		if !ok(id) {
			return false
		}
	}
	return len(ids) > 0
}
