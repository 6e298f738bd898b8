package query

import (
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/model"
)

// otlpResult is the part of a /api/v3 trace answer the tests look at.
type otlpResult struct {
	Result struct {
		ResourceSpans []struct {
			Resource struct {
				Attributes []struct {
					Key   string `json:"key"`
					Value struct {
						StringValue string `json:"stringValue"`
					} `json:"value"`
				} `json:"attributes"`
			} `json:"resource"`
			ScopeSpans []struct {
				Scope struct {
					Name string `json:"name"`
				} `json:"scope"`
				Spans []otlpSpan `json:"spans"`
			} `json:"scopeSpans"`
		} `json:"resourceSpans"`
	} `json:"result"`
}

type otlpSpan struct {
	TraceID      string `json:"traceId"`
	SpanID       string `json:"spanId"`
	ParentSpanID string `json:"parentSpanId"`
	Name         string `json:"name"`
	Kind         int    `json:"kind"`
	Links        []struct {
		TraceID string `json:"traceId"`
		SpanID  string `json:"spanId"`
	} `json:"links"`
	Status struct {
		Code int `json:"code"`
	} `json:"status"`
}

func (r otlpResult) spans() []otlpSpan {
	var out []otlpSpan
	for _, rs := range r.Result.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			out = append(out, ss.Spans...)
		}
	}
	return out
}

// traceIDs lists the distinct trace IDs of the answer in order.
func (r otlpResult) traceIDs() []string {
	var ids []string
	for _, s := range r.spans() {
		if !slices.Contains(ids, s.TraceID) {
			ids = append(ids, s.TraceID)
		}
	}
	return ids
}

type v3Err struct {
	Error struct {
		HTTPCode int    `json:"httpCode"`
		Message  string `json:"message"`
	} `json:"error"`
}

func TestV3Services(t *testing.T) {
	s := newServer(t, nil)
	r := s.get(t, "/api/v3/services")
	r.checkJSON(t, http.StatusOK)
	got := decode[map[string][]string](t, r.body)
	if want := []string{"customer", "driver", "frontend", "mysql"}; !slices.Equal(got["services"], want) {
		t.Errorf("services %v, want %v", got, want)
	}
}

func TestV3Operations(t *testing.T) {
	s := newServer(t, nil)
	type op struct {
		Name     string `json:"name"`
		SpanKind string `json:"spanKind"`
	}
	for _, tt := range []struct {
		params []string
		want   []op
	}{
		{[]string{"service", "frontend"}, []op{{"GET /dispatch", "server"}, {"GET /health", "server"}, {"HTTP GET", "client"}}},
		{[]string{"service", "frontend", "spanKind", "client"}, []op{{"HTTP GET", "client"}}},
		{[]string{"service", "frontend", "span_kind", "server"}, []op{{"GET /dispatch", "server"}, {"GET /health", "server"}}},
		{[]string{"service", "mysql"}, []op{{"query", ""}}},
	} {
		r := s.get(t, "/api/v3/operations", tt.params...)
		r.checkJSON(t, http.StatusOK)
		got := decode[map[string][]op](t, r.body)["operations"]
		if !slices.Equal(got, tt.want) {
			t.Errorf("%v: %v, want %v", tt.params, got, tt.want)
		}
	}
}

