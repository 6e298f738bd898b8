package badger

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/internal/bytesize"
)

// Reasons a bucket is dropped, the reason label of
// scry_store_buckets_dropped_total.
const (
	reasonAge  = "age"  // past Retention
	reasonSize = "size" // the folder was over RetentionSize
)

// metrics are the store's own counters.
type metrics struct {
	dropped *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scry_store_buckets_dropped_total",
			Help: "Time buckets of spans deleted from the store, by reason: age (past --retention) or size (the data folder was over --retention-size).",
		}, []string{"reason"}),
	}
	// Both series exist from the start, so a rate over them is defined.
	m.dropped.WithLabelValues(reasonAge)
	m.dropped.WithLabelValues(reasonSize)
	if err := reg.Register(m.dropped); err != nil {
		return nil, fmt.Errorf("cannot register store metrics: %w", err)
	}
	return m, nil
}

// enforceSize drops the oldest buckets while the data folder is over
// RetentionSize (see enforceSizeLocked).
func (s *Store) enforceSize(ctx context.Context) error {
	s.upkeepMu.Lock()
	defer s.upkeepMu.Unlock()
	return s.enforceSizeLocked(ctx)
}

// enforceSizeLocked drops the oldest bucket, one at a time, while the data
// folder is over RetentionSize, never the newest bucket or the current one
// (that of now). Before each drop it raises the size floor to the end of the
// bucket, so reads skip it at once and writes of spans older than that go to
// the oldest bucket kept, as for spans past Retention. DropPrefix rewrites
// or deletes the table files that hold the bucket before it returns, so the
// size measured next already shows what the drop freed. The caller holds
// upkeepMu.
func (s *Store) enforceSizeLocked(ctx context.Context) error {
	limit := s.cfg.RetentionSize
	if limit <= 0 {
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		size := s.DiskSize()
		if size <= limit {
			s.sizeStuck = false
			return nil
		}
		b, w, ok := s.oldestDroppable()
		if !ok {
			if !s.sizeStuck {
				s.sizeStuck = true
				s.log.Warn("the store is over its retention size but holds only the current bucket of spans; "+
					"it is dropped once it is no longer current: raise --retention-size or shorten --retention "+
					"(a bucket is retention/12 wide)",
					"disk_bytes", size, "retention_size", bytesize.Format(limit))
			}
			return nil
		}
		floor := uint64(b) + uint64(w)
		if floor > s.sizeFloor.Load() {
			s.sizeFloor.Store(floor)
		}
		if err := s.dropBucket(b, reasonSize, "disk_bytes", size, "retention_size", bytesize.Format(limit)); err != nil {
			return err
		}
	}
}

// oldestDroppable returns the oldest bucket that the size limit may drop: not
// the newest one and not the one that now falls in.
func (s *Store) oldestDroppable() (bucket, width uint32, ok bool) {
	now := uint64(s.clock.Now().Unix())
	current := now - now%uint64(s.width)
	s.mu.RLock()
	defer s.mu.RUnlock()
	var newest uint32
	for b := range s.buckets {
		newest = max(newest, b)
	}
	for b, w := range s.buckets {
		if b == newest || uint64(b) >= current {
			continue
		}
		if !ok || b < bucket {
			bucket, width, ok = b, w, true
		}
	}
	return bucket, width, ok
}
