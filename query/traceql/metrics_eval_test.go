package traceql

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/model"
)

// metricsBase is the start of the generated window, a whole minute.
const metricsBase = uint64(1_700_000_040) * uint64(time.Second)

// genMetricsTraces makes traces of 1-4 spans over 10 minutes from
// metricsBase: services svc-0..svc-2, a third of them errors, durations
// from 1 ms to 2 s; no span starts on a whole second.
func genMetricsTraces(seed uint64, n int) [][]*model.Span {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out [][]*model.Span
	for t := range n {
		tid := model.TraceID{0: byte(t >> 8), 1: byte(t), 15: 1}
		var tr []*model.Span
		for s := range 1 + rng.IntN(4) {
			svc := []string{"svc-0", "svc-1", "svc-2"}[rng.IntN(3)]
			start := metricsBase + uint64(rng.Int64N(int64(10*time.Minute)))
			if start%uint64(time.Second) == 0 {
				start++
			}
			dur := uint64(time.Millisecond) + uint64(rng.Int64N(int64(2*time.Second)))
			sp := &model.Span{
				TraceID: tid, SpanID: model.SpanID{0: byte(s + 1), 7: byte(t)},
				Name: "op", Kind: model.SpanKindServer, StartTime: start, EndTime: start + dur,
				Resource: &model.Resource{Attributes: []model.KeyValue{{Key: "service.name", Value: model.StringValue(svc)}}},
			}
			if s > 0 {
				sp.ParentSpanID = tr[0].SpanID
			}
			if rng.IntN(3) == 0 {
				sp.Status.Code = model.StatusError
			}
			tr = append(tr, sp)
		}
		out = append(out, tr)
	}
	return out
}

func evalMetrics(t *testing.T, q string, r MetricsRange, traces [][]*model.Span) []Series {
	t.Helper()
	pq, err := Parse(q)
	if err != nil {
		t.Fatalf("Parse(%q): %v", q, err)
	}
	ev, err := NewMetricsEvaluator(pq, r)
	if err != nil {
		t.Fatalf("NewMetricsEvaluator(%q): %v", q, err)
	}
	for _, tr := range traces {
		ev.Observe(tr)
	}
	return ev.Series()
}

// bucketOf is the interval (60 s steps from metricsBase) of a span, by
// its own reckoning: (t0, t0+60s] and so on.
func bucketOf(sp *model.Span) int {
	return int((sp.StartTime - metricsBase - 1) / uint64(time.Minute))
}

func allSpans(traces [][]*model.Span) []*model.Span {
	var out []*model.Span
	for _, tr := range traces {
		out = append(out, tr...)
	}
	return out
}

func labelOf(s Series, name string) (Static, bool) {
	for _, l := range s.Labels {
		if l.Name == name {
			return l.Value, true
		}
	}
	return Static{}, false
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(b)) }

var tenMinutes = MetricsRange{Start: metricsBase, End: metricsBase + uint64(10*time.Minute), Step: uint64(time.Minute)}

func TestMetricsRateByService(t *testing.T) {
	traces := genMetricsTraces(1, 2000)
	got := evalMetrics(t, `{ } | rate() by (resource.service.name)`, tenMinutes, traces)
	want := map[string][]float64{}
	for _, sp := range allSpans(traces) {
		svc := sp.ServiceName()
		if want[svc] == nil {
			want[svc] = make([]float64, 10)
		}
		want[svc][bucketOf(sp)]++
	}
	if len(got) != len(want) {
		t.Fatalf("got %d series, want %d", len(got), len(want))
	}
	for _, s := range got {
		v, ok := labelOf(s, "resource.service.name")
		if !ok || len(s.Labels) != 1 {
			t.Fatalf("series labels %v, want resource.service.name only", s.Labels)
		}
		if len(s.Values) != 10 {
			t.Fatalf("%d values, want 10", len(s.Values))
		}
		for i, c := range want[v.Str] {
			if !near(s.Values[i], c/60) {
				t.Errorf("%s interval %d: rate %v, want %v (%v spans / 60 s)", v.Str, i, s.Values[i], c/60, c)
			}
		}
	}
}