func TestV3Trace(t *testing.T) {
	s := newServer(t, nil)
	r := s.get(t, "/api/v3/traces/"+jaegerA)
	r.checkJSON(t, http.StatusOK)
	res := decode[otlpResult](t, r.body)
	spans := res.spans()
	if len(spans) != 3 || len(res.Result.ResourceSpans) != 2 {
		t.Fatalf("want 3 spans of 2 resources, got %s", r.body)
	}
	byName := map[string]otlpSpan{}
	for _, sp := range spans {
		byName[sp.Name] = sp
		if sp.TraceID != jaegerA {
			t.Errorf("span %s has traceId %q, want hex %s", sp.Name, sp.TraceID, jaegerA)
		}
	}
	fd := byName["FindDriver"]
	if fd.SpanID != "0000000000000003" || fd.ParentSpanID != "0000000000000002" || fd.Kind != 2 || fd.Status.Code != 2 {
		t.Errorf("FindDriver %+v", fd)
	}
	hg := byName["HTTP GET"]
	if len(hg.Links) != 1 || hg.Links[0].TraceID != "0000000000000000"+jaegerB || hg.Links[0].SpanID != "0000000000000001" || hg.Kind != 3 {
		t.Errorf("HTTP GET %+v", hg)
	}
	if !strings.Contains(string(r.body), `"key":"service.name","value":{"stringValue":"driver"}`) {
		t.Errorf("no driver resource in %s", r.body)
	}

	// A 64-bit ID; the time hint and raw flag; base64 as Jaeger also takes.
	for _, path := range []string{
		"/api/v3/traces/" + jaegerB,
		"/api/v3/traces/" + jaegerB + "?startTime=2024-05-01T12:00:00Z&endTime=2024-05-01T13:00:00Z&rawTraces=true",
		"/api/v3/traces/" + jaegerB + "?start_time=2024-05-01T12:00:00.5Z&raw_traces=false",
		"/api/v3/traces/AAAAAAAAAACrze8BI0VniQ==",
	} {
		r := s.get(t, path)
		r.checkJSON(t, http.StatusOK)
		if ids := decode[otlpResult](t, r.body).traceIDs(); !slices.Equal(ids, []string{"0000000000000000" + jaegerB}) {
			t.Errorf("%s: traces %v", path, ids)
		}
	}
}

func TestV3TraceNotFound(t *testing.T) {
	s := newServer(t, nil)
	r := s.get(t, "/api/v3/traces/"+absent.String())
	r.checkJSON(t, http.StatusNotFound)
	e := decode[v3Err](t, r.body)
	if e.Error.HTTPCode != 404 || !strings.Contains(e.Error.Message, "trace not found") {
		t.Errorf("body %s", r.body)
	}
}

func TestV3FindTraces(t *testing.T) {
	s := newServer(t, nil)
	window := []string{"query.startTimeMin", "2024-05-01T08:00:00Z", "query.startTimeMax", "2024-05-01T13:00:00Z"}
	snake := []string{"query.start_time_min", "2024-05-01T08:00:00Z", "query.start_time_max", "2024-05-01T13:00:00Z"}
	with := func(w []string, p ...string) []string { return append(slices.Clone(w), p...) }
	tests := []struct {
		name   string
		params []string
		want   []string
	}{
		{"service", with(window, "query.serviceName", "frontend"), []string{jaegerC, jaegerA, jaegerD}},
		{"snake_case names", with(snake, "query.service_name", "frontend", "query.operation_name", "GET /dispatch"), []string{jaegerC, jaegerA}},
		{"operation", with(window, "query.serviceName", "frontend", "query.operationName", "GET /dispatch"), []string{jaegerC, jaegerA}},
		{"attributes JSON", with(window, "query.attributes", `{"http.status_code":"500"}`), []string{jaegerC}},
		{"attributes key=value", with(window, "query.attributes", "driver.id=d1", "query.attributes", "http.method=GET"), []string{jaegerA}},
		{"durations", with(window, "query.durationMin", "1.5s", "query.duration_max", "2s"), []string{"0000000000000000" + jaegerB}},
		{"search depth", with(window, "query.searchDepth", "2"), []string{jaegerC, "0000000000000000" + jaegerB}},
		{"search depth, old names", with(snake, "query.search_depth", "1"), []string{jaegerC}},
		{"num_traces", with(snake, "query.num_traces", "1"), []string{jaegerC}},
		{"no service", window, []string{jaegerC, "0000000000000000" + jaegerB, jaegerA, jaegerD}},
		{"max is exclusive", []string{"query.startTimeMin", "2024-05-01T11:00:00Z", "query.startTimeMax", "2024-05-01T12:02:00Z"}, []string{"0000000000000000" + jaegerB, jaegerA}},
		{"nanosecond times", []string{"query.startTimeMin", "2024-05-01T12:01:59.999999999Z", "query.startTimeMax", "2024-05-01T12:02:00.000000001Z"}, []string{jaegerC}},
		{"time zone offset", []string{"query.startTimeMin", "2024-05-01T14:01:30+02:00", "query.startTimeMax", "2024-05-01T14:03:00+02:00"}, []string{jaegerC}},
		{"raw traces", with(window, "query.serviceName", "customer", "query.rawTraces", "true"), []string{"0000000000000000" + jaegerB}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.get(t, "/api/v3/traces", tt.params...)
			r.checkJSON(t, http.StatusOK)
			if got := decode[otlpResult](t, r.body).traceIDs(); !slices.Equal(got, tt.want) {
				t.Errorf("found %v, want %v", got, tt.want)
			}
		})
	}

	// Whole traces come back: the search matched driver, the answer has A's
	// three spans.
	r := s.get(t, "/api/v3/traces", with(window, "query.serviceName", "driver")...)
	if n := len(decode[otlpResult](t, r.body).spans()); n != 3 {
		t.Errorf("%d spans, want trace A's 3", n)
	}

	// Nothing found is a 404, as in Jaeger.
	r = s.get(t, "/api/v3/traces", with(window, "query.serviceName", "nobody")...)
	r.checkJSON(t, http.StatusNotFound)
	if e := decode[v3Err](t, r.body); e.Error.HTTPCode != 404 || e.Error.Message != "No traces found" {
		t.Errorf("body %s", r.body)
	}
}

