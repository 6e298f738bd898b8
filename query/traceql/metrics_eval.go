package traceql

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/scrytrace/scry/model"
)

// This file evaluates metrics queries: the spans each metrics query's
// pipeline answers (as Match finds them), counted per time interval (step)
// and per series of the by() values, as Tempo's query_range does.
//
// Semantics, following Tempo (pkg/traceql/engine_metrics.go):
//   - The range [Start, End] is widened to whole steps: the first interval
//     starts at Start rounded down to a multiple of Step, the last ends at
//     End rounded up. Intervals are right-closed, (t, t+Step], and a
//     sample's timestamp is its interval's end. Only spans that started in
//     [Start, End] are counted.
//   - rate() is the count of spans per second of step; count_over_time()
//     the count; sum/min/max/avg_over_time(f) over the values of f, numbers
//     as they are and durations in seconds; spans without a numeric f are
//     not counted.
//   - quantile_over_time(f, q...) and histogram_over_time(f) put values in
//     power-of-two buckets (durations bucketed in nanoseconds, then shown
//     in seconds); a quantile is interpolated inside the bucket that holds
//     it, so it is within a factor of two of the exact value. Each quantile
//     is a series of its own with the label p, each bucket one with the
//     label __bucket (its upper bound).
//   - A series without by() is labelled __name__ with the function's name
//     (rate() → {__name__="rate"}); with by() it is labelled with each
//     field as written (resource.service.name) and its value; spans
//     without the field get no label for it.
//   - count and rate are 0 in an interval of a series where no span was
//     seen; the others have no sample there (NaN).
//   - Arithmetic joins series by their labels other than __name__ (which
//     it drops); a series without a partner on the other side is dropped.
//     topk(k)/bottomk(k) keep, per interval, the k highest (lowest)
//     samples; a comparison (> 10) keeps the samples that meet it
//     (durations compared in seconds).

// MaxMetricsIntervals is the most intervals a metrics query may ask for
// ((End-Start)/Step), as Prometheus limits a range query to 11,000 points.
const MaxMetricsIntervals = 11000

// exemplarsPerInterval is the most exemplars a series keeps per interval,
// as Tempo (maxExemplarsPerBucket).
const exemplarsPerInterval = 2

// MetricsRange is what a metrics query is evaluated over, in Unix ns.
type MetricsRange struct {
	Start, End, Step uint64
	// Instant answers one value per series over the whole range.
	Instant bool
	// Exemplars is the most exemplars to keep in all; 0 keeps none.
	Exemplars int
}

// Label is one label of a series: a name and a typed value.
type Label struct {
	Name  string
	Value Static
}

// Exemplar is one span shown on a series: its trace and span ID (labels
// trace:id and span:id), the value it was counted with (seconds for a
// duration; rate() and count_over_time() show the span's duration), and
// its start in Unix ms.
type Exemplar struct {
	Labels      []Label
	Value       float64
	TimestampMs int64
}

// Series is one time series of a metrics answer.
type Series struct {
	Labels []Label
	// Values holds one value per interval, oldest first; NaN where the
	// series has no value.
	Values    []float64
	Exemplars []Exemplar
}

// ErrNotMetrics is returned by NewMetricsEvaluator for a query that does
// not end in a metrics function.
var ErrNotMetrics = errors.New("not a metrics query")

// MetricsEvaluator aggregates the spans of the traces it is shown into
// the series of a metrics query. Observe is safe for concurrent use.
type MetricsEvaluator struct {
	q        *Query
	r        MetricsRange
	start    uint64 // aligned to the step
	step     uint64
	n        int
	aggs     []*pipelineAgg
	mu       sync.Mutex
	exemplar int // exemplars kept so far
}

// pipelineAgg is one metrics query's pipeline and its series.
type pipelineAgg struct {
	pl     *Pipeline
	agg    *MetricsAggregate
	then   []Stage // topk, bottomk and filters after the function
	series map[string]*seriesAcc
}

// seriesAcc accumulates one series (one by() value) per interval.
type seriesAcc struct {
	labels   []Label
	count    []float64
	sum      []float64
	min, max []float64
	n        []float64             // values counted for sum/min/max/avg
	hist     map[float64][]float64 // bucket upper bound → count per interval
	ex       []Exemplar
	exPer    []uint8
}

