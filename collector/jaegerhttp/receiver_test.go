package jaegerhttp_test

import (
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/scrytrace/scry/collector/internal/intaketest"
	"github.com/scrytrace/scry/collector/jaegerhttp"
	"github.com/scrytrace/scry/collector/queue"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

const ctThrift = jaegerhttp.ContentTypeThrift

var storageHint = storage.TimeHint{}

func traceID(tr int64) model.TraceID {
	var id model.TraceID
	binary.BigEndian.PutUint64(id[8:], uint64(tr))
	return id
}

func stored(t *testing.T, e *env, tr int64) []*model.Span {
	t.Helper()
	spans, err := e.Store.GetTrace(context.Background(), traceID(tr), storageHint)
	if err != nil {
		t.Fatalf("trace %d: %v", tr, err)
	}
	return spans
}

func TestConfigValidate(t *testing.T) {
	if err := jaegerhttp.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	if got := jaegerhttp.DefaultConfig().Addr; got != "127.0.0.1:14268" {
		t.Fatalf("default address %q", got)
	}
	for name, mod := range map[string]func(*jaegerhttp.Config){
		"address": func(c *jaegerhttp.Config) { c.Addr = "14268" },
		"bytes":   func(c *jaegerhttp.Config) { c.MaxRequestBytes = 0 },
		"spans":   func(c *jaegerhttp.Config) { c.MaxSpansPerRequest = -1 },
		"retry":   func(c *jaegerhttp.Config) { c.RetryAfter = 0 },
	} {
		cfg := jaegerhttp.DefaultConfig()
		mod(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "invalid jaeger http receiver config") {
			t.Errorf("%s: error %v", name, err)
		}
		if _, err := jaegerhttp.New(cfg, nil, nil, nil, telemetry.Nop()); err == nil {
			t.Errorf("%s: New accepted the config", name)
		}
	}
}

func TestBatch(t *testing.T) {
	e := setup(t, options{})
	for i, ct := range []string{ctThrift, jaegerhttp.ContentTypeThriftBinary, "Application/X-Thrift; charset=binary"} {
		tr := int64(10 + i)
		r := e.Post(t, ct, "", encode(t, batch(span(tr, 1), span(tr, 2))))
		if r.Code != http.StatusAccepted || r.Body != "" {
			t.Fatalf("%s: status %d %q, want 202 and no body", ct, r.Code, r.Body)
		}
		// Answered after commit: the spans are there at once.
		if got := len(stored(t, e, tr)); got != 2 {
			t.Fatalf("%s: stored %d spans, want 2", ct, got)
		}
	}
	if got := e.Counter(t, "scry_receiver_spans_accepted_total", ""); got != 6 {
		t.Fatalf("accepted counter %v, want 6", got)
	}
	// An empty batch is fine.
	if r := e.Post(t, ctThrift, "", encode(t, batch())); r.Code != http.StatusAccepted {
		t.Fatalf("empty batch: status %d %q", r.Code, r.Body)
	}
}

func TestPartiallyRejected(t *testing.T) {
	e := setup(t, options{})
	bad := span(1, 0) // zero span ID
	bad.OperationName = "no id"
	r := e.Post(t, ctThrift, "", encode(t, batch(span(1, 1), bad)))
	if r.Code != http.StatusAccepted || !strings.Contains(r.Body, "rejected 1 of 2 spans") || !strings.Contains(r.Body, `"no id"`) {
		t.Fatalf("status %d %q, want 202 naming the rejected span", r.Code, r.Body)
	}
	if got := stored(t, e, 1); len(got) != 1 || got[0].SpanID.String() != "0000000000000001" {
		t.Fatalf("stored %v, want only the valid span", got)
	}
	if got := e.Counter(t, "scry_receiver_spans_rejected_total", "invalid"); got != 1 {
		t.Fatalf("rejected invalid %v, want 1", got)
	}
	if got := e.Counter(t, "scry_receiver_spans_received_total", ""); got != 2 {
		t.Fatalf("received %v, want 2", got)
	}

	r = e.Post(t, ctThrift, "", encode(t, batch(bad)))
	if r.Code != http.StatusBadRequest || !strings.Contains(r.Body, "no valid span") {
		t.Fatalf("all invalid: status %d %q, want 400", r.Code, r.Body)
	}
	e.Counts(t).Check(t, testkit.Counts{Received: 3, Accepted: 1, Rejected: map[string]float64{"invalid": 2}})
}

func TestGzip(t *testing.T) {
	e := setup(t, options{})
	body := intaketest.Gzip(t, encode(t, batch(span(1, 1))))
	if r := e.Post(t, ctThrift, "gzip", body); r.Code != http.StatusAccepted {
		t.Fatalf("gzip: status %d %q", r.Code, r.Body)
	}
	if got := len(stored(t, e, 1)); got != 1 {
		t.Fatalf("stored %d spans, want 1", got)
	}
	if r := e.Post(t, ctThrift, "gzip", []byte("not gzip")); r.Code != http.StatusBadRequest || !strings.Contains(r.Body, "gzip") {
		t.Fatalf("not gzip: status %d %q", r.Code, r.Body)
	}
	if r := e.Post(t, ctThrift, "gzip", body[:len(body)-6]); r.Code != http.StatusBadRequest {
		t.Fatalf("truncated gzip: status %d %q", r.Code, r.Body)
	}
	if r := e.Post(t, ctThrift, "br", body); r.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("brotli: status %d %q", r.Code, r.Body)
	}
}

