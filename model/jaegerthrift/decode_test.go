package jaegerthrift

import (
	"context"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/jaegertracing/jaeger-idl/thrift-gen/agent"
	"github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"
	"github.com/jaegertracing/jaeger-idl/thrift-gen/zipkincore"
)

// fullBatch has every field a Jaeger client sends.
func fullBatch() *jaeger.Batch {
	seq := int64(7)
	root := baseSpan()
	root.Tags = []*jaeger.Tag{strTag("span.kind", "server"), strTag("http.method", "GET"), longTag("http.status_code", 500),
		boolTag("error", true), doubleTag("ratio", 0.25), binTag("blob", []byte{0, 1, 2}), strTag("otel.scope.name", "lib"),
		strTag("otel.scope.version", "1.0"), strTag("w3c.tracestate", "k=v")}
	root.Logs = []*jaeger.Log{{Timestamp: root.StartTime + 10, Fields: []*jaeger.Tag{strTag("event", "exception"), strTag("message", "boom")}}}
	child := baseSpan()
	child.SpanId, child.OperationName, child.Flags = 0x12, "child", 3
	child.References = []*jaeger.SpanRef{
		{RefType: jaeger.SpanRefType_CHILD_OF, TraceIdHigh: root.TraceIdHigh, TraceIdLow: root.TraceIdLow, SpanId: root.SpanId},
		{RefType: jaeger.SpanRefType_FOLLOWS_FROM, TraceIdLow: 99, SpanId: 98},
	}
	legacy := baseSpan() // a 64-bit trace, the old clients' kind
	legacy.TraceIdHigh, legacy.SpanId, legacy.ParentSpanId = 0, 0x13, 0x12
	return &jaeger.Batch{
		Process: &jaeger.Process{ServiceName: "frontend", Tags: []*jaeger.Tag{strTag("hostname", "h"), strTag("ip", "10.0.0.1"), strTag("jaeger.version", "Go-2.30.0")}},
		Spans:   []*jaeger.Span{root, child, legacy},
		SeqNo:   &seq,
		Stats:   &jaeger.ClientStats{FullQueueDroppedSpans: 1},
	}
}

// emitBatchPacket encodes batch as a Jaeger client's agent sender does: an
// Agent.emitBatch call through the generated client.
func emitBatchPacket(t testing.TB, batch *jaeger.Batch, compact bool) []byte {
	t.Helper()
	buf := thrift.NewTMemoryBuffer()
	var f thrift.TProtocolFactory = thrift.NewTBinaryProtocolFactoryConf(nil)
	if compact {
		f = thrift.NewTCompactProtocolFactoryConf(nil)
	}
	if err := agent.NewAgentClientFactory(buf, f).EmitBatch(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeEmitBatchRoundTrip(t *testing.T) {
	want, wantRej := SpansFromBatch(fullBatch())
	if len(wantRej) != 0 || len(want) != 3 {
		t.Fatalf("fixture: %d spans, rejected %v", len(want), wantRej)
	}
	for _, compact := range []bool{true, false} {
		packet := emitBatchPacket(t, fullBatch(), compact)
		batch, err := DecodeEmitBatch(packet, compact)
		if err != nil {
			t.Fatalf("compact=%v: %v", compact, err)
		}
		if batch.GetSeqNo() != 7 || batch.GetStats().GetFullQueueDroppedSpans() != 1 {
			t.Errorf("compact=%v: seqNo/stats lost: %+v", compact, batch)
		}
		got, rej := SpansFromBatch(batch)
		if len(rej) != 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("compact=%v: round trip differs (rejected %v)\n got %+v\nwant %+v", compact, rej, got, want)
		}
		// The batch does not alias the packet: a UDP server reuses its buffer.
		for i := range packet {
			packet[i] = 0xee
		}
		if got2, _ := SpansFromBatch(batch); !reflect.DeepEqual(got2, want) {
			t.Errorf("compact=%v: the batch aliases the packet", compact)
		}
		packet = emitBatchPacket(t, fullBatch(), compact)
		// Trailing bytes are ignored, as Jaeger's agent ignores them.
		if _, err := DecodeEmitBatch(append(packet, 0, 0, 0), compact); err != nil {
			t.Errorf("compact=%v: trailing bytes: %v", compact, err)
		}
	}
	// The converted root span, spot-checked end to end.
	r := want[0]
	if r.Kind.String() != "server" || r.Status.Code.String() != "ERROR" || r.Scope.Name != "lib" || r.TraceState != "k=v" ||
		len(r.Attributes) != 4 || r.Events[0].Name != "exception" || r.ServiceName() != "frontend" {
		t.Errorf("root span: %+v", r)
	}
	if want[1].ParentSpanID != r.SpanID || len(want[1].Links) != 1 || want[1].Flags != 3 {
		t.Errorf("child span: %+v", want[1])
	}
	if want[2].TraceID.String() != "0000000000000000090a0b0c0d0e0f10" {
		t.Errorf("64-bit trace id: %s", want[2].TraceID)
	}
}

func TestDecodeBatch(t *testing.T) {
	body, err := thrift.NewTSerializer().Write(context.Background(), fullBatch())
	if err != nil {
		t.Fatal(err)
	}
	batch, err := DecodeBatch(body)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := SpansFromBatch(batch)
	want, _ := SpansFromBatch(fullBatch())
	if !reflect.DeepEqual(got, want) {
		t.Errorf("HTTP body round trip differs")
	}
	for n := range len(body) {
		if _, err := DecodeBatch(body[:n]); err == nil || !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d of %d bytes: err %v", n, len(body), err)
		}
	}
}