// NewMetricsEvaluator checks q and r and returns an evaluator. compare()
// is not supported.
func NewMetricsEvaluator(q *Query, r MetricsRange) (*MetricsEvaluator, error) {
	if !q.IsMetrics() {
		return nil, ErrNotMetrics
	}
	if r.End <= r.Start {
		return nil, fmt.Errorf("the end of the range must be after its start")
	}
	e := &MetricsEvaluator{q: q, r: r}
	if r.Instant {
		e.start, e.step, e.n = r.Start, r.End-r.Start, 1
	} else {
		if r.Step == 0 {
			return nil, fmt.Errorf("the step must be positive")
		}
		e.step = r.Step
		e.start = r.Start - r.Start%r.Step
		end := r.End
		if m := end % r.Step; m != 0 {
			end += r.Step - m
		}
		n := (end - e.start) / r.Step
		if n > MaxMetricsIntervals {
			return nil, fmt.Errorf("the range holds %d steps, more than the maximum of %d: use a longer step or a shorter range", n, MaxMetricsIntervals)
		}
		e.n = max(int(n), 1)
	}
	for _, pl := range q.Pipelines() {
		pa := &pipelineAgg{pl: pl, series: map[string]*seriesAcc{}}
		for i, st := range pl.Stages {
			if m, ok := st.(*MetricsAggregate); ok {
				pa.agg, pa.then = m, pl.Stages[i+1:]
				break
			}
		}
		if pa.agg == nil {
			return nil, ErrNotMetrics
		}
		if pa.agg.Func == MetricsCompare {
			return nil, fmt.Errorf("compare() is not supported")
		}
		e.aggs = append(e.aggs, pa)
	}
	return e, nil
}

// Intervals is the number of values of each series.
func (e *MetricsEvaluator) Intervals() int { return e.n }

// TimestampOf is the timestamp (Unix ns) of interval i: its end.
func (e *MetricsEvaluator) TimestampOf(i int) uint64 {
	if e.r.Instant {
		return e.r.End
	}
	return e.start + uint64(i+1)*e.step
}

// interval is the interval of a span that started at ts, or -1.
func (e *MetricsEvaluator) interval(ts uint64) int {
	if ts < e.r.Start || ts > e.r.End {
		return -1
	}
	if e.r.Instant || ts <= e.start {
		return 0
	}
	off := ts - e.start
	i := off / e.step
	if i*e.step == off {
		i--
	}
	return min(int(i), e.n-1)
}

// observation is one span counted in one series.
type observation struct {
	agg      int
	key      string
	labels   []Label
	interval int
	value    float64 // NaN: no numeric value
	bucket   float64
	span     *model.Span
}

// Observe counts the spans of one trace that the query's metrics
// pipelines answer.
func (e *MetricsEvaluator) Observe(trace []*model.Span) {
	if len(trace) == 0 {
		return
	}
	t := newTraceCtx(e.q, trace)
	all := make([]int, len(trace))
	for i := range all {
		all[i] = i
	}
	var obs []observation
	for ai, pa := range e.aggs {
		sets := t.pipeline(pa.pl, []spanset{{idx: all}})
		var seen map[int]bool
		if len(sets) > 1 {
			seen = map[int]bool{}
		}
		for _, s := range sets {
			for _, i := range s.idx {
				if seen != nil {
					if seen[i] {
						continue
					}
					seen[i] = true
				}
				sp := trace[i]
				iv := e.interval(sp.StartTime)
				if iv < 0 {
					continue
				}
				o := observation{agg: ai, interval: iv, value: math.NaN(), span: sp}
				en := t.firstEnv(i)
				o.labels, o.key = t.byLabels(pa.agg, en)
				if pa.agg.Field != nil {
					v := t.eval(pa.agg.Field, en)
					if v.isArr || !v.isNumber() {
						continue
					}
					o.value, o.bucket = metricValue(v.Static)
				}
				obs = append(obs, o)
			}
		}
	}
	if len(obs) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, o := range obs {
		e.add(o)
	}
}

