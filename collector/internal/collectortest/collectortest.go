package collectortest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// Writer wraps a real storage.Writer, counts WriteSpans calls and, while
// held, makes each call wait until Release (or its context ends).
type Writer struct {
	Inner storage.Writer

	calls   atomic.Int64
	mu      sync.Mutex
	gate    chan struct{} // nil: not held
	waiting atomic.Int64
}

// Hold makes later WriteSpans calls wait until Release.
func (w *Writer) Hold() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.gate == nil {
		w.gate = make(chan struct{})
	}
}

// Release lets every waiting and later call through.
func (w *Writer) Release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.gate != nil {
		close(w.gate)
		w.gate = nil
	}
}

// Calls returns the number of WriteSpans calls so far.
func (w *Writer) Calls() int { return int(w.calls.Load()) }

// Waiting returns the number of calls held now.
func (w *Writer) Waiting() int { return int(w.waiting.Load()) }

// WriteSpans counts the call, waits while held, then writes to Inner.
func (w *Writer) WriteSpans(ctx context.Context, spans []*model.Span) error {
	w.calls.Add(1)
	w.mu.Lock()
	gate := w.gate
	w.mu.Unlock()
	if gate != nil {
		w.waiting.Add(1)
		select {
		case <-gate:
		case <-ctx.Done():
			w.waiting.Add(-1)
			return fmt.Errorf("held write aborted: %w", ctx.Err())
		}
		w.waiting.Add(-1)
	}
	return w.Inner.WriteSpans(ctx, spans)
}

// TraceID returns a valid trace ID made from n.
func TraceID(n int) []byte {
	id := make([]byte, 16)
	id[0] = 0xab
	id[15] = byte(n)
	id[14] = byte(n >> 8)
	id[13] = byte(n >> 16)
	return id
}

// SpanID returns a valid span ID made from n.
func SpanID(n int) []byte {
	id := make([]byte, 8)
	id[0] = 0xcd
	id[7] = byte(n)
	id[6] = byte(n >> 8)
	id[5] = byte(n >> 16)
	return id
}

// Span returns a valid OTLP span of trace t with span ID s.
func Span(t, s int) *tracepb.Span {
	return &tracepb.Span{
		TraceId:           TraceID(t),
		SpanId:            SpanID(s),
		Name:              fmt.Sprintf("op-%d", s),
		Kind:              tracepb.Span_SPAN_KIND_SERVER,
		StartTimeUnixNano: 1_700_000_000_000_000_000 + uint64(s),
		EndTimeUnixNano:   1_700_000_000_000_100_000 + uint64(s),
		Attributes: []*commonpb.KeyValue{
			{Key: "http.route", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "/x"}}},
		},
	}
}

// Request wraps spans into one ResourceSpans of service svc.
func Request(svc string, spans ...*tracepb.Span) []*tracepb.ResourceSpans {
	return []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			{Key: model.ServiceNameKey, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: svc}}},
		}},
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{Name: "test"},
			Spans: spans,
		}},
	}}
}

// MustGetTrace returns the stored spans of trace t, failing the test if it
// cannot be read.
func MustGetTrace(t testing.TB, r storage.Reader, id []byte) []*model.Span {
	t.Helper()
	tid, err := model.TraceIDFromBytes(id)
	if err != nil {
		t.Fatal(err)
	}
	spans, err := r.GetTrace(context.Background(), tid, storage.TimeHint{})
	if err != nil {
		t.Fatalf("cannot get trace %s: %v", tid, err)
	}
	return spans
}
