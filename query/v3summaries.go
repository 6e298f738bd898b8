package query

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// This file serves GET /api/v3/trace-summaries, api_v3's
// FindTraceSummaries: what a search result row shows of each trace found,
// without its spans. The Jaeger UI lists search results from it since
// v2.19. Field names are those of api_v3's TraceSummary in proto3 JSON.

// v3Summaries is api_v3's FindTraceSummariesResponse.
type v3Summaries struct {
	Summaries []v3TraceSummary `json:"summaries"`
}

// v3TraceSummary is api_v3's TraceSummary. The times are fixed64, which
// proto3 JSON writes as decimal strings.
type v3TraceSummary struct {
	TraceID              string             `json:"traceId"`
	RootServiceName      string             `json:"rootServiceName"`
	RootOperationName    string             `json:"rootOperationName"`
	MinStartTimeUnixNano string             `json:"minStartTimeUnixNano"`
	MaxEndTimeUnixNano   string             `json:"maxEndTimeUnixNano"`
	SpanCount            int                `json:"spanCount"`
	ErrorSpanCount       int                `json:"errorSpanCount"`
	OrphanSpanCount      int                `json:"orphanSpanCount"`
	Services             []v3ServiceSummary `json:"services"`
}

// v3ServiceSummary is api_v3's ServiceSummary.
type v3ServiceSummary struct {
	Name           string `json:"name"`
	SpanCount      int    `json:"spanCount"`
	ErrorSpanCount int    `json:"errorSpanCount"`
}

// v3FindTraceSummaries serves GET /api/v3/trace-summaries: the parameters
// of GET /api/v3/traces, and one summary per trace found, newest first. As
// in Jaeger, nothing found is an empty list (not the 404 of
// /api/v3/traces), and query.rawTraces changes nothing.
func (h *handler) v3FindTraceSummaries(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseV3Search(r.URL.Query())
	if err != nil {
		h.v3Fail(w, r, err)
		return
	}
	refs, err := h.reader.FindTraceIDs(r.Context(), q)
	if err != nil {
		h.v3Fail(w, r, fmt.Errorf("cannot search traces: %w", err))
		return
	}
	ids := make([]model.TraceID, len(refs))
	for i, ref := range refs {
		ids[i] = ref.TraceID
	}
	found, err := h.fetchTraces(r.Context(), ids, storage.TimeHint{Start: q.StartMin, End: q.StartMax})
	if err != nil {
		h.v3Fail(w, r, err)
		return
	}
	out := v3Summaries{Summaries: []v3TraceSummary{}}
	for i, spans := range found {
		if len(spans) > 0 { // gone since the search (retention)
			out.Summaries = append(out.Summaries, summarize(ids[i], spans))
		}
	}
	h.writeJSON(w, r, http.StatusOK, out)
}

// summarize sums up one trace. Its root is the span without a parent,
// the earliest if there are several; a trace without one has no root
// service or operation. An orphan is a span whose parent is not in the
// trace. Errors are spans with status ERROR.
func summarize(id model.TraceID, spans []*model.Span) v3TraceSummary {
	present := make(map[model.SpanID]bool, len(spans))
	for _, sp := range spans {
		present[sp.SpanID] = true
	}
	s := v3TraceSummary{TraceID: id.String(), SpanCount: len(spans)}
	var root *model.Span
	minStart, maxEnd := spans[0].StartTime, spans[0].EndTime
	bySvc := map[string]*v3ServiceSummary{}
	for _, sp := range spans {
		minStart, maxEnd = min(minStart, sp.StartTime), max(maxEnd, sp.EndTime)
		if sp.ParentSpanID.IsZero() {
			if root == nil || sp.StartTime < root.StartTime {
				root = sp
			}
		} else if !present[sp.ParentSpanID] {
			s.OrphanSpanCount++
		}
		name := sp.ServiceName()
		ss := bySvc[name]
		if ss == nil {
			ss = &v3ServiceSummary{Name: name}
			bySvc[name] = ss
		}
		ss.SpanCount++
		if sp.Status.Code == model.StatusError {
			ss.ErrorSpanCount++
			s.ErrorSpanCount++
		}
	}
	if root != nil {
		s.RootServiceName, s.RootOperationName = root.ServiceName(), root.Name
	}
	s.MinStartTimeUnixNano = strconv.FormatUint(minStart, 10)
	s.MaxEndTimeUnixNano = strconv.FormatUint(maxEnd, 10)
	s.Services = make([]v3ServiceSummary, 0, len(bySvc))
	for _, ss := range bySvc {
		s.Services = append(s.Services, *ss)
	}
	slices.SortFunc(s.Services, func(a, b v3ServiceSummary) int { return cmp.Compare(a.Name, b.Name) })
	return s
}