func TestDecodeEmitBatchMalformed(t *testing.T) {
	ctx := context.Background()
	// An emitZipkinBatch call, which this intake does not take.
	zbuf := thrift.NewTMemoryBuffer()
	if err := agent.NewAgentClientFactory(zbuf, thrift.NewTCompactProtocolFactoryConf(nil)).EmitZipkinBatch(ctx, []*zipkincore.Span{}); err != nil {
		t.Fatal(err)
	}
	// A reply instead of a call.
	rbuf := thrift.NewTMemoryBuffer()
	rp := thrift.NewTCompactProtocolConf(rbuf, nil)
	_ = rp.WriteMessageBegin(ctx, EmitBatchMethod, thrift.REPLY, 1)
	_ = (&agent.AgentEmitBatchArgs{Batch: fullBatch()}).Write(ctx, rp)
	_ = rp.WriteMessageEnd(ctx)
	// A call without its batch.
	ebuf := thrift.NewTMemoryBuffer()
	ep := thrift.NewTCompactProtocolConf(ebuf, nil)
	_ = ep.WriteMessageBegin(ctx, EmitBatchMethod, thrift.ONEWAY, 1)
	_ = ep.WriteStructBegin(ctx, "args")
	_ = ep.WriteFieldStop(ctx)
	_ = ep.WriteStructEnd(ctx)
	_ = ep.WriteMessageEnd(ctx)

	for _, tc := range []struct {
		name    string
		packet  []byte
		compact bool
		want    string
	}{
		{"empty", nil, true, "message header"},
		{"garbage compact", []byte("GET / HTTP/1.1\r\n\r\n"), true, "message header"},
		{"garbage binary", []byte("GET / HTTP/1.1\r\n\r\n"), false, ""},
		{"zipkin batch", zbuf.Bytes(), true, "emitZipkinBatch"},
		{"reply", rbuf.Bytes(), true, "message type"},
		{"no batch", ebuf.Bytes(), true, "no batch"},
		{"compact as binary", emitBatchPacket(t, fullBatch(), true), false, ""},
		{"binary as compact", emitBatchPacket(t, fullBatch(), false), true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeEmitBatch(tc.packet, tc.compact)
			if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one wrapping ErrMalformed and saying %q", err, tc.want)
			}
		})
	}

	// Every truncation of a valid packet is an error, never a panic.
	for _, compact := range []bool{true, false} {
		packet := emitBatchPacket(t, fullBatch(), compact)
		for n := range len(packet) {
			if _, err := DecodeEmitBatch(packet[:n], compact); err == nil {
				t.Fatalf("compact=%v: truncated to %d of %d bytes: no error", compact, n, len(packet))
			}
		}
	}
}

// hostilePacket is a 100-byte emitBatch call whose batch declares what
// write writes: a huge list, string or map.
func hostilePacket(t testing.TB, compact bool, write func(p thrift.TProtocol)) []byte {
	t.Helper()
	ctx := context.Background()
	buf := thrift.NewTMemoryBuffer()
	var p thrift.TProtocol = thrift.NewTBinaryProtocolConf(buf, nil)
	if compact {
		p = thrift.NewTCompactProtocolConf(buf, nil)
	}
	_ = p.WriteMessageBegin(ctx, EmitBatchMethod, thrift.ONEWAY, 1)
	_ = p.WriteStructBegin(ctx, "args")
	_ = p.WriteFieldBegin(ctx, "batch", thrift.STRUCT, 1)
	_ = p.WriteStructBegin(ctx, "Batch")
	_ = p.WriteFieldBegin(ctx, "process", thrift.STRUCT, 1)
	_ = (&jaeger.Process{ServiceName: "s"}).Write(ctx, p)
	write(p)
	_ = p.Flush(ctx)
	b := buf.Bytes()
	if len(b) > 100 {
		t.Fatalf("hostile packet is %d bytes", len(b))
	}
	return append(b, make([]byte, 100-len(b))...)
}

