package query

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/memory"
)

// The seeded data. t0 is when trace A starts; the handler's clock says
// t0+10m, so the default one-hour window holds A, B and C but not D.
var (
	t0  = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	now = t0.Add(10 * time.Minute)

	// Trace A: frontend -> frontend (client) -> driver; 128-bit ID.
	traceA = mustTraceID("0102030405060708090a0b0c0d0e0f10")
	// Trace B: customer -> mysql; a 64-bit ID.
	traceB = mustTraceID("abcdef0123456789")
	// Trace C: one frontend span with status code 500.
	traceC = mustTraceID("c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0")
	// Trace D: one old frontend span, three hours before t0.
	traceD = mustTraceID("d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0")
	// absent is not stored.
	absent = mustTraceID("eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee")

	jaegerA = "0102030405060708090a0b0c0d0e0f10"
	jaegerB = "abcdef0123456789"
	jaegerC = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0"
	jaegerD = "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0"
)

func mustTraceID(s string) model.TraceID {
	id, err := model.ParseTraceID(s)
	if err != nil {
		panic(err)
	}
	return id
}

func spanID(n byte) model.SpanID { return model.SpanID{0, 0, 0, 0, 0, 0, 0, n} }

func resource(service string) *model.Resource {
	return &model.Resource{Attributes: []model.KeyValue{
		{Key: model.ServiceNameKey, Value: model.StringValue(service)},
		{Key: "host.name", Value: model.StringValue(service + "-host")},
	}}
}

func ns(t time.Time) uint64 { return uint64(t.UnixNano()) }

func seedSpans() []*model.Span {
	frontend, driver := resource("frontend"), resource("driver")
	customer, mysql := resource("customer"), resource("mysql")
	scope := &model.Scope{Name: "scry-test", Version: "1.0"}
	span := func(r *model.Resource, trace model.TraceID, id, parent byte, name string, kind model.SpanKind, start time.Time, d time.Duration, attrs ...model.KeyValue) *model.Span {
		s := &model.Span{
			Resource: r, Scope: scope, TraceID: trace, SpanID: spanID(id),
			Name: name, Kind: kind, StartTime: ns(start), EndTime: ns(start.Add(d)),
			Attributes: attrs, Flags: 1,
		}
		if parent != 0 {
			s.ParentSpanID = spanID(parent)
		}
		return s
	}
	kv := func(k string, v model.Value) model.KeyValue { return model.KeyValue{Key: k, Value: v} }

	a1 := span(frontend, traceA, 1, 0, "GET /dispatch", model.SpanKindServer, t0, 500*time.Millisecond,
		kv("http.method", model.StringValue("GET")), kv("http.status_code", model.IntValue(200)))
	a2 := span(frontend, traceA, 2, 1, "HTTP GET", model.SpanKindClient, t0.Add(10*time.Millisecond), 100*time.Millisecond)
	a2.Links = []model.Link{{
		TraceID: traceB, SpanID: spanID(1), TraceState: "k=v",
		Attributes: []model.KeyValue{kv("link.reason", model.StringValue("retry"))},
	}}
	a3 := span(driver, traceA, 3, 2, "FindDriver", model.SpanKindServer, t0.Add(20*time.Millisecond), 80*time.Millisecond,
		kv("driver.id", model.StringValue("d1")))
	a3.Status = model.Status{Code: model.StatusError, Message: "no driver free"}
	a3.Events = []model.Event{{Time: ns(t0.Add(30 * time.Millisecond)), Name: "retrying",
		Attributes: []model.KeyValue{kv("attempt", model.IntValue(2))}}}

	b1 := span(customer, traceB, 1, 0, "SQL SELECT", model.SpanKindClient, t0.Add(time.Minute), 2*time.Second,
		kv("db.system", model.StringValue("mysql")), kv("blob", model.BytesValue([]byte{0xff, 0x00})))
	b2 := span(mysql, traceB, 2, 1, "query", model.SpanKindUnspecified, t0.Add(time.Minute+time.Millisecond), time.Second)

	c1 := span(frontend, traceC, 1, 0, "GET /dispatch", model.SpanKindServer, t0.Add(2*time.Minute), 50*time.Millisecond,
		kv("http.status_code", model.IntValue(500)), kv("error", model.BoolValue(true)))
	d1 := span(frontend, traceD, 1, 0, "GET /health", model.SpanKindServer, t0.Add(-3*time.Hour), 10*time.Millisecond)
	return []*model.Span{a1, a2, a3, b1, b2, c1, d1}
}

