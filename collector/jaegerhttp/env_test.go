package jaegerhttp_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/collector/internal/collectortest"
	"github.com/scrytrace/scry/collector/jaegerhttp"
	"github.com/scrytrace/scry/collector/queue"
	"github.com/scrytrace/scry/collector/sampling"
	"github.com/scrytrace/scry/storage/memory"
)

// env is a receiver on a free port in front of a real queue and memory
// store, counted by collector.Metrics, serving a sampling provider.
type env struct {
	store *memory.Store
	w     *collectortest.Writer
	q     *queue.Queue
	reg   *prometheus.Registry
	r     *jaegerhttp.Receiver
	base  string // http://host:port
	url   string // base + TracesPath
}

type options struct {
	queue     queue.Config
	configure func(*jaegerhttp.Config)
	sampling  *sampling.Provider
}

func setup(t *testing.T, o options) *env {
	t.Helper()
	if o.queue == (queue.Config{}) {
		o.queue = queue.DefaultConfig()
	}
	e := &env{store: memory.New(), reg: prometheus.NewRegistry()}
	e.w = &collectortest.Writer{Inner: e.store}
	q, err := queue.New(o.queue, e.w, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.q = q
	m, err := collector.NewMetrics(e.reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := jaegerhttp.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	if o.configure != nil {
		o.configure(&cfg)
	}
	var sh http.Handler
	if o.sampling != nil {
		sh = o.sampling.Handler()
	}
	r, err := jaegerhttp.New(cfg, m.Wrap("jaeger_http", q), sh, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.r = r
	e.base = "http://" + r.Addr().String()
	e.url = e.base + jaegerhttp.TracesPath
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
	body   string
}

// send makes one request; it is safe to call from any goroutine.
func (e *env) send(method, url, contentType, contentEncoding string, body []byte) (response, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
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
	return response{code: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

func (e *env) post(t *testing.T, contentType, contentEncoding string, body []byte) response {
	t.Helper()
	r, err := e.send(http.MethodPost, e.url, contentType, contentEncoding, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// counter returns a scry_receiver_spans_* counter of transport jaeger_http.
func (e *env) counter(t *testing.T, name, reason string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if (l.GetName() == "transport" && l.GetValue() != "jaeger_http") || (l.GetName() == "reason" && l.GetValue() != reason) {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func encode(t testing.TB, b *jaeger.Batch) []byte {
	t.Helper()
	out, err := thrift.NewTSerializer().Write(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return out
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

// gzipBomb returns a gzip stream of n zero bytes, built without holding them.
func gzipBomb(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
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

// span returns a Jaeger span of trace (0, tr) with span ID id.
func span(tr, id int64) *jaeger.Span {
	return &jaeger.Span{
		TraceIdLow:    tr,
		SpanId:        id,
		OperationName: "op",
		StartTime:     1_700_000_000_000_000 + id,
		Duration:      1000,
		Tags:          []*jaeger.Tag{{Key: "k", VType: jaeger.TagType_STRING, VStr: thrift.StringPtr("v")}},
	}
}

func batch(spans ...*jaeger.Span) *jaeger.Batch {
	return &jaeger.Batch{Process: &jaeger.Process{ServiceName: "svc"}, Spans: spans}
}
