package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// TestOTLPRoundTrip sends spans that use every OTLP field (trace state,
// flags, dropped counts, schema URLs, nested values, link attributes...)
// over OTLP/gRPC, OTLP/HTTP protobuf and OTLP/HTTP JSON, and checks that
// /api/v3 gives back exactly what was sent, once even when it was sent
// several times.
func TestOTLPRoundTrip(t *testing.T) {
	t.Parallel()
	s := startScry(t)
	client := s.traceClient(t)
	send := map[string]func(t *testing.T, req *coltracepb.ExportTraceServiceRequest){
		"grpc": func(t *testing.T, req *coltracepb.ExportTraceServiceRequest) {
			s.exportOK(t, client, req.ResourceSpans...)
		},
		"http-protobuf": func(t *testing.T, req *coltracepb.ExportTraceServiceRequest) {
			body, err := proto.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			postOK(t, s, "application/x-protobuf", body)
		},
		"http-json": func(t *testing.T, req *coltracepb.ExportTraceServiceRequest) {
			postOK(t, s, "application/json", otlpJSONHexIDs(t, req))
		},
	}
	// At-least-once delivery means resends: a span written again is stored
	// once.
	send["resent"] = func(t *testing.T, req *coltracepb.ExportTraceServiceRequest) {
		send["grpc"](t, req)
		send["http-json"](t, req)
		send["grpc"](t, req)
	}
	for _, name := range []string{"grpc", "http-protobuf", "http-json", "resent"} {
		t.Run(name, func(t *testing.T) {
			td := fullTrace("roundtrip-" + name)
			send[name](t, &coltracepb.ExportTraceServiceRequest{ResourceSpans: td.ResourceSpans})
			id := hexID(td.ResourceSpans[0].ScopeSpans[0].Spans[0].TraceId)
			var body struct {
				Result json.RawMessage `json:"result"`
			}
			s.getJSON(t, "/api/v3/traces/"+id, http.StatusOK, &body)
			got := decodeOTLPJSON(t, body.Result)
			sortSpans(got)
			sortSpans(td)
			if !proto.Equal(got, td) {
				t.Errorf("/api/v3 differs from what was sent\n got: %v\nwant: %v", got, td)
			}
		})
	}
}

// fullTrace is a trace of two spans of one service that sets every field
// OTLP has.
func fullTrace(service string) *tracepb.TracesData {
	tid := newTraceID()
	rootID, childID := newSpanID(), newSpanID()
	start := uint64(time.Now().Add(-time.Minute).UnixNano())
	str := func(s string) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
	}
	i64 := func(n int64) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: n}}
	}
	kv := func(k string, v *commonpb.AnyValue) *commonpb.KeyValue { return &commonpb.KeyValue{Key: k, Value: v} }
	nested := &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{
		str("a"),
		{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{
			kv("inner", i64(-7)),
			kv("deeper", &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{
				{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 2.5}},
				{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}},
			}}}}),
		}}}},
		{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{1, 2, 3}}},
	}}}}
	return &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{
			Attributes: []*commonpb.KeyValue{
				kv("service.name", str(service)),
				kv("k8s.pod.uid", &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0xde, 0xad}}}),
				kv("host.cpu", i64(8)),
			},
			DroppedAttributesCount: 2,
		},
		SchemaUrl: "https://opentelemetry.io/schemas/1.26.0",
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{
				Name: "e2e/raw", Version: "3.0.1",
				Attributes:             []*commonpb.KeyValue{kv("scope.k", str("v"))},
				DroppedAttributesCount: 1,
			},
			SchemaUrl: "https://opentelemetry.io/schemas/1.25.0",
			Spans: []*tracepb.Span{
				{
					TraceId: tid, SpanId: rootID, TraceState: "vendor=abc,other=1", Flags: 0x301,
					Name: "GET /item", Kind: tracepb.Span_SPAN_KIND_SERVER,
					StartTimeUnixNano: start, EndTimeUnixNano: start + 123_456_789,
					Attributes:             []*commonpb.KeyValue{kv("nested", nested), kv("big", i64(1<<62))},
					DroppedAttributesCount: 3, DroppedEventsCount: 4, DroppedLinksCount: 5,
					Events: []*tracepb.Span_Event{{
						TimeUnixNano: start + 1000, Name: "cache miss",
						Attributes:             []*commonpb.KeyValue{kv("key", str("item:1"))},
						DroppedAttributesCount: 6,
					}},
					Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "not found"},
				},
				{
					TraceId: tid, SpanId: childID, ParentSpanId: rootID, Flags: 0x101,
					Name: "SELECT item", Kind: tracepb.Span_SPAN_KIND_CLIENT,
					StartTimeUnixNano: start + 2000, EndTimeUnixNano: start + 50_000_000,
					Links: []*tracepb.Span_Link{{
						TraceId: newTraceID(), SpanId: newSpanID(), TraceState: "k=v", Flags: 0x301,
						Attributes:             []*commonpb.KeyValue{kv("link.kind", str("retry-of"))},
						DroppedAttributesCount: 7,
					}},
					Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK},
				},
			},
		}},
	}}}
}

// sortSpans orders the spans of every scope by span ID.
func sortSpans(td *tracepb.TracesData) {
	for _, rs := range td.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			slices.SortFunc(ss.Spans, func(a, b *tracepb.Span) int { return bytes.Compare(a.SpanId, b.SpanId) })
		}
	}
}

// otlpJSONHexIDs encodes req as OTLP JSON: protobuf's JSON mapping with
// trace and span IDs in hex.
func otlpJSONHexIDs(t *testing.T, req *coltracepb.ExportTraceServiceRequest) []byte {
	t.Helper()
	b, err := protojson.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				switch k {
				case "traceId", "spanId", "parentSpanId":
					raw, err := base64.StdEncoding.DecodeString(e.(string))
					if err != nil {
						t.Fatal(err)
					}
					v[k] = hex.EncodeToString(raw)
				default:
					walk(e)
				}
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(tree)
	out, err := json.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// postOK POSTs an OTLP/HTTP export and fails unless it is a full success.
func postOK(t testing.TB, s *Scry, contentType string, body []byte) {
	t.Helper()
	code, resp, _ := postTraces(t, s, contentType, nil, body)
	if code != http.StatusOK {
		t.Fatalf("POST /v1/traces: %d %s", code, resp)
	}
	var r coltracepb.ExportTraceServiceResponse
	var err error
	if contentType == "application/json" {
		err = protojson.Unmarshal(resp, &r)
	} else {
		err = proto.Unmarshal(resp, &r)
	}
	if err != nil {
		t.Fatalf("POST /v1/traces: cannot decode the answer %q: %v", resp, err)
	}
	if r.GetPartialSuccess().GetRejectedSpans() != 0 {
		t.Fatalf("POST /v1/traces: partial success %v", r.GetPartialSuccess())
	}
}

// postTraces POSTs body to the OTLP/HTTP receiver.
func postTraces(t testing.TB, s *Scry, contentType string, header http.Header, body []byte) (int, []byte, http.Header) {
	t.Helper()
	code, b, hdr, err := s.post(contentType, header, body)
	if err != nil {
		t.Fatal(err)
	}
	return code, b, hdr
}

// post POSTs body to the OTLP/HTTP receiver; it may be called from any
// goroutine.
func (s *Scry) post(contentType string, header http.Header, body []byte) (int, []byte, http.Header, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+s.OTLPHTTP+"/v1/traces", bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("POST /v1/traces: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("POST /v1/traces: reading the answer: %w", err)
	}
	return resp.StatusCode, b, resp.Header, nil
}
