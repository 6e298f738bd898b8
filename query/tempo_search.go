package query

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/query/traceql"
	"github.com/scrytrace/scry/storage"
)

// This file serves GET /api/search, Tempo's trace search, with a TraceQL
// query (q) or logfmt tags (tags).
//
// What is found: a trace is answered when the query matches it, evaluated
// over all its spans, and one of the spans of its answer (for tags, each
// tag's span) started inside [start, end]; then minDuration and
// maxDuration bound the trace's duration (its last span end minus its
// first span start). Candidates come from the store (tempo_pushdown.go
// says which conditions are pushed to it), newest first as
// storage.Reader.FindTraceIDs orders them; each is fetched whole and
// evaluated, until limit traces are answered or the store has no more
// candidates in the window. The answer lists them newest first by start.

// tempoBatch is the number of traces fetched per GetTraces call.
const tempoBatch = 64

// tempoSearchReq is a parsed /api/search request.
type tempoSearchReq struct {
	window         tempoWindow
	minDur, maxDur uint64 // trace duration bounds in ns; 0: none
	limit, spss    int
	conds          spanConds // pushed to the store

	query *traceql.Query // nil for a tags search
	shown []traceql.Attribute
	tags  []tempoTag
}

// Tempo's JSON messages (pkg/tempopb/tempo.proto), as gogo jsonpb writes
// them: uint64 fields as strings.
type (
	tempoSearchResponse struct {
		Traces  []tempoTraceMeta   `json:"traces"`
		Metrics tempoSearchMetrics `json:"metrics"`
	}
	tempoTraceMeta struct {
		TraceID           string                       `json:"traceID"`
		RootServiceName   string                       `json:"rootServiceName"`
		RootTraceName     string                       `json:"rootTraceName,omitempty"`
		StartTimeUnixNano string                       `json:"startTimeUnixNano"`
		DurationMs        uint32                       `json:"durationMs"`
		SpanSet           *tempoSpanSet                `json:"spanSet,omitempty"`
		SpanSets          []tempoSpanSet               `json:"spanSets,omitempty"`
		ServiceStats      map[string]tempoServiceStats `json:"serviceStats,omitempty"`
	}
	tempoSpanSet struct {
		Spans      []tempoSpan       `json:"spans"`
		Matched    uint32            `json:"matched"`
		Attributes []json.RawMessage `json:"attributes,omitempty"`
	}
	tempoSpan struct {
		SpanID            string            `json:"spanID"`
		Name              string            `json:"name"`
		StartTimeUnixNano string            `json:"startTimeUnixNano"`
		DurationNanos     string            `json:"durationNanos"`
		Attributes        []json.RawMessage `json:"attributes,omitempty"`
	}
	tempoServiceStats struct {
		SpanCount  uint32 `json:"spanCount"`
		ErrorCount uint32 `json:"errorCount,omitempty"`
	}
	tempoSearchMetrics struct {
		InspectedTraces uint32 `json:"inspectedTraces"`
		InspectedSpans  string `json:"inspectedSpans,omitempty"`
		CompletedJobs   uint32 `json:"completedJobs"`
		TotalJobs       uint32 `json:"totalJobs"`
	}
)

// rootSpanNotYetReceived is Tempo's root service name of a trace without a
// root span.
const rootSpanNotYetReceived = "<root span not yet received>"

func (h *handler) tempoSearch(w http.ResponseWriter, r *http.Request) {
	req, err := h.parseTempoSearch(r.URL.Query())
	if err != nil {
		h.tempoFail(w, r, err)
		return
	}
	resp, err := h.runTempoSearch(r.Context(), req)
	if err != nil {
		h.tempoFail(w, r, err)
		return
	}
	h.writeJSON(w, r, http.StatusOK, resp)
}

func (h *handler) parseTempoSearch(v url.Values) (*tempoSearchReq, error) {
	req := &tempoSearchReq{limit: h.cfg.DefaultLimit, spss: DefaultSpansPerSpanSet}
	var err error
	if req.window, err = h.parseTempoWindow(v); err != nil {
		return nil, err
	}
	if req.minDur, err = parseTempoDuration(v, tempoParamMinDuration); err != nil {
		return nil, err
	}
	if req.maxDur, err = parseTempoDuration(v, tempoParamMaxDuration); err != nil {
		return nil, err
	}
	if req.maxDur != 0 && req.minDur > req.maxDur {
		return nil, badTempo("invalid maxDuration: must be greater than minDuration")
	}
	if s := v.Get(tempoParamLimit); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return nil, badTempo("invalid limit: %q is not a positive whole number", s)
		}
		if n > h.cfg.MaxLimit {
			return nil, badTempo("invalid limit: %d is more than the maximum of %d traces", n, h.cfg.MaxLimit)
		}
		req.limit = n
	}
	if s := v.Get(tempoParamSpss); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, badTempo("invalid spss: %q is not a whole number of spans", s)
		}
		if n > 0 {
			req.spss = n
		}
	}

	q, hasQ := v.Get(tempoParamQuery), v.Has(tempoParamQuery)
	tags, hasTags := v.Get(tempoParamTags), v.Has(tempoParamTags)
	if hasQ && hasTags && strings.TrimSpace(q) != "" && strings.TrimSpace(tags) != "" {
		return nil, badTempo("invalid request: can't specify tags and q in the same query")
	}
	if strings.TrimSpace(tags) != "" {
		if req.tags, err = parseTempoTags(tags); err != nil {
			return nil, err
		}
		req.conds = tagConds(req.tags)
		return req, nil
	}
	if strings.TrimSpace(q) == "" {
		q = "{}"
	}
	if req.query, err = parseTraceQL(q); err != nil {
		return nil, err
	}
	if req.query.IsMetrics() {
		return nil, badTempo("invalid TraceQL query: %q is a metrics query; send it to /api/metrics/query_range or /api/metrics/query, /api/search answers spanset queries", q)
	}
	req.conds = queryConds(req.query)
	req.shown = shownAttributes(req.query)
	return req, nil
}

