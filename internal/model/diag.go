package model

import (
	"fmt"
	"sort"
	"strings"
)

// Severity says whether a Diagnostic stops a command (Error) or is advice (Warning).
type Severity int

const (
	// Error diagnostics make loading fail.
	Error Severity = iota
	// Warning diagnostics are reported but let loading succeed, unless strict.
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one problem found in the configuration.
type Diagnostic struct {
	Severity Severity
	// Path is the full config key path, such as "nextflow:crm.replicas".
	Path string
	// Problem says what is wrong, including the bad value where it is not a secret.
	Problem string
	// Fix says how to correct it.
	Fix string
}

func (d Diagnostic) String() string {
	s := fmt.Sprintf("%s: %s: %s", d.Severity, d.Path, d.Problem)
	if d.Fix != "" {
		s += "; fix: " + d.Fix
	}
	return s
}

// Diagnostics is an ordered list of problems. As an error it lists them all.
type Diagnostics []Diagnostic

// Errorf appends an error diagnostic.
func (ds *Diagnostics) Errorf(path, fix, format string, args ...any) {
	*ds = append(*ds, Diagnostic{Severity: Error, Path: path, Problem: fmt.Sprintf(format, args...), Fix: fix})
}

// Warnf appends a warning diagnostic.
func (ds *Diagnostics) Warnf(path, fix, format string, args ...any) {
	*ds = append(*ds, Diagnostic{Severity: Warning, Path: path, Problem: fmt.Sprintf(format, args...), Fix: fix})
}

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Errors returns only the error diagnostics.
func (ds Diagnostics) Errors() Diagnostics { return ds.only(Error) }

// Warnings returns only the warning diagnostics.
func (ds Diagnostics) Warnings() Diagnostics { return ds.only(Warning) }

func (ds Diagnostics) only(sev Severity) Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == sev {
			out = append(out, d)
		}
	}
	return out
}

// Sorted returns the diagnostics ordered by path, errors before warnings,
// keeping the phase order for equal paths.
func (ds Diagnostics) Sorted() Diagnostics {
	out := append(Diagnostics(nil), ds...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Severity < out[j].Severity
	})
	return out
}

// Error lists every diagnostic, one a line.
func (ds Diagnostics) Error() string {
	lines := make([]string, 0, len(ds))
	for _, d := range ds.Sorted() {
		lines = append(lines, d.String())
	}
	return strings.Join(lines, "\n")
}

// ConfigError is returned when the stack configuration is invalid; it holds
// every problem found.
type ConfigError struct {
	Diagnostics Diagnostics
	// Stage and File, when known, say which stack the configuration is of.
	Stage Stage
	File  string
}

// Of names the stack, for a command that reads several (diff, report).
func (e *ConfigError) Of() string {
	switch {
	case e.File != "" && e.Stage != "":
		return fmt.Sprintf(" of stage %s (%s)", e.Stage, e.File)
	case e.Stage != "":
		return " of stage " + string(e.Stage)
	}
	return ""
}

func (e *ConfigError) Error() string {
	return "invalid configuration" + e.Of() + ":\n" + e.Diagnostics.Errors().Error()
}
