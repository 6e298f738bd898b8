package jaegerudp_test

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	jagent "github.com/jaegertracing/jaeger-idl/thrift-gen/agent"
	"github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/scrytrace/scry/collector/internal/intaketest"
	"github.com/scrytrace/scry/collector/jaegerudp"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/model/jaegerthrift"
)

// recorder is a Sink that keeps what it is given, or refuses everything.
type recorder struct {
	refuse bool

	mu       sync.Mutex
	spans    map[string][]*model.Span // by transport
	sizes    []int
	rejected map[string]int
}

func newRecorder(refuse bool) *recorder {
	return &recorder{refuse: refuse, spans: map[string][]*model.Span{}, rejected: map[string]int{}}
}

func (r *recorder) TakeSpans(transport string, spans []*model.Span, rejected []error, size int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejected[transport] += len(rejected)
	if r.refuse {
		return false
	}
	r.spans[transport] = append(r.spans[transport], spans...)
	r.sizes = append(r.sizes, size)
	return true
}

func (r *recorder) count(transport string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.spans[transport])
}

// testConfig listens on free loopback ports.
func testConfig() jaegerudp.Config {
	c := jaegerudp.DefaultConfig()
	c.CompactAddr, c.BinaryAddr = "127.0.0.1:0", "127.0.0.1:0"
	c.BufferBytes = 1 << 20
	return c
}

