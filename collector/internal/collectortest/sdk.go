package collectortest

import (
	"context"
	"reflect"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// SDKTrace is what EmitSDKTrace sent, to check against the store.
type SDKTrace struct {
	TraceID      model.TraceID
	ParentID     model.SpanID
	ChildID      model.SpanID
	LinkedTrace  model.TraceID
	LinkedSpanID model.SpanID
}

// EmitSDKTrace sends, through an OpenTelemetry SDK tracer provider exporting
// synchronously with exp, a trace of two spans (a server span and its child)
// carrying typed attributes, an event, a link and an error status, then
// shuts the provider down (flushing it). Every span export has returned, and
// so been acknowledged, when it returns.
func EmitSDKTrace(t testing.TB, exp sdktrace.SpanExporter) SDKTrace {
	t.Helper()
	res := sdkresource.NewSchemaless(
		attribute.String("service.name", "checkout"),
		attribute.String("host.name", "node-1"),
	)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(res))
	tr := tp.Tracer("scry.test/sdk",
		trace.WithInstrumentationVersion("1.2.3"),
		trace.WithInstrumentationAttributes(attribute.String("scope.attr", "yes")))

	linked := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x0a, 15: 0x0b},
		SpanID:     trace.SpanID{0x0c, 7: 0x0d},
		TraceFlags: trace.FlagsSampled,
	})
	ctx, parent := tr.Start(context.Background(), "GET /cart",
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.method", "GET"),
			attribute.Int64("http.status_code", 500),
			attribute.Float64("load", 0.75),
			attribute.Bool("cache.hit", false),
			attribute.StringSlice("tags", []string{"a", "b"}),
		))
	_, child := tr.Start(ctx, "SELECT cart",
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithLinks(trace.Link{SpanContext: linked, Attributes: []attribute.KeyValue{attribute.String("link.kind", "follows")}}))
	child.AddEvent("retry", trace.WithAttributes(attribute.Int("attempt", 2)))
	child.SetStatus(otelcodes.Error, "deadlock")
	child.End()
	parent.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatalf("cannot shut down tracer provider: %v", err)
	}
	return SDKTrace{
		TraceID:      model.TraceID(parent.SpanContext().TraceID()),
		ParentID:     model.SpanID(parent.SpanContext().SpanID()),
		ChildID:      model.SpanID(child.SpanContext().SpanID()),
		LinkedTrace:  model.TraceID(linked.TraceID()),
		LinkedSpanID: model.SpanID(linked.SpanID()),
	}
}

// Check fails the test unless the store holds the trace as sent.
func (want SDKTrace) Check(t testing.TB, r storage.Reader) {
	t.Helper()
	spans, err := r.GetTrace(context.Background(), want.TraceID, storage.TimeHint{})
	if err != nil {
		t.Fatalf("cannot get trace %s: %v", want.TraceID, err)
	}
	if len(spans) != 2 {
		t.Fatalf("stored %d spans, want 2", len(spans))
	}
	byID := map[model.SpanID]*model.Span{spans[0].SpanID: spans[0], spans[1].SpanID: spans[1]}
	parent, child := byID[want.ParentID], byID[want.ChildID]
	if parent == nil || child == nil {
		t.Fatalf("stored span IDs %s and %s, want %s and %s", spans[0].SpanID, spans[1].SpanID, want.ParentID, want.ChildID)
	}

	for _, s := range spans {
		if got := s.ServiceName(); got != "checkout" {
			t.Errorf("span %q: service %q, want checkout", s.Name, got)
		}
		if v, ok := attr(s.Resource.Attributes, "host.name"); !ok || v.Str != "node-1" {
			t.Errorf("span %q: resource host.name %v", s.Name, v)
		}
		if s.Scope.Name != "scry.test/sdk" || s.Scope.Version != "1.2.3" {
			t.Errorf("span %q: scope %q %q", s.Name, s.Scope.Name, s.Scope.Version)
		}
		if v, ok := attr(s.Scope.Attributes, "scope.attr"); !ok || v.Str != "yes" {
			t.Errorf("span %q: scope attribute %v", s.Name, v)
		}
		if s.StartTime == 0 || s.EndTime < s.StartTime {
			t.Errorf("span %q: times %d..%d", s.Name, s.StartTime, s.EndTime)
		}
	}

	if parent.Name != "GET /cart" || parent.Kind != model.SpanKindServer || !parent.ParentSpanID.IsZero() {
		t.Errorf("parent: name %q kind %v parent %s", parent.Name, parent.Kind, parent.ParentSpanID)
	}
	wantAttrs := map[string]model.Value{
		"http.method":      model.StringValue("GET"),
		"http.status_code": model.IntValue(500),
		"load":             model.DoubleValue(0.75),
		"cache.hit":        model.BoolValue(false),
		"tags":             model.ArrayValue(model.StringValue("a"), model.StringValue("b")),
	}
	for k, v := range wantAttrs {
		if got, ok := attr(parent.Attributes, k); !ok || !reflect.DeepEqual(got, v) {
			t.Errorf("parent attribute %s = %#v, want %#v", k, got, v)
		}
	}

	if child.Name != "SELECT cart" || child.Kind != model.SpanKindClient || child.ParentSpanID != want.ParentID {
		t.Errorf("child: name %q kind %v parent %s", child.Name, child.Kind, child.ParentSpanID)
	}
	if child.Status != (model.Status{Code: model.StatusError, Message: "deadlock"}) {
		t.Errorf("child status %+v", child.Status)
	}
	if len(child.Events) != 1 || child.Events[0].Name != "retry" || child.Events[0].Time == 0 {
		t.Fatalf("child events %+v", child.Events)
	}
	if v, ok := attr(child.Events[0].Attributes, "attempt"); !ok || !reflect.DeepEqual(v, model.IntValue(2)) {
		t.Errorf("event attribute attempt = %v", v)
	}
	if len(child.Links) != 1 {
		t.Fatalf("child links %+v", child.Links)
	}
	l := child.Links[0]
	if l.TraceID != want.LinkedTrace || l.SpanID != want.LinkedSpanID {
		t.Errorf("link to %s/%s, want %s/%s", l.TraceID, l.SpanID, want.LinkedTrace, want.LinkedSpanID)
	}
	if v, ok := attr(l.Attributes, "link.kind"); !ok || v.Str != "follows" {
		t.Errorf("link attribute %v", v)
	}
}

func attr(kvs []model.KeyValue, key string) (model.Value, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return model.Value{}, false
}
