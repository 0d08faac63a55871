package promote

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
	"github.com/nextflow-crm/nfx/internal/offline"
	"github.com/nextflow-crm/nfx/internal/release"
)

// StatefulTypes are the resources whose replacement or deletion loses
// data, derived from the part table's data parts (model.StatefulTypes).
var StatefulTypes = model.StatefulTypes()

// Loss is one planned step that loses data.
type Loss struct {
	What string `json:"what"`
	Op   string `json:"op"`
}

// Step is one step of a preview: its operation, resource and type.
type Step struct {
	Op   string `json:"op"`
	URN  string `json:"urn"`
	Type string `json:"type"`
}

// PreviewSteps reads the steps of `pulumi preview --json`.
func PreviewSteps(data []byte) ([]Step, error) {
	var doc struct {
		Steps []struct {
			Op       string `json:"op"`
			URN      string `json:"urn"`
			OldState *struct {
				Type string `json:"type"`
			} `json:"oldState"`
			NewState *struct {
				Type string `json:"type"`
			} `json:"newState"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.Steps == nil {
		return nil, fmt.Errorf("not the JSON of `pulumi preview --json` (no steps)")
	}
	out := make([]Step, 0, len(doc.Steps))
	for _, s := range doc.Steps {
		// A preview --refresh's reads change nothing.
		if s.Op == "refresh" {
			continue
		}
		st := Step{Op: s.Op, URN: s.URN}
		if s.OldState != nil {
			st.Type = s.OldState.Type
		} else if s.NewState != nil {
			st.Type = s.NewState.Type
		}
		out = append(out, st)
	}
	return out, nil
}

// URNType is the type a URN names: urn:pulumi:stack::project::parent$type::name.
func URNType(urn string) string {
	parts := strings.Split(urn, "::")
	if len(parts) < 3 {
		return ""
	}
	t := parts[len(parts)-2]
	return t[strings.LastIndex(t, "$")+1:]
}

// Losses are the replace and delete steps on stateful resources.
func Losses(steps []Step) []Loss {
	var out []Loss
	for _, s := range steps {
		typ := s.Type
		if typ == "" {
			typ = URNType(s.URN)
		}
		switch s.Op {
		case "replace", "create-replacement", "delete-replaced", "delete", "discard":
			if StatefulTypes[typ] {
				out = append(out, Loss{What: s.URN, Op: s.Op})
			}
		}
	}
	return out
}

// planLosses compares a stack's plans before and after: a stateful
// resource or a data volume of the rendered stack that is gone.
func planLosses(before, after *offline.Result) []Loss {
	have := map[string]bool{}
	for _, r := range after.Plan.Resources {
		have[r.Type+" "+r.Name] = true
	}
	var out []Loss
	for _, r := range before.Plan.Resources {
		if StatefulTypes[r.Type] && !have[r.Type+" "+r.Name] {
			out = append(out, Loss{What: r.Type + " " + r.Name, Op: "delete"})
		}
	}
	vb, va := volumes(before), volumes(after)
	for v := range vb {
		if !va[v] {
			out = append(out, Loss{What: "volume " + v, Op: "delete"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].What < out[j].What })
	return out
}

// volumes are the named volumes of a rendered Compose project or Swarm
// stack: where the self-hosted stages keep their data.
func volumes(r *offline.Result) map[string]bool {
	out := map[string]bool{}
	for _, f := range r.Files {
		if f.Path != "compose.yaml" && f.Path != "stack.yaml" {
			continue
		}
		var doc struct {
			Volumes map[string]any `yaml:"volumes"`
		}
		if yaml.Unmarshal(f.Data, &doc) == nil {
			for v := range doc.Volumes {
				out[v] = true
			}
		}
	}
	return out
}

// migrationVerified says whether a migration journal (nfx migrate's) has
// passed its verification.
func migrationVerified(file string) (bool, string) {
	b, err := os.ReadFile(file)
	if err != nil {
		return false, err.Error()
	}
	var j struct {
		Verification *struct {
			OK bool      `json:"ok"`
			At time.Time `json:"at"`
		} `json:"verification"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return false, "not a migration journal: " + err.Error()
	}
	if j.Verification == nil || !j.Verification.OK {
		return false, "its verification has not passed"
	}
	return true, "verified " + j.Verification.At.UTC().Format(time.RFC3339)
}

// statefulGate reads the losses of the offline plans and of the target's
// preview (steps; nil when none ran).
func statefulGate(o Options, before, after *offline.Result, steps []Step) GateResult {
	g := GateResult{Name: "stateful", Level: model.GateBlocking}
	var losses []Loss
	if before != nil && after != nil {
		losses = planLosses(before, after)
	}
	losses = append(losses, Losses(steps)...)
	g.Figures = map[string]float64{"losses": float64(len(losses))}
	if len(losses) == 0 {
		g.Passed = true
		g.Detail = "no stateful resource or data volume is replaced or deleted"
		return g
	}
	var what []string
	for _, l := range losses {
		what = append(what, fmt.Sprintf("%s %s", l.Op, l.What))
	}
	if o.Migration != "" {
		ok, why := migrationVerified(o.Migration)
		if ok {
			g.Passed = true
			g.Detail = fmt.Sprintf("%s, with the migration %s attached (%s)", strings.Join(what, "; "), o.Migration, why)
		} else {
			g.Detail = fmt.Sprintf("%s; the attached migration %s does not cover it: %s", strings.Join(what, "; "), o.Migration, why)
		}
		return g
	}
	g.Detail = strings.Join(what, "; ") + ": data would be lost; attach a verified migration (nfx migrate run, then --migration .nfx/migrations/<from>-to-<to>.json)"
	return g
}

// soakGate: the release has run on the source for the soak time, on the
// real clock, and passed a verification there since it arrived. It
// arrived at the time the ledger first saw it there (a promotion or
// rollback into the source, or else its first verification there), after
// the last entry that saw another release there; a verification counts
// only if its window ends after that arrival, and no window is taken to
// end later than the time it was recorded: a window dated into the past
// (nfx verify --at) proves nothing about a release that arrived since.
func soakGate(entries []Entry, o Options, digest string, minutes int) GateResult {
	g := GateResult{Name: "soak", Level: model.GateBlocking, Figures: map[string]float64{"requiredMinutes": float64(minutes)}}
	if minutes == 0 {
		g.Passed, g.Detail = true, "no soak time configured"
		return g
	}
	from := o.From.Name()
	var since, verified time.Time
	for _, e := range entries {
		if e.To != from || (e.Kind != "promote" && e.Kind != "rollback" && e.Kind != "verify") {
			continue
		}
		if e.Release != digest {
			// The source ran another release then.
			since, verified = time.Time{}, time.Time{}
			continue
		}
		if since.IsZero() {
			since = e.Time
		}
		if e.Kind == "verify" && len(e.Gates) == 1 && e.Gates[0].Passed {
			end := time.Unix(int64(e.Gates[0].Figures["windowEnd"]), 0)
			if end.After(e.Time) {
				end = e.Time
			}
			if !end.Before(since) && end.After(verified) {
				verified = end
			}
		}
	}
	if since.IsZero() {
		g.Detail = fmt.Sprintf("the ledger has neither a promotion of this release into %s nor a verification of it there: its time there is unknown (nfx verify --stage %s)", from, from)
		return g
	}
	ran := o.clock().Sub(since)
	g.Figures["minutes"] = math.Round(ran.Minutes())
	switch {
	case ran < time.Duration(minutes)*time.Minute:
		g.Detail = fmt.Sprintf("has run on %s for %.0f minutes, since %s, of the %d required (nextflow:promotion.soakMinutes)", from, ran.Minutes(), since.UTC().Format(time.RFC3339), minutes)
	case verified.IsZero():
		g.Detail = fmt.Sprintf("has run on %s for %.0f minutes but no verification of it there has passed since %s (nfx verify --stage %s)", from, ran.Minutes(), since.UTC().Format(time.RFC3339), from)
	default:
		g.Passed = true
		g.Detail = fmt.Sprintf("has run on %s for %.0f minutes (%d required), verified up to %s", from, ran.Minutes(), minutes, verified.UTC().Format(time.RFC3339))
	}
	return g
}

// RecordVerification appends a stack's verification to the ledger, for the
// release its config runs.
func RecordVerification(l Ledger, s Stack, v *monitoring.Verification, windowEnd time.Time, window time.Duration, actor string) (Entry, error) {
	_, cfg, err := loadValid(s)
	if err != nil {
		return Entry{}, err
	}
	rel := release.Of(cfg)
	g := GateResult{Name: "verification", Level: model.GateBlocking, Passed: v.Passed, Detail: v.Detail, Figures: map[string]float64{
		"crmUpMin": v.CRMUpMin, "pagesFiring": float64(v.PagesFiring), "windowEnd": float64(windowEnd.Unix()), "windowSeconds": window.Seconds(),
	}}
	return l.Append(Entry{Time: time.Now(), Kind: "verify", To: s.Name(), Release: rel.Digest, Actor: actor, Gates: []GateResult{g}})
}

// failoverGate: a target with a standby region has failed over, or
// rehearsed a failover, within nextflow:promotion.failoverDays, so that the
// RTO and RPO its operators count on were measured lately. It does not run
// when no days are set or the target has no standby.
func failoverGate(entries []Entry, o Options, to string, cur *model.Config) GateResult {
	days := cur.Promotion.FailoverDays
	if days == 0 || cur.Cloud.StandbyRegion == "" {
		return GateResult{}
	}
	g := GateResult{Name: "failover", Figures: map[string]float64{"requiredDays": float64(days)}}
	var last *Entry
	for i := range entries {
		e := &entries[i]
		if e.To == to && (e.Kind == KindFailover || e.Kind == KindRehearsal) && (last == nil || e.Time.After(last.Time)) {
			last = e
		}
	}
	if last == nil {
		g.Detail = fmt.Sprintf("%s has a standby in %s and the ledger has no failover or rehearsal of it (nfx failover --stage %s --rehearse)", to, cur.Cloud.StandbyRegion, to)
		return g
	}
	age := o.clock().Sub(last.Time)
	g.Figures["days"] = math.Floor(age.Hours() / 24)
	g.Detail = fmt.Sprintf("last %s %s (ledger entry %d, %.0f days ago): %s", last.Kind, last.Time.UTC().Format(time.RFC3339), last.Seq, math.Floor(age.Hours()/24), last.Note)
	if age > time.Duration(days)*24*time.Hour {
		g.Detail += fmt.Sprintf("; older than the %d days nextflow:promotion.failoverDays allows (nfx failover --stage %s --rehearse)", days, to)
		return g
	}
	g.Passed = true
	return g
}