// startServer starts a server on cfg and shuts it down when the test ends.
func startServer(t *testing.T, cfg jaegerudp.Config, sink jaegerudp.Sink) (*jaegerudp.Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := jaegerudp.New(cfg, sink, telemetry.Settings{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return s, reg
}

// batch returns a trace of n spans of service, the first the parent of the
// others, each with a tag and a log.
func batch(service string, n int) *jaeger.Batch {
	hi, lo := int64(rand.Uint64()|1), int64(rand.Uint64()|1)
	now := time.Now().UnixMicro()
	var spans []*jaeger.Span
	for i := range n {
		s := &jaeger.Span{TraceIdHigh: hi, TraceIdLow: lo, SpanId: int64(rand.Uint64() | 1), OperationName: "op",
			StartTime: now, Duration: 100,
			Tags: []*jaeger.Tag{{Key: "n", VType: jaeger.TagType_LONG, VLong: ptr(int64(i))}},
			Logs: []*jaeger.Log{{Timestamp: now + 1, Fields: []*jaeger.Tag{{Key: "event", VType: jaeger.TagType_STRING, VStr: ptr("hit")}}}},
		}
		if i > 0 {
			s.ParentSpanId = spans[0].SpanId
		}
		spans = append(spans, s)
	}
	return &jaeger.Batch{Process: &jaeger.Process{ServiceName: service}, Spans: spans}
}

func ptr[T any](v T) *T { return &v }

// packet encodes b as a Jaeger client's UDP sender does.
func packet(t testing.TB, b *jaeger.Batch, compact bool) []byte {
	t.Helper()
	buf := thrift.NewTMemoryBuffer()
	var f thrift.TProtocolFactory = thrift.NewTBinaryProtocolFactoryConf(nil)
	if compact {
		f = thrift.NewTCompactProtocolFactoryConf(nil)
	}
	if err := jagent.NewAgentClientFactory(buf, f).EmitBatch(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hostile makes an emitBatch packet whose batch declares what write writes.
func hostile(compact bool, write func(ctx context.Context, p thrift.TProtocol)) []byte {
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

func send(t testing.TB, addr net.Addr, packets ...[]byte) {
	t.Helper()
	c, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range packets {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
}

func dropped(t testing.TB, reg *prometheus.Registry, transport, reason string) float64 {
	return intaketest.Counter(t, reg, "scry_receiver_udp_packets_dropped_total", map[string]string{"transport": transport, "reason": reason})
}

func TestPacketsReachTheSink(t *testing.T) {
	sink := newRecorder(false)
	s, reg := startServer(t, testConfig(), sink)
	for _, tc := range []struct {
		transport string
		compact   bool
		addr      net.Addr
	}{{jaegerudp.TransportCompact, true, s.Addrs().Compact}, {jaegerudp.TransportBinary, false, s.Addrs().Binary}} {
		t.Run(tc.transport, func(t *testing.T) {
			b := batch("svc-"+tc.transport, 3)
			p := packet(t, b, tc.compact)
			send(t, tc.addr, p)
			testkit.Eventually(t, "the spans in the sink", func() bool { return sink.count(tc.transport) == 3 })
			sink.mu.Lock()
			spans := sink.spans[tc.transport]
			sink.mu.Unlock()
			for i, sp := range spans {
				if sp.ServiceName() != "svc-"+tc.transport {
					t.Errorf("span %d: service %q", i, sp.ServiceName())
				}
				if sp.SpanID != (model.SpanID)(be(b.Spans[i].SpanId)) {
					t.Errorf("span %d: id %s, want %x", i, sp.SpanID, b.Spans[i].SpanId)
				}
				if i > 0 && sp.ParentSpanID != spans[0].SpanID {
					t.Errorf("span %d: parent %s, want %s", i, sp.ParentSpanID, spans[0].SpanID)
				}
				if len(sp.Attributes) != 1 || sp.Attributes[0].Key != "n" || len(sp.Events) != 1 || sp.Events[0].Name != "hit" {
					t.Errorf("span %d: attributes %+v, events %+v", i, sp.Attributes, sp.Events)
				}
			}
			if got := intaketest.Counter(t, reg, "scry_receiver_udp_packets_received_total", map[string]string{"transport": tc.transport}); got != 1 {
				t.Errorf("packets received = %v, want 1", got)
			}
		})
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.sizes) != 2 || sink.sizes[0] <= 0 {
		t.Errorf("packet sizes given to the sink: %v", sink.sizes)
	}
}

func be(v int64) [8]byte {
	var b [8]byte
	for i := range 8 {
		b[i] = byte(uint64(v) >> (56 - 8*i))
	}
	return b
}

func TestBadPacketsAreCountedAndDropped(t *testing.T) {
	sink := newRecorder(false)
	s, reg := startServer(t, testConfig(), sink)
	for _, tc := range []struct {
		transport string
		compact   bool
		addr      net.Addr
	}{{jaegerudp.TransportCompact, true, s.Addrs().Compact}, {jaegerudp.TransportBinary, false, s.Addrs().Binary}} {
		t.Run(tc.transport, func(t *testing.T) {
			valid := packet(t, batch("good", 3), tc.compact)
			bad := map[string][]byte{
				"garbage":     bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 100),
				"truncated":   valid[:len(valid)/2],
				"empty":       {},
				"wrong proto": packet(t, batch("other", 1), !tc.compact),
				"huge spans list": hostile(tc.compact, func(ctx context.Context, p thrift.TProtocol) {
					_ = p.WriteFieldBegin(ctx, "spans", thrift.LIST, 2)
					_ = p.WriteListBegin(ctx, thrift.STRUCT, math.MaxInt32)
				}),
				"huge string": hostile(tc.compact, func(ctx context.Context, p thrift.TProtocol) {
					_ = p.WriteFieldBegin(ctx, "x", thrift.STRING, 9)
					_ = p.WriteI32(ctx, 1<<30-1)
				}),
				"huge map": hostile(tc.compact, func(ctx context.Context, p thrift.TProtocol) {
					_ = p.WriteFieldBegin(ctx, "x", thrift.MAP, 9)
					_ = p.WriteMapBegin(ctx, thrift.STRING, thrift.STRING, math.MaxInt32)
				}),
			}
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			const rounds = 100
			for range rounds {
				for _, p := range bad {
					send(t, tc.addr, p)
				}
			}
			send(t, tc.addr, make([]byte, jaegerudp.MaxPacketBytes+1))
			testkit.Eventually(t, "every bad packet counted", func() bool {
				return dropped(t, reg, tc.transport, jaegerudp.DropMalformed)+dropped(t, reg, tc.transport, jaegerudp.DropQueueFull) >= rounds*float64(len(bad)) &&
					dropped(t, reg, tc.transport, jaegerudp.DropOversized) == 1
			})
			var after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&after)
			if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 32<<20 {
				t.Errorf("heap grew by %d MiB over %d hostile packets", grown>>20, rounds*len(bad))
			}
			if n := sink.count(tc.transport); n != 0 {
				t.Errorf("the sink got %d spans from bad packets", n)
			}
			// The server still works.
			send(t, tc.addr, valid)
			testkit.Eventually(t, "a good packet after the bad ones", func() bool { return sink.count(tc.transport) == 3 })
		})
	}
}

func TestInvalidIDsAreReported(t *testing.T) {
	sink := newRecorder(false)
	s, _ := startServer(t, testConfig(), sink)
	b := batch("ids", 3)
	b.Spans[2].SpanId = 0
	allBad := batch("ids", 2)
	allBad.Spans[0].TraceIdHigh, allBad.Spans[0].TraceIdLow = 0, 0
	allBad.Spans[1].TraceIdHigh, allBad.Spans[1].TraceIdLow = 0, 0
	send(t, s.Addrs().Binary, packet(t, b, false), packet(t, allBad, false))
	testkit.Eventually(t, "the rejected spans reported", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return sink.rejected[jaegerudp.TransportBinary] == 3
	})
	if n := sink.count(jaegerudp.TransportBinary); n != 2 {
		t.Fatalf("the sink got %d valid spans, want 2", n)
	}
}

func TestRefusingSinkCountsBufferFull(t *testing.T) {
	s, reg := startServer(t, testConfig(), newRecorder(true))
	send(t, s.Addrs().Compact, packet(t, batch("refused", 2), true), packet(t, batch("refused", 2), true))
	testkit.Eventually(t, "buffer_full counted", func() bool {
		return dropped(t, reg, jaegerudp.TransportCompact, jaegerudp.DropBufferFull) == 2
	})
}

// blockingSink holds every worker until released.
type blockingSink struct {
	release chan struct{}
}

func (b blockingSink) TakeSpans(string, []*model.Span, []error, int) bool {
	<-b.release
	return true
}

// TestReaderNeverWaitsForTheSink: with the workers stuck in the sink, the
// reader goes on reading; what does not fit the queue is dropped.
func TestReaderNeverWaitsForTheSink(t *testing.T) {
	cfg := testConfig()
	cfg.Workers, cfg.QueueBytes = 1, jaegerudp.MaxPacketBytes
	sink := blockingSink{release: make(chan struct{})}
	s, reg := startServer(t, cfg, sink)
	defer close(sink.release) // before the Cleanup's Shutdown
	p := packet(t, batch("stuck", 50), true)
	sent := 0
	testkit.Eventually(t, "queue_full counted", func() bool {
		send(t, s.Addrs().Compact, p)
		sent++
		return dropped(t, reg, jaegerudp.TransportCompact, jaegerudp.DropQueueFull) > 0
	})
	testkit.Eventually(t, "every packet read", func() bool {
		return intaketest.Counter(t, reg, "scry_receiver_udp_packets_received_total", map[string]string{"transport": jaegerudp.TransportCompact}) == float64(sent)
	})
}

func TestMetricPrefix(t *testing.T) {
	cfg := testConfig()
	cfg.MetricPrefix = "scry_agent"
	reg := prometheus.NewRegistry()
	s, err := jaegerudp.New(cfg, newRecorder(false), telemetry.Settings{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	s.Metrics().PacketsDropped.WithLabelValues(jaegerudp.TransportCompact, jaegerudp.DropMalformed).Inc()
	s.Metrics().PacketsReceived.WithLabelValues(jaegerudp.TransportCompact).Inc()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
		if mf.GetType() != dto.MetricType_COUNTER {
			t.Errorf("%s is %v, want a counter", mf.GetName(), mf.GetType())
		}
	}
	if got := strings.Join(names, ","); got != "scry_agent_udp_packets_dropped_total,scry_agent_udp_packets_received_total" {
		t.Fatalf("metrics %s", got)
	}
	// A second server on the same registry and prefix cannot register.
	if _, err := jaegerudp.New(cfg, newRecorder(false), telemetry.Settings{Registerer: reg}); err == nil {
		t.Fatal("a second server registered the same metrics")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := jaegerudp.DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	off := jaegerudp.DefaultConfig()
	off.CompactAddr, off.BinaryAddr = "", ""
	if err := off.Validate(); err != nil {
		t.Fatalf("both listeners off: %v", err)
	}
	bad := jaegerudp.Config{CompactAddr: "nonsense", BinaryAddr: "1.2.3.4", BufferBytes: -1, QueueBytes: 10, Workers: 0, MetricPrefix: "a-b"}
	err := bad.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`compact address "nonsense"`, `binary address "1.2.3.4"`, "buffer bytes", "queue bytes", "workers", "metric prefix"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := jaegerudp.New(jaegerudp.DefaultConfig(), nil, telemetry.Nop()); err == nil {
		t.Error("New with a nil sink: no error")
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	// Shut down before Start, twice.
	s, err := jaegerudp.New(testConfig(), newRecorder(false), telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err == nil {
		t.Fatal("Start after Shutdown: no error")
	}

	// Both listeners off: nothing listens.
	off := testConfig()
	off.CompactAddr, off.BinaryAddr = "", ""
	s, err = jaegerudp.New(off, newRecorder(false), telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if a := s.Addrs(); a.Compact != nil || a.Binary != nil {
		t.Fatalf("addresses with both off: %+v", a)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	// One off; started twice; shut down twice.
	one := testConfig()
	one.BinaryAddr = ""
	s, err = jaegerudp.New(one, newRecorder(false), telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if a := s.Addrs(); a.Compact == nil || a.Binary != nil {
		t.Fatalf("addresses with binary off: %+v", a)
	}
	if err := s.Start(ctx); err == nil {
		t.Fatal("second Start: no error")
	}
	addr := s.Addrs().Compact.String()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// The port is free again.
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("port not released: %v", err)
	}
	defer c.Close()

	// A taken address fails Start, and the other socket is closed again.
	taken := testConfig()
	taken.BinaryAddr = addr
	s, err = jaegerudp.New(taken, newRecorder(false), telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Start on a taken address: %v", err)
	}
	if a := s.Addrs(); a.Compact != nil {
		t.Fatalf("addresses after a failed start: %+v", a)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestShutdownHandsOnWhatIsQueued: packets read before Shutdown reach the
// sink.
func TestShutdownHandsOnWhatIsQueued(t *testing.T) {
	sink := newRecorder(false)
	reg := prometheus.NewRegistry()
	cfg := testConfig()
	s, err := jaegerudp.New(cfg, sink, telemetry.Settings{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 20
	for range n {
		send(t, s.Addrs().Compact, packet(t, batch("drain", 1), true))
	}
	testkit.Eventually(t, "every packet read", func() bool {
		return intaketest.Counter(t, reg, "scry_receiver_udp_packets_received_total", map[string]string{"transport": jaegerudp.TransportCompact}) == n
	})
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := sink.count(jaegerudp.TransportCompact); got != n {
		t.Fatalf("the sink got %d spans after Shutdown, want %d", got, n)
	}
}
