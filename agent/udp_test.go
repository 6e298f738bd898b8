package agent

import (
	"bytes"
	"context"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"

	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/model/jaegerthrift"
	"github.com/scrytrace/scry/storage"
)

func TestUDPToCollector(t *testing.T) {
	col := startCollector(t, "127.0.0.1:0")
	a := startAgent(t, testConfig(col.Addr))
	for _, tc := range []struct {
		name    string
		compact bool
	}{{"compact", true}, {"binary", false}} {
		t.Run(tc.name, func(t *testing.T) {
			addr := a.Addrs().UDPBinary
			if tc.compact {
				addr = a.Addrs().UDPCompact
			}
			batch, sent := jaegerBatch("udp-"+tc.name, 5)
			if _, err := udpSender(t, addr).Write(emitBatchPacket(t, batch, tc.compact)); err != nil {
				t.Fatal(err)
			}
			testkit.Eventually(t, "the spans in the collector", func() bool { return col.Has(sent) == len(sent) })
			spans, err := col.Store.GetTrace(context.Background(), sent[0].trace, storage.TimeHint{})
			if err != nil {
				t.Fatal(err)
			}
			var root *model.Span
			for _, s := range spans {
				if s.SpanID == sent[0].span {
					root = s
				}
			}
			for _, s := range spans {
				if s.ServiceName() != "udp-"+tc.name || s.Kind != model.SpanKindServer {
					t.Errorf("span %s: service %q kind %v", s.Name, s.ServiceName(), s.Kind)
				}
				if s != root && s.ParentSpanID != root.SpanID {
					t.Errorf("span %s: parent %s, want %s", s.Name, s.ParentSpanID, root.SpanID)
				}
				if len(s.Events) != 1 || s.Events[0].Name != "hit" {
					t.Errorf("span %s: events %+v, want the log as event \"hit\"", s.Name, s.Events)
				}
				if len(s.Attributes) != 1 || s.Attributes[0].Key != "n" || s.Attributes[0].Value.Type != model.ValueInt {
					t.Errorf("span %s: attributes %+v, want n (int)", s.Name, s.Attributes)
				}
			}
			transport := transportUDPBinary
			if tc.compact {
				transport = transportUDPCompact
			}
			a.intakeCounts(t, transport).Check(t, testkit.Counts{Received: 5, Accepted: 5})
		})
	}
}

// hostile makes an emitBatch packet whose batch declares what write writes.
func hostile(t *testing.T, compact bool, write func(ctx context.Context, p thrift.TProtocol)) []byte {
	ctx := context.Background()
	buf := thrift.NewTMemoryBuffer()
	var p thrift.TProtocol = thrift.NewTBinaryProtocolConf(buf, nil)
	if compact {
		p = thrift.NewTCompactProtocolConf(buf, nil)
	}
	_ = p.WriteMessageBegin(ctx, jaegerthrift.EmitBatchMethod, thrift.ONEWAY, 1)
	_ = p.WriteStructBegin(ctx, "args")
	_ = p.WriteFieldBegin(ctx, "batch", thrift.STRUCT, 1)
	_ = p.WriteStructBegin(ctx, "Batch")
	_ = p.WriteFieldBegin(ctx, "process", thrift.STRUCT, 1)
	_ = (&jaeger.Process{ServiceName: "s"}).Write(ctx, p)
	write(ctx, p)
	_ = p.Flush(ctx)
	return append(buf.Bytes(), make([]byte, 64)...)
}

