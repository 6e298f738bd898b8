package otlphttp_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
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
	"github.com/scrytrace/scry/collector/otlphttp"
	"github.com/scrytrace/scry/collector/queue"
	"github.com/scrytrace/scry/storage/memory"
)

const (
	ctProto = "application/x-protobuf"
	ctJSON  = "application/json"
)

// env is a receiver on a free port in front of a real queue and memory store.
type env struct {
	store *memory.Store
	w     *collectortest.Writer
	q     *queue.Queue
	r     *otlphttp.Receiver
	url   string
}

func setup(t *testing.T, qcfg queue.Config, configure func(*otlphttp.Config)) *env {
	t.Helper()
	e := &env{store: memory.New()}
	e.w = &collectortest.Writer{Inner: e.store}
	q, err := queue.New(qcfg, e.w, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.q = q
	cfg := otlphttp.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	if configure != nil {
		configure(&cfg)
	}
	r, err := otlphttp.New(cfg, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.r = r
	e.url = "http://" + r.Addr().String() + otlphttp.TracesPath
	t.Cleanup(func() {
		e.w.Release()
		if err := r.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		if err := q.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return e
}

// response is what a request got back.
type response struct {
	code   int
	header http.Header
	body   []byte
}

// send makes one request; it is safe to call from any goroutine.
func (e *env) send(method, contentType, contentEncoding string, body []byte) (response, error) {
	req, err := http.NewRequest(method, e.url, bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if contentEncoding != "" {
		req.Header.Set("Content-Encoding", contentEncoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{code: resp.StatusCode, header: resp.Header, body: b}, nil
}

func (e *env) do(t *testing.T, method, contentType, contentEncoding string, body []byte) response {
	t.Helper()
	r, err := e.send(method, contentType, contentEncoding, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (e *env) post(t *testing.T, contentType string, body []byte) response {
	t.Helper()
	return e.do(t, http.MethodPost, contentType, "", body)
}

func protoBody(t testing.TB, rss []*tracepb.ResourceSpans) []byte {
	t.Helper()
	b, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: rss})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// exportResponse decodes a 200 answer in the given content type.
func exportResponse(t *testing.T, r response, contentType string) *coltracepb.ExportTraceServiceResponse {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("status %d (%s), want 200", r.code, r.body)
	}
	if got := r.header.Get("Content-Type"); got != contentType {
		t.Fatalf("response content type %q, want %q", got, contentType)
	}
	var resp coltracepb.ExportTraceServiceResponse
	var err error
	if contentType == ctJSON {
		err = protojson.Unmarshal(r.body, &resp)
	} else {
		err = proto.Unmarshal(r.body, &resp)
	}
	if err != nil {
		t.Fatalf("cannot decode response %q: %v", r.body, err)
	}
	return &resp
}

// statusResponse decodes an error answer, checking code and content type.
func statusResponse(t *testing.T, r response, code int, contentType string) *statuspb.Status {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d (%s), want %d", r.code, r.body, code)
	}
	if got := r.header.Get("Content-Type"); got != contentType {
		t.Fatalf("response content type %q, want %q", got, contentType)
	}
	var st statuspb.Status
	var err error
	if contentType == ctJSON {
		err = protojson.Unmarshal(r.body, &st)
	} else {
		err = proto.Unmarshal(r.body, &st)
	}
	if err != nil {
		t.Fatalf("cannot decode status %q: %v", r.body, err)
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
			sent.Check(t, e.store)
		})
	}
}

func TestProtobuf(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	body := protoBody(t, collectortest.Request("svc", collectortest.Span(1, 1), collectortest.Span(1, 2)))
	resp := exportResponse(t, e.post(t, ctProto+"; charset=binary", body), ctProto)
	if resp.GetPartialSuccess() != nil {
		t.Fatalf("partial success %v for valid spans", resp.GetPartialSuccess())
	}
	if got := len(collectortest.MustGetTrace(t, e.store, collectortest.TraceID(1))); got != 2 {
		t.Fatalf("stored %d spans, want 2", got)
	}
}

func TestProtobufPartialSuccess(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	bad := collectortest.Span(1, 2)
	bad.SpanId = bad.SpanId[:4]
	body := protoBody(t, collectortest.Request("svc", collectortest.Span(1, 1), bad))
	ps := exportResponse(t, e.post(t, ctProto, body), ctProto).GetPartialSuccess()
	if ps.GetRejectedSpans() != 1 || !strings.Contains(ps.GetErrorMessage(), "span id has 4 bytes") {
		t.Fatalf("partial success %v, want 1 rejected for its span id", ps)
	}
	if got := len(collectortest.MustGetTrace(t, e.store, collectortest.TraceID(1))); got != 1 {
		t.Fatalf("stored %d spans, want 1", got)
	}

	bad.TraceId = make([]byte, 16)
	st := statusResponse(t, e.post(t, ctProto, protoBody(t, collectortest.Request("svc", bad))), http.StatusBadRequest, ctProto)
	if st.GetCode() != 3 || !strings.Contains(st.GetMessage(), "no valid span") {
		t.Fatalf("status %v, want INVALID_ARGUMENT saying no span was valid", st)
	}
}

func TestGzip(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	body := gzipped(t, protoBody(t, collectortest.Request("svc", collectortest.Span(1, 1))))
	exportResponse(t, e.do(t, http.MethodPost, ctProto, "gzip", body), ctProto)
	if got := len(collectortest.MustGetTrace(t, e.store, collectortest.TraceID(1))); got != 1 {
		t.Fatalf("stored %d spans, want 1", got)
	}

	st := statusResponse(t, e.do(t, http.MethodPost, ctProto, "gzip", []byte("not gzip at all")), http.StatusBadRequest, ctProto)
	if !strings.Contains(st.GetMessage(), "gzip") {
		t.Fatalf("message %q does not mention gzip", st.GetMessage())
	}
	truncated := body[:len(body)-6]
	statusResponse(t, e.do(t, http.MethodPost, ctProto, "gzip", truncated), http.StatusBadRequest, ctProto)

	r := e.do(t, http.MethodPost, ctProto, "br", body)
	if r.code != http.StatusUnsupportedMediaType {
		t.Fatalf("brotli: status %d, want 415", r.code)
	}
}

// gzipBomb returns a gzip stream of n zero bytes, built without holding them.
func gzipBomb(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for written := 0; written < n; written += len(chunk) {
		if _, err := zw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGzipBomb(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), func(c *otlphttp.Config) { c.MaxRequestBytes = 1 << 20 })
	bomb := gzipBomb(t, 16<<20)
	if len(bomb) > 1<<20 {
		t.Fatalf("bomb is %d bytes compressed; it must be under the limit to test it", len(bomb))
	}
	st := statusResponse(t, e.do(t, http.MethodPost, ctProto, "gzip", bomb), http.StatusRequestEntityTooLarge, ctProto)
	if !strings.Contains(st.GetMessage(), "exceeds the limit") {
		t.Fatalf("message %q", st.GetMessage())
	}
	// The server still serves.
	body := protoBody(t, collectortest.Request("svc", collectortest.Span(1, 1)))
	exportResponse(t, e.post(t, ctProto, body), ctProto)
}

func TestTooLarge(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), func(c *otlphttp.Config) {
		c.MaxRequestBytes = 4 << 10
		c.MaxSpansPerRequest = 3
	})
	big := collectortest.Span(1, 1)
	big.Attributes = append(big.Attributes, &commonpb.KeyValue{Key: "pad", Value: &commonpb.AnyValue{
		Value: &commonpb.AnyValue_StringValue{StringValue: strings.Repeat("x", 8<<10)}}})
	statusResponse(t, e.post(t, ctProto, protoBody(t, collectortest.Request("svc", big))), http.StatusRequestEntityTooLarge, ctProto)

	many := protoBody(t, collectortest.Request("svc",
		collectortest.Span(2, 1), collectortest.Span(2, 2), collectortest.Span(2, 3), collectortest.Span(2, 4)))
	st := statusResponse(t, e.post(t, ctProto, many), http.StatusRequestEntityTooLarge, ctProto)
	if !strings.Contains(st.GetMessage(), "4 spans") {
		t.Fatalf("message %q", st.GetMessage())
	}
}

func TestBadRequests(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	st := statusResponse(t, e.post(t, ctProto, []byte{0xff, 0xff, 0xff, 0xff}), http.StatusBadRequest, ctProto)
	if st.GetCode() != 3 || !strings.Contains(st.GetMessage(), "cannot decode protobuf") {
		t.Fatalf("bad protobuf: status %v", st)
	}
	for name, body := range map[string]string{
		"syntax":   `{"resourceSpans": [`,
		"trailing": `{} {}`,
		"type":     `{"resourceSpans": 5}`,
		"int":      `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","startTimeUnixNano":"soon"}]}]}]}`,
	} {
		st := statusResponse(t, e.post(t, ctJSON, []byte(body)), http.StatusBadRequest, ctJSON)
		if !strings.Contains(st.GetMessage(), "json") {
			t.Errorf("%s: message %q does not say the json was bad", name, st.GetMessage())
		}
	}

	for _, ct := range []string{"text/plain", "", "application/protobuf;;"} {
		r := e.post(t, ct, protoBody(t, collectortest.Request("svc", collectortest.Span(1, 1))))
		if r.code != http.StatusUnsupportedMediaType || !strings.Contains(string(r.body), "application/x-protobuf") {
			t.Errorf("content type %q: status %d %q, want 415 naming the supported types", ct, r.code, r.body)
		}
	}
	r := e.do(t, http.MethodGet, ctProto, "", nil)
	if r.code != http.StatusMethodNotAllowed || r.header.Get("Allow") != http.MethodPost {
		t.Errorf("GET: status %d, Allow %q; want 405 and POST", r.code, r.header.Get("Allow"))
	}
	resp, err := http.Post(strings.TrimSuffix(e.url, otlphttp.TracesPath)+"/v1/logs", ctProto, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/v1/logs: status %d, want 404", resp.StatusCode)
	}
	// Still serving.
	exportResponse(t, e.post(t, ctProto, protoBody(t, collectortest.Request("svc", collectortest.Span(1, 1)))), ctProto)
}

func TestQueueFull(t *testing.T) {
	e := setup(t, queue.Config{MaxBytes: 1000, MaxBatchSpans: 100, Writers: 1}, nil)
	e.w.Hold()
	pad := func(tr int) []byte {
		sp := collectortest.Span(tr, 1)
		sp.Name = strings.Repeat("n", 600)
		return protoBody(t, collectortest.Request("svc", sp))
	}
	first := make(chan response, 1)
	body := pad(1)
	go func() {
		r, err := e.send(http.MethodPost, ctProto, "", body)
		if err != nil {
			t.Error(err)
		}
		first <- r
	}()
	collectortest.Eventually(t, "first export held in the writer", func() bool { return e.w.Waiting() == 1 })

	r := e.post(t, ctJSON, []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"`+strings.Repeat("n", 600)+`"}]}]}]}`))
	st := statusResponse(t, r, http.StatusServiceUnavailable, ctJSON)
	if r.header.Get("Retry-After") != "1" || st.GetCode() != 14 {
		t.Fatalf("Retry-After %q, status %v; want 1 and UNAVAILABLE", r.header.Get("Retry-After"), st)
	}
	e.w.Release()
	exportResponse(t, <-first, ctProto)
	exportResponse(t, e.post(t, ctProto, pad(2)), ctProto)
}

func TestShutdownDrains(t *testing.T) {
	e := setup(t, queue.Config{MaxBytes: 1 << 20, MaxBatchSpans: 4, Writers: 2}, nil)
	e.w.Hold()
	const exports = 10
	results := make([]response, exports)
	var wg sync.WaitGroup
	for i := range exports {
		body := protoBody(t, collectortest.Request("svc", collectortest.Span(200+i, 1), collectortest.Span(200+i, 2)))
		wg.Go(func() {
			var err error
			if results[i], err = e.send(http.MethodPost, ctProto, "", body); err != nil {
				t.Error(err)
			}
		})
	}
	collectortest.Eventually(t, "every export queued", func() bool { return e.q.Stats().Requests == exports })
	stopped := make(chan error, 1)
	go func() { stopped <- errors.Join(e.r.Shutdown(context.Background()), e.q.Shutdown(context.Background())) }()
	e.w.Release()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, r := range results {
		if r.code != http.StatusOK {
			t.Fatalf("export %d: status %d %s", i, r.code, r.body)
		}
		if got := len(collectortest.MustGetTrace(t, e.store, collectortest.TraceID(200+i))); got != 2 {
			t.Fatalf("acknowledged export %d: %d spans stored, want 2", i, got)
		}
	}
	if err := e.r.Shutdown(context.Background()); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
	if _, err := http.Post(e.url, ctProto, bytes.NewReader(nil)); err == nil {
		t.Fatal("post after shutdown succeeded")
	}
}

func defaultQueue() queue.Config { return queue.DefaultConfig() }
