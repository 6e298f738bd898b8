package telemetry

import (
	"log/slog"
	"sync"
	"time"
)

// Throttle logs each warning at most once per interval, so that a fault
// that repeats for every packet or request (a full queue, say) is said
// without flooding the log. Its methods are safe for concurrent use.
type Throttle struct {
	logger   *slog.Logger
	clock    Clock
	interval time.Duration

	mu   sync.Mutex
	last map[string]time.Time // by message
}

// NewThrottle returns a throttle logging to tel's logger, reading tel's
// clock.
func NewThrottle(tel Settings, interval time.Duration) *Throttle {
	tel = tel.Complete()
	return &Throttle{logger: tel.Logger, clock: tel.Clock, interval: interval, last: map[string]time.Time{}}
}

// Warn logs msg with args at warning level unless the same msg was logged
// less than the interval ago.
func (t *Throttle) Warn(msg string, args ...any) {
	now := t.clock.Now()
	t.mu.Lock()
	if last, ok := t.last[msg]; ok && now.Sub(last) < t.interval {
		t.mu.Unlock()
		return
	}
	t.last[msg] = now
	t.mu.Unlock()
	t.logger.Warn(msg, args...)
}
