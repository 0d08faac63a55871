// Package compliance maps the controls of SOC 2, ISO/IEC 27001:2022 and
// GDPR that a stage's plan can show to the resources and settings that
// meet or fail them, and lists the controls no plan can show (the host's
// or the account's own settings, people and processes) as such, never as
// passed. The controls' identifiers are Prowler's (its compliance files
// for AWS: soc2_aws.json, iso27001_2022_aws.json, gdpr_aws.json, Prowler
// 5.40.0), and where Prowler's files lack one, the standard's own (the
// AICPA Trust Services Criteria, the regulation's article), marked so.
// It is pure: it reads a plan, its files and the config; it runs nothing.
package compliance

import (
	"fmt"
	"strings"
	"time"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/migrate"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/plan"
)

// Frameworks nfx maps.
const (
	SOC2     = "soc2"
	ISO27001 = "iso27001"
	GDPR     = "gdpr"
)

// Frameworks are the frameworks, in report order (the model's list, which
// nextflow:promotion.compliance is checked against).
var Frameworks = model.ComplianceFrameworks

// Status is what the plan shows of a control.
type Status string

// The statuses. Only Pass is ever counted as met; Outside and Manual are
// listed so that nobody reads their absence as a pass.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	// Outside: the plan cannot show it; it is a setting of the host or the
	// account (a disk's encryption, the account's trail), checked there.
	Outside Status = "outside the plan"
	// Manual: people and processes; the evidence is a document or a record.
	Manual Status = "people and process"
)

// Control is one control nfx maps, with its identifiers in each framework.
type Control struct {
	ID    string `json:"id"`
	Area  string `json:"area"`
	Title string `json:"title"`
	// IDs are the control's identifiers per framework, as Prowler's files
	// spell them; an identifier Prowler's files lack carries its source
	// in brackets, such as "A1.3 (TSC)".
	IDs map[string][]string `json:"ids"`
	// Prowler are the Prowler checks that test the same on a live account.
	Prowler []string `json:"prowler,omitempty"`
	check   func(*facts) finding
}

// finding is a check's answer.
type finding struct {
	status   Status
	evidence []string
	fix      string
}

// Finding is a control as the stage's plan shows it.
type Finding struct {
	Control
	Status   Status   `json:"status"`
	Evidence []string `json:"evidence"`
	Fix      string   `json:"fix,omitempty"`
}

// Report is a stage's compliance report.
type Report struct {
	Stage      string         `json:"stage"`
	Frameworks []string       `json:"frameworks"`
	Findings   []Finding      `json:"findings"`
	Counts     map[Status]int `json:"counts"`
	Sources    []string       `json:"sources"`
}

// Sources are where the identifiers come from.
var Sources = []string{
	"Prowler 5.40.0 (prowler-cloud/prowler 3e000faa), prowler/compliance/aws/soc2_aws.json, iso27001_2022_aws.json, gdpr_aws.json",
	"AICPA Trust Services Criteria (2017, revised 2022) for SOC 2 criteria Prowler's file lacks, marked (TSC)",
	"Regulation (EU) 2016/679 for GDPR articles Prowler's file lacks, marked (GDPR)",
	"ISO/IEC 27001:2022 Annex A and clauses for controls Prowler's file lacks, marked (ISO)",
}

// ParseFramework checks a --framework value ("" is every framework).
func ParseFramework(f string) ([]string, error) {
	if f == "" {
		return Frameworks, nil
	}
	for _, k := range Frameworks {
		if f == k {
			return []string{f}, nil
		}
	}
	return nil, fmt.Errorf("unknown framework %q; use %s", f, strings.Join(Frameworks, ", "))
}

// Rehearsal is the stage's latest restore rehearsal, as nfx migrate
// rehearse recorded it.
type Rehearsal struct {
	At         time.Time
	OK         bool
	RTOSeconds float64
	RPOSeconds float64
}

// RehearsalDays is how recent a rehearsal must be: one each quarter.
const RehearsalDays = 90

// Records are what nfx keeps of a stage that the plan cannot show.
type Records struct {
	// Rehearsal is nil when none was recorded.
	Rehearsal *Rehearsal
	// Now is the time the records are judged at.
	Now time.Time
}