// parseTraceQL parses q, a 400 with the parser's position and message when
// it is not TraceQL.
func parseTraceQL(q string) (*traceql.Query, error) {
	parsed, err := traceql.Parse(q)
	if err != nil {
		var pe *traceql.ParseError
		if errors.As(err, &pe) {
			return nil, badTempo("invalid TraceQL query: parse error at line %d, col %d: %s", pe.Line, pe.Column, pe.Msg)
		}
		return nil, badTempo("invalid TraceQL query: %v", err)
	}
	return parsed, nil
}

// parseTempoDuration reads a Go duration such as 100ms or 1.5s.
func parseTempoDuration(v url.Values, name string) (uint64, error) {
	s := v.Get(name)
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, badTempo("invalid %s: %q is not a duration such as 100ms or 1.5s", name, s)
	}
	return uint64(d), nil
}

// runTempoSearch finds the traces req answers: candidates from the store
// in pages of growing size, each fetched and evaluated, until limit
// traces are answered or the candidates run out.
func (h *handler) runTempoSearch(ctx context.Context, req *tempoSearchReq) (*tempoSearchResponse, error) {
	resp := &tempoSearchResponse{Traces: []tempoTraceMeta{}, Metrics: tempoSearchMetrics{CompletedJobs: 1, TotalJobs: 1}}
	if req.conds.impossible {
		return resp, nil
	}
	var spans uint64
	seen := make(map[model.TraceID]bool)
	hint := storage.TimeHint{Start: req.window.start, End: req.window.end}
	waves := 1
	for page := max(2*req.limit, tempoBatch); ; page = min(page*4, 1<<30) {
		refs, err := h.reader.FindTraceIDs(ctx, req.conds.storageQuery(req.window, page))
		if err != nil {
			return nil, fmt.Errorf("cannot search traces: %w", err)
		}
		var fresh []model.TraceID
		for _, ref := range refs {
			if !seen[ref.TraceID] {
				seen[ref.TraceID] = true
				fresh = append(fresh, ref.TraceID)
			}
		}
		for len(fresh) > 0 {
			// The first batch is as many as are still wanted (candidates
			// usually all match when the store could be told every
			// condition); when that was not enough, waves of full
			// batches, fetched and evaluated in parallel, then taken in
			// order.
			var wave [][]model.TraceID
			for len(wave) < waves && len(fresh) > 0 {
				n := tempoBatch
				if waves == 1 {
					n = max(req.limit-len(resp.Traces), 8)
				}
				b := fresh[:min(len(fresh), n)]
				fresh = fresh[len(b):]
				wave = append(wave, b)
			}
			waves = h.searchParallelism()
			done, err := h.evaluateWave(ctx, req, wave, hint)
			if err != nil {
				return nil, err
			}
			// Every trace read counts as inspected, also those of the
			// wave after the limit was reached.
			for _, ev := range done {
				if ev.spans == 0 {
					continue // gone since the search (retention)
				}
				resp.Metrics.InspectedTraces++
				spans += uint64(ev.spans)
				if ev.ok && len(resp.Traces) < req.limit {
					resp.Traces = append(resp.Traces, ev.meta)
				}
			}
			if len(resp.Traces) == req.limit {
				return resp.finish(spans), nil
			}
		}
		if len(refs) < page || page == 1<<30 {
			return resp.finish(spans), nil
		}
	}
}

// evaluated is one candidate trace: its span count (0: no longer stored)
// and the answer.
type evaluated struct {
	spans int
	meta  tempoTraceMeta
	ok    bool
}

