package intaketest

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/collector/internal/collectortest"
	"github.com/scrytrace/scry/collector/queue"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/storage/memory"
)

// Env is a real queue in front of a memory store, whose writes pass a
// collectortest.Writer that can hold them back, with the intake counters
// registered on a registry of its own. Once Start has started a receiver,
// Base and URL address it.
type Env struct {
	Store    *memory.Store
	W        *collectortest.Writer // between the queue and Store
	Q        *queue.Queue
	Registry *prometheus.Registry
	Metrics  *collector.Metrics // registered on Registry
	// Transport is the label under which Counts and Counter read the
	// receiver's counters; set it to the receiver's Transport.
	Transport string

	Base string // http://host:port of the receiver
	URL  string // Base + the path given to Start
}

// Receiver is what Env needs of a receiver.
type Receiver interface {
	Start(ctx context.Context) error
	Addr() net.Addr
	Shutdown(ctx context.Context) error
}

// New starts a queue of cfg writing to a new memory store. When the test
// ends it releases held writes and shuts the queue down (after any receiver
// given to Start).
func New(t testing.TB, cfg queue.Config) *Env {
	t.Helper()
	e := &Env{Store: testkit.Start(t, memory.New()), Registry: prometheus.NewRegistry()}
	e.W = &collectortest.Writer{Inner: e.Store}
	q, err := queue.New(cfg, e.W, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.Q = q
	t.Cleanup(func() {
		e.W.Release()
		if err := q.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	m, err := collector.NewMetrics(e.Registry, MetricPrefix, "committed")
	if err != nil {
		t.Fatal(err)
	}
	e.Metrics = m
	return e
}

// Start starts r, which listens on a free port, and sets Base and URL (Base +
// path). When the test ends it releases held writes and shuts r down, before
// the queue.
func (e *Env) Start(t testing.TB, r Receiver, path string) {
	t.Helper()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.Base = "http://" + r.Addr().String()
	e.URL = e.Base + path
	t.Cleanup(func() {
		e.W.Release()
		if err := r.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
}

// Counter returns the scry_receiver_spans_* counter name of Transport, with
// reason ("" for a counter without one).
func (e *Env) Counter(t testing.TB, name, reason string) float64 {
	t.Helper()
	labels := map[string]string{"transport": e.Transport}
	if reason != "" {
		labels["reason"] = reason
	}
	return Counter(t, e.Registry, name, labels)
}

// Response is what a request got back.
type Response struct {
	Code   int
	Header http.Header
	Body   string
}

// Send makes one request to url, setting the Content-Type and
// Content-Encoding headers unless empty. It is safe to call from any
// goroutine.
func Send(method, url, contentType, contentEncoding string, body []byte) (Response, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if contentEncoding != "" {
		req.Header.Set("Content-Encoding", contentEncoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	return Response{Code: resp.StatusCode, Header: resp.Header, Body: string(b)}, nil
}

// Do sends a request to URL, failing the test if there is no answer.
func (e *Env) Do(t testing.TB, method, contentType, contentEncoding string, body []byte) Response {
	t.Helper()
	r, err := Send(method, e.URL, contentType, contentEncoding, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Post posts body to URL, failing the test if there is no answer.
func (e *Env) Post(t testing.TB, contentType, contentEncoding string, body []byte) Response {
	t.Helper()
	return e.Do(t, http.MethodPost, contentType, contentEncoding, body)
}

// Counter returns the value of the counter name whose labels are exactly
// labels, or 0 if g has none.
func Counter(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// Gzip returns b compressed with gzip.
func Gzip(t testing.TB, b []byte) []byte {
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

// GzipBomb returns a gzip stream of n zero bytes (rounded up to 64 KiB),
// built without holding them.
func GzipBomb(t testing.TB, n int) []byte {
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

// MetricPrefix is the prefix of the intake counters Env registers, as the
// collector's.
const MetricPrefix = "scry_receiver"

// Counts reads the counters of Transport.
func (e *Env) Counts(t testing.TB) testkit.Counts {
	t.Helper()
	return testkit.GatherCounts(t, e.Registry, MetricPrefix, e.Transport)
}
