package badger

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/storagetest"
)

// kindTrace makes n spans of trace seed in service svc starting at start,
// the first a root lasting rootDur; errAt, if in [0, n), has status error.
func kindTrace(seed byte, svc string, start time.Time, n int, rootDur time.Duration, errAt int, firstSpan byte) []*model.Span {
	res := &model.Resource{Attributes: []model.KeyValue{{Key: "service.name", Value: model.StringValue(svc)}}}
	scope := &model.Scope{Name: "test"}
	spans := make([]*model.Span, n)
	for i := range spans {
		sp := &model.Span{Resource: res, Scope: scope, Name: fmt.Sprintf("op-%d", i%2)}
		sp.TraceID[0], sp.TraceID[15] = 0xee, seed
		sp.SpanID[0], sp.SpanID[7] = firstSpan+byte(i), 1
		sp.StartTime = uint64(start.UnixNano()) + uint64(i)*1000
		sp.EndTime = sp.StartTime + 5000
		if i == 0 && firstSpan == 0 {
			sp.EndTime = sp.StartTime + uint64(rootDur)
		} else {
			sp.ParentSpanID[7], sp.ParentSpanID[0] = 1, 0
		}
		if i == errAt {
			sp.Status = model.Status{Code: model.StatusError, Message: "boom"}
		}
		sp.Attributes = []model.KeyValue{{Key: "k", Value: model.StringValue(fmt.Sprintf("t%d", seed))}}
		spans[i] = sp
	}
	return spans
}

