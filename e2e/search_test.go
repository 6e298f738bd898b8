package e2e

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// TestSearch stores four traces over OTLP/gRPC and searches them through
// the Jaeger API the way Jaeger UI and Grafana do.
func TestSearch(t *testing.T) {
	t.Parallel()
	s := startScry(t)
	c := s.traceClient(t)

	now := time.Now()
	t0 := now.Add(-10 * time.Minute).Truncate(time.Millisecond)
	web := []*commonpb.KeyValue{kvStr("host.name", "web-1")}
	db := []*commonpb.KeyValue{kvStr("host.name", "db-1")}

	// A: frontend GET /home (100ms) -> frontend "call backend" (client) ->
	// backend "query" (server). Each service exports its own spans, the
	// child's first.
	a := newTraceID()
	a1, a2, a3 := newSpanID(), newSpanID(), newSpanID()
	s.exportOK(t, c, resourceSpans("backend", db,
		span(a, a3, a2, "query", tracepb.Span_SPAN_KIND_SERVER, t0.Add(20*time.Millisecond), 40*time.Millisecond,
			kvStr("db.system", "postgres"))))
	s.exportOK(t, c, resourceSpans("frontend", web,
		span(a, a1, nil, "GET /home", tracepb.Span_SPAN_KIND_SERVER, t0, 100*time.Millisecond,
			kvStr("customer", "alice"), kvInt("http.status_code", 200)),
		span(a, a2, a1, "call backend", tracepb.Span_SPAN_KIND_CLIENT, t0.Add(10*time.Millisecond), 60*time.Millisecond)))

	// B: frontend GET /cart, 2s, an error, an event with an attribute.
	b := newTraceID()
	bRoot := span(b, newSpanID(), nil, "GET /cart", tracepb.Span_SPAN_KIND_SERVER, t0.Add(time.Minute), 2*time.Second,
		kvStr("customer", "bob"))
	bRoot.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR}
	bRoot.Events = []*tracepb.Span_Event{{
		TimeUnixNano: bRoot.StartTimeUnixNano + 1000, Name: "exception",
		Attributes: []*commonpb.KeyValue{kvStr("exception.type", "Timeout")},
	}}
	s.exportOK(t, c, resourceSpans("frontend", web, bRoot))

	// C: backend query alone, 10ms.
	cID := newTraceID()
	s.exportOK(t, c, resourceSpans("backend", db,
		span(cID, newSpanID(), nil, "query", tracepb.Span_SPAN_KIND_SERVER, t0.Add(2*time.Minute), 10*time.Millisecond,
			kvStr("customer", "alice"), kvStr("db.system", "mysql"))))

	// D: cache get, three hours ago (outside the default one-hour lookback).
	d := newTraceID()
	dStart := now.Add(-3 * time.Hour)
	s.exportOK(t, c, resourceSpans("cache", nil,
		span(d, newSpanID(), nil, "get", tracepb.Span_SPAN_KIND_SERVER, dStart, 5*time.Millisecond,
			kvStr("customer", "carol"))))

	A, B, C, D := hexID(a), hexID(b), hexID(cID), hexID(d)
	names := map[string]string{A: "A", B: "B", C: "C", D: "D"}
	spanCount := map[string]int{A: 3, B: 1, C: 1, D: 1}
	us := func(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

	for _, tc := range []struct {
		query string
		want  []string
		// ordered: the answer must list exactly want, in this order
		ordered bool
	}{
		{"service=frontend", []string{A, B}, false},
		{"service=backend", []string{A, C}, false},
		{"service=frontend&operation=GET+/cart", []string{B}, false},
		{"service=backend&operation=query", []string{A, C}, false},
		{"service=frontend&operation=nothing", nil, false},
		{"service=frontend&tags=" + url.QueryEscape(`{"customer":"alice"}`), []string{A}, false},
		{"tags=" + url.QueryEscape(`{"customer":"alice"}`), []string{A, C}, false},
		{"tag=customer:alice&tag=db.system:mysql", []string{C}, false},
		{"tags=" + url.QueryEscape(`{"customer":"alice","db.system":"postgres"}`), []string{A}, false},
		{"service=frontend&tag=http.status_code:200", []string{A}, false},
		{"tag=host.name:db-1", []string{A, C}, false},                                   // a resource attribute
		{"tags=" + url.QueryEscape(`{"exception.type":"Timeout"}`), []string{B}, false}, // an event attribute
		{"service=frontend&tags=" + url.QueryEscape(`{"customer":"nobody"}`), nil, false},
		{"service=frontend&minDuration=1s", []string{B}, false},
		{"service=frontend&maxDuration=500ms", []string{A}, false},
		{"service=backend&minDuration=5ms&maxDuration=20ms", []string{C}, false},
		{"service=frontend&start=" + us(t0.Add(time.Minute-time.Second)) + "&end=" + us(t0.Add(time.Minute+time.Second)), []string{B}, false},
		{"start=" + us(t0.Add(90*time.Second)) + "&end=" + us(now), []string{C}, false},
		{"service=cache", nil, false}, // default lookback: one hour
		{"service=cache&start=" + us(now.Add(-4*time.Hour)) + "&end=" + us(now.Add(-2*time.Hour)), []string{D}, false},
		{"service=cache&lookback=6h", []string{D}, false},
		{"service=frontend&limit=1", []string{B}, true}, // newest first
		{"limit=2", []string{C, B}, true},
		{"", []string{A, B, C}, false}, // no service: everything in the last hour
	} {
		t.Run(tc.query, func(t *testing.T) {
			var env jaegerEnvelope[[]jTrace]
			s.getJSON(t, "/api/traces?"+tc.query, http.StatusOK, &env)
			if len(env.Errors) > 0 || env.Data == nil {
				t.Fatalf("errors %v, data %v", env.Errors, env.Data)
			}
			var got []string
			for _, tr := range env.Data {
				got = append(got, tr.TraceID)
				if len(tr.Spans) != spanCount[tr.TraceID] {
					t.Errorf("trace %s has %d spans, want %d (complete)", names[tr.TraceID], len(tr.Spans), spanCount[tr.TraceID])
				}
			}
			if env.Total != len(got) {
				t.Errorf("total %d, %d traces", env.Total, len(got))
			}
			want := slices.Clone(tc.want)
			if !tc.ordered {
				slices.Sort(got)
				slices.Sort(want)
			}
			if !slices.Equal(got, want) {
				label := func(ids []string) (out []string) {
					for _, id := range ids {
						out = append(out, names[id]+":"+id)
					}
					return out
				}
				t.Errorf("found %v, want %v", label(got), label(want))
			}
		})
	}

	t.Run("services", func(t *testing.T) {
		env := jaeger[[]string](t, s, "/api/services")
		if want := []string{"backend", "cache", "frontend"}; !slices.Equal(env.Data, want) || env.Total != 3 {
			t.Errorf("services %v (total %d), want %v", env.Data, env.Total, want)
		}
		var v3 struct {
			Services []string `json:"services"`
		}
		s.getJSON(t, "/api/v3/services", http.StatusOK, &v3)
		if want := []string{"backend", "cache", "frontend"}; !slices.Equal(v3.Services, want) {
			t.Errorf("/api/v3/services %v, want %v", v3.Services, want)
		}
	})

	t.Run("operations", func(t *testing.T) {
		names := jaeger[[]string](t, s, "/api/services/frontend/operations").Data
		if want := []string{"GET /cart", "GET /home", "call backend"}; !slices.Equal(names, want) {
			t.Errorf("/api/services/frontend/operations: %v, want %v", names, want)
		}
		type op struct{ Name, SpanKind string }
		for _, tc := range []struct {
			query string
			want  []op
		}{
			{"service=frontend", []op{{"GET /cart", "server"}, {"GET /home", "server"}, {"call backend", "client"}}},
			{"service=frontend&spanKind=server", []op{{"GET /cart", "server"}, {"GET /home", "server"}}},
			{"service=frontend&spanKind=client", []op{{"call backend", "client"}}},
			{"service=backend&spanKind=server", []op{{"query", "server"}}},
			{"service=backend&spanKind=client", nil},
			{"service=nobody", nil},
		} {
			got := jaeger[[]op](t, s, "/api/operations?"+tc.query).Data
			if got == nil {
				t.Errorf("/api/operations?%s: data is null, want a list", tc.query)
			}
			slices.SortFunc(got, func(a, b op) int {
				return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.SpanKind, b.SpanKind))
			})
			if !slices.Equal(got, tc.want) {
				t.Errorf("/api/operations?%s: %v, want %v", tc.query, got, tc.want)
			}
		}
	})

	t.Run("dependencies", func(t *testing.T) {
		type dep struct {
			Parent, Child string
			CallCount     json.Number
		}
		q := fmt.Sprintf("/api/dependencies?endTs=%d&lookback=%d", time.Now().UnixMilli(), (24 * time.Hour).Milliseconds())
		got := jaeger[[]dep](t, s, q).Data
		if want := []dep{{"frontend", "backend", "1"}}; !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", q, got, want)
		}
	})

	t.Run("v3 search", func(t *testing.T) {
		q := url.Values{
			"query.serviceName":  {"frontend"},
			"query.startTimeMin": {t0.Add(-time.Second).Format(time.RFC3339Nano)},
			"query.startTimeMax": {now.Format(time.RFC3339Nano)},
		}
		var body struct {
			Result json.RawMessage `json:"result"`
		}
		s.getJSON(t, "/api/v3/traces?"+q.Encode(), http.StatusOK, &body)
		td := decodeOTLPJSON(t, body.Result)
		traces := map[string]int{}
		for _, rs := range td.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, sp := range ss.GetSpans() {
					traces[hexID(sp.GetTraceId())]++
				}
			}
		}
		if want := map[string]int{A: 3, B: 1}; fmt.Sprint(traces) != fmt.Sprint(want) {
			t.Errorf("/api/v3/traces: spans per trace %v, want %v", traces, want)
		}
	})

	// What the newest Jaeger UI lists search results from.
	t.Run("v3 trace summaries", func(t *testing.T) {
		q := url.Values{
			"query.startTimeMin": {t0.Add(-time.Second).Format(time.RFC3339Nano)},
			"query.startTimeMax": {now.Format(time.RFC3339Nano)},
		}
		type svc struct {
			Name           string `json:"name"`
			SpanCount      int    `json:"spanCount"`
			ErrorSpanCount int    `json:"errorSpanCount"`
		}
		var body struct {
			Summaries []struct {
				TraceID           string `json:"traceId"`
				RootServiceName   string `json:"rootServiceName"`
				RootOperationName string `json:"rootOperationName"`
				MinStart          string `json:"minStartTimeUnixNano"`
				MaxEnd            string `json:"maxEndTimeUnixNano"`
				SpanCount         int    `json:"spanCount"`
				ErrorSpanCount    int    `json:"errorSpanCount"`
				OrphanSpanCount   int    `json:"orphanSpanCount"`
				Services          []svc  `json:"services"`
			} `json:"summaries"`
		}
		s.getJSON(t, "/api/v3/trace-summaries?"+q.Encode(), http.StatusOK, &body)
		var got []string
		for _, sm := range body.Summaries {
			got = append(got, names[sm.TraceID])
			switch sm.TraceID {
			case A:
				if sm.RootServiceName != "frontend" || sm.RootOperationName != "GET /home" || sm.SpanCount != 3 || sm.ErrorSpanCount != 0 ||
					sm.OrphanSpanCount != 0 || !slices.Equal(sm.Services, []svc{{"backend", 1, 0}, {"frontend", 2, 0}}) ||
					sm.MinStart != strconv.FormatInt(t0.UnixNano(), 10) || sm.MaxEnd != strconv.FormatInt(t0.Add(100*time.Millisecond).UnixNano(), 10) {
					t.Errorf("summary of A: %+v", sm)
				}
			case B:
				if sm.RootOperationName != "GET /cart" || sm.SpanCount != 1 || sm.ErrorSpanCount != 1 || !slices.Equal(sm.Services, []svc{{"frontend", 1, 1}}) {
					t.Errorf("summary of B: %+v", sm)
				}
			}
		}
		if want := []string{"C", "B", "A"}; !slices.Equal(got, want) {
			t.Errorf("/api/v3/trace-summaries without a service: %v, want %v (newest first)", got, want)
		}
	})
}
