package query

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// Jaeger's metrics API (the Monitor tab): /api/metrics/calls, errors,
// latencies and minstep, over the RED series collector/red writes. The
// answers are Jaeger's MetricFamily in its JSON form: one metric per
// service (per service and operation with groupByOperation), labelled
// service_name (and operation), a point per step from endTs-lookback to
// endTs. At time t a point covers the spans of the steps that ended in
// (t-ratePer, t]: calls are per second over ratePer, errors the fraction of
// those calls with status code error, latencies the quantile in ms — what
// Jaeger's Prometheus queries compute from the spanmetrics connector.

// Defaults of the metrics parameters, Jaeger's.
const (
	metricsDefaultLookback = time.Hour
	metricsDefaultStep     = 5 * time.Second
	metricsDefaultRatePer  = 10 * time.Minute
	// metricsMaxPoints bounds the points of one series, as Prometheus
	// bounds a range query (11000).
	metricsMaxPoints = 11000
)

// DefaultREDStep is the step the RED series are written at unless
// Config.REDStep says otherwise (collector/red.DefaultStep).
const DefaultREDStep = 15 * time.Second

const (
	paramQuantile         = "quantile"
	paramGroupByOperation = "groupByOperation"
	paramStep             = "step"
	paramRatePer          = "ratePer"
)

type metricsQuery struct {
	services []string
	byOp     bool
	kinds    []model.SpanKind
	end      time.Time
	lookback time.Duration
	step     time.Duration
	ratePer  time.Duration
	quantile float64
}

func parseMetricsMillis(v url.Values, name string, def time.Duration) (time.Duration, error) {
	s := v.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, badParam(name, "%q is not a positive number of milliseconds", s)
	}
	if n > int64(math.MaxInt64/time.Millisecond) {
		return 0, badParam(name, "%q milliseconds is too long", s)
	}
	return time.Duration(n) * time.Millisecond, nil
}

func (h *handler) parseMetricsQuery(v url.Values, needQuantile bool) (metricsQuery, error) {
	var q metricsQuery
	q.services = v[paramService]
	if len(q.services) == 0 {
		return q, badParam(paramService, "please provide at least one service name")
	}
	for _, s := range q.services {
		if s == "" {
			return q, badParam(paramService, "service name is empty")
		}
	}
	if s := v.Get(paramGroupByOperation); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return q, badParam(paramGroupByOperation, "%q is not true or false", s)
		}
		q.byOp = b
	}
	kinds := v[paramSpanKind]
	if len(kinds) == 0 {
		kinds = []string{"server"}
	}
	for _, k := range kinds {
		if k == "unspecified" {
			q.kinds = append(q.kinds, model.SpanKindUnspecified)
			continue
		}
		kind, err := model.ParseSpanKind(k)
		if err != nil || k == "" {
			return q, badParam(paramSpanKind, "%q is not one of unspecified, internal, server, client, producer, consumer", k)
		}
		q.kinds = append(q.kinds, kind)
	}
	q.end = h.clock.Now()
	if s := v.Get(paramEndTs); s != "" {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil || ms < 0 {
			return q, badParam(paramEndTs, "%q is not a time in Unix milliseconds", s)
		}
		q.end = time.UnixMilli(ms)
	}
	var err error
	if q.lookback, err = parseMetricsMillis(v, paramLookback, metricsDefaultLookback); err != nil {
		return q, err
	}
	if q.step, err = parseMetricsMillis(v, paramStep, metricsDefaultStep); err != nil {
		return q, err
	}
	if q.ratePer, err = parseMetricsMillis(v, paramRatePer, metricsDefaultRatePer); err != nil {
		return q, err
	}
	if q.lookback > q.step*metricsMaxPoints {
		return q, badParam(paramStep, "lookback %s at step %s makes more than %d points; use a larger step", q.lookback, q.step, metricsMaxPoints)
	}
	if q.end.UnixNano() < int64(q.lookback+q.ratePer) {
		return q, badParam(paramLookback, "lookback %s and ratePer %s reach before 1970", q.lookback, q.ratePer)
	}
	if needQuantile {
		s := v.Get(paramQuantile)
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || !(f > 0 && f <= 1) {
			return q, badParam(paramQuantile, "%q is not a quantile in (0, 1], such as 0.95", s)
		}
		q.quantile = f
	}
	return q, nil
}

type metricKind int

const (
	metricLatencies metricKind = iota
	metricCalls
	metricErrors
)

// Jaeger's MetricFamily, as its JSON.
type metricFamily struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Help    string   `json:"help"`
	Metrics []metric `json:"metrics"`
}

type metric struct {
	Labels       []metricLabel `json:"labels"`
	MetricPoints []metricPoint `json:"metricPoints"`
}

type metricLabel struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type metricPoint struct {
	GaugeValue gaugeValue `json:"gaugeValue"`
	Timestamp  string     `json:"timestamp"`
}

type gaugeValue struct {
	DoubleValue float64 `json:"doubleValue"`
}

func (h *handler) metricsDisabled(w http.ResponseWriter, r *http.Request) bool {
	if h.cfg.RED != nil {
		return false
	}
	h.jaegerError(w, r, http.StatusNotImplemented,
		errors.New("RED metrics are not available here: they are computed at ingest and read from the embedded store (scry, scry-collector)"))
	return true
}

