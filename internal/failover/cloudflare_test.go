package failover

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

func newStandIn() *testutil.Cloudflare {
	return &testutil.Cloudflare{Account: "aa", Zone: "zz", Token: "t0k3n",
		LBs: []testutil.CFLoadBalancer{
			{ID: "lb1", Name: "crm.example.com", DefaultPools: []string{"p-use1"}, FallbackPool: "p-use1"},
			{ID: "lb2", Name: "admin.example.com", DefaultPools: []string{"p-use1-admin"}, FallbackPool: "p-use1-admin"},
			{ID: "lb3", Name: "other.example.com", DefaultPools: []string{"x"}, FallbackPool: "x"},
		},
		Pools: []testutil.CFPool{{ID: "p-use1", Name: "crm_use1"}, {ID: "p-apse1", Name: "crm_apse1"},
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
	c := &CloudflareLB{API: srv.URL, Token: "t0k3n", AccountID: "aa", ZoneID: "zz", Backoff: time.Millisecond,
		To: map[string]string{"crm.example.com": "crm_apse1", "admin.example.com": "admin_apse1"}}
	// Cloudflare refuses the first PATCH for the moment: made again.
	s.FailPatches = 1
	ctx := context.Background()
	if bad, err := c.Check(ctx); err != nil || len(bad) != 0 {
		t.Fatal(bad, err)
	}
	got, err := c.Switch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"admin.example.com", "crm.example.com"}) {
		t.Errorf("switched %v", got)
	}
	want := map[string][2]string{"lb1": {"p-apse1", "p-apse1"}, "lb2": {"p-apse1-admin", "p-apse1-admin"}, "lb3": {"x", "x"}}
	for _, l := range s.LBs {
		if w := want[l.ID]; !slices.Equal(l.DefaultPools, []string{w[0]}) || l.FallbackPool != w[1] {
			t.Errorf("%s: default %v fallback %s, want %v", l.Name, l.DefaultPools, l.FallbackPool, w)
		}
	}
	again, err := c.Switch(ctx)
	if err != nil || len(again) != 0 || len(s.Patches) != 2 {
		t.Errorf("a run again switched %v (%v); patches %v", again, err, s.Patches)
	}
}

// What stops a failover before anything is fenced, each error naming the
// fix, never the token.
func TestCloudflareCheckRefuses(t *testing.T) {
	cases := []struct {
		name  string
		setup func(s *testutil.Cloudflare, c *CloudflareLB)
		want  string
	}{
		{"no token", func(s *testutil.Cloudflare, c *CloudflareLB) { c.Token = "" }, "set CLOUDFLARE_API_TOKEN"},
		{"a token refused", func(s *testutil.Cloudflare, c *CloudflareLB) { c.Token = "wrong-s3cret" }, "refuses the token"},
		{"no such balancer", func(s *testutil.Cloudflare, c *CloudflareLB) { s.LBs = s.LBs[1:] }, "no load balancer crm.example.com"},
		{"no standby pool", func(s *testutil.Cloudflare, c *CloudflareLB) { s.Pools = s.Pools[:1] }, "no pool crm_apse1"},
		{"two pools of the name", func(s *testutil.Cloudflare, c *CloudflareLB) {
			s.Pools = append(s.Pools, testutil.CFPool{ID: "dup", Name: "crm_apse1"})
		}, "2 pools named crm_apse1"},
		{"an outage", func(s *testutil.Cloudflare, c *CloudflareLB) { s.Status = 503 }, "the Cloudflare API: GET /zones/zz/load_balancers: 503"},
		{"another account", func(s *testutil.Cloudflare, c *CloudflareLB) { c.AccountID = "bb" }, "GET /accounts/bb/load_balancers/pools: 404"},
		{"no answer", func(s *testutil.Cloudflare, c *CloudflareLB) { c.API = "http://127.0.0.1:1" }, "does not answer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStandIn()
			srv := httptest.NewServer(s)
			defer srv.Close()
			c := &CloudflareLB{API: srv.URL, Token: "t0k3n", AccountID: "aa", ZoneID: "zz", Backoff: time.Millisecond,
				To: map[string]string{"crm.example.com": "crm_apse1"}}
			tc.setup(s, c)
			_, err := c.Check(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), c.Token) && c.Token != "" {
				t.Errorf("the error holds the token: %v", err)
			}
			if _, err := c.Switch(context.Background()); err == nil || len(s.Patches) > 0 {
				t.Errorf("switched anyway: %v, patches %v", err, s.Patches)
			}
		})
	}
}

// The standby's pools' health, as Cloudflare's data centres see it: most
// of them healthy is healthy; none reporting yet is not.
func TestCloudflareHealth(t *testing.T) {
	for _, tc := range []struct {
		name     string
		verdicts []bool
		want     string
	}{
		{"healthy everywhere", []bool{true, true, true}, ""},
		{"healthy in most", []bool{true, false, true}, ""},
		{"healthy in a minority", []bool{false, true, false}, "healthy in 1 of the 3 data centres"},
		{"half", []bool{true, false}, "healthy in 1 of the 2"},
		{"not checked yet", []bool{}, "no health reported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStandIn()
			s.Health = map[string][]bool{"p-apse1": tc.verdicts}
			srv := httptest.NewServer(s)
			defer srv.Close()
			c := &CloudflareLB{API: srv.URL, Token: "t0k3n", AccountID: "aa", ZoneID: "zz", To: map[string]string{"crm.example.com": "crm_apse1"}}
			bad, err := c.Check(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := bad["crm.example.com"]; tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
