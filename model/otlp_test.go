package model

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Helpers to build OTLP values tersely.

func pbStr(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}
func pbInt(i int64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}}
}
func pbDouble(f float64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
}
func pbBool(b bool) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: b}}
}
func pbBytes(b []byte) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: b}}
}
func pbArray(vs ...*commonpb.AnyValue) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: vs}}}
}
func pbMap(kvs ...*commonpb.KeyValue) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: kvs}}}
}
func pbKV(k string, v *commonpb.AnyValue) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: v}
}

func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// allTypesAttrs has every value type, nested arrays and maps, bytes, negative
// and extreme ints, NaN and infinities, and an empty value.
func allTypesAttrs() []*commonpb.KeyValue {
	return []*commonpb.KeyValue{
		pbKV("str", pbStr("hello \"world\"")),
		pbKV("empty.str", pbStr("")),
		pbKV("bool.t", pbBool(true)),
		pbKV("bool.f", pbBool(false)),
		pbKV("int.neg", pbInt(-42)),
		pbKV("int.min", pbInt(math.MinInt64)),
		pbKV("int.max", pbInt(math.MaxInt64)),
		pbKV("double", pbDouble(-1.5e-7)),
		pbKV("double.nan", pbDouble(math.NaN())),
		pbKV("double.inf", pbDouble(math.Inf(-1))),
		pbKV("bytes", pbBytes([]byte{0, 1, 0xfe, 0xff})),
		pbKV("bytes.empty", pbBytes([]byte{})),
		pbKV("array", pbArray(pbStr("a"), pbInt(1), pbArray(pbBool(true), pbArray()), pbMap(pbKV("k", pbDouble(2))))),
		pbKV("map", pbMap(
			pbKV("nested", pbMap(pbKV("deep", pbArray(pbBytes([]byte("x")), pbInt(-7))))),
			pbKV("empty.map", pbMap()),
			pbKV("none", &commonpb.AnyValue{}),
		)),
		pbKV("none", &commonpb.AnyValue{}),
	}
}

// fullOTLP is a batch with every OTLP field set, two resources, three scopes.
func fullOTLP() []*tracepb.ResourceSpans {
	span := func(id byte, name string) *tracepb.Span {
		return &tracepb.Span{
			TraceId:                seq(0x10, 16),
			SpanId:                 seq(id, 8),
			TraceState:             "vendor=a,other=b",
			ParentSpanId:           seq(0xa0, 8),
			Flags:                  0x301,
			Name:                   name,
			Kind:                   tracepb.Span_SPAN_KIND_CLIENT,
			StartTimeUnixNano:      1_700_000_000_123_456_789,
			EndTimeUnixNano:        1_700_000_000_223_456_789,
			Attributes:             allTypesAttrs(),
			DroppedAttributesCount: 3,
			Events: []*tracepb.Span_Event{
				{TimeUnixNano: 1_700_000_000_150_000_000, Name: "retry", Attributes: allTypesAttrs(), DroppedAttributesCount: 1},
				{TimeUnixNano: 1_700_000_000_160_000_000, Name: ""},
			},
			DroppedEventsCount: 4,
			Links: []*tracepb.Span_Link{
				{TraceId: seq(0x30, 16), SpanId: seq(0x40, 8), TraceState: "l=1", Attributes: allTypesAttrs(), DroppedAttributesCount: 2, Flags: 0x101},
				{TraceId: make([]byte, 16), SpanId: make([]byte, 8), Attributes: []*commonpb.KeyValue{pbKV("invalid.ctx", pbBool(true))}},
			},
			DroppedLinksCount: 5,
			Status:            &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "boom"},
		}
	}
	return []*tracepb.ResourceSpans{
		{
			Resource: &resourcepb.Resource{
				Attributes:             append([]*commonpb.KeyValue{pbKV("service.name", pbStr("frontend"))}, allTypesAttrs()...),
				DroppedAttributesCount: 7,
			},
			SchemaUrl: "https://opentelemetry.io/schemas/1.21.0",
			ScopeSpans: []*tracepb.ScopeSpans{
				{
					Scope: &commonpb.InstrumentationScope{
						Name: "io.opentelemetry.http", Version: "1.2.3",
						Attributes:             []*commonpb.KeyValue{pbKV("scope.attr", pbInt(1))},
						DroppedAttributesCount: 8,
					},
					SchemaUrl: "https://opentelemetry.io/schemas/1.24.0",
					Spans:     []*tracepb.Span{span(1, "GET /a"), span(2, "GET /b")},
				},
				{
					Scope: &commonpb.InstrumentationScope{Name: "db"},
					Spans: []*tracepb.Span{span(3, "SELECT")},
				},
			},
		},
		{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{pbKV("service.name", pbStr("backend"))}},
			ScopeSpans: []*tracepb.ScopeSpans{
				{Scope: &commonpb.InstrumentationScope{}, Spans: []*tracepb.Span{span(4, "handle")}},
			},
		},
	}
}

