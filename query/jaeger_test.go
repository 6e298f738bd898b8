package query

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/model"
)

func TestServices(t *testing.T) {
	s := newServer(t, nil)
	r := s.get(t, "/api/services")
	e := r.jaeger(t, http.StatusOK)
	got := decode[[]string](t, e.Data)
	want := []string{"customer", "driver", "frontend", "mysql"}
	if !slices.Equal(got, want) {
		t.Errorf("services %v, want %v", got, want)
	}
	if e.Total != 4 || e.Limit != 0 || e.Offset != 0 {
		t.Errorf("total/limit/offset %d/%d/%d, want 4/0/0", e.Total, e.Limit, e.Offset)
	}
	// Jaeger UI and Grafana read "errors": null as success.
	if !strings.Contains(string(r.body), `"errors":null`) {
		t.Errorf("body has no \"errors\":null: %s", r.body)
	}
}

func TestServicesEmptyStoreIsEmptyList(t *testing.T) {
	s := newServerOver(t, nil, newEmptyStore(t))
	r := s.get(t, "/api/services")
	r.jaeger(t, http.StatusOK)
	if !strings.Contains(string(r.body), `"data":[]`) {
		t.Errorf("want \"data\":[], got %s", r.body)
	}
}

func TestServiceOperations(t *testing.T) {
	s := newServer(t, nil)
	e := s.get(t, "/api/services/frontend/operations").jaeger(t, http.StatusOK)
	got := decode[[]string](t, e.Data)
	want := []string{"GET /dispatch", "GET /health", "HTTP GET"}
	if !slices.Equal(got, want) || e.Total != 3 {
		t.Errorf("operations %v (total %d), want %v", got, e.Total, want)
	}

	e = s.get(t, "/api/services/nobody/operations").jaeger(t, http.StatusOK)
	if got := decode[[]string](t, e.Data); len(got) != 0 {
		t.Errorf("unknown service has operations %v", got)
	}
}

func TestOperationsWithKind(t *testing.T) {
	s := newServer(t, nil)
	type op struct {
		Name     string `json:"name"`
		SpanKind string `json:"spanKind"`
	}
	tests := []struct {
		params []string
		want   []op
	}{
		{[]string{"service", "frontend"}, []op{{"GET /dispatch", "server"}, {"GET /health", "server"}, {"HTTP GET", "client"}}},
		{[]string{"service", "frontend", "spanKind", "client"}, []op{{"HTTP GET", "client"}}},
		{[]string{"service", "frontend", "spanKind", "producer"}, []op{}},
		{[]string{"service", "mysql"}, []op{{"query", ""}}},
		{[]string{"service", "driver", "spanKind", ""}, []op{{"FindDriver", "server"}}},
	}
	for _, tt := range tests {
		e := s.get(t, "/api/operations", tt.params...).jaeger(t, http.StatusOK)
		got := decode[[]op](t, e.Data)
		if !slices.Equal(got, tt.want) || e.Total != len(tt.want) {
			t.Errorf("%v: got %v (total %d), want %v", tt.params, got, e.Total, tt.want)
		}
	}
}

// search runs /api/traces and returns the IDs of the traces found, in order.
func search(t *testing.T, s *server, params ...string) []string {
	t.Helper()
	e := s.get(t, "/api/traces", params...).jaeger(t, http.StatusOK)
	traces := decode[[]model.JaegerTrace](t, e.Data)
	if e.Total != len(traces) {
		t.Errorf("total %d, but %d traces", e.Total, len(traces))
	}
	if e.Errors != nil {
		t.Errorf("errors %v", e.Errors)
	}
	ids := make([]string, len(traces))
	for i, tr := range traces {
		ids[i] = tr.TraceID
	}
	return ids
}

