package query

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// Defaults of Config (see DefaultConfig).
const (
	DefaultLimit    = 20        // traces per /api/traces search, as Jaeger UI asks
	DefaultMaxLimit = 1500      // most traces one search may ask for
	DefaultLookback = time.Hour // search window when a request gives no start
	// DefaultSearchDepth is the number of traces an /api/v3 search returns
	// when it does not say, as in Jaeger (capped by MaxLimit).
	DefaultSearchDepth = 100
)

// Config configures the query API. Start from DefaultConfig.
type Config struct {
	// BasePath serves everything under a path prefix, such as "/jaeger"
	// behind a reverse proxy (Jaeger's --query.base-path). It must start
	// with "/" and not end with one; "" and "/" mean the root.
	BasePath string

	// DefaultLimit is the number of traces a search returns when the request
	// gives no limit; at most MaxLimit. Default DefaultLimit (20).
	DefaultLimit int
	// MaxLimit is the largest limit (and /api/v3 search depth) a request may
	// ask for; larger ones are refused with a 400. Default DefaultMaxLimit
	// (1500).
	MaxLimit int
	// DefaultLookback is the length of the search window when a request
	// gives neither start nor lookback. Default DefaultLookback (1h).
	DefaultLookback time.Duration

	// TagSampleTraces is the number of the newest traces in a Tempo tags
	// request's window whose attribute names and values it answers with
	// (the store has no index of names). 0 means DefaultTagSampleTraces
	// (200): on the reference workload (10 spans, ~10 attributes per span)
	// that reads ~2000 spans per request.
	TagSampleTraces int

	// RED, if set, answers Jaeger's metrics API (/api/metrics/..., the
	// Monitor tab) from the RED series written at ingest; without it those
	// endpoints answer 501, as Jaeger's do without a metrics store.
	RED storage.REDReader
	// REDStep is the step the RED series are written at, the answer of
	// /api/metrics/minstep. 0: DefaultREDStep.
	REDStep time.Duration

	// UI, if set, serves every request under BasePath that no API route
	// claims, with its path unchanged (so it sees BasePath itself). Unknown
	// paths under /api/ are never passed to it: they get a JSON 404.
	UI http.Handler
}

// DefaultConfig returns the defaults named on Config's fields, at the root
// path and without a UI.
func DefaultConfig() Config {
	return Config{DefaultLimit: DefaultLimit, MaxLimit: DefaultMaxLimit, DefaultLookback: DefaultLookback, TagSampleTraces: DefaultTagSampleTraces}
}

// Validate reports what is wrong with c, if anything.
func (c *Config) Validate() error {
	var errs []error
	if c.BasePath != "" && c.BasePath != "/" {
		if !strings.HasPrefix(c.BasePath, "/") || strings.HasSuffix(c.BasePath, "/") {
			errs = append(errs, fmt.Errorf("base path %q must start with / and not end with one", c.BasePath))
		}
		if strings.ContainsAny(c.BasePath, "{}?# \t\n") || strings.Contains(c.BasePath, "//") {
			errs = append(errs, fmt.Errorf("base path %q has characters a path prefix cannot have", c.BasePath))
		}
	}
	if c.DefaultLimit <= 0 {
		errs = append(errs, fmt.Errorf("default limit must be positive, got %d", c.DefaultLimit))
	}
	if c.MaxLimit <= 0 {
		errs = append(errs, fmt.Errorf("max limit must be positive, got %d", c.MaxLimit))
	}
	if c.MaxLimit > 0 && c.DefaultLimit > c.MaxLimit {
		errs = append(errs, fmt.Errorf("default limit %d is greater than max limit %d", c.DefaultLimit, c.MaxLimit))
	}
	if c.TagSampleTraces < 0 {
		errs = append(errs, fmt.Errorf("tag sample must not be negative, got %d traces", c.TagSampleTraces))
	}
	if c.DefaultLookback <= 0 {
		errs = append(errs, fmt.Errorf("default lookback must be positive, got %s", c.DefaultLookback))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid query config: %w", errors.Join(errs...))
	}
	return nil
}

func (c *Config) searchDepth() int {
	return min(DefaultSearchDepth, c.MaxLimit)
}

// handler serves the API. It holds no request state and is safe for
// concurrent use.
type handler struct {
	cfg    Config
	reader storage.Reader
	logger *slog.Logger
	clock  telemetry.Clock // for default time windows
}

// newHandler validates cfg and r and returns the handler state both APIs'
// handlers share; what names the handler in the error.
func newHandler(cfg Config, r storage.Reader, tel telemetry.Settings, what string) (*handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("cannot create %s: storage reader is nil", what)
	}
	tel = tel.Complete()
	return &handler{cfg: cfg, reader: r, logger: tel.Logger, clock: tel.Clock}, nil
}

