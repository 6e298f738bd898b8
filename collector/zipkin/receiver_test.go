package zipkin_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	zipkinpb "github.com/openzipkin/zipkin-go/proto/zipkin_proto3"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/collector/internal/intaketest"
	"github.com/scrytrace/scry/collector/queue"
	"github.com/scrytrace/scry/collector/zipkin"
	"github.com/scrytrace/scry/internal/testkit"
)

const (
	ctJSON  = zipkin.ContentTypeJSON
	ctProto = zipkin.ContentTypeProtobuf
	traceA  = "5b8efff798038103d269b633813fc60c"
)

// jsonSpan is a Zipkin v2 JSON span of trace traceA.
func jsonSpan(id, name string) string {
	return `{"traceId":"` + traceA + `","id":"` + id + `","name":"` + name + `","kind":"SERVER",` +
		`"timestamp":1700000000000000,"duration":1500,"localEndpoint":{"serviceName":"svc"},` +
		`"annotations":[{"timestamp":1700000000000500,"value":"ws"}],"tags":{"http.path":"/x"}}`
}

func jsonBody(spans ...string) []byte { return []byte("[" + strings.Join(spans, ",") + "]") }

func protoBody(t *testing.T, spans ...*zipkinpb.Span) []byte {
	t.Helper()
	b, err := proto.Marshal(&zipkinpb.ListOfSpans{Spans: spans})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func protoSpan(id byte) *zipkinpb.Span {
	return &zipkinpb.Span{
		TraceId: []byte{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c},
		Id:      []byte{0, 0, 0, 0, 0, 0, 0, id},
		Name:    "proto", Kind: zipkinpb.Span_CLIENT,
		Timestamp: 1700000000000000, Duration: 10,
		LocalEndpoint: &zipkinpb.Endpoint{ServiceName: "svc"},
	}
}

func TestConfigValidate(t *testing.T) {
	if err := zipkin.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	if got := zipkin.DefaultConfig().Addr; got != "127.0.0.1:9411" {
		t.Fatalf("default address %q", got)
	}
	for name, mod := range map[string]func(*zipkin.Config){
		"address": func(c *zipkin.Config) { c.Addr = "" },
		"bytes":   func(c *zipkin.Config) { c.MaxRequestBytes = -1 },
		"spans":   func(c *zipkin.Config) { c.MaxSpansPerRequest = 0 },
		"retry":   func(c *zipkin.Config) { c.RetryAfter = 0 },
	} {
		cfg := zipkin.DefaultConfig()
		mod(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "invalid zipkin receiver config") {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

func TestEncodings(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	for _, tc := range []struct {
		ct, ce string
		body   []byte
		id     string
	}{
		{ctJSON, "", jsonBody(jsonSpan("0000000000000001", "a")), "0000000000000001"},
		{"application/json; charset=utf-8", "", jsonBody(jsonSpan("0000000000000002", "b")), "0000000000000002"},
		{"", "", jsonBody(jsonSpan("0000000000000003", "c")), "0000000000000003"}, // Zipkin's server assumes JSON
		{ctJSON, "gzip", intaketest.Gzip(t, jsonBody(jsonSpan("0000000000000004", "d"))), "0000000000000004"},
		{ctProto, "", protoBody(t, protoSpan(5)), "0000000000000005"},
		{ctProto + "; proto=zipkin.proto3.ListOfSpans", "gzip", intaketest.Gzip(t, protoBody(t, protoSpan(6))), "0000000000000006"},
	} {
		r := e.Post(t, tc.ct, tc.ce, tc.body)
		if r.Code != http.StatusAccepted || r.Body != "" {
			t.Fatalf("%q %q: status %d %q, want 202 and no body", tc.ct, tc.ce, r.Code, r.Body)
		}
		// Answered after commit: the span is there at once.
		found := false
		for _, s := range e.trace(t, traceA) {
			found = found || s.SpanID.String() == tc.id
		}
		if !found {
			t.Fatalf("%q %q: span %s not stored", tc.ct, tc.ce, tc.id)
		}
	}
	spans := e.trace(t, traceA)
	if len(spans) != 6 {
		t.Fatalf("stored %d spans, want 6", len(spans))
	}
	for _, s := range spans {
		if s.SpanID.String() == "0000000000000001" && (len(s.Events) != 1 || s.Events[0].Name != "ws" || len(s.Attributes) != 1) {
			t.Errorf("span a: events %+v attributes %+v", s.Events, s.Attributes)
		}
	}
	if got := e.Counter(t, "scry_receiver_spans_accepted_total", ""); got != 6 {
		t.Fatalf("accepted counter %v, want 6", got)
	}
	if r := e.Post(t, ctJSON, "", []byte("[]")); r.Code != http.StatusAccepted {
		t.Fatalf("no spans: status %d %q", r.Code, r.Body)
	}
}

func TestPartiallyRejected(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	r := e.Post(t, ctJSON, "", jsonBody(jsonSpan("0000000000000001", "ok"), jsonSpan("xyz", "bad id")))
	if r.Code != http.StatusAccepted || !strings.Contains(r.Body, "rejected 1 of 2 spans") || !strings.Contains(r.Body, "bad id") {
		t.Fatalf("status %d %q, want 202 naming the rejected span", r.Code, r.Body)
	}
	if spans := e.trace(t, traceA); len(spans) != 1 || spans[0].Name != "ok" {
		t.Fatalf("stored %v, want only the valid span", spans)
	}
	if got := e.Counter(t, "scry_receiver_spans_rejected_total", "invalid"); got != 1 {
		t.Fatalf("rejected invalid %v, want 1", got)
	}
	bad := protoSpan(0) // zero span ID
	if r := e.Post(t, ctProto, "", protoBody(t, bad)); r.Code != http.StatusBadRequest || !strings.Contains(r.Body, "no valid span") {
		t.Fatalf("all invalid: status %d %q, want 400", r.Code, r.Body)
	}
	e.Counts(t).Check(t, testkit.Counts{Received: 3, Accepted: 1, Rejected: map[string]float64{"invalid": 2}})
}

func TestV1(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	r, err := intaketest.Send(http.MethodPost, e.Base+zipkin.SpansV1Path, ctJSON, "", []byte(`[{"traceId":"1","id":"1","name":"v1","annotations":[]}]`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != http.StatusBadRequest || !strings.Contains(r.Body, "v1") || !strings.Contains(r.Body, zipkin.SpansPath) {
		t.Fatalf("v1: status %d %q, want 400 pointing at v2", r.Code, r.Body)
	}
}

func TestTooLarge(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), func(c *zipkin.Config) {
		c.MaxRequestBytes = 1 << 20
		c.MaxSpansPerRequest = 3
	})
	bomb := intaketest.GzipBomb(t, 16<<20)
	if len(bomb) > 1<<20 {
		t.Fatalf("bomb is %d bytes compressed; it must be under the limit to test it", len(bomb))
	}
	for _, ct := range []string{ctJSON, ctProto} {
		if r := e.Post(t, ct, "gzip", bomb); r.Code != http.StatusRequestEntityTooLarge || !strings.Contains(r.Body, "exceeds the limit") {
			t.Fatalf("%s gzip bomb: status %d %q, want 413", ct, r.Code, r.Body)
		}
	}
	if r := e.Post(t, ctJSON, "", jsonBody(jsonSpan("0000000000000001", strings.Repeat("x", 2<<20)))); r.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("large body: status %d %q, want 413", r.Code, r.Body)
	}
	many := jsonBody(jsonSpan("0000000000000001", "a"), jsonSpan("0000000000000002", "a"), jsonSpan("0000000000000003", "a"), jsonSpan("0000000000000004", "a"))
	if r := e.Post(t, ctJSON, "", many); r.Code != http.StatusRequestEntityTooLarge || !strings.Contains(r.Body, "4 spans") {
		t.Fatalf("too many spans: status %d %q, want 413", r.Code, r.Body)
	}
	if r := e.Post(t, ctJSON, "", jsonBody(jsonSpan("0000000000000001", "after"))); r.Code != http.StatusAccepted {
		t.Fatalf("after: status %d %q", r.Code, r.Body)
	}
}

func TestBadRequests(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	for name, tc := range map[string]struct {
		ct, ce string
		body   []byte
		want   string
	}{
		"json syntax":   {ctJSON, "", []byte(`[{"traceId":`), "cannot decode zipkin v2 json spans"},
		"json object":   {ctJSON, "", []byte(`{"traceId":"1"}`), "not a JSON array"},
		"json v1 shape": {ctJSON, "", []byte(`[1, 2]`), "not a span object"},
		"empty":         {ctJSON, "", nil, "cannot decode"},
		"protobuf":      {ctProto, "", []byte{0xff, 0xff, 0xff}, "cannot decode zipkin v2 protobuf spans"},
		"gzip":          {ctJSON, "gzip", []byte("plain"), "gzip"},
	} {
		if r := e.Post(t, tc.ct, tc.ce, tc.body); r.Code != http.StatusBadRequest || !strings.Contains(r.Body, tc.want) {
			t.Errorf("%s: status %d %q, want 400 saying %q", name, r.Code, r.Body, tc.want)
		}
	}
	for _, ct := range []string{"text/plain", "application/x-thrift", "application/json;;"} {
		if r := e.Post(t, ct, "", jsonBody(jsonSpan("0000000000000001", "a"))); r.Code != http.StatusUnsupportedMediaType || !strings.Contains(r.Body, ctJSON) {
			t.Errorf("content type %q: status %d %q, want 415", ct, r.Code, r.Body)
		}
	}
	if r := e.Post(t, ctJSON, "deflate", jsonBody(jsonSpan("0000000000000001", "a"))); r.Code != http.StatusUnsupportedMediaType {
		t.Errorf("deflate: status %d %q, want 415", r.Code, r.Body)
	}
	r, err := intaketest.Send(http.MethodGet, e.URL, "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != http.StatusMethodNotAllowed || r.Header.Get("Allow") != http.MethodPost {
		t.Errorf("GET: status %d, Allow %q", r.Code, r.Header.Get("Allow"))
	}
	if r := e.Post(t, ctJSON, "", jsonBody(jsonSpan("0000000000000001", "after"))); r.Code != http.StatusAccepted {
		t.Fatalf("after: status %d %q", r.Code, r.Body)
	}
}

func TestQueueFull(t *testing.T) {
	e := setup(t, queue.Config{MaxBytes: 1000, MaxBatchSpans: 100, Writers: 1}, nil)
	e.W.Hold()
	pad := func(id string) []byte { return jsonBody(jsonSpan(id, strings.Repeat("n", 600))) }
	first := make(chan intaketest.Response, 1)
	body := pad("0000000000000001")
	go func() {
		r, err := intaketest.Send(http.MethodPost, e.URL, ctJSON, "", body)
		if err != nil {
			t.Error(err)
		}
		first <- r
	}()
	testkit.Eventually(t, "first request held in the writer", func() bool { return e.W.Waiting() == 1 })
	r := e.Post(t, ctJSON, "", pad("0000000000000002"))
	if r.Code != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("status %d, Retry-After %q, body %q; want 503 and 1", r.Code, r.Header.Get("Retry-After"), r.Body)
	}
	e.W.Release()
	if r := <-first; r.Code != http.StatusAccepted {
		t.Fatalf("first: status %d %q", r.Code, r.Body)
	}
	if r := e.Post(t, ctJSON, "", pad("0000000000000002")); r.Code != http.StatusAccepted {
		t.Fatalf("retry: status %d %q", r.Code, r.Body)
	}
}

func TestShutdownTwice(t *testing.T) {
	e := setup(t, queue.DefaultConfig(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 2 {
		if err := e.r.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.r.Start(ctx); err == nil {
		t.Fatal("start after shutdown succeeded")
	}
}
