package model

import (
	"errors"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// FuzzSpansFromOTLP feeds arbitrary bytes, decoded as an OTLP export, through
// every conversion: none may panic, and what comes out must be valid.
func FuzzSpansFromOTLP(f *testing.F) {
	full, err := proto.Marshal(&tracepb.TracesData{ResourceSpans: fullOTLP()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	f.Add([]byte{})
	bad, _ := proto.Marshal(&tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{
		Spans: []*tracepb.Span{{TraceId: seq(1, 3), SpanId: seq(1, 8)}, {TraceId: seq(1, 8), SpanId: seq(1, 8), ParentSpanId: []byte{1}}},
	}}}}})
	f.Add(bad)
	f.Fuzz(func(t *testing.T, data []byte) {
		var td tracepb.TracesData
		if proto.Unmarshal(data, &td) != nil {
			return
		}
		spans, rejected := SpansFromOTLP(td.ResourceSpans)
		for _, err := range rejected {
			if !errors.Is(err, ErrInvalidID) {
				t.Errorf("rejection %v does not wrap ErrInvalidID", err)
			}
		}
		for _, s := range spans {
			if s.Resource == nil || s.Scope == nil || s.ValidateIDs() != nil {
				t.Fatalf("bad span out: %+v", s)
			}
		}
		// Converting back and again must be stable.
		again, rej := SpansFromOTLP(SpansToOTLP(spans))
		if len(rej) != 0 || len(again) != len(spans) {
			t.Fatalf("second pass: %d spans, rejected %v; want %d", len(again), rej, len(spans))
		}
		_ = TraceToJaegerJSON(spans)
	})
}

// benchBatch is the reference workload: 500 spans, 10 per trace, ~10
// attributes per span, 8 services.
func benchBatch() []*tracepb.ResourceSpans {
	rss := make([]*tracepb.ResourceSpans, 8)
	for i := range rss {
		rss[i] = &tracepb.ResourceSpans{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
				pbKV("service.name", pbStr("svc-"+string(rune('a'+i)))), pbKV("host.name", pbStr("host")),
			}},
			ScopeSpans: []*tracepb.ScopeSpans{{Scope: &commonpb.InstrumentationScope{Name: "otelhttp", Version: "0.1"}}},
		}
	}
	for i := range 500 {
		ss := rss[i%8].ScopeSpans[0]
		tid := seq(byte(i/10+1), 16)
		sp := &tracepb.Span{
			TraceId: tid, SpanId: seq(byte(i+1), 8), ParentSpanId: seq(byte(i), 8), Name: "GET /api/items",
			Kind: tracepb.Span_SPAN_KIND_SERVER, StartTimeUnixNano: 1, EndTimeUnixNano: 2,
			Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK},
		}
		for j := range 10 {
			if j%3 == 0 {
				sp.Attributes = append(sp.Attributes, pbKV("attr.int", pbInt(int64(j))))
			} else {
				sp.Attributes = append(sp.Attributes, pbKV("attr.str", pbStr("value")))
			}
		}
		ss.Spans = append(ss.Spans, sp)
	}
	return rss
}

func BenchmarkSpansFromOTLP(b *testing.B) {
	rss := benchBatch()
	b.ReportAllocs()
	for b.Loop() {
		if spans, rej := SpansFromOTLP(rss); len(spans) != 500 || rej != nil {
			b.Fatal(len(spans), rej)
		}
	}
}

func BenchmarkSpansToOTLP(b *testing.B) {
	spans, _ := SpansFromOTLP(benchBatch())
	b.ReportAllocs()
	for b.Loop() {
		SpansToOTLP(spans)
	}
}
