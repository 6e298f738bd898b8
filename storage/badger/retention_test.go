package badger

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/storage"
)

// fakeClock is a telemetry.Clock that tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Add(d time.Duration) { c.ns.Add(int64(d)) }
func droppedBuckets(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	return gathered(t, reg, "scry_store_buckets_dropped_total")
}

// checkPendingCount fails t unless the store's count of pending chunks (the
// scry_store_index_pending_chunks gauge) is the number of pending markers.
func checkPendingCount(t *testing.T, s *Store) {
	t.Helper()
	n, err := s.countKeys([]byte{prefixPending})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.idx.pending.Load(); got != n {
		t.Errorf("pending chunks counted: %d, on disk: %d", got, n)
	}
}

// gathered returns the values of metric name in reg by its first label's
// value ("" without labels); a histogram's value is its count.
func gathered(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			label := ""
			if len(m.GetLabel()) > 0 {
				label = m.GetLabel()[0].GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				out[label] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[label] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[label] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// TestRetentionSizeUnderLoad writes a bucket's worth of spans per round of
// fake time, with the background size check running, and checks that the
// data folder stays near --retention-size: at most the limit plus one
// bucket's worth (the check drops whole buckets, and the current one never)
// plus Badger's fixed files (MANIFEST, DISCARD, KEYREGISTRY, LOCK, the empty
// value log and write-ahead log: 24 KiB in an empty store, here given
// 256 KiB). The newest spans stay readable and searchable; the oldest are
// gone.
func TestRetentionSizeUnderLoad(t *testing.T) {
	const (
		rounds          = 12
		batchesPerRound = 8
		spansPerBatch   = 1000
		limit           = 2 << 20
		overhead        = 256 << 10
	)
	clock := newFakeClock(time.Unix(1_800_000_000, 0))
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.Dir, cfg.NoSync = t.TempDir(), true
	cfg.Retention = 4 * time.Hour // 20-minute buckets: nothing expires by age here
	cfg.RetentionSize = limit
	cfg.SizeCheckInterval = 10 * time.Millisecond
	cfg.MaintenanceInterval = time.Hour
	s, err := New(cfg, telemetry.Settings{Clock: clock, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Start(t, s)
	ctx := context.Background()
	width := time.Duration(s.width) * time.Second

	var bucketBytes, peak int64
	var series []string
	var first, last storage.TraceRef
	for r := range rounds {
		svc := fmt.Sprintf("round-%d", r)
		before := s.DiskSize()
		for b := range batchesPerRound {
			spans := testSpans(spansPerBatch, svc, clock.Now(), byte(r*batchesPerRound+b+1))
			if err := s.WriteSpans(ctx, spans); err != nil {
				t.Fatal(err)
			}
			if r == 0 && b == 0 {
				first.TraceID = spans[0].TraceID
			}
			last.TraceID = spans[len(spans)-1].TraceID
			size := s.DiskSize()
			peak = max(peak, size)
			if r == 0 {
				bucketBytes = size - before
			}
		}
		series = append(series, fmt.Sprintf("%dKiB", s.DiskSize()>>10))
		if bound := int64(limit + bucketBytes + overhead); peak > bound {
			t.Fatalf("round %d: the folder reached %d bytes, over the limit %d + one bucket %d + %d (sizes by round: %v)",
				r, peak, limit, bucketBytes, overhead, series)
		}
		clock.Add(width)
	}
	testkit.Eventually(t, "the folder back under its retention size", func() bool { return s.DiskSize() <= limit+overhead })
	t.Logf("limit %d KiB, one bucket %d KiB, peak %d KiB; size at the end of each round: %v",
		limit>>10, bucketBytes>>10, peak>>10, series)
	if peak < limit/2 {
		t.Fatalf("the folder peaked at %d bytes: the test never came near the %d-byte limit", peak, limit)
	}

	if got, err := s.GetTrace(ctx, last.TraceID, storage.TimeHint{}); err != nil || len(got) != 10 {
		t.Fatalf("newest trace: %d spans, %v", len(got), err)
	}
	newest := fmt.Sprintf("round-%d", rounds-1)
	refs, err := s.FindTraceIDs(ctx, storage.Query{Service: newest, Limit: 10000})
	if err != nil || len(refs) != batchesPerRound*spansPerBatch/10 {
		t.Fatalf("search for the newest round: %d traces, %v; want %d", len(refs), err, batchesPerRound*spansPerBatch/10)
	}
	if _, err := s.GetTrace(ctx, first.TraceID, storage.TimeHint{}); !errors.Is(err, storage.ErrTraceNotFound) {
		t.Fatalf("oldest trace: got %v, want ErrTraceNotFound", err)
	}
	if refs, err := s.FindTraceIDs(ctx, storage.Query{Service: "round-0", Limit: 10}); err != nil || len(refs) != 0 {
		t.Fatalf("search for the oldest round: %d traces, %v; want none", len(refs), err)
	}
	checkPendingCount(t, s)
	svcs, err := s.Services(ctx)
	if err != nil || !contains(svcs, newest) || contains(svcs, "round-0") {
		t.Fatalf("services after size retention: %v, %v", svcs, err)
	}
	if d := droppedBuckets(t, reg); d[reasonSize] < 1 || d[reasonAge] != 0 {
		t.Fatalf("buckets dropped by reason: %v, want some for size and none for age", d)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestRetentionSizeKeepsCurrentBucket checks that a limit smaller than the
// current bucket drops older buckets but never the current one, and that a
// late span older than what was dropped lands in the oldest bucket kept.
func TestRetentionSizeKeepsCurrentBucket(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	clock := newFakeClock(start)
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.Dir, cfg.NoSync = t.TempDir(), true
	cfg.Retention = 12 * time.Minute // one-minute buckets
	cfg.RetentionSize = 1
	cfg.SizeCheckInterval = time.Hour // Maintain below does the check
	cfg.MaintenanceInterval = time.Hour
	s, err := New(cfg, telemetry.Settings{Clock: clock, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Start(t, s)
	ctx := context.Background()
	old := testSpans(100, "old", clock.Now(), 1)
	if err := s.WriteSpans(ctx, old); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute)
	current := testSpans(100, "current", clock.Now(), 2)
	if err := s.WriteSpans(ctx, current); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GetTrace(ctx, old[0].TraceID, storage.TimeHint{}); !errors.Is(err, storage.ErrTraceNotFound) {
		t.Fatalf("older bucket: got %v, want ErrTraceNotFound", err)
	}
	if got, err := s.GetTrace(ctx, current[0].TraceID, storage.TimeHint{}); err != nil || len(got) != 10 {
		t.Fatalf("current bucket: %d spans, %v", len(got), err)
	}
	late := testSpans(10, "late", start, 3)
	if err := s.WriteSpans(ctx, late); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetTrace(ctx, late[0].TraceID, storage.TimeHint{}); err != nil || len(got) != 10 {
		t.Fatalf("a late span older than the size floor: %d spans, %v", len(got), err)
	}
	if d := droppedBuckets(t, reg); d[reasonSize] != 1 {
		t.Fatalf("buckets dropped by reason: %v, want one for size", d)
	}
	if n := len(s.buckets); n != 1 {
		t.Fatalf("%d buckets after a late span, want the current one", n)
	}

	// The floor outlives a restart: a late span still goes to the oldest
	// bucket kept instead of making one that was dropped again.
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err = New(cfg, telemetry.Settings{Clock: clock}); err != nil {
		t.Fatal(err)
	}
	testkit.Start(t, s)
	late = testSpans(10, "late", start, 4)
	if err := s.WriteSpans(ctx, late); err != nil {
		t.Fatal(err)
	}
	if n := len(s.buckets); n != 1 {
		t.Fatalf("%d buckets after a late span written after a restart, want the current one", n)
	}
	if got, err := s.GetTrace(ctx, late[0].TraceID, storage.TimeHint{}); err != nil || len(got) != 10 {
		t.Fatalf("a late span older than the size floor, after a restart: %d spans, %v", len(got), err)
	}
}
