package agent

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	jagent "github.com/jaegertracing/jaeger-idl/thrift-gen/agent"
	"github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/collector/otlpgrpc"
	"github.com/scrytrace/scry/collector/queue"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/memory"
)

// testCollector is a real collector in the test's process: the OTLP/gRPC
// receiver in front of the bounded queue over the memory store.
type testCollector struct {
	t     testing.TB
	Store *memory.Store
	Addr  string

	mu   sync.Mutex
	q    *queue.Queue
	recv *otlpgrpc.Receiver
}

// startCollector starts a collector on addr ("127.0.0.1:0" for any port).
func startCollector(t testing.TB, addr string) *testCollector {
	t.Helper()
	c := &testCollector{t: t, Store: testkit.Start(t, memory.New())}
	c.start(addr)
	t.Cleanup(c.Stop)
	return c
}

func (c *testCollector) start(addr string) {
	c.t.Helper()
	q, err := queue.New(queue.DefaultConfig(), c.Store, telemetry.Nop())
	if err != nil {
		c.t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		c.t.Fatal(err)
	}
	cfg := otlpgrpc.DefaultConfig()
	cfg.Addr = addr
	cfg.RetryAfter = 50 * time.Millisecond
	m, err := collector.NewMetrics(prometheus.NewRegistry(), "scry_receiver", "committed")
	if err != nil {
		c.t.Fatal(err)
	}
	recv, err := otlpgrpc.New(cfg, q, m, telemetry.Nop())
	if err != nil {
		c.t.Fatal(err)
	}
	// A port just freed may take a moment to bind again.
	testkit.Poll(5*time.Second, func() bool {
		err = recv.Start(context.Background())
		return err == nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.q, c.recv, c.Addr = q, recv, recv.Addr().String()
	c.mu.Unlock()
}

// Stop stops the collector; its store keeps what it has.
func (c *testCollector) Stop() {
	c.mu.Lock()
	recv, q := c.recv, c.q
	c.recv, c.q = nil, nil
	c.mu.Unlock()
	if recv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = recv.Shutdown(ctx)
	_ = q.Shutdown(ctx)
}

// Restart starts the collector again on the same address.
func (c *testCollector) Restart() { c.start(c.Addr) }

// Has reports how many of the spans are stored.
func (c *testCollector) Has(spans []sentSpan) int {
	n := 0
	traces := map[model.TraceID][]*model.Span{}
	for _, s := range spans {
		got, ok := traces[s.trace]
		if !ok {
			var err error
			got, err = c.Store.GetTrace(context.Background(), s.trace, storage.TimeHint{})
			if err != nil && !errors.Is(err, storage.ErrTraceNotFound) {
				c.t.Fatal(err)
			}
			traces[s.trace] = got
		}
		for _, g := range got {
			if g.SpanID == s.span {
				n++
				break
			}
		}
	}
	return n
}

// sentSpan names a span a test sent.
type sentSpan struct {
	trace model.TraceID
	span  model.SpanID
}

// testConfig is a config on free loopback ports, fast batching and backoff.
func testConfig(collectors ...string) Config {
	cfg := DefaultConfig()
	cfg.UDPCompactAddr, cfg.UDPBinaryAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.OTLPGRPCAddr, cfg.OTLPHTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.SamplingAddr = ""
	cfg.UDPBufferBytes = 1 << 20
	cfg.Collectors = collectors
	cfg.BatchTimeout = 20 * time.Millisecond
	cfg.RetryInitialBackoff = 20 * time.Millisecond
	cfg.RetryMaxBackoff = 200 * time.Millisecond
	cfg.RetryAfter = 100 * time.Millisecond
	cfg.ExportTimeout = 2 * time.Second
	return cfg
}

// startAgent starts an agent, shut down when the test ends.
func startAgent(t testing.TB, cfg Config) *Agent {
	t.Helper()
	a, err := New(cfg, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	})
	return a
}

// counter reads a counter's value.
func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func randTrace() model.TraceID {
	var id model.TraceID
	_, _ = rand.Read(id[:])
	return id
}

func randSpan() model.SpanID {
	var id model.SpanID
	_, _ = rand.Read(id[:])
	id[0] |= 1
	return id
}

// otlpRequest makes an export of n spans of service, in traces of 10, with
// a few attributes each.
func otlpRequest(service string, n int) (*coltracepb.ExportTraceServiceRequest, []sentSpan) {
	var spans []*tracepb.Span
	var sent []sentSpan
	now := uint64(time.Now().UnixNano())
	var trace model.TraceID
	for i := range n {
		if i%10 == 0 {
			trace = randTrace()
		}
		id, tid := randSpan(), trace // copies: the slices below must not alias trace
		spans = append(spans, &tracepb.Span{
			TraceId: tid[:], SpanId: id[:], Name: fmt.Sprintf("op-%d", i%7),
			Kind: tracepb.Span_SPAN_KIND_SERVER, StartTimeUnixNano: now, EndTimeUnixNano: now + 1000,
			Attributes: []*commonpb.KeyValue{
				{Key: "http.method", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "GET"}}},
				{Key: "http.status_code", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 200}}},
				{Key: "i", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: int64(i)}}},
			},
		})
		sent = append(sent, sentSpan{trace: trace, span: id})
	}
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: service}}}}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}},
	}}}, sent
}

// otlpClient connects to an OTLP/gRPC address.
func otlpClient(t testing.TB, addr net.Addr) coltracepb.TraceServiceClient {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return coltracepb.NewTraceServiceClient(conn)
}

// jaegerBatch makes a Jaeger batch of n spans of service in one trace: a
// root and children, with tags and a log each.
func jaegerBatch(service string, n int) (*jaeger.Batch, []sentSpan) {
	tr := randTrace()
	hi, lo := int64(be64(tr[:8])), int64(be64(tr[8:]))
	now := time.Now().UnixMicro()
	var spans []*jaeger.Span
	var sent []sentSpan
	for i := range n {
		sid := randSpan()
		s := &jaeger.Span{TraceIdHigh: hi, TraceIdLow: lo, SpanId: int64(be64(sid[:])), OperationName: fmt.Sprintf("op-%d", i),
			Flags: 1, StartTime: now, Duration: 100,
			Tags: []*jaeger.Tag{{Key: "span.kind", VType: jaeger.TagType_STRING, VStr: ptr("server")},
				{Key: "n", VType: jaeger.TagType_LONG, VLong: ptr(int64(i))}},
			Logs: []*jaeger.Log{{Timestamp: now + 1, Fields: []*jaeger.Tag{{Key: "event", VType: jaeger.TagType_STRING, VStr: ptr("hit")}}}},
		}
		if i > 0 {
			s.ParentSpanId = spans[0].SpanId
		}
		spans = append(spans, s)
		sent = append(sent, sentSpan{trace: tr, span: sid})
	}
	return &jaeger.Batch{Process: &jaeger.Process{ServiceName: service}, Spans: spans}, sent
}

func ptr[T any](v T) *T { return &v }

func be64(b []byte) uint64 {
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
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

// udpSender sends packets to addr.
func udpSender(t testing.TB, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// intake returns the agent's intake counters of transport
// (scry_agent_spans_*).
func (a *Agent) intakeCounts(t testing.TB, transport string) testkit.Counts {
	t.Helper()
	return testkit.GatherCounts(t, a.tel.Registerer.(prometheus.Gatherer), "scry_agent", transport)
}