// byLabels are the labels of the series a span goes to, and their key.
func (t *traceCtx) byLabels(m *MetricsAggregate, en env) ([]Label, string) {
	if len(m.By) == 0 {
		return nil, ""
	}
	labels := make([]Label, 0, len(m.By))
	var key strings.Builder
	for _, f := range m.By {
		v := t.eval(f, en).static()
		key.WriteByte(byte(v.Type))
		if v.Type == TypeString {
			key.WriteString(v.Str) // cheaper than quoting; the type byte and NUL keep keys apart
		} else {
			key.WriteString(v.String())
		}
		key.WriteByte(0)
		if v.Type != TypeNil {
			labels = append(labels, Label{Name: f.String(), Value: v})
		}
	}
	return labels, key.String()
}

// metricValue is a numeric value as metrics show it (durations in
// seconds) and its power-of-two bucket in the same unit.
func metricValue(s Static) (float64, float64) {
	if s.Type == TypeDuration {
		ns := float64(s.Duration)
		return ns / 1e9, log2Bucket(ns) / 1e9
	}
	f := floatOf(s)
	return f, log2Bucket(f)
}

// log2Bucket is the smallest power of two at least v (0 for v <= 0).
func log2Bucket(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return 0
	}
	_, exp := math.Frexp(v) // v = frac × 2^exp, frac in [0.5, 1)
	b := math.Ldexp(1, exp)
	if b/2 == v {
		return v
	}
	return b
}

func (e *MetricsEvaluator) add(o observation) {
	pa := e.aggs[o.agg]
	s := pa.series[o.key]
	if s == nil {
		s = e.newSeries(pa.agg, o.labels)
		pa.series[o.key] = s
	}
	i := o.interval
	s.count[i]++
	if !math.IsNaN(o.value) {
		switch pa.agg.Func {
		case MetricsQuantileOverTime, MetricsHistogramOverTime:
			h := s.hist[o.bucket]
			if h == nil {
				h = make([]float64, e.n)
				s.hist[o.bucket] = h
			}
			h[i]++
		default:
			if s.n[i] == 0 {
				s.min[i], s.max[i] = o.value, o.value
			} else {
				s.min[i], s.max[i] = min(s.min[i], o.value), max(s.max[i], o.value)
			}
			s.n[i]++
			s.sum[i] += o.value
		}
	}
	if e.exemplar < e.r.Exemplars && s.exPer[i] < exemplarsPerInterval {
		e.exemplar++
		s.exPer[i]++
		v := o.value
		if math.IsNaN(v) {
			v = float64(o.span.Duration()) / 1e9
		}
		s.ex = append(s.ex, Exemplar{
			Labels: []Label{
				{Name: "trace:id", Value: Static{Type: TypeString, Str: o.span.TraceID.String()}},
				{Name: "span:id", Value: Static{Type: TypeString, Str: o.span.SpanID.String()}},
			},
			Value:       v,
			TimestampMs: int64(o.span.StartTime / 1e6),
		})
	}
}

func (e *MetricsEvaluator) newSeries(m *MetricsAggregate, labels []Label) *seriesAcc {
	s := &seriesAcc{labels: labels, count: make([]float64, e.n), exPer: make([]uint8, e.n)}
	switch m.Func {
	case MetricsQuantileOverTime, MetricsHistogramOverTime:
		s.hist = map[float64][]float64{}
	case MetricsRate, MetricsCountOverTime:
	default:
		s.sum, s.min, s.max, s.n = make([]float64, e.n), make([]float64, e.n), make([]float64, e.n), make([]float64, e.n)
	}
	return s
}

// Series returns the query's answer, series sorted by their labels.
func (e *MetricsEvaluator) Series() []Series {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out seriesSet
	if e.q.Math == nil {
		out = e.pipelineSeries(e.aggs[0])
	} else {
		next := 0
		v := e.math(e.q.Math.Expr, &next)
		out = v.set
		out = applyStages(out, e.q.Math.Then)
	}
	list := make([]Series, 0, len(out))
	for _, s := range out {
		list = append(list, s)
	}
	slices.SortFunc(list, func(a, b Series) int { return strings.Compare(labelsKey(a.Labels, false), labelsKey(b.Labels, false)) })
	return list
}

// seriesSet is series by the key of their labels.
type seriesSet map[string]Series