func TestSearch(t *testing.T) {
	s := newServer(t, nil)
	// A window around everything seeded, as Jaeger UI sends it.
	all := []string{"start", micros(t0.Add(-4 * time.Hour)), "end", micros(t0.Add(time.Hour)), "lookback", "custom"}
	with := func(p ...string) []string { return append(slices.Clone(all), p...) }
	tests := []struct {
		name   string
		params []string
		want   []string
	}{
		{"service, newest first", with("service", "frontend"), []string{jaegerC, jaegerA, jaegerD}},
		{"operation", with("service", "frontend", "operation", "GET /dispatch"), []string{jaegerC, jaegerA}},
		{"tags JSON (Jaeger UI)", with("service", "frontend", "tags", `{"http.status_code":"500"}`), []string{jaegerC}},
		{"tags JSON of several", with("tags", `{"http.method":"GET","http.status_code":"200"}`), []string{jaegerA}},
		{"tags JSON with a bool (logfmt)", with("tags", `{"error":true}`), []string{jaegerC}},
		{"tag on a bytes attribute, in base64", with("tags", `{"db.system":"mysql","blob":"/wA="}`), []string{jaegerB}},
		{"tag k:v (Grafana)", with("service", "frontend", "tag", "http.status_code:200"), []string{jaegerA}},
		{"tag value with a colon", with("tag", "http.method:GET:x"), nil},
		{"both tag forms", with("tag", "driver.id:d1", "tags", `{"http.method":"GET"}`), []string{jaegerA}},
		{"tag on another service's span", with("service", "driver", "tag", "driver.id:d1"), []string{jaegerA}},
		{"resource attribute as tag", with("tag", "host.name:mysql-host"), []string{jaegerB}},
		{"event attribute as tag", with("tag", "attempt:2"), []string{jaegerA}},
		{"minDuration", with("service", "frontend", "minDuration", "200ms"), []string{jaegerA}},
		{"maxDuration", with("service", "frontend", "maxDuration", "60ms"), []string{jaegerC, jaegerD}},
		{"duration range in us", with("minDuration", "1.5s", "maxDuration", "2000000us"), []string{jaegerB}},
		{"spanKind", with("spanKind", "client"), []string{jaegerB, jaegerA}},
		{"spanKind with service", with("service", "frontend", "spanKind", "client"), []string{jaegerA}},
		{"spanKind in any case", with("service", "frontend", "spanKind", "SERVER"), []string{jaegerC, jaegerA, jaegerD}},
		{"spanKind on the operation's span", with("service", "frontend", "operation", "GET /dispatch", "spanKind", "client"), nil},
		{"spanKind no span has", with("spanKind", "producer"), nil},
		{"empty spanKind is every kind", with("service", "driver", "spanKind", ""), []string{jaegerA}},
		{"limit", with("service", "frontend", "limit", "1"), []string{jaegerC}},
		{"limit 0 is the default", with("service", "frontend", "limit", "0"), []string{jaegerC, jaegerA, jaegerD}},
		{"no service", all, []string{jaegerC, jaegerB, jaegerA, jaegerD}},
		{"unknown service", with("service", "nobody"), []string{}},
		{"time window", []string{"service", "frontend", "start", micros(t0.Add(90 * time.Second)), "end", micros(t0.Add(5 * time.Minute))}, []string{jaegerC}},
		{"end only: start is end minus an hour", []string{"end", micros(t0.Add(30 * time.Second))}, []string{jaegerA}},
		{"default window: the last hour", []string{"service", "frontend"}, []string{jaegerC, jaegerA}},
		{"lookback when start is absent", []string{"service", "frontend", "lookback", "6h"}, []string{jaegerC, jaegerA, jaegerD}},
		{"lookback in days", []string{"service", "frontend", "lookback", "2d"}, []string{jaegerC, jaegerA, jaegerD}},
		{"lookback ignored when start is given", with("service", "frontend", "lookback", "5m"), []string{jaegerC, jaegerA, jaegerD}},
		{"raw", with("service", "customer", "raw", "true"), []string{jaegerB}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := search(t, s, tt.params...)
			if tt.want == nil {
				tt.want = []string{}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("found %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSearchReturnsWholeTraces(t *testing.T) {
	s := newServer(t, nil)
	e := s.get(t, "/api/traces", "service", "driver", "lookback", "1h").jaeger(t, http.StatusOK)
	traces := decode[[]model.JaegerTrace](t, e.Data)
	if len(traces) != 1 || len(traces[0].Spans) != 3 || len(traces[0].Processes) != 2 {
		t.Fatalf("want trace A with its 3 spans and 2 processes, got %s", e.Data)
	}
}

func TestSearchByTraceIDs(t *testing.T) {
	s := newServer(t, nil)
	r := s.get(t, "/api/traces", "traceID", jaegerA, "traceID", jaegerB, "traceID", absent.String(), "traceID", jaegerA)
	e := r.jaeger(t, http.StatusOK)
	traces := decode[[]model.JaegerTrace](t, e.Data)
	var ids []string
	for _, tr := range traces {
		ids = append(ids, tr.TraceID)
	}
	if want := []string{jaegerA, jaegerB}; !slices.Equal(ids, want) {
		t.Errorf("traces %v, want %v (in request order, each once)", ids, want)
	}
	if len(e.Errors) != 1 || e.Errors[0].Code != 404 || e.Errors[0].Msg != "trace not found" || e.Errors[0].TraceID != absent.String() {
		t.Errorf("errors %+v, want one 404 for %s", e.Errors, absent)
	}
}

func TestTraceByID(t *testing.T) {
	s := newServer(t, nil)
	for _, id := range []string{jaegerA, strings.ToUpper(jaegerA)} {
		e := s.get(t, "/api/traces/"+id).jaeger(t, http.StatusOK)
		traces := decode[[]model.JaegerTrace](t, e.Data)
		if len(traces) != 1 || e.Total != 1 {
			t.Fatalf("want one trace, got %s", e.Data)
		}
		tr := traces[0]
		if tr.TraceID != jaegerA || len(tr.Spans) != 3 {
			t.Fatalf("trace %s with %d spans, want %s with 3", tr.TraceID, len(tr.Spans), jaegerA)
		}
		sp := tr.Spans[2]
		if sp.OperationName != "FindDriver" || sp.SpanID != "0000000000000003" || tr.Processes[sp.ProcessID].ServiceName != "driver" {
			t.Errorf("third span %+v", sp)
		}
		if len(sp.References) != 1 || sp.References[0].RefType != "CHILD_OF" || sp.References[0].SpanID != "0000000000000002" {
			t.Errorf("references %+v", sp.References)
		}
		if sp.StartTime != uint64(t0.Add(20*time.Millisecond).UnixMicro()) || sp.Duration != 80000 {
			t.Errorf("start %d duration %d", sp.StartTime, sp.Duration)
		}
	}

	// A 64-bit ID, and the same ID zero-padded to 128 bits.
	for _, id := range []string{jaegerB, "0000000000000000" + jaegerB} {
		e := s.get(t, "/api/traces/"+id, "start", micros(t0), "end", micros(t0.Add(time.Hour))).jaeger(t, http.StatusOK)
		traces := decode[[]model.JaegerTrace](t, e.Data)
		if len(traces) != 1 || traces[0].TraceID != jaegerB || traces[0].Spans[0].TraceID != jaegerB {
			t.Errorf("%s: want trace %s, got %s", id, jaegerB, e.Data)
		}
	}
}

func TestTraceNotFound(t *testing.T) {
	s := newServer(t, nil)
	r := s.get(t, "/api/traces/"+absent.String())
	e := r.jaeger(t, http.StatusNotFound)
	if string(e.Data) != "null" || len(e.Errors) != 1 || e.Errors[0].Code != 404 || e.Errors[0].Msg != "trace not found" {
		t.Errorf("body %s", r.body)
	}
}

func TestDependencies(t *testing.T) {
	s := newServer(t, nil)
	type link struct {
		Parent    string `json:"parent"`
		Child     string `json:"child"`
		CallCount uint64 `json:"callCount"`
	}
	e := s.get(t, "/api/dependencies", "endTs", millis(t0.Add(time.Hour)), "lookback", "7200000").jaeger(t, http.StatusOK)
	got := decode[[]link](t, e.Data)
	want := []link{{"customer", "mysql", 1}, {"frontend", "driver", 1}}
	if !slices.Equal(got, want) {
		t.Errorf("dependencies %v, want %v", got, want)
	}

	e = s.get(t, "/api/dependencies", "endTs", millis(t0.Add(time.Hour)), "lookback", "7200000", "service", "mysql").jaeger(t, http.StatusOK)
	if got := decode[[]link](t, e.Data); !slices.Equal(got, want[:1]) {
		t.Errorf("dependencies of mysql %v, want %v", got, want[:1])
	}

	// A window before anything happened.
	e = s.get(t, "/api/dependencies", "endTs", millis(t0.Add(-time.Hour)), "lookback", "60000").jaeger(t, http.StatusOK)
	if got := decode[[]link](t, e.Data); len(got) != 0 {
		t.Errorf("dependencies %v, want none", got)
	}

	// Defaults: now (t0+10m) and 24 hours.
	e = s.get(t, "/api/dependencies").jaeger(t, http.StatusOK)
	if got := decode[[]link](t, e.Data); !slices.Equal(got, want) {
		t.Errorf("default window: %v, want %v", got, want)
	}
}

func TestBadParameters(t *testing.T) {
	s := newServer(t, nil)
	tests := []struct {
		path    string
		params  []string
		mention string // what the message must name
	}{
		{"/api/traces", []string{"start", "yesterday"}, "'start'"},
		{"/api/traces", []string{"start", "-5"}, "'start'"},
		{"/api/traces", []string{"end", "1.5"}, "'end'"},
		{"/api/traces", []string{"start", micros(t0), "end", micros(t0.Add(-time.Second))}, "'start'"},
		{"/api/traces", []string{"limit", "many"}, "'limit'"},
		{"/api/traces", []string{"limit", "-1"}, "'limit'"},
		{"/api/traces", []string{"limit", "1501"}, "'limit'"},
		{"/api/traces", []string{"minDuration", "5 minutes"}, "'minDuration'"},
		{"/api/traces", []string{"minDuration", "-1s"}, "'minDuration'"},
		{"/api/traces", []string{"maxDuration", "1"}, "'maxDuration'"},
		{"/api/traces", []string{"minDuration", "2s", "maxDuration", "1s"}, "'maxDuration'"},
		{"/api/traces", []string{"tags", `{"http.status_code":`}, "'tags'"},
		{"/api/traces", []string{"tags", `["a"]`}, "'tags'"},
		{"/api/traces", []string{"tags", `{"a":{"b":"c"}}`}, "'tags'"},
		{"/api/traces", []string{"tag", "error"}, "'tag'"},
		{"/api/traces", []string{"tag", ":x"}, "'tag'"},
		{"/api/traces", []string{"lookback", "forever"}, "'lookback'"},
		{"/api/traces", []string{"lookback", "-1h"}, "'lookback'"},
		{"/api/traces", []string{"traceID", "xyz"}, "'traceID'"},
		{"/api/traces", []string{"traceID", jaegerA + "00"}, "'traceID'"},
		{"/api/traces", []string{"raw", "maybe"}, "'raw'"},
		{"/api/traces", []string{"spanKind", "sever"}, "'spanKind'"},
		{"/api/traces", []string{"service", "frontend", "spanKind", "unspecified"}, "'spanKind'"},
		{"/api/traces/nothex", nil, "'traceID'"},
		{"/api/traces/00000000000000000000000000000000", nil, "'traceID'"},
		{"/api/traces/" + jaegerA, []string{"start", "x"}, "'start'"},
		{"/api/operations", nil, "'service'"},
		{"/api/operations", []string{"service", "frontend", "spanKind", "sever"}, "'spanKind'"},
		{"/api/dependencies", []string{"endTs", "now"}, "'endTs'"},
		{"/api/dependencies", []string{"endTs", "-1"}, "'endTs'"},
		{"/api/dependencies", []string{"lookback", "1h"}, "'lookback'"},
		{"/api/dependencies", []string{"lookback", "0"}, "'lookback'"},
	}
	for _, tt := range tests {
		r := s.get(t, tt.path, tt.params...)
		e := r.jaeger(t, http.StatusBadRequest)
		if string(e.Data) != "null" || len(e.Errors) != 1 || e.Errors[0].Code != 400 || !strings.Contains(e.Errors[0].Msg, tt.mention) {
			t.Errorf("%s %v: want one 400 error naming %s, got %s", tt.path, tt.params, tt.mention, r.body)
		}
	}
	if log := s.log.String(); log != "" {
		t.Errorf("client errors were logged: %s", log)
	}
}

func TestBadParameterBody(t *testing.T) {
	s := newServer(t, nil)
	r := s.get(t, "/api/traces", "limit", "x")
	want := `{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":400,"msg":"invalid parameter 'limit': \"x\" is not a whole number of traces"}]}`
	if got := strings.TrimSpace(string(r.body)); got != want {
		t.Errorf("body\n%s\nwant\n%s", got, want)
	}
}

func TestServiceNameWithSlash(t *testing.T) {
	s := newServerOver(t, nil, newEmptyStore(t))
	writeSpan(t, s, "billing/v2", "charge")
	e := s.get(t, "/api/services/billing%2Fv2/operations").jaeger(t, http.StatusOK)
	if got := decode[[]string](t, e.Data); !slices.Equal(got, []string{"charge"}) {
		t.Errorf("operations %v, want [charge]", got)
	}
}

func TestPrettyPrint(t *testing.T) {
	s := newServer(t, nil)
	r := s.get(t, "/api/services", "prettyPrint", "true")
	if !strings.Contains(string(r.body), "\n  \"data\": [") {
		t.Errorf("not indented: %s", r.body)
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatal(err)
	}
}
