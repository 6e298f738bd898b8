package query

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// This file serves Jaeger's OTLP-based query API (/api/v3/...), the HTTP
// form of its api_v3 QueryService. Parameter names are Jaeger's canonical
// camelCase ones, each also accepted under its older snake_case alias.

// v3 parameter names: canonical first, then the aliases Jaeger still takes.
var (
	v3ServiceName   = []string{"query.serviceName", "query.service_name"}
	v3OperationName = []string{"query.operationName", "query.operation_name"}
	v3Attributes    = []string{"query.attributes"}
	v3Filter        = []string{"query.filter"}
	v3TimeMin       = []string{"query.startTimeMin", "query.start_time_min"}
	v3TimeMax       = []string{"query.startTimeMax", "query.start_time_max"}
	v3DurationMin   = []string{"query.durationMin", "query.duration_min"}
	v3DurationMax   = []string{"query.durationMax", "query.duration_max"}
	v3SearchDepth   = []string{"query.searchDepth", "query.search_depth", "query.num_traces"}
	v3QueryRaw      = []string{"query.rawTraces", "query.raw_traces"}
	v3StartTime     = []string{"startTime", "start_time"}
	v3EndTime       = []string{"endTime", "end_time"}
	v3RawTraces     = []string{"rawTraces", "raw_traces"}
	v3SpanKind      = []string{"spanKind", "span_kind"}
	v3Service       = []string{"service"}
)

// v3TraceIDParam is the path parameter of /api/v3/traces/{trace_id}.
const v3TraceIDParam = "trace_id"

// errNoTraces is Jaeger's answer to a search that finds nothing.
var errNoTraces = errors.New("No traces found")

// v3ErrorBody is Jaeger's grpc-gateway style error.
type v3ErrorBody struct {
	Error v3ErrorDetails `json:"error"`
}

type v3ErrorDetails struct {
	HTTPCode int    `json:"httpCode"`
	Message  string `json:"message"`
}

type v3Operation struct {
	Name     string `json:"name"`
	SpanKind string `json:"spanKind"`
}

// v3Dependency is api_v3's Dependency: callCount is a uint64, which proto3
// JSON writes as a string.
type v3Dependency struct {
	Parent    string `json:"parent"`
	Child     string `json:"child"`
	CallCount string `json:"callCount"`
}

// v3Result wraps TracesData in the "result" envelope of Jaeger's gateway.
type v3Result struct {
	Result json.RawMessage `json:"result"`
}

func (h *handler) v3Error(w http.ResponseWriter, r *http.Request, status int, err error) {
	h.logFailure(r, status, err)
	h.writeJSON(w, r, status, v3ErrorBody{Error: v3ErrorDetails{HTTPCode: status, Message: err.Error()}})
}

// v3Fail answers a failed call: 400 for a malformed parameter, else the
// status of the storage error.
func (h *handler) v3Fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *paramError
	if errors.As(err, &pe) {
		h.v3Error(w, r, http.StatusBadRequest, err)
		return
	}
	h.v3Error(w, r, storageStatus(err), err)
}

// resolve returns the first non-empty value among a parameter's names, and
// the name it was found under (the canonical name when absent).
func resolve(v url.Values, names []string) (value, name string) {
	for _, n := range names {
		if s := v.Get(n); s != "" {
			return s, n
		}
	}
	return "", names[0]
}

// v3Services serves GET /api/v3/services.
func (h *handler) v3Services(w http.ResponseWriter, r *http.Request) {
	svcs, err := h.reader.Services(r.Context())
	if err != nil {
		h.v3Fail(w, r, fmt.Errorf("cannot list services: %w", err))
		return
	}
	if svcs == nil {
		svcs = []string{}
	}
	h.writeJSON(w, r, http.StatusOK, map[string][]string{"services": svcs})
}

// v3Operations serves GET /api/v3/operations?service=&spanKind=.
func (h *handler) v3Operations(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	service, name := resolve(v, v3Service)
	if service == "" {
		h.v3Fail(w, r, badV3Param(name, "it is required"))
		return
	}
	s, name := resolve(v, v3SpanKind)
	kind, err := parseSpanKind(s, name)
	if err != nil {
		h.v3Fail(w, r, asV3(err))
		return
	}
	ops, err := h.reader.Operations(r.Context(), service, kind)
	if err != nil {
		h.v3Fail(w, r, fmt.Errorf("cannot list operations: %w", err))
		return
	}
	out := make([]v3Operation, len(ops))
	for i, op := range ops {
		out[i] = v3Operation{Name: op.Name, SpanKind: op.Kind.String()}
	}
	h.writeJSON(w, r, http.StatusOK, map[string][]v3Operation{"operations": out})
}

