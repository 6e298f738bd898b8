package query

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/query/traceql"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/badger"
	"github.com/scrytrace/scry/storage/remote"
)

// The Tempo API's tests run over generated traces of known structure in a
// memory store (and a Badger one), served on a real port; answers are
// checked against the definition (traceql.Query.Match on every stored
// trace) and against counts computed from the generated traces.

// Tempo's JSON as Grafana reads it, written out here so that a field name
// the handler gets wrong fails the test.
type (
	tSearch struct {
		Traces []struct {
			TraceID           string `json:"traceID"`
			RootServiceName   string `json:"rootServiceName"`
			RootTraceName     string `json:"rootTraceName"`
			StartTimeUnixNano string `json:"startTimeUnixNano"`
			DurationMs        *int   `json:"durationMs"`
			SpanSet           *tSpanSet
			SpanSets          []tSpanSet `json:"spanSets"`
			ServiceStats      map[string]struct {
				SpanCount  int `json:"spanCount"`
				ErrorCount int `json:"errorCount"`
			} `json:"serviceStats"`
		} `json:"traces"`
		Metrics struct {
			InspectedTraces int `json:"inspectedTraces"`
		} `json:"metrics"`
	}
	tSpanSet struct {
		Spans []struct {
			SpanID            string `json:"spanID"`
			Name              string `json:"name"`
			StartTimeUnixNano string `json:"startTimeUnixNano"`
			DurationNanos     string `json:"durationNanos"`
			Attributes        []tKV  `json:"attributes"`
		} `json:"spans"`
		Matched    int   `json:"matched"`
		Attributes []tKV `json:"attributes"`
	}
	tKV struct {
		Key   string `json:"key"`
		Value struct {
			StringValue *string `json:"stringValue"`
			IntValue    *string `json:"intValue"`
			BoolValue   *bool   `json:"boolValue"`
		} `json:"value"`
	}
)

func (r tSearch) ids() []string {
	out := make([]string, len(r.Traces))
	for i, t := range r.Traces {
		out[i] = t.TraceID
	}
	return out
}

// genTrace is one generated trace and its spans.
type genTrace struct {
	id    model.TraceID
	spans []*model.Span
}

// genTraces makes n traces, one every 20 s up to a minute before now:
// svc-(i%4) serves op-(i%3) (status code 500 when i%7 == 0) and calls
// svc-((i+1)%4), whose server span fails when i%5 == 0 and which queries
// a database (an internal span with an event) when i%3 == 0.
func genTraces(n int) []genTrace {
	out := make([]genTrace, n)
	for i := range out {
		id := model.TraceID{0: 0x7e, 14: byte(i >> 8), 15: byte(i)}
		start := now.Add(-time.Minute - time.Duration(n-1-i)*20*time.Second)
		svc, callee := fmt.Sprintf("svc-%d", i%4), fmt.Sprintf("svc-%d", (i+1)%4)
		rootDur := time.Duration(10+10*(i%5)) * time.Millisecond
		code := int64(200)
		if i%7 == 0 {
			code = 500
		}
		mk := func(res string, sid, parent byte, name string, kind model.SpanKind, off, d time.Duration, attrs ...model.KeyValue) *model.Span {
			s := &model.Span{
				Resource: resource(res), Scope: &model.Scope{Name: "gen"}, TraceID: id, SpanID: spanID(sid),
				Name: name, Kind: kind, StartTime: ns(start.Add(off)), EndTime: ns(start.Add(off + d)), Attributes: attrs,
			}
			if parent != 0 {
				s.ParentSpanID = spanID(parent)
			}
			return s
		}
		kv := func(k string, v model.Value) model.KeyValue { return model.KeyValue{Key: k, Value: v} }
		root := mk(svc, 1, 0, fmt.Sprintf("op-%d", i%3), model.SpanKindServer, 0, rootDur,
			kv("http.status_code", model.IntValue(code)), kv("http.method", model.StringValue("GET")))
		client := mk(svc, 2, 1, "call "+callee, model.SpanKindClient, time.Millisecond, rootDur-2*time.Millisecond)
		server := mk(callee, 3, 2, fmt.Sprintf("op-%d", (i+1)%3), model.SpanKindServer, 2*time.Millisecond, rootDur-4*time.Millisecond,
			kv("retry", model.BoolValue(i%2 == 0)))
		if i%5 == 0 {
			server.Status = model.Status{Code: model.StatusError, Message: "boom"}
		}
		spans := []*model.Span{root, client, server}
		if i%3 == 0 {
			db := mk(callee, 4, 3, "db", model.SpanKindInternal, 3*time.Millisecond, time.Millisecond,
				kv("db.system", model.StringValue("postgres")))
			db.Events = []model.Event{{Time: db.StartTime, Name: "query", Attributes: []model.KeyValue{kv("rows", model.IntValue(int64(i)))}}}
			spans = append(spans, db)
		}
		out[i] = genTrace{id: id, spans: spans}
	}
	return out
}

