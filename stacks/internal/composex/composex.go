// Package composex holds the compose-go building blocks the laptop and
// server renderers share: escaping shell text for Compose, health checks
// and durations from the neutral model.
package composex

import (
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/nextflow-crm/nfx/internal/model"
)

// Escape protects a literal "$" from Compose's variable interpolation.
func Escape(s string) string { return strings.ReplaceAll(s, "$", "$$") }

// EscapeAll escapes every argument of a command.
func EscapeAll(in []string) types.ShellCommand {
	if len(in) == 0 {
		return nil
	}
	out := make(types.ShellCommand, len(in))
	for i, s := range in {
		out[i] = Escape(s)
	}
	return out
}

// Duration converts a duration for compose-go.
func Duration(d time.Duration) *types.Duration { x := types.Duration(d); return &x }

// HealthCheck turns the model's health check into Compose's: a shell
// command (CMD-SHELL), or an exec form (CMD) for images without a shell.
func HealthCheck(h model.Health) *types.HealthCheckConfig {
	test := types.HealthCheckTest{"CMD-SHELL", Escape(h.Shell)}
	if len(h.Exec) > 0 {
		test = append(types.HealthCheckTest{"CMD"}, EscapeAll(h.Exec)...)
	}
	retries := uint64(h.Retries)
	return &types.HealthCheckConfig{
		Test:        test,
		Interval:    Duration(h.Interval),
		Timeout:     Duration(h.Timeout),
		Retries:     &retries,
		StartPeriod: Duration(h.StartPeriod),
	}
}

// Environment builds a service's environment: the plain variables, then
// the `*_FILE` variables that point at its secrets.
func Environment(env map[string]string, secrets []model.SecretUse) types.MappingWithEquals {
	out := types.MappingWithEquals{}
	for k, v := range env {
		v := Escape(v)
		out[k] = &v
	}
	for _, sec := range secrets {
		if sec.FileEnv != "" {
			v := sec.Path()
			out[sec.FileEnv] = &v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