func (h *handler) metricsLatencies(w http.ResponseWriter, r *http.Request) {
	h.metrics(w, r, metricLatencies)
}

func (h *handler) metricsCalls(w http.ResponseWriter, r *http.Request) { h.metrics(w, r, metricCalls) }

func (h *handler) metricsErrors(w http.ResponseWriter, r *http.Request) {
	h.metrics(w, r, metricErrors)
}

func (h *handler) metricsMinStep(w http.ResponseWriter, r *http.Request) {
	if h.metricsDisabled(w, r) {
		return
	}
	step := h.cfg.REDStep
	if step <= 0 {
		step = DefaultREDStep
	}
	h.jaegerOK(w, r, step.Milliseconds(), 0, nil)
}

func (h *handler) metrics(w http.ResponseWriter, r *http.Request, kind metricKind) {
	if h.metricsDisabled(w, r) {
		return
	}
	q, err := h.parseMetricsQuery(r.URL.Query(), kind == metricLatencies)
	if err != nil {
		h.jaegerError(w, r, http.StatusBadRequest, err)
		return
	}
	fam, err := h.computeMetrics(r, q, kind)
	if err != nil {
		h.jaegerFail(w, r, err)
		return
	}
	h.writeJSON(w, r, http.StatusOK, fam)
}

func (h *handler) computeMetrics(r *http.Request, q metricsQuery, kind metricKind) (*metricFamily, error) {
	end := uint64(q.end.UnixNano())
	first := end - uint64(q.lookback)
	window := uint64(q.ratePer)
	pts, err := h.cfg.RED.ReadRED(r.Context(), storage.REDQuery{
		Services: q.services, Kinds: q.kinds,
		// A point counts at t when it ended in (t-ratePer, t]; points
		// are at most a roll-up (5 min) long.
		Start:   first - min(first, window+uint64(time.Hour)),
		End:     end,
		MaxStep: uint64(min(q.step, q.ratePer)),
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read RED metrics: %w", err)
	}
	type gkey struct{ svc, op string }
	groups := map[gkey][]*storage.REDPoint{}
	for i := range pts {
		p := &pts[i]
		k := gkey{svc: p.Series.Service}
		if q.byOp {
			k.op = p.Series.Operation
		}
		groups[k] = append(groups[k], p)
	}
	fam := &metricFamily{Type: "GAUGE", Metrics: []metric{}}
	by := "service"
	prefix := "service_"
	if q.byOp {
		by, prefix = "service & operation", "service_operation_"
	}
	switch kind {
	case metricLatencies:
		fam.Name, fam.Help = prefix+"latencies", fmt.Sprintf("%.2fth quantile latency, grouped by %s", q.quantile, by)
	case metricCalls:
		fam.Name, fam.Help = prefix+"call_rate", "calls/sec, grouped by "+by
	case metricErrors:
		fam.Name, fam.Help = prefix+"error_rate", "error rate, computed as a fraction of errors/sec over calls/sec, grouped by "+by
	}
	secs := q.ratePer.Seconds()
	for k, g := range groups {
		slices.SortFunc(g, func(a, b *storage.REDPoint) int { return cmp.Compare(a.Start+a.Step, b.Start+b.Step) })
		m := metric{Labels: []metricLabel{{Name: "service_name", Value: k.svc}}, MetricPoints: []metricPoint{}}
		if q.byOp {
			m.Labels = append([]metricLabel{{Name: "operation", Value: k.op}}, m.Labels...)
		}
		// Slide (t-window, t] over the points sorted by end: lo is the
		// first point in the window, hi the first after it.
		var calls, errs uint64
		var hist storage.Histogram
		lo, hi := 0, 0
		for t := first; t <= end; t += uint64(q.step) {
			for hi < len(g) && g[hi].Start+g[hi].Step <= t {
				calls += g[hi].Calls
				errs += g[hi].Errors
				if kind == metricLatencies {
					hist.Merge(&g[hi].Latency)
				}
				hi++
			}
			for lo < hi && g[lo].Start+g[lo].Step+window <= t {
				calls -= g[lo].Calls
				errs -= g[lo].Errors
				if kind == metricLatencies {
					hist.Sub(&g[lo].Latency)
				}
				lo++
			}
			var v float64
			switch kind {
			case metricCalls:
				if hi == 0 {
					continue // no data yet: Prometheus has no point
				}
				v = float64(calls) / secs
			case metricErrors:
				if calls == 0 {
					continue
				}
				v = float64(errs) / float64(calls)
			case metricLatencies:
				if calls == 0 {
					continue
				}
				v = hist.Quantile(q.quantile) / 1e6
			}
			m.MetricPoints = append(m.MetricPoints, metricPoint{
				GaugeValue: gaugeValue{DoubleValue: v},
				Timestamp:  time.Unix(0, int64(t)).UTC().Format(time.RFC3339Nano),
			})
		}
		fam.Metrics = append(fam.Metrics, m)
	}
	slices.SortFunc(fam.Metrics, func(a, b metric) int {
		for i := range min(len(a.Labels), len(b.Labels)) {
			if c := cmp.Compare(a.Labels[i].Value, b.Labels[i].Value); c != 0 {
				return c
			}
		}
		return 0
	})
	return fam, nil
}
