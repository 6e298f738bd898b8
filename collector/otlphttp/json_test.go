package otlphttp_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/scrytrace/scry/collector/internal/intaketest"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// A request as the OTLP/JSON examples write it: hex IDs, enums by name or
// number, 64-bit integers as strings or numbers (one not exact in float64).
const jsonRequest = `{
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
    "scopeSpans": [{
      "scope": {"name": "json-scope", "version": "0.1"},
      "spans": [{
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "eee19b7ec3c1b174",
        "parentSpanId": "eee19b7ec3c1b173",
        "name": "I'm a server span",
        "kind": "SPAN_KIND_SERVER",
        "startTimeUnixNano": 1544712660123456789,
        "endTimeUnixNano": "1544712661123456789",
        "attributes": [
          {"key": "my.int", "value": {"intValue": "9007199254740993"}},
          {"key": "my.bool", "value": {"boolValue": true}}
        ],
        "events": [{"timeUnixNano": "1544712660500000000", "name": "ev"}],
        "links": [{"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "1112131415161718",
                   "attributes": [{"key": "l", "value": {"stringValue": "v"}}]}],
        "status": {"code": 2, "message": "bad"},
        "someFutureField": {"ignored": true}
      }, {
        "trace_id": "5b8efff798038103d269b633813fc60c",
        "span_id": "00000000000000aa",
        "parent_span_id": "",
        "name": "proto names",
        "kind": 3
      }]
    }]
  }]
}`

func TestJSONHexIDs(t *testing.T) {
	e := setup(t, defaultQueue(), nil)
	resp := exportResponse(t, e.Post(t, ctJSON, "", []byte(jsonRequest)), ctJSON)
	if resp.GetPartialSuccess() != nil {
		t.Fatalf("partial success %v", resp.GetPartialSuccess())
	}
	tid, _ := model.ParseTraceID("5b8efff798038103d269b633813fc60c")
	spans, err := e.Store.GetTrace(context.Background(), tid, storage.TimeHint{})
	if err != nil {
		t.Fatalf("trace not stored under its hex ID: %v", err)
	}
	if len(spans) != 2 {
		t.Fatalf("stored %d spans, want 2", len(spans))
	}
	var s, s2 *model.Span
	for _, sp := range spans {
		switch sp.SpanID.String() {
		case "eee19b7ec3c1b174":
			s = sp
		case "00000000000000aa":
			s2 = sp
		}
	}
	if s == nil || s2 == nil {
		t.Fatalf("stored span IDs %s, %s", spans[0].SpanID, spans[1].SpanID)
	}
	if s.ParentSpanID.String() != "eee19b7ec3c1b173" || !s2.ParentSpanID.IsZero() {
		t.Errorf("parents %s, %s", s.ParentSpanID, s2.ParentSpanID)
	}
	if s.Kind != model.SpanKindServer || s2.Kind != model.SpanKindClient {
		t.Errorf("kinds %v, %v", s.Kind, s2.Kind)
	}
	if s.StartTime != 1544712660123456789 || s.EndTime != 1544712661123456789 {
		t.Errorf("times %d..%d: 64-bit integers were not kept exact", s.StartTime, s.EndTime)
	}
	if len(s.Attributes) != 2 || s.Attributes[0].Value.Int != 9007199254740993 || !s.Attributes[1].Value.Bool {
		t.Errorf("attributes %+v", s.Attributes)
	}
	if len(s.Events) != 1 || s.Events[0].Time != 1544712660500000000 {
		t.Errorf("events %+v", s.Events)
	}
	if len(s.Links) != 1 || s.Links[0].TraceID.String() != "0102030405060708090a0b0c0d0e0f10" ||
		s.Links[0].SpanID.String() != "1112131415161718" || len(s.Links[0].Attributes) != 1 {
		t.Errorf("links %+v", s.Links)
	}
	if s.Status != (model.Status{Code: model.StatusError, Message: "bad"}) {
		t.Errorf("status %+v", s.Status)
	}
	if s.ServiceName() != "json-svc" || s.Scope.Name != "json-scope" || s.Scope.Version != "0.1" {
		t.Errorf("service %q scope %+v", s.ServiceName(), s.Scope)
	}
}

func TestJSONBadIDs(t *testing.T) {
	e := setup(t, defaultQueue(), nil)
	body := `{"resourceSpans":[{"scopeSpans":[{"spans":[
	  {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"ok"},
	  {"traceId":"5b8efff7980381","spanId":"eee19b7ec3c1b175","name":"short trace id"},
	  {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"not-hex!","name":"not hex"},
	  {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b176","name":"bad link",
	   "links":[{"traceId":"zz","spanId":"eee19b7ec3c1b176"}]},
	  {"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"eee19b7ec3c1b177","name":"base64"}
	]}]}]}`
	ps := exportResponse(t, e.Post(t, ctJSON, "", []byte(body)), ctJSON).GetPartialSuccess()
	if ps.GetRejectedSpans() != 4 {
		t.Fatalf("rejected %d spans (%q), want 4", ps.GetRejectedSpans(), ps.GetErrorMessage())
	}
	for _, want := range []string{"rejected 4 of 5 spans", `"not-hex!" is not hex`, "link 0"} {
		if !strings.Contains(ps.GetErrorMessage(), want) {
			t.Errorf("message %q does not say %q", ps.GetErrorMessage(), want)
		}
	}
	tid, _ := model.ParseTraceID("5b8efff798038103d269b633813fc60c")
	spans, err := e.Store.GetTrace(context.Background(), tid, storage.TimeHint{})
	if err != nil || len(spans) != 1 || spans[0].Name != "ok" {
		t.Fatalf("stored %v, %v; want only the valid span", spans, err)
	}

	all := `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abcd","spanId":"eee19b7ec3c1b174"}]}]}]}`
	st := statusResponse(t, e.Post(t, ctJSON, "", []byte(all)), http.StatusBadRequest, ctJSON)
	if !strings.Contains(st.GetMessage(), "trace id has 2 bytes") {
		t.Fatalf("all invalid: message %q", st.GetMessage())
	}
}

func TestJSONGzip(t *testing.T) {
	e := setup(t, defaultQueue(), nil)
	exportResponse(t, e.Do(t, http.MethodPost, ctJSON+"; charset=utf-8", "gzip", intaketest.Gzip(t, []byte(jsonRequest))), ctJSON)
	tid, _ := model.ParseTraceID("5b8efff798038103d269b633813fc60c")
	if _, err := e.Store.GetTrace(context.Background(), tid, storage.TimeHint{}); err != nil {
		t.Fatal(err)
	}
}