func TestOTLPRoundTripEveryField(t *testing.T) {
	in := fullOTLP()
	spans, rejected := SpansFromOTLP(in)
	if len(rejected) != 0 {
		t.Fatalf("rejected: %v", rejected)
	}
	if len(spans) != 4 {
		t.Fatalf("got %d spans, want 4", len(spans))
	}
	out := SpansToOTLP(spans)
	if !proto.Equal(&tracepb.TracesData{ResourceSpans: in}, &tracepb.TracesData{ResourceSpans: out}) {
		t.Fatalf("round trip differs:\n in: %v\nout: %v", in, out)
	}
	// The wire form too (proto.Equal treats NaN as equal to NaN; the bytes
	// show that the NaN payload and -Inf survive exactly).
	a, _ := proto.MarshalOptions{Deterministic: true}.Marshal(&tracepb.TracesData{ResourceSpans: in})
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(&tracepb.TracesData{ResourceSpans: out})
	if !bytes.Equal(a, b) {
		t.Fatal("round trip changes the wire bytes")
	}
}

func TestSpansFromOTLPFields(t *testing.T) {
	spans, _ := SpansFromOTLP(fullOTLP())
	s := spans[0]
	if s.Resource != spans[1].Resource || s.Resource != spans[2].Resource || s.Resource == spans[3].Resource {
		t.Error("spans of one ResourceSpans must share one *Resource, and only they")
	}
	if s.Scope != spans[1].Scope || s.Scope == spans[2].Scope {
		t.Error("spans of one ScopeSpans must share one *Scope, and only they")
	}
	if got := s.Resource; got.SchemaURL != "https://opentelemetry.io/schemas/1.21.0" || got.DroppedAttributesCount != 7 || got.ServiceName() != "frontend" {
		t.Errorf("resource = %+v", got)
	}
	if got := s.Scope; got.Name != "io.opentelemetry.http" || got.Version != "1.2.3" || got.SchemaURL != "https://opentelemetry.io/schemas/1.24.0" ||
		got.DroppedAttributesCount != 8 || !reflect.DeepEqual(got.Attributes, []KeyValue{{Key: "scope.attr", Value: IntValue(1)}}) {
		t.Errorf("scope = %+v", got)
	}
	if s.TraceID != TraceID(seq(0x10, 16)) || s.SpanID != SpanID(seq(1, 8)) || s.ParentSpanID != SpanID(seq(0xa0, 8)) {
		t.Errorf("ids = %s %s %s", s.TraceID, s.SpanID, s.ParentSpanID)
	}
	if s.TraceState != "vendor=a,other=b" || s.Flags != 0x301 || s.Name != "GET /a" || s.Kind != SpanKindClient ||
		s.StartTime != 1_700_000_000_123_456_789 || s.EndTime != 1_700_000_000_223_456_789 ||
		s.DroppedAttributesCount != 3 || s.DroppedEventsCount != 4 || s.DroppedLinksCount != 5 ||
		s.Status != (Status{Code: StatusError, Message: "boom"}) {
		t.Errorf("span fields = %+v", s)
	}
	if len(s.Events) != 2 || s.Events[0].Name != "retry" || s.Events[0].Time != 1_700_000_000_150_000_000 ||
		s.Events[0].DroppedAttributesCount != 1 || len(s.Events[0].Attributes) != len(allTypesAttrs()) {
		t.Errorf("events = %+v", s.Events)
	}
	l := s.Links[0]
	if l.TraceID != TraceID(seq(0x30, 16)) || l.SpanID != SpanID(seq(0x40, 8)) || l.TraceState != "l=1" ||
		l.DroppedAttributesCount != 2 || l.Flags != 0x101 || len(l.Attributes) != len(allTypesAttrs()) {
		t.Errorf("link = %+v", l)
	}
	if !s.Links[1].TraceID.IsZero() || !s.Links[1].SpanID.IsZero() {
		t.Errorf("link to an invalid span context = %+v", s.Links[1])
	}

	attr := func(key string) Value {
		for _, kv := range s.Attributes {
			if kv.Key == key {
				return kv.Value
			}
		}
		t.Fatalf("no attribute %q", key)
		return Value{}
	}
	if v := attr("str"); v.Type != ValueString || v.Str != "hello \"world\"" {
		t.Errorf("str = %+v", v)
	}
	if v := attr("int.min"); v.Type != ValueInt || v.Int != math.MinInt64 {
		t.Errorf("int.min = %+v", v)
	}
	if v := attr("double.nan"); v.Type != ValueDouble || !math.IsNaN(v.Double) {
		t.Errorf("double.nan = %+v", v)
	}
	if v := attr("double.inf"); v.Type != ValueDouble || !math.IsInf(v.Double, -1) {
		t.Errorf("double.inf = %+v", v)
	}
	if v := attr("bytes"); v.Type != ValueBytes || !bytes.Equal(v.Bytes, []byte{0, 1, 0xfe, 0xff}) {
		t.Errorf("bytes = %+v", v)
	}
	if v := attr("bytes.empty"); v.Type != ValueBytes || len(v.Bytes) != 0 {
		t.Errorf("bytes.empty = %+v", v)
	}
	if v := attr("none"); v.Type != ValueEmpty {
		t.Errorf("none = %+v", v)
	}
	if got, want := attr("array").String(), `["a",1,[true,[]],{"k":2}]`; got != want {
		t.Errorf("array = %s, want %s", got, want)
	}
	if got, want := attr("map").String(), `{"nested":{"deep":["eA==",-7]},"empty.map":{},"none":null}`; got != want {
		t.Errorf("map = %s, want %s", got, want)
	}
}

