package model

import (
	"testing"

	_ "github.com/nextflow-crm/nfx/internal/testutil"
)

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]Bytes{
		"4GiB": 4 * GiB, "4g": 4 * GiB, "512MiB": 512 * MiB, "512m": 512 * MiB, "1.5GiB": GiB + 512*MiB, "1024": 1024, " 2 GB ": 2 * GiB,
	} {
		got, err := ParseBytes(in)
		if err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %v, %v; want %v", in, got, err, want)
		}
		// String writes a form that parses back to the same value.
		if back, err := ParseBytes(got.String()); err != nil || back != got {
			t.Errorf("round trip of %v via %q gave %v, %v", got, got.String(), back, err)
		}
	}
	for _, bad := range []string{"", "lots", "-1GiB", "GiB"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) accepted", bad)
		}
	}
}
