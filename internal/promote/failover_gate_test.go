package promote

import (
	"strings"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/model"
)

// The failover gate reads the target's own failovers and rehearsals in
// the ledger, on the real clock, and only where the target has a standby
// and the config asks for one.
func TestFailoverGate(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	entry := func(kind, to string, ago time.Duration) Entry {
		return Entry{Seq: 3, Kind: kind, To: to, Time: now.Add(-ago), Note: "RTO 4m12s; RPO 0"}
	}
	for _, c := range []struct {
		name    string
		days    int
		standby string
		entries []Entry
		runs    bool
		passed  bool
		detail  string
	}{
		{name: "no days set", days: 0, standby: "ap-southeast-1"},
		{name: "no standby", days: 30},
		{name: "never rehearsed", days: 30, standby: "ap-southeast-1", runs: true, detail: "no failover or rehearsal"},
		{name: "a rehearsal last week", days: 30, standby: "ap-southeast-1", entries: []Entry{entry(KindRehearsal, "cloud", 7*24*time.Hour)}, runs: true, passed: true, detail: "RTO 4m12s"},
		{name: "a failover last week", days: 30, standby: "ap-southeast-1", entries: []Entry{entry(KindFailover, "cloud", 7*24*time.Hour)}, runs: true, passed: true},
		{name: "too old", days: 30, standby: "ap-southeast-1", entries: []Entry{entry(KindRehearsal, "cloud", 31*24*time.Hour)}, runs: true, detail: "older than the 30 days"},
		{name: "another stack's", days: 30, standby: "ap-southeast-1", entries: []Entry{entry(KindRehearsal, "cloud-staging", time.Hour)}, runs: true, detail: "no failover or rehearsal"},
		{name: "a promotion is no rehearsal", days: 30, standby: "ap-southeast-1", entries: []Entry{entry("promote", "cloud", time.Hour)}, runs: true, detail: "no failover or rehearsal"},
		{name: "the latest counts", days: 30, standby: "ap-southeast-1",
			entries: []Entry{entry(KindRehearsal, "cloud", 2*time.Hour), entry(KindRehearsal, "cloud", 90*24*time.Hour)}, runs: true, passed: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cur := &model.Config{}
			cur.Promotion.FailoverDays, cur.Cloud.StandbyRegion = c.days, c.standby
			g := failoverGate(c.entries, Options{Clock: func() time.Time { return now }}, "cloud", cur)
			if (g.Name != "") != c.runs || g.Passed != c.passed || !strings.Contains(g.Detail, c.detail) {
				t.Errorf("gate %q passed %v: %s", g.Name, g.Passed, g.Detail)
			}
		})
	}
}
