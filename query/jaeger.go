package query

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// This file serves the JSON API of Jaeger's query service (/api/...) that
// Jaeger UI and Grafana's Jaeger data source call.

// jaegerResponse is Jaeger's envelope for every /api answer. Jaeger never
// fills limit and offset; errors is null unless something went wrong.
type jaegerResponse struct {
	Data   any           `json:"data"`
	Total  int           `json:"total"`
	Limit  int           `json:"limit"`
	Offset int           `json:"offset"`
	Errors []jaegerError `json:"errors"`
}

// jaegerError is one entry of the envelope's errors: an HTTP status code and
// a message, and the trace ID when it is about one trace of several.
type jaegerError struct {
	Code    int    `json:"code,omitempty"`
	Msg     string `json:"msg"`
	TraceID string `json:"traceID,omitempty"`
}

// jaegerOperation is one element of /api/operations' data.
type jaegerOperation struct {
	Name     string `json:"name"`
	SpanKind string `json:"spanKind"`
}

// jaegerDependency is one element of /api/dependencies' data.
type jaegerDependency struct {
	Parent    string `json:"parent"`
	Child     string `json:"child"`
	CallCount uint64 `json:"callCount"`
}

// jaegerError writes err as an envelope with one error and no data.
func (h *handler) jaegerError(w http.ResponseWriter, r *http.Request, status int, err error) {
	h.logFailure(r, status, err)
	h.writeJSON(w, r, status, jaegerResponse{Errors: []jaegerError{{Code: status, Msg: err.Error()}}})
}

// jaegerFail answers a failed storage call.
func (h *handler) jaegerFail(w http.ResponseWriter, r *http.Request, err error) {
	h.jaegerError(w, r, storageStatus(err), err)
}

func (h *handler) jaegerOK(w http.ResponseWriter, r *http.Request, data any, total int, errs []jaegerError) {
	for _, msg := range storageWarnings(r) {
		errs = append(errs, jaegerError{Code: http.StatusServiceUnavailable, Msg: msg})
	}
	h.writeJSON(w, r, http.StatusOK, jaegerResponse{Data: data, Total: total, Errors: errs})
}

// services serves GET /api/services.
func (h *handler) services(w http.ResponseWriter, r *http.Request) {
	svcs, err := h.reader.Services(r.Context())
	if err != nil {
		h.jaegerFail(w, r, fmt.Errorf("cannot list services: %w", err))
		return
	}
	if svcs == nil {
		svcs = []string{}
	}
	h.jaegerOK(w, r, svcs, len(svcs), nil)
}