func TestSpansFromOTLPDoesNotAlias(t *testing.T) {
	in := fullOTLP()
	spans, _ := SpansFromOTLP(in)
	// Mutating the input afterwards must not change the spans.
	in[0].ScopeSpans[0].Spans[0].Attributes[10].Value.GetValue().(*commonpb.AnyValue_BytesValue).BytesValue[0] = 99
	in[0].ScopeSpans[0].Spans[0].TraceId[0] = 99
	for _, kv := range spans[0].Attributes {
		if kv.Key == "bytes" && kv.Value.Bytes[0] != 0 {
			t.Error("bytes value aliases the input")
		}
	}
	if spans[0].TraceID[0] != 0x10 {
		t.Error("trace id aliases the input")
	}
	// Appending to one span's slices must not overwrite the next span's.
	next := spans[1].Attributes[0]
	spans[0].Attributes = append(spans[0].Attributes, KeyValue{Key: "added"})
	spans[0].Events = append(spans[0].Events, Event{Name: "added"})
	spans[0].Links = append(spans[0].Links, Link{TraceState: "added"})
	if spans[1].Attributes[0].Key != next.Key || spans[1].Events[0].Name != "retry" || spans[1].Links[0].TraceState != "l=1" {
		t.Error("appending to a span's slices overwrote another span")
	}
	// And the output of SpansToOTLP does not alias the spans.
	out := SpansToOTLP(spans)
	out[0].ScopeSpans[0].Spans[0].TraceId[0] = 77
	if spans[0].TraceID[0] != 0x10 {
		t.Error("SpansToOTLP trace id aliases the span")
	}
}

