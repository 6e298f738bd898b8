package otlpgrpc_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/collector/internal/collectortest"
	"github.com/scrytrace/scry/collector/internal/intaketest"
	"github.com/scrytrace/scry/collector/otlpgrpc"
	"github.com/scrytrace/scry/collector/queue"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/storage/memory"
)

// env is a receiver on a free port in front of a real queue and memory
// store, with a client connected to it.
type env struct {
	*intaketest.Env
	r      *otlpgrpc.Receiver
	client coltracepb.TraceServiceClient
}

func setup(t *testing.T, qcfg queue.Config, configure func(*otlpgrpc.Config)) *env {
	t.Helper()
	e := &env{Env: intaketest.New(t, qcfg)}
	e.Transport = otlpgrpc.Transport
	cfg := otlpgrpc.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	if configure != nil {
		configure(&cfg)
	}
	r, err := otlpgrpc.New(cfg, e.Q, e.Metrics, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	e.Start(t, r, "")
	e.r = r
	conn, err := grpc.NewClient(r.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	e.client = coltracepb.NewTraceServiceClient(conn)
	t.Cleanup(func() {
		e.W.Release()
		conn.Close()
	})
	return e
}

func (e *env) export(ctx context.Context, rss []*tracepb.ResourceSpans, opts ...grpc.CallOption) (*coltracepb.ExportTraceServiceResponse, error) {
	return e.client.Export(ctx, &coltracepb.ExportTraceServiceRequest{ResourceSpans: rss}, opts...)
}

func TestConfigValidate(t *testing.T) {
	if err := otlpgrpc.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	if got := otlpgrpc.DefaultConfig().Addr; got != "127.0.0.1:4317" {
		t.Fatalf("default address %q", got)
	}
	for name, mod := range map[string]func(*otlpgrpc.Config){
		"address":  func(c *otlpgrpc.Config) { c.Addr = "nowhere" },
		"msg size": func(c *otlpgrpc.Config) { c.MaxRequestBytes = 0 },
		"spans":    func(c *otlpgrpc.Config) { c.MaxSpansPerRequest = -1 },
		"retry":    func(c *otlpgrpc.Config) { c.RetryAfter = 0 },
	} {
		cfg := otlpgrpc.DefaultConfig()
		mod(&cfg)
		if _, err := otlpgrpc.New(cfg, memoryQueue(t), testMetrics(t), telemetry.Nop()); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func memoryQueue(t *testing.T) *queue.Queue {
	q, err := queue.New(queue.DefaultConfig(), testkit.Start(t, memory.New()), telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func testMetrics(t *testing.T) *collector.Metrics {
	m, err := collector.NewMetrics(prometheus.NewRegistry(), intaketest.MetricPrefix, "committed")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSDKExport(t *testing.T) {
	for _, compressor := range []string{"", "gzip"} {
		t.Run("compressor="+compressor, func(t *testing.T) {
			e := setup(t, queue.DefaultConfig(), nil)
			opts := []otlptracegrpc.Option{
				otlptracegrpc.WithEndpoint(e.r.Addr().String()),
				otlptracegrpc.WithInsecure(),
			}
			if compressor != "" {
				opts = append(opts, otlptracegrpc.WithCompressor(compressor))
			}
			exp, err := otlptracegrpc.New(context.Background(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			sent := collectortest.EmitSDKTrace(t, exp)
			// The exporter returned: the spans are acknowledged, so stored.
			sent.Check(t, e.Store)
		})
	}
}

func TestPartialSuccess(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	bad := collectortest.Span(1, 2)
	bad.TraceId = bad.TraceId[:5]
	badParent := collectortest.Span(1, 3)
	badParent.ParentSpanId = []byte{1, 2, 3}
	resp, err := e.export(context.Background(), collectortest.Request("svc", collectortest.Span(1, 1), bad, badParent, collectortest.Span(1, 4)))
	if err != nil {
		t.Fatal(err)
	}
	ps := resp.GetPartialSuccess()
	if ps.GetRejectedSpans() != 2 {
		t.Fatalf("rejected %d spans, want 2", ps.GetRejectedSpans())
	}
	for _, want := range []string{"rejected 2 of 4 spans", "trace id has 5 bytes", "parent span id has 3 bytes"} {
		if !strings.Contains(ps.GetErrorMessage(), want) {
			t.Errorf("message %q does not say %q", ps.GetErrorMessage(), want)
		}
	}
	if got := len(collectortest.MustGetTrace(t, e.Store, collectortest.TraceID(1))); got != 2 {
		t.Fatalf("stored %d spans, want the 2 valid ones", got)
	}
	e.Counts(t).Check(t, testkit.Counts{Received: 4, Accepted: 2, Rejected: map[string]float64{"invalid": 2}})

	resp, err = e.export(context.Background(), collectortest.Request("svc", collectortest.Span(2, 1)))
	if err != nil || resp.GetPartialSuccess() != nil {
		t.Fatalf("all valid: got %v, %v; want an empty response", resp, err)
	}
	e.Counts(t).Check(t, testkit.Counts{Received: 5, Accepted: 3, Rejected: map[string]float64{"invalid": 2}})
}

// The case: two spans, one with an all-zero trace ID.
func TestZeroTraceIDCounted(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	zero := collectortest.Span(1, 2)
	zero.TraceId = make([]byte, 16)
	resp, err := e.export(context.Background(), collectortest.Request("svc", collectortest.Span(1, 1), zero))
	if err != nil || resp.GetPartialSuccess().GetRejectedSpans() != 1 {
		t.Fatalf("got %v, %v; want a partial success rejecting 1", resp, err)
	}
	e.Counts(t).Check(t, testkit.Counts{Received: 2, Accepted: 1, Rejected: map[string]float64{"invalid": 1}})
}

func TestAllInvalid(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	bad1, bad2 := collectortest.Span(1, 1), collectortest.Span(1, 2)
	bad1.SpanId = make([]byte, 8) // all zeros
	bad2.TraceId = nil
	_, err := e.export(context.Background(), collectortest.Request("svc", bad1, bad2))
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("got %v, want INVALID_ARGUMENT", err)
	}
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "span id is all zeros") || !strings.Contains(msg, "trace id has 0 bytes") {
		t.Fatalf("message %q does not say what was wrong", msg)
	}
	// The server is untouched.
	if _, err := e.export(context.Background(), collectortest.Request("svc", collectortest.Span(2, 1))); err != nil {
		t.Fatal(err)
	}
	e.Counts(t).Check(t, testkit.Counts{Received: 3, Accepted: 1, Rejected: map[string]float64{"invalid": 2}})
}

func TestEmptyExport(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	if _, err := e.export(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

// bigSpan returns a span with an attribute of n bytes.
func bigSpan(trace, span, n int) *tracepb.Span {
	sp := collectortest.Span(trace, span)
	sp.Attributes = append(sp.Attributes, &commonpb.KeyValue{
		Key:   "padding",
		Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: strings.Repeat("x", n)}},
	})
	return sp
}

func TestMessageTooLarge(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), func(c *otlpgrpc.Config) { c.MaxRequestBytes = 64 << 10 })
	_, err := e.export(context.Background(), collectortest.Request("svc", bigSpan(1, 1, 100<<10)))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("got %v, want RESOURCE_EXHAUSTED", err)
	}
	// Compressed it is small; the limit applies after decompression.
	_, err = e.export(context.Background(), collectortest.Request("svc", bigSpan(1, 1, 1<<20)), grpc.UseCompressor(gzip.Name))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("gzip: got %v, want RESOURCE_EXHAUSTED", err)
	}
	if _, err := e.export(context.Background(), collectortest.Request("svc", bigSpan(1, 1, 1<<10)), grpc.UseCompressor(gzip.Name)); err != nil {
		t.Fatalf("small gzip export: %v", err)
	}
}

func TestTooManySpans(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), func(c *otlpgrpc.Config) { c.MaxSpansPerRequest = 3 })
	_, err := e.export(context.Background(), collectortest.Request("svc",
		collectortest.Span(1, 1), collectortest.Span(1, 2), collectortest.Span(1, 3), collectortest.Span(1, 4)))
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "4 spans") {
		t.Fatalf("got %v, want RESOURCE_EXHAUSTED about 4 spans", err)
	}
	if d := status.Convert(err).Details(); len(d) != 0 {
		t.Fatalf("details %v: a request with too many spans must not invite a retry", d)
	}
	e.Counts(t).Check(t, testkit.Counts{Received: 4, Rejected: map[string]float64{"too_large": 4}})
}

