package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	jagent "github.com/jaegertracing/jaeger-idl/thrift-gen/agent"
	jthrift "github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"
	"github.com/opentracing/opentracing-go"
	"github.com/opentracing/opentracing-go/ext"
	otlog "github.com/opentracing/opentracing-go/log"
	jaegerclient "github.com/uber/jaeger-client-go"

	"github.com/scrytrace/scry/internal/testkit"
)

// TestJaegerClientOverUDP sends a trace with jaeger-client-go over UDP
// (compact Thrift, as to a Jaeger agent) straight to scry and reads it back
// from /api/traces/{id}: parent link, typed tags, logs, process.
func TestJaegerClientOverUDP(t *testing.T) {
	t.Parallel()
	s := startScry(t)
	testkit.EventuallyWithin(t, readyTimeout, "the banner listing the UDP listeners", func() bool {
		out := s.Output()
		return strings.Contains(out, "Jaeger UDP:  "+s.UDPCompact+" (compact Thrift)") &&
			strings.Contains(out, "Jaeger UDP:  "+s.UDPBinary+" (binary Thrift)")
	})

	transport, err := jaegerclient.NewUDPTransport(s.UDPCompact, 0)
	if err != nil {
		t.Fatal(err)
	}
	tracer, closer := jaegerclient.NewTracer("jaeger-udp-app", jaegerclient.NewConstSampler(true),
		jaegerclient.NewRemoteReporter(transport, jaegerclient.ReporterOptions.BufferFlushInterval(50*time.Millisecond)))
	root := tracer.StartSpan("GET /checkout")
	ext.SpanKindRPCServer.Set(root)
	root.SetTag("http.method", "GET")
	child := tracer.StartSpan("SELECT orders", opentracing.ChildOf(root.Context()))
	ext.SpanKindRPCClient.Set(child)
	child.SetTag("db.rows", 42)
	child.SetTag("cache.hit", false)
	child.SetTag("ratio", 0.25)
	child.LogFields(otlog.String("event", "retry"), otlog.Int("attempt", 2))
	child.Finish()
	root.Finish()
	if err := closer.Close(); err != nil { // flushes
		t.Fatal(err)
	}

	rc := root.Context().(jaegerclient.SpanContext)
	traceID := rc.TraceID().String() // 16 hex digits: a 64-bit Jaeger ID, as Jaeger writes it
	if rc.TraceID().High != 0 || len(traceID) != 16 {
		t.Fatalf("jaeger-client-go made trace ID %s, want a 64-bit one", traceID)
	}
	rootID, childID := spanHex(uint64(rc.SpanID())), spanHex(uint64(child.Context().(jaegerclient.SpanContext).SpanID()))
	want := map[string][]string{traceID: {rootID, childID}}
	testkit.EventuallyWithin(t, 30*time.Second, "the trace stored", func() bool {
		code, _, _ := s.get(t, "/api/traces/"+traceID)
		return code == 200
	})
	s.checkStored(t, want)

	got := s.trace(t, traceID)
	if got.TraceID != traceID {
		t.Errorf("traceID %q, want %q", got.TraceID, traceID)
	}
	// The same trace under its zero-padded 128-bit form.
	if padded := s.trace(t, fmt.Sprintf("%032x", rc.TraceID().Low)); len(padded.Spans) != 2 {
		t.Errorf("the trace under its padded ID has %d spans, want 2", len(padded.Spans))
	}
	spans := map[string]jSpan{}
	for _, sp := range got.Spans {
		spans[sp.SpanID] = sp
	}
	r, c := spans[rootID], spans[childID]
	if r.OperationName != "GET /checkout" || len(r.References) != 0 {
		t.Errorf("root: operation %q, references %+v", r.OperationName, r.References)
	}
	if c.OperationName != "SELECT orders" || len(c.References) != 1 ||
		c.References[0].RefType != "CHILD_OF" || c.References[0].SpanID != rootID || c.References[0].TraceID != got.TraceID {
		t.Errorf("child: operation %q, references %+v, want CHILD_OF %s", c.OperationName, c.References, rootID)
	}
	checkTag(t, "root", r.Tags, "span.kind", "string", "server")
	checkTag(t, "root", r.Tags, "http.method", "string", "GET")
	checkTag(t, "child", c.Tags, "span.kind", "string", "client")
	checkTag(t, "child", c.Tags, "db.rows", "int64", "42")
	checkTag(t, "child", c.Tags, "cache.hit", "bool", "false")
	checkTag(t, "child", c.Tags, "ratio", "float64", "0.25")
	if len(c.Logs) != 1 {
		t.Fatalf("child: %d logs, want 1", len(c.Logs))
	}
	checkTag(t, "child log", c.Logs[0].Fields, "event", "string", "retry")
	checkTag(t, "child log", c.Logs[0].Fields, "attempt", "int64", "2")
	if c.Logs[0].Timestamp < c.StartTime || c.Logs[0].Timestamp > c.StartTime+c.Duration {
		t.Errorf("child log at %d, outside the span [%d, +%d]", c.Logs[0].Timestamp, c.StartTime, c.Duration)
	}
	proc := got.Processes[r.ProcessID]
	if proc.ServiceName != "jaeger-udp-app" {
		t.Errorf("process service %q", proc.ServiceName)
	}
	var hostname bool
	for _, kv := range proc.Tags {
		hostname = hostname || kv.Key == "hostname"
	}
	if !hostname {
		t.Errorf("process tags %+v lack the client's hostname", proc.Tags)
	}

	udp := map[string]string{"transport": "udp_compact"}
	testkit.EventuallyWithin(t, 10*time.Second, "the spans counted", func() bool {
		return s.metric(t, "scry_receiver_spans_accepted_total", udp) == 2
	})
	if got := s.metric(t, "scry_receiver_spans_received_total", udp); got != 2 {
		t.Errorf("received{udp_compact} = %v, want 2", got)
	}
	if got := s.metric(t, "scry_receiver_udp_packets_received_total", udp); got < 1 {
		t.Errorf("udp packets received{udp_compact} = %v, want at least 1", got)
	}
}

