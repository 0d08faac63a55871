package migrate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nextflow-crm/nfx/internal/model"
)

// PlanText is a plan for the terminal.
func PlanText(p *Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Migration %s -> %s (PostgreSQL: %s mode; Redis: %s)\n\nChecks:\n", p.From, p.To, p.Mode, p.RedisData)
	for _, c := range p.Checks {
		mark := "ok"
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "  [%s] %s: %s -> %s", mark, c.What, orUnknown(c.From), orUnknown(c.To))
		if c.Fix != "" {
			fmt.Fprintf(&b, "; fix: %s", c.Fix)
		}
		b.WriteString("\n")
	}
	b.WriteString("\nSteps:\n")
	for i, s := range p.Steps {
		frozen := ""
		if s.Frozen {
			frozen = " [writes frozen]"
		}
		fmt.Fprintf(&b, "  %2d. %-22s %s (%s, %s)%s\n      %s\n", i+1, s.ID, s.Title, s.Part, s.Phase, frozen, s.Detail)
		for _, pre := range s.Preconditions {
			fmt.Fprintf(&b, "      requires: %s\n", pre)
		}
	}
	fmt.Fprintf(&b, "\nDowntime: %s.\n", p.Downtime)
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// PlanMarkdown is a plan for a pull-request comment.
func PlanMarkdown(p *Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Migration %s → %s\n\nPostgreSQL in `%s` mode; Redis is `%s`. Downtime: %s.\n\n", p.From, p.To, p.Mode, p.RedisData, p.Downtime)
	b.WriteString("| Check | From | To | |\n|---|---|---|---|\n")
	for _, c := range p.Checks {
		mark := "✅"
		if !c.OK {
			mark = "❌ " + c.Fix
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.What, orUnknown(c.From), orUnknown(c.To), mark)
	}
	b.WriteString("\n| # | Step | Part | Writes | How |\n|---|---|---|---|---|\n")
	for i, s := range p.Steps {
		w := "open"
		if s.Frozen {
			w = "frozen"
		}
		fmt.Fprintf(&b, "| %d | `%s` %s | %s | %s | %s |\n", i+1, s.ID, s.Title, s.Part, w, strings.ReplaceAll(s.Detail, "|", `\|`))
	}
	return b.String()
}

// ReportText is a migration's record for the terminal.
func ReportText(j *Journal) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Migration %s -> %s (%s mode): %s\n", j.Plan.From, j.Plan.To, j.Plan.Mode, j.State)
	if j.SourceBytes > 0 {
		fmt.Fprintf(&b, "  source database: %s", bytesText(j.SourceBytes))
		if j.DumpBytes > 0 {
			fmt.Fprintf(&b, "; dump %s (sha256 %s)", bytesText(j.DumpBytes), j.DumpSHA256[:min(12, len(j.DumpSHA256))])
		}
		b.WriteString("\n")
	}
	if !j.FrozenAt.IsZero() {
		if j.CutoverAt.IsZero() {
			fmt.Fprintf(&b, "  writes frozen since %s, not cut over yet\n", j.FrozenAt.Format(time.RFC3339))
		} else {
			fmt.Fprintf(&b, "  write downtime: %.1f s (frozen %s, cut over %s)\n", j.DowntimeSeconds, j.FrozenAt.Format(time.RFC3339), j.CutoverAt.Format(time.RFC3339))
		}
	}
	for _, s := range j.Steps {
		fmt.Fprintf(&b, "  %-22s %-8s %7.1f s  %s", s.ID, s.State, s.Seconds, s.Detail)
		if s.Error != "" {
			fmt.Fprintf(&b, "  error: %s", s.Error)
		}
		b.WriteString("\n")
	}
	if j.Verification != nil {
		b.WriteString(VerificationText(j.Verification))
	}
	if j.Rehearsal != nil {
		b.WriteString(RehearsalText(j.Rehearsal))
	}
	return b.String()
}