func TestSpansFromOTLPMissingMessages(t *testing.T) {
	in := []*tracepb.ResourceSpans{
		{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{TraceId: seq(1, 16), SpanId: seq(1, 8), Name: "bare"}}}}},
		nil,
		{ScopeSpans: []*tracepb.ScopeSpans{nil}},
	}
	spans, rejected := SpansFromOTLP(in)
	if len(rejected) != 0 || len(spans) != 1 {
		t.Fatalf("spans=%d rejected=%v", len(spans), rejected)
	}
	s := spans[0]
	if s.Resource == nil || s.Scope == nil {
		t.Fatal("nil resource or scope")
	}
	if s.ServiceName() != UnknownService || s.Status != (Status{}) || !s.ParentSpanID.IsZero() {
		t.Errorf("span = %+v", s)
	}
	// Missing resource, scope and status come back as empty messages.
	out := SpansToOTLP(spans)
	want := []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{},
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{},
			Spans: []*tracepb.Span{{TraceId: seq(1, 16), SpanId: seq(1, 8), Name: "bare", Status: &tracepb.Status{}}},
		}},
	}}
	if !proto.Equal(&tracepb.TracesData{ResourceSpans: want}, &tracepb.TracesData{ResourceSpans: out}) {
		t.Errorf("got %v", out)
	}
	if spans, rejected := SpansFromOTLP(nil); spans != nil || rejected != nil {
		t.Errorf("empty input gave %v, %v", spans, rejected)
	}
}

func TestSpansFromOTLP8ByteTraceIDPadded(t *testing.T) {
	in := []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
		TraceId: seq(0x81, 8), SpanId: seq(1, 8), Name: "jaeger64",
		Links: []*tracepb.Span_Link{{TraceId: seq(0x91, 8), SpanId: seq(2, 8)}},
	}}}}}}
	spans, rejected := SpansFromOTLP(in)
	if len(rejected) != 0 {
		t.Fatal(rejected)
	}
	want, _ := ParseTraceID("8182838485868788")
	if spans[0].TraceID != want || spans[0].TraceID.String() != "00000000000000008182838485868788" {
		t.Errorf("trace id = %s", spans[0].TraceID)
	}
	if got := spans[0].Links[0].TraceID.String(); got != "00000000000000009192939495969798" {
		t.Errorf("link trace id = %s", got)
	}
	// Not an exact round trip: OTLP requires 16 bytes, so the ID comes back padded.
	out := SpansToOTLP(spans)[0].ScopeSpans[0].Spans[0]
	if !bytes.Equal(out.TraceId, append(make([]byte, 8), seq(0x81, 8)...)) {
		t.Errorf("trace id back = %x", out.TraceId)
	}
	if !bytes.Equal(out.Links[0].TraceId, append(make([]byte, 8), seq(0x91, 8)...)) {
		t.Errorf("link trace id back = %x", out.Links[0].TraceId)
	}
}