func labelsKey(ls []Label, dropName bool) string {
	var b strings.Builder
	for _, l := range ls {
		if dropName && l.Name == "__name__" {
			continue
		}
		b.WriteString(l.Name)
		b.WriteByte('=')
		b.WriteString(l.Value.String())
		b.WriteByte(0)
	}
	return b.String()
}

// pipelineSeries is the series of one metrics query, with its topk,
// bottomk and filters applied.
func (e *MetricsEvaluator) pipelineSeries(pa *pipelineAgg) seriesSet {
	out := seriesSet{}
	put := func(s Series) { out[labelsKey(s.Labels, false)] = s }
	secs := float64(e.step) / 1e9
	for _, acc := range pa.series {
		base := acc.labels
		if len(base) == 0 {
			base = []Label{{Name: "__name__", Value: Static{Type: TypeString, Str: pa.agg.Func.String()}}}
		}
		vals := make([]float64, e.n)
		switch pa.agg.Func {
		case MetricsRate:
			for i, c := range acc.count {
				vals[i] = c / secs
			}
		case MetricsCountOverTime:
			copy(vals, acc.count)
		case MetricsSumOverTime, MetricsMinOverTime, MetricsMaxOverTime, MetricsAvgOverTime:
			for i := range vals {
				switch {
				case acc.n[i] == 0:
					vals[i] = math.NaN()
				case pa.agg.Func == MetricsSumOverTime:
					vals[i] = acc.sum[i]
				case pa.agg.Func == MetricsMinOverTime:
					vals[i] = acc.min[i]
				case pa.agg.Func == MetricsMaxOverTime:
					vals[i] = acc.max[i]
				default:
					vals[i] = acc.sum[i] / acc.n[i]
				}
			}
		case MetricsQuantileOverTime:
			buckets := make([]float64, 0, len(acc.hist))
			for b := range acc.hist {
				buckets = append(buckets, b)
			}
			slices.Sort(buckets)
			for _, q := range pa.agg.Quantiles {
				qv := make([]float64, e.n)
				for i := range qv {
					qv[i] = quantile(q, buckets, acc.hist, i)
				}
				labels := append(slices.Clip(base), Label{Name: "p", Value: Static{Type: TypeFloat, Float: q}})
				put(Series{Labels: labels, Values: qv, Exemplars: acc.ex})
			}
			continue
		case MetricsHistogramOverTime:
			for b, counts := range acc.hist {
				labels := append(slices.Clip(base), Label{Name: "__bucket", Value: Static{Type: TypeFloat, Float: b}})
				put(Series{Labels: labels, Values: slices.Clone(counts)})
			}
			continue
		}
		put(Series{Labels: base, Values: vals, Exemplars: acc.ex})
	}
	return applyStages(out, pa.then)
}

// quantile interpolates quantile q of interval i inside the bucket that
// holds it (a bucket b holds the values in (b/2, b]).
func quantile(q float64, buckets []float64, hist map[float64][]float64, i int) float64 {
	var total float64
	for _, b := range buckets {
		total += hist[b][i]
	}
	if total == 0 {
		return math.NaN()
	}
	rank := max(q*total, 1)
	var cum float64
	for _, b := range buckets {
		c := hist[b][i]
		if c == 0 {
			continue
		}
		if cum+c >= rank {
			lo := b / 2
			return lo + (b-lo)*(rank-cum)/c
		}
		cum += c
	}
	return buckets[len(buckets)-1]
}

// applyStages applies topk, bottomk and comparisons in order.
func applyStages(set seriesSet, stages []Stage) seriesSet {
	for _, st := range stages {
		switch st := st.(type) {
		case *TopK:
			set = topK(set, st)
		case *MetricsFilter:
			limit := filterValue(st.Value)
			for _, s := range set {
				for i, v := range s.Values {
					if !math.IsNaN(v) && !compareFloat(st.Op, v, limit) {
						s.Values[i] = math.NaN()
					}
				}
			}
		}
	}
	return set
}

func filterValue(s Static) float64 {
	if s.Type == TypeDuration {
		return float64(s.Duration) / 1e9
	}
	return floatOf(s)
}