func TestQueueFull(t *testing.T) {
	e := setup(t, queue.Config{MaxBytes: 1000, MaxBatchSpans: 100, Writers: 1}, nil)
	e.W.Hold()
	first := make(chan error, 1)
	go func() {
		_, err := e.export(context.Background(), collectortest.Request("svc", bigSpan(1, 1, 600)))
		first <- err
	}()
	testkit.Eventually(t, "first export held in the writer", func() bool { return e.W.Waiting() == 1 })

	_, err := e.export(context.Background(), collectortest.Request("svc", bigSpan(2, 1, 600)))
	st := status.Convert(err)
	if st.Code() != codes.Unavailable {
		t.Fatalf("got %v, want UNAVAILABLE", err)
	}
	var info *errdetails.RetryInfo
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			info = ri
		}
	}
	if info == nil || info.GetRetryDelay().AsDuration() != time.Second {
		t.Fatalf("details %v, want RetryInfo with a 1s delay", st.Details())
	}

	e.W.Release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got := len(collectortest.MustGetTrace(t, e.Store, collectortest.TraceID(1))); got != 1 {
		t.Fatalf("first export: %d spans stored, want 1", got)
	}
	// With room again, the retry succeeds.
	if _, err := e.export(context.Background(), collectortest.Request("svc", bigSpan(2, 1, 600))); err != nil {
		t.Fatal(err)
	}
	e.Counts(t).Check(t, testkit.Counts{Received: 3, Accepted: 2, Refused: map[string]float64{"queue_full": 1}})
}

