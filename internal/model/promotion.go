package model

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	// IANA zones even where the machine has no zoneinfo (a slim CI image).
	_ "time/tzdata"
)

// Weekdays are the day names a freeze window takes.
var Weekdays = map[string]time.Weekday{"Mon": time.Monday, "Tue": time.Tuesday, "Wed": time.Wednesday,
	"Thu": time.Thursday, "Fri": time.Friday, "Sat": time.Saturday, "Sun": time.Sunday}

// PromotionGates are the gates whose level nextflow:promotion.levels sets.
var PromotionGates = []string{"pinned", "cost", "capacity", "compliance", "freeze", "soak", "failover"}

// ComplianceFrameworks are the frameworks nfx compliance maps, which
// nextflow:promotion.compliance may require.
var ComplianceFrameworks = []string{"soc2", "iso27001", "gdpr"}

// ClockMinutes parses HH:MM (24:00 allowed as an end) into minutes.
func ClockMinutes(s string, end bool) (int, bool) {
	if end && s == "24:00" {
		return 24 * 60, true
	}
	if !timeRE.MatchString(s) {
		return 0, false
	}
	var h, m int
	fmt.Sscanf(s, "%d:%d", &h, &m)
	return h*60 + m, true
}

// The faults of a URL nfx requests (URLFault).
const (
	URLCredentials = "credentials"
	URLNotHTTP     = "not-http"
)

// URLFault says what is wrong with a URL nfx requests: URLCredentials
// when it carries any (such a URL is never repeated), URLNotHTTP when it
// is not http or https with a host, "" when nothing.
func URLFault(s string) string {
	u, err := url.Parse(s)
	switch {
	case (err == nil && u.User != nil) || strings.Contains(s, "@"):
		return URLCredentials
	case err == nil && CredentialQueryKey(u.Query()) != "":
		return URLCredentials
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(s, " \t\n\r"):
		return URLNotHTTP
	}
	return ""
}

// CheckURL says what is wrong with a URL nfx requests for a check, for a
// config key's diagnostic; "" when nothing.
func CheckURL(s string) string {
	switch URLFault(s) {
	case URLCredentials:
		return "holds credentials (not shown); put the endpoint behind a proxy that needs none"
	case URLNotHTTP:
		// Not repeated either: a malformed URL may still hold a secret.
		return "is not an http(s) URL with a host (not shown), such as https://crm.example.com/healthz"
	}
	return ""
}

func checkVerify(v VerifyConfig, ds *Diagnostics) {
	k := func(f string) string { return FullKey("promotion.verify." + f) }
	if len(v.Health) > 20 {
		ds.Errorf(k("health"), "list at most 20 URLs", "has %d", len(v.Health))
	}
	for i, h := range v.Health {
		if len(h) > 2048 {
			ds.Errorf(k(fmt.Sprintf("health[%d]", i)), "give a URL of at most 2048 characters", "is %d characters", len(h))
		} else if why := CheckURL(h); why != "" {
			ds.Errorf(k(fmt.Sprintf("health[%d]", i)), "give the URL of a health endpoint the CI runner reaches", "%s", why)
		}
	}
	if v.Prometheus != "" {
		if why := CheckURL(v.Prometheus); why != "" {
			ds.Errorf(k("prometheus"), "give the stack's Prometheus base URL, such as http://10.0.0.5:9090", "%s", why)
		}
	}
	if v.Seconds < 0 || v.Seconds > 3600 {
		ds.Errorf(k("seconds"), "set how long the health URLs must keep answering after up, 0 to 3600 seconds", "got %d", v.Seconds)
	}
}

