package query

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/memory"
)

// The JSON the Jaeger UI's Monitor tab reads (its MetricObject types).
type metricsAnswer struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Help    string `json:"help"`
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

// seedRED writes 40 steps of 15 s ending at end: per step, GET /cart 30
// calls (3 errors, 27 of 10 ms and 3 of 100 ms), POST /pay 10 calls of
// 50 ms, and a client span kind operation that server queries leave out.
func seedRED(t *testing.T, store *memory.Store, ctx context.Context, end time.Time) {
	t.Helper()
	var pts []storage.REDPoint
	for i := range 40 {
		start := uint64(end.Add(-time.Duration(i+1) * 15 * time.Second).UnixNano())
		add := func(op string, kind model.SpanKind, status model.StatusCode, calls, errs uint64, durs map[time.Duration]int) {
			p := storage.REDPoint{Series: storage.REDSeries{Service: "checkout", Operation: op, Kind: kind, Status: status},
				Start: start, Step: uint64(15 * time.Second), Calls: calls, Errors: errs}
			for d, n := range durs {
				for range n {
					p.Latency.Observe(uint64(d))
				}
			}
			pts = append(pts, p)
		}
		add("GET /cart", model.SpanKindServer, model.StatusOK, 27, 0, map[time.Duration]int{10 * time.Millisecond: 27})
		add("GET /cart", model.SpanKindServer, model.StatusError, 3, 3, map[time.Duration]int{100 * time.Millisecond: 3})
		add("POST /pay", model.SpanKindServer, model.StatusUnset, 10, 0, map[time.Duration]int{50 * time.Millisecond: 10})
		add("SELECT", model.SpanKindClient, model.StatusUnset, 100, 0, map[time.Duration]int{time.Millisecond: 100})
	}
	if err := store.WriteRED(ctx, pts); err != nil {
		t.Fatal(err)
	}
}

func newMetricsServer(t *testing.T) (*server, time.Time) {
	t.Helper()
	store := testkit.Start(t, memory.New())
	end := now.Truncate(15 * time.Second)
	seedRED(t, store, context.Background(), end)
	return newServerOver(t, func(c *Config) { c.RED = store }, store), end
}

func lastValue(t *testing.T, a metricsAnswer, labels string) float64 {
	t.Helper()
	for _, m := range a.Metrics {
		var ls []string
		for _, l := range m.Labels {
			ls = append(ls, l.Name+"="+l.Value)
		}
		if strings.Join(ls, ",") == labels {
			if len(m.MetricPoints) == 0 {
				t.Fatalf("%s: no points", labels)
			}
			return m.MetricPoints[len(m.MetricPoints)-1].GaugeValue.DoubleValue
		}
	}
	t.Fatalf("no metric labelled %s in %+v", labels, a)
	return 0
}

func near(got, want float64) bool { return math.Abs(got-want) <= 0.05*math.Abs(want)+1e-9 }