func TestDeadline(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	e.W.Hold()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := e.export(ctx, collectortest.Request("svc", collectortest.Span(1, 1)))
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("got %v, want DEADLINE_EXCEEDED", err)
	}
}

func TestGroupCommit(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	e.W.Hold()
	const exports = 20
	var wg sync.WaitGroup
	errs := make(chan error, exports)
	for i := range exports {
		wg.Go(func() {
			_, err := e.export(context.Background(), collectortest.Request("svc", collectortest.Span(100+i, 1), collectortest.Span(100+i, 2)))
			errs <- err
		})
	}
	testkit.Eventually(t, "every export queued", func() bool { return e.Q.Stats().Requests == exports })
	e.W.Release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if calls := e.W.Calls(); calls >= exports {
		t.Fatalf("%d WriteSpans calls for %d exports, want fewer", calls, exports)
	}
	for i := range exports {
		if got := len(collectortest.MustGetTrace(t, e.Store, collectortest.TraceID(100+i))); got != 2 {
			t.Fatalf("export %d: %d spans stored, want 2", i, got)
		}
	}
}

func TestShutdownDrains(t *testing.T) {
	e := setup(t, queue.Config{MaxBytes: 1 << 20, MaxBatchSpans: 4, Writers: 2}, nil)
	e.W.Hold()
	const exports = 10
	acked := make(chan int, exports)
	var wg sync.WaitGroup
	for i := range exports {
		wg.Go(func() {
			if _, err := e.export(context.Background(), collectortest.Request("svc", collectortest.Span(200+i, 1), collectortest.Span(200+i, 2))); err == nil {
				acked <- i
			} else {
				t.Errorf("export %d: %v", i, err)
			}
		})
	}
	testkit.Eventually(t, "every export queued", func() bool { return e.Q.Stats().Requests == exports })

	stopped := make(chan error, 1)
	go func() {
		// As a binary does: receiver first (waits for exports in flight), then the queue.
		err := errors.Join(e.r.Shutdown(context.Background()), e.Q.Shutdown(context.Background()))
		stopped <- err
	}()
	e.W.Release()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(acked)
	n := 0
	for i := range acked {
		n++
		if got := len(collectortest.MustGetTrace(t, e.Store, collectortest.TraceID(200+i))); got != 2 {
			t.Fatalf("acknowledged export %d: %d spans stored, want 2", i, got)
		}
	}
	if n != exports {
		t.Fatalf("%d of %d exports acknowledged", n, exports)
	}
	if err := e.r.Shutdown(context.Background()); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := e.export(ctx, collectortest.Request("svc", collectortest.Span(1, 1))); err == nil {
		t.Fatal("export after shutdown succeeded")
	}
}
