package model

import (
	"regexp"
	"testing"
)

// Every check compiled on first use compiles: a bad pattern fails here,
// not on the one input that reaches it.
func TestLazyChecksCompile(t *testing.T) {
	if len(lazyREs) < 20 {
		t.Fatalf("%d lazy checks; the package has more", len(lazyREs))
	}
	for _, l := range lazyREs {
		if _, err := regexp.Compile(l.expr); err != nil {
			t.Errorf("%s: %v", l.expr, err)
		}
	}
	if !hostnameRE.MatchString("crm.example.com") || hostnameRE.MatchString("-bad-.example.com") {
		t.Error("hostnameRE answers wrongly once compiled")
	}
}
