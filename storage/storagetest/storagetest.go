package storagetest

import (
	"context"
	"testing"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// Run runs the conformance suite against a backend. open must return a fresh,
// empty store each time it is called, constructed but not started; the suite
// starts it and shuts down every store it opens.
// Subtests are named after the behaviour they check, so
// `go test -run 'Conformance/Query/'` runs one part.
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	h := &harness{open: open, fx: newFixtures()}

	t.Run("RoundTrip", func(t *testing.T) {
		t.Run("EveryField", h.testRoundTripEveryField)
		t.Run("Minimal", h.testRoundTripMinimal)
		t.Run("FixtureTraces", h.testRoundTripFixtures)
	})
	t.Run("TraceNotFound", h.testTraceNotFound)
	t.Run("TimeHintNeverHides", h.testTimeHint)
	t.Run("LargeTrace", h.testLargeTrace)
	t.Run("TraceAcrossBatches", h.testTraceAcrossBatches)
	t.Run("GetTraces", h.testGetTraces)
	t.Run("Idempotent", func(t *testing.T) {
		t.Run("SameCall", h.testIdempotentSameCall)
		t.Run("SeparateCalls", h.testIdempotentSeparateCalls)
		t.Run("WholeTraceTwice", h.testIdempotentWholeTrace)
		t.Run("NormalisedSpanTwice", h.testIdempotentNormalised)
		t.Run("NaNAttributeTwice", h.testIdempotentNaN)
		t.Run("SameIDsDifferentContent", h.testSameIDsDifferentContent)
	})
	t.Run("BadInput", func(t *testing.T) {
		t.Run("ZeroIDs", h.testZeroIDs)
		t.Run("NilSpan", h.testNilSpan)
		t.Run("NoServiceName", h.testNoServiceName)
		t.Run("EndBeforeStart", h.testEndBeforeStart)
	})
	t.Run("Isolation", func(t *testing.T) {
		t.Run("CallerReusesWrittenSpans", h.testCallerReusesSpans)
		t.Run("CallerModifiesResults", h.testCallerModifiesResults)
	})
	t.Run("Query", h.testQuery)
	t.Run("RankWithAttributes", h.testRankWithAttributes)
	t.Run("Services", h.testServices)
	t.Run("Operations", h.testOperations)
	t.Run("Dependencies", h.testDependencies)
	t.Run("Concurrent", h.testConcurrent)
	t.Run("Lifecycle", func(t *testing.T) {
		t.Run("BeforeStart", h.testBeforeStart)
		t.Run("Shutdown", h.testShutdown)
	})
}

// harness carries what every subtest needs.
type harness struct {
	open func(t *testing.T) storage.Store
	fx   fixtures
}

// store opens and starts a fresh store that is shut down when t ends.
func (h *harness) store(t *testing.T) storage.Store {
	t.Helper()
	s := h.unstarted(t)
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return s
}

// unstarted opens a fresh store, not started, that is shut down when t ends.
func (h *harness) unstarted(t *testing.T) storage.Store {
	t.Helper()
	s := h.open(t)
	if s == nil {
		t.Fatal("open returned a nil store")
	}
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// write stores spans and fails t on any error.
func write(t *testing.T, s storage.Store, spans ...*model.Span) {
	t.Helper()
	if err := s.WriteSpans(t.Context(), spans); err != nil {
		t.Fatalf("WriteSpans(%d spans): %v", len(spans), err)
	}
}

// getTrace reads a trace and fails t on any error.
func getTrace(t *testing.T, s storage.Store, id model.TraceID) []*model.Span {
	t.Helper()
	spans, err := s.GetTrace(t.Context(), id, storage.TimeHint{})
	if err != nil {
		t.Fatalf("GetTrace(%s): %v", id, err)
	}
	return spans
}

// writeSearchFixtures writes the search fixtures, spans of different traces
// mixed in three batches, and returns them by name.
func (h *harness) writeSearchFixtures(t *testing.T, s storage.Store) map[string]*fixtureTrace {
	t.Helper()
	traces := h.fx.searchTraces()
	byName := make(map[string]*fixtureTrace, len(traces))
	var all []*model.Span
	for _, tr := range traces {
		byName[tr.name] = tr
	}
	// Interleave: span 0 of every trace, then span 1 of every trace, ...
	for i := 0; ; i++ {
		added := false
		for _, tr := range traces {
			if i < len(tr.spans) {
				all = append(all, tr.spans[i])
				added = true
			}
		}
		if !added {
			break
		}
	}
	third := len(all) / 3
	write(t, s, all[:third]...)
	write(t, s, all[third:2*third]...)
	write(t, s, all[2*third:]...)
	return byName
}
