package jaegerthrift

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"

	"github.com/scrytrace/scry/model"
)

// Helpers to build Jaeger tags tersely.

func strTag(k, v string) *jaeger.Tag {
	return &jaeger.Tag{Key: k, VType: jaeger.TagType_STRING, VStr: &v}
}
func boolTag(k string, v bool) *jaeger.Tag {
	return &jaeger.Tag{Key: k, VType: jaeger.TagType_BOOL, VBool: &v}
}
func longTag(k string, v int64) *jaeger.Tag {
	return &jaeger.Tag{Key: k, VType: jaeger.TagType_LONG, VLong: &v}
}
func doubleTag(k string, v float64) *jaeger.Tag {
	return &jaeger.Tag{Key: k, VType: jaeger.TagType_DOUBLE, VDouble: &v}
}
func binTag(k string, v []byte) *jaeger.Tag {
	return &jaeger.Tag{Key: k, VType: jaeger.TagType_BINARY, VBinary: v}
}

func kv(k string, v model.Value) model.KeyValue { return model.KeyValue{Key: k, Value: v} }

// baseSpan is a valid span: trace 0x0102...:0x0a0b..., span 0x11, 1 s long.
func baseSpan() *jaeger.Span {
	return &jaeger.Span{
		TraceIdHigh:   0x0102030405060708,
		TraceIdLow:    0x090a0b0c0d0e0f10,
		SpanId:        0x11,
		OperationName: "op",
		Flags:         1,
		StartTime:     1_700_000_000_000_000,
		Duration:      1_000_000,
	}
}

var baseTrace = model.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

func sid(b byte) model.SpanID { return model.SpanID{7: b} }

func convertOne(t *testing.T, js *jaeger.Span) *model.Span {
	t.Helper()
	spans, rejected := SpansFromBatch(&jaeger.Batch{Process: &jaeger.Process{ServiceName: "svc"}, Spans: []*jaeger.Span{js}})
	if len(rejected) != 0 || len(spans) != 1 {
		t.Fatalf("got %d spans, rejected %v; want 1 span", len(spans), rejected)
	}
	return spans[0]
}

func TestSpanFields(t *testing.T) {
	s := convertOne(t, baseSpan())
	if s.TraceID != baseTrace {
		t.Errorf("trace id %s", s.TraceID)
	}
	if s.SpanID != sid(0x11) || !s.ParentSpanID.IsZero() {
		t.Errorf("span id %s parent %s", s.SpanID, s.ParentSpanID)
	}
	if s.Name != "op" || s.Flags != 1 {
		t.Errorf("name %q flags %d", s.Name, s.Flags)
	}
	if s.StartTime != 1_700_000_000_000_000_000 || s.EndTime != 1_700_000_001_000_000_000 {
		t.Errorf("times %d..%d", s.StartTime, s.EndTime)
	}
	if s.Kind != model.SpanKindUnspecified || s.Status != (model.Status{}) || s.Attributes != nil || s.Events != nil || s.Links != nil {
		t.Errorf("unexpected fields: %+v", s)
	}
	if s.Scope == nil || !reflect.DeepEqual(*s.Scope, model.Scope{}) {
		t.Errorf("scope %+v, want empty", s.Scope)
	}

	// 64-bit trace IDs are zero-padded on the left.
	js := baseSpan()
	js.TraceIdHigh = 0
	js.TraceIdLow = -1
	js.ParentSpanId = 0x22
	s = convertOne(t, js)
	if got := s.TraceID.String(); got != "0000000000000000ffffffffffffffff" {
		t.Errorf("64-bit trace id %s", got)
	}
	if s.ParentSpanID != sid(0x22) {
		t.Errorf("parent %s", s.ParentSpanID)
	}
}

