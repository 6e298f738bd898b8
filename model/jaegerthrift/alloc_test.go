package jaegerthrift

import (
	"runtime"
	"testing"

	"github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"
)

// TestAllocationPerByte bounds what decoding and converting costs per byte
// of input for the cheapest spans a packet can hold: valid ones, and ones
// rejected for zero IDs.
func TestAllocationPerByte(t *testing.T) {
	for _, tc := range []struct {
		name  string
		trace int64
	}{{"valid", 1}, {"rejected", 0}} {
		for _, compact := range []bool{true, false} {
			batch := &jaeger.Batch{Process: &jaeger.Process{}}
			for range 2000 {
				batch.Spans = append(batch.Spans, &jaeger.Span{TraceIdLow: tc.trace, SpanId: 1})
			}
			packet := emitBatchPacket(t, batch, compact)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b, err := DecodeEmitBatch(packet, compact)
			if err != nil {
				t.Fatal(err)
			}
			spans, rejected := SpansFromBatch(b)
			runtime.ReadMemStats(&after)
			if len(spans)+len(rejected) != 2000 {
				t.Fatalf("%d spans, %d rejected", len(spans), len(rejected))
			}
			perByte := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(packet))
			t.Logf("%s, compact=%v: %d-byte packet, %.0f bytes allocated per byte", tc.name, compact, len(packet), perByte)
			if perByte > 100 {
				t.Errorf("%s, compact=%v: %.0f bytes allocated per byte of input", tc.name, compact, perByte)
			}
		}
	}
}
