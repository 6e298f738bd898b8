package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/query/traceql"
	"github.com/scrytrace/scry/storage"
)

// This file serves TraceQL metrics: GET /api/metrics/query_range (series
// of values per step) and GET /api/metrics/query (one value per series
// over the range), as Tempo's pkg/api/http.go reads them and in the JSON
// of Tempo's QueryRangeResponse and QueryInstantResponse.
//
// The traces with a span that started in [start, end] and meets what the
// query's filters push to the store (tempo_pushdown.go) are fetched whole,
// newest first, and each is evaluated by traceql.MetricsEvaluator, which
// counts the spans its metrics pipelines answer (see metrics_eval.go for
// the semantics). At most TempoMetricsMaxTraces traces are read: past it
// the answer says "status": "PARTIAL" with a message saying how many
// traces were counted, as Tempo marks an answer cut short.

// TempoMetricsMaxTraces is the most traces one metrics request reads.
// Each is fetched and evaluated whole; at the reference workload (10
// spans a trace) this is 1M spans, a few seconds of reading on 2 cores,
// and the series' memory stays bounded. Tempo bounds a metrics request
// likewise (by duration and series).
const TempoMetricsMaxTraces = 100_000

// tempoMetricsMaxTraces is TempoMetricsMaxTraces; tests lower it.
var tempoMetricsMaxTraces = TempoMetricsMaxTraces

// tempoMetricsMaxExemplars caps the exemplars one request may ask for.
const tempoMetricsMaxExemplars = 10_000

// tempoDefaultSince is the range of a request without start, as Tempo's
// default "since".
const tempoDefaultSince = time.Hour

// Tempo's metrics JSON (pkg/tempopb/tempo.proto) as gogo jsonpb writes
// it: int64 as strings, labels as OTLP KeyValues.
type (
	tempoQueryRangeResponse struct {
		Series  []tempoTimeSeries  `json:"series"`
		Metrics tempoSearchMetrics `json:"metrics"`
		Status  string             `json:"status,omitempty"`
		Message string             `json:"message,omitempty"`
	}
	tempoTimeSeries struct {
		Labels    []json.RawMessage `json:"labels"`
		Samples   []tempoSample     `json:"samples"`
		Exemplars []tempoExemplar   `json:"exemplars,omitempty"`
	}
	tempoSample struct {
		TimestampMs string  `json:"timestampMs"`
		Value       float64 `json:"value"`
	}
	tempoExemplar struct {
		Labels      []json.RawMessage `json:"labels"`
		Value       float64           `json:"value"`
		TimestampMs string            `json:"timestampMs"`
	}
	tempoQueryInstantResponse struct {
		Series  []tempoInstantSeries `json:"series"`
		Metrics tempoSearchMetrics   `json:"metrics"`
		Status  string               `json:"status,omitempty"`
		Message string               `json:"message,omitempty"`
	}
	tempoInstantSeries struct {
		Labels []json.RawMessage `json:"labels"`
		Value  float64           `json:"value"`
	}
)

// tempoMetricsReq is a parsed metrics request.
type tempoMetricsReq struct {
	query *traceql.Query
	rng   traceql.MetricsRange
	conds spanConds
}

func (h *handler) tempoMetricsRange(w http.ResponseWriter, r *http.Request) {
	h.tempoMetrics(w, r, false)
}

func (h *handler) tempoMetricsInstant(w http.ResponseWriter, r *http.Request) {
	h.tempoMetrics(w, r, true)
}

