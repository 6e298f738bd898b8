package zipkin_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/collector/internal/collectortest"
	"github.com/scrytrace/scry/collector/queue"
	"github.com/scrytrace/scry/collector/zipkin"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/memory"
)

// env is a receiver on a free port in front of a real queue and memory
// store, counted by collector.Metrics.
type env struct {
	store *memory.Store
	w     *collectortest.Writer
	reg   *prometheus.Registry
	r     *zipkin.Receiver
	base  string // http://host:port
	url   string // base + SpansPath
}

func setup(t *testing.T, qcfg queue.Config, configure func(*zipkin.Config)) *env {
	t.Helper()
	e := &env{store: memory.New(), reg: prometheus.NewRegistry()}
	e.w = &collectortest.Writer{Inner: e.store}
	q, err := queue.New(qcfg, e.w, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	m, err := collector.NewMetrics(e.reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := zipkin.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	if configure != nil {
		configure(&cfg)
	}
	r, err := zipkin.New(cfg, m.Wrap("zipkin", q), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.r = r
	e.base = "http://" + r.Addr().String()
	e.url = e.base + zipkin.SpansPath
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
func send(method, url, contentType, contentEncoding string, body []byte) (response, error) {
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
	r, err := send(http.MethodPost, e.url, contentType, contentEncoding, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// counter returns a scry_receiver_spans_* counter of transport zipkin.
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
				if (l.GetName() == "transport" && l.GetValue() != "zipkin") || (l.GetName() == "reason" && l.GetValue() != reason) {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func (e *env) trace(t *testing.T, hexID string) []*model.Span {
	t.Helper()
	id, err := model.ParseTraceID(hexID)
	if err != nil {
		t.Fatal(err)
	}
	spans, err := e.store.GetTrace(context.Background(), id, storage.TimeHint{})
	if err != nil {
		t.Fatalf("trace %s: %v", hexID, err)
	}
	return spans
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
