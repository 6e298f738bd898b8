package otlphttp_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/collector/internal/collectortest"
	"github.com/scrytrace/scry/collector/internal/intaketest"
	"github.com/scrytrace/scry/collector/otlphttp"
	"github.com/scrytrace/scry/collector/queue"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
)

const (
	ctProto = "application/x-protobuf"
	ctJSON  = "application/json"
)

// env is a receiver on a free port in front of a real queue and memory
// store; URL is Base + TracesPath.
type env struct {
	*intaketest.Env
	r *otlphttp.Receiver
}

func setup(t *testing.T, qcfg queue.Config, configure func(*otlphttp.Config)) *env {
	t.Helper()
	e := &env{Env: intaketest.New(t, qcfg)}
	e.Transport = otlphttp.Transport
	cfg := otlphttp.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	if configure != nil {
		configure(&cfg)
	}
	r, err := otlphttp.New(cfg, e.Q, e.Metrics, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	e.Start(t, r, otlphttp.TracesPath)
	e.r = r
	return e
}

func protoBody(t testing.TB, rss []*tracepb.ResourceSpans) []byte {
	t.Helper()
	b, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: rss})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exportResponse decodes a 200 answer in the given content type.
func exportResponse(t *testing.T, r intaketest.Response, contentType string) *coltracepb.ExportTraceServiceResponse {
	t.Helper()
	if r.Code != http.StatusOK {
		t.Fatalf("status %d (%s), want 200", r.Code, r.Body)
	}
	if got := r.Header.Get("Content-Type"); got != contentType {
		t.Fatalf("response content type %q, want %q", got, contentType)
	}
	var resp coltracepb.ExportTraceServiceResponse
	var err error
	if contentType == ctJSON {
		err = protojson.Unmarshal([]byte(r.Body), &resp)
	} else {
		err = proto.Unmarshal([]byte(r.Body), &resp)
	}
	if err != nil {
		t.Fatalf("cannot decode response %q: %v", r.Body, err)
	}
	return &resp
}

// statusResponse decodes an error answer, checking code and content type.
func statusResponse(t *testing.T, r intaketest.Response, code int, contentType string) *statuspb.Status {
	t.Helper()
	if r.Code != code {
		t.Fatalf("status %d (%s), want %d", r.Code, r.Body, code)
	}
	if got := r.Header.Get("Content-Type"); got != contentType {
		t.Fatalf("response content type %q, want %q", got, contentType)
	}
	var st statuspb.Status
	var err error
	if contentType == ctJSON {
		err = protojson.Unmarshal([]byte(r.Body), &st)
	} else {
		err = proto.Unmarshal([]byte(r.Body), &st)
	}
	if err != nil {
		t.Fatalf("cannot decode status %q: %v", r.Body, err)
	}
	return &st
}

