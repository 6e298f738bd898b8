package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/scrytrace/scry/internal/auth/authtest"
	"github.com/scrytrace/scry/internal/testkit"
)

// The Jaeger UI Monitor tab's view of /api/metrics/{calls,errors,latencies}.
type redAnswer struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Metrics []struct {
		Labels []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"labels"`
		MetricPoints []struct {
			GaugeValue struct {
				DoubleValue float64 `json:"doubleValue"`
			} `json:"gaugeValue"`
			Timestamp string `json:"timestamp"`
		} `json:"metricPoints"`
	} `json:"metrics"`
}

// last returns the newest value of each metric by its operation label
// (or "" without one).
func (a redAnswer) last() map[string]float64 {
	out := map[string]float64{}
	for _, m := range a.Metrics {
		op := ""
		for _, l := range m.Labels {
			if l.Name == "operation" {
				op = l.Value
			}
		}
		if n := len(m.MetricPoints); n > 0 {
			out[op] = m.MetricPoints[n-1].GaugeValue.DoubleValue
		}
	}
	return out
}

// monitorQuery is what the Monitor tab sends for one service (its
// defaults: last hour... here 10 minutes at 1 minute steps, rate per 10
// minutes, server spans).
func monitorQuery(kind, service string, endTs time.Time, extra ...string) string {
	v := url.Values{"service": {service}, "endTs": {fmt.Sprint(endTs.UnixMilli())}, "lookback": {"600000"},
		"step": {"60000"}, "ratePer": {"600000"}, "spanKind": {"server"}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return "/api/metrics/" + kind + "?" + v.Encode()
}

func (s *Scry) red(t testing.TB, path string) redAnswer {
	t.Helper()
	var a redAnswer
	code, body, _ := s.get(t, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return a
}

// TestREDMetrics sends spans of known rates, error ratios and latencies to
// the all-in-one and reads them as the Jaeger UI's Monitor tab does; a burst
// of distinct operation names is folded into __other__; after a restart the
// series are all there.
func TestREDMetrics(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	flags := []string{"--data-dir", dir, "--red-step", "1s", "--red-max-series-per-dimension", "20", "--red-dimensions", "deployment.environment"}
	s := startScry(t, flags...)
	c := s.traceClient(t)
	now := time.Now()
	var cart, pay, burst []*tracepb.Span
	// GET /cart: 200 spans of 1..100 ms (each twice), 10% errors.
	for i := range 200 {
		sp := span(newTraceID(), newSpanID(), nil, "GET /cart", tracepb.Span_SPAN_KIND_SERVER, now, time.Duration(1+i%100)*time.Millisecond)
		if i%10 == 0 {
			sp.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR}
		}
		cart = append(cart, sp)
	}
	// POST /pay: 50 spans of 30 ms, 20% errors; and client spans, which
	// server queries leave out.
	for i := range 50 {
		sp := span(newTraceID(), newSpanID(), nil, "POST /pay", tracepb.Span_SPAN_KIND_SERVER, now, 30*time.Millisecond)
		if i%5 == 0 {
			sp.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR}
		}
		pay = append(pay, sp, span(newTraceID(), newSpanID(), nil, "SELECT", tracepb.Span_SPAN_KIND_CLIENT, now, time.Millisecond))
	}
	for i := range 500 {
		burst = append(burst, span(newTraceID(), newSpanID(), nil, fmt.Sprintf("GET /user/%d", i), tracepb.Span_SPAN_KIND_SERVER, now, time.Millisecond))
	}
	env := []*commonpb.KeyValue{kvStr("deployment.environment", "prod")}
	s.exportOK(t, c, resourceSpans("shop", env, cart[:100]...))
	s.exportOK(t, c, resourceSpans("shop", env, cart[100:]...), resourceSpans("shop", env, pay...))
	s.exportOK(t, c, resourceSpans("burst", nil, burst...))

	var end time.Time
	var got map[string]float64
	if !testkit.Poll(30*time.Second, func() bool {
		end = time.Now()
		got = s.red(t, monitorQuery("calls", "shop", end, "groupByOperation", "true")).last()
		return math.Round(got["GET /cart"]*600) == 200 && math.Round(got["POST /pay"]*600) == 50
	}) {
		t.Fatalf("calls per 10 min by operation: %v, want GET /cart 200, POST /pay 50", func() map[string]float64 {
			out := map[string]float64{}
			for k, v := range got {
				out[k] = v * 600
			}
			return out
		}())
	}
	calls := s.red(t, monitorQuery("calls", "shop", end))
	if calls.Name != "service_call_rate" || calls.Type != "GAUGE" || len(calls.Metrics) != 1 {
		t.Fatalf("calls: %+v", calls)
	}
	if v := calls.last()[""]; math.Abs(v-250.0/600) > 1e-9 {
		t.Errorf("shop call rate %v/s, want 250 calls per 10 min", v)
	}
	errs := s.red(t, monitorQuery("errors", "shop", end, "groupByOperation", "true"))
	if errs.Name != "service_operation_error_rate" {
		t.Errorf("errors name %q", errs.Name)
	}
	if got := errs.last(); math.Abs(got["GET /cart"]-0.1) > 1e-9 || math.Abs(got["POST /pay"]-0.2) > 1e-9 {
		t.Errorf("error rates %v, want GET /cart 0.1, POST /pay 0.2", got)
	}
	// Durations 1..100 ms: p50 50 ms, p95 95 ms, p99 99 ms (nearest rank).
	for q, want := range map[string]float64{"0.5": 50, "0.95": 95, "0.99": 99} {
		lat := s.red(t, monitorQuery("latencies", "shop", end, "groupByOperation", "true", "quantile", q))
		if got := lat.last()["GET /cart"]; math.Abs(got-want)/want > 0.05 {
			t.Errorf("GET /cart p%s = %v ms, want %v within 5%%", q, got, want)
		}
		if got := lat.last()["POST /pay"]; math.Abs(got-30)/30 > 0.05 {
			t.Errorf("POST /pay p%s = %v ms, want 30", q, got)
		}
	}
	if client := s.red(t, monitorQuery("latencies", "shop", end, "quantile", "0.95", "spanKind", "client")).last()[""]; math.Abs(client-1) > 0.05 {
		t.Errorf("client p95 %v ms, want 1", client)
	}
	var minStep jaegerEnvelope[json.Number]
	s.getJSON(t, "/api/metrics/minstep", http.StatusOK, &minStep)
	if minStep.Data.String() != "1000" {
		t.Errorf("minstep %s, want 1000 (--red-step 1s)", minStep.Data)
	}

	// The burst: 20 operations and __other__ (480 calls), counted.
	byOp := s.red(t, monitorQuery("calls", "burst", end, "groupByOperation", "true")).last()
	if len(byOp) != 21 || math.Round(byOp["__other__"]*600) != 480 {
		t.Errorf("burst: %d operations, __other__ %v calls; want 21 and 480", len(byOp), byOp["__other__"]*600)
	}
	if f := s.metric(t, "scry_red_folded_spans_total", map[string]string{"dimension": "operation"}); f != 480 {
		t.Errorf("scry_red_folded_spans_total{dimension=operation} = %v, want 480", f)
	}

	// Bad parameters: 400 naming the parameter.
	for path, want := range map[string]string{
		"/api/metrics/latencies?service=shop":                "quantile",
		"/api/metrics/calls":                                 "service",
		"/api/metrics/calls?service=shop&step=soon":          "step",
		"/api/metrics/errors?service=shop&spanKind=sideways": "spanKind",
	} {
		code, body, _ := s.get(t, path)
		if code != http.StatusBadRequest || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %s; want 400 naming %s", path, code, body, want)
		}
	}

	before := map[string]string{}
	queries := []string{monitorQuery("calls", "shop", end, "groupByOperation", "true"), monitorQuery("errors", "shop", end),
		monitorQuery("latencies", "shop", end, "quantile", "0.95"), monitorQuery("calls", "burst", end, "groupByOperation", "true")}
	for _, q := range queries {
		_, body, _ := s.get(t, q)
		before[q] = string(body)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("scry did not exit cleanly: %v", err)
	}
	s2 := startScry(t, flags...)
	for _, q := range queries {
		if _, body, _ := s2.get(t, q); string(body) != before[q] {
			t.Errorf("GET %s after restart:\n%s\nbefore:\n%s", q, body, before[q])
		}
	}
}

// TestREDMetricsTenants: with tenancy on, each tenant's Monitor tab sees
// the RED series of its own spans only.
func TestREDMetricsTenants(t *testing.T) {
	t.Parallel()
	file := authtest.Write(t, tenantWriter, tenantReader)
	s := startScryWith(t, scryOptions{
		Flags:         []string{"--auth-file=" + file, "--multi-tenancy.enabled", "--red-step", "1s"},
		Env:           []string{"SCRY_MULTI_TENANCY_HEADER=x-tenant"},
		Authorization: authtest.Bearer(tenantReader.Token),
	})
	writer := map[string]string{"authorization": "Bearer " + tenantWriter.Token, "x-tenant": "team-a"}
	for range 3 {
		if err := sdkExport(t, s.OTLPGRPC, writer, trace.TraceID(newTraceID()), "svc-red", "op"); err != nil {
			t.Fatal(err)
		}
	}
	calls := func(tenant string) map[string]float64 {
		code, body := tget(t, s.Query, monitorQuery("calls", "svc-red", time.Now(), "spanKind", "internal"),
			"Authorization", authtest.Bearer(tenantReader.Token), "x-tenant", tenant)
		var a redAnswer
		if code != http.StatusOK || json.Unmarshal([]byte(body), &a) != nil {
			t.Fatalf("%s: %d %s", tenant, code, body)
		}
		return a.last()
	}
	testkit.Eventually(t, "team-a's 3 calls in /api/metrics/calls", func() bool { return math.Round(calls("team-a")[""]*600) == 3 })
	if got := calls("team-b"); len(got) != 0 {
		t.Errorf("team-b sees team-a's RED series: %v", got)
	}
}
