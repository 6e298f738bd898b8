package scaleout

import (
	"log/slog"
	"slices"
	"testing"
	"time"
)

// TestOwnersChoice: reads go to live ready owners by least lag, then to
// owners whose lease lapsed while ready (most recent first); owners not
// ready are never asked, and a lease lapsed for long is forgotten. Live
// counts every renewing owner, ready or not, but the one named.
func TestOwnersChoice(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	o := NewOwners(nil, 3*time.Second, func() time.Time { return now }, slog.Default())
	put := func(id, addr string, ready bool, lag uint64, age time.Duration) {
		o.leases[leaseKey(0, id)] = seenLease{Lease: Lease{Partition: 0, ID: id, Addr: addr, Ready: ready, Lag: lag}, at: now.Add(-age)}
	}
	put("a", "a:1", true, 5, time.Second)
	put("b", "b:1", true, 1, 2*time.Second)
	put("c", "c:1", false, 0, 0)             // replaying
	put("d", "d:1", true, 0, 10*time.Second) // lapsed
	put("e", "e:1", true, 0, 5*time.Second)  // lapsed, more recently
	put("f", "f:1", true, 0, 61*time.Second) // lapsed for over 20 TTLs
	o.leases[leaseKey(1, "a")] = seenLease{Lease: Lease{Partition: 1, ID: "a", Addr: "a:1", Ready: true}, at: now}

	if got, want := o.Ready(0), []string{"b:1", "a:1", "e:1", "d:1"}; !slices.Equal(got, want) {
		t.Errorf("Ready(0) = %v, want %v", got, want)
	}
	if _, ok := o.leases[leaseKey(0, "f")]; ok {
		t.Error("a lease lapsed for 61 s (TTL 3 s) is still kept")
	}
	if got := o.Live(0, "z"); got != 3 {
		t.Errorf("Live(0) = %d, want 3 (a, b and the replaying c)", got)
	}
	if got := o.Live(0, "b"); got != 2 {
		t.Errorf("Live(0) but b = %d, want 2", got)
	}
	if got := o.Ready(2); len(got) != 0 {
		t.Errorf("Ready of a partition without leases = %v", got)
	}
}
