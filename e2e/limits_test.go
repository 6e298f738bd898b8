package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/internal/testkit"
)

// TestLimits runs scry with a --limits-file that the test rewrites between
// its phases (re-read every 100 ms): spans cut to the attribute limits,
// requests over the ingestion rate answered 429 / RESOURCE_EXHAUSTED with
// a delay to retry after (and an SDK that retries loses nothing), and a
// trace over its max bytes refused while the rest of the request is kept.
func TestLimits(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "limits.yaml")
	setLimits := func(yaml string) {
		t.Helper()
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil { // as a ConfigMap update swaps the file
			t.Fatal(err)
		}
	}
	setLimits("defaults:\n  max_attributes_per_span: 4\n  max_attribute_value_length: 16\n")
	s := startScry(t, "--limits-file="+path, "--limits-reload-interval=100ms")
	c := s.traceClient(t)

	t.Run("Truncated", func(t *testing.T) {
		tid, sid := newTraceID(), newSpanID()
		attrs := []*commonpb.KeyValue{kvStr("long", strings.Repeat("x", 100))}
		for i := range 9 {
			attrs = append(attrs, kvInt("n"+strconv.Itoa(i), int64(i)))
		}
		s.exportOK(t, c, resourceSpans("limits-trunc", nil, span(tid, sid, nil, "op", tracepb.Span_SPAN_KIND_SERVER, time.Now(), time.Millisecond, attrs...)))
		var body struct {
			Result json.RawMessage `json:"result"`
		}
		s.getJSON(t, "/api/v3/traces/"+hexID(tid), http.StatusOK, &body)
		sp := decodeOTLPJSON(t, body.Result).GetResourceSpans()[0].GetScopeSpans()[0].GetSpans()[0]
		if n, d := len(sp.GetAttributes()), sp.GetDroppedAttributesCount(); n != 4 || d != 6 {
			t.Errorf("stored %d attributes with %d dropped, want 4 and 6", n, d)
		}
		if v := sp.GetAttributes()[0].GetValue().GetStringValue(); v != strings.Repeat("x", 16) {
			t.Errorf("long value stored as %q, want 16 bytes of it", v)
		}
	})

	t.Run("Rate", func(t *testing.T) {
		setLimits("defaults:\n  ingestion_rate_bytes: 2KiB\n  ingestion_burst_bytes: 4KiB\n")
		body := exportBody(t, 30) // ~3 KiB
		post := func() *http.Response {
			resp, err := http.Post("http://"+s.OTLPHTTP+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		var limited *http.Response
		testkit.Eventually(t, "a request over the rate answered 429", func() bool {
			if r := post(); r.StatusCode == http.StatusTooManyRequests {
				limited = r
				return true
			}
			return false
		})
		if ra, err := strconv.Atoi(limited.Header.Get("Retry-After")); err != nil || ra < 1 {
			t.Errorf("429 with Retry-After %q, want whole seconds >= 1", limited.Header.Get("Retry-After"))
		}
		_, err := c.Export(ctxT(t), exportRequest(t, 30))
		st := status.Convert(err)
		var retry *errdetails.RetryInfo
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				retry = ri
			}
		}
		if st.Code() != codes.ResourceExhausted || retry == nil || retry.GetRetryDelay().AsDuration() <= 0 {
			t.Errorf("gRPC over the rate: %v (retry info %v), want RESOURCE_EXHAUSTED with RetryInfo", err, retry)
		}
		if got := s.metric(t, "scry_limits_rate_limited_bytes_total", map[string]string{"tenant": ""}); got <= 0 {
			t.Errorf("scry_limits_rate_limited_bytes_total = %v", got)
		}

		// An SDK with its default retries sends 60 spans into a drained
		// bucket: every one is stored, some after waiting.
		exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpoint(s.OTLPHTTP), otlptracehttp.WithInsecure())
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{SpanExporter: exp}
		tp := sdktrace.NewTracerProvider(
			sdktrace.WithResource(sdkresource.NewSchemaless(attribute.String("service.name", "limits-sdk"))),
			sdktrace.WithBatcher(rec, sdktrace.WithMaxExportBatchSize(20), sdktrace.WithBatchTimeout(50*time.Millisecond)))
		tr := tp.Tracer("e2e")
		var ids []string
		for range 3 {
			_, root := tr.Start(context.Background(), "root")
			ids = append(ids, root.SpanContext().TraceID().String())
			for range 19 {
				_, sp := tr.Start(trace.ContextWithSpan(context.Background(), root), "child")
				sp.End()
			}
			root.End()
		}
		post() // drain the bucket again
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			t.Fatalf("SDK shutdown: %v", err)
		}
		if len(rec.errs) != 0 {
			t.Errorf("SDK export errors after retries: %v", rec.errs)
		}
		for _, id := range ids {
			if got := len(s.trace(t, id).Spans); got != 20 {
				t.Errorf("trace %s: %d spans stored, want 20", id, got)
			}
		}
		setLimits("defaults: {}\n")
	})

	t.Run("TraceTooLarge", func(t *testing.T) {
		setLimits("defaults:\n  max_bytes_per_trace: 2KB\n")
		big := newTraceID()
		var small []byte
		filler := kvStr("filler", strings.Repeat("f", 900))
		testkit.Eventually(t, "the trace limit applies", func() bool {
			small = newTraceID()
			sp := span(big, newSpanID(), nil, "op", tracepb.Span_SPAN_KIND_SERVER, time.Now(), time.Millisecond, filler)
			other := span(small, newSpanID(), nil, "op", tracepb.Span_SPAN_KIND_SERVER, time.Now(), time.Millisecond)
			resp, err := c.Export(ctxT(t), &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{resourceSpans("limits-big", nil, sp, other)}})
			if status.Code(err) == codes.ResourceExhausted {
				return false // the rate limit of the phase before, not yet reloaded
			}
			if err != nil {
				t.Fatalf("export: %v", err)
			}
			ps := resp.GetPartialSuccess()
			if ps.GetRejectedSpans() == 0 {
				return false
			}
			if ps.GetRejectedSpans() != 1 || !strings.Contains(ps.GetErrorMessage(), "max of 2000 bytes per trace") {
				t.Errorf("partial success %v, want the big trace's span named", ps)
			}
			return true
		})
		if got := len(s.trace(t, hexID(small)).Spans); got == 0 {
			t.Error("the small trace sent beside the big one was not stored")
		}
		if got := s.metric(t, "scry_limits_trace_too_large_spans_total", map[string]string{"tenant": ""}); got < 1 {
			t.Errorf("scry_limits_trace_too_large_spans_total = %v", got)
		}
	})
}

