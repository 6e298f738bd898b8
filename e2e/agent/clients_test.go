package agente2e

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/opentracing/opentracing-go"
	"github.com/opentracing/opentracing-go/ext"
	otlog "github.com/opentracing/opentracing-go/log"
	jaeger "github.com/uber/jaeger-client-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// TestJaegerClientOverUDP sends a trace with jaeger-client-go over UDP
// (compact Thrift) through the agent and reads it back from the
// collector's store: parent links, typed tags and logs as events.
func TestJaegerClientOverUDP(t *testing.T) {
	col := startCollector(t)
	ag := startAgent(t, col.GRPC)
	st := store(t, col)

	transport, err := jaeger.NewUDPTransport(ag.UDPCompact, 0)
	if err != nil {
		t.Fatal(err)
	}
	tracer, closer := jaeger.NewTracer("jaeger-app", jaeger.NewConstSampler(true),
		jaeger.NewRemoteReporter(transport, jaeger.ReporterOptions.BufferFlushInterval(50*time.Millisecond)))
	root := tracer.StartSpan("GET /checkout")
	ext.SpanKindRPCServer.Set(root)
	root.SetTag("http.method", "GET")
	child := tracer.StartSpan("SELECT orders", opentracing.ChildOf(root.Context()))
	ext.SpanKindRPCClient.Set(child)
	child.SetTag("db.rows", 42)
	child.SetTag("cache.hit", false)
	child.LogFields(otlog.String("event", "retry"), otlog.Int("attempt", 2))
	child.Finish()
	root.Finish()
	if err := closer.Close(); err != nil { // flushes
		t.Fatal(err)
	}

	rc := root.Context().(jaeger.SpanContext)
	var tid model.TraceID
	binary.BigEndian.PutUint64(tid[:8], rc.TraceID().High)
	binary.BigEndian.PutUint64(tid[8:], rc.TraceID().Low)
	var rootID, childID model.SpanID
	binary.BigEndian.PutUint64(rootID[:], uint64(rc.SpanID()))
	binary.BigEndian.PutUint64(childID[:], uint64(child.Context().(jaeger.SpanContext).SpanID()))
	waitStored(t, st, []sentSpan{{tid, rootID}, {tid, childID}}, 30*time.Second)

	spans, err := st.GetTrace(context.Background(), tid, storage.TimeHint{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[model.SpanID]*model.Span{}
	for _, s := range spans {
		byID[s.SpanID] = s
	}
	r, c := byID[rootID], byID[childID]
	if r.ServiceName() != "jaeger-app" || r.Kind != model.SpanKindServer || !r.ParentSpanID.IsZero() {
		t.Errorf("root: service %q kind %v parent %s", r.ServiceName(), r.Kind, r.ParentSpanID)
	}
	if c.ParentSpanID != rootID || c.Kind != model.SpanKindClient || c.Name != "SELECT orders" {
		t.Errorf("child: parent %s (want %s) kind %v name %q", c.ParentSpanID, rootID, c.Kind, c.Name)
	}
	attrs := map[string]model.Value{}
	for _, kv := range c.Attributes {
		attrs[kv.Key] = kv.Value
	}
	if v := attrs["db.rows"]; v.Type != model.ValueInt || v.Int != 42 {
		t.Errorf("child db.rows = %+v, want int 42", v)
	}
	if v := attrs["cache.hit"]; v.Type != model.ValueBool || v.Bool {
		t.Errorf("child cache.hit = %+v, want bool false", v)
	}
	if len(c.Events) != 1 || c.Events[0].Name != "retry" || len(c.Events[0].Attributes) != 1 || c.Events[0].Attributes[0].Value.Int != 2 {
		t.Errorf("child events = %+v, want the log as event \"retry\" with attempt=2", c.Events)
	}
	var hasHostname bool
	for _, kv := range r.Resource.Attributes {
		hasHostname = hasHostname || kv.Key == "hostname"
	}
	if !hasHostname {
		t.Errorf("resource %+v lacks the client's process tags", r.Resource.Attributes)
	}
	// And as Jaeger UI sees it, through scry-query.
	q := startQuery(t, col)
	resp, err := http.Get("http://" + q + "/api/traces/" + tid.String())
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Data []struct {
			Spans []struct {
				SpanID     string `json:"spanID"`
				References []struct {
					RefType string `json:"refType"`
					SpanID  string `json:"spanID"`
				} `json:"references"`
				Logs []struct{} `json:"logs"`
			} `json:"spans"`
			Processes map[string]struct {
				ServiceName string `json:"serviceName"`
			} `json:"processes"`
		} `json:"data"`
	}
	err = json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	if err != nil || len(env.Data) != 1 || len(env.Data[0].Spans) != 2 {
		t.Fatalf("scry-query /api/traces/%s: %+v, %v; want one trace of 2 spans", tid, env, err)
	}
	for _, sp := range env.Data[0].Spans {
		if sp.SpanID != childID.String() {
			continue
		}
		if len(sp.References) != 1 || sp.References[0].RefType != "CHILD_OF" || sp.References[0].SpanID != rootID.String() || len(sp.Logs) != 1 {
			t.Errorf("child through scry-query: %+v, want CHILD_OF %s and one log", sp, rootID)
		}
	}
	if got := ag.metric(t, "scry_agent_spans_received_total", `transport="udp_compact"`); got != 2 {
		t.Errorf("received{udp_compact} = %v, want 2", got)
	}

	// The sampling endpoint answers Jaeger's default while the collector
	// serves no strategy.
	resp, err = http.Get("http://" + ag.Sampling + "/sampling?service=jaeger-app")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.001}}`; string(body) != want {
		t.Errorf("sampling: %s, want %s", body, want)
	}
}

// TestOTelSDK sends through the agent with the OpenTelemetry SDK's gRPC and
// HTTP exporters.
func TestOTelSDK(t *testing.T) {
	col := startCollector(t)
	ag := startAgent(t, col.GRPC)
	st := store(t, col)
	ctx := context.Background()

	for _, tc := range []struct {
		name string
		exp  func() (sdktrace.SpanExporter, error)
	}{
		{"grpc", func() (sdktrace.SpanExporter, error) {
			return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(ag.GRPC), otlptracegrpc.WithInsecure())
		}},
		{"http", func() (sdktrace.SpanExporter, error) {
			return otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(ag.HTTP), otlptracehttp.WithInsecure())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp, err := tc.exp()
			if err != nil {
				t.Fatal(err)
			}
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
				sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "otel-"+tc.name))))
			tr := tp.Tracer("e2e")
			sctx, root := tr.Start(ctx, "root", trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attribute.Int("n", 7)))
			_, child := tr.Start(sctx, "child")
			child.AddEvent("cache miss", trace.WithAttributes(attribute.String("key", "k1")))
			child.End()
			root.End()
			if err := tp.Shutdown(ctx); err != nil { // flushes
				t.Fatal(err)
			}
			tid := model.TraceID(root.SpanContext().TraceID())
			rootID, childID := model.SpanID(root.SpanContext().SpanID()), model.SpanID(child.SpanContext().SpanID())
			waitStored(t, st, []sentSpan{{tid, rootID}, {tid, childID}}, 30*time.Second)
			spans, err := st.GetTrace(ctx, tid, storage.TimeHint{})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range spans {
				if s.ServiceName() != "otel-"+tc.name {
					t.Errorf("span %s: service %q", s.Name, s.ServiceName())
				}
				if s.SpanID == childID && (s.ParentSpanID != rootID || len(s.Events) != 1 || s.Events[0].Name != "cache miss") {
					t.Errorf("child: parent %s, events %+v", s.ParentSpanID, s.Events)
				}
				if s.SpanID == rootID && (s.Kind != model.SpanKindServer || len(s.Attributes) != 1 || s.Attributes[0].Value.Int != 7) {
					t.Errorf("root: kind %v, attributes %+v", s.Kind, s.Attributes)
				}
			}
		})
	}
}

// ---- raw OTLP ----

func otlpClient(t testing.TB, addr string) coltracepb.TraceServiceClient {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return coltracepb.NewTraceServiceClient(conn)
}

// otlpRequest makes an export of n spans of service, in traces of 10.
func otlpRequest(service string, n int) (*coltracepb.ExportTraceServiceRequest, []sentSpan) {
	var spans []*tracepb.Span
	var sent []sentSpan
	now := uint64(time.Now().UnixNano())
	var trace model.TraceID
	for i := range n {
		if i%10 == 0 {
			_, _ = rand.Read(trace[:])
		}
		var id model.SpanID
		_, _ = rand.Read(id[:])
		id[0] |= 1
		tid := trace
		spans = append(spans, &tracepb.Span{
			TraceId: tid[:], SpanId: id[:], Name: fmt.Sprintf("op-%d", i%7),
			Kind: tracepb.Span_SPAN_KIND_SERVER, StartTimeUnixNano: now, EndTimeUnixNano: now + 1000,
			Attributes: []*commonpb.KeyValue{
				{Key: "i", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: int64(i)}}},
			},
		})
		sent = append(sent, sentSpan{trace: tid, span: id})
	}
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: service}}}}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}},
	}}}, sent
}