// tempoServer serves the query API (and, on tempo, the Tempo port's
// handler) over a memory store holding traces.
type tempoServer struct {
	query, tempo *server
	traces       []genTrace
}

func newTempoServer(t *testing.T, n int, mod func(*Config)) *tempoServer {
	t.Helper()
	store := newEmptyStore(t)
	s := newTempoServerOver(t, n, mod, store)
	s.query = newServerOver(t, mod, store)
	return s
}

// newTempoServerOver loads n generated traces into store and serves the
// Tempo port's handler over it (also as s.query).
func newTempoServerOver(t *testing.T, n int, mod func(*Config), store storage.Store) *tempoServer {
	t.Helper()
	traces := genTraces(n)
	var all []*model.Span
	for _, tr := range traces {
		for _, sp := range tr.spans {
			all = append(all, sp.Clone())
		}
	}
	if err := store.WriteSpans(context.Background(), all); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	h, err := NewTempoHandler(cfg, store, telemetry.Settings{Logger: slog.New(slog.DiscardHandler), Clock: fixedClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tempo := &server{Server: srv, log: &syncBuffer{}}
	return &tempoServer{query: tempo, tempo: tempo, traces: traces}
}

// newBadgerStore is a started Badger store in a temporary folder whose
// clock says now.
func newBadgerStore(t *testing.T) storage.Store {
	t.Helper()
	cfg := badger.DefaultConfig()
	cfg.Dir = t.TempDir()
	s, err := badger.New(cfg, telemetry.Settings{Logger: slog.New(slog.DiscardHandler), Clock: fixedClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	return testkit.Start(t, s)
}

// expected is the definition of a search: the IDs of the traces q
// matches with a span of its answer started in [from, to], by Match.
func (s *tempoServer) expected(t *testing.T, q string, from, to time.Time) []string {
	t.Helper()
	parsed, err := traceql.Parse(q)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tr := range s.traces {
		sets, ok := parsed.Match(tr.spans)
		if ok && anyInWindow(sets, tempoWindow{ns(from), ns(to)}) {
			out = append(out, tr.id.String())
		}
	}
	slices.Sort(out)
	return out
}

func (s *tempoServer) search(t *testing.T, params ...string) tSearch {
	t.Helper()
	r := s.query.get(t, "/api/search", params...)
	r.checkJSON(t, http.StatusOK)
	return decode[tSearch](t, r.body)
}

func secs(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func TestTempoEcho(t *testing.T) {
	s := newTempoServer(t, 1, nil)
	for _, srv := range []*server{s.query, s.tempo} {
		r := srv.get(t, "/api/echo")
		if r.status != http.StatusOK || string(r.body) != "echo" {
			t.Errorf("%s/api/echo: %d %q, want 200 \"echo\"", srv.URL, r.status, r.body)
		}
	}
}

// TestTempoSearchIsExact checks the pushdown: every query answers exactly
// the traces the definition finds, for queries that push service, name,
// kind, durations and attributes to the store and for those that push
// nothing.
func TestTempoSearchIsExact(t *testing.T) {
	s := newTempoServer(t, 150, nil)
	from, to := now.Add(-time.Hour), now
	queries := []string{
		`{ resource.service.name = "svc-1" }`,
		`{ span.http.status_code = 500 }`,
		`{ resource.service.name = "svc-1" && span.http.status_code = 500 }`,
		`{ .http.status_code = 500 && name = "op-0" }`,
		`{ name = "op-2" && kind = server }`,
		`{ kind = client && resource.service.name = "svc-3" }`,
		`{ duration > 30ms }`,
		`{ duration >= 20ms && duration < 40ms }`,
		`{ 20ms <= duration }`,
		`{ duration = 16ms }`,
		`{ status = error }`,
		`{ span.retry = true && status = error }`,
		`{ event.rows = 42 }`,
		`{ resource.service.name = "svc-0" } >> { status = error }`,
		`{ resource.service.name = "svc-0" } > { name = "db" }`,
		`{ name = "db" } < { kind = server }`,
		`{ kind = client } ~ { kind = server }`,
		`{ resource.service.name = "svc-2" } && { resource.service.name = "svc-3" }`,
		`{ .http.status_code = 500 } || { name = "op-1" && kind = server }`,
		`{ resource.service.name = "svc-1" || resource.service.name = "svc-2" }`,
		`{ resource.service.name = "svc-1" && (name = "op-0" || name = "op-1") }`,
		`{ } | count() > 3`,
		`{ span.http.status_code = 500 } | by(resource.service.name)`,
		`{ resource.service.name = "svc-1" } | { span.http.method = "GET" }`,
		`{ name = "op-0" && name = "op-1" }`,
		`{ duration > 1s }`,
		`{ trace:rootService = "svc-2" }`,
		`{ span.http.method =~ "G.*" && resource.service.name != "svc-0" }`,
		`{ }`,
	}
	for _, q := range queries {
		got := s.search(t, "q", q, "limit", "1000", "start", secs(from), "end", secs(to))
		ids := got.ids()
		slices.Sort(ids)
		want := s.expected(t, q, from, to.Add(time.Second-1))
		if !slices.Equal(ids, want) {
			t.Errorf("%s: %d traces, want %d\n got %v\nwant %v", q, len(ids), len(want), ids, want)
		}
		if len(got.Traces) != got.Metrics.InspectedTraces && got.Metrics.InspectedTraces < len(got.Traces) {
			t.Errorf("%s: inspected %d traces, answered %d", q, got.Metrics.InspectedTraces, len(got.Traces))
		}
	}
}

// countOf is how many of the generated traces 0..n-1 f holds for.
func countOf(n int, f func(i int) bool) int {
	c := 0
	for i := range n {
		if f(i) {
			c++
		}
	}
	return c
}

// TestTempoSearchCounts checks answers against counts computed from the
// generator's rules, not from Match.
func TestTempoSearchCounts(t *testing.T) {
	const n = 150
	s := newTempoServer(t, n, nil)
	count := func(f func(i int) bool) int { return countOf(n, f) }
	cases := []struct {
		q    string
		want int
	}{
		{`{ span.http.status_code = 500 }`, count(func(i int) bool { return i%7 == 0 })},
		{`{ resource.service.name = "svc-1" && span.http.status_code = 500 }`, count(func(i int) bool { return i%7 == 0 && i%4 == 1 })},
		// an error in the callee of svc-0: i%4 == 0, i%5 == 0
		{`{ resource.service.name = "svc-0" } >> { status = error }`, count(func(i int) bool { return i%4 == 0 && i%5 == 0 })},
		{`{ name = "db" }`, count(func(i int) bool { return i%3 == 0 })},
		{`{ } | count() > 3`, count(func(i int) bool { return i%3 == 0 })},
	}
	for _, c := range cases {
		got := s.search(t, "q", c.q, "limit", "1000")
		if len(got.Traces) != c.want {
			t.Errorf("%s: %d traces, want %d", c.q, len(got.Traces), c.want)
		}
	}
}

func TestTempoSearchLimitAndOrder(t *testing.T) {
	s := newTempoServer(t, 150, nil)
	// 22 traces have status code 500; the default limit is 20.
	got := s.search(t, "q", `{ span.http.status_code = 500 }`)
	if len(got.Traces) != 20 {
		t.Fatalf("%d traces, want the default limit of 20", len(got.Traces))
	}
	got = s.search(t, "q", `{ span.http.status_code = 500 }`, "limit", "3")
	if len(got.Traces) != 3 {
		t.Fatalf("%d traces, want 3", len(got.Traces))
	}
	// The newest three: i = 147, 140, 133.
	want := []string{genTraces(150)[147].id.String(), genTraces(150)[140].id.String(), genTraces(150)[133].id.String()}
	if !slices.Equal(got.ids(), want) {
		t.Errorf("traces %v, want the newest %v", got.ids(), want)
	}
	if got.Metrics.InspectedTraces < 3 {
		t.Errorf("inspectedTraces %d, want at least the 3 answered", got.Metrics.InspectedTraces)
	}
	// A query the store cannot narrow stops early too.
	got = s.search(t, "q", `{ status = error }`, "limit", "2")
	if len(got.Traces) != 2 {
		t.Errorf("status = error, limit 2: %d traces", len(got.Traces))
	}
}

func TestTempoSearchShape(t *testing.T) {
	s := newTempoServer(t, 150, nil)
	tr := s.traces[140] // svc-0 → svc-1, status code 500, no error, no db
	got := s.search(t, "q", `{ span.http.status_code = 500 && resource.service.name = "svc-0" }`, "limit", "1", "spss", "3")
	if len(got.Traces) != 1 {
		t.Fatalf("%d traces, want 1", len(got.Traces))
	}
	m := got.Traces[0]
	if m.TraceID != tr.id.String() || m.RootServiceName != "svc-0" || m.RootTraceName != "op-2" {
		t.Errorf("trace %s root %s %s, want %s svc-0 op-2", m.TraceID, m.RootServiceName, m.RootTraceName, tr.id)
	}
	if m.StartTimeUnixNano != strconv.FormatUint(tr.spans[0].StartTime, 10) {
		t.Errorf("startTimeUnixNano %s, want %d", m.StartTimeUnixNano, tr.spans[0].StartTime)
	}
	if m.DurationMs == nil || *m.DurationMs != 10 {
		t.Errorf("durationMs %v, want 10", m.DurationMs)
	}
	if len(m.SpanSets) != 1 || m.SpanSet == nil || m.SpanSet.Matched != 1 {
		t.Fatalf("spanSets %+v spanSet %+v, want one with one span matched", m.SpanSets, m.SpanSet)
	}
	sp := m.SpanSets[0].Spans[0]
	if sp.SpanID != spanID(1).String() || sp.Name != "op-2" || sp.DurationNanos != "10000000" {
		t.Errorf("span %+v, want the root, op-2, 10ms", sp)
	}
	attrs := map[string]tKV{}
	for _, a := range sp.Attributes {
		attrs[a.Key] = a
	}
	if a := attrs["http.status_code"]; a.Value.IntValue == nil || *a.Value.IntValue != "500" {
		t.Errorf("span attributes %+v, want http.status_code intValue \"500\"", sp.Attributes)
	}
	if a := attrs["service.name"]; a.Value.StringValue == nil || *a.Value.StringValue != "svc-0" {
		t.Errorf("span attributes %+v, want service.name svc-0", sp.Attributes)
	}
	if st := m.ServiceStats["svc-1"]; st.SpanCount != 1 {
		t.Errorf("serviceStats %+v, want svc-1 with 1 span", m.ServiceStats)
	}

	// spss caps the spans shown, matched counts them all.
	got = s.search(t, "q", `{ resource.service.name = "svc-1" }`, "limit", "1", "spss", "1")
	ss := got.Traces[0].SpanSets[0]
	if len(ss.Spans) != 1 || ss.Matched < 2 {
		t.Errorf("spss=1: %d spans shown of %d matched, want 1 of at least 2", len(ss.Spans), ss.Matched)
	}
	// by() groups are spansets with the group's value as an attribute.
	got = s.search(t, "q", `{ } | by(resource.service.name)`, "limit", "1")
	if n := len(got.Traces[0].SpanSets); n != 2 {
		t.Fatalf("by(resource.service.name): %d spansets, want 2 (caller and callee)", n)
	}
	for _, set := range got.Traces[0].SpanSets {
		if len(set.Attributes) != 1 || set.Attributes[0].Key != "by(resource.service.name)" {
			t.Errorf("spanset attributes %+v, want by(resource.service.name)", set.Attributes)
		}
	}
}

func TestTempoSearchWindowAndDuration(t *testing.T) {
	s := newTempoServer(t, 150, nil)
	// Traces start every 20 s; [now-61m20s, now-60m] is... the window of
	// the last 10 minutes before the newest trace holds 31 traces.
	newest := time.Unix(0, int64(s.traces[149].spans[0].StartTime))
	got := s.search(t, "q", "{}", "limit", "1000", "start", secs(newest.Add(-10*time.Minute)), "end", secs(newest))
	if want := len(s.expected(t, "{}", newest.Add(-10*time.Minute).Truncate(time.Second), newest.Truncate(time.Second).Add(time.Second-1))); len(got.Traces) != want || want != 31 {
		t.Errorf("10-minute window: %d traces, want %d (31)", len(got.Traces), want)
	}
	// The trace durations are 10, 20, 30, 40 and 50 ms (i%5).
	got = s.search(t, "minDuration", "30ms", "maxDuration", "40ms", "limit", "1000")
	if len(got.Traces) != 60 {
		t.Errorf("30ms..40ms: %d traces, want 60", len(got.Traces))
	}
	for _, tr := range got.Traces {
		if *tr.DurationMs < 30 || *tr.DurationMs > 40 {
			t.Errorf("trace %s lasts %d ms", tr.TraceID, *tr.DurationMs)
		}
	}
}

func TestTempoSearchTags(t *testing.T) {
	const n = 150
	s := newTempoServer(t, n, nil)
	count := func(f func(i int) bool) int { return countOf(n, f) }
	cases := []struct {
		tags string
		want int
	}{
		// Tags may hold on different spans: svc-1 is the caller (i%4 == 1)
		// or the callee (i%4 == 0) of the span with status code 500.
		{`service.name=svc-1 http.status_code=500`, count(func(i int) bool { return (i%4 == 1 || i%4 == 0) && i%7 == 0 })},
		{`name=db`, count(func(i int) bool { return i%3 == 0 })},
		{`status.code=error`, count(func(i int) bool { return i%5 == 0 })},
		{`root.service.name=svc-2 db.system="postgres"`, count(func(i int) bool { return i%4 == 2 && i%3 == 0 })},
		{`retry=true service.name="svc-3"`, count(func(i int) bool { return i%2 == 0 && (i%4 == 3 || (i+1)%4 == 3) })},
	}
	for _, c := range cases {
		got := s.search(t, "tags", c.tags, "limit", "1000")
		if len(got.Traces) != c.want {
			t.Errorf("tags %s: %d traces, want %d", c.tags, len(got.Traces), c.want)
		}
	}
}

func TestTempoSearchBadRequests(t *testing.T) {
	s := newTempoServer(t, 5, nil)
	cases := []struct {
		params []string
		want   string
	}{
		{[]string{"q", `{ span.x = }`}, "parse error at line 1, col"},
		{[]string{"q", `{ } | rate()`}, "/api/metrics"},
		{[]string{"q", `{}`, "tags", "a=b"}, "can't specify tags and q"},
		{[]string{"tags", `a="b`}, "invalid tags"},
		{[]string{"limit", "x"}, "invalid limit"},
		{[]string{"limit", "100000"}, "invalid limit"},
		{[]string{"spss", "-1"}, "invalid spss"},
		{[]string{"minDuration", "fast"}, "invalid minDuration"},
		{[]string{"minDuration", "2s", "maxDuration", "1s"}, "maxDuration"},
		{[]string{"start", "200", "end", "100"}, "start must be before end"},
		{[]string{"start", "yesterday"}, "invalid start"},
	}
	for _, c := range cases {
		r := s.query.get(t, "/api/search", c.params...)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), c.want) {
			t.Errorf("%v: %d %q, want 400 with %q", c.params, r.status, r.body, c.want)
		}
	}
	if r := s.query.do(t, http.MethodPost, "/api/search"); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/search: %d, want 405", r.status)
	}
}

// The parser's position message reaches the client as it is.
func TestTempoSearchParseErrorPosition(t *testing.T) {
	s := newTempoServer(t, 1, nil)
	q := `{ .a = 1 && }`
	_, err := traceql.Parse(q)
	pe := err.(*traceql.ParseError)
	r := s.tempo.get(t, "/api/search", "q", q)
	want := fmt.Sprintf("line %d, col %d: %s", pe.Line, pe.Column, pe.Msg)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), want) {
		t.Errorf("%d %q, want 400 with %q", r.status, r.body, want)
	}
}

