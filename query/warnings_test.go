package query

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/memory"
)

// probeReader answers from a memory store, counts the trace reads and
// warns on every call, as a reader that merges several stores does when one
// of them did not answer.
type probeReader struct {
	*memory.Store
	getTrace, getTraces atomic.Int64
}

const storeDown = "storage endpoint 10.0.0.2:17271 did not answer, results may be incomplete"

func (r *probeReader) Services(ctx context.Context) ([]string, error) {
	storage.Warn(ctx, storeDown)
	return r.Store.Services(ctx)
}

func (r *probeReader) GetTrace(ctx context.Context, id model.TraceID, hint storage.TimeHint) ([]*model.Span, error) {
	r.getTrace.Add(1)
	storage.Warn(ctx, storeDown)
	return r.Store.GetTrace(ctx, id, hint)
}

func (r *probeReader) GetTraces(ctx context.Context, ids []model.TraceID, hint storage.TimeHint) ([][]*model.Span, error) {
	r.getTraces.Add(1)
	storage.Warn(ctx, storeDown)
	return r.Store.GetTraces(ctx, ids, hint)
}

// count returns the GetTrace and GetTraces calls so far and starts again.
func (r *probeReader) count() (getTrace, getTraces int64) {
	return r.getTrace.Swap(0), r.getTraces.Swap(0)
}

func newProbeServer(t *testing.T) (*server, *probeReader) {
	t.Helper()
	store := newEmptyStore(t)
	if err := store.WriteSpans(t.Context(), seedSpans()); err != nil {
		t.Fatal(err)
	}
	r := &probeReader{Store: store}
	h, err := NewHandler(DefaultConfig(), r, telemetry.Settings{Clock: fixedClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &server{Server: srv, store: store}, r
}

// checkWarned fails t unless errs is exactly one 503 saying storeDown.
func checkWarned(t *testing.T, what string, e envelope) {
	t.Helper()
	if len(e.Errors) != 1 || e.Errors[0].Code != http.StatusServiceUnavailable || e.Errors[0].Msg != storeDown {
		t.Errorf("%s: errors %+v, want one 503 saying %q", what, e.Errors, storeDown)
	}
}

// A reader's warnings are shown in the answer's errors list, each with code
// 503, beside the data.
func TestStorageWarningsShown(t *testing.T) {
	s, _ := newProbeServer(t)
	e := s.get(t, "/api/services").jaeger(t, http.StatusOK)
	checkWarned(t, "/api/services", e)
	if svcs := decode[[]string](t, e.Data); !slices.Contains(svcs, "frontend") {
		t.Errorf("services %q, want the store's answer beside the warning", svcs)
	}

	e = s.get(t, "/api/traces/"+jaegerA).jaeger(t, http.StatusOK)
	checkWarned(t, "/api/traces/{id}", e)
}

// A search reads the traces it found with one GetTraces call, and so does a
// request for several trace IDs; both show the reader's warnings.
func TestSearchReadsTracesInOneCall(t *testing.T) {
	s, r := newProbeServer(t)
	window := []string{"start", micros(t0.Add(-4 * time.Hour)), "end", micros(t0.Add(time.Hour))}

	e := s.get(t, "/api/traces", append(window, "service", "frontend")...).jaeger(t, http.StatusOK)
	if n := len(decode[[]model.JaegerTrace](t, e.Data)); n != 3 {
		t.Errorf("search: %d traces, want 3", n)
	}
	checkWarned(t, "search", e)
	if one, batch := r.count(); one != 0 || batch != 1 {
		t.Errorf("search of 3 traces: %d GetTrace and %d GetTraces calls, want one GetTraces", one, batch)
	}

	e = s.get(t, "/api/traces", "traceID", jaegerA, "traceID", jaegerB, "traceID", absent.String()).jaeger(t, http.StatusOK)
	if n := len(decode[[]model.JaegerTrace](t, e.Data)); n != 2 || len(e.Errors) != 2 {
		t.Errorf("by trace ID: %d traces and errors %+v, want 2 traces, a 404 and the warning", n, e.Errors)
	}
	if one, batch := r.count(); one != 0 || batch != 1 {
		t.Errorf("3 trace IDs: %d GetTrace and %d GetTraces calls, want one GetTraces", one, batch)
	}

	res := s.get(t, "/api/v3/traces", "query.startTimeMin", "2024-05-01T08:00:00Z", "query.startTimeMax", "2024-05-01T13:00:00Z")
	res.checkJSON(t, http.StatusOK)
	if got := decode[otlpResult](t, res.body).traceIDs(); len(got) != 4 {
		t.Errorf("v3 search: traces %v, want 4", got)
	}
	if one, batch := r.count(); one != 0 || batch != 1 {
		t.Errorf("v3 search: %d GetTrace and %d GetTraces calls, want one GetTraces", one, batch)
	}
}