func TestV3Dependencies(t *testing.T) {
	s := newServer(t, nil)
	r := s.get(t, "/api/v3/dependencies", "startTime", "2024-05-01T11:00:00Z", "endTime", "2024-05-01T13:00:00Z")
	r.checkJSON(t, http.StatusOK)
	want := `{"dependencies":[{"parent":"customer","child":"mysql","callCount":"1"},{"parent":"frontend","child":"driver","callCount":"1"}]}`
	if got := strings.TrimSpace(string(r.body)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestV3BadParameters(t *testing.T) {
	s := newServer(t, nil)
	window := []string{"query.startTimeMin", "2024-05-01T08:00:00Z", "query.startTimeMax", "2024-05-01T13:00:00Z"}
	with := func(p ...string) []string { return append(slices.Clone(window), p...) }
	tests := []struct {
		path    string
		params  []string
		mention string
	}{
		{"/api/v3/traces", nil, "query.startTimeMin and query.startTimeMax"},
		{"/api/v3/traces", []string{"query.startTimeMin", "2024-05-01T08:00:00Z"}, "query.startTimeMax"},
		{"/api/v3/traces", []string{"query.start_time_min", "yesterday", "query.start_time_max", "2024-05-01T13:00:00Z"}, "query.start_time_min"},
		{"/api/v3/traces", []string{"query.startTimeMin", "2024-05-01T08:00:00Z", "query.startTimeMax", "1714564800"}, "query.startTimeMax"},
		{"/api/v3/traces", []string{"query.startTimeMin", "2024-05-01T13:00:00Z", "query.startTimeMax", "2024-05-01T08:00:00Z"}, "query.startTimeMin"},
		{"/api/v3/traces", []string{"query.startTimeMin", "1960-05-01T13:00:00Z", "query.startTimeMax", "2024-05-01T08:00:00Z"}, "query.startTimeMin"},
		{"/api/v3/traces", with("query.durationMin", "soon"), "query.durationMin"},
		{"/api/v3/traces", with("query.duration_max", "-1s"), "query.duration_max"},
		{"/api/v3/traces", with("query.durationMin", "2s", "query.durationMax", "1s"), "query.durationMax"},
		{"/api/v3/traces", with("query.searchDepth", "0"), "query.searchDepth"},
		{"/api/v3/traces", with("query.search_depth", "ten"), "query.search_depth"},
		{"/api/v3/traces", with("query.num_traces", "100000"), "query.num_traces"},
		{"/api/v3/traces", with("query.attributes", `{"a":`), "query.attributes"},
		{"/api/v3/traces", with("query.attributes", "novalue"), "query.attributes"},
		{"/api/v3/traces", with("query.rawTraces", "perhaps"), "query.rawTraces"},
		{"/api/v3/traces", with("query.filter", `{"op":"eq","args":[{"attr":{"key":"k"}},{"scalar":{"value":"v"}}]}`), "query.filter"},
		{"/api/v3/trace-summaries", with("query.filter", `{"op":"exists"}`), "query.filter"},
		{"/api/v3/traces/xyz", nil, "trace_id"},
		{"/api/v3/traces/" + jaegerA, []string{"startTime", "noon"}, "startTime"},
		{"/api/v3/traces/" + jaegerA, []string{"end_time", "noon"}, "end_time"},
		{"/api/v3/traces/" + jaegerA, []string{"rawTraces", "2"}, "rawTraces"},
		{"/api/v3/operations", nil, "service"},
		{"/api/v3/operations", []string{"service", "frontend", "spanKind", "sever"}, "spanKind"},
		{"/api/v3/operations", []string{"service", "frontend", "span_kind", "x"}, "span_kind"},
		{"/api/v3/dependencies", nil, "startTime and endTime"},
		{"/api/v3/dependencies", []string{"startTime", "x", "endTime", "2024-05-01T13:00:00Z"}, "startTime"},
		{"/api/v3/dependencies", []string{"startTime", "2024-05-01T13:00:00Z", "endTime", "2024-05-01T12:00:00Z"}, "startTime"},
	}
	for _, tt := range tests {
		r := s.get(t, tt.path, tt.params...)
		r.checkJSON(t, http.StatusBadRequest)
		e := decode[v3Err](t, r.body)
		if e.Error.HTTPCode != 400 || !strings.Contains(e.Error.Message, "malformed parameter "+tt.mention) {
			t.Errorf("%s %v: want a 400 naming %s, got %s", tt.path, tt.params, tt.mention, r.body)
		}
	}
}

func TestV3DefaultSearchDepth(t *testing.T) {
	s := newServerOver(t, func(c *Config) { c.DefaultLimit, c.MaxLimit = 3, 3 }, newEmptyStore(t))
	for i := range 5 {
		writeSpan(t, s, "svc", strings.Repeat("x", i+1))
	}
	r := s.get(t, "/api/v3/traces", "query.startTimeMin", t0.Add(-time.Hour).Format(time.RFC3339), "query.startTimeMax", now.Format(time.RFC3339))
	r.checkJSON(t, http.StatusOK)
	if n := len(decode[otlpResult](t, r.body).traceIDs()); n != 3 {
		t.Errorf("%d traces, want the default depth capped at MaxLimit 3", n)
	}
}

// TestV3TraceSummaries checks /api/v3/trace-summaries against the seeded
// traces: root, times, counts per trace and per service, in the order and
// with the filters of /api/v3/traces.
func TestV3TraceSummaries(t *testing.T) {
	s := newServer(t, nil)
	// An orphan: a span of trace E whose parent was never received.
	traceE := mustTraceID("e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0")
	orphan := &model.Span{Resource: resource("driver"), Scope: &model.Scope{Name: "scry-test"}, TraceID: traceE,
		SpanID: spanID(2), ParentSpanID: spanID(1), Name: "FindDriver", Kind: model.SpanKindServer,
		StartTime: ns(t0.Add(3 * time.Minute)), EndTime: ns(t0.Add(3*time.Minute + time.Millisecond))}
	if err := s.store.WriteSpans(t.Context(), []*model.Span{orphan}); err != nil {
		t.Fatal(err)
	}
	window := []string{"query.startTimeMin", "2024-05-01T11:00:00Z", "query.startTimeMax", "2024-05-01T13:00:00Z"}
	r := s.get(t, "/api/v3/trace-summaries", window...)
	r.checkJSON(t, http.StatusOK)
	got := decode[v3Summaries](t, r.body).Summaries
	at := func(d time.Duration) string { return strconv.FormatInt(t0.Add(d).UnixNano(), 10) }
	want := []v3TraceSummary{
		{TraceID: "e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0", MinStartTimeUnixNano: at(3 * time.Minute),
			MaxEndTimeUnixNano: at(3*time.Minute + time.Millisecond), SpanCount: 1, OrphanSpanCount: 1,
			Services: []v3ServiceSummary{{Name: "driver", SpanCount: 1}}},
		{TraceID: jaegerC, RootServiceName: "frontend", RootOperationName: "GET /dispatch",
			MinStartTimeUnixNano: at(2 * time.Minute), MaxEndTimeUnixNano: at(2*time.Minute + 50*time.Millisecond), SpanCount: 1,
			Services: []v3ServiceSummary{{Name: "frontend", SpanCount: 1}}},
		{TraceID: "0000000000000000" + jaegerB, RootServiceName: "customer", RootOperationName: "SQL SELECT",
			MinStartTimeUnixNano: at(time.Minute), MaxEndTimeUnixNano: at(time.Minute + 2*time.Second), SpanCount: 2,
			Services: []v3ServiceSummary{{Name: "customer", SpanCount: 1}, {Name: "mysql", SpanCount: 1}}},
		{TraceID: jaegerA, RootServiceName: "frontend", RootOperationName: "GET /dispatch",
			MinStartTimeUnixNano: at(0), MaxEndTimeUnixNano: at(500 * time.Millisecond), SpanCount: 3, ErrorSpanCount: 1,
			Services: []v3ServiceSummary{{Name: "driver", SpanCount: 1, ErrorSpanCount: 1}, {Name: "frontend", SpanCount: 2}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summaries:\ngot  %+v\nwant %+v", got, want)
	}
	// The JSON names are api_v3's; the times are strings.
	for _, name := range []string{`"traceId":`, `"rootServiceName":`, `"rootOperationName":`, `"minStartTimeUnixNano":"`,
		`"maxEndTimeUnixNano":"`, `"spanCount":`, `"errorSpanCount":`, `"orphanSpanCount":`, `"services":[{"name":`} {
		if !strings.Contains(string(r.body), name) {
			t.Errorf("the answer has no %s: %s", name, r.body)
		}
	}

	// The filters and the depth of /api/v3/traces.
	for _, tt := range []struct {
		params []string
		want   []string
	}{
		{append(slices.Clone(window), "query.serviceName", "driver"), []string{"e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0", jaegerA}},
		{append(slices.Clone(window), "query.attributes", `{"http.status_code":"500"}`), []string{jaegerC}},
		{append(slices.Clone(window), "query.searchDepth", "2", "query.rawTraces", "true"), []string{"e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0", jaegerC}},
	} {
		r := s.get(t, "/api/v3/trace-summaries", tt.params...)
		r.checkJSON(t, http.StatusOK)
		var ids []string
		for _, sm := range decode[v3Summaries](t, r.body).Summaries {
			ids = append(ids, sm.TraceID)
		}
		if !slices.Equal(ids, tt.want) {
			t.Errorf("%v: %v, want %v", tt.params, ids, tt.want)
		}
	}

	// Nothing found is an empty list; a bad parameter a 400.
	r = s.get(t, "/api/v3/trace-summaries", append(slices.Clone(window), "query.serviceName", "nobody")...)
	r.checkJSON(t, http.StatusOK)
	if body := strings.TrimSpace(string(r.body)); body != `{"summaries":[]}` {
		t.Errorf("nothing found: %s", body)
	}
	r = s.get(t, "/api/v3/trace-summaries", "query.startTimeMin", "2024-05-01T11:00:00Z")
	r.checkJSON(t, http.StatusBadRequest)
	if e := decode[v3Err](t, r.body); !strings.Contains(e.Error.Message, "malformed parameter query.startTimeMax") {
		t.Errorf("no end of window: %s", r.body)
	}
}