func TestTooLarge(t *testing.T) {
	e := setup(t, options{configure: func(c *jaegerhttp.Config) {
		c.MaxRequestBytes = 1 << 20
		c.MaxSpansPerRequest = 3
	}})
	bomb := intaketest.GzipBomb(t, 16<<20)
	if len(bomb) > 1<<20 {
		t.Fatalf("bomb is %d bytes compressed; it must be under the limit to test it", len(bomb))
	}
	if r := e.Post(t, ctThrift, "gzip", bomb); r.Code != http.StatusRequestEntityTooLarge || !strings.Contains(r.Body, "exceeds the limit of 1048576 bytes") {
		t.Fatalf("gzip bomb: status %d %q, want 413", r.Code, r.Body)
	}
	big := span(1, 1)
	big.OperationName = strings.Repeat("x", 2<<20)
	if r := e.Post(t, ctThrift, "", encode(t, batch(big))); r.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("large body: status %d %q, want 413", r.Code, r.Body)
	}
	r := e.Post(t, ctThrift, "", encode(t, batch(span(2, 1), span(2, 2), span(2, 3), span(2, 4))))
	if r.Code != http.StatusRequestEntityTooLarge || !strings.Contains(r.Body, "4 spans") {
		t.Fatalf("too many spans: status %d %q, want 413", r.Code, r.Body)
	}
	// Still serving.
	if r := e.Post(t, ctThrift, "", encode(t, batch(span(3, 1)))); r.Code != http.StatusAccepted {
		t.Fatalf("after: status %d %q", r.Code, r.Body)
	}
}