// exportRequest is one request of n spans of one trace.
func exportRequest(t *testing.T, n int) *coltracepb.ExportTraceServiceRequest {
	t.Helper()
	tid := newTraceID()
	var spans []*tracepb.Span
	for range n {
		spans = append(spans, span(tid, newSpanID(), nil, "op", tracepb.Span_SPAN_KIND_SERVER, time.Now(), time.Millisecond,
			kvStr("payload", strings.Repeat("p", 60))))
	}
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{resourceSpans("limits-rate", nil, spans...)}}
}

// exportBody is exportRequest as an OTLP/HTTP protobuf body.
func exportBody(t *testing.T, n int) []byte {
	t.Helper()
	b, err := proto.Marshal(exportRequest(t, n))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLimitsTenants: limits are per tenant. team-a over its ingestion rate
// is answered 429 while team-b, sending the same requests at the same
// time, is never refused; team-a's searches are held to its own limit.
func TestLimitsTenants(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "limits.yaml")
	if err := os.WriteFile(path, []byte(`
tenants:
  team-a:
    ingestion_rate_bytes: 2KiB
    ingestion_burst_bytes: 4KiB
    max_search_limit: 2
`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startScry(t, "--limits-file="+path, "--multi-tenancy.enabled")
	post := func(tenant string) int {
		t.Helper()
		body := exportBody(t, 30) // ~3 KiB, one trace
		req, err := http.NewRequest(http.MethodPost, "http://"+s.OTLPHTTP+"/v1/traces", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("x-tenant", tenant)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	codes := map[string]map[int]int{"team-a": {}, "team-b": {}}
	for range 10 {
		for _, tenant := range []string{"team-a", "team-b"} {
			codes[tenant][post(tenant)]++
		}
	}
	if codes["team-a"][http.StatusTooManyRequests] == 0 {
		t.Errorf("team-a, 30 KiB at once against a 4 KiB burst: answers %v, want some 429", codes["team-a"])
	}
	if codes["team-b"][http.StatusOK] != 10 {
		t.Errorf("team-b, without limits, beside team-a over its rate: answers %v, want ten 200", codes["team-b"])
	}

	// Searches: team-a's ask for 10 traces is held to 2, with a warning;
	// team-b's is not.
	search := func(tenant string) jaegerEnvelope[[]jTrace] {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+s.Query+"/api/traces?service=limits-rate&limit=10&lookback=1h", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("x-tenant", tenant)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env jaegerEnvelope[[]jTrace]
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
			t.Fatal(err)
		}
		return env
	}
	if env := search("team-a"); len(env.Data) > 2 || len(env.Data) == 0 || len(env.Errors) == 0 || !strings.Contains(env.Errors[0].Msg, "search limit lowered") {
		t.Errorf("team-a's search for 10 (of %d stored): %d traces, errors %+v; want at most 2 and a warning",
			codes["team-a"][http.StatusOK], len(env.Data), env.Errors)
	}
	if env := search("team-b"); len(env.Data) != 10 || len(env.Errors) != 0 {
		t.Errorf("team-b's search for 10: %d traces, errors %+v; want 10 and no warning", len(env.Data), env.Errors)
	}
}