// evaluateWave fetches and evaluates batches of candidates, one goroutine
// a batch, and returns the results in the order of the candidates.
func (h *handler) evaluateWave(ctx context.Context, req *tempoSearchReq, wave [][]model.TraceID, hint storage.TimeHint) ([]evaluated, error) {
	results := make([][]evaluated, len(wave))
	errs := make([]error, len(wave))
	run := func(i int) {
		traces, err := h.fetchTraces(ctx, wave[i], hint)
		if err != nil {
			errs[i] = err
			return
		}
		out := make([]evaluated, len(traces))
		for j, tr := range traces {
			out[j].spans = len(tr)
			if len(tr) > 0 {
				out[j].meta, out[j].ok = req.answer(tr)
			}
		}
		results[i] = out
	}
	if len(wave) == 1 {
		run(0)
	} else {
		var wg sync.WaitGroup
		for i := range wave {
			wg.Go(func() { run(i) })
		}
		wg.Wait()
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var all []evaluated
	for _, r := range results {
		all = append(all, r...)
	}
	return all, nil
}

// searchParallelism is the number of candidate batches a search fetches
// at once after its first: one a CPU, at most 4. Measured on 2 cores,
// reference workload, 1M spans (BenchmarkTempo/Search/Structural, which
// reads ~1700 traces to find 20): p99 139 ms one batch at a time, 108 ms
// two at a time; reading (Badger, zstd, decoding) is 80% of it.
func (h *handler) searchParallelism() int {
	return min(max(runtime.GOMAXPROCS(0), 1), 4)
}

func (r *tempoSearchResponse) finish(spans uint64) *tempoSearchResponse {
	r.Metrics.InspectedSpans = strconv.FormatUint(spans, 10)
	slices.SortStableFunc(r.Traces, func(a, b tempoTraceMeta) int {
		x, _ := strconv.ParseUint(a.StartTimeUnixNano, 10, 64)
		y, _ := strconv.ParseUint(b.StartTimeUnixNano, 10, 64)
		return cmp.Compare(y, x)
	})
	return r
}

// answer evaluates the request on one trace's spans.
func (req *tempoSearchReq) answer(spans []*model.Span) (tempoTraceMeta, bool) {
	sum := summarizeTempo(spans)
	dur := sum.end - min(sum.end, sum.start)
	if dur < req.minDur || (req.maxDur != 0 && dur > req.maxDur) {
		return tempoTraceMeta{}, false
	}
	meta := sum.meta()
	if req.query == nil {
		if !matchTags(req.tags, spans, req.window) {
			return tempoTraceMeta{}, false
		}
		return meta, true
	}
	sets, ok := req.query.Match(spans)
	if !ok || !anyInWindow(sets, req.window) {
		return tempoTraceMeta{}, false
	}
	for _, set := range sets {
		meta.SpanSets = append(meta.SpanSets, req.spanSet(set))
	}
	meta.SpanSet = &meta.SpanSets[0]
	return meta, true
}

func anyInWindow(sets []traceql.Spanset, w tempoWindow) bool {
	for _, set := range sets {
		for _, sp := range set.Spans {
			if w.contains(sp.StartTime) {
				return true
			}
		}
	}
	return false
}

// spanSet is one spanset as Tempo shows it: its first spss spans with the
// attributes the query names, the number of spans it has, and the values
// it was grouped by.
func (req *tempoSearchReq) spanSet(set traceql.Spanset) tempoSpanSet {
	out := tempoSpanSet{Matched: uint32(min(len(set.Spans), 1<<32-1)), Spans: []tempoSpan{}}
	for _, sp := range set.Spans[:min(len(set.Spans), req.spss)] {
		ts := tempoSpan{
			SpanID:            sp.SpanID.String(),
			Name:              sp.Name,
			StartTimeUnixNano: strconv.FormatUint(sp.StartTime, 10),
			DurationNanos:     strconv.FormatUint(sp.Duration(), 10),
		}
		for _, a := range req.shown {
			if v, ok := shownValue(a, sp); ok {
				ts.Attributes = append(ts.Attributes, keyValueJSON(a.Name, v))
			}
		}
		out.Spans = append(out.Spans, ts)
	}
	for _, g := range set.By {
		out.Attributes = append(out.Attributes, keyValueJSON("by("+g.Field.String()+")", staticValue(g.Value)))
	}
	return out
}

// tempoSummary is what a search result shows of a whole trace.
type tempoSummary struct {
	id         model.TraceID
	start, end uint64
	root       *model.Span
	services   map[string]tempoServiceStats
}

func summarizeTempo(spans []*model.Span) tempoSummary {
	s := tempoSummary{id: spans[0].TraceID, start: spans[0].StartTime, services: map[string]tempoServiceStats{}}
	for _, sp := range spans {
		s.start, s.end = min(s.start, sp.StartTime), max(s.end, sp.EndTime)
		if sp.ParentSpanID.IsZero() && (s.root == nil || sp.StartTime < s.root.StartTime) {
			s.root = sp
		}
		st := s.services[sp.ServiceName()]
		st.SpanCount++
		if sp.Status.Code == model.StatusError {
			st.ErrorCount++
		}
		s.services[sp.ServiceName()] = st
	}
	return s
}

func (s tempoSummary) meta() tempoTraceMeta {
	m := tempoTraceMeta{
		TraceID:           s.id.String(),
		RootServiceName:   rootSpanNotYetReceived,
		StartTimeUnixNano: strconv.FormatUint(s.start, 10),
		DurationMs:        uint32(min((s.end-min(s.end, s.start))/uint64(time.Millisecond), 1<<32-1)),
		ServiceStats:      s.services,
	}
	if s.root != nil {
		m.RootServiceName, m.RootTraceName = s.root.ServiceName(), s.root.Name
	}
	return m
}
