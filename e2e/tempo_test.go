package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/internal/testbin"
)

// The Tempo API end to end: traces sent over OTLP/gRPC to the built
// binary, then read back with the requests Grafana's Tempo data source
// sends, on the query port and on --tempo-http-addr.

// sentTrace is one trace the test sent, with the facts its checks count.
type sentTrace struct {
	id       string
	spans    []*tracepb.Span
	services map[string]bool // of its spans
	svc      string          // the root's service
	code500  bool            // the root has http.status_code 500
	errSvc   string          // the service of its error span, "" for none
	db       bool            // it has a fourth span, "db", with an event
	durMs    int
}

// sendTempoTraces sends n traces, one every 20 s ending a minute ago:
// svc-(i%4) serves op-(i%3) (http.status_code 500 when i%7 == 0) and calls
// svc-((i+1)%4), whose server span fails when i%5 == 0 and which queries
// a database when i%3 == 0. The root lasts 10+10*(i%5) ms.
func sendTempoTraces(t *testing.T, s *Scry, n int) []sentTrace {
	t.Helper()
	c := s.traceClient(t)
	base := time.Now().Add(-time.Minute - time.Duration(n)*20*time.Second).Truncate(time.Millisecond)
	out := make([]sentTrace, n)
	for i := range out {
		tid := newTraceID()
		start := base.Add(time.Duration(i) * 20 * time.Second)
		svc, callee := fmt.Sprintf("svc-%d", i%4), fmt.Sprintf("svc-%d", (i+1)%4)
		d := time.Duration(10+10*(i%5)) * time.Millisecond
		code := int64(200)
		if i%7 == 0 {
			code = 500
		}
		r, cl, sv := newSpanID(), newSpanID(), newSpanID()
		root := span(tid, r, nil, fmt.Sprintf("op-%d", i%3), tracepb.Span_SPAN_KIND_SERVER, start, d,
			kvInt("http.status_code", code), kvStr("http.method", "GET"))
		client := span(tid, cl, r, "call "+callee, tracepb.Span_SPAN_KIND_CLIENT, start.Add(time.Millisecond), d-2*time.Millisecond)
		server := span(tid, sv, cl, fmt.Sprintf("op-%d", (i+1)%3), tracepb.Span_SPAN_KIND_SERVER, start.Add(2*time.Millisecond), d-4*time.Millisecond)
		st := sentTrace{id: hexID(tid), svc: svc, code500: code == 500, durMs: int(d / time.Millisecond),
			services: map[string]bool{svc: true, callee: true}}
		if i%5 == 0 {
			server.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "boom"}
			st.errSvc = callee
		}
		calleeSpans := []*tracepb.Span{server}
		if i%3 == 0 {
			db := span(tid, newSpanID(), sv, "db", tracepb.Span_SPAN_KIND_INTERNAL, start.Add(3*time.Millisecond), time.Millisecond,
				kvStr("db.system", "postgres"))
			db.Events = []*tracepb.Span_Event{{TimeUnixNano: db.StartTimeUnixNano, Name: "query",
				Attributes: []*commonpb.KeyValue{kvInt("rows", int64(i))}}}
			calleeSpans = append(calleeSpans, db)
			st.db = true
		}
		s.exportOK(t, c, resourceSpans(svc, nil, root, client), resourceSpans(callee, nil, calleeSpans...))
		st.spans = append([]*tracepb.Span{root, client}, calleeSpans...)
		out[i] = st
	}
	return out
}

// tempoGet GETs pathAndQuery from addr, one of s's listeners, with an
// Accept header when accept is not empty.
func tempoGet(t *testing.T, s *Scry, addr, pathAndQuery, accept string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.base(addr)+pathAndQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", pathAndQuery, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body, resp.Header
}

// tempoJSON GETs a JSON answer that must be a 200.
func tempoJSON(t *testing.T, s *Scry, addr, pathAndQuery string, out any) {
	t.Helper()
	code, body, hdr := tempoGet(t, s, addr, pathAndQuery, "")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("GET %s: %d %s: %s", pathAndQuery, code, hdr.Get("Content-Type"), body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %v\n%s", pathAndQuery, err, body)
	}
}