// serviceOperations serves GET /api/services/{service}/operations: the
// names of the service's operations of every kind, sorted, each once.
func (h *handler) serviceOperations(w http.ResponseWriter, r *http.Request) {
	ops, err := h.reader.Operations(r.Context(), r.PathValue("service"), storage.AnyKind)
	if err != nil {
		h.jaegerFail(w, r, fmt.Errorf("cannot list operations: %w", err))
		return
	}
	names := make([]string, 0, len(ops))
	for _, op := range ops {
		names = append(names, op.Name)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	h.jaegerOK(w, r, names, len(names), nil)
}

// operations serves GET /api/operations?service=&spanKind=.
func (h *handler) operations(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	service := v.Get(paramService)
	if service == "" {
		h.jaegerError(w, r, http.StatusBadRequest, badParam(paramService, "it is required"))
		return
	}
	kind, err := parseSpanKind(v.Get(paramSpanKind), paramSpanKind)
	if err != nil {
		h.jaegerError(w, r, http.StatusBadRequest, err)
		return
	}
	ops, err := h.reader.Operations(r.Context(), service, kind)
	if err != nil {
		h.jaegerFail(w, r, fmt.Errorf("cannot list operations: %w", err))
		return
	}
	data := make([]jaegerOperation, len(ops))
	for i, op := range ops {
		data[i] = jaegerOperation{Name: op.Name, SpanKind: op.Kind.String()}
	}
	h.jaegerOK(w, r, data, len(data), nil)
}

// traces serves GET /api/traces: a search, or, when the request lists trace
// IDs, those traces (a missing one is an error entry with code 404, and the
// answer is still a 200, as in Jaeger).
func (h *handler) traces(w http.ResponseWriter, r *http.Request) {
	ts, err := h.parseTraceSearch(r.URL.Query())
	if err != nil {
		h.jaegerParamError(w, r, err)
		return
	}
	if len(ts.traceIDs) > 0 {
		h.tracesByID(w, r, ts.traceIDs)
		return
	}
	refs, err := h.reader.FindTraceIDs(r.Context(), ts.query)
	if err != nil {
		h.jaegerFail(w, r, fmt.Errorf("cannot search traces: %w", err))
		return
	}
	ids := make([]model.TraceID, len(refs))
	for i, ref := range refs {
		ids[i] = ref.TraceID
	}
	// Every found trace has a span in the window; the hint may help the
	// store find the rest, but by contract never hides any.
	found, err := h.fetchTraces(r.Context(), ids, storage.TimeHint{Start: ts.query.StartMin, End: ts.query.StartMax})
	if err != nil {
		h.jaegerFail(w, r, err)
		return
	}
	data := make([]model.JaegerTrace, 0, len(found))
	for _, spans := range found {
		// A trace found a moment ago and gone now (expired) is left out.
		if len(spans) > 0 {
			data = append(data, model.TraceToJaegerJSON(spans))
		}
	}
	h.jaegerOK(w, r, data, len(data), nil)
}

func (h *handler) tracesByID(w http.ResponseWriter, r *http.Request, ids []model.TraceID) {
	found, err := h.fetchTraces(r.Context(), ids, storage.TimeHint{})
	if err != nil {
		h.jaegerFail(w, r, err)
		return
	}
	data := make([]model.JaegerTrace, 0, len(found))
	var errs []jaegerError
	for i, spans := range found {
		if len(spans) == 0 {
			errs = append(errs, jaegerError{
				Code: http.StatusNotFound, Msg: storage.ErrTraceNotFound.Error(), TraceID: model.JaegerTraceID(ids[i]),
			})
			continue
		}
		data = append(data, model.TraceToJaegerJSON(spans))
	}
	h.jaegerOK(w, r, data, len(data), errs)
}

// trace serves GET /api/traces/{traceID}; start and end (Unix µs) may say
// when the trace happened.
func (h *handler) trace(w http.ResponseWriter, r *http.Request) {
	s := r.PathValue("traceID")
	id, err := model.ParseTraceID(s)
	if err != nil {
		h.jaegerError(w, r, http.StatusBadRequest,
			badParam(paramTraceID, "%q is not a trace ID of 1 to 32 hex digits", s))
		return
	}
	v := r.URL.Query()
	var hint storage.TimeHint
	if hint.Start, _, err = parseMicros(v, paramStart); err == nil {
		hint.End, _, err = parseMicros(v, paramEnd)
	}
	if err == nil {
		err = parseBool(v, paramRaw)
	}
	if err != nil {
		h.jaegerError(w, r, http.StatusBadRequest, err)
		return
	}
	spans, err := h.reader.GetTrace(r.Context(), id, hint)
	if err == nil && len(spans) == 0 {
		err = storage.ErrTraceNotFound
	}
	if errors.Is(err, storage.ErrTraceNotFound) {
		h.jaegerError(w, r, http.StatusNotFound, storage.ErrTraceNotFound)
		return
	}
	if err != nil {
		h.jaegerFail(w, r, fmt.Errorf("cannot get trace %s: %w", id, err))
		return
	}
	h.jaegerOK(w, r, []model.JaegerTrace{model.TraceToJaegerJSON(spans)}, 1, nil)
}

// dependencies serves GET /api/dependencies?endTs=&lookback= (ms), with
// Jaeger's optional service filter (links to or from that service).
func (h *handler) dependencies(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	start, end, err := h.parseDependencyWindow(v)
	if err != nil {
		h.jaegerError(w, r, http.StatusBadRequest, err)
		return
	}
	links, err := h.reader.Dependencies(r.Context(), start, end)
	if err != nil {
		h.jaegerFail(w, r, fmt.Errorf("cannot compute dependencies: %w", err))
		return
	}
	service := v.Get(paramService)
	data := make([]jaegerDependency, 0, len(links))
	for _, l := range links {
		if service == "" || l.Parent == service || l.Child == service {
			data = append(data, jaegerDependency{Parent: l.Parent, Child: l.Child, CallCount: l.CallCount})
		}
	}
	h.jaegerOK(w, r, data, len(data), nil)
}

// jaegerParamError answers a request whose parameters could not be read: a
// 400 for a malformed parameter, else a 500.
func (h *handler) jaegerParamError(w http.ResponseWriter, r *http.Request, err error) {
	var pe *paramError
	if errors.As(err, &pe) {
		h.jaegerError(w, r, http.StatusBadRequest, err)
		return
	}
	h.jaegerError(w, r, http.StatusInternalServerError, err)
}
