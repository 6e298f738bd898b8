package otlpjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/model"
)

func seq(from, n byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = from + byte(i)
	}
	return b
}

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

// testResourceSpans has IDs in spans and links, a link with empty IDs, and
// attributes named like ID fields (values, not IDs).
func testResourceSpans() []*tracepb.ResourceSpans {
	return []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("service.name", "svc")}},
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{Name: "lib", Version: "2"},
			Spans: []*tracepb.Span{{
				TraceId:           seq(0xf0, 16),
				SpanId:            seq(0xa0, 8),
				ParentSpanId:      seq(1, 8),
				Name:              "op <&>",
				Kind:              tracepb.Span_SPAN_KIND_SERVER,
				StartTimeUnixNano: 1714564800000000001,
				EndTimeUnixNano:   1714564800500000000,
				Attributes: []*commonpb.KeyValue{
					str("traceId", "AAAAAAAAAAE="),
					{Key: "big", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 1 << 60}}},
					{Key: "raw", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0xfb, 0xff}}}},
					{Key: "nested", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{
						Values: []*commonpb.KeyValue{str("spanId", "AQ==")},
					}}}},
				},
				Events: []*tracepb.Span_Event{{TimeUnixNano: 1714564800100000000, Name: "ev"}},
				Links: []*tracepb.Span_Link{
					{TraceId: seq(0x10, 16), SpanId: seq(0x20, 8), Flags: 0x101},
					{TraceId: make([]byte, 16), SpanId: make([]byte, 8)},
				},
				Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "boom"},
				Flags:  1,
			}},
		}},
	}}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, b)
	}
	return m
}

func firstSpan(m map[string]any) map[string]any {
	rs := m["resourceSpans"].([]any)[0].(map[string]any)
	ss := rs["scopeSpans"].([]any)[0].(map[string]any)
	return ss["spans"].([]any)[0].(map[string]any)
}

func TestMarshalFollowsTheSpec(t *testing.T) {
	b, err := Marshal(&tracepb.TracesData{ResourceSpans: testResourceSpans()})
	if err != nil {
		t.Fatal(err)
	}
	sp := firstSpan(decode(t, b))
	for k, want := range map[string]any{
		"traceId":           "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
		"spanId":            "a0a1a2a3a4a5a6a7",
		"parentSpanId":      "0102030405060708",
		"kind":              json.Number("2"),
		"startTimeUnixNano": "1714564800000000001",
		"flags":             json.Number("1"),
		"name":              "op <&>",
	} {
		if got := sp[k]; got != want {
			t.Errorf("%s = %#v, want %#v", k, got, want)
		}
	}
	links := sp["links"].([]any)
	if l := links[0].(map[string]any); l["traceId"] != "101112131415161718191a1b1c1d1e1f" || l["spanId"] != "2021222324252627" {
		t.Errorf("link IDs %v %v, want hex", l["traceId"], l["spanId"])
	}
	if l := links[1].(map[string]any); l["traceId"] != strings.Repeat("0", 32) || l["spanId"] != strings.Repeat("0", 16) {
		t.Errorf("zero link IDs %v %v, want zeros in hex", l["traceId"], l["spanId"])
	}
	s := string(b)
	for _, want := range []string{
		`"intValue":"1152921504606846976"`, // 64-bit integers as strings, exactly
		`"bytesValue":"+/8="`,              // bytes values stay base64
		`"stringValue":"AAAAAAAAAAE="`,     // an attribute value is not an ID
		`{"key":"spanId","value":{"string`, // nor is a map value's key
		`"code":2`,                         // enums as numbers
		`"name":"op <&>"`,                  // no HTML escaping
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %s:\n%s", want, s)
		}
	}
	if strings.HasSuffix(s, "\n") {
		t.Error("output ends in a newline")
	}
	// Object keys sorted, so the output is stable.
	again, _ := Marshal(&tracepb.TracesData{ResourceSpans: testResourceSpans()})
	if !bytes.Equal(b, again) {
		t.Errorf("two encodings differ:\n%s\n%s", b, again)
	}
	if i, j := strings.Index(s, `"endTimeUnixNano"`), strings.Index(s, `"startTimeUnixNano"`); i < 0 || j < i {
		t.Errorf("keys are not sorted:\n%s", s)
	}
}

func TestMarshalEmpty(t *testing.T) {
	b, err := Marshal(&tracepb.TracesData{})
	if err != nil || string(b) != "{}" {
		t.Errorf("got %s, %v; want {}", b, err)
	}
}

func TestRoundTrip(t *testing.T) {
	td := &tracepb.TracesData{ResourceSpans: testResourceSpans()}
	b, err := Marshal(td)
	if err != nil {
		t.Fatal(err)
	}
	var back tracepb.TracesData
	if rej, err := Unmarshal(b, &back); err != nil || len(rej) != 0 {
		t.Fatalf("Unmarshal of Marshal's output: %v, rejected %v", err, rej)
	}
	if !proto.Equal(&back, td) {
		t.Errorf("TracesData round trip differs:\n got %v\nwant %v", &back, td)
	}

	// An export request has the same shape.
	req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: testResourceSpans()}
	rb, err := Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rb, b) {
		t.Errorf("request and TracesData encode differently:\n%s\n%s", rb, b)
	}
	var backReq coltracepb.ExportTraceServiceRequest
	if rej, err := Unmarshal(rb, &backReq); err != nil || len(rej) != 0 || !proto.Equal(&backReq, req) {
		t.Errorf("request round trip: %v, rejected %v, got %v", err, rej, &backReq)
	}
}