func TestConfigValidate(t *testing.T) {
	if err := otlphttp.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	if got := otlphttp.DefaultConfig().Addr; got != "127.0.0.1:4318" {
		t.Fatalf("default address %q", got)
	}
	for name, mod := range map[string]func(*otlphttp.Config){
		"address": func(c *otlphttp.Config) { c.Addr = "" },
		"bytes":   func(c *otlphttp.Config) { c.MaxRequestBytes = 0 },
		"spans":   func(c *otlphttp.Config) { c.MaxSpansPerRequest = 0 },
		"retry":   func(c *otlphttp.Config) { c.RetryAfter = -time.Second },
	} {
		cfg := otlphttp.DefaultConfig()
		mod(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestSDKExport(t *testing.T) {
	for _, compression := range []otlptracehttp.Compression{otlptracehttp.NoCompression, otlptracehttp.GzipCompression} {
		t.Run("", func(t *testing.T) {
			e := setup(t, queue.DefaultConfig(), nil)
			exp, err := otlptracehttp.New(context.Background(),
				otlptracehttp.WithEndpoint(e.r.Addr().String()),
				otlptracehttp.WithInsecure(),
				otlptracehttp.WithCompression(compression))
			if err != nil {
				t.Fatal(err)
			}
			sent := collectortest.EmitSDKTrace(t, exp)
			sent.Check(t, e.Store)
		})
	}
}

func TestProtobuf(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	body := protoBody(t, collectortest.Request("svc", collectortest.Span(1, 1), collectortest.Span(1, 2)))
	resp := exportResponse(t, e.Post(t, ctProto+"; charset=binary", "", body), ctProto)
	if resp.GetPartialSuccess() != nil {
		t.Fatalf("partial success %v for valid spans", resp.GetPartialSuccess())
	}
	if got := len(collectortest.MustGetTrace(t, e.Store, collectortest.TraceID(1))); got != 2 {
		t.Fatalf("stored %d spans, want 2", got)
	}
}

func TestProtobufPartialSuccess(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	bad := collectortest.Span(1, 2)
	bad.SpanId = bad.SpanId[:4]
	body := protoBody(t, collectortest.Request("svc", collectortest.Span(1, 1), bad))
	ps := exportResponse(t, e.Post(t, ctProto, "", body), ctProto).GetPartialSuccess()
	if ps.GetRejectedSpans() != 1 || !strings.Contains(ps.GetErrorMessage(), "span id has 4 bytes") {
		t.Fatalf("partial success %v, want 1 rejected for its span id", ps)
	}
	if got := len(collectortest.MustGetTrace(t, e.Store, collectortest.TraceID(1))); got != 1 {
		t.Fatalf("stored %d spans, want 1", got)
	}

	bad.TraceId = make([]byte, 16)
	st := statusResponse(t, e.Post(t, ctProto, "", protoBody(t, collectortest.Request("svc", bad))), http.StatusBadRequest, ctProto)
	if st.GetCode() != 3 || !strings.Contains(st.GetMessage(), "no valid span") {
		t.Fatalf("status %v, want INVALID_ARGUMENT saying no span was valid", st)
	}
	e.Counts(t).Check(t, testkit.Counts{Received: 3, Accepted: 1, Rejected: map[string]float64{"invalid": 2}})
}

// The case, in JSON: two spans, one with an all-zero trace ID; and
// a span whose ID is not hex, which the JSON decoder sets aside itself.
func TestJSONRejectionsCounted(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	body := `{"resourceSpans":[{"scopeSpans":[{"spans":[
		{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"ok"},
		{"traceId":"00000000000000000000000000000000","spanId":"eee19b7ec3c1b175","name":"zero"}]}]}]}`
	ps := exportResponse(t, e.Post(t, ctJSON, "", []byte(body)), ctJSON).GetPartialSuccess()
	if ps.GetRejectedSpans() != 1 {
		t.Fatalf("partial success %v, want 1 rejected", ps)
	}
	e.Counts(t).Check(t, testkit.Counts{Received: 2, Accepted: 1, Rejected: map[string]float64{"invalid": 1}})

	body = `{"resourceSpans":[{"scopeSpans":[{"spans":[
		{"traceId":"5b8efff798038103d269b633813fc60d","spanId":"eee19b7ec3c1b174","name":"ok"},
		{"traceId":"not hex","spanId":"eee19b7ec3c1b175","name":"bad"}]}]}]}`
	ps = exportResponse(t, e.Post(t, ctJSON, "", []byte(body)), ctJSON).GetPartialSuccess()
	if ps.GetRejectedSpans() != 1 || !strings.Contains(ps.GetErrorMessage(), "not hex") {
		t.Fatalf("partial success %v, want 1 rejected for its hex", ps)
	}
	e.Counts(t).Check(t, testkit.Counts{Received: 4, Accepted: 2, Rejected: map[string]float64{"invalid": 2}})
}

func TestGzip(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	body := intaketest.Gzip(t, protoBody(t, collectortest.Request("svc", collectortest.Span(1, 1))))
	exportResponse(t, e.Do(t, http.MethodPost, ctProto, "gzip", body), ctProto)
	if got := len(collectortest.MustGetTrace(t, e.Store, collectortest.TraceID(1))); got != 1 {
		t.Fatalf("stored %d spans, want 1", got)
	}

	st := statusResponse(t, e.Do(t, http.MethodPost, ctProto, "gzip", []byte("not gzip at all")), http.StatusBadRequest, ctProto)
	if !strings.Contains(st.GetMessage(), "gzip") {
		t.Fatalf("message %q does not mention gzip", st.GetMessage())
	}
	truncated := body[:len(body)-6]
	statusResponse(t, e.Do(t, http.MethodPost, ctProto, "gzip", truncated), http.StatusBadRequest, ctProto)

	r := e.Do(t, http.MethodPost, ctProto, "br", body)
	if r.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("brotli: status %d, want 415", r.Code)
	}
}

func TestGzipBomb(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), func(c *otlphttp.Config) { c.MaxRequestBytes = 1 << 20 })
	bomb := intaketest.GzipBomb(t, 16<<20)
	if len(bomb) > 1<<20 {
		t.Fatalf("bomb is %d bytes compressed; it must be under the limit to test it", len(bomb))
	}
	st := statusResponse(t, e.Do(t, http.MethodPost, ctProto, "gzip", bomb), http.StatusRequestEntityTooLarge, ctProto)
	if !strings.Contains(st.GetMessage(), "exceeds the limit") {
		t.Fatalf("message %q", st.GetMessage())
	}
	// The server still serves.
	body := protoBody(t, collectortest.Request("svc", collectortest.Span(1, 1)))
	exportResponse(t, e.Post(t, ctProto, "", body), ctProto)
}