func checkPromotion(c PromotionConfig, ds *Diagnostics) {
	k := func(f string) string { return FullKey("promotion." + f) }
	if c.BudgetVND < 0 {
		ds.Errorf(k("budgetVND"), "set the highest monthly total in VND, or 0 for none", "must be >= 0, got %g", c.BudgetVND)
	}
	if c.MaxIncreasePercent < 0 || c.MaxIncreasePercent > 10000 {
		ds.Errorf(k("maxIncreasePercent"), "set the largest rise in percent, such as 20, or 0 for none", "must be 0 to 10000, got %g", c.MaxIncreasePercent)
	}
	if c.SoakMinutes < 0 || c.SoakMinutes > 60*24*90 {
		ds.Errorf(k("soakMinutes"), "set minutes the release must have run on the source, up to 90 days, or 0", "got %d", c.SoakMinutes)
	}
	if c.FailoverDays < 0 || c.FailoverDays > 366 {
		ds.Errorf(k("failoverDays"), "set how recent the last failover or rehearsal must be, 1 to 366 days, or 0 for none", "got %d", c.FailoverDays)
	}
	if c.Approvals < 0 || c.Approvals > 20 {
		ds.Errorf(k("approvals"), "set how many others must approve, 0 to 20", "got %d", c.Approvals)
	}
	if c.Users < 0 {
		ds.Errorf(k("users"), "set the concurrent users the stack must carry, or 0 for the stage's own", "must be >= 0, got %d", c.Users)
	}
	checkVerify(c.Verify, ds)
	for i, fw := range c.Compliance {
		if !contains(ComplianceFrameworks, fw) {
			ds.Errorf(k(fmt.Sprintf("compliance[%d]", i)), "name one of "+strings.Join(ComplianceFrameworks, ", "), "unknown framework %q", fw)
		}
	}
	for gate, level := range c.Levels {
		if !contains(PromotionGates, gate) {
			ds.Errorf(k("levels."+gate), "name one of "+strings.Join(PromotionGates, ", ")+" (valid and policy always block)", "unknown gate %q", gate)
		} else if level != GateBlocking && level != GateAdvisory {
			ds.Errorf(k("levels."+gate), "use blocking or advisory", "unknown level %q", level)
		}
	}
	for i, w := range c.Freeze {
		key := func(f string) string { return k(fmt.Sprintf("freeze[%d].%s", i, f)) }
		if w.Kind != "deny" && w.Kind != "allow" {
			ds.Errorf(key("kind"), "use deny (no promotion inside) or allow (promotion only inside)", "unknown kind %q", w.Kind)
		}
		if w.TimeZone == "" {
			ds.Errorf(key("timeZone"), "name an IANA zone, such as Asia/Ho_Chi_Minh or UTC", "is required")
		} else if _, err := time.LoadLocation(w.TimeZone); err != nil || strings.ContainsAny(w.TimeZone, " \t\n") {
			ds.Errorf(key("timeZone"), "name an IANA zone, such as Asia/Ho_Chi_Minh or UTC", "unknown time zone %q", w.TimeZone)
		}
		dated := w.Start != "" || w.End != ""
		weekly := w.From != "" || w.To != "" || len(w.Days) > 0
		switch {
		case dated && weekly:
			ds.Errorf(key("start"), "give either start and end dates, or days with from and to", "a window is a date range or a weekly span, not both")
		case dated:
			s, err1 := time.Parse("2006-01-02", w.Start)
			e, err2 := time.Parse("2006-01-02", w.End)
			if err1 != nil || err2 != nil {
				ds.Errorf(key("start"), "write the dates as YYYY-MM-DD", "start %q and end %q must both be dates", w.Start, w.End)
			} else if e.Before(s) {
				ds.Errorf(key("end"), "end on or after the start", "%s is before %s", w.End, w.Start)
			}
		case weekly:
			for _, d := range w.Days {
				if _, ok := Weekdays[d]; !ok {
					ds.Errorf(key("days"), "use Mon, Tue, Wed, Thu, Fri, Sat or Sun", "unknown day %q", d)
				}
			}
			from, ok1 := ClockMinutes(w.From, false)
			to, ok2 := ClockMinutes(w.To, true)
			if !ok1 || !ok2 {
				ds.Errorf(key("from"), "write the times as HH:MM, such as 18:00 and 24:00", "from %q and to %q must both be times of day", w.From, w.To)
			} else if from == to {
				ds.Errorf(key("to"), "end the window after it starts (an overnight window ends the next day)", "from and to are both %s", w.From)
			}
		default:
			ds.Errorf(key("days"), "give days with from and to, or start and end dates", "the window covers no time")
		}
	}
}