// ReportMarkdown is a migration's record as Markdown.
func ReportMarkdown(j *Journal) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Migration %s → %s: %s\n\n", j.Plan.From, j.Plan.To, j.State)
	if j.CutoverAt.IsZero() {
		b.WriteString("Not cut over yet.\n\n")
	} else {
		fmt.Fprintf(&b, "Write downtime **%.1f s**; %s moved.\n\n", j.DowntimeSeconds, bytesText(j.SourceBytes))
	}
	b.WriteString("| Step | State | Seconds | Detail |\n|---|---|---|---|\n")
	for _, s := range j.Steps {
		d := s.Detail
		if s.Error != "" {
			d = "error: " + s.Error
		}
		fmt.Fprintf(&b, "| `%s` | %s | %.1f | %s |\n", s.ID, s.State, s.Seconds, strings.ReplaceAll(d, "|", `\|`))
	}
	if v := j.Verification; v != nil {
		fmt.Fprintf(&b, "\nVerification: **%s**, %d tables, %d sequences.\n", okText(v.OK), len(v.Tables), v.Sequences)
		for _, p := range v.Problems {
			fmt.Fprintf(&b, "- %s\n", p)
		}
	}
	return b.String()
}

func okText(ok bool) string {
	if ok {
		return "passed"
	}
	return "FAILED"
}

// VerificationText is a verification for the terminal.
func VerificationText(v *Verification) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Verification %s at %s:\n", okText(v.OK), v.At.Format(time.RFC3339))
	for _, t := range model.SortedKeys(v.Tables) {
		fmt.Fprintf(&b, "  table %-32s %10d rows  checksum %s\n", t, v.Tables[t].Rows, v.Tables[t].Sum)
	}
	fmt.Fprintf(&b, "  %d sequences at or above their columns; extensions: %s\n", v.Sequences, strings.Join(v.Extensions, ", "))
	if v.ReplicaLSN != "" {
		fmt.Fprintf(&b, "  the replica replayed the primary up to %s\n", v.ReplicaLSN)
	}
	if v.Redis != nil {
		sample := "all of them"
		if v.Redis.Sampled {
			sample = "a random sample"
		}
		fmt.Fprintf(&b, "  redis: %d keys; %d compared by type, value and TTL (%s)\n", v.Redis.Keys, v.Redis.Compared, sample)
	}
	for _, c := range model.SortedKeys(v.Qdrant) {
		fmt.Fprintf(&b, "  qdrant %s: %d points\n", c, v.Qdrant[c].Points)
	}
	if len(v.Skipped) > 0 {
		fmt.Fprintf(&b, "  not compared (no connection given): %s\n", strings.Join(v.Skipped, ", "))
	}
	for _, p := range v.Problems {
		fmt.Fprintf(&b, "  DIFFERS: %s\n", p)
	}
	return b.String()
}

// RehearsalText is a rehearsal for the terminal.
func RehearsalText(r *Rehearsal) string {
	s := fmt.Sprintf("Rehearsal %s at %s: restored %s, %d tables, %d rows; RTO %.1f s, RPO %.0f s\n",
		okText(r.OK), r.At.Format(time.RFC3339), r.Backup, r.Tables, r.Rows, r.RTOSeconds, r.RPOSeconds)
	for _, p := range r.Problems {
		s += "  DIFFERS: " + p + "\n"
	}
	return s
}

// RehearsalFile is where a stage's latest rehearsal is recorded.
func RehearsalFile(dir string) string { return filepath.Join(dir, "latest.json") }

// SaveRehearsal records a rehearsal as the stage's latest (the promotion
// gate reads its age and result).
func SaveRehearsal(dir string, r *Rehearsal) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(RehearsalFile(dir), append(b, '\n'))
}

// LoadRehearsal reads a stage's latest rehearsal; nil when none was made.
func LoadRehearsal(dir string) (*Rehearsal, error) {
	b, err := os.ReadFile(RehearsalFile(dir))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r Rehearsal
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %v", RehearsalFile(dir), err)
	}
	return &r, nil
}
