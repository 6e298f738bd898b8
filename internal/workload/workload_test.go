package workload

import (
	"testing"
	"time"
)

// TestOneService: a workload of one service puts every span in it (it
// divided by zero before).
func TestOneService(t *testing.T) {
	for _, n := range []int{1, 2, 8} {
		g := New(Config{Services: n, SpansPerTrace: 10})
		seen := map[string]bool{}
		for _, sp := range g.Trace(time.Now()) {
			seen[sp.ServiceName()] = true
		}
		if want := min(n, 10); len(seen) != want {
			t.Errorf("%d services: spans in %d services %v, want %d", n, len(seen), seen, want)
		}
	}
}