func TestTimes(t *testing.T) {
	for _, tc := range []struct {
		name             string
		start, dur       int64
		wantStart, wantE uint64
		warn             bool
	}{
		{"zero", 0, 0, 0, 0, false},
		{"negative duration", 10, -3, 10_000, 7_000, false},
		{"negative duration past zero", 1, -5, 1_000, 0, false},
		{"negative start", -5, 1, 0, 1_000, true},
		{"huge start saturates", math.MaxInt64, math.MaxInt64, math.MaxUint64, math.MaxUint64, false},
		{"min duration", 5, math.MinInt64, 5_000, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js := baseSpan()
			js.StartTime, js.Duration = tc.start, tc.dur
			s := convertOne(t, js)
			if s.StartTime != tc.wantStart || s.EndTime != tc.wantE {
				t.Errorf("times %d..%d, want %d..%d", s.StartTime, s.EndTime, tc.wantStart, tc.wantE)
			}
			if (len(s.Warnings) > 0) != tc.warn {
				t.Errorf("warnings %q", s.Warnings)
			}
		})
	}
}

func TestResource(t *testing.T) {
	batch := &jaeger.Batch{
		Process: &jaeger.Process{ServiceName: "frontend", Tags: []*jaeger.Tag{
			strTag("hostname", "h1"), longTag("pid", 42), boolTag("b", true), doubleTag("d", 1.5), binTag("bin", []byte{1, 2}),
		}},
		Spans: []*jaeger.Span{baseSpan(), baseSpan()},
	}
	spans, rej := SpansFromBatch(batch)
	if len(rej) != 0 || len(spans) != 2 {
		t.Fatalf("%d spans, rejected %v", len(spans), rej)
	}
	want := &model.Resource{Attributes: []model.KeyValue{
		kv("service.name", model.StringValue("frontend")),
		kv("hostname", model.StringValue("h1")),
		kv("pid", model.IntValue(42)),
		kv("b", model.BoolValue(true)),
		kv("d", model.DoubleValue(1.5)),
		kv("bin", model.BytesValue([]byte{1, 2})),
	}}
	if !reflect.DeepEqual(spans[0].Resource, want) {
		t.Errorf("resource\n got %+v\nwant %+v", spans[0].Resource, want)
	}
	if spans[0].Resource != spans[1].Resource || spans[0].Scope != spans[1].Scope {
		t.Error("spans of one batch do not share their resource and scope")
	}
	// The result does not alias the batch's bytes.
	batch.Process.Tags[4].VBinary[0] = 9
	if spans[0].Resource.Attributes[5].Value.Bytes[0] != 1 {
		t.Error("bytes value aliases the batch")
	}

	// An empty service name gives no service.name; the store names it.
	spans, _ = SpansFromBatch(&jaeger.Batch{Process: &jaeger.Process{}, Spans: []*jaeger.Span{baseSpan()}})
	if len(spans[0].Resource.Attributes) != 0 || spans[0].ServiceName() != model.UnknownService {
		t.Errorf("empty process: %+v", spans[0].Resource)
	}
	spans, _ = SpansFromBatch(&jaeger.Batch{Spans: []*jaeger.Span{baseSpan()}})
	if spans[0].Resource == nil {
		t.Error("nil process: nil resource")
	}
}

