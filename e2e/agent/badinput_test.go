package agente2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	jagent "github.com/jaegertracing/jaeger-idl/thrift-gen/agent"
	"github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"

	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
)

// TestUDPBadInput sends the agent's UDP ports garbage, truncated and
// oversized packets, and packets declaring huge containers: each is counted
// and dropped, the agent's memory stays small and good packets still pass.
func TestUDPBadInput(t *testing.T) {
	col := startCollector(t)
	ag := startAgent(t, col.GRPC)
	st := store(t, col)

	good, _ := jaegerBatch("good", 5)
	valid := emitBatchPacket(t, good, true)
	packets := [][]byte{
		bytes.Repeat([]byte{0xff}, 1000),
		valid[:len(valid)/2],
		valid[:5],
		hostile(true, func(ctx context.Context, p thrift.TProtocol) {
			_ = p.WriteFieldBegin(ctx, "spans", thrift.LIST, 2)
			_ = p.WriteListBegin(ctx, thrift.STRUCT, math.MaxInt32)
		}),
		hostile(true, func(ctx context.Context, p thrift.TProtocol) {
			_ = p.WriteFieldBegin(ctx, "spans", thrift.LIST, 2)
			_ = p.WriteListBegin(ctx, thrift.STRUCT, 1)
			_ = p.WriteStructBegin(ctx, "Span")
			_ = p.WriteFieldBegin(ctx, "tags", thrift.LIST, 10)
			_ = p.WriteListBegin(ctx, thrift.STRUCT, math.MaxInt32)
		}),
		hostile(true, func(ctx context.Context, p thrift.TProtocol) {
			_ = p.WriteFieldBegin(ctx, "x", thrift.MAP, 9)
			_ = p.WriteMapBegin(ctx, thrift.STRING, thrift.STRING, math.MaxInt32)
		}),
		hostile(true, func(ctx context.Context, p thrift.TProtocol) {
			_ = p.WriteFieldBegin(ctx, "x", thrift.STRING, 9)
			_ = p.WriteI32(ctx, 1<<30-1)
		}),
	}
	conn, err := net.Dial("udp", ag.UDPCompact)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const rounds = 500
	for i := range rounds {
		for _, p := range packets {
			if _, err := conn.Write(p); err != nil {
				t.Fatal(err)
			}
		}
		if i%50 == 0 {
			time.Sleep(5 * time.Millisecond) // let the kernel buffer drain
		}
	}
	if _, err := conn.Write(make([]byte, 65001)); err != nil {
		t.Fatal(err)
	}
	total := float64(rounds * len(packets))
	testkit.EventuallyWithin(t, 30*time.Second, "every bad packet counted", func() bool {
		return ag.metric(t, "scry_agent_udp_packets_dropped_total", `transport="udp_compact"`, `reason="malformed"`)+
			ag.metric(t, "scry_agent_udp_packets_dropped_total", `reason="queue_full"`) >= total &&
			ag.metric(t, "scry_agent_udp_packets_dropped_total", `reason="oversized"`) == 1
	})
	rss := ag.metric(t, "process_resident_memory_bytes")
	if rss > 200<<20 {
		t.Errorf("agent uses %.0f MiB after %v hostile packets", rss/(1<<20), total)
	}
	t.Logf("agent RSS %.1f MiB after %v bad packets", rss/(1<<20), total)

	good, sent := jaegerBatch("good", 5)
	if _, err := conn.Write(emitBatchPacket(t, good, true)); err != nil {
		t.Fatal(err)
	}
	waitStored(t, st, sent, 30*time.Second)
}

// hostile makes an emitBatch call whose batch declares what write writes,
// padded with 64 zero bytes.
func hostile(compact bool, write func(ctx context.Context, p thrift.TProtocol)) []byte {
	ctx := context.Background()
	buf := thrift.NewTMemoryBuffer()
	var p thrift.TProtocol = thrift.NewTBinaryProtocolConf(buf, nil)
	if compact {
		p = thrift.NewTCompactProtocolConf(buf, nil)
	}
	_ = p.WriteMessageBegin(ctx, "emitBatch", thrift.ONEWAY, 1)
	_ = p.WriteStructBegin(ctx, "args")
	_ = p.WriteFieldBegin(ctx, "batch", thrift.STRUCT, 1)
	_ = p.WriteStructBegin(ctx, "Batch")
	_ = p.WriteFieldBegin(ctx, "process", thrift.STRUCT, 1)
	_ = (&jaeger.Process{ServiceName: "s"}).Write(ctx, p)
	write(ctx, p)
	_ = p.Flush(ctx)
	return append(buf.Bytes(), make([]byte, 64)...)
}

// jaegerBatch makes a Jaeger batch of n spans of one trace: a root and its
// children.
func jaegerBatch(service string, n int) (*jaeger.Batch, []sentSpan) {
	var tr model.TraceID
	_, _ = rand.Read(tr[:])
	hi, lo := int64(binary.BigEndian.Uint64(tr[:8])), int64(binary.BigEndian.Uint64(tr[8:]))
	now := time.Now().UnixMicro()
	var spans []*jaeger.Span
	var sent []sentSpan
	for i := range n {
		var sid model.SpanID
		_, _ = rand.Read(sid[:])
		sid[0] |= 1
		s := &jaeger.Span{TraceIdHigh: hi, TraceIdLow: lo, SpanId: int64(binary.BigEndian.Uint64(sid[:])),
			OperationName: fmt.Sprintf("op-%d", i), Flags: 1, StartTime: now, Duration: 100}
		if i > 0 {
			s.ParentSpanId = spans[0].SpanId
		}
		spans = append(spans, s)
		sent = append(sent, sentSpan{trace: tr, span: sid})
	}
	return &jaeger.Batch{Process: &jaeger.Process{ServiceName: service}, Spans: spans}, sent
}

// emitBatchPacket encodes batch as a Jaeger client's UDP sender does.
func emitBatchPacket(t testing.TB, batch *jaeger.Batch, compact bool) []byte {
	t.Helper()
	buf := thrift.NewTMemoryBuffer()
	var f thrift.TProtocolFactory = thrift.NewTBinaryProtocolFactoryConf(nil)
	if compact {
		f = thrift.NewTCompactProtocolFactoryConf(nil)
	}
	if err := jagent.NewAgentClientFactory(buf, f).EmitBatch(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
