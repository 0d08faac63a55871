package testutil

import (
	"testing"
	"time"
)

// Eventually calls f every interval until it holds, for up to d, then
// fails the test with what did not happen and f's last word.
func Eventually(t testing.TB, d, every time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, last := f()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last: %s", what, d, last)
		}
		time.Sleep(every)
	}
}