func TestRetentionByKind(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0) // a multiple of 60 s: bucket B0 starts here
	clock := newFakeClock(t0)
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Dir, cfg.NoSync = dir, true
	cfg.Retention = 12 * time.Minute // one-minute buckets
	cfg.RetentionErrors = time.Hour
	cfg.RetentionSlow = 2 * time.Hour
	cfg.SlowThreshold = time.Second
	cfg.MaintenanceInterval = time.Minute // upkeep is called by hand below
	s, err := New(cfg, telemetry.Settings{Clock: clock, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Start(t, s)
	ctx := context.Background()
	write := func(spans []*model.Span) {
		t.Helper()
		if err := s.WriteSpans(ctx, spans); err != nil {
			t.Fatal(err)
		}
	}
	id := func(seed byte) model.TraceID { return kindTrace(seed, "", t0, 1, 0, -1, 0)[0].TraceID }
	// In bucket B0: a plain trace, an error trace, a slow one, and the
	// first halves of two traces whose second halves come a minute later
	// (bucket B1): one of them then shows an error.
	write(kindTrace(1, "plain", t0, 4, time.Millisecond, -1, 0))
	write(kindTrace(2, "errors", t0, 4, time.Millisecond, 2, 0))
	write(kindTrace(3, "slow", t0, 4, 5*time.Second, -1, 0))
	write(kindTrace(4, "late-error", t0, 4, time.Millisecond, -1, 0))
	write(kindTrace(5, "plain-split", t0, 4, time.Millisecond, -1, 0))
	clock.Add(time.Minute)
	write(kindTrace(4, "late-error", clock.Now(), 3, 0, 1, 10))
	write(kindTrace(5, "plain-split", clock.Now(), 3, 0, -1, 10))

	spansOf := func(seed byte) int {
		t.Helper()
		got, err := s.GetTrace(ctx, id(seed), storage.TimeHint{})
		if errors.Is(err, storage.ErrTraceNotFound) {
			return 0
		}
		if err != nil {
			t.Fatalf("trace %d: %v", seed, err)
		}
		return len(got)
	}
	found := func(svc string) int {
		t.Helper()
		refs, err := s.FindTraceIDs(ctx, storage.Query{Service: svc, StartMin: uint64(t0.Add(-time.Minute).UnixNano()),
			StartMax: uint64(t0.Add(2 * time.Minute).UnixNano()), Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return len(refs)
	}
	check := func(when string, want map[byte]int) {
		t.Helper()
		for seed, n := range want {
			if got := spansOf(seed); got != n {
				t.Errorf("%s: trace %d has %d spans, want %d", when, seed, got, n)
			}
		}
	}
	upkeep := func() {
		t.Helper()
		if err := s.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// B0 expires at t0+13m. Upkeep just before copies out the kept
	// traces; just after, B0 is dropped.
	clock.ns.Store(t0.Add(13*time.Minute - 30*time.Second).UnixNano())
	upkeep()
	// A late span of the error trace, filed in B0 (the oldest live
	// bucket) after its kept traces were copied out, is copied at the drop.
	write(kindTrace(2, "errors", t0, 1, 0, -1, 20))
	clock.ns.Store(t0.Add(13*time.Minute + 30*time.Second).UnixNano())
	check("B0 just expired, before upkeep", map[byte]int{1: 0, 2: 4, 3: 4, 4: 7, 5: 3})
	upkeep()
	check("B0 dropped", map[byte]int{1: 0, 2: 5, 3: 4, 4: 7, 5: 3})
	for svc, want := range map[string]int{"plain": 0, "errors": 1, "slow": 1, "late-error": 1} {
		if got := found(svc); got != want {
			t.Errorf("B0 dropped: search for %s over its window: %d traces, want %d", svc, got, want)
		}
	}
	// Kept traces are found by their attributes too, pending and sealed.
	for _, seal := range []bool{false, true} {
		if seal {
			if err := s.sealIndex(ctx, true); err != nil {
				t.Fatal(err)
			}
			if s.sealedBlocks() == 0 {
				t.Fatal("no block sealed")
			}
			checkPendingCount(t, s)
		}
		for seed, want := range map[byte]int{1: 0, 2: 1, 3: 1, 4: 1} {
			refs, err := s.FindTraceIDs(ctx, storage.Query{StartMin: uint64(t0.Add(-time.Minute).UnixNano()),
				StartMax: uint64(t0.Add(2 * time.Minute).UnixNano()), Limit: 10, Kind: storage.AnyKind,
				Attributes: []storage.Attribute{{Key: "k", Value: fmt.Sprintf("t%d", seed)}}})
			if err != nil {
				t.Fatal(err)
			}
			if len(refs) != want || want == 1 && refs[0].TraceID != id(seed) {
				t.Errorf("B0 dropped, sealed %v: search for k=t%d: %v, want %d trace", seal, seed, refs, want)
			}
		}
	}

	// B1 expires: the plain split trace is gone, the late error stays whole.
	clock.ns.Store(t0.Add(15 * time.Minute).UnixNano())
	upkeep()
	check("B1 dropped", map[byte]int{1: 0, 2: 5, 3: 4, 4: 7, 5: 0})

	// Restarted, the kept buckets keep their class.
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	s, err = New(cfg, telemetry.Settings{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Start(t, s)
	check("after a restart", map[byte]int{1: 0, 2: 5, 3: 4, 4: 7, 5: 0})

	// Past an hour the error traces go, whole; slow ones stay two hours.
	// The late error's spans in B1 were copied, with the rest of it, into
	// B1's kept bucket, which keeps it whole a minute longer.
	clock.ns.Store(t0.Add(time.Hour + 2*time.Minute).UnixNano())
	check("past the error retention", map[byte]int{2: 0, 3: 4, 4: 7})
	upkeep()
	check("past the error retention, upkept", map[byte]int{2: 0, 3: 4, 4: 7})
	if svcs, err := s.Services(ctx); err != nil || len(svcs) != 2 || svcs[0] != "late-error" || svcs[1] != "slow" {
		t.Errorf("services past the error retention: %v, %v; want [late-error slow]", svcs, err)
	}
	clock.ns.Store(t0.Add(time.Hour + 3*time.Minute).UnixNano())
	check("past the error retention of B1", map[byte]int{3: 4, 4: 0})
	clock.ns.Store(t0.Add(2*time.Hour + 2*time.Minute).UnixNano())
	upkeep()
	check("past the slow retention", map[byte]int{3: 0})
	s.mu.RLock()
	left := len(s.buckets)
	s.mu.RUnlock()
	if left != 0 {
		t.Errorf("%d buckets left on disk past every retention", left)
	}
	checkPendingCount(t, s)
}

// TestConformanceRetention runs the suite's retention-by-kind case.
func TestConformanceRetention(t *testing.T) {
	storagetest.RunRetention(t, func(t *testing.T, r storagetest.Retention, clock *storagetest.Clock) storagetest.RetentionStore {
		cfg := DefaultConfig()
		cfg.Dir, cfg.NoSync = t.TempDir(), true
		cfg.Retention, cfg.RetentionErrors, cfg.RetentionSlow, cfg.SlowThreshold = r.Default, r.Errors, r.Slow, r.SlowThreshold
		cfg.MaintenanceInterval = time.Hour // upkeep is the suite's
		s, err := New(cfg, telemetry.Settings{Clock: clock, Registerer: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		return storagetest.RetentionStore{Store: s, Upkeep: s.Maintain}
	})
}
