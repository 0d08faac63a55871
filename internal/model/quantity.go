package model

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Bytes is an amount of memory or storage. In configuration it is written
// with a binary unit ("512MiB", "4GiB"); Docker's short units ("512m", "4g")
// are accepted too.
type Bytes int64

// Common sizes.
const (
	KiB Bytes = 1 << 10
	MiB Bytes = 1 << 20
	GiB Bytes = 1 << 30
)

var byteUnits = []struct {
	suffix string
	mult   Bytes
}{
	{"kib", 1 << 10}, {"mib", MiB}, {"gib", GiB}, {"tib", 1 << 40},
	{"ki", 1 << 10}, {"mi", MiB}, {"gi", GiB}, {"ti", 1 << 40},
	{"kb", 1 << 10}, {"mb", MiB}, {"gb", GiB}, {"tb", 1 << 40},
	{"k", 1 << 10}, {"m", MiB}, {"g", GiB}, {"t", 1 << 40},
	{"b", 1},
}

// ParseBytes reads a memory amount such as "4GiB", "512m" or "1073741824".
func ParseBytes(s string) (Bytes, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return 0, fmt.Errorf("empty size")
	}
	mult := Bytes(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t = strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			mult = u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a size such as 512MiB or 4GiB", shorten(s))
	}
	if v := f * float64(mult); v > float64(MaxBytes) {
		return 0, fmt.Errorf("%q is more than the %s nfx takes", shorten(s), MaxBytes)
	}
	return Bytes(f * float64(mult)), nil
}

// MaxBytes is the largest size nfx takes: 1 PiB, far past any machine,
// far below an int64's overflow.
const MaxBytes Bytes = 1 << 50

func shorten(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// GiB returns the amount in GiB as a float, for messages and arithmetic.
func (b Bytes) GiB() float64 { return float64(b) / float64(GiB) }

// DecimalGB returns the amount in GB of 10^9 bytes, the unit Ollama's
// library and the GPU makers' bandwidths are written in.
func (b Bytes) DecimalGB() float64 { return float64(b) / 1e9 }

// String writes the amount in the largest binary unit that divides it, so
// that it parses back to the same value.
func (b Bytes) String() string {
	switch {
	case b != 0 && b%(1<<40) == 0:
		return fmt.Sprintf("%dTiB", b/(1<<40))
	case b != 0 && b%GiB == 0:
		return fmt.Sprintf("%dGiB", b/GiB)
	case b != 0 && b%MiB == 0:
		return fmt.Sprintf("%dMiB", b/MiB)
	default:
		return strconv.FormatInt(int64(b), 10)
	}
}

// UnmarshalJSON accepts a size string or a plain number of bytes.
func (b *Bytes) UnmarshalJSON(data []byte) error {
	s := strings.TrimSpace(string(data))
	if strings.HasPrefix(s, `"`) {
		unq, err := strconv.Unquote(s)
		if err != nil {
			return err
		}
		s = unq
	}
	v, err := ParseBytes(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalJSON writes the size as a string with its unit.
func (b Bytes) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(b.String())), nil }

// Duration is a length of time, written in configuration as Go writes
// durations: "30s", "2m", "1h30m".
type Duration time.Duration

// UnmarshalJSON accepts a duration string.
func (d *Duration) UnmarshalJSON(data []byte) error {
	s, err := strconv.Unquote(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("a duration is a string such as \"30s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 30s or 2m", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(time.Duration(d).String())), nil
}

func (d Duration) String() string { return time.Duration(d).String() }