// TestUDPBinaryEmitBatch sends an emitBatch packet in Thrift's binary
// protocol, as the binary-protocol Jaeger clients do, and checks that bad
// packets beside it are counted and dropped.
func TestUDPBinaryEmitBatch(t *testing.T) {
	t.Parallel()
	// The compact listener is off: only the binary one is listed.
	s := startScry(t, "--"+flagUDPCompact+"=")
	testkit.EventuallyWithin(t, readyTimeout, "the banner", func() bool { return strings.Contains(s.Output(), "admin:") })
	if out := s.Output(); !strings.Contains(out, "Jaeger UDP:  "+s.UDPBinary+" (binary Thrift)") || strings.Contains(out, "(compact Thrift)") {
		t.Errorf("banner with --udp-compact-addr empty:\n%s", out)
	}

	hi, lo := be64(newTraceID()[:8]), be64(newTraceID()[8:])
	rootID, childID := be64(newSpanID()), be64(newSpanID())
	now := time.Now().Add(-time.Second).UnixMicro()
	str := func(s string) *string { return &s }
	long := func(v int64) *int64 { return &v }
	batch := &jthrift.Batch{
		Process: &jthrift.Process{ServiceName: "binary-app", Tags: []*jthrift.Tag{{Key: "ip", VType: jthrift.TagType_STRING, VStr: str("10.0.0.7")}}},
		Spans: []*jthrift.Span{
			{TraceIdHigh: int64(hi), TraceIdLow: int64(lo), SpanId: int64(rootID), OperationName: "consume", Flags: 1,
				StartTime: now, Duration: 2000,
				Tags: []*jthrift.Tag{{Key: "span.kind", VType: jthrift.TagType_STRING, VStr: str("consumer")}}},
			{TraceIdHigh: int64(hi), TraceIdLow: int64(lo), SpanId: int64(childID), ParentSpanId: int64(rootID),
				OperationName: "handle", Flags: 1, StartTime: now + 100, Duration: 1000,
				Tags: []*jthrift.Tag{{Key: "retries", VType: jthrift.TagType_LONG, VLong: long(3)}},
				Logs: []*jthrift.Log{{Timestamp: now + 200, Fields: []*jthrift.Tag{{Key: "event", VType: jthrift.TagType_STRING, VStr: str("done")}}}}},
		},
	}
	buf := thrift.NewTMemoryBuffer()
	if err := jagent.NewAgentClientFactory(buf, thrift.NewTBinaryProtocolFactoryConf(nil)).EmitBatch(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("udp", s.UDPBinary)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, p := range [][]byte{
		bytes.Repeat([]byte{0xde, 0xad}, 50), // garbage
		buf.Bytes()[:buf.Len()/2],            // truncated
		buf.Bytes(),
	} {
		if _, err := conn.Write(p); err != nil {
			t.Fatal(err)
		}
	}

	traceID := fmt.Sprintf("%016x%016x", hi, lo)
	root, child := spanHex(rootID), spanHex(childID)
	testkit.EventuallyWithin(t, 30*time.Second, "the trace stored", func() bool {
		code, _, _ := s.get(t, "/api/traces/"+traceID)
		return code == 200
	})
	s.checkStored(t, map[string][]string{traceID: {root, child}})
	got := s.trace(t, traceID)
	var c jSpan
	for _, sp := range got.Spans {
		if sp.SpanID == child {
			c = sp
		}
	}
	if len(c.References) != 1 || c.References[0].RefType != "CHILD_OF" || c.References[0].SpanID != root {
		t.Errorf("child references %+v, want CHILD_OF %s", c.References, root)
	}
	checkTag(t, "child", c.Tags, "retries", "int64", "3")
	if len(c.Logs) != 1 || c.Logs[0].Timestamp != uint64(now+200) {
		t.Fatalf("child logs %+v, want one at %d", c.Logs, now+200)
	}
	checkTag(t, "child log", c.Logs[0].Fields, "event", "string", "done")
	proc := got.Processes[c.ProcessID]
	if proc.ServiceName != "binary-app" {
		t.Errorf("process service %q", proc.ServiceName)
	}
	checkTag(t, "process", proc.Tags, "ip", "string", "10.0.0.7")

	testkit.EventuallyWithin(t, 10*time.Second, "the bad packets counted", func() bool {
		return s.metric(t, "scry_receiver_udp_packets_dropped_total", map[string]string{"transport": "udp_binary", "reason": "malformed"}) == 2
	})
	if got := s.metric(t, "scry_receiver_udp_packets_received_total", map[string]string{"transport": "udp_binary"}); got != 3 {
		t.Errorf("udp packets received{udp_binary} = %v, want 3", got)
	}
	if got := s.metric(t, "scry_receiver_spans_accepted_total", map[string]string{"transport": "udp_binary"}); got != 2 {
		t.Errorf("spans accepted{udp_binary} = %v, want 2", got)
	}
}

// checkTag checks that tags hold key once, with Jaeger's type and value.
func checkTag(t *testing.T, what string, tags []jKV, key, typ, value string) {
	t.Helper()
	n := 0
	for _, kv := range tags {
		if kv.Key != key {
			continue
		}
		n++
		if kv.Type != typ || fmt.Sprint(kv.Value) != value {
			t.Errorf("%s: tag %s = %v (%s), want %s (%s)", what, key, kv.Value, kv.Type, value, typ)
		}
	}
	if n != 1 {
		t.Errorf("%s: tag %s appears %d times in %+v, want once", what, key, n, tags)
	}
}

func spanHex(v uint64) string { return fmt.Sprintf("%016x", v) }

func be64(b []byte) uint64 {
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}
