package limits

import (
	"context"
	"fmt"
	"time"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/storage"
)

// Reader is a storage.Reader whose searches keep to their tenant's
// MaxSearchLimit and MaxSearchLookback: a search asking for more traces, or
// further back, is narrowed to the limit, and says so with a warning
// (storage.Warn, which the query API shows beside the answer). Other calls
// pass through.
type Reader struct {
	storage.Reader
	ov    *Overrides
	clock telemetry.Clock
}

// NewReader returns r under ov's search limits; with a nil ov, r itself.
func NewReader(r storage.Reader, ov *Overrides, clock telemetry.Clock) storage.Reader {
	if ov == nil {
		return r
	}
	if clock == nil {
		clock = telemetry.SystemClock{}
	}
	return &Reader{Reader: r, ov: ov, clock: clock}
}

// FindTraceIDs implements storage.Reader.
func (r *Reader) FindTraceIDs(ctx context.Context, q storage.Query) ([]storage.TraceRef, error) {
	l := r.ov.For(storage.TenantFrom(ctx))
	if n := l.MaxSearchLimit; n > 0 && q.Limit > n {
		storage.Warn(ctx, fmt.Sprintf("search limit lowered from %d to %d, the most this tenant may ask for", q.Limit, n))
		q.Limit = n
	}
	if lb := l.MaxSearchLookback; lb > 0 {
		floor := uint64(r.clock.Now().Add(-lb).UnixNano())
		if q.StartMin < floor {
			storage.Warn(ctx, fmt.Sprintf("search window starts %s back at most for this tenant; traces before %s are not searched",
				lb, time.Unix(0, int64(floor)).UTC().Format(time.RFC3339)))
			q.StartMin = floor
			if q.StartMax != 0 && q.StartMax < floor {
				return nil, nil
			}
		}
	}
	return r.Reader.FindTraceIDs(ctx, q)
}