func TestDecodeBoundsAllocation(t *testing.T) {
	ctx := context.Background()
	spansList := func(n int) func(p thrift.TProtocol) {
		return func(p thrift.TProtocol) {
			_ = p.WriteFieldBegin(ctx, "spans", thrift.LIST, 2)
			_ = p.WriteListBegin(ctx, thrift.STRUCT, n)
		}
	}
	unknownList := func(p thrift.TProtocol) { // skipped, not read
		_ = p.WriteFieldBegin(ctx, "x", thrift.LIST, 9)
		_ = p.WriteListBegin(ctx, thrift.I64, math.MaxInt32)
	}
	unknownMap := func(p thrift.TProtocol) {
		_ = p.WriteFieldBegin(ctx, "x", thrift.MAP, 9)
		_ = p.WriteMapBegin(ctx, thrift.STRING, thrift.STRING, math.MaxInt32)
	}
	hugeString := func(p thrift.TProtocol) {
		_ = p.WriteFieldBegin(ctx, "x", thrift.STRING, 9)
		// The binary protocol reads this as the length 2^30-1, the compact
		// one (zigzag) as 2^31-2.
		_ = p.WriteI32(ctx, 1<<30-1)
	}
	tagsList := func(p thrift.TProtocol) { // a span whose tag list is huge
		_ = p.WriteFieldBegin(ctx, "spans", thrift.LIST, 2)
		_ = p.WriteListBegin(ctx, thrift.STRUCT, 1)
		_ = p.WriteStructBegin(ctx, "Span")
		_ = p.WriteFieldBegin(ctx, "tags", thrift.LIST, 10)
		_ = p.WriteListBegin(ctx, thrift.STRUCT, math.MaxInt32)
	}
	for _, compact := range []bool{true, false} {
		for _, tc := range []struct {
			name  string
			write func(p thrift.TProtocol)
		}{
			{"spans list of 2^31-1", spansList(math.MaxInt32)},
			{"spans list of 2^31", spansList(math.MaxInt32 + 1)},
			{"skipped list", unknownList},
			{"skipped map", unknownMap},
			{"huge string", hugeString},
			{"tags list", tagsList},
		} {
			packet := hostilePacket(t, compact, tc.write)
			_, err := DecodeEmitBatch(packet, compact)
			if err == nil {
				t.Errorf("compact=%v %s: no error", compact, tc.name)
			}
			const runs = 50
			allocs := testing.AllocsPerRun(runs, func() { _, _ = DecodeEmitBatch(packet, compact) })
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range runs {
				_, _ = DecodeEmitBatch(packet, compact)
			}
			runtime.ReadMemStats(&after)
			perRun := (after.TotalAlloc - before.TotalAlloc) / runs
			if perRun > 16<<10 || allocs > 100 {
				t.Errorf("compact=%v %s: %d bytes in %.0f allocations per decode of a 100-byte packet", compact, tc.name, perRun, allocs)
			}
			t.Logf("compact=%v %s: %d bytes in %.0f allocations: %v", compact, tc.name, perRun, allocs, err)
		}
	}
}

func TestDecodeBoundsNesting(t *testing.T) {
	// An unknown field holding structs nested 10,000 deep is skipped only
	// to Thrift's depth limit.
	ctx := context.Background()
	for _, compact := range []bool{true, false} {
		buf := thrift.NewTMemoryBuffer()
		var p thrift.TProtocol = thrift.NewTBinaryProtocolConf(buf, nil)
		if compact {
			p = thrift.NewTCompactProtocolConf(buf, nil)
		}
		_ = p.WriteMessageBegin(ctx, EmitBatchMethod, thrift.ONEWAY, 1)
		_ = p.WriteStructBegin(ctx, "args")
		_ = p.WriteFieldBegin(ctx, "batch", thrift.STRUCT, 1)
		_ = p.WriteStructBegin(ctx, "Batch")
		for range 10000 {
			_ = p.WriteFieldBegin(ctx, "x", thrift.STRUCT, 9)
			_ = p.WriteStructBegin(ctx, "X")
		}
		_ = p.Flush(ctx)
		_, err := DecodeEmitBatch(buf.Bytes(), compact)
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "depth") {
			t.Errorf("compact=%v: err %v, want a depth limit", compact, err)
		}
		if testing.Verbose() {
			t.Logf("compact=%v: %v", compact, err)
		}
	}
}