func TestTags(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tags      []*jaeger.Tag
		wantAttrs []model.KeyValue
		kind      model.SpanKind
		status    model.Status
		scope     model.Scope
		state     string
	}{
		{
			name: "typed",
			tags: []*jaeger.Tag{strTag("s", "x"), boolTag("b", false), longTag("l", math.MinInt64), doubleTag("d", -0.5), binTag("bin", []byte{0xff}),
				{Key: "unknown.type", VType: 99}, {Key: "nil.str", VType: jaeger.TagType_STRING}},
			wantAttrs: []model.KeyValue{kv("s", model.StringValue("x")), kv("b", model.BoolValue(false)), kv("l", model.IntValue(math.MinInt64)),
				kv("d", model.DoubleValue(-0.5)), kv("bin", model.BytesValue([]byte{0xff})), kv("unknown.type", model.Value{}), kv("nil.str", model.StringValue(""))},
		},
		{name: "kind server", tags: []*jaeger.Tag{strTag("a", "1"), strTag("span.kind", "server")}, wantAttrs: []model.KeyValue{kv("a", model.StringValue("1"))}, kind: model.SpanKindServer},
		{name: "kind client", tags: []*jaeger.Tag{strTag("span.kind", "client")}, kind: model.SpanKindClient},
		{name: "kind producer", tags: []*jaeger.Tag{strTag("span.kind", "producer")}, kind: model.SpanKindProducer},
		{name: "kind consumer", tags: []*jaeger.Tag{strTag("span.kind", "consumer")}, kind: model.SpanKindConsumer},
		{name: "kind internal", tags: []*jaeger.Tag{strTag("span.kind", "internal")}, kind: model.SpanKindInternal},
		{name: "kind unknown stays", tags: []*jaeger.Tag{strTag("span.kind", "rpc")}, wantAttrs: []model.KeyValue{kv("span.kind", model.StringValue("rpc"))}},
		{name: "kind not a string stays", tags: []*jaeger.Tag{longTag("span.kind", 2)}, wantAttrs: []model.KeyValue{kv("span.kind", model.IntValue(2))}},
		{name: "second kind stays", tags: []*jaeger.Tag{strTag("span.kind", "client"), strTag("span.kind", "server")},
			wantAttrs: []model.KeyValue{kv("span.kind", model.StringValue("server"))}, kind: model.SpanKindClient},
		{name: "error bool", tags: []*jaeger.Tag{boolTag("error", true)}, status: model.Status{Code: model.StatusError}},
		{name: "error string", tags: []*jaeger.Tag{strTag("error", "true")}, status: model.Status{Code: model.StatusError}},
		{name: "error false stays", tags: []*jaeger.Tag{boolTag("error", false)}, wantAttrs: []model.KeyValue{kv("error", model.BoolValue(false))}},
		{name: "error other string stays", tags: []*jaeger.Tag{strTag("error", "boom")}, wantAttrs: []model.KeyValue{kv("error", model.StringValue("boom"))}},
		{
			name:   "otel status error",
			tags:   []*jaeger.Tag{boolTag("error", true), strTag("otel.status_code", "ERROR"), strTag("otel.status_description", "bad thing")},
			status: model.Status{Code: model.StatusError, Message: "bad thing"},
		},
		{name: "otel status ok", tags: []*jaeger.Tag{strTag("otel.status_code", "OK")}, status: model.Status{Code: model.StatusOK}},
		{
			name:      "otel status ok overrides error, which stays",
			tags:      []*jaeger.Tag{strTag("otel.status_code", "OK"), boolTag("error", true)},
			wantAttrs: []model.KeyValue{kv("error", model.BoolValue(true))},
			status:    model.Status{Code: model.StatusOK},
		},
		{
			name:      "description without error stays",
			tags:      []*jaeger.Tag{strTag("otel.status_description", "fine")},
			wantAttrs: []model.KeyValue{kv("otel.status_description", model.StringValue("fine"))},
		},
		{
			name:      "bad status code stays",
			tags:      []*jaeger.Tag{strTag("otel.status_code", "MAYBE")},
			wantAttrs: []model.KeyValue{kv("otel.status_code", model.StringValue("MAYBE"))},
		},
		{
			name:  "scope",
			tags:  []*jaeger.Tag{strTag("otel.scope.name", "lib"), strTag("otel.scope.version", "1.2")},
			scope: model.Scope{Name: "lib", Version: "1.2"},
		},
		{
			name:  "library",
			tags:  []*jaeger.Tag{strTag("otel.library.name", "old"), strTag("otel.library.version", "0.1")},
			scope: model.Scope{Name: "old", Version: "0.1"},
		},
		{
			name:      "scope wins over library",
			tags:      []*jaeger.Tag{strTag("otel.library.name", "old"), strTag("otel.scope.name", "new")},
			wantAttrs: []model.KeyValue{kv("otel.library.name", model.StringValue("old"))},
			scope:     model.Scope{Name: "new"},
		},
		{name: "trace state", tags: []*jaeger.Tag{strTag("w3c.tracestate", "a=b")}, state: "a=b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js := baseSpan()
			js.Tags = tc.tags
			s := convertOne(t, js)
			if !reflect.DeepEqual(s.Attributes, tc.wantAttrs) {
				t.Errorf("attributes\n got %+v\nwant %+v", s.Attributes, tc.wantAttrs)
			}
			if s.Kind != tc.kind || s.Status != tc.status || !reflect.DeepEqual(*s.Scope, tc.scope) || s.TraceState != tc.state {
				t.Errorf("kind %v status %+v scope %+v state %q; want %v %+v %+v %q", s.Kind, s.Status, *s.Scope, s.TraceState, tc.kind, tc.status, tc.scope, tc.state)
			}
		})
	}
}

