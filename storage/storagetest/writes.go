package storagetest

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

func (h *harness) testRoundTripEveryField(t *testing.T) {
	s := h.store(t)
	write(t, s, h.fx.fullSpan())
	want := h.fx.fullSpan()
	got := getTrace(t, s, want.TraceID)
	if len(got) != 1 {
		t.Fatalf("got %d spans, want 1: %s", len(got), spanList(got))
	}
	checkSpan(t, "the span", got[0], want)
}

func (h *harness) testRoundTripMinimal(t *testing.T) {
	s := h.store(t)
	// Nothing but IDs, a name and times; no resource and no scope.
	minimal := func() *model.Span {
		tr := traceID(2, 3)
		return &model.Span{TraceID: tr, SpanID: spanID(tr, 1), Name: "bare", StartTime: h.fx.at(time.Minute), EndTime: h.fx.at(time.Minute)}
	}
	write(t, s, minimal())
	want := minimal()
	want.Resource, want.Scope = &model.Resource{}, &model.Scope{}
	got := getTrace(t, s, want.TraceID)
	if len(got) != 1 {
		t.Fatalf("got %d spans, want 1: %s", len(got), spanList(got))
	}
	checkSpan(t, "the span (stored spans have a non-nil, empty resource and scope)", got[0], want)
}

func (h *harness) testRoundTripFixtures(t *testing.T) {
	s := h.store(t)
	h.writeSearchFixtures(t, s)
	for _, want := range h.fx.searchTraces() {
		t.Run(want.name, func(t *testing.T) {
			checkTrace(t, getTrace(t, s, want.id), want.spans)
		})
	}
}

func (h *harness) testTraceNotFound(t *testing.T) {
	s := h.store(t)
	unknown := traceID(9, 9)
	if _, err := s.GetTrace(t.Context(), unknown, storage.TimeHint{}); !errors.Is(err, storage.ErrTraceNotFound) {
		t.Errorf("GetTrace of an unknown trace in an empty store: got %v, want ErrTraceNotFound", err)
	}
	write(t, s, h.fx.fullSpan())
	_, err := s.GetTrace(t.Context(), unknown, storage.TimeHint{Start: h.fx.base, End: h.fx.at(time.Hour)})
	if !errors.Is(err, storage.ErrTraceNotFound) {
		t.Errorf("GetTrace of an unknown trace: got %v, want ErrTraceNotFound", err)
	}
}

func (h *harness) testTimeHint(t *testing.T) {
	s := h.store(t)
	h.writeSearchFixtures(t, s)
	want := h.fx.checkoutTrace(1, orderOK, "gold", "ord-1001", 42.5, "A1", 0)
	start, end := want.spans[0].StartTime, want.spans[0].EndTime
	hints := map[string]storage.TimeHint{
		"exact":          {Start: start, End: end},
		"start only":     {Start: start},
		"too late":       {Start: h.fx.at(time.Hour), End: h.fx.at(2 * time.Hour)},
		"too early":      {Start: h.fx.base - uint64(2*time.Hour), End: h.fx.base - uint64(time.Hour)},
		"covers a part":  {Start: start + uint64(100*time.Millisecond), End: start + uint64(120*time.Millisecond)},
		"end before all": {End: start - 1},
	}
	for name, hint := range hints {
		got, err := s.GetTrace(t.Context(), want.id, hint)
		if err != nil {
			t.Errorf("GetTrace with hint %q %+v: %v", name, hint, err)
			continue
		}
		if len(got) != len(want.spans) {
			t.Errorf("GetTrace with hint %q %+v: got %d spans, want %d (a hint never hides spans)", name, hint, len(got), len(want.spans))
		}
	}
}

func (h *harness) testLargeTrace(t *testing.T) {
	const n = 10000
	s := h.store(t)
	spans := h.fx.largeTrace(n)
	// Write in batches of different sizes, in an order unrelated to time.
	order := make([]*model.Span, 0, n)
	for i := 0; i < 7; i++ {
		for j := i; j < n; j += 7 {
			order = append(order, spans[j])
		}
	}
	for _, size := range []int{1, 999, 3000, 2500, 3500} {
		write(t, s, order[:size]...)
		order = order[size:]
	}
	if len(order) != 0 {
		t.Fatalf("test bug: %d spans not written", len(order))
	}
	got := getTrace(t, s, spans[0].TraceID)
	checkTrace(t, got, h.fx.largeTrace(n))
}

