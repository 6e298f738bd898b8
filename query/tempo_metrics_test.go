package query

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/model"
)

// Tempo's metrics JSON as Grafana reads it (pkg/tempopb QueryRangeResponse
// and QueryInstantResponse through gogo jsonpb), written out here.
type (
	tRange struct {
		Series []struct {
			Labels  []tMetricKV `json:"labels"`
			Samples []struct {
				TimestampMs string  `json:"timestampMs"`
				Value       float64 `json:"value"`
			} `json:"samples"`
			Exemplars []struct {
				Labels      []tMetricKV `json:"labels"`
				Value       float64     `json:"value"`
				TimestampMs string      `json:"timestampMs"`
			} `json:"exemplars"`
		} `json:"series"`
		Metrics struct {
			InspectedTraces int    `json:"inspectedTraces"`
			InspectedSpans  string `json:"inspectedSpans"`
		} `json:"metrics"`
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	tInstant struct {
		Series []struct {
			Labels []tMetricKV `json:"labels"`
			Value  float64     `json:"value"`
		} `json:"series"`
		Status string `json:"status"`
	}
	tMetricKV struct {
		Key   string `json:"key"`
		Value struct {
			StringValue *string  `json:"stringValue"`
			IntValue    *string  `json:"intValue"`
			DoubleValue *float64 `json:"doubleValue"`
		} `json:"value"`
	}
)

func (kv tMetricKV) text() string {
	switch {
	case kv.Value.StringValue != nil:
		return *kv.Value.StringValue
	case kv.Value.IntValue != nil:
		return *kv.Value.IntValue
	case kv.Value.DoubleValue != nil:
		return strconv.FormatFloat(*kv.Value.DoubleValue, 'g', -1, 64)
	}
	return "<none>"
}

func labelText(ls []tMetricKV) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.Key + "=" + l.text()
	}
	return strings.Join(parts, ",")
}

// seriesByLabels is a range answer as label text → timestamp ms → value.
func (r tRange) seriesByLabels(t *testing.T) map[string]map[int64]float64 {
	t.Helper()
	out := map[string]map[int64]float64{}
	for _, s := range r.Series {
		m := map[int64]float64{}
		for _, smp := range s.Samples {
			ms, err := strconv.ParseInt(smp.TimestampMs, 10, 64)
			if err != nil {
				t.Fatalf("timestampMs %q is not a number in a string", smp.TimestampMs)
			}
			m[ms] = smp.Value
		}
		out[labelText(s.Labels)] = m
	}
	return out
}

// metricsWindow is the last hour before a minute before now, in whole
// minutes, and its 60 s steps.
func metricsWindow() (from, to time.Time) {
	to = now.Add(-time.Minute).Truncate(time.Minute)
	return to.Add(-time.Hour), to
}

// expectedCounts counts, per key, the spans keep accepts that started in
// [from, to], by the timestamp (ms) of their 60 s step: (t-60s, t].
func expectedCounts(traces []genTrace, from, to time.Time, keep func(*model.Span) (string, bool)) map[string]map[int64]float64 {
	out := map[string]map[int64]float64{}
	step := uint64(time.Minute)
	for _, tr := range traces {
		for _, sp := range tr.spans {
			if sp.StartTime < ns(from) || sp.StartTime > ns(to) {
				continue
			}
			key, ok := keep(sp)
			if !ok {
				continue
			}
			off := sp.StartTime - ns(from)
			i := (off + step - 1) / step // right-closed steps
			i = max(i, 1)
			ts := int64((ns(from) + i*step) / uint64(time.Millisecond))
			if out[key] == nil {
				out[key] = map[int64]float64{}
			}
			out[key][ts]++
		}
	}
	return out
}

func (s *tempoServer) metricsRange(t *testing.T, params ...string) tRange {
	t.Helper()
	r := s.query.get(t, "/api/metrics/query_range", params...)
	r.checkJSON(t, http.StatusOK)
	return decode[tRange](t, r.body)
}