func (h *handler) tempoMetrics(w http.ResponseWriter, r *http.Request, instant bool) {
	req, err := h.parseTempoMetrics(r.URL.Query(), instant)
	if err != nil {
		h.tempoFail(w, r, err)
		return
	}
	ev, err := traceql.NewMetricsEvaluator(req.query, req.rng)
	if err != nil {
		h.tempoFail(w, r, badTempo("invalid TraceQL metrics query: %v", err))
		return
	}
	stats, err := h.runTempoMetrics(r.Context(), req, ev)
	if err != nil {
		h.tempoFail(w, r, err)
		return
	}
	series := ev.Series()
	if instant {
		resp := tempoQueryInstantResponse{Series: []tempoInstantSeries{}, Metrics: stats.metrics, Status: stats.status, Message: stats.message}
		for _, s := range series {
			if v := s.Values[0]; finite(v) {
				resp.Series = append(resp.Series, tempoInstantSeries{Labels: labelsJSON(s.Labels), Value: v})
			}
		}
		h.writeJSON(w, r, http.StatusOK, resp)
		return
	}
	resp := tempoQueryRangeResponse{Series: []tempoTimeSeries{}, Metrics: stats.metrics, Status: stats.status, Message: stats.message}
	for _, s := range series {
		ts := tempoTimeSeries{Labels: labelsJSON(s.Labels), Samples: []tempoSample{}}
		for i, v := range s.Values {
			if finite(v) { // JSON has no NaN or infinity; Tempo leaves NaN out too
				ms := int64(ev.TimestampOf(i) / uint64(time.Millisecond))
				ts.Samples = append(ts.Samples, tempoSample{TimestampMs: strconv.FormatInt(ms, 10), Value: v})
			}
		}
		if len(ts.Samples) == 0 {
			continue
		}
		for _, e := range s.Exemplars {
			if finite(e.Value) {
				ts.Exemplars = append(ts.Exemplars, tempoExemplar{Labels: labelsJSON(e.Labels), Value: e.Value, TimestampMs: strconv.FormatInt(e.TimestampMs, 10)})
			}
		}
		resp.Series = append(resp.Series, ts)
	}
	h.writeJSON(w, r, http.StatusOK, resp)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func labelsJSON(ls []traceql.Label) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(ls))
	for _, l := range ls {
		out = append(out, keyValueJSON(l.Name, staticValue(l.Value)))
	}
	return out
}

// parseTempoMetrics reads q (or query, as Grafana sent it first), start,
// end and since as Tempo does (Unix seconds, fractional seconds,
// nanoseconds, or RFC 3339; start defaults to end minus since, since to
// an hour, end to now), step (seconds or a duration; by default chosen
// from the range as Tempo chooses it) and exemplars.
func (h *handler) parseTempoMetrics(v url.Values, instant bool) (*tempoMetricsReq, error) {
	q := v.Get(tempoParamQuery)
	if q == "" {
		q = v.Get("query")
	}
	if strings.TrimSpace(q) == "" {
		return nil, badTempo("invalid request: q is empty; send a TraceQL metrics query such as { } | rate()")
	}
	parsed, err := parseTraceQL(q)
	if err != nil {
		return nil, err
	}
	if !parsed.IsMetrics() {
		return nil, badTempo("invalid TraceQL query: %q is not a metrics query; add a metrics function such as | rate() or | count_over_time() (/api/search answers spanset queries)", q)
	}
	since := tempoDefaultSince
	if s := v.Get("since"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, badTempo("could not parse 'since' parameter: %q is not a positive duration such as 1h", s)
		}
		since = d
	}
	now := h.clock.Now()
	end, err := parseTempoTimestamp(v, tempoParamEnd, now)
	if err != nil {
		return nil, err
	}
	endOrNow := end
	if end.After(now) {
		endOrNow = now
	}
	start, err := parseTempoTimestamp(v, tempoParamStart, endOrNow.Add(-since))
	if err != nil {
		return nil, err
	}
	if start.UnixNano() <= 0 {
		return nil, badTempo("invalid start: %q is not after 1970", v.Get(tempoParamStart))
	}
	if !start.Before(end) {
		return nil, badTempo("invalid range: start (%s) must be before end (%s)", start.UTC().Format(time.RFC3339Nano), end.UTC().Format(time.RFC3339Nano))
	}
	req := &tempoMetricsReq{query: parsed}
	req.rng.Start, req.rng.End, req.rng.Instant = uint64(start.UnixNano()), uint64(end.UnixNano()), instant
	if !instant {
		if s := v.Get("step"); s != "" {
			step, err := parseSecondsOrDuration(s)
			if err != nil {
				return nil, err
			}
			req.rng.Step = uint64(step)
		} else {
			req.rng.Step = defaultQueryRangeStep(end.Sub(start))
		}
		if n := (req.rng.End - req.rng.Start) / req.rng.Step; n > traceql.MaxMetricsIntervals {
			return nil, badTempo("invalid step: the range holds %d steps of %s, more than the maximum of %d; use a longer step or a shorter range", n, time.Duration(req.rng.Step), traceql.MaxMetricsIntervals)
		}
	}
	if s := v.Get("exemplars"); s != "" {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, badTempo("invalid exemplars: %q is not a whole number", s)
		}
		req.rng.Exemplars = int(min(n, tempoMetricsMaxExemplars))
	}
	req.conds = queryConds(parsed)
	return req, nil
}