func (h *harness) testTraceAcrossBatches(t *testing.T) {
	s := h.store(t)
	spans := h.fx.checkoutTrace(1, orderOK, "gold", "ord-1001", 42.5, "A1", 0).spans
	// One span per call, children before parents, then the rest as a batch.
	for i := len(spans) - 1; i >= 3; i-- {
		write(t, s, spans[i])
	}
	write(t, s, spans[:3]...)
	want := h.fx.checkoutTrace(1, orderOK, "gold", "ord-1001", 42.5, "A1", 0)
	checkTrace(t, getTrace(t, s, want.id), want.spans)
}

func (h *harness) testIdempotentSameCall(t *testing.T) {
	s := h.store(t)
	write(t, s, h.fx.fullSpan(), h.fx.fullSpan(), h.fx.fullSpan())
	want := h.fx.fullSpan()
	checkTrace(t, getTrace(t, s, want.TraceID), []*model.Span{want})
}

func (h *harness) testIdempotentSeparateCalls(t *testing.T) {
	s := h.store(t)
	write(t, s, h.fx.fullSpan())
	write(t, s, h.fx.fullSpan())
	sp := h.fx.fullSpan()
	write(t, s, sp)
	write(t, s, sp) // the same *Span again, after WriteSpans has seen it
	want := h.fx.fullSpan()
	checkTrace(t, getTrace(t, s, want.TraceID), []*model.Span{want})
}

func (h *harness) testIdempotentWholeTrace(t *testing.T) {
	s := h.store(t)
	h.writeSearchFixtures(t, s)
	h.writeSearchFixtures(t, s)
	for _, want := range h.fx.searchTraces() {
		checkTrace(t, getTrace(t, s, want.id), want.spans)
	}
	got, err := s.FindTraceIDs(t.Context(), storage.Query{Kind: storage.AnyKind, Limit: 100})
	if err != nil {
		t.Fatalf("FindTraceIDs: %v", err)
	}
	if len(got) != 5 {
		t.Errorf("FindTraceIDs after writing five traces twice: got %d traces, want 5", len(got))
	}
	deps, err := s.Dependencies(t.Context(), h.fx.base, h.fx.at(time.Hour))
	if err != nil {
		t.Fatalf("Dependencies: %v", err)
	}
	if want := allDependencies(); !slices.Equal(deps, want) {
		t.Errorf("Dependencies after writing every span twice:\n got %v\nwant %v", deps, want)
	}
}

// testIdempotentNormalised writes a span that storage must fix (end before
// start) twice: the fix must not make the second copy look different.
func (h *harness) testIdempotentNormalised(t *testing.T) {
	s := h.store(t)
	write(t, s, h.endBeforeStart())
	write(t, s, h.endBeforeStart())
	write(t, s, h.endBeforeStart(), h.endBeforeStart())
	got := getTrace(t, s, h.endBeforeStart().TraceID)
	if len(got) != 1 {
		t.Errorf("got %d spans, want 1: %s", len(got), spanList(got))
	}
}

// testIdempotentNaN writes a span with NaN doubles twice in one call and
// again in later calls, as a retry after a lost answer does. A NaN is not ==
// to itself, so a store that compares spans with == or reflect.DeepEqual
// keeps every copy; span equality (model.Span.Equal) compares doubles by
// their bits.
func (h *harness) testIdempotentNaN(t *testing.T) {
	s := h.store(t)
	write(t, s, h.nanSpan(), h.nanSpan())
	write(t, s, h.nanSpan())
	write(t, s, h.nanSpan())
	got := getTrace(t, s, h.nanSpan().TraceID)
	if len(got) != 1 {
		t.Fatalf("a span with NaN attributes written four times: got %d spans, want 1: %s", len(got), spanList(got))
	}
	checkTrace(t, got, []*model.Span{h.nanSpan()})
	if v := attr(got[0].Attributes, "load.ratio"); v == nil || v.Type != model.ValueDouble || !math.IsNaN(v.Double) {
		t.Errorf("the NaN attribute came back as %+v", v)
	}
}