func compareFloat(op Op, a, b float64) bool {
	switch op {
	case OpEq:
		return a == b
	case OpNeq:
		return a != b
	case OpGt:
		return a > b
	case OpGte:
		return a >= b
	case OpLt:
		return a < b
	case OpLte:
		return a <= b
	}
	return false
}

// topK keeps, per interval, the k highest (bottomk: lowest) samples; ties
// go to the series whose labels sort first.
func topK(set seriesSet, t *TopK) seriesSet {
	keys := make([]string, 0, len(set))
	n := 0
	for k, s := range set {
		keys = append(keys, k)
		n = max(n, len(s.Values))
	}
	slices.Sort(keys)
	keep := make(map[string][]bool, len(set))
	for _, k := range keys {
		keep[k] = make([]bool, n)
	}
	for i := range n {
		var cand []string
		for _, k := range keys {
			if v := set[k].Values[i]; !math.IsNaN(v) {
				cand = append(cand, k)
			}
		}
		slices.SortStableFunc(cand, func(a, b string) int {
			x, y := set[a].Values[i], set[b].Values[i]
			if t.Bottom {
				x, y = y, x
			}
			switch {
			case x > y:
				return -1
			case x < y:
				return 1
			}
			return 0
		})
		for _, k := range cand[:min(len(cand), t.K)] {
			keep[k][i] = true
		}
	}
	out := seriesSet{}
	for k, s := range set {
		kept := false
		for i := range s.Values {
			if !keep[k][i] {
				s.Values[i] = math.NaN()
			} else {
				kept = true
			}
		}
		if kept {
			out[k] = s
		}
	}
	return out
}

// mathVal is an operand of metrics arithmetic: a number or series.
type mathVal struct {
	scalar   float64
	isScalar bool
	set      seriesSet
}

// math evaluates arithmetic; next is the index of the next metrics
// query's pipeline, left to right as Pipelines lists them.
func (e *MetricsEvaluator) math(x MetricsExpr, next *int) mathVal {
	switch x := x.(type) {
	case Static:
		return mathVal{scalar: floatOf(x), isScalar: true}
	case *MetricsQuery:
		pa := e.aggs[*next]
		*next++
		return mathVal{set: e.pipelineSeries(pa)}
	case *MetricsBinary:
		l, r := e.math(x.Left, next), e.math(x.Right, next)
		return binaryMath(x.Op, l, r)
	}
	return mathVal{set: seriesSet{}}
}

func binaryMath(op Op, l, r mathVal) mathVal {
	f := func(a, b float64) float64 {
		switch op {
		case OpAdd:
			return a + b
		case OpSub:
			return a - b
		case OpMul:
			return a * b
		case OpDiv:
			return a / b
		}
		return math.NaN()
	}
	if l.isScalar && r.isScalar {
		return mathVal{scalar: f(l.scalar, r.scalar), isScalar: true}
	}
	out := seriesSet{}
	strip := func(ls []Label) []Label {
		return slices.DeleteFunc(slices.Clone(ls), func(l Label) bool { return l.Name == "__name__" })
	}
	switch {
	case l.isScalar:
		for _, s := range r.set {
			vals := make([]float64, len(s.Values))
			for i, v := range s.Values {
				vals[i] = f(l.scalar, v)
			}
			ls := strip(s.Labels)
			out[labelsKey(ls, false)] = Series{Labels: ls, Values: vals}
		}
	case r.isScalar:
		for _, s := range l.set {
			vals := make([]float64, len(s.Values))
			for i, v := range s.Values {
				vals[i] = f(v, r.scalar)
			}
			ls := strip(s.Labels)
			out[labelsKey(ls, false)] = Series{Labels: ls, Values: vals, Exemplars: s.Exemplars}
		}
	default:
		right := map[string]Series{}
		for _, s := range r.set {
			right[labelsKey(s.Labels, true)] = s
		}
		for _, s := range l.set {
			k := labelsKey(s.Labels, true)
			o, ok := right[k]
			if !ok {
				continue
			}
			vals := make([]float64, len(s.Values))
			for i, v := range s.Values {
				vals[i] = f(v, o.Values[i])
			}
			ls := strip(s.Labels)
			out[labelsKey(ls, false)] = Series{Labels: ls, Values: vals, Exemplars: s.Exemplars}
		}
	}
	return mathVal{set: out}
}