// TestTempoSearchRandomIsExact compares random queries (filters of
// pushable and unpushable conditions, spanset and structural operators,
// pipelines) over random windows with the definition.
func TestTempoSearchRandomIsExact(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testRandomIsExact(t, newTempoServer(t, 150, nil)) })
	t.Run("badger", func(t *testing.T) { testRandomIsExact(t, newTempoServerOver(t, 150, nil, newBadgerStore(t))) })
	t.Run("remote", func(t *testing.T) { testRandomIsExact(t, newTempoServerOver(t, 150, nil, newRemoteStore(t))) })
}

// remoteStore writes into a Badger store and reads it back through the
// storage read API: a scry-query over one collector.
type remoteStore struct {
	storage.Writer
	*remote.Client
}

func (r remoteStore) WriteSpans(ctx context.Context, spans []*model.Span) error {
	return r.Writer.WriteSpans(ctx, spans)
}

func newRemoteStore(t *testing.T) storage.Store {
	t.Helper()
	backing := newBadgerStore(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	remote.NewServer(backing, telemetry.Settings{Logger: slog.New(slog.DiscardHandler)}).Register(g)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	cfg := remote.DefaultConfig()
	cfg.Endpoints = []string{lis.Addr().String()}
	c, err := remote.New(cfg, telemetry.Settings{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return testkit.Start[storage.Store](t, remoteStore{Writer: backing, Client: c})
}

func testRandomIsExact(t *testing.T, s *tempoServer) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	atom := func() string {
		switch rng.IntN(12) {
		case 0:
			return fmt.Sprintf(`resource.service.name = "svc-%d"`, rng.IntN(5))
		case 1:
			return fmt.Sprintf(`name = "op-%d"`, rng.IntN(3))
		case 2:
			return "kind = " + pick("server", "client", "internal")
		case 3:
			return fmt.Sprintf("duration %s %dms", pick(">", ">=", "<", "<=", "="), 1+rng.IntN(50))
		case 4:
			return "span.http.status_code = " + pick("500", "200")
		case 5:
			return "span.retry = " + pick("true", "false")
		case 6:
			return "status = " + pick("error", "unset")
		case 7:
			return `.db.system = "postgres"`
		case 8:
			return fmt.Sprintf("event.rows = %d", rng.IntN(150))
		case 9:
			return `span.http.method != "GET"`
		case 10:
			return `resource.service.name =~ "svc-[12]"`
		}
		return `name = "db"`
	}
	filter := func() string {
		e := atom()
		for range rng.IntN(3) {
			e = "(" + e + ") " + pick("&&", "||") + " " + atom()
		}
		return "{ " + e + " }"
	}
	nonEmpty := 0
	for i := range 300 {
		q := filter()
		if rng.IntN(2) == 0 {
			q += " " + pick("&&", "||", ">>", ">", "<", "<<", "~", "!>>", "&>>") + " " + filter()
		}
		switch rng.IntN(4) {
		case 0:
			q += " | count() > 1"
		case 1:
			q += " | by(resource.service.name)"
		}
		from := now.Add(-time.Duration(rng.IntN(60)) * time.Minute)
		to := from.Add(time.Duration(1+rng.IntN(30)) * time.Minute)
		got := s.search(t, "q", q, "limit", "1000", "start", secs(from), "end", secs(to))
		ids := got.ids()
		slices.Sort(ids)
		want := s.expected(t, q, from, to.Add(time.Second-1))
		if len(want) > 0 {
			nonEmpty++
		}
		if !slices.Equal(ids, want) {
			t.Errorf("%d: %s over [%s, %s]: %d traces, want %d", i, q, secs(from), secs(to), len(ids), len(want))
		}
	}
	// Most queries must find something, or the comparison says little.
	if nonEmpty < 100 {
		t.Errorf("only %d of 300 random queries found traces", nonEmpty)
	}
	t.Logf("%d of 300 random queries found traces", nonEmpty)
}

func TestTempoUnderBasePath(t *testing.T) {
	s := newServer(t, func(c *Config) { c.BasePath = "/scry" })
	if r := s.get(t, "/scry/api/echo"); r.status != http.StatusOK || string(r.body) != "echo" {
		t.Errorf("/scry/api/echo: %d %q", r.status, r.body)
	}
	r := s.get(t, "/scry/api/search", "q", `{ resource.service.name = "driver" }`, "start", secs(t0.Add(-time.Minute)), "end", secs(t0.Add(time.Hour)))
	r.checkJSON(t, http.StatusOK)
	if got := decode[tSearch](t, r.body).ids(); !slices.Equal(got, []string{jaegerA}) {
		t.Errorf("search under /scry: %v, want trace A", got)
	}
	if r := s.get(t, "/api/echo"); r.status == http.StatusOK {
		t.Errorf("/api/echo outside the base path: %d, want not found", r.status)
	}
}