// nanSpan has NaN doubles in an attribute, in an array, in a map and in an
// event's attributes.
func (h *harness) nanSpan() *model.Span {
	tr := traceID(2, 9)
	sh := newShop()
	start := h.fx.at(6 * time.Minute)
	nan := math.NaN()
	return &model.Span{
		Resource: sh.checkout, Scope: sh.grpc, TraceID: tr, SpanID: spanID(tr, 1),
		Name: "checkout.Quote", Kind: model.SpanKindServer, StartTime: start, EndTime: start + 5e6,
		Attributes: []model.KeyValue{
			double("load.ratio", nan),
			kv("samples", model.ArrayValue(model.DoubleValue(1.5), model.DoubleValue(nan))),
			kv("stats", model.MapValue(double("mean", nan), str("unit", "ms"))),
		},
		Events: []model.Event{{Time: start + 1e6, Name: "sampled", Attributes: []model.KeyValue{double("value", nan)}}},
	}
}

// testSameIDsDifferentContent writes the two halves of a Zipkin shared span:
// same trace and span ID, different content. Both are kept.
func (h *harness) testSameIDsDifferentContent(t *testing.T) {
	s := h.store(t)
	halves := func() []*model.Span {
		sh := newShop()
		tr := traceID(2, 4)
		start := h.fx.at(3 * time.Minute)
		client := &model.Span{
			Resource: sh.frontend, Scope: sh.http, TraceID: tr, SpanID: spanID(tr, 2), ParentSpanID: spanID(tr, 1),
			Name: "get /api/cart", Kind: model.SpanKindClient, StartTime: start, EndTime: start + 100e6,
		}
		server := &model.Span{
			Resource: sh.checkout, Scope: sh.http, TraceID: tr, SpanID: spanID(tr, 2), ParentSpanID: spanID(tr, 1),
			Name: "get /api/cart", Kind: model.SpanKindServer, StartTime: start + 5e6, EndTime: start + 95e6,
		}
		// Same IDs and everything else as client but one attribute.
		tagged := *client
		tagged.StartTime = start + 1
		tagged.Attributes = []model.KeyValue{str("zipkin.note", "retransmit")}
		return []*model.Span{client, server, &tagged}
	}
	write(t, s, halves()[:2]...)
	write(t, s, halves()[2])
	write(t, s, halves()...) // all again: nothing new
	checkTrace(t, getTrace(t, s, traceID(2, 4)), halves())
}

func (h *harness) endBeforeStart() *model.Span {
	tr := traceID(2, 5)
	sh := newShop()
	start := h.fx.at(4 * time.Minute)
	return &model.Span{
		Resource: sh.payment, Scope: sh.grpc, TraceID: tr, SpanID: spanID(tr, 1),
		Name: "payment.Refund", Kind: model.SpanKindServer,
		StartTime: start, EndTime: start - uint64(time.Millisecond),
	}
}

func (h *harness) testZeroIDs(t *testing.T) {
	s := h.store(t)
	tr := traceID(2, 6)
	start := h.fx.at(2 * time.Minute)
	batch := func() []*model.Span {
		sh := newShop()
		return []*model.Span{
			{Resource: sh.frontend, TraceID: tr, SpanID: spanID(tr, 1), Name: "good-1", StartTime: start, EndTime: start + 10},
			{Resource: sh.frontend, SpanID: spanID(tr, 2), Name: "zero-trace-id", StartTime: start, EndTime: start + 10},
			{Resource: sh.frontend, TraceID: tr, SpanID: spanID(tr, 3), ParentSpanID: spanID(tr, 1), Name: "good-2", StartTime: start + 1, EndTime: start + 10},
			{Resource: sh.frontend, TraceID: tr, ParentSpanID: spanID(tr, 1), Name: "zero-span-id", StartTime: start + 2, EndTime: start + 10},
		}
	}
	err := s.WriteSpans(t.Context(), batch())
	var rej *storage.RejectedError
	if !errors.As(err, &rej) {
		t.Fatalf("WriteSpans with two invalid spans: got %v, want a *storage.RejectedError", err)
	}
	if len(rej.Errs) != 2 {
		t.Errorf("RejectedError has %d errors, want 2 (one per rejected span): %v", len(rej.Errs), err)
	}
	if !errors.Is(err, model.ErrInvalidID) {
		t.Errorf("error %v does not wrap model.ErrInvalidID", err)
	}
	for _, name := range []string{"zero-trace-id", "zero-span-id"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name the rejected span %q", err, name)
		}
	}
	want := batch()
	want[0].Scope, want[2].Scope = &model.Scope{}, &model.Scope{}
	checkTrace(t, getTrace(t, s, tr), []*model.Span{want[0], want[2]})
	if _, err := s.GetTrace(t.Context(), model.TraceID{}, storage.TimeHint{}); !errors.Is(err, storage.ErrTraceNotFound) {
		t.Errorf("GetTrace of the all-zero trace ID: got %v, want ErrTraceNotFound", err)
	}
}

