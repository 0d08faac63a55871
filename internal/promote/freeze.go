package promote

import (
	"fmt"
	"time"

	"github.com/nextflow-crm/nfx/internal/model"
)

// inWindow says whether t falls inside w, read on the wall clock of w's
// zone: a window "Fri 18:00-24:00 Europe/Berlin" is that evening whatever
// the offset is that week. A weekly span whose end is before its start
// runs overnight into the next day.
func inWindow(w model.FreezeWindow, t time.Time) (bool, error) {
	loc, err := time.LoadLocation(w.TimeZone)
	if err != nil {
		return false, err
	}
	local := t.In(loc)
	if w.Start != "" {
		start, err1 := time.ParseInLocation("2006-01-02", w.Start, loc)
		end, err2 := time.ParseInLocation("2006-01-02", w.End, loc)
		if err1 != nil || err2 != nil {
			return false, fmt.Errorf("window %s..%s: not dates", w.Start, w.End)
		}
		// The end day is included: up to the next local midnight.
		endNext := time.Date(end.Year(), end.Month(), end.Day()+1, 0, 0, 0, 0, loc)
		return !local.Before(start) && local.Before(endNext), nil
	}
	from, ok1 := model.ClockMinutes(w.From, false)
	to, ok2 := model.ClockMinutes(w.To, true)
	if !ok1 || !ok2 {
		return false, fmt.Errorf("window %s-%s: not times", w.From, w.To)
	}
	day := func(d time.Weekday) bool {
		if len(w.Days) == 0 {
			return true
		}
		for _, name := range w.Days {
			if model.Weekdays[name] == d {
				return true
			}
		}
		return false
	}
	m := local.Hour()*60 + local.Minute()
	if from < to {
		return day(local.Weekday()) && m >= from && m < to, nil
	}
	// Overnight: the evening of a listed day, or the morning after it.
	yesterday := (local.Weekday() + 6) % 7
	return day(local.Weekday()) && m >= from || day(yesterday) && m < to, nil
}

// Freeze is the freeze windows' verdict at t: allowed, and why. A deny
// window that holds t blocks; where allow windows exist, t must be in one.
func Freeze(ws []model.FreezeWindow, t time.Time) (bool, string, error) {
	allows := 0
	inAllow := false
	for _, w := range ws {
		in, err := inWindow(w, t)
		if err != nil {
			return false, "", err
		}
		switch w.Kind {
		case "deny":
			if in {
				return false, fmt.Sprintf("inside the deny window %s (%s)", describe(w), reason(w)), nil
			}
		case "allow":
			allows++
			inAllow = inAllow || in
		}
	}
	if allows > 0 && !inAllow {
		return false, fmt.Sprintf("outside every allow window (%d configured)", allows), nil
	}
	if len(ws) == 0 {
		return true, "no freeze windows configured", nil
	}
	return true, "no deny window holds the time", nil
}

func describe(w model.FreezeWindow) string {
	if w.Start != "" {
		return fmt.Sprintf("%s to %s %s", w.Start, w.End, w.TimeZone)
	}
	days := "every day"
	if len(w.Days) > 0 {
		days = fmt.Sprint(w.Days)
	}
	return fmt.Sprintf("%s %s-%s %s", days, w.From, w.To, w.TimeZone)
}

func reason(w model.FreezeWindow) string {
	if w.Reason != "" {
		return w.Reason
	}
	return "no reason given"
}
