package testutil

import (
	"net"
	"strconv"
	"testing"
)

// The ports a test holds are distinct, outside the kernel's ephemeral range
// (where an outgoing connection could take one before its daemon binds it),
// and free to bind.
func TestFreePort(t *testing.T) {
	low := ephemeralLow()
	seen := map[int]bool{}
	for range 50 {
		p := FreePort(t)
		if p >= low || p < 10000 {
			t.Fatalf("port %d is outside 10000..%d", p, low-1)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice to one test", p)
		}
		seen[p] = true
	}
	for p := range seen {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d cannot be bound: %v", p, err)
		}
		l.Close()
	}
}
