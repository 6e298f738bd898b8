package jaegerhttp_test

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/opentracing/opentracing-go"
	"github.com/opentracing/opentracing-go/ext"
	otlog "github.com/opentracing/opentracing-go/log"
	jaegerclient "github.com/uber/jaeger-client-go"
	"github.com/uber/jaeger-client-go/transport"

	"github.com/scrytrace/scry/model"
)

func attr(kvs []model.KeyValue, key string) (model.Value, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return model.Value{}, false
}

// TestJaegerClient sends a trace from jaeger-client-go through its HTTP
// sender, as an application configured with
// JAEGER_ENDPOINT=http://host:14268/api/traces does.
func TestJaegerClient(t *testing.T) {
	e := setup(t, options{})
	rep := jaegerclient.NewInMemoryReporter()
	tracer, closer := jaegerclient.NewTracer("checkout", jaegerclient.NewConstSampler(true), rep,
		jaegerclient.TracerOptions.Gen128Bit(true),
		jaegerclient.TracerOptions.Tag("deployment", "blue"))
	defer closer.Close()

	parent := tracer.StartSpan("GET /cart", ext.SpanKindRPCServer,
		opentracing.Tag{Key: "http.method", Value: "GET"},
		opentracing.Tag{Key: "http.status_code", Value: 500},
		opentracing.Tag{Key: "load", Value: 0.75},
		opentracing.Tag{Key: "cache.hit", Value: false})
	child := tracer.StartSpan("SELECT cart", opentracing.ChildOf(parent.Context()), ext.SpanKindRPCClient)
	child.LogFields(otlog.String("event", "retry"), otlog.Int("attempt", 2))
	ext.Error.Set(child, true)
	child.Finish()
	parent.Finish()

	// The HTTP sender of jaeger-client-go, as its RemoteReporter uses it;
	// driven directly so that Flush returns the server's answer.
	tr := transport.NewHTTPTransport(e.URL)
	for _, s := range rep.GetSpans() {
		if _, err := tr.Append(s.(*jaegerclient.Span)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := tr.Flush(); err != nil || n != 2 {
		t.Fatalf("flush: %d spans, %v", n, err)
	}

	// Acknowledged means stored.
	pc := parent.Context().(jaegerclient.SpanContext)
	cc := child.Context().(jaegerclient.SpanContext)
	var tid model.TraceID
	binary.BigEndian.PutUint64(tid[:8], pc.TraceID().High)
	binary.BigEndian.PutUint64(tid[8:], pc.TraceID().Low)
	if pc.TraceID().High == 0 {
		t.Fatal("not a 128-bit trace ID")
	}
	spans, err := e.Store.GetTrace(t.Context(), tid, storageHint)
	if err != nil {
		t.Fatalf("trace %s: %v", tid, err)
	}
	if len(spans) != 2 {
		t.Fatalf("stored %d spans, want 2", len(spans))
	}
	var ps, cs *model.Span
	for _, s := range spans {
		switch binary.BigEndian.Uint64(s.SpanID[:]) {
		case uint64(pc.SpanID()):
			ps = s
		case uint64(cc.SpanID()):
			cs = s
		}
	}
	if ps == nil || cs == nil {
		t.Fatalf("stored span IDs %s, %s; want %s, %s", spans[0].SpanID, spans[1].SpanID, pc.SpanID(), cc.SpanID())
	}
	for _, s := range spans {
		if s.ServiceName() != "checkout" {
			t.Errorf("%s: service %q", s.Name, s.ServiceName())
		}
		if v, ok := attr(s.Resource.Attributes, "deployment"); !ok || v.Str != "blue" {
			t.Errorf("%s: resource deployment %v", s.Name, v)
		}
		if v, ok := attr(s.Resource.Attributes, "jaeger.version"); !ok || v.Str == "" {
			t.Errorf("%s: resource jaeger.version %v", s.Name, v)
		}
		if s.StartTime == 0 || s.EndTime < s.StartTime {
			t.Errorf("%s: times %d..%d", s.Name, s.StartTime, s.EndTime)
		}
	}
	if ps.Name != "GET /cart" || ps.Kind != model.SpanKindServer || !ps.ParentSpanID.IsZero() {
		t.Errorf("parent: name %q kind %v parent %s", ps.Name, ps.Kind, ps.ParentSpanID)
	}
	for k, want := range map[string]model.Value{
		"http.method":      model.StringValue("GET"),
		"http.status_code": model.IntValue(500),
		"load":             model.DoubleValue(0.75),
		"cache.hit":        model.BoolValue(false),
	} {
		if got, ok := attr(ps.Attributes, k); !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("parent tag %s = %#v, want %#v", k, got, want)
		}
	}
	if _, ok := attr(ps.Attributes, "span.kind"); ok {
		t.Error("span.kind kept as a tag; it is the kind")
	}
	if cs.Name != "SELECT cart" || cs.Kind != model.SpanKindClient || cs.ParentSpanID != ps.SpanID {
		t.Errorf("child: name %q kind %v parent %s (want %s)", cs.Name, cs.Kind, cs.ParentSpanID, ps.SpanID)
	}
	if cs.Status.Code != model.StatusError {
		t.Errorf("child status %+v, want error", cs.Status)
	}
	if len(cs.Events) != 1 || cs.Events[0].Name != "retry" || cs.Events[0].Time < cs.StartTime {
		t.Fatalf("child events %+v", cs.Events)
	}
	if v, ok := attr(cs.Events[0].Attributes, "attempt"); !ok || !reflect.DeepEqual(v, model.IntValue(2)) {
		t.Errorf("event attribute attempt = %#v", v)
	}
}