// TestMetricsAsJaegerUIAsks sends the Monitor tab's requests and checks
// names, labels, units (ms, per second) and values.
func TestMetricsAsJaegerUIAsks(t *testing.T) {
	s, end := newMetricsServer(t)
	base := []string{"service", "checkout", "endTs", millis(end), "lookback", "600000", "step", "60000", "ratePer", "600000", "spanKind", "server"}
	get := func(path string, extra ...string) metricsAnswer {
		t.Helper()
		r := s.get(t, path, append(append([]string{}, base...), extra...)...)
		r.checkJSON(t, http.StatusOK)
		return decode[metricsAnswer](t, r.body)
	}

	calls := get("/api/metrics/calls")
	if calls.Name != "service_call_rate" || calls.Type != "GAUGE" || len(calls.Metrics) != 1 {
		t.Fatalf("calls: %+v", calls)
	}
	// 11 times from end-10m to end; at the first no step has ended yet.
	if pts := calls.Metrics[0].MetricPoints; len(pts) != 10 {
		t.Errorf("calls: %d points over 10 min at 1 min steps, want 10", len(pts))
	} else if ts, _ := time.Parse(time.RFC3339Nano, pts[9].Timestamp); !ts.Equal(end) {
		t.Errorf("last point at %s, want %s", pts[9].Timestamp, end.UTC().Format(time.RFC3339Nano))
	}
	// 40 steps of 40 server calls in the last 10 minutes.
	if v := lastValue(t, calls, "service_name=checkout"); !near(v, 1600.0/600) {
		t.Errorf("call rate %v/s, want %v", v, 1600.0/600)
	}
	byOp := get("/api/metrics/calls", "groupByOperation", "true")
	if byOp.Name != "service_operation_call_rate" || len(byOp.Metrics) != 2 {
		t.Fatalf("calls by operation: %+v", byOp)
	}
	if v := lastValue(t, byOp, "operation=GET /cart,service_name=checkout"); !near(v, 1200.0/600) {
		t.Errorf("GET /cart rate %v, want 2", v)
	}
	if v := lastValue(t, byOp, "operation=POST /pay,service_name=checkout"); !near(v, 400.0/600) {
		t.Errorf("POST /pay rate %v, want 0.667", v)
	}

	errs := get("/api/metrics/errors", "groupByOperation", "true")
	if errs.Name != "service_operation_error_rate" {
		t.Errorf("errors name %q", errs.Name)
	}
	if v := lastValue(t, errs, "operation=GET /cart,service_name=checkout"); !near(v, 0.1) {
		t.Errorf("GET /cart error rate %v, want 0.1", v)
	}
	if v := lastValue(t, errs, "operation=POST /pay,service_name=checkout"); v != 0 {
		t.Errorf("POST /pay error rate %v, want 0", v)
	}
	if v := lastValue(t, get("/api/metrics/errors"), "service_name=checkout"); !near(v, 120.0/1600) {
		t.Errorf("service error rate %v, want 0.075", v)
	}

	for q, want := range map[string]float64{"0.5": 10, "0.95": 100, "0.99": 100} {
		lat := get("/api/metrics/latencies", "quantile", q, "groupByOperation", "true")
		if lat.Name != "service_operation_latencies" {
			t.Errorf("latencies name %q", lat.Name)
		}
		if v := lastValue(t, lat, "operation=GET /cart,service_name=checkout"); !near(v, want) {
			t.Errorf("GET /cart p%s %v ms, want %v", q, v, want)
		}
	}
	client := get("/api/metrics/latencies", "quantile", "0.95", "spanKind", "client")
	// 4000 client calls of 1 ms, 1080 of 10 ms, 400 of 50 ms, 120 of 100 ms.
	if v := lastValue(t, client, "service_name=checkout"); !near(v, 50) {
		t.Errorf("with spanKind server and client, p95 %v ms, want 50", v)
	}

	r := s.get(t, "/api/metrics/minstep")
	if e := r.jaeger(t, http.StatusOK); string(e.Data) != "15000" {
		t.Errorf("minstep data %s, want 15000", e.Data)
	}
	// A service without data: no metric, not an error.
	r = s.get(t, "/api/metrics/calls", "service", "nobody")
	if a := decode[metricsAnswer](t, r.body); r.status != 200 || len(a.Metrics) != 0 {
		t.Errorf("unknown service: %d %s", r.status, r.body)
	}
}

func TestMetricsBadParameters(t *testing.T) {
	s, _ := newMetricsServer(t)
	for _, c := range []struct {
		path   string
		params []string
		want   string
	}{
		{"/api/metrics/calls", nil, "service"},
		{"/api/metrics/latencies", []string{"service", "a"}, "quantile"},
		{"/api/metrics/latencies", []string{"service", "a", "quantile", "2"}, "quantile"},
		{"/api/metrics/calls", []string{"service", "a", "step", "abc"}, "step"},
		{"/api/metrics/calls", []string{"service", "a", "lookback", "-5"}, "lookback"},
		{"/api/metrics/calls", []string{"service", "a", "step", "1", "lookback", "86400000"}, "step"},
		{"/api/metrics/calls", []string{"service", "a", "spanKind", "bogus"}, "spanKind"},
		{"/api/metrics/calls", []string{"service", "a", "groupByOperation", "maybe"}, "groupByOperation"},
		{"/api/metrics/calls", []string{"service", "a", "endTs", "yesterday"}, "endTs"},
		{"/api/metrics/errors", []string{"service", "a", "ratePer", "0"}, "ratePer"},
	} {
		e := s.get(t, c.path, c.params...).jaeger(t, http.StatusBadRequest)
		if len(e.Errors) != 1 || !strings.Contains(e.Errors[0].Msg, c.want) || e.Errors[0].Code != 400 {
			t.Errorf("%s %v: errors %+v, want one naming %s", c.path, c.params, e.Errors, c.want)
		}
	}
}

func TestMetricsDisabledAndTenants(t *testing.T) {
	off := newServerOver(t, nil, testkit.Start(t, memory.New()))
	e := off.get(t, "/api/metrics/calls", "service", "a").jaeger(t, http.StatusNotImplemented)
	if len(e.Errors) != 1 || !strings.Contains(e.Errors[0].Msg, "not available") {
		t.Errorf("without RED series: %+v", e.Errors)
	}
	// Series written for a tenant are not the default tenant's.
	store := testkit.Start(t, memory.New())
	end := now.Truncate(15 * time.Second)
	seedRED(t, store, storage.WithTenant(context.Background(), "team-a"), end)
	s := newServerOver(t, func(c *Config) { c.RED = store }, store)
	r := s.get(t, "/api/metrics/calls", "service", "checkout", "endTs", strconv.FormatInt(end.UnixMilli(), 10))
	if a := decode[metricsAnswer](t, r.body); len(a.Metrics) != 0 {
		t.Errorf("default tenant sees team-a's series: %s", r.body)
	}
}
