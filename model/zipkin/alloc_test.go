package zipkin

import (
	"runtime"
	"strings"
	"testing"

	zipkinpb "github.com/openzipkin/zipkin-go/proto/zipkin_proto3"
	"google.golang.org/protobuf/proto"
)

// TestAllocationPerByte bounds what converting costs per byte of input for
// the cheapest spans a body can hold: valid ones, and empty ones, each
// rejected. (For scale: OTLP/protobuf with empty spans costs about 440 bytes
// per byte through proto.Unmarshal and model.SpansFromOTLP.)
func TestAllocationPerByte(t *testing.T) {
	const n = 20000
	jsonEmpty := []byte("[" + strings.Repeat("{},", n-1) + "{}]")
	jsonMin := []byte("[" + strings.Repeat(`{"traceId":"1","id":"1"},`, n-1) + `{"traceId":"1","id":"1"}]`)
	list := &zipkinpb.ListOfSpans{}
	for range n {
		list.Spans = append(list.Spans, &zipkinpb.Span{})
	}
	protoEmpty, _ := proto.Marshal(list)
	for _, s := range list.Spans {
		s.TraceId, s.Id = []byte{7: 1}, []byte{7: 1}
	}
	protoMin, _ := proto.Marshal(list)

	fromJSON := func(b []byte) int { s, r, _ := SpansFromJSON(b); return len(s) + len(r) }
	fromProto := func(b []byte) int { s, r, _ := SpansFromProto(b); return len(s) + len(r) }
	for _, tc := range []struct {
		name  string
		body  []byte
		f     func([]byte) int
		limit float64
	}{
		{"json empty", jsonEmpty, fromJSON, 100},
		{"json valid", jsonMin, fromJSON, 100},
		{"proto empty", protoEmpty, fromProto, 300}, // protobuf's own structs are most of it
		{"proto valid", protoMin, fromProto, 100},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		got := tc.f(tc.body)
		runtime.ReadMemStats(&after)
		if got != n {
			t.Fatalf("%s: %d spans out", tc.name, got)
		}
		perByte := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(tc.body))
		t.Logf("%s: %d-byte body, %.0f bytes allocated per byte", tc.name, len(tc.body), perByte)
		if perByte > tc.limit {
			t.Errorf("%s: %.0f bytes allocated per byte of input, want at most %.0f", tc.name, perByte, tc.limit)
		}
	}
}