func TestSpansFromOTLPRejectsBadIDs(t *testing.T) {
	good := func(name string) *tracepb.Span {
		return &tracepb.Span{TraceId: seq(1, 16), SpanId: seq(1, 8), Name: name}
	}
	tests := []struct {
		name   string
		mutate func(*tracepb.Span)
		want   string // in the error text
	}{
		{"short trace id", func(s *tracepb.Span) { s.TraceId = seq(1, 15) }, "trace id has 15 bytes"},
		{"long trace id", func(s *tracepb.Span) { s.TraceId = seq(1, 17) }, "trace id has 17 bytes"},
		{"empty trace id", func(s *tracepb.Span) { s.TraceId = nil }, "trace id has 0 bytes"},
		{"zero trace id", func(s *tracepb.Span) { s.TraceId = make([]byte, 16) }, "trace id is all zeros"},
		{"zero 8-byte trace id", func(s *tracepb.Span) { s.TraceId = make([]byte, 8) }, "trace id is all zeros"},
		{"short span id", func(s *tracepb.Span) { s.SpanId = seq(1, 4) }, "span id has 4 bytes"},
		{"empty span id", func(s *tracepb.Span) { s.SpanId = nil }, "span id has 0 bytes"},
		{"zero span id", func(s *tracepb.Span) { s.SpanId = make([]byte, 8) }, "span id is all zeros"},
		{"bad parent", func(s *tracepb.Span) { s.ParentSpanId = seq(1, 16) }, "parent span id has 16 bytes"},
		{"bad link trace id", func(s *tracepb.Span) {
			s.Links = []*tracepb.Span_Link{{TraceId: seq(1, 16), SpanId: seq(1, 8)}, {TraceId: seq(1, 3), SpanId: seq(1, 8)}}
		}, "link 1: invalid id: trace id has 3 bytes"},
		{"bad link span id", func(s *tracepb.Span) {
			s.Links = []*tracepb.Span_Link{{TraceId: seq(1, 16), SpanId: seq(1, 9)}}
		}, "link 0: invalid id: span id has 9 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := good("bad-one")
			bad.Attributes = allTypesAttrs()
			tt.mutate(bad)
			in := []*tracepb.ResourceSpans{{
				Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{pbKV("service.name", pbStr("svc"))}},
				ScopeSpans: []*tracepb.ScopeSpans{
					{Spans: []*tracepb.Span{good("before"), bad, good("after")}},
					{Spans: []*tracepb.Span{good("other scope")}},
				},
			}}
			spans, rejected := SpansFromOTLP(in)
			var names []string
			for _, s := range spans {
				names = append(names, s.Name)
			}
			if !reflect.DeepEqual(names, []string{"before", "after", "other scope"}) {
				t.Errorf("kept %q", names)
			}
			if len(rejected) != 1 {
				t.Fatalf("rejected = %v", rejected)
			}
			err := rejected[0]
			if !errors.Is(err, ErrInvalidID) {
				t.Errorf("%v does not wrap ErrInvalidID", err)
			}
			for _, want := range []string{`"bad-one"`, `"svc"`, tt.want} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestSpansFromOTLPAcceptsIDVariants(t *testing.T) {
	s := &tracepb.Span{
		TraceId: seq(1, 16), SpanId: seq(1, 8),
		ParentSpanId: make([]byte, 8), // all-zero parent: a root span
		Links: []*tracepb.Span_Link{
			{},                                      // empty IDs: an invalid span context
			{TraceId: seq(5, 8), SpanId: seq(5, 8)}, // 64-bit trace ID
		},
	}
	spans, rejected := SpansFromOTLP([]*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{s}}}}})
	if len(rejected) != 0 || len(spans) != 1 {
		t.Fatalf("rejected = %v", rejected)
	}
	if !spans[0].ParentSpanID.IsZero() || !spans[0].Links[0].TraceID.IsZero() || spans[0].Links[1].TraceID[8] != 5 {
		t.Errorf("span = %+v", spans[0])
	}
}

func TestSpansToOTLPGrouping(t *testing.T) {
	r1 := &Resource{Attributes: []KeyValue{{Key: "service.name", Value: StringValue("a")}}}
	r2 := &Resource{Attributes: []KeyValue{{Key: "service.name", Value: StringValue("b")}}}
	s1, s2 := &Scope{Name: "s1"}, &Scope{Name: "s2"}
	mk := func(r *Resource, sc *Scope, id byte) *Span {
		return &Span{Resource: r, Scope: sc, TraceID: TraceID{1}, SpanID: SpanID{id}, Name: string('a' + rune(id))}
	}
	spans := []*Span{
		mk(r2, s2, 1), mk(r1, s1, 2), mk(r2, s1, 3), nil, mk(r2, s2, 4), mk(r1, s1, 5), mk(nil, nil, 6), mk(r1, s2, 7),
	}
	spans[0].Warnings = []string{"not OTLP"}
	out := SpansToOTLP(spans)
	var got []string
	for _, rs := range out {
		var line strings.Builder
		line.WriteString(serviceOf(rs) + ":")
		for _, ss := range rs.ScopeSpans {
			line.WriteString(" " + ss.Scope.GetName() + "[")
			for _, sp := range ss.Spans {
				line.WriteString(sp.Name)
			}
			line.WriteString("]")
		}
		got = append(got, line.String())
	}
	want := []string{"b: s2[be] s1[d]", "a: s1[cf] s2[h]", ": [g]"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("groups = %q, want %q", got, want)
	}
	if len(out[2].Resource.GetAttributes()) != 0 || out[2].ScopeSpans[0].Scope == nil {
		t.Error("nil resource or scope must become empty messages")
	}
	if SpansToOTLP(nil) != nil || SpansToOTLP([]*Span{nil}) != nil {
		t.Error("no spans must give nil")
	}
}