func TestScopesShared(t *testing.T) {
	a, b, c := baseSpan(), baseSpan(), baseSpan()
	a.Tags = []*jaeger.Tag{strTag("otel.scope.name", "x")}
	b.Tags = []*jaeger.Tag{strTag("otel.scope.name", "y")}
	c.Tags = []*jaeger.Tag{strTag("otel.scope.name", "x")}
	spans, _ := SpansFromBatch(&jaeger.Batch{Spans: []*jaeger.Span{a, b, c}})
	if spans[0].Scope != spans[2].Scope || spans[0].Scope == spans[1].Scope {
		t.Error("scopes are not shared per name and version")
	}
}

func TestLogs(t *testing.T) {
	js := baseSpan()
	js.Logs = []*jaeger.Log{
		{Timestamp: 1_700_000_000_500_000, Fields: []*jaeger.Tag{strTag("event", "retry"), longTag("attempt", 2)}},
		{Timestamp: 5, Fields: []*jaeger.Tag{longTag("event", 1), strTag("message", "m")}},
		{Timestamp: 6},
		nil,
	}
	s := convertOne(t, js)
	want := []model.Event{
		{Time: 1_700_000_000_500_000_000, Name: "retry", Attributes: []model.KeyValue{kv("attempt", model.IntValue(2))}},
		{Time: 5000, Attributes: []model.KeyValue{kv("event", model.IntValue(1)), kv("message", model.StringValue("m"))}},
		{Time: 6000},
	}
	if !reflect.DeepEqual(s.Events, want) {
		t.Errorf("events\n got %+v\nwant %+v", s.Events, want)
	}
}