func TestTempoMetricsRateByService(t *testing.T) {
	for _, store := range []string{"memory", "badger"} {
		t.Run(store, func(t *testing.T) {
			var s *tempoServer
			if store == "memory" {
				s = newTempoServer(t, 300, nil)
			} else {
				s = newTempoServerOver(t, 300, nil, newBadgerStore(t))
			}
			from, to := metricsWindow()
			got := s.metricsRange(t, "q", `{ } | rate() by (resource.service.name)`, "start", secs(from), "end", secs(to), "step", "60s")
			want := expectedCounts(s.traces, from, to, func(sp *model.Span) (string, bool) {
				return "resource.service.name=" + sp.ServiceName(), true
			})
			series := got.seriesByLabels(t)
			if len(series) != len(want) {
				t.Fatalf("series %v, want %d (one a service)", got.Series, len(want))
			}
			for key, counts := range want {
				for ts, c := range counts {
					if v := series[key][ts]; math.Abs(v-c/60) > 1e-9 {
						t.Errorf("%s at %d: rate %v, want %v (%v spans / 60 s)", key, ts, v, c/60, c)
					}
				}
				if len(series[key]) != 60 {
					t.Errorf("%s: %d samples, want 60 (one a minute of the hour, 0 where none)", key, len(series[key]))
				}
			}
			if got.Status != "" || got.Metrics.InspectedTraces == 0 {
				t.Errorf("status %q, %d traces inspected: want a complete answer that read traces", got.Status, got.Metrics.InspectedTraces)
			}
		})
	}
}

func TestTempoMetricsErrorsAndQuantiles(t *testing.T) {
	s := newTempoServerOver(t, 300, nil, newBadgerStore(t))
	from, to := metricsWindow()
	got := s.metricsRange(t, "q", `{ status = error } | count_over_time()`, "start", secs(from), "end", secs(to), "step", "60")
	want := expectedCounts(s.traces, from, to, func(sp *model.Span) (string, bool) {
		return "__name__=count_over_time", sp.Status.Code == model.StatusError
	})
	series := got.seriesByLabels(t)
	for ts, c := range want["__name__=count_over_time"] {
		if series["__name__=count_over_time"][ts] != c {
			t.Errorf("errors at %d: %v, want %v", ts, series["__name__=count_over_time"][ts], c)
		}
	}
	if len(series) != 1 {
		t.Errorf("series %v, want one labelled __name__=count_over_time", got.Series)
	}

	// The root spans last 10-50 ms (10 + 10×(i%5)): p50 and p99 of them
	// over the hour, within the power-of-two bucket of the exact value.
	q := s.metricsRange(t, "q", `{ kind = server && span:parentID = nil } | quantile_over_time(duration, .5, .99)`,
		"start", secs(from), "end", secs(to), "step", "1h")
	var durs []float64
	for _, tr := range s.traces {
		if sp := tr.spans[0]; sp.StartTime >= ns(from) && sp.StartTime <= ns(to) {
			durs = append(durs, float64(sp.Duration()))
		}
	}
	exact := func(p float64) float64 {
		sorted := append([]float64(nil), durs...)
		for i := range sorted {
			for j := i + 1; j < len(sorted); j++ {
				if sorted[j] < sorted[i] {
					sorted[i], sorted[j] = sorted[j], sorted[i]
				}
			}
		}
		return sorted[int(math.Ceil(p*float64(len(sorted))))-1]
	}
	if len(q.Series) != 2 {
		t.Fatalf("quantiles: %d series, want 2", len(q.Series))
	}
	for _, sr := range q.Series {
		var p float64
		for _, l := range sr.Labels {
			if l.Key == "p" && l.Value.DoubleValue != nil {
				p = *l.Value.DoubleValue
			}
		}
		if p == 0 || len(sr.Samples) == 0 {
			t.Fatalf("quantile series %v: want a double label p and samples", sr)
		}
		var total float64
		for _, smp := range sr.Samples {
			total = max(total, smp.Value)
		}
		e := exact(p)
		hi := math.Exp2(math.Ceil(math.Log2(e)))
		if v := total * 1e9; v <= hi/2 || v > hi*(1+1e-9) {
			t.Errorf("p%v = %v s, want within (%v, %v] ns, the bucket of the exact %v ns", p, total, hi/2, hi, e)
		}
	}
}

func TestTempoMetricsInstant(t *testing.T) {
	s := newTempoServer(t, 200, nil)
	from, to := metricsWindow()
	r := s.query.get(t, "/api/metrics/query", "q", `{ } | count_over_time() by (resource.service.name)`, "start", secs(from), "end", secs(to))
	r.checkJSON(t, http.StatusOK)
	got := decode[tInstant](t, r.body)
	want := map[string]float64{}
	for _, tr := range s.traces {
		for _, sp := range tr.spans {
			if sp.StartTime >= ns(from) && sp.StartTime <= ns(to) {
				want[sp.ServiceName()]++
			}
		}
	}
	if len(got.Series) != len(want) {
		t.Fatalf("series %+v, want %d", got.Series, len(want))
	}
	for _, sr := range got.Series {
		if len(sr.Labels) != 1 || sr.Value != want[sr.Labels[0].text()] {
			t.Errorf("%s = %v, want %v", labelText(sr.Labels), sr.Value, want[sr.Labels[0].text()])
		}
	}
}

