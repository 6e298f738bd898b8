package storagetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// This file checks GetTraces, the batch read: one result per requested ID,
// each what GetTrace answers for it.

func (h *harness) testGetTraces(t *testing.T) {
	t.Run("SeveralIDs", h.testGetTracesSeveral)
	t.Run("MissingIDs", h.testGetTracesMissing)
	t.Run("NoIDs", h.testGetTracesNone)
	t.Run("DuplicateIDs", h.testGetTracesDuplicates)
	t.Run("SameAsGetTrace", h.testGetTracesSameAsGetTrace)
	t.Run("TimeHintNeverHides", h.testGetTracesHint)
}

// getTraces reads traces in one call and fails t on an error or a result of
// the wrong length.
func getTraces(t *testing.T, s storage.Store, ids []model.TraceID, hint storage.TimeHint) [][]*model.Span {
	t.Helper()
	got, err := s.GetTraces(t.Context(), ids, hint)
	if err != nil {
		t.Fatalf("GetTraces(%d IDs, hint %+v): %v", len(ids), hint, err)
	}
	if len(got) != len(ids) {
		t.Fatalf("GetTraces(%d IDs): got %d results, want one per ID", len(ids), len(got))
	}
	return got
}

func (h *harness) testGetTracesSeveral(t *testing.T) {
	s := h.store(t)
	h.writeSearchFixtures(t, s)
	want := h.fx.searchTraces()
	slices.Reverse(want) // an order unrelated to how they were written
	ids := make([]model.TraceID, len(want))
	for i, tr := range want {
		ids[i] = tr.id
	}
	got := getTraces(t, s, ids, storage.TimeHint{})
	for i, tr := range want {
		t.Run(tr.name, func(t *testing.T) { checkTrace(t, got[i], tr.spans) })
	}
}

func (h *harness) testGetTracesMissing(t *testing.T) {
	s := h.store(t)
	unknown := []model.TraceID{traceID(9, 9), {}, traceID(9, 10)}
	for i, spans := range getTraces(t, s, unknown, storage.TimeHint{}) {
		if len(spans) != 0 {
			t.Errorf("GetTraces in an empty store: result %d (%s) has spans %s, want none", i, unknown[i], spanList(spans))
		}
	}

	write(t, s, h.fx.fullSpan())
	present := h.fx.fullSpan().TraceID
	ids := []model.TraceID{unknown[0], present, unknown[1], unknown[2]}
	got := getTraces(t, s, ids, storage.TimeHint{Start: h.fx.base, End: h.fx.at(time.Hour)})
	for i, spans := range got {
		if ids[i] != present && len(spans) != 0 {
			t.Errorf("result %d, of unknown trace %s: got spans %s, want none", i, ids[i], spanList(spans))
		}
	}
	checkTrace(t, got[1], []*model.Span{h.fx.fullSpan()})
}

func (h *harness) testGetTracesNone(t *testing.T) {
	s := h.store(t)
	write(t, s, h.fx.fullSpan())
	for _, ids := range [][]model.TraceID{nil, {}} {
		got, err := s.GetTraces(t.Context(), ids, storage.TimeHint{})
		if err != nil || len(got) != 0 {
			t.Errorf("GetTraces(%#v): got %d results, %v; want none and no error", ids, len(got), err)
		}
	}
}

// Each occurrence of a repeated ID gets the whole trace, and spans of its own:
// changing one result changes neither another nor the store.
func (h *harness) testGetTracesDuplicates(t *testing.T) {
	s := h.store(t)
	h.writeSearchFixtures(t, s)
	write(t, s, h.fx.fullSpan())
	a, b := h.fx.fullSpan().TraceID, h.fx.searchTraces()[1]
	ids := []model.TraceID{a, b.id, a, traceID(9, 9), a}
	got := getTraces(t, s, ids, storage.TimeHint{})
	for _, i := range []int{0, 2, 4} {
		checkTrace(t, got[i], []*model.Span{h.fx.fullSpan()})
	}
	checkTrace(t, got[1], b.spans)
	if len(got[3]) != 0 {
		t.Errorf("result 3, of an unknown trace: got spans %s, want none", spanList(got[3]))
	}
	if t.Failed() {
		return
	}

	sp := got[0][0]
	sp.Name = "changed"
	sp.Attributes[0].Value.Str = "changed"
	if len(sp.Resource.Attributes) > 0 {
		sp.Resource.Attributes[0].Value.Str = "changed"
	}
	if len(sp.Scope.Attributes) > 0 {
		sp.Scope.Attributes[0].Value.Str = "changed"
	}
	checkTrace(t, got[2], []*model.Span{h.fx.fullSpan()})
	checkTrace(t, getTrace(t, s, a), []*model.Span{h.fx.fullSpan()})
}