func TestReferences(t *testing.T) {
	ref := func(typ jaeger.SpanRefType, high, low, span int64) *jaeger.SpanRef {
		return &jaeger.SpanRef{RefType: typ, TraceIdHigh: high, TraceIdLow: low, SpanId: span}
	}
	same := func(typ jaeger.SpanRefType, span int64) *jaeger.SpanRef {
		return ref(typ, 0x0102030405060708, 0x090a0b0c0d0e0f10, span)
	}
	link := func(trace model.TraceID, span byte, typ string) model.Link {
		l := model.Link{TraceID: trace, SpanID: sid(span)}
		if typ != "" {
			l.Attributes = []model.KeyValue{kv(RefTypeKey, model.StringValue(typ))}
		}
		return l
	}
	other := model.TraceID{15: 9}
	for _, tc := range []struct {
		name      string
		parent    int64
		refs      []*jaeger.SpanRef
		wantPar   byte
		wantLinks []model.Link
		warn      bool
	}{
		{name: "child of is parent", refs: []*jaeger.SpanRef{same(jaeger.SpanRefType_CHILD_OF, 0x22)}, wantPar: 0x22},
		{name: "parentSpanId wins", parent: 0x33, refs: []*jaeger.SpanRef{same(jaeger.SpanRefType_CHILD_OF, 0x22)}, wantPar: 0x33,
			wantLinks: []model.Link{link(baseTrace, 0x22, RefTypeChildOf)}},
		{name: "ref repeating parent dropped", parent: 0x22, refs: []*jaeger.SpanRef{same(jaeger.SpanRefType_CHILD_OF, 0x22)}, wantPar: 0x22},
		{name: "second child of is a link", refs: []*jaeger.SpanRef{same(jaeger.SpanRefType_CHILD_OF, 0x22), same(jaeger.SpanRefType_CHILD_OF, 0x44)}, wantPar: 0x22,
			wantLinks: []model.Link{link(baseTrace, 0x44, RefTypeChildOf)}},
		{name: "child of in another trace is a link", refs: []*jaeger.SpanRef{ref(jaeger.SpanRefType_CHILD_OF, 0, 9, 0x22)},
			wantLinks: []model.Link{link(other, 0x22, RefTypeChildOf)}},
		{name: "follows from is a link", refs: []*jaeger.SpanRef{same(jaeger.SpanRefType_FOLLOWS_FROM, 0x22)},
			wantLinks: []model.Link{link(baseTrace, 0x22, RefTypeFollowsFrom)}},
		{name: "unknown type is a link with a warning", refs: []*jaeger.SpanRef{same(7, 0x22), nil},
			wantLinks: []model.Link{link(baseTrace, 0x22, "")}, warn: true},
		{name: "zero ids are a link", refs: []*jaeger.SpanRef{ref(jaeger.SpanRefType_CHILD_OF, 0, 0, 0)},
			wantLinks: []model.Link{{Attributes: []model.KeyValue{kv(RefTypeKey, model.StringValue(RefTypeChildOf))}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js := baseSpan()
			js.ParentSpanId = tc.parent
			js.References = tc.refs
			s := convertOne(t, js)
			if s.ParentSpanID != sid(tc.wantPar) && !(tc.wantPar == 0 && s.ParentSpanID.IsZero()) {
				t.Errorf("parent %s, want %x", s.ParentSpanID, tc.wantPar)
			}
			if !reflect.DeepEqual(s.Links, tc.wantLinks) {
				t.Errorf("links\n got %+v\nwant %+v", s.Links, tc.wantLinks)
			}
			if (len(s.Warnings) > 0) != tc.warn {
				t.Errorf("warnings %q", s.Warnings)
			}
		})
	}
}

func TestRejectsZeroIDs(t *testing.T) {
	zeroTrace, zeroSpan := baseSpan(), baseSpan()
	zeroTrace.TraceIdHigh, zeroTrace.TraceIdLow, zeroTrace.OperationName = 0, 0, "no-trace"
	zeroSpan.SpanId, zeroSpan.OperationName = 0, "no-span"
	good := baseSpan()
	spans, rejected := SpansFromBatch(&jaeger.Batch{
		Process: &jaeger.Process{ServiceName: "svc"},
		Spans:   []*jaeger.Span{zeroTrace, good, nil, zeroSpan},
	})
	if len(spans) != 1 || spans[0].Name != "op" {
		t.Fatalf("kept %d spans, want the good one", len(spans))
	}
	if len(rejected) != 2 {
		t.Fatalf("rejected %v, want 2", rejected)
	}
	for i, name := range []string{"no-trace", "no-span"} {
		err := rejected[i]
		if !errors.Is(err, model.ErrInvalidID) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), `"svc"`) {
			t.Errorf("rejection %d: %v", i, err)
		}
	}
	if !strings.Contains(rejected[0].Error(), "trace id") || !strings.Contains(rejected[1].Error(), "span id is all zeros") {
		t.Errorf("rejections do not say which id: %v", rejected)
	}
	if s, r := SpansFromBatch(nil); s != nil || r != nil {
		t.Error("nil batch")
	}
}