func TestUDPBadPacketsAreCountedAndDropped(t *testing.T) {
	col := startCollector(t, "127.0.0.1:0")
	a := startAgent(t, testConfig(col.Addr))
	conn := udpSender(t, a.Addrs().UDPCompact)
	good, _ := jaegerBatch("good", 3)
	valid := emitBatchPacket(t, good, true)

	bad := map[string][]byte{
		"garbage":   bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 100),
		"truncated": valid[:len(valid)/2],
		"empty":     {},
		"huge spans list": hostile(t, true, func(ctx context.Context, p thrift.TProtocol) {
			_ = p.WriteFieldBegin(ctx, "spans", thrift.LIST, 2)
			_ = p.WriteListBegin(ctx, thrift.STRUCT, math.MaxInt32)
		}),
		"huge string": hostile(t, true, func(ctx context.Context, p thrift.TProtocol) {
			_ = p.WriteFieldBegin(ctx, "x", thrift.STRING, 9)
			_ = p.WriteI32(ctx, 1<<30-1)
		}),
		"huge map": hostile(t, true, func(ctx context.Context, p thrift.TProtocol) {
			_ = p.WriteFieldBegin(ctx, "x", thrift.MAP, 9)
			_ = p.WriteMapBegin(ctx, thrift.STRING, thrift.STRING, math.MaxInt32)
		}),
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const rounds = 200
	for range rounds {
		for _, p := range bad {
			if _, err := conn.Write(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	oversized := make([]byte, MaxPacketBytes+1)
	if _, err := conn.Write(oversized); err != nil {
		t.Fatal(err)
	}
	malformed := a.m.packetsDropped.WithLabelValues(transportUDPCompact, packetMalformed)
	queueFull := a.m.packetsDropped.WithLabelValues(transportUDPCompact, packetQueueFull)
	testkit.Eventually(t, "every bad packet counted", func() bool {
		return counter(malformed)+counter(queueFull) >= rounds*float64(len(bad)) &&
			counter(a.m.packetsDropped.WithLabelValues(transportUDPCompact, packetOversized)) == 1
	})
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 32<<20 {
		t.Errorf("heap grew by %d MiB over %d hostile packets", grown>>20, rounds*len(bad))
	}
	t.Logf("malformed %v, queue_full %v, heap in use %d -> %d KiB", counter(malformed), counter(queueFull), before.HeapInuse>>10, after.HeapInuse>>10)

	// The agent still works.
	good, sent := jaegerBatch("good", 3)
	if _, err := conn.Write(emitBatchPacket(t, good, true)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "a good packet after the bad ones", func() bool { return col.Has(sent) == len(sent) })
}

func TestUDPInvalidIDsAreCounted(t *testing.T) {
	col := startCollector(t, "127.0.0.1:0")
	a := startAgent(t, testConfig(col.Addr))
	batch, sent := jaegerBatch("ids", 3)
	batch.Spans[2].SpanId = 0
	if _, err := udpSender(t, a.Addrs().UDPBinary).Write(emitBatchPacket(t, batch, false)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the valid spans", func() bool { return col.Has(sent[:2]) == 2 })
	if got := counter(a.m.dropped.WithLabelValues(dropInvalid)); got != 1 {
		t.Fatalf("dropped{invalid} = %v, want 1", got)
	}
}

func TestUDPBufferFullDropsAndCounts(t *testing.T) {
	cfg := testConfig("127.0.0.1:1") // nothing listens: every export fails
	cfg.BufferBytes = 1 << 20
	a := startAgent(t, cfg)
	conn := udpSender(t, a.Addrs().UDPCompact)
	sent := 0
	testkit.Eventually(t, "spans dropped as buffer_full", func() bool {
		b, _ := jaegerBatch("full", 50)
		if _, err := conn.Write(emitBatchPacket(t, b, true)); err != nil {
			t.Fatal(err)
		}
		sent += 50
		return counter(a.m.dropped.WithLabelValues(dropBufferFull)) > 0
	})
	if st := a.buf.stats(); st.Bytes > cfg.BufferBytes {
		t.Fatalf("buffer holds %d bytes, more than its bound %d", st.Bytes, cfg.BufferBytes)
	}
	testkit.Eventually(t, "every span received counted as held or dropped", func() bool {
		held := a.buf.stats().Spans
		c := a.intakeCounts(t, transportUDPCompact)
		return float64(held)+counter(a.m.dropped.WithLabelValues(dropBufferFull)) == c.Received &&
			c.Refused["buffer_full"] == counter(a.m.dropped.WithLabelValues(dropBufferFull)) && c.Received == c.Total()
	})
	if got := counter(a.m.packetsDropped.WithLabelValues(transportUDPCompact, packetBufferFull)); got == 0 {
		t.Fatal("no packet counted as dropped for buffer_full")
	}
	t.Logf("sent %d spans; held %d, dropped %v", sent, a.buf.stats().Spans, counter(a.m.dropped.WithLabelValues(dropBufferFull)))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = a.Shutdown(ctx) // the collector never comes: do not wait for it
}