func TestTooLarge(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), func(c *otlphttp.Config) {
		c.MaxRequestBytes = 4 << 10
		c.MaxSpansPerRequest = 3
	})
	big := collectortest.Span(1, 1)
	big.Attributes = append(big.Attributes, &commonpb.KeyValue{Key: "pad", Value: &commonpb.AnyValue{
		Value: &commonpb.AnyValue_StringValue{StringValue: strings.Repeat("x", 8<<10)}}})
	statusResponse(t, e.Post(t, ctProto, "", protoBody(t, collectortest.Request("svc", big))), http.StatusRequestEntityTooLarge, ctProto)

	many := protoBody(t, collectortest.Request("svc",
		collectortest.Span(2, 1), collectortest.Span(2, 2), collectortest.Span(2, 3), collectortest.Span(2, 4)))
	st := statusResponse(t, e.Post(t, ctProto, "", many), http.StatusRequestEntityTooLarge, ctProto)
	if !strings.Contains(st.GetMessage(), "4 spans") {
		t.Fatalf("message %q", st.GetMessage())
	}
}

func TestBadRequests(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	st := statusResponse(t, e.Post(t, ctProto, "", []byte{0xff, 0xff, 0xff, 0xff}), http.StatusBadRequest, ctProto)
	if st.GetCode() != 3 || !strings.Contains(st.GetMessage(), "cannot decode protobuf") {
		t.Fatalf("bad protobuf: status %v", st)
	}
	for name, body := range map[string]string{
		"syntax":   `{"resourceSpans": [`,
		"trailing": `{} {}`,
		"type":     `{"resourceSpans": 5}`,
		"int":      `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","startTimeUnixNano":"soon"}]}]}]}`,
	} {
		st := statusResponse(t, e.Post(t, ctJSON, "", []byte(body)), http.StatusBadRequest, ctJSON)
		if !strings.Contains(st.GetMessage(), "json") {
			t.Errorf("%s: message %q does not say the json was bad", name, st.GetMessage())
		}
	}

	for _, ct := range []string{"text/plain", "", "application/protobuf;;"} {
		r := e.Post(t, ct, "", protoBody(t, collectortest.Request("svc", collectortest.Span(1, 1))))
		if r.Code != http.StatusUnsupportedMediaType || !strings.Contains(r.Body, "application/x-protobuf") {
			t.Errorf("content type %q: status %d %q, want 415 naming the supported types", ct, r.Code, r.Body)
		}
	}
	r := e.Do(t, http.MethodGet, ctProto, "", nil)
	if r.Code != http.StatusMethodNotAllowed || r.Header.Get("Allow") != http.MethodPost {
		t.Errorf("GET: status %d, Allow %q; want 405 and POST", r.Code, r.Header.Get("Allow"))
	}
	resp, err := http.Post(strings.TrimSuffix(e.URL, otlphttp.TracesPath)+"/v1/logs", ctProto, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/v1/logs: status %d, want 404", resp.StatusCode)
	}
	// Still serving.
	exportResponse(t, e.Post(t, ctProto, "", protoBody(t, collectortest.Request("svc", collectortest.Span(1, 1)))), ctProto)
}