func TestMetricsCountErrorsAndRatio(t *testing.T) {
	traces := genMetricsTraces(2, 1500)
	errs, total := make([]float64, 10), make([]float64, 10)
	for _, sp := range allSpans(traces) {
		total[bucketOf(sp)]++
		if sp.Status.Code == model.StatusError {
			errs[bucketOf(sp)]++
		}
	}
	got := evalMetrics(t, `{ status = error } | count_over_time()`, tenMinutes, traces)
	if len(got) != 1 {
		t.Fatalf("got %d series, want 1", len(got))
	}
	if v, _ := labelOf(got[0], "__name__"); v.Str != "count_over_time" {
		t.Errorf("labels %v, want __name__=count_over_time", got[0].Labels)
	}
	if !slices.Equal(got[0].Values, errs) {
		t.Errorf("counts %v, want %v", got[0].Values, errs)
	}
	ratio := evalMetrics(t, `({ status = error } | rate()) / ({ } | rate())`, tenMinutes, traces)
	if len(ratio) != 1 || len(ratio[0].Labels) != 0 {
		t.Fatalf("ratio: %d series %v, want one without labels", len(ratio), ratio)
	}
	for i := range total {
		if !near(ratio[0].Values[i], errs[i]/total[i]) {
			t.Errorf("interval %d: error ratio %v, want %v", i, ratio[0].Values[i], errs[i]/total[i])
		}
	}
	times2 := evalMetrics(t, `({ status = error } | count_over_time()) * 2`, tenMinutes, traces)
	for i := range errs {
		if times2[0].Values[i] != 2*errs[i] {
			t.Errorf("interval %d: ×2 %v, want %v", i, times2[0].Values[i], 2*errs[i])
		}
	}
}

func TestMetricsOverTimeDurations(t *testing.T) {
	traces := genMetricsTraces(3, 1000)
	per := make([][]float64, 10)
	for _, sp := range allSpans(traces) {
		if sp.ServiceName() == "svc-1" {
			per[bucketOf(sp)] = append(per[bucketOf(sp)], float64(sp.Duration())/1e9)
		}
	}
	check := func(fn string, f func([]float64) float64) {
		got := evalMetrics(t, `{ resource.service.name = "svc-1" } | `+fn+`(duration)`, tenMinutes, traces)
		if len(got) != 1 {
			t.Fatalf("%s: %d series", fn, len(got))
		}
		for i, vals := range per {
			if !near(got[0].Values[i], f(vals)) {
				t.Errorf("%s interval %d: %v, want %v", fn, i, got[0].Values[i], f(vals))
			}
		}
	}
	sum := func(v []float64) float64 {
		var s float64
		for _, x := range v {
			s += x
		}
		return s
	}
	check("sum_over_time", sum)
	check("avg_over_time", func(v []float64) float64 { return sum(v) / float64(len(v)) })
	check("min_over_time", slices.Min[[]float64])
	check("max_over_time", slices.Max[[]float64])
}

func TestMetricsQuantiles(t *testing.T) {
	traces := genMetricsTraces(4, 3000)
	per := make([][]float64, 10)
	for _, sp := range allSpans(traces) {
		per[bucketOf(sp)] = append(per[bucketOf(sp)], float64(sp.Duration()))
	}
	got := evalMetrics(t, `{ } | quantile_over_time(duration, .5, .99)`, tenMinutes, traces)
	if len(got) != 2 {
		t.Fatalf("got %d series, want one per quantile", len(got))
	}
	for _, s := range got {
		p, ok := labelOf(s, "p")
		if !ok || p.Type != TypeFloat {
			t.Fatalf("series labels %v, want a float p", s.Labels)
		}
		for i, vals := range per {
			slices.Sort(vals)
			exact := vals[int(math.Ceil(p.Float*float64(len(vals))))-1] // nearest rank, ns
			hi := log2Bucket(exact)
			gotNs := s.Values[i] * 1e9
			if gotNs <= hi/2*(1-1e-9) || gotNs > hi*(1+1e-9) {
				t.Errorf("p%v interval %d: %v s, want within the power-of-two bucket (%v, %v] ns of the exact %v ns", p.Float, i, s.Values[i], hi/2, hi, exact)
			}
		}
	}
}

func TestMetricsHistogram(t *testing.T) {
	traces := genMetricsTraces(5, 800)
	want := map[float64][]float64{}
	for _, sp := range allSpans(traces) {
		b := log2Bucket(float64(sp.Duration())) / 1e9
		if want[b] == nil {
			want[b] = make([]float64, 10)
		}
		want[b][bucketOf(sp)]++
	}
	got := evalMetrics(t, `{ } | histogram_over_time(duration)`, tenMinutes, traces)
	if len(got) != len(want) {
		t.Fatalf("got %d bucket series, want %d", len(got), len(want))
	}
	for _, s := range got {
		b, ok := labelOf(s, "__bucket")
		if !ok {
			t.Fatalf("labels %v without __bucket", s.Labels)
		}
		if !slices.Equal(s.Values, want[b.Float]) {
			t.Errorf("bucket %v: %v, want %v", b.Float, s.Values, want[b.Float])
		}
	}
}