// LoadRecords reads what nfx keeps of a stage: the latest restore
// rehearsal in dir (nfx migrate rehearse's, .nfx/rehearsals/<stage>).
func LoadRecords(dir string, now time.Time) (Records, error) {
	rec := Records{Now: now}
	r, err := migrate.LoadRehearsal(dir)
	if err != nil || r == nil {
		return rec, err
	}
	rec.Rehearsal = &Rehearsal{At: r.At, OK: r.OK, RTOSeconds: r.RTOSeconds, RPOSeconds: r.RPOSeconds}
	return rec, nil
}

// Evaluate maps the controls of the frameworks to a stage's plan, files,
// config and records.
func Evaluate(cfg *model.Config, p *plan.Plan, fs files.Set, rec Records, frameworks []string) (*Report, error) {
	f, err := gather(cfg, p, fs)
	if err != nil {
		return nil, err
	}
	f.rec = rec
	r := &Report{Stage: string(cfg.Stage), Frameworks: frameworks, Counts: map[Status]int{}, Sources: Sources}
	for _, c := range append(append([]Control{}, Controls...), People...) {
		if !c.in(frameworks) {
			continue
		}
		var fd finding
		if c.check == nil {
			fd = finding{status: Manual}
		} else {
			fd = c.check(f)
		}
		if fd.evidence == nil {
			fd.evidence = []string{}
		}
		if f.hosted {
			// Prowler's checks are of an AWS account.
			c.Prowler = nil
		}
		r.Findings = append(r.Findings, Finding{Control: c, Status: fd.status, Evidence: fd.evidence, Fix: fd.fix})
		r.Counts[fd.status]++
	}
	return r, nil
}

// in says whether the control has an identifier in one of the frameworks.
func (c Control) in(frameworks []string) bool {
	for _, fw := range frameworks {
		if len(c.IDs[fw]) > 0 {
			return true
		}
	}
	return false
}

// Failed lists the controls the plan shows unmet.
func (r *Report) Failed() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Status == Fail {
			out = append(out, f)
		}
	}
	return out
}

// Text renders the report for a terminal: one block per control.
func (r *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "nfx compliance: the %s stage against %s\n", r.Stage, strings.Join(r.Frameworks, ", "))
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "\n[%s] %s: %s\n  %s\n", strings.ToUpper(string(f.Status)), f.ID, f.Title, f.idText(r.Frameworks))
		for _, e := range f.Evidence {
			fmt.Fprintf(&b, "  - %s\n", e)
		}
		if f.Fix != "" && f.Status != Pass {
			fmt.Fprintf(&b, "  fix: %s\n", f.Fix)
		}
	}
	fmt.Fprintf(&b, "\n%s\n", r.summary())
	for _, s := range r.Sources {
		fmt.Fprintf(&b, "source: %s\n", s)
	}
	return b.String()
}

// Markdown renders the report as a table.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Compliance: the `%s` stage (%s)\n\n| status | control | identifiers | evidence |\n|---|---|---|---|\n", r.Stage, strings.Join(r.Frameworks, ", "))
	esc := func(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
	for _, f := range r.Findings {
		ev := strings.Join(f.Evidence, "<br>")
		if f.Fix != "" && f.Status != Pass {
			ev += "<br>*fix:* " + f.Fix
		}
		fmt.Fprintf(&b, "| %s | **%s**: %s | %s | %s |\n", f.Status, f.ID, esc(f.Title), esc(f.idText(r.Frameworks)), esc(ev))
	}
	fmt.Fprintf(&b, "\n%s\n", r.summary())
	return b.String()
}

// idText lists the control's identifiers in the frameworks.
func (f Finding) idText(frameworks []string) string {
	var parts []string
	for _, fw := range frameworks {
		if ids := f.IDs[fw]; len(ids) > 0 {
			parts = append(parts, fw+" "+strings.Join(ids, ", "))
		}
	}
	if len(f.Prowler) > 0 {
		parts = append(parts, "Prowler "+strings.Join(f.Prowler, ", "))
	}
	return strings.Join(parts, "; ")
}

func (r *Report) summary() string {
	return fmt.Sprintf("%d pass, %d fail, %d outside the plan (the host's or the account's), %d people and process (never passed by a plan)",
		r.Counts[Pass], r.Counts[Fail], r.Counts[Outside], r.Counts[Manual])
}
