package query

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/model"
)

func otlpTestSpans() []*model.Span {
	res := &model.Resource{Attributes: []model.KeyValue{{Key: "service.name", Value: model.StringValue("svc")}}}
	scope := &model.Scope{Name: "lib", Version: "2"}
	return []*model.Span{{
		Resource:     res,
		Scope:        scope,
		TraceID:      mustTraceID("0af7651916cd43dd8448eb211c80319c"),
		SpanID:       model.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31},
		ParentSpanID: model.SpanID{0xff, 0, 0, 0, 0, 0, 0, 1},
		Name:         "op",
		Kind:         model.SpanKindServer,
		StartTime:    1714564800000000001,
		EndTime:      1714564800500000000,
		Attributes: []model.KeyValue{
			{Key: "count", Value: model.IntValue(42)},
			{Key: "big", Value: model.IntValue(1 << 60)},
			{Key: "raw", Value: model.BytesValue([]byte{0xfb, 0xff})},
			// A user attribute named like an ID field is a value, not an ID.
			{Key: "traceId", Value: model.StringValue("AAAAAAAAAAE=")},
			{Key: "nested", Value: model.MapValue(model.KeyValue{Key: "spanId", Value: model.StringValue("AQ==")})},
		},
		Events: []model.Event{{Time: 1714564800100000000, Name: "ev"}},
		Links: []model.Link{
			{TraceID: mustTraceID("abcdef0123456789"), SpanID: model.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, Flags: 0x101},
			{}, // a link to an invalid span context: zero IDs
		},
		Status: model.Status{Code: model.StatusError, Message: "boom"},
		Flags:  1,
	}}
}

func TestOTLPJSONFollowsTheSpec(t *testing.T) {
	raw, err := otlpJSON(otlpTestSpans())
	if err != nil {
		t.Fatal(err)
	}
	var td struct {
		ResourceSpans []struct {
			ScopeSpans []struct {
				Spans []map[string]any `json:"spans"`
			} `json:"scopeSpans"`
		} `json:"resourceSpans"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&td); err != nil {
		t.Fatal(err)
	}
	sp := td.ResourceSpans[0].ScopeSpans[0].Spans[0]
	checks := map[string]any{
		"traceId":           "0af7651916cd43dd8448eb211c80319c",
		"spanId":            "b7ad6b7169203331",
		"parentSpanId":      "ff00000000000001",
		"kind":              json.Number("2"),
		"startTimeUnixNano": "1714564800000000001",
		"endTimeUnixNano":   "1714564800500000000",
		"flags":             json.Number("1"),
		"name":              "op",
	}
	for k, want := range checks {
		if got := sp[k]; got != want {
			t.Errorf("%s = %#v, want %#v", k, got, want)
		}
	}
	if st := sp["status"].(map[string]any); st["code"] != json.Number("2") || st["message"] != "boom" {
		t.Errorf("status %v, want code 2 (a number) and the message", st)
	}
	links := sp["links"].([]any)
	l0, l1 := links[0].(map[string]any), links[1].(map[string]any)
	if l0["traceId"] != "0000000000000000abcdef0123456789" || l0["spanId"] != "0102030405060708" {
		t.Errorf("link IDs %v %v, want hex", l0["traceId"], l0["spanId"])
	}
	if l1["traceId"] != strings.Repeat("0", 32) || l1["spanId"] != strings.Repeat("0", 16) {
		t.Errorf("zero link IDs %v %v, want zeros in hex", l1["traceId"], l1["spanId"])
	}

	s := string(raw)
	for _, want := range []string{
		`"intValue":"42"`,                  // 64-bit integers are strings
		`"intValue":"1152921504606846976"`, // exactly
		`"bytesValue":"+/8="`,              // bytes values stay base64
		`"stringValue":"AAAAAAAAAAE="`,     // an attribute value is not an ID
		`{"key":"spanId","value":{"string`, // nor is a map value's key
		`"timeUnixNano":"1714564800100000000"`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %s:\n%s", want, s)
		}
	}
}

// TestOTLPJSONIsLossless reads the output back the way an OTLP JSON
// receiver does (hex IDs) and compares it with the protobuf form.
func TestOTLPJSONIsLossless(t *testing.T) {
	spans := otlpTestSpans()
	raw, err := otlpJSON(spans)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		t.Fatal(err)
	}
	hexToBase64(t, tree)
	b, err := json.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	var got tracepb.TracesData
	if err := protojson.Unmarshal(b, &got); err != nil {
		t.Fatalf("protojson cannot read the output back: %v", err)
	}
	want := &tracepb.TracesData{ResourceSpans: model.SpansToOTLP(spans)}
	if !proto.Equal(&got, want) {
		t.Errorf("round trip differs:\ngot  %v\nwant %v", &got, want)
	}
}

func hexToBase64(t *testing.T, v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if k == "traceId" || k == "spanId" || k == "parentSpanId" {
				b, err := hex.DecodeString(e.(string))
				if err != nil {
					t.Fatalf("%s %q is not hex", k, e)
				}
				v[k] = base64.StdEncoding.EncodeToString(b)
				continue
			}
			hexToBase64(t, e)
		}
	case []any:
		for _, e := range v {
			hexToBase64(t, e)
		}
	}
}

func TestOTLPJSONEmpty(t *testing.T) {
	raw, err := otlpJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != "{}" {
		t.Errorf("got %s, want {}", raw)
	}
}
