package limits

import (
	"math"
	"sync"
	"time"
)

// Rate keeps one token bucket of bytes per tenant: a tenant may send its
// burst at once and its rate per second sustained. Take is safe for
// concurrent use; tenants do not wait for each other beyond one short lock.
type Rate struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64 // bytes that may be sent now
	at     time.Time
}

// NewRate returns a Rate with every bucket full.
func NewRate() *Rate { return &Rate{buckets: map[string]*bucket{}} }

// Take takes n bytes from tenant's bucket under l at now. If there are not
// enough it takes nothing and says how long until there would be (at least
// a second, as Retry-After counts). A request larger than the burst can
// never pass: it is let through when the bucket is full, leaving it in
// debt, so that a tenant with a small burst is slowed, not shut out.
func (r *Rate) Take(tenant string, l Limits, n int, now time.Time) (ok bool, retryAfter time.Duration) {
	if l.IngestionRateBytes <= 0 {
		return true, 0
	}
	rate, burst := float64(l.IngestionRateBytes), float64(max(l.IngestionBurstBytes, l.IngestionRateBytes))
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.buckets[tenant]
	if b == nil {
		b = &bucket{tokens: burst, at: now}
		r.buckets[tenant] = b
	}
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.tokens = math.Min(burst, b.tokens+dt*rate)
		b.at = now
	}
	need := float64(n)
	if need <= b.tokens || (need > burst && b.tokens >= burst) {
		b.tokens -= need
		return true, 0
	}
	wait := time.Duration((math.Min(need, burst) - b.tokens) / rate * float64(time.Second))
	return false, max(wait, time.Second)
}