// v3Trace serves GET /api/v3/traces/{trace_id}, the ID in hex (or, as
// Jaeger also takes it, 16 bytes in standard base64).
func (h *handler) v3Trace(w http.ResponseWriter, r *http.Request) {
	id, err := parseV3TraceID(r.PathValue(v3TraceIDParam))
	if err != nil {
		h.v3Fail(w, r, err)
		return
	}
	v := r.URL.Query()
	var hint storage.TimeHint
	if hint.Start, err = parseRFC3339(v, v3StartTime); err == nil {
		if hint.End, err = parseRFC3339(v, v3EndTime); err == nil {
			err = parseV3Bool(v, v3RawTraces)
		}
	}
	if err != nil {
		h.v3Fail(w, r, err)
		return
	}
	spans, err := h.reader.GetTrace(r.Context(), id, hint)
	if err == nil && len(spans) == 0 {
		err = storage.ErrTraceNotFound
	}
	if err != nil {
		h.v3Fail(w, r, fmt.Errorf("cannot get trace %s: %w", id, err))
		return
	}
	h.writeTraces(w, r, spans)
}

func parseV3TraceID(s string) (model.TraceID, error) {
	if id, err := model.ParseTraceID(s); err == nil {
		return id, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		if id, err := model.TraceIDFromBytes(b); err == nil {
			return id, nil
		}
	}
	return model.TraceID{}, badV3Param(v3TraceIDParam, "%q is not a trace ID of 1 to 32 hex digits", s)
}

// v3FindTraces serves GET /api/v3/traces: the spans of every trace found,
// as one TracesData; a 404 when none is found, as in Jaeger.
func (h *handler) v3FindTraces(w http.ResponseWriter, r *http.Request) {
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
	var spans []*model.Span
	for _, t := range found {
		spans = append(spans, t...)
	}
	if len(spans) == 0 {
		h.v3Error(w, r, http.StatusNotFound, errNoTraces)
		return
	}
	h.writeTraces(w, r, spans)
}

func (h *handler) writeTraces(w http.ResponseWriter, r *http.Request, spans []*model.Span) {
	td, err := otlpJSON(spans)
	if err != nil {
		h.v3Error(w, r, http.StatusInternalServerError, err)
		return
	}
	h.writeJSON(w, r, http.StatusOK, v3Result{Result: td})
}

// parseV3Search reads the parameters of GET /api/v3/traces. The time window
// is required; query.startTimeMax is exclusive, as api_v3 defines it.
func (h *handler) parseV3Search(v url.Values) (storage.Query, error) {
	q := storage.Query{Kind: storage.AnyKind}
	// Jaeger's experimental structured filter: refused rather than
	// ignored, which would answer with more traces than were asked for.
	if f, name := resolve(v, v3Filter); f != "" {
		return q, badV3Param(name, "structured filters are not supported; use query.attributes, query.serviceName and the other fields")
	}
	q.Service, _ = resolve(v, v3ServiceName)
	q.Operation, _ = resolve(v, v3OperationName)

	attrs := make(map[string]string)
	for _, s := range v[v3Attributes[0]] {
		if err := parseV3Attributes(s, attrs); err != nil {
			return q, err
		}
	}
	q.Attributes = attributes(attrs)

	minStr, minName := resolve(v, v3TimeMin)
	maxStr, maxName := resolve(v, v3TimeMax)
	if err := requireBoth(minStr, minName, maxStr, maxName); err != nil {
		return q, err
	}
	var err error
	if q.StartMin, err = parseRFC3339(v, v3TimeMin); err != nil {
		return q, err
	}
	if q.StartMax, err = parseRFC3339(v, v3TimeMax); err != nil {
		return q, err
	}
	if q.StartMin >= q.StartMax {
		return q, badV3Param(minName, "%s is not before %s %s", minStr, maxName, maxStr)
	}
	q.StartMax-- // exclusive in api_v3, inclusive in storage.Query

	if q.DurationMin, err = parseV3Duration(v, v3DurationMin); err != nil {
		return q, err
	}
	if q.DurationMax, err = parseV3Duration(v, v3DurationMax); err != nil {
		return q, err
	}
	if q.DurationMax != 0 && q.DurationMin > q.DurationMax {
		s, name := resolve(v, v3DurationMax)
		return q, badV3Param(name, "%s is less than the minimum duration", s)
	}

	q.Limit = h.cfg.searchDepth()
	if s, name := resolve(v, v3SearchDepth); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return q, badV3Param(name, "%q is not a positive whole number of traces", s)
		}
		if n > h.cfg.MaxLimit {
			return q, badV3Param(name, "%d is more than the maximum of %d traces", n, h.cfg.MaxLimit)
		}
		q.Limit = n
	}
	if err := parseV3Bool(v, v3QueryRaw); err != nil {
		return q, err
	}
	if err := q.Validate(); err != nil {
		return q, fmt.Errorf("cannot build the storage query: %w", err)
	}
	return q, nil
}

// requireBoth reports which of the two bounds of a time range is missing.
func requireBoth(a, aName, b, bName string) error {
	switch {
	case a == "" && b == "":
		return badV3Param(aName+" and "+bName, "both are required")
	case a == "":
		return badV3Param(aName, "it is required")
	case b == "":
		return badV3Param(bName, "it is required")
	}
	return nil
}

// parseV3Attributes adds one query.attributes value to m: a JSON object of
// strings, as Jaeger takes it ({"http.method":"GET"}), or key=value.
func parseV3Attributes(s string, m map[string]string) error {
	name := v3Attributes[0]
	if strings.HasPrefix(strings.TrimSpace(s), "{") {
		obj, err := parseStringMap(s)
		if err != nil {
			return badV3Param(name, "%v", err)
		}
		for k, val := range obj {
			if k == "" {
				return badV3Param(name, "an attribute has an empty key")
			}
			m[k] = val
		}
		return nil
	}
	k, val, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return badV3Param(name, "%q is neither a JSON object nor key=value", s)
	}
	m[k] = val
	return nil
}

// parseRFC3339 reads an RFC 3339 time (fractional seconds allowed) as Unix
// ns; absent is 0.
func parseRFC3339(v url.Values, names []string) (uint64, error) {
	s, name := resolve(v, names)
	if s == "" {
		return 0, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, badV3Param(name, "%q is not an RFC 3339 time such as 2024-01-02T15:04:05.999Z", s)
	}
	if t.Before(time.Unix(0, 0)) || t.After(time.Unix(0, 1<<63-1)) {
		return 0, badV3Param(name, "%q is outside the years 1970 to 2262", s)
	}
	return uint64(t.UnixNano()), nil
}

func parseV3Duration(v url.Values, names []string) (uint64, error) {
	s, name := resolve(v, names)
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, badV3Param(name, "%q is not a duration such as 1.2s, 100ms or 10us", s)
	}
	return uint64(d), nil
}

func parseV3Bool(v url.Values, names []string) error {
	if s, name := resolve(v, names); s != "" {
		if _, err := strconv.ParseBool(s); err != nil {
			return badV3Param(name, "%q is not true or false", s)
		}
	}
	return nil
}

// asV3 words a parameter error as /api/v3 does.
func asV3(err error) error {
	var pe *paramError
	if errors.As(err, &pe) {
		cp := *pe
		cp.v3 = true
		return &cp
	}
	return err
}

// v3Dependencies serves GET /api/v3/dependencies?startTime=&endTime=.
func (h *handler) v3Dependencies(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	startStr, startName := resolve(v, v3StartTime)
	endStr, endName := resolve(v, v3EndTime)
	if err := requireBoth(startStr, startName, endStr, endName); err != nil {
		h.v3Fail(w, r, err)
		return
	}
	start, err := parseRFC3339(v, v3StartTime)
	if err != nil {
		h.v3Fail(w, r, err)
		return
	}
	end, err := parseRFC3339(v, v3EndTime)
	if err != nil {
		h.v3Fail(w, r, err)
		return
	}
	if start >= end {
		h.v3Fail(w, r, badV3Param(startName, "%s is not before %s %s", startStr, endName, endStr))
		return
	}
	links, err := h.reader.Dependencies(r.Context(), start, end)
	if err != nil {
		h.v3Fail(w, r, fmt.Errorf("cannot compute dependencies: %w", err))
		return
	}
	out := make([]v3Dependency, len(links))
	for i, l := range links {
		out[i] = v3Dependency{Parent: l.Parent, Child: l.Child, CallCount: strconv.FormatUint(l.CallCount, 10)}
	}
	h.writeJSON(w, r, http.StatusOK, map[string][]v3Dependency{"dependencies": out})
}