// TestUnmarshalAcceptsWhatSendersWrite: hex in either case, proto field
// names, enums by name, 64-bit integers as numbers, unknown fields.
func TestUnmarshalAcceptsWhatSendersWrite(t *testing.T) {
	body := `{"resource_spans":[{"scope_spans":[{"spans":[{
		"trace_id":"F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF","span_id":"a0a1a2a3a4a5a6a7","parent_span_id":"",
		"kind":"SPAN_KIND_CLIENT","startTimeUnixNano":9007199254740993,"someFutureField":{"x":1},
		"links":[{"trace_id":"101112131415161718191a1b1c1d1e1f","spanId":"2021222324252627"}]}]}]}]}`
	var req coltracepb.ExportTraceServiceRequest
	rej, err := Unmarshal([]byte(body), &req)
	if err != nil || len(rej) != 0 {
		t.Fatalf("Unmarshal: %v, rejected %v", err, rej)
	}
	sp := req.ResourceSpans[0].ScopeSpans[0].Spans[0]
	if !bytes.Equal(sp.TraceId, seq(0xf0, 16)) || !bytes.Equal(sp.SpanId, seq(0xa0, 8)) || len(sp.ParentSpanId) != 0 {
		t.Errorf("IDs %x %x %x", sp.TraceId, sp.SpanId, sp.ParentSpanId)
	}
	if sp.Kind != tracepb.Span_SPAN_KIND_CLIENT || sp.StartTimeUnixNano != 9007199254740993 {
		t.Errorf("kind %v start %d", sp.Kind, sp.StartTimeUnixNano)
	}
	if l := sp.Links[0]; !bytes.Equal(l.TraceId, seq(0x10, 16)) || !bytes.Equal(l.SpanId, seq(0x20, 8)) {
		t.Errorf("link IDs %x %x", l.TraceId, l.SpanId)
	}
}

func TestUnmarshalRejectsSpansWithBadIDs(t *testing.T) {
	long := strings.Repeat("z", 100)
	body := `{"resourceSpans":[{"scopeSpans":[{"spans":[
	  {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"ok"},
	  {"traceId":"5b8efff7980381","spanId":"eee19b7ec3c1b175","name":"short trace id"},
	  {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"not-hex!","name":"not hex"},
	  {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b176","name":"bad link",
	   "links":[{"traceId":"zz","spanId":"eee19b7ec3c1b176"}]},
	  {"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"eee19b7ec3c1b177","name":"base64"},
	  {"traceId":"` + long + `","spanId":"eee19b7ec3c1b178","parentSpanId":"x","name":"long"}
	]}]}]}`
	var req coltracepb.ExportTraceServiceRequest
	rej, err := Unmarshal([]byte(body), &req)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sp := range req.ResourceSpans[0].ScopeSpans[0].Spans {
		names = append(names, sp.Name)
	}
	// A hex ID of the wrong length is kept, for model.SpansFromOTLP to reject.
	if strings.Join(names, ",") != "ok,short trace id" {
		t.Errorf("kept spans %q, want ok and short trace id", names)
	}
	if len(rej) != 4 {
		t.Fatalf("rejected %d spans, want 4: %v", len(rej), rej)
	}
	for i, want := range []string{
		`span "not hex": invalid id: span id "not-hex!" is not hex`,
		`span "bad link": link 0: invalid id: trace id "zz" is not hex`,
		`span "base64": invalid id: trace id "W47/95gDgQPSabYzgT/GDA==" is not hex`,
		`span "long": invalid id: trace id "` + long[:64] + `..." is not hex` + "\n" + `invalid id: parent span id "x" is not hex`,
	} {
		if rej[i].Error() != want {
			t.Errorf("rejection %d:\n got %q\nwant %q", i, rej[i], want)
		}
		if !errors.Is(rej[i], model.ErrInvalidID) {
			t.Errorf("rejection %d does not wrap model.ErrInvalidID", i)
		}
	}
}

func TestUnmarshalErrors(t *testing.T) {
	for body, want := range map[string]string{
		`{`:                     "cannot decode json request: unexpected EOF",
		`{"resourceSpans":[]}x`: "cannot decode json request: unexpected data after the top-level object",
		`{"resourceSpans":5}`:   "cannot decode json request: proto:",
		`null`:                  "cannot decode json request: proto:",
		`{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":5}]}]}]}`: "invalid value for bytes field spanId",
	} {
		var req coltracepb.ExportTraceServiceRequest
		if _, err := Unmarshal([]byte(body), &req); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", body, err, want)
		}
	}
}

// Marshal's hex rewrite fails on what protojson never writes.
func TestBase64ToHexRejects(t *testing.T) {
	for _, in := range []string{
		`{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"not base64!"}]}]}]}`,
		`{"resourceSpans":[{"scopeSpans":[{"spans":[{"links":[{"traceId":"@@"}]}]}]}]}`,
	} {
		tree, err := decodeTree([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if bad := convertIDs(tree, base64ToHex); len(bad) != 1 {
			t.Errorf("%s: %d errors, want 1", in, len(bad))
		}
	}
}