func TestQueueFull(t *testing.T) {
	e := setup(t, queue.Config{MaxBytes: 1000, MaxBatchSpans: 100, Writers: 1}, nil)
	e.W.Hold()
	pad := func(tr int) []byte {
		sp := collectortest.Span(tr, 1)
		sp.Name = strings.Repeat("n", 600)
		return protoBody(t, collectortest.Request("svc", sp))
	}
	first := make(chan intaketest.Response, 1)
	body := pad(1)
	go func() {
		r, err := intaketest.Send(http.MethodPost, e.URL, ctProto, "", body)
		if err != nil {
			t.Error(err)
		}
		first <- r
	}()
	testkit.Eventually(t, "first export held in the writer", func() bool { return e.W.Waiting() == 1 })

	r := e.Post(t, ctJSON, "", []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"`+strings.Repeat("n", 600)+`"}]}]}]}`))
	st := statusResponse(t, r, http.StatusServiceUnavailable, ctJSON)
	if r.Header.Get("Retry-After") != "1" || st.GetCode() != 14 {
		t.Fatalf("Retry-After %q, status %v; want 1 and UNAVAILABLE", r.Header.Get("Retry-After"), st)
	}
	e.W.Release()
	exportResponse(t, <-first, ctProto)
	exportResponse(t, e.Post(t, ctProto, "", pad(2)), ctProto)
	e.Counts(t).Check(t, testkit.Counts{Received: 3, Accepted: 2, Refused: map[string]float64{"queue_full": 1}})
}

func TestShutdownDrains(t *testing.T) {
	e := setup(t, queue.Config{MaxBytes: 1 << 20, MaxBatchSpans: 4, Writers: 2}, nil)
	e.W.Hold()
	const exports = 10
	results := make([]intaketest.Response, exports)
	var wg sync.WaitGroup
	for i := range exports {
		body := protoBody(t, collectortest.Request("svc", collectortest.Span(200+i, 1), collectortest.Span(200+i, 2)))
		wg.Go(func() {
			var err error
			if results[i], err = intaketest.Send(http.MethodPost, e.URL, ctProto, "", body); err != nil {
				t.Error(err)
			}
		})
	}
	testkit.Eventually(t, "every export queued", func() bool { return e.Q.Stats().Requests == exports })
	stopped := make(chan error, 1)
	go func() { stopped <- errors.Join(e.r.Shutdown(context.Background()), e.Q.Shutdown(context.Background())) }()
	e.W.Release()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, r := range results {
		if r.Code != http.StatusOK {
			t.Fatalf("export %d: status %d %s", i, r.Code, r.Body)
		}
		if got := len(collectortest.MustGetTrace(t, e.Store, collectortest.TraceID(200+i))); got != 2 {
			t.Fatalf("acknowledged export %d: %d spans stored, want 2", i, got)
		}
	}
	if err := e.r.Shutdown(context.Background()); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
	if _, err := http.Post(e.URL, ctProto, bytes.NewReader(nil)); err == nil {
		t.Fatal("post after shutdown succeeded")
	}
}

func defaultQueue() queue.Config { return queue.DefaultConfig() }