func (h *harness) testNilSpan(t *testing.T) {
	s := h.store(t)
	err := s.WriteSpans(t.Context(), []*model.Span{nil, h.fx.fullSpan()})
	var rej *storage.RejectedError
	if !errors.As(err, &rej) || len(rej.Errs) != 1 {
		t.Fatalf("WriteSpans with a nil span: got %v, want a *storage.RejectedError with one error", err)
	}
	checkTrace(t, getTrace(t, s, h.fx.fullSpan().TraceID), []*model.Span{h.fx.fullSpan()})
}

func (h *harness) testNoServiceName(t *testing.T) {
	s := h.store(t)
	a, b := traceID(2, 7), traceID(2, 8)
	start := h.fx.at(5 * time.Minute)
	spans := func() []*model.Span {
		return []*model.Span{
			// No resource at all.
			{TraceID: a, SpanID: spanID(a, 1), Name: "orphan", Kind: model.SpanKindServer, StartTime: start, EndTime: start + 1000},
			// A resource without service.name.
			{
				Resource: &model.Resource{Attributes: []model.KeyValue{str("host.name", "batch-7")}},
				TraceID:  b, SpanID: spanID(b, 1), Name: "cron", Kind: model.SpanKindInternal,
				StartTime: start + 1, EndTime: start + 1000,
			},
		}
	}
	write(t, s, spans()...)
	want := spans()
	want[0].Resource = &model.Resource{}
	want[0].Scope, want[1].Scope = &model.Scope{}, &model.Scope{}
	checkTrace(t, getTrace(t, s, a), want[:1])
	checkTrace(t, getTrace(t, s, b), want[1:])

	svcs, err := s.Services(t.Context())
	if err != nil {
		t.Fatalf("Services: %v", err)
	}
	if !slices.Equal(svcs, []string{model.UnknownService}) {
		t.Errorf("Services: got %q, want [%q]", svcs, model.UnknownService)
	}
	refs, err := s.FindTraceIDs(t.Context(), storage.Query{Service: model.UnknownService, Kind: storage.AnyKind, Limit: 10})
	if err != nil {
		t.Fatalf("FindTraceIDs: %v", err)
	}
	if got := refIDs(refs); !slices.Equal(got, []model.TraceID{b, a}) {
		t.Errorf("FindTraceIDs(service %q): got %v, want [%s %s]", model.UnknownService, got, b, a)
	}
	ops, err := s.Operations(t.Context(), model.UnknownService, storage.AnyKind)
	if err != nil {
		t.Fatalf("Operations: %v", err)
	}
	wantOps := []storage.Operation{{Name: "cron", Kind: model.SpanKindInternal}, {Name: "orphan", Kind: model.SpanKindServer}}
	if !slices.Equal(ops, wantOps) {
		t.Errorf("Operations(%q): got %v, want %v", model.UnknownService, ops, wantOps)
	}
}

func (h *harness) testEndBeforeStart(t *testing.T) {
	s := h.store(t)
	write(t, s, h.endBeforeStart())
	got := getTrace(t, s, h.endBeforeStart().TraceID)
	if len(got) != 1 {
		t.Fatalf("got %d spans, want 1: %s", len(got), spanList(got))
	}
	if got[0].EndTime != got[0].StartTime {
		t.Errorf("span with its end before its start: stored EndTime %d, want StartTime %d", got[0].EndTime, got[0].StartTime)
	}
	if len(got[0].Warnings) == 0 {
		t.Errorf("span with its end before its start was stored without a warning")
	}
	want := h.endBeforeStart()
	want.Normalize()
	checkSpan(t, "the normalised span", got[0], want)

	refs, err := s.FindTraceIDs(t.Context(), storage.Query{Service: "payment", Kind: storage.AnyKind, DurationMax: 1, Limit: 10})
	if err != nil {
		t.Fatalf("FindTraceIDs: %v", err)
	}
	if len(refs) != 1 {
		t.Errorf("FindTraceIDs(duration <= 1ns): got %d traces, want the span's trace (its duration is zero)", len(refs))
	}
}