func TestBadRequests(t *testing.T) {
	e := setup(t, options{})
	good := encode(t, batch(span(1, 1)))
	for name, body := range map[string][]byte{
		"empty":     nil,
		"garbage":   []byte("this is not thrift"),
		"truncated": good[:len(good)/2],
		// A list header declaring 2^31 spans in a 20-byte body.
		"huge list": {0x0c, 0x00, 0x01, 0x00, 0x0f, 0x00, 0x02, 0x0c, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0},
	} {
		r := e.Post(t, ctThrift, "", body)
		if r.Code != http.StatusBadRequest || !strings.Contains(r.Body, "cannot decode jaeger batch") {
			t.Errorf("%s: status %d %q, want 400 saying the batch is malformed", name, r.Code, r.Body)
		}
	}
	for _, ct := range []string{"application/json", "", "application/vnd.apache.thrift.compact", "application/x-thrift;;"} {
		r := e.Post(t, ct, "", good)
		if r.Code != http.StatusUnsupportedMediaType || !strings.Contains(r.Body, ctThrift) {
			t.Errorf("content type %q: status %d %q, want 415 naming %s", ct, r.Code, r.Body, ctThrift)
		}
	}
	r, err := intaketest.Send(http.MethodGet, e.URL, ctThrift, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != http.StatusMethodNotAllowed || r.Header.Get("Allow") != http.MethodPost {
		t.Errorf("GET: status %d, Allow %q", r.Code, r.Header.Get("Allow"))
	}
	// Without a sampling provider the sampling path is not served.
	r, err = intaketest.Send(http.MethodGet, e.Base+jaegerhttp.SamplingPath+"?service=a", "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != http.StatusNotFound {
		t.Errorf("sampling without provider: status %d", r.Code)
	}
	// Still serving.
	if r := e.Post(t, ctThrift, "", good); r.Code != http.StatusAccepted {
		t.Fatalf("after: status %d %q", r.Code, r.Body)
	}
	if got := len(stored(t, e, 1)); got != 1 {
		t.Fatalf("stored %d spans, want 1", got)
	}
}

func TestQueueFull(t *testing.T) {
	e := setup(t, options{queue: queue.Config{MaxBytes: 1000, MaxBatchSpans: 100, Writers: 1}})
	e.W.Hold()
	pad := func(tr int64) []byte {
		s := span(tr, 1)
		s.OperationName = strings.Repeat("n", 600)
		return encode(t, batch(s))
	}
	first := make(chan intaketest.Response, 1)
	body := pad(1)
	go func() {
		r, err := intaketest.Send(http.MethodPost, e.URL, ctThrift, "", body)
		if err != nil {
			t.Error(err)
		}
		first <- r
	}()
	testkit.Eventually(t, "first batch held in the writer", func() bool { return e.W.Waiting() == 1 })
	r := e.Post(t, ctThrift, "", pad(2))
	if r.Code != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "1" || !strings.Contains(r.Body, "retry later") {
		t.Fatalf("status %d, Retry-After %q, body %q; want 503, 1, retry later", r.Code, r.Header.Get("Retry-After"), r.Body)
	}
	if got := e.Counter(t, "scry_receiver_spans_refused_total", "queue_full"); got != 1 {
		t.Fatalf("refused queue_full %v, want 1", got)
	}
	e.W.Release()
	if r := <-first; r.Code != http.StatusAccepted {
		t.Fatalf("first: status %d %q", r.Code, r.Body)
	}
	if r := e.Post(t, ctThrift, "", pad(2)); r.Code != http.StatusAccepted {
		t.Fatalf("retry: status %d %q", r.Code, r.Body)
	}
	e.Counts(t).Check(t, testkit.Counts{Received: 3, Accepted: 2, Refused: map[string]float64{"queue_full": 1}})
}

func TestShutdown(t *testing.T) {
	e := setup(t, options{})
	e.W.Hold()
	done := make(chan intaketest.Response, 1)
	body := encode(t, batch(span(1, 1)))
	go func() {
		r, err := intaketest.Send(http.MethodPost, e.URL, ctThrift, "", body)
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	testkit.Eventually(t, "batch held in the writer", func() bool { return e.W.Waiting() == 1 })
	shut := make(chan error, 1)
	var heldAtReturn atomic.Int64 // writes still held when Shutdown returned
	go func() {
		err := e.r.Shutdown(context.Background())
		heldAtReturn.Store(int64(e.W.Waiting()))
		shut <- err
	}()
	// Shutdown is under way once the listener refuses new connections; the
	// batch is still held, so it cannot have returned.
	testkit.Eventually(t, "the listener closed", func() bool {
		c, err := net.Dial("tcp", e.r.Addr().String())
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-shut:
		t.Fatalf("shutdown returned (%v) while a batch was in flight", err)
	default:
	}
	e.W.Release()
	if r := <-done; r.Code != http.StatusAccepted {
		t.Fatalf("in-flight batch: status %d %q", r.Code, r.Body)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if n := heldAtReturn.Load(); n != 0 {
		t.Fatalf("shutdown returned with %d writes still held", n)
	}
	if got := len(stored(t, e, 1)); got != 1 {
		t.Fatalf("stored %d spans, want 1", got)
	}
	if err := e.r.Shutdown(context.Background()); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
	if err := e.r.Start(context.Background()); err == nil {
		t.Fatal("start after shutdown succeeded")
	}
}
