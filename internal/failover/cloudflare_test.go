package failover

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// cfStandIn is Cloudflare's API v4 for the three operations a switch
// makes, as its reference documents them (developers.cloudflare.com/api:
// "List Load Balancers" GET /zones/{zone_id}/load_balancers, "List Pools"
// GET /accounts/{account_id}/load_balancers/pools, "Patch Load Balancer"
// PATCH /zones/{zone_id}/load_balancers/{id}, which overwrites the
// properties it is given): the envelope {success, errors, messages,
// result}, a bearer token, 404 for an unknown balancer.
type cfStandIn struct {
	token   string
	lbs     []cfLB
	pools   []cfPool
	patches []string
	// status, when set, is every answer's (a refused token, an outage).
	status int
}

func (s *cfStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reply := func(code int, result any, errs ...string) {
		var es []map[string]any
		for _, e := range errs {
			es = append(es, map[string]any{"code": 1000 + code, "message": e})
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]any{"success": code < 300, "errors": es, "messages": []any{}, "result": result})
	}
	switch {
	case s.status != 0:
		reply(s.status, nil, "refused")
	case r.Header.Get("Authorization") != "Bearer "+s.token:
		reply(403, nil, "Authentication error")
	case r.Method == "GET" && r.URL.Path == "/zones/zz/load_balancers":
		reply(200, s.lbs)
	case r.Method == "GET" && r.URL.Path == "/accounts/aa/load_balancers/pools":
		reply(200, s.pools)
	case r.Method == "PATCH" && strings.HasPrefix(r.URL.Path, "/zones/zz/load_balancers/"):
		id := strings.TrimPrefix(r.URL.Path, "/zones/zz/load_balancers/")
		i := slices.IndexFunc(s.lbs, func(l cfLB) bool { return l.ID == id })
		var body map[string]json.RawMessage
		if i < 0 || json.NewDecoder(r.Body).Decode(&body) != nil {
			reply(404, nil, "load balancer not found")
			return
		}
		if v, ok := body["default_pools"]; ok {
			json.Unmarshal(v, &s.lbs[i].DefaultPools)
		}
		if v, ok := body["fallback_pool"]; ok {
			json.Unmarshal(v, &s.lbs[i].FallbackPool)
		}
		s.patches = append(s.patches, id)
		reply(200, s.lbs[i])
	default:
		reply(404, nil, "no route")
	}
}

func newStandIn() *cfStandIn {
	return &cfStandIn{token: "t0k3n",
		lbs: []cfLB{
			{ID: "lb1", Name: "crm.example.com", DefaultPools: []string{"p-use1"}, FallbackPool: "p-use1"},
			{ID: "lb2", Name: "admin.example.com", DefaultPools: []string{"p-use1-admin"}, FallbackPool: "p-use1-admin"},
			{ID: "lb3", Name: "other.example.com", DefaultPools: []string{"x"}, FallbackPool: "x"},
		},
		pools: []cfPool{{ID: "p-use1", Name: "crm_use1"}, {ID: "p-apse1", Name: "crm_apse1"},
			{ID: "p-use1-admin", Name: "admin_use1"}, {ID: "p-apse1-admin", Name: "admin_apse1"}},
	}
}

// The switch sends each of the stack's balancers to its standby pool, the
// fallback too, leaves the zone's other balancers alone, and a run again
// changes nothing.
func TestCloudflareSwitch(t *testing.T) {
	s := newStandIn()
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := &CloudflareLB{API: srv.URL, Token: "t0k3n", AccountID: "aa", ZoneID: "zz",
		To: map[string]string{"crm.example.com": "crm_apse1", "admin.example.com": "admin_apse1"}}
	ctx := context.Background()
	if err := c.Check(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := c.Switch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"admin.example.com", "crm.example.com"}) {
		t.Errorf("switched %v", got)
	}
	want := map[string][2]string{"lb1": {"p-apse1", "p-apse1"}, "lb2": {"p-apse1-admin", "p-apse1-admin"}, "lb3": {"x", "x"}}
	for _, l := range s.lbs {
		if w := want[l.ID]; !slices.Equal(l.DefaultPools, []string{w[0]}) || l.FallbackPool != w[1] {
			t.Errorf("%s: default %v fallback %s, want %v", l.Name, l.DefaultPools, l.FallbackPool, w)
		}
	}
	again, err := c.Switch(ctx)
	if err != nil || len(again) != 0 || len(s.patches) != 2 {
		t.Errorf("a run again switched %v (%v); patches %v", again, err, s.patches)
	}
}

// What stops a failover before anything is fenced, each error naming the
// fix, never the token.
func TestCloudflareCheckRefuses(t *testing.T) {
	cases := []struct {
		name  string
		setup func(s *cfStandIn, c *CloudflareLB)
		want  string
	}{
		{"no token", func(s *cfStandIn, c *CloudflareLB) { c.Token = "" }, "set CLOUDFLARE_API_TOKEN"},
		{"a token refused", func(s *cfStandIn, c *CloudflareLB) { c.Token = "wrong-s3cret" }, "refuses the token"},
		{"no such balancer", func(s *cfStandIn, c *CloudflareLB) { s.lbs = s.lbs[1:] }, "no load balancer crm.example.com"},
		{"no standby pool", func(s *cfStandIn, c *CloudflareLB) { s.pools = s.pools[:1] }, "no pool crm_apse1"},
		{"two pools of the name", func(s *cfStandIn, c *CloudflareLB) {
			s.pools = append(s.pools, cfPool{ID: "dup", Name: "crm_apse1"})
		}, "2 pools named crm_apse1"},
		{"an outage", func(s *cfStandIn, c *CloudflareLB) { s.status = 503 }, "the Cloudflare API: GET /zones/zz/load_balancers: 503"},
		{"no answer", func(s *cfStandIn, c *CloudflareLB) { c.API = "http://127.0.0.1:1" }, "does not answer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStandIn()
			srv := httptest.NewServer(s)
			defer srv.Close()
			c := &CloudflareLB{API: srv.URL, Token: "t0k3n", AccountID: "aa", ZoneID: "zz",
				To: map[string]string{"crm.example.com": "crm_apse1"}}
			tc.setup(s, c)
			err := c.Check(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), c.Token) && c.Token != "" {
				t.Errorf("the error holds the token: %v", err)
			}
			if _, err := c.Switch(context.Background()); err == nil || len(s.patches) > 0 {
				t.Errorf("switched anyway: %v, patches %v", err, s.patches)
			}
		})
	}
}