// Tempo's search answer as Grafana reads it.
type tempoSearchAnswer struct {
	Traces []struct {
		TraceID           string `json:"traceID"`
		RootServiceName   string `json:"rootServiceName"`
		RootTraceName     string `json:"rootTraceName"`
		StartTimeUnixNano string `json:"startTimeUnixNano"`
		DurationMs        int    `json:"durationMs"`
		SpanSets          []struct {
			Spans []struct {
				SpanID            string `json:"spanID"`
				Name              string `json:"name"`
				StartTimeUnixNano string `json:"startTimeUnixNano"`
				DurationNanos     string `json:"durationNanos"`
				Attributes        []struct {
					Key   string         `json:"key"`
					Value map[string]any `json:"value"`
				} `json:"attributes"`
			} `json:"spans"`
			Matched int `json:"matched"`
		} `json:"spanSets"`
	} `json:"traces"`
	Metrics struct {
		InspectedTraces int `json:"inspectedTraces"`
	} `json:"metrics"`
}

func TestTempoAPI(t *testing.T) {
	t.Parallel()
	s := startScryWith(t, scryOptions{Tempo: true})
	const n = 60
	sent := sendTempoTraces(t, s, n)
	byID := map[string]sentTrace{}
	for _, st := range sent {
		byID[st.id] = st
	}
	window := fmt.Sprintf("&start=%d&end=%d", time.Now().Add(-time.Hour).Unix(), time.Now().Unix())
	count := func(f func(i int, st sentTrace) bool) (ids []string) {
		for i, st := range sent {
			if f(i, st) {
				ids = append(ids, st.id)
			}
		}
		slices.Sort(ids)
		return ids
	}

	for _, addr := range []string{s.Query, s.Tempo} {
		if code, body, _ := tempoGet(t, s, addr, "/api/echo", ""); code != http.StatusOK || string(body) != "echo" {
			t.Errorf("%s /api/echo: %d %q", addr, code, body)
		}
	}

	// Search, as Grafana's TraceQL editor sends it.
	// search sends q with limit 100 and spss 3, or the limit and spss of
	// extra.
	search := func(addr, q, extra string) tempoSearchAnswer {
		t.Helper()
		if extra == "" {
			extra = "&limit=100&spss=3"
		}
		var a tempoSearchAnswer
		tempoJSON(t, s, addr, "/api/search?q="+url.QueryEscape(q)+window+extra, &a)
		return a
	}
	ids := func(a tempoSearchAnswer) []string {
		var out []string
		for _, tr := range a.Traces {
			out = append(out, tr.TraceID)
		}
		slices.Sort(out)
		return out
	}
	for _, c := range []struct {
		q    string
		want []string
	}{
		{`{resource.service.name="svc-1" && span.http.status_code=500}`, count(func(i int, st sentTrace) bool { return st.svc == "svc-1" && st.code500 })},
		{`{resource.service.name="svc-0"} >> {status=error}`, count(func(i int, st sentTrace) bool { return st.svc == "svc-0" && st.errSvc != "" })},
		{`{status=error && resource.service.name="svc-2"}`, count(func(i int, st sentTrace) bool { return st.errSvc == "svc-2" })},
		{`{} | count() > 3`, count(func(i int, st sentTrace) bool { return st.db })},
		{`{name="db"} && {resource.service.name="svc-3"}`, count(func(i int, st sentTrace) bool { return st.db && st.services["svc-3"] })},
		{`{kind=server && duration>=45ms}`, count(func(i int, st sentTrace) bool { return st.durMs >= 45 })},
		{`{event.rows=33}`, count(func(i int, st sentTrace) bool { return i == 33 })},
	} {
		for _, addr := range []string{s.Query, s.Tempo} {
			if got := ids(search(addr, c.q, "")); !slices.Equal(got, c.want) {
				t.Errorf("%s %s: %d traces, want %d\n got %v\nwant %v", addr, c.q, len(got), len(c.want), got, c.want)
			}
		}
	}

	// What a result row shows.
	a := search(s.Tempo, `{span.http.status_code=500}`, "")
	for _, tr := range a.Traces {
		st, ok := byID[tr.TraceID]
		switch {
		case !ok:
			t.Errorf("trace %s was not sent", tr.TraceID)
			continue
		case tr.RootServiceName != st.svc || tr.DurationMs != st.durMs:
			t.Errorf("trace %s: root %s %d ms, want %s %d ms", tr.TraceID, tr.RootServiceName, tr.DurationMs, st.svc, st.durMs)
		case tr.StartTimeUnixNano != strconv.FormatUint(st.spans[0].StartTimeUnixNano, 10):
			t.Errorf("trace %s: startTimeUnixNano %s, want %d", tr.TraceID, tr.StartTimeUnixNano, st.spans[0].StartTimeUnixNano)
		case len(tr.SpanSets) != 1 || tr.SpanSets[0].Matched != 1 || len(tr.SpanSets[0].Spans) != 1:
			t.Errorf("trace %s: spanSets %+v, want the root alone", tr.TraceID, tr.SpanSets)
			continue
		}
		sp := tr.SpanSets[0].Spans[0]
		if sp.SpanID != hexID(st.spans[0].SpanId) || sp.Name != st.spans[0].Name {
			t.Errorf("trace %s: span %s %s, want the root %s %s", tr.TraceID, sp.SpanID, sp.Name, hexID(st.spans[0].SpanId), st.spans[0].Name)
		}
		var code any
		for _, kv := range sp.Attributes {
			if kv.Key == "http.status_code" {
				code = kv.Value["intValue"]
			}
		}
		if code != "500" {
			t.Errorf("trace %s: attributes %+v, want http.status_code 500", tr.TraceID, sp.Attributes)
		}
	}
	// The limit, and spss.
	if a := search(s.Tempo, `{}`, "&limit=3&spss=2"); len(a.Traces) != 3 {
		t.Errorf("limit=3: %d traces", len(a.Traces))
	} else if ss := a.Traces[0].SpanSets[0]; len(ss.Spans) != 2 || ss.Matched < 3 {
		t.Errorf("spss=2: %d spans shown of %d matched, want 2 of at least 3", len(ss.Spans), ss.Matched)
	}
	// Tags (logfmt) and the trace's duration.
	var ta tempoSearchAnswer
	tempoJSON(t, s, s.Tempo, "/api/search?tags="+url.QueryEscape("service.name=svc-1 http.status_code=500")+"&minDuration=25ms&limit=100"+window, &ta)
	wantTags := count(func(i int, st sentTrace) bool { return st.services["svc-1"] && st.code500 && st.durMs >= 25 })
	if got := ids(ta); !slices.Equal(got, wantTags) {
		t.Errorf("tags search: %v, want %v", got, wantTags)
	}
	// Refused queries say why.
	for q, want := range map[string]string{
		`{span.http.status_code=}`:    "parse error at line 1, col 24",
		`{} | rate() by (resource.x)`: "/api/metrics",
	} {
		code, body, _ := tempoGet(t, s, s.Tempo, "/api/search?q="+url.QueryEscape(q), "")
		if code != http.StatusBadRequest || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d %q, want 400 with %q", q, code, body, want)
		}
	}

	// Tag names and values, as the editor's autocomplete asks.
	var tags struct {
		TagNames []string `json:"tagNames"`
	}
	tempoJSON(t, s, s.Tempo, "/api/search/tags?"+window[1:], &tags)
	for _, want := range []string{"service.name", "http.status_code", "http.method", "db.system"} {
		if !slices.Contains(tags.TagNames, want) {
			t.Errorf("/api/search/tags: %v lacks %s", tags.TagNames, want)
		}
	}
	var v2tags struct {
		Scopes []struct {
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		} `json:"scopes"`
	}
	tempoJSON(t, s, s.Query, "/api/v2/search/tags?scope=span"+window, &v2tags)
	if len(v2tags.Scopes) != 1 || !slices.Equal(v2tags.Scopes[0].Tags, []string{"db.system", "http.method", "http.status_code"}) {
		t.Errorf("v2 tags scope=span: %+v", v2tags.Scopes)
	}
	tempoJSON(t, s, s.Tempo, "/api/v2/search/tags?"+window[1:], &v2tags)
	scopes := map[string][]string{}
	for _, sc := range v2tags.Scopes {
		scopes[sc.Name] = sc.Tags
	}
	if !slices.Contains(scopes["resource"], "service.name") || !slices.Equal(scopes["event"], []string{"rows"}) || !slices.Contains(scopes["intrinsic"], "status") {
		t.Errorf("v2 tags: %v", scopes)
	}
	var values struct {
		TagValues []string `json:"tagValues"`
	}
	tempoJSON(t, s, s.Tempo, "/api/search/tag/service.name/values", &values)
	if !slices.Equal(values.TagValues, []string{"svc-0", "svc-1", "svc-2", "svc-3"}) {
		t.Errorf("service.name values: %v", values.TagValues)
	}
	type typed struct {
		TagValues []struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"tagValues"`
	}
	var tv typed
	tempoJSON(t, s, s.Tempo, "/api/v2/search/tag/resource.service.name/values?q=%7B%7D"+window, &tv)
	if len(tv.TagValues) != 4 || tv.TagValues[0].Type != "string" || tv.TagValues[0].Value != "svc-0" {
		t.Errorf("resource.service.name values: %+v", tv.TagValues)
	}
	tempoJSON(t, s, s.Tempo, "/api/v2/search/tag/span.http.status_code/values?"+window[1:], &tv)
	if fmt.Sprint(tv.TagValues) != "[{int 200} {int 500}]" {
		t.Errorf("span.http.status_code values: %+v", tv.TagValues)
	}
	tempoJSON(t, s, s.Tempo, "/api/v2/search/tag/name/values?q="+url.QueryEscape(`{resource.service.name="svc-1"}`)+window, &tv)
	var names []string
	for _, v := range tv.TagValues {
		names = append(names, v.Value)
	}
	if !slices.Equal(names, []string{"call svc-2", "db", "op-0", "op-1", "op-2"}) {
		t.Errorf("names of svc-1's spans: %v", names)
	}

	// Trace by ID in protobuf, decoded with Tempo's message layout, and
	// checked against what was sent.
	st := sent[30] // svc-2 → svc-3, with an error and a db span
	for _, c := range []struct {
		addr, path string
		v2         bool
	}{{s.Query, "/api/v2/traces/", true}, {s.Tempo, "/api/v2/traces/", true}, {s.Tempo, "/api/traces/", false}} {
		code, body, hdr := tempoGet(t, s, c.addr, c.path+st.id+"?"+window[1:], "application/protobuf")
		if code != http.StatusOK || hdr.Get("Content-Type") != "application/protobuf" {
			t.Fatalf("%s%s: %d %s %q", c.addr, c.path, code, hdr.Get("Content-Type"), body)
		}
		traceMsg := body
		if c.v2 {
			traceMsg = protoField(t, body, 1) // TraceByIDResponse.trace
			if m := protoField(t, body, 2); m == nil {
				t.Errorf("%s: TraceByIDResponse has no metrics (field 2)", c.path)
			}
		}
		checkSentTrace(t, c.path, traceMsg, st)
	}
	// JSON.
	var v1 struct {
		Batches []json.RawMessage `json:"batches"`
	}
	tempoJSON(t, s, s.Tempo, "/api/traces/"+st.id, &v1)
	if len(v1.Batches) != 2 {
		t.Errorf("v1 JSON: %d batches, want one per service", len(v1.Batches))
	}
	var v2 struct {
		Trace struct {
			ResourceSpans []json.RawMessage `json:"resourceSpans"`
		} `json:"trace"`
	}
	tempoJSON(t, s, s.Query, "/api/v2/traces/"+st.id, &v2)
	if len(v2.Trace.ResourceSpans) != 2 {
		t.Errorf("v2 JSON: %d resourceSpans, want 2", len(v2.Trace.ResourceSpans))
	}
	// /api/traces/{id} on the query port is still Jaeger's.
	if jt := s.trace(t, st.id); len(jt.Spans) != len(st.spans) {
		t.Errorf("Jaeger /api/traces: %d spans, want %d", len(jt.Spans), len(st.spans))
	}
	for path, want := range map[string]int{
		"/api/v2/traces/" + strings.Repeat("e", 32): http.StatusNotFound,
		"/api/traces/" + strings.Repeat("e", 32):    http.StatusNotFound,
		"/api/v2/traces/not-an-id":                  http.StatusBadRequest,
	} {
		if code, body, _ := tempoGet(t, s, s.Tempo, path, "application/protobuf"); code != want {
			t.Errorf("%s: %d %q, want %d", path, code, body, want)
		}
	}
}

// protoField returns the bytes of the one length-delimited field num of a
// protobuf message, nil when absent.
func protoField(t *testing.T, b []byte, num protowire.Number) []byte {
	t.Helper()
	var out []byte
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			t.Fatalf("bad protobuf: %v", protowire.ParseError(l))
		}
		b = b[l:]
		m := protowire.ConsumeFieldValue(n, typ, b)
		if m < 0 {
			t.Fatalf("bad protobuf field %d: %v", n, protowire.ParseError(m))
		}
		if n == num && typ == protowire.BytesType {
			out, _ = protowire.ConsumeBytes(b)
		}
		b = b[m:]
	}
	return out
}

// checkSentTrace decodes a Tempo Trace (field 1: repeated ResourceSpans,
// as OTLP's TracesData) and compares its spans with those sent.
func checkSentTrace(t *testing.T, what string, msg []byte, st sentTrace) {
	t.Helper()
	var td tracepb.TracesData
	if err := proto.Unmarshal(msg, &td); err != nil {
		t.Fatalf("%s: not a Trace: %v", what, err)
	}
	got := map[string]*tracepb.Span{}
	services := map[string]string{}
	for _, rs := range td.ResourceSpans {
		var svc string
		for _, kv := range rs.Resource.GetAttributes() {
			if kv.Key == "service.name" {
				svc = kv.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				got[hexID(sp.SpanId)] = sp
				services[hexID(sp.SpanId)] = svc
			}
		}
	}
	if len(got) != len(st.spans) {
		t.Errorf("%s: %d spans, want %d", what, len(got), len(st.spans))
	}
	for _, want := range st.spans {
		g := got[hexID(want.SpanId)]
		if g == nil {
			t.Errorf("%s: span %x missing", what, want.SpanId)
			continue
		}
		if !bytes.Equal(g.TraceId, want.TraceId) || !bytes.Equal(g.ParentSpanId, want.ParentSpanId) || g.Name != want.Name ||
			g.Kind != want.Kind || g.StartTimeUnixNano != want.StartTimeUnixNano || g.EndTimeUnixNano != want.EndTimeUnixNano ||
			g.GetStatus().GetCode() != want.GetStatus().GetCode() || len(g.Attributes) != len(want.Attributes) || len(g.Events) != len(want.Events) {
			t.Errorf("%s: span %x is\n%v\nwant\n%v", what, want.SpanId, g, want)
		}
	}
}

// TestTempoAPIScryQuery checks that scry-query serves the Tempo API on
// --tempo-http-addr over a collector's store.
func TestTempoAPIScryQuery(t *testing.T) {
	t.Parallel()
	col := startCollector(t)
	bin := buildBinary(t, "./cmd/scry-query")
	q := testbin.WithFreePorts(t, 3, func(a []string) (*Scry, error) {
		p, err := testbin.Start(t, bin, []string{"--storage=" + col.Storage, "--http-addr=" + a[0], "--tempo-http-addr=" + a[1], "--admin-addr=" + a[2]}, nil, a[2])
		if err != nil {
			return nil, err
		}
		return &Scry{Proc: p, Query: a[0], Tempo: a[1], http: &http.Client{Timeout: httpTimeout}}, nil
	})
	tid, sid := newTraceID(), newSpanID()
	exportTo(t, col.OTLPGRPC, resourceSpans("checkout", nil,
		span(tid, sid, nil, "POST /pay", tracepb.Span_SPAN_KIND_SERVER, time.Now().Add(-time.Minute), 30*time.Millisecond, kvInt("http.status_code", 500))))
	var a tempoSearchAnswer
	tempoJSON(t, q, q.Tempo, "/api/search?q="+url.QueryEscape(`{resource.service.name="checkout" && span.http.status_code=500}`), &a)
	if len(a.Traces) != 1 || a.Traces[0].TraceID != hexID(tid) || a.Traces[0].RootTraceName != "POST /pay" {
		t.Fatalf("search: %+v, want trace %s", a.Traces, hexID(tid))
	}
	code, body, _ := tempoGet(t, q, q.Tempo, "/api/traces/"+hexID(tid), "application/protobuf")
	if code != http.StatusOK {
		t.Fatalf("trace by ID: %d %q", code, body)
	}
	var td tracepb.TracesData
	if err := proto.Unmarshal(body, &td); err != nil || len(td.ResourceSpans) != 1 || !bytes.Equal(td.ResourceSpans[0].ScopeSpans[0].Spans[0].SpanId, sid) {
		t.Errorf("trace by ID: %v %v", err, &td)
	}
}