// Every result is what GetTrace returns for its ID, span by span in the same
// order: for traces whose spans share start times, whose spans share IDs
// (Zipkin's halves), and a trace too large for one message of a remote store.
func (h *harness) testGetTracesSameAsGetTrace(t *testing.T) {
	s := h.store(t)
	h.writeSearchFixtures(t, s)
	large := h.fx.largeTrace(2500)
	for i := 0; i < len(large); i += 600 {
		write(t, s, large[i:min(i+600, len(large))]...)
	}
	halves := traceID(2, 4)
	start := h.fx.at(3 * time.Minute)
	sh := newShop()
	write(t, s,
		&model.Span{Resource: sh.frontend, Scope: sh.http, TraceID: halves, SpanID: spanID(halves, 2), Name: "get /api/cart",
			Kind: model.SpanKindClient, StartTime: start, EndTime: start + 100e6},
		&model.Span{Resource: sh.checkout, Scope: sh.http, TraceID: halves, SpanID: spanID(halves, 2), Name: "get /api/cart",
			Kind: model.SpanKindServer, StartTime: start + 5e6, EndTime: start + 95e6},
		&model.Span{Resource: sh.checkout, Scope: sh.http, TraceID: halves, SpanID: spanID(halves, 3), Name: "db",
			Kind: model.SpanKindClient, StartTime: start + 5e6, EndTime: start + 9e6},
	)

	ids := []model.TraceID{large[0].TraceID, halves}
	for _, tr := range h.fx.searchTraces() {
		ids = append(ids, tr.id)
	}
	got := getTraces(t, s, ids, storage.TimeHint{})
	for i, id := range ids {
		want := getTrace(t, s, id)
		if len(got[i]) != len(want) {
			t.Errorf("result %d (%s): got %d spans, GetTrace %d", i, id, len(got[i]), len(want))
			continue
		}
		for j := range want {
			if d := diffSpan(got[i][j], want[j]); d != nil {
				t.Errorf("result %d (%s), span %d: got %s, GetTrace %s (got, GetTrace):\n\t%s",
					i, id, j, spanLabel(got[i][j]), spanLabel(want[j]), strings.Join(d, "\n\t"))
				break
			}
		}
	}
	checkTrace(t, got[0], h.fx.largeTrace(2500))
}

func (h *harness) testGetTracesHint(t *testing.T) {
	s := h.store(t)
	h.writeSearchFixtures(t, s)
	want := h.fx.searchTraces()
	ids := make([]model.TraceID, len(want))
	for i, tr := range want {
		ids[i] = tr.id
	}
	first := want[0].spans[0]
	hints := map[string]storage.TimeHint{
		"first trace exact": {Start: first.StartTime, End: first.EndTime},
		"start only":        {Start: first.StartTime},
		"too late":          {Start: h.fx.at(time.Hour), End: h.fx.at(2 * time.Hour)},
		"too early":         {Start: h.fx.base - uint64(2*time.Hour), End: h.fx.base - uint64(time.Hour)},
		"end before all":    {End: first.StartTime - 1},
	}
	for name, hint := range hints {
		got := getTraces(t, s, ids, hint)
		for i, tr := range want {
			if len(got[i]) != len(tr.spans) {
				t.Errorf("GetTraces with hint %q %+v: trace %s has %d spans, want %d (a hint never hides spans)",
					name, hint, tr.name, len(got[i]), len(tr.spans))
			}
		}
	}
}