func (h *harness) testCallerReusesSpans(t *testing.T) {
	s := h.store(t)
	sp := h.fx.fullSpan()
	write(t, s, sp)
	// Modify everything reachable from the span the caller passed in.
	sp.Name = "changed"
	sp.StartTime++
	sp.Attributes[0].Value.Str = "changed"
	attr(sp.Attributes, "bytes").Bytes[0] = 0x42
	attr(sp.Attributes, "array.mixed").Array[5].Array[0].Str = "changed"
	sp.Resource.Attributes[0].Value.Str = "changed"
	sp.Scope.Name = "changed"
	sp.Events[0].Attributes[0].Value.Str = "changed"
	sp.Links[0].Attributes[0].Value.Str = "changed"
	sp.Warnings[0] = "changed"
	checkTrace(t, getTrace(t, s, sp.TraceID), []*model.Span{h.fx.fullSpan()})
}

func (h *harness) testCallerModifiesResults(t *testing.T) {
	s := h.store(t)
	write(t, s, h.fx.fullSpan())
	got := getTrace(t, s, h.fx.fullSpan().TraceID)
	if len(got) != 1 {
		t.Fatalf("got %d spans, want 1", len(got))
	}
	sp := got[0]
	sp.Name = "changed"
	if v := attr(sp.Attributes, "array.mixed"); v != nil && len(v.Array) > 5 && len(v.Array[5].Array) > 0 {
		v.Array[5].Array[0].Str = "changed"
	}
	if v := attr(sp.Attributes, "bytes"); v != nil && len(v.Bytes) > 0 {
		v.Bytes[0] = 0x42
	}
	sp.Attributes = append(sp.Attributes[:0], str("x", "y"))
	if sp.Resource != nil && len(sp.Resource.Attributes) > 0 {
		sp.Resource.Attributes[0].Value.Str = "changed"
	}
	if len(sp.Events) > 0 && len(sp.Events[0].Attributes) > 0 {
		sp.Events[0].Attributes[0].Value.Str = "changed"
	}
	checkTrace(t, getTrace(t, s, h.fx.fullSpan().TraceID), []*model.Span{h.fx.fullSpan()})
}

// testShutdown checks that a started store cannot be started again, and
// once shut down refuses every call, and that Shutdown may be called again.
func (h *harness) testShutdown(t *testing.T) {
	s := h.store(t)
	if err := s.Start(t.Context()); err == nil {
		t.Error("second Start succeeded")
	}
	write(t, s, h.fx.fullSpan())
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	h.checkClosed(t, s, "after Shutdown")
	if err := s.Start(t.Context()); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Start after Shutdown: got %v, want ErrClosed", err)
	}
}

// testBeforeStart checks that a store refuses every call until it is
// started, and that Shutdown before Start succeeds.
func (h *harness) testBeforeStart(t *testing.T) {
	s := h.unstarted(t)
	h.checkClosed(t, s, "before Start")
	if err := s.Shutdown(t.Context()); err != nil {
		t.Errorf("Shutdown before Start: %v", err)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Errorf("second Shutdown before Start: %v", err)
	}
	if err := s.Start(t.Context()); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Start after Shutdown: got %v, want ErrClosed", err)
	}
}

// checkClosed checks that every call on s fails with storage.ErrClosed;
// when says at what point of s's life, for the failure message.
func (h *harness) checkClosed(t *testing.T, s storage.Store, when string) {
	t.Helper()
	ctx := t.Context()
	checks := map[string]error{}
	checks["WriteSpans"] = s.WriteSpans(ctx, []*model.Span{h.fx.fullSpan()})
	_, checks["GetTrace"] = s.GetTrace(ctx, h.fx.fullSpan().TraceID, storage.TimeHint{})
	_, checks["GetTraces"] = s.GetTraces(ctx, []model.TraceID{h.fx.fullSpan().TraceID}, storage.TimeHint{})
	_, checks["FindTraceIDs"] = s.FindTraceIDs(ctx, storage.Query{Kind: storage.AnyKind, Limit: 10})
	_, checks["Services"] = s.Services(ctx)
	_, checks["Operations"] = s.Operations(ctx, "checkout", storage.AnyKind)
	_, checks["Dependencies"] = s.Dependencies(ctx, h.fx.base, h.fx.at(time.Hour))
	for name, err := range checks {
		if !errors.Is(err, storage.ErrClosed) {
			t.Errorf("%s %s: got %v, want ErrClosed", name, when, err)
		}
	}
}

// attr returns the value of the first attribute named key, or nil.
func attr(kvs []model.KeyValue, key string) *model.Value {
	for i := range kvs {
		if kvs[i].Key == key {
			return &kvs[i].Value
		}
	}
	return nil
}