func serviceOf(rs *tracepb.ResourceSpans) string {
	for _, kv := range rs.GetResource().GetAttributes() {
		if kv.Key == "service.name" {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

// TestModelRoundTrip goes the other way: model -> OTLP -> model.
func TestModelRoundTrip(t *testing.T) {
	res := &Resource{Attributes: []KeyValue{{Key: "service.name", Value: StringValue("svc")}}, DroppedAttributesCount: 1, SchemaURL: "r"}
	sc := &Scope{Name: "n", Version: "v", Attributes: []KeyValue{{Key: "k", Value: BoolValue(true)}}, DroppedAttributesCount: 2, SchemaURL: "s"}
	attrs := []KeyValue{
		{Key: "s", Value: StringValue("x")},
		{Key: "i", Value: IntValue(-1)},
		{Key: "d", Value: DoubleValue(math.Inf(1))},
		{Key: "b", Value: BytesValue([]byte{1, 2})},
		{Key: "a", Value: ArrayValue(IntValue(1), ArrayValue(StringValue("y")), MapValue())}, // nested
		{Key: "m", Value: MapValue(KeyValue{Key: "z", Value: ArrayValue()}, KeyValue{Key: "e"})},
		{Key: "e"},
	}
	in := []*Span{{
		Resource: res, Scope: sc,
		TraceID: TraceID{0: 1, 15: 2}, SpanID: SpanID{7: 3}, ParentSpanID: SpanID{0: 4}, TraceState: "t", Flags: 1,
		Name: "op", Kind: SpanKindProducer, StartTime: 10, EndTime: 20,
		Attributes: attrs, DroppedAttributesCount: 5,
		Events:             []Event{{Time: 15, Name: "ev", Attributes: attrs, DroppedAttributesCount: 6}},
		DroppedEventsCount: 7,
		Links:              []Link{{TraceID: TraceID{9: 9}, SpanID: SpanID{1: 1}, TraceState: "lt", Attributes: attrs, DroppedAttributesCount: 8, Flags: 0x300}},
		DroppedLinksCount:  9,
		Status:             Status{Code: StatusOK, Message: "fine"},
	}}
	back, rejected := SpansFromOTLP(SpansToOTLP(in))
	if len(rejected) != 0 {
		t.Fatal(rejected)
	}
	if !reflect.DeepEqual(back, in) {
		t.Errorf("model round trip differs:\n got %+v\nwant %+v", back[0], in[0])
	}
}

func TestValueConversions(t *testing.T) {
	tests := []struct {
		name string
		pb   *commonpb.AnyValue
		v    Value
	}{
		{"string", pbStr("s"), StringValue("s")},
		{"bool", pbBool(true), BoolValue(true)},
		{"int", pbInt(-3), IntValue(-3)},
		{"double", pbDouble(0.25), DoubleValue(0.25)},
		{"bytes", pbBytes([]byte{9}), BytesValue([]byte{9})},
		{"empty", &commonpb.AnyValue{}, Value{}},
		{"array", pbArray(pbInt(1), pbArray(pbStr("x"))), ArrayValue(IntValue(1), ArrayValue(StringValue("x")))},
		{"empty array", pbArray(), ArrayValue()},
		{"map", pbMap(pbKV("k", pbMap(pbKV("j", pbBool(false))))), MapValue(KeyValue{Key: "k", Value: MapValue(KeyValue{Key: "j", Value: BoolValue(false)})})},
		{"empty map", pbMap(), MapValue()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValueFromOTLP(tt.pb); !reflect.DeepEqual(got, tt.v) {
				t.Errorf("ValueFromOTLP = %+v, want %+v", got, tt.v)
			}
			if got := ValueToOTLP(tt.v); !proto.Equal(got, tt.pb) {
				t.Errorf("ValueToOTLP = %v, want %v", got, tt.pb)
			}
		})
	}
	if got := ValueFromOTLP(nil); got.Type != ValueEmpty {
		t.Errorf("nil = %+v", got)
	}
	strindex := &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValueStrindex{StringValueStrindex: 3}}
	if got := ValueFromOTLP(strindex); got.Type != ValueEmpty {
		t.Errorf("profiling string index = %+v, want empty", got)
	}
	if got := ValueToOTLP(Value{Type: 200}); got.GetValue() != nil {
		t.Errorf("unknown type = %v, want empty", got)
	}
	if got := ValueFromOTLP(pbDouble(math.NaN())); got.Type != ValueDouble || !math.IsNaN(got.Double) {
		t.Errorf("NaN = %+v", got)
	}
}