func TestMetricsTopKAndFilter(t *testing.T) {
	traces := genMetricsTraces(6, 1500)
	counts := map[string][]float64{}
	for _, sp := range allSpans(traces) {
		if counts[sp.ServiceName()] == nil {
			counts[sp.ServiceName()] = make([]float64, 10)
		}
		counts[sp.ServiceName()][bucketOf(sp)]++
	}
	got := evalMetrics(t, `{ } | count_over_time() by (resource.service.name) | topk(1)`, tenMinutes, traces)
	for i := range 10 {
		best, bestSvc := -1.0, ""
		for _, svc := range []string{"svc-0", "svc-1", "svc-2"} {
			if c := counts[svc][i]; c > best {
				best, bestSvc = c, svc
			}
		}
		var kept []string
		for _, s := range got {
			if !math.IsNaN(s.Values[i]) {
				v, _ := labelOf(s, "resource.service.name")
				kept = append(kept, v.Str)
				if s.Values[i] != best {
					t.Errorf("interval %d: kept %s=%v, want the highest %v", i, v.Str, s.Values[i], best)
				}
			}
		}
		if len(kept) != 1 {
			t.Errorf("interval %d: topk(1) kept %v, want one (%s)", i, kept, bestSvc)
		}
	}
	limit := counts["svc-0"][3]
	filtered := evalMetrics(t, `{ } | count_over_time() by (resource.service.name) > `+Static{Type: TypeInt, Int: int64(limit)}.String(), tenMinutes, traces)
	for _, s := range filtered {
		v, _ := labelOf(s, "resource.service.name")
		for i, x := range s.Values {
			c := counts[v.Str][i]
			if (c > limit) != !math.IsNaN(x) {
				t.Errorf("%s interval %d: %v kept=%v, want kept only when %v > %v", v.Str, i, x, !math.IsNaN(x), c, limit)
			}
		}
	}
}

func TestMetricsInstantAndEdges(t *testing.T) {
	traces := genMetricsTraces(7, 500)
	n := float64(len(allSpans(traces)))
	inst := tenMinutes
	inst.Instant = true
	got := evalMetrics(t, `{ } | rate()`, inst, traces)
	if len(got) != 1 || len(got[0].Values) != 1 || !near(got[0].Values[0], n/600) {
		t.Fatalf("instant rate: %v, want one value %v", got, n/600)
	}
	// A span on the window's start counts in the first interval, one
	// on an interval's end in that interval, one after the end nowhere.
	mk := func(ts uint64) []*model.Span {
		return []*model.Span{{TraceID: model.TraceID{1}, SpanID: model.SpanID{1}, StartTime: ts, EndTime: ts + 1}}
	}
	edge := evalMetrics(t, `{ } | count_over_time()`, tenMinutes, [][]*model.Span{
		mk(metricsBase), mk(metricsBase + uint64(time.Minute)), mk(metricsBase + uint64(10*time.Minute) + 1),
	})
	if want := []float64{2, 0, 0, 0, 0, 0, 0, 0, 0, 0}; len(edge) != 1 || !slices.Equal(edge[0].Values, want) {
		t.Errorf("edges: %v, want %v", edge, want)
	}
	// Exemplars: at most two an interval and the total asked for.
	ex := tenMinutes
	ex.Exemplars = 7
	withEx := evalMetrics(t, `{ } | rate()`, ex, traces)
	if len(withEx[0].Exemplars) != 7 {
		t.Errorf("%d exemplars, want 7", len(withEx[0].Exemplars))
	}
}

func TestMetricsEvaluatorRefuses(t *testing.T) {
	for _, c := range []struct {
		q    string
		r    MetricsRange
		want string
	}{
		{`{ }`, tenMinutes, "not a metrics query"},
		{`{ } | compare({ status = error })`, tenMinutes, "compare() is not supported"},
		{`{ } | rate()`, MetricsRange{Start: metricsBase, End: metricsBase + uint64(24*time.Hour), Step: uint64(time.Second)}, "more than the maximum of 11000"},
		{`{ } | rate()`, MetricsRange{Start: metricsBase, End: metricsBase}, "after its start"},
	} {
		q, err := Parse(c.q)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewMetricsEvaluator(q, c.r); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.q, err, c.want)
		}
	}
}
