package otlpjson

import (
	"bytes"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// FuzzUnmarshal feeds arbitrary bytes to the decoder: it must not panic,
// and what it accepts must encode, decode again with nothing rejected, and
// encode to the same bytes.
func FuzzUnmarshal(f *testing.F) {
	full, err := Marshal(&tracepb.TracesData{ResourceSpans: testResourceSpans()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"AB","span_id":"zz","kind":"SPAN_KIND_SERVER",` +
		`"startTimeUnixNano":1,"links":[{"traceId":"0102","spanId":""}]}]}]}]}`))
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":5}]}]}]} `))
	f.Fuzz(func(t *testing.T, data []byte) {
		var req coltracepb.ExportTraceServiceRequest
		if _, err := Unmarshal(data, &req); err != nil {
			return
		}
		out, err := Marshal(&req)
		if err != nil {
			t.Fatalf("cannot encode what was decoded: %v", err)
		}
		var again coltracepb.ExportTraceServiceRequest
		rej, err := Unmarshal(out, &again)
		if err != nil || len(rej) != 0 {
			t.Fatalf("cannot decode what was encoded: %v, rejected %v\n%s", err, rej, out)
		}
		out2, err := Marshal(&again)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("encoding changed after a round trip (%v):\n%s\n%s", err, out, out2)
		}
	})
}