// NewHandler returns the HTTP handler of the query API (and of the UI, when
// cfg.UI is set) over r, logging to tel.Logger and reading tel.Clock for
// default time windows. The handler is safe for concurrent use; it starts
// no goroutines of its own beyond a request's lifetime.
func NewHandler(cfg Config, r storage.Reader, tel telemetry.Settings) (http.Handler, error) {
	h, err := newHandler(cfg, r, tel, "query handler")
	if err != nil {
		return nil, err
	}

	base := strings.TrimSuffix(cfg.BasePath, "/")
	mux := http.NewServeMux()
	api := func(path string, f func(http.ResponseWriter, *http.Request)) {
		mux.Handle(base+path, h.getOnly(f, h.jaegerError))
	}
	api("/api/services", h.services)
	api("/api/services/{service}/operations", h.serviceOperations)
	api("/api/operations", h.operations)
	api("/api/traces", h.traces)
	api("/api/traces/{traceID}", h.trace)
	api("/api/dependencies", h.dependencies)
	api("/api/metrics/latencies", h.metricsLatencies)
	api("/api/metrics/calls", h.metricsCalls)
	api("/api/metrics/errors", h.metricsErrors)
	api("/api/metrics/minstep", h.metricsMinStep)
	mux.HandleFunc(base+"/api/", func(w http.ResponseWriter, r *http.Request) {
		h.jaegerError(w, r, http.StatusNotFound, fmt.Errorf("no API endpoint at %s", r.URL.Path))
	})

	v3 := func(path string, f func(http.ResponseWriter, *http.Request)) {
		mux.Handle(base+path, h.getOnly(f, h.v3Error))
	}
	v3("/api/v3/services", h.v3Services)
	v3("/api/v3/operations", h.v3Operations)
	v3("/api/v3/traces", h.v3FindTraces)
	v3("/api/v3/traces/{trace_id}", h.v3Trace)
	v3("/api/v3/trace-summaries", h.v3FindTraceSummaries)
	v3("/api/v3/dependencies", h.v3Dependencies)
	mux.HandleFunc(base+"/api/v3/", func(w http.ResponseWriter, r *http.Request) {
		h.v3Error(w, r, http.StatusNotFound, fmt.Errorf("no API endpoint at %s", r.URL.Path))
	})

	// Grafana Tempo's API, but for /api/traces/{traceID}, which is Jaeger's
	// here (Tempo's trace by ID is /api/v2/traces/{traceID}).
	h.tempoRoutes(mux, base, false)

	if cfg.UI != nil {
		mux.Handle(base+"/", cfg.UI)
		if base != "" {
			mux.Handle(base, cfg.UI)
		}
	}
	return mux, nil
}

// errorWriter writes an error answer in one API's format.
type errorWriter func(w http.ResponseWriter, r *http.Request, status int, err error)

// getOnly serves GET and HEAD with f and answers other methods with a 405 in
// the API's error format.
func (h *handler) getOnly(f http.HandlerFunc, fail errorWriter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			fail(w, r, http.StatusMethodNotAllowed, fmt.Errorf("method %s is not allowed, use GET", r.Method))
			return
		}
		// A reader that answers with part of its data missing (one that
		// merges several stores, some of which did not answer) says so
		// here; Jaeger answers show it.
		ctx, warns := storage.WithWarnings(r.Context())
		f(w, r.WithContext(context.WithValue(ctx, warningsKey{}, warns)))
	})
}

type warningsKey struct{}

// storageWarnings returns the notes storage left on r's context.
func storageWarnings(r *http.Request) []string {
	w, _ := r.Context().Value(warningsKey{}).(*storage.Warnings)
	return w.List()
}

// writeJSON encodes v and writes it with status. It encodes before writing
// anything, so a value that cannot be encoded becomes a 500.
func (h *handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if r.URL.Query().Get("prettyPrint") == "true" {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		h.logFailure(r, http.StatusInternalServerError, fmt.Errorf("cannot encode response: %w", err))
		writeRaw(w, http.StatusInternalServerError,
			[]byte(`{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":500,"msg":"cannot encode response"}]}`+"\n"))
		return
	}
	writeRaw(w, status, buf.Bytes())
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// logFailure logs a 5xx answer, unless the client went away (its request's
// context is done), which is no fault of the server.
func (h *handler) logFailure(r *http.Request, status int, err error) {
	if status < 500 {
		return
	}
	level := slog.LevelError
	if r.Context().Err() != nil {
		level = slog.LevelDebug
	}
	h.logger.Log(r.Context(), level, "query request failed",
		"method", r.Method, "path", r.URL.Path, "status", status, "err", err)
}

// storageStatus is the HTTP status for an error of the storage.Reader.
func storageStatus(err error) int {
	switch {
	case errors.Is(err, storage.ErrTraceNotFound):
		return http.StatusNotFound
	case errors.Is(err, storage.ErrClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// fetchTraces gets the traces with the given IDs with one GetTraces call:
// result i holds the spans of ids[i], none when it is not stored.
func (h *handler) fetchTraces(ctx context.Context, ids []model.TraceID, hint storage.TimeHint) ([][]*model.Span, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	traces, err := h.reader.GetTraces(ctx, ids, hint)
	if err != nil {
		return nil, fmt.Errorf("cannot get %d traces: %w", len(ids), err)
	}
	if len(traces) != len(ids) {
		return nil, fmt.Errorf("cannot get traces: storage answered %d traces for %d IDs", len(traces), len(ids))
	}
	return traces, nil
}