// parseTempoTimestamp reads a time as Tempo's parseTimestamp does: up to
// 10 digits are Unix seconds, more are nanoseconds; a number with a point
// is fractional seconds; else RFC 3339.
func parseTempoTimestamp(v url.Values, name string, def time.Time) (time.Time, error) {
	s := v.Get(name)
	if s == "" {
		return def, nil
	}
	if strings.Contains(s, ".") {
		if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 && f < 1e11 {
			sec, frac := math.Modf(f)
			return time.Unix(int64(sec), int64(math.Round(frac*1000)/1000*float64(time.Second))), nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		if len(s) <= 10 {
			return time.Unix(n, 0), nil
		}
		return time.Unix(0, n), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, badTempo("could not parse '%s' parameter: %q is not Unix seconds, nanoseconds or an RFC 3339 time", name, s)
}

// parseSecondsOrDuration reads a step: seconds (30, 1.5) or a duration
// (30s, 1m).
func parseSecondsOrDuration(s string) (time.Duration, error) {
	var d time.Duration
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f*float64(time.Second) >= math.MaxInt64 || math.IsNaN(f) {
			return 0, badTempo("invalid step: %q is too long", s)
		}
		d = time.Duration(f * float64(time.Second))
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, badTempo("invalid step: %q is not seconds or a duration such as 30s", s)
	}
	if d <= 0 {
		return 0, badTempo("invalid step: %q: step must be positive", s)
	}
	return d, nil
}

// defaultQueryRangeStep chooses a step for a range as Tempo does: about
// 240 points, rounded down to 1h, 5m, 1m, 15s, 5s or 1s (under a minute
// of range, to 50 ms), at least 1 s (50 ms).
func defaultQueryRangeStep(r time.Duration) uint64 {
	base := r / 240
	if r < time.Minute {
		g := 50 * time.Millisecond
		return uint64(max(base/g*g, g))
	}
	for _, g := range []time.Duration{time.Hour, 5 * time.Minute, time.Minute, 15 * time.Second, 5 * time.Second, time.Second} {
		if base > g {
			return uint64(base / g * g)
		}
	}
	return uint64(time.Second)
}

// tempoMetricsStats is what a metrics answer says of its work.
type tempoMetricsStats struct {
	metrics         tempoSearchMetrics
	status, message string
}

// runTempoMetrics shows ev every candidate trace of the range, up to
// TempoMetricsMaxTraces, fetched in batches, several at once.
func (h *handler) runTempoMetrics(ctx context.Context, req *tempoMetricsReq, ev *traceql.MetricsEvaluator) (tempoMetricsStats, error) {
	st := tempoMetricsStats{metrics: tempoSearchMetrics{CompletedJobs: 1, TotalJobs: 1, InspectedSpans: "0"}}
	if req.conds.impossible {
		return st, nil
	}
	w := tempoWindow{start: req.rng.Start, end: req.rng.End}
	refs, err := h.reader.FindTraceIDs(ctx, req.conds.storageQuery(w, tempoMetricsMaxTraces+1))
	if err != nil {
		return st, fmt.Errorf("cannot search traces: %w", err)
	}
	if len(refs) > tempoMetricsMaxTraces {
		refs = refs[:tempoMetricsMaxTraces]
		oldest := time.Unix(0, int64(refs[len(refs)-1].Start)).UTC()
		st.status = "PARTIAL"
		st.message = fmt.Sprintf("the range has more than %d traces, the most one metrics query reads: the series count the spans of the newest %d (those matching from %s on); narrow the query or the range for a complete answer",
			tempoMetricsMaxTraces, tempoMetricsMaxTraces, oldest.Format(time.RFC3339))
	}
	ids := make([]model.TraceID, len(refs))
	for i, r := range refs {
		ids[i] = r.TraceID
	}
	hint := storage.TimeHint{Start: req.rng.Start, End: req.rng.End}
	var (
		mu     sync.Mutex
		traces uint32
		spans  uint64
		next   int
		errs   []error
		wg     sync.WaitGroup
	)
	take := func() []model.TraceID {
		mu.Lock()
		defer mu.Unlock()
		if next >= len(ids) || len(errs) > 0 {
			return nil
		}
		b := ids[next:min(next+tempoBatch, len(ids))]
		next += len(b)
		return b
	}
	for range h.searchParallelism() {
		wg.Go(func() {
			for b := take(); b != nil; b = take() {
				if err := ctx.Err(); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				got, err := h.fetchTraces(ctx, b, hint)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				var n uint32
				var ns uint64
				for _, tr := range got {
					if len(tr) > 0 {
						n++
						ns += uint64(len(tr))
						ev.Observe(tr)
					}
				}
				mu.Lock()
				traces += n
				spans += ns
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return st, err
	}
	st.metrics.InspectedTraces = traces
	st.metrics.InspectedSpans = strconv.FormatUint(spans, 10)
	return st, nil
}