// server is a query API over a seeded memory store, served on a real port.
type server struct {
	*httptest.Server
	store *memory.Store
	log   *syncBuffer
}

// newServer serves the seeded store with DefaultConfig, changed by mod if
// not nil.
func newServer(t *testing.T, mod func(*Config)) *server {
	t.Helper()
	store := testkit.Start(t, memory.New())
	if err := store.WriteSpans(context.Background(), seedSpans()); err != nil {
		t.Fatalf("seed: %v", err)
	}
	return newServerOver(t, mod, store)
}

// newServerOver is newServer over store.
func newServerOver(t *testing.T, mod func(*Config), store *memory.Store) *server {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	log := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var r storage.Reader = store
	h, err := NewHandler(cfg, r, telemetry.Settings{Logger: logger, Clock: fixedClock(now)})
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &server{Server: srv, store: store, log: log}
}

// syncBuffer is a log sink the test may read while the server writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// response is one HTTP answer as a client sees it.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (s *server) get(t *testing.T, path string, params ...string) response {
	t.Helper()
	return s.do(t, http.MethodGet, path, params...)
}

// do sends a request; params are name, value pairs for the query string.
func (s *server) do(t *testing.T, method, path string, params ...string) response {
	t.Helper()
	u := s.URL + path
	if len(params) > 0 {
		v := url.Values{}
		for i := 0; i+1 < len(params); i += 2 {
			v.Add(params[i], params[i+1])
		}
		u += "?" + v.Encode()
	}
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// envelope is Jaeger's /api answer.
type envelope struct {
	Data   json.RawMessage `json:"data"`
	Total  int             `json:"total"`
	Limit  int             `json:"limit"`
	Offset int             `json:"offset"`
	Errors []struct {
		Code    int    `json:"code"`
		Msg     string `json:"msg"`
		TraceID string `json:"traceID"`
	} `json:"errors"`
}

// jaeger decodes an /api answer, checking its status and JSON headers.
func (r response) jaeger(t *testing.T, wantStatus int) envelope {
	t.Helper()
	r.checkJSON(t, wantStatus)
	var e envelope
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("body is not Jaeger's envelope: %v\n%s", err, r.body)
	}
	return e
}

func (r response) checkJSON(t *testing.T, wantStatus int) {
	t.Helper()
	if r.status != wantStatus {
		t.Fatalf("status %d, want %d; body: %s", r.status, wantStatus, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if v := r.header.Get("X-Content-Type-Options"); v != "nosniff" {
		t.Errorf("X-Content-Type-Options %q, want nosniff", v)
	}
}

func decode[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("cannot decode %T: %v\n%s", v, err, raw)
	}
	return v
}

func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }
func millis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func newEmptyStore(t *testing.T) *memory.Store {
	t.Helper()
	store := testkit.Start(t, memory.New())
	return store
}

// writeSpan stores one root span of a new trace for service, started at t0.
func writeSpan(t *testing.T, s *server, service, name string) model.TraceID {
	t.Helper()
	id := model.TraceID{15: byte(len(service)), 14: byte(len(name)), 0: 0x77}
	sp := &model.Span{
		Resource: resource(service), Scope: &model.Scope{}, TraceID: id, SpanID: spanID(1),
		Name: name, StartTime: ns(t0), EndTime: ns(t0.Add(time.Millisecond)),
	}
	if err := s.store.WriteSpans(context.Background(), []*model.Span{sp}); err != nil {
		t.Fatal(err)
	}
	return id
}

// fixedClock is a clock that stands still.
type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }
