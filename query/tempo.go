package query

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/storage"
)

// This file serves Grafana Tempo's HTTP query API, as Grafana's Tempo data
// source calls it: search (TraceQL or logfmt tags), tag names and values,
// traces by ID in OTLP JSON or protobuf, and TraceQL metrics. The messages are those of
// Tempo's pkg/tempopb/tempo.proto in the JSON Tempo writes (gogo jsonpb:
// camelCase field names, 64-bit integers as strings). Errors are plain
// text with the status, as Tempo answers them.

// Tempo API parameter names (Tempo's pkg/api/http.go).
const (
	tempoParamQuery       = "q"
	tempoParamTags        = "tags"
	tempoParamMinDuration = "minDuration"
	tempoParamMaxDuration = "maxDuration"
	tempoParamLimit       = "limit"
	tempoParamSpss        = "spss"
	tempoParamStart       = "start"
	tempoParamEnd         = "end"
	tempoParamScope       = "scope"
	tempoTraceIDParam     = "traceID"
	tempoTagParam         = "tag"
)

// DefaultSpansPerSpanSet is the number of spans a Tempo search shows of
// each spanset when the request gives no spss, as in Tempo.
const DefaultSpansPerSpanSet = 3

// DefaultTagSampleTraces is Config.TagSampleTraces's default.
const DefaultTagSampleTraces = 200

// tempoRoutes registers the Tempo API on mux under base. traceV1 adds
// /api/traces/{traceID} as Tempo's, for the Tempo port; on the query port
// that path is Jaeger's.
func (h *handler) tempoRoutes(mux *http.ServeMux, base string, traceV1 bool) {
	api := func(path string, f func(http.ResponseWriter, *http.Request)) {
		mux.Handle(base+path, h.getOnly(f, h.tempoError))
	}
	api("/api/echo", h.tempoEcho)
	api("/api/search", h.tempoSearch)
	api("/api/search/tags", h.tempoTags)
	api("/api/v2/search/tags", h.tempoTagsV2)
	api("/api/search/tag/{tag}/values", h.tempoTagValues)
	api("/api/v2/search/tag/{tag}/values", h.tempoTagValuesV2)
	api("/api/v2/traces/{traceID}", h.tempoTraceV2)
	api("/api/metrics/query_range", h.tempoMetricsRange)
	api("/api/metrics/query", h.tempoMetricsInstant)
	if traceV1 {
		api("/api/traces/{traceID}", h.tempoTraceV1)
	}
}

// NewTempoHandler returns the HTTP handler of Grafana Tempo's query API
// over r, at the root path (cfg.BasePath and cfg.UI are not used): what
// the query port serves of it and also /api/traces/{traceID} as Tempo
// answers it. Grafana's Tempo data source, pointed at its address, works
// as it does against Tempo's own port 3200. Safe for concurrent use.
func NewTempoHandler(cfg Config, r storage.Reader, tel telemetry.Settings) (http.Handler, error) {
	cfg.BasePath, cfg.UI = "", nil
	h, err := newHandler(cfg, r, tel, "Tempo API handler")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	h.tempoRoutes(mux, "", true)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.tempoError(w, r, http.StatusNotFound, fmt.Errorf("no Tempo API endpoint at %s", r.URL.Path))
	})
	return mux, nil
}

// tempoError writes err as Tempo does: the message as plain text.
func (h *handler) tempoError(w http.ResponseWriter, r *http.Request, status int, err error) {
	h.logFailure(r, status, err)
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = fmt.Fprintln(w, err.Error())
}

// tempoFail answers a failed call: 400 for a malformed request, else the
// status of the storage error.
func (h *handler) tempoFail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *tempoParamError
	if errors.As(err, &pe) {
		h.tempoError(w, r, http.StatusBadRequest, err)
		return
	}
	h.tempoError(w, r, storageStatus(err), err)
}

// tempoParamError is a malformed Tempo API request, worded as Tempo words
// them ("invalid limit: ...").
type tempoParamError struct{ msg string }

func (e *tempoParamError) Error() string { return e.msg }

func badTempo(format string, args ...any) error {
	return &tempoParamError{msg: fmt.Sprintf(format, args...)}
}

// tempoEcho serves GET /api/echo, which Grafana calls to test the data
// source.
func (h *handler) tempoEcho(w http.ResponseWriter, _ *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("echo"))
}

// tempoWindow is a time window in Unix ns, both ends inclusive.
type tempoWindow struct{ start, end uint64 }

func (w tempoWindow) contains(t uint64) bool { return t >= w.start && t <= w.end }

// parseTempoWindow reads start and end, Unix seconds as Tempo takes them;
// end covers the whole of its second. Without them the window is the
// configured default lookback up to now.
func (h *handler) parseTempoWindow(v url.Values) (tempoWindow, error) {
	start, hasStart, err := parseSeconds(v, tempoParamStart)
	if err != nil {
		return tempoWindow{}, err
	}
	end, hasEnd, err := parseSeconds(v, tempoParamEnd)
	if err != nil {
		return tempoWindow{}, err
	}
	if hasStart && hasEnd && start >= end {
		return tempoWindow{}, badTempo("http parameter start must be before end. received start=%s end=%s", v.Get(tempoParamStart), v.Get(tempoParamEnd))
	}
	var w tempoWindow
	if hasEnd {
		w.end = end*uint64(time.Second) + uint64(time.Second) - 1
	} else {
		w.end = unixNanos(h.clock.Now())
	}
	if hasStart {
		w.start = start * uint64(time.Second)
	} else {
		w.start = w.end - min(w.end, uint64(h.cfg.DefaultLookback))
	}
	if w.start > w.end {
		return tempoWindow{}, badTempo("http parameter start must be before end. received start=%s", v.Get(tempoParamStart))
	}
	return w, nil
}

// parseSeconds reads a Unix time in whole seconds; "0" and absent are
// absent, as in Tempo.
func parseSeconds(v url.Values, name string) (uint64, bool, error) {
	s := v.Get(name)
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > math.MaxInt64/uint64(time.Second)-1 {
		return 0, false, badTempo("invalid %s: %q is not a Unix time in seconds", name, s)
	}
	return n, n != 0, nil
}