func TestTempoMetricsPartialAtTheCap(t *testing.T) {
	s := newTempoServer(t, 100, nil)
	old := tempoMetricsMaxTraces
	tempoMetricsMaxTraces = 10
	t.Cleanup(func() { tempoMetricsMaxTraces = old })
	from, to := metricsWindow()
	got := s.metricsRange(t, "q", `{ } | count_over_time()`, "start", secs(from), "end", secs(to))
	if got.Status != "PARTIAL" || !strings.Contains(got.Message, "newest 10") || got.Metrics.InspectedTraces != 10 {
		t.Errorf("status %q message %q, %d traces: want PARTIAL saying the newest 10 were counted", got.Status, got.Message, got.Metrics.InspectedTraces)
	}
	var total float64
	for _, sr := range got.Series {
		for _, smp := range sr.Samples {
			total += smp.Value
		}
	}
	if total == 0 || total > 10*4 {
		t.Errorf("counted %v spans, want those of 10 traces", total)
	}
}

func TestTempoMetricsExemplarsAndDefaults(t *testing.T) {
	s := newTempoServer(t, 100, nil)
	// No start, end or step: the last hour, Tempo's step for an hour (15 s).
	got := s.metricsRange(t, "q", `{ } | rate()`, "exemplars", "5")
	if len(got.Series) != 1 {
		t.Fatalf("series %+v, want one", got.Series)
	}
	sr := got.Series[0]
	if len(sr.Samples) < 2 {
		t.Fatalf("samples %+v", sr.Samples)
	}
	a, _ := strconv.ParseInt(sr.Samples[0].TimestampMs, 10, 64)
	b, _ := strconv.ParseInt(sr.Samples[1].TimestampMs, 10, 64)
	if b-a != 15000 {
		t.Errorf("step %d ms, want Tempo's default of 15 s for an hour", b-a)
	}
	if len(sr.Exemplars) != 5 {
		t.Fatalf("%d exemplars, want 5", len(sr.Exemplars))
	}
	for _, e := range sr.Exemplars {
		if !strings.Contains(labelText(e.Labels), "trace:id=7e") || e.TimestampMs == "" {
			t.Errorf("exemplar %+v: want a trace:id label and a timestamp", e)
		}
	}
}

func TestTempoMetricsBadRequests(t *testing.T) {
	s := newTempoServer(t, 10, nil)
	from, to := metricsWindow()
	for _, c := range []struct {
		params []string
		want   string
	}{
		{[]string{"q", `{ status = error }`}, "is not a metrics query"},
		{[]string{"q", ``}, "q is empty"},
		{[]string{"q", `{ } | rate(`}, "parse error at line 1"},
		{[]string{"q", `{ } | rate()`, "step", "fast"}, "invalid step"},
		{[]string{"q", `{ } | rate()`, "step", "-5s"}, "step must be positive"},
		{[]string{"q", `{ } | rate()`, "start", secs(to), "end", secs(from)}, "start ("},
		{[]string{"q", `{ } | rate()`, "start", secs(from), "end", secs(to), "step", "0.1s"}, "more than the maximum of 11000"},
		{[]string{"q", `{ } | rate()`, "start", "yesterday"}, "could not parse 'start'"},
		{[]string{"q", `{ } | compare({ status = error })`}, "compare() is not supported"},
		{[]string{"q", `{ } | rate()`, "exemplars", "many"}, "invalid exemplars"},
	} {
		for _, path := range []string{"/api/metrics/query_range", "/api/metrics/query"} {
			if path == "/api/metrics/query" && strings.Contains(strings.Join(c.params, " "), "step") {
				continue // the instant query has no step
			}
			r := s.query.get(t, path, c.params...)
			if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), c.want) {
				t.Errorf("%s %v: %d %q, want 400 with %q", path, c.params, r.status, r.body, c.want)
			}
		}
	}
	// On the Tempo port as on the query port.
	r := s.tempo.get(t, "/api/metrics/query_range", "q", `{ } | rate()`)
	if r.status != http.StatusOK || !json.Valid(r.body) {
		t.Errorf("Tempo port: %d %s", r.status, r.body)
	}
}
