package query

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// paramError is a malformed request parameter. Its message names the
// parameter and says what is wrong.
type paramError struct {
	param string
	msg   string
	v3    bool // worded as Jaeger's /api/v3 words it
}

func (e *paramError) Error() string {
	if e.v3 {
		return fmt.Sprintf("malformed parameter %s: %s", e.param, e.msg)
	}
	return fmt.Sprintf("invalid parameter '%s': %s", e.param, e.msg)
}

func badParam(param, format string, args ...any) error {
	return &paramError{param: param, msg: fmt.Sprintf(format, args...)}
}

func badV3Param(param, format string, args ...any) error {
	return &paramError{param: param, msg: fmt.Sprintf(format, args...), v3: true}
}

// Jaeger UI API parameter names.
const (
	paramService     = "service"
	paramOperation   = "operation"
	paramSpanKind    = "spanKind"
	paramTags        = "tags"
	paramTag         = "tag"
	paramStart       = "start"
	paramEnd         = "end"
	paramLookback    = "lookback"
	paramMinDuration = "minDuration"
	paramMaxDuration = "maxDuration"
	paramLimit       = "limit"
	paramTraceID     = "traceID"
	paramRaw         = "raw"
	paramEndTs       = "endTs"
)

// traceSearch is a parsed /api/traces request: a query, or trace IDs to
// fetch (then the query only supplies a time hint).
type traceSearch struct {
	query    storage.Query
	traceIDs []model.TraceID
}

// parseTraceSearch reads the parameters of /api/traces as Jaeger UI and
// Grafana send them. Times are Unix µs; when start is absent the window is
// [end-lookback, end], end defaulting to now.
func (h *handler) parseTraceSearch(v url.Values) (traceSearch, error) {
	var ts traceSearch
	q := &ts.query
	q.Service = v.Get(paramService)
	q.Operation = v.Get(paramOperation)
	kind, err := parseSpanKind(v.Get(paramSpanKind), paramSpanKind)
	if err != nil {
		return ts, err
	}
	q.Kind = kind

	attrs, err := parseTags(v[paramTag], v[paramTags])
	if err != nil {
		return ts, err
	}
	q.Attributes = attrs

	if q.StartMin, q.StartMax, err = h.parseWindow(v); err != nil {
		return ts, err
	}
	if q.DurationMin, err = parseDuration(v, paramMinDuration); err != nil {
		return ts, err
	}
	if q.DurationMax, err = parseDuration(v, paramMaxDuration); err != nil {
		return ts, err
	}
	if q.DurationMax != 0 && q.DurationMin > q.DurationMax {
		return ts, badParam(paramMaxDuration, "%s is less than %s %s", v.Get(paramMaxDuration), paramMinDuration, v.Get(paramMinDuration))
	}
	if q.Limit, err = h.parseLimit(v.Get(paramLimit), paramLimit); err != nil {
		return ts, err
	}
	if err := parseBool(v, paramRaw); err != nil {
		return ts, err
	}

	seen := make(map[model.TraceID]bool)
	for _, s := range v[paramTraceID] {
		id, err := model.ParseTraceID(s)
		if err != nil {
			return ts, badParam(paramTraceID, "%q is not a trace ID of 1 to 32 hex digits", s)
		}
		if !seen[id] {
			seen[id] = true
			ts.traceIDs = append(ts.traceIDs, id)
		}
	}
	if err := q.Validate(); err != nil {
		// Every condition Validate checks was checked above; this is a bug.
		return ts, fmt.Errorf("cannot build the storage query: %w", err)
	}
	return ts, nil
}

// parseTags merges Grafana's repeated tag=key:value and Jaeger UI's tags
// JSON object (which wins on a shared key, as in Jaeger) into attribute
// conditions sorted by key.
func parseTags(simple, jsonTags []string) ([]storage.Attribute, error) {
	m := make(map[string]string)
	for _, t := range simple {
		k, val, ok := strings.Cut(t, ":")
		if !ok {
			return nil, badParam(paramTag, "%q is not key:value", t)
		}
		if k == "" {
			return nil, badParam(paramTag, "%q has an empty key", t)
		}
		m[k] = val
	}
	for _, t := range jsonTags {
		if strings.TrimSpace(t) == "" {
			continue
		}
		obj, err := parseStringMap(t)
		if err != nil {
			return nil, badParam(paramTags, "%v", err)
		}
		for k, val := range obj {
			if k == "" {
				return nil, badParam(paramTags, "a tag has an empty key")
			}
			m[k] = val
		}
	}
	return attributes(m), nil
}

// parseStringMap decodes a JSON object whose values are strings. Numbers and
// booleans are taken as their JSON text (Jaeger UI's logfmt parser can give
// {"error": true}); other values are an error.
func parseStringMap(s string) (map[string]string, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("want a JSON object of strings such as {\"http.status_code\":\"500\"}: %v", err)
	}
	out := make(map[string]string, len(raw))
	for k, rv := range raw {
		var str string
		if err := json.Unmarshal(rv, &str); err == nil {
			out[k] = str
			continue
		}
		text := strings.TrimSpace(string(rv))
		if text == "true" || text == "false" || (text != "" && (text[0] == '-' || text[0] >= '0' && text[0] <= '9')) {
			out[k] = text
			continue
		}
		return nil, fmt.Errorf("the value of %q is %s, want a string", k, text)
	}
	return out, nil
}

func attributes(m map[string]string) []storage.Attribute {
	if len(m) == 0 {
		return nil
	}
	out := make([]storage.Attribute, 0, len(m))
	for k, v := range m {
		out = append(out, storage.Attribute{Key: k, Value: v})
	}
	slices.SortFunc(out, func(a, b storage.Attribute) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// parseWindow returns the search window in Unix ns from start, end and
// lookback.
func (h *handler) parseWindow(v url.Values) (startNs, endNs uint64, err error) {
	start, hasStart, err := parseMicros(v, paramStart)
	if err != nil {
		return 0, 0, err
	}
	end, hasEnd, err := parseMicros(v, paramEnd)
	if err != nil {
		return 0, 0, err
	}
	if !hasEnd {
		end = unixNanos(h.clock.Now())
	}
	if !hasStart {
		lookback := h.cfg.DefaultLookback
		if s := v.Get(paramLookback); s != "" && s != "custom" {
			if lookback, err = parseLookback(s); err != nil {
				return 0, 0, badParam(paramLookback, "%v", err)
			}
		}
		start = end - min(end, uint64(lookback))
	}
	if start > end {
		return 0, 0, badParam(paramStart, "start %s is after end %s", v.Get(paramStart), formatMicros(end))
	}
	return start, end, nil
}

// parseMicros reads a Unix time in µs and returns it in ns.
func parseMicros(v url.Values, name string) (ns uint64, ok bool, err error) {
	s := v.Get(name)
	if s == "" {
		return 0, false, nil
	}
	us, err := strconv.ParseUint(s, 10, 64)
	if err != nil || us > math.MaxUint64/1000 {
		return 0, false, badParam(name, "%q is not a Unix time in microseconds", s)
	}
	return us * 1000, true, nil
}

func formatMicros(ns uint64) string { return strconv.FormatUint(ns/1000, 10) }

func unixNanos(t time.Time) uint64 {
	if n := t.UnixNano(); n > 0 {
		return uint64(n)
	}
	return 0
}

// parseLookback reads a Go duration, or a whole number of days or weeks
// ("2d", "1w") as Jaeger UI offers them. It must be positive.
func parseLookback(s string) (time.Duration, error) {
	var unit time.Duration
	switch s[len(s)-1] {
	case 'd':
		unit = 24 * time.Hour
	case 'w':
		unit = 7 * 24 * time.Hour
	}
	var d time.Duration
	if n, err := strconv.ParseUint(s[:len(s)-1], 10, 64); unit != 0 && err == nil && n <= uint64(math.MaxInt64/unit) {
		d = time.Duration(n) * unit
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 1h, 30m or 2d", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration", s)
	}
	return d, nil
}

// parseDuration reads a Go duration ("1.2s", "100ms", "10us") in ns; absent
// is 0.
func parseDuration(v url.Values, name string) (uint64, error) {
	s := v.Get(name)
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, badParam(name, "%q is not a duration such as 1.2s, 100ms or 10us", s)
	}
	if d < 0 {
		return 0, badParam(name, "%q is negative", s)
	}
	return uint64(d), nil
}

// parseLimit reads a trace count between 1 and the configured maximum; absent
// or 0 is the default.
func (h *handler) parseLimit(s, name string) (int, error) {
	if s == "" {
		return h.cfg.DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, badParam(name, "%q is not a whole number of traces", s)
	}
	if n == 0 {
		return h.cfg.DefaultLimit, nil
	}
	if n > h.cfg.MaxLimit {
		return 0, badParam(name, "%d is more than the maximum of %d traces", n, h.cfg.MaxLimit)
	}
	return n, nil
}

func parseBool(v url.Values, name string) error {
	if s := v.Get(name); s != "" {
		if _, err := strconv.ParseBool(s); err != nil {
			return badParam(name, "%q is not true or false", s)
		}
	}
	return nil
}

// parseSpanKind reads a Jaeger span kind name ("server", "client", ...) in
// any case; "" is every kind.
func parseSpanKind(s, name string) (model.SpanKind, error) {
	if s == "" {
		return storage.AnyKind, nil
	}
	k, err := model.ParseSpanKind(strings.ToLower(s))
	if err != nil || k == model.SpanKindUnspecified {
		return 0, badParam(name, "%q is not one of internal, server, client, producer, consumer", s)
	}
	return k, nil
}

// parseDependencyWindow reads /api/dependencies' endTs and lookback, both in
// milliseconds as in Jaeger, and returns [endTs-lookback, endTs] in Unix ns.
// endTs defaults to now and lookback to 24 hours.
func (h *handler) parseDependencyWindow(v url.Values) (start, end uint64, err error) {
	end = unixNanos(h.clock.Now())
	if s := v.Get(paramEndTs); s != "" {
		ms, err := strconv.ParseUint(s, 10, 64)
		if err != nil || ms > math.MaxUint64/1_000_000 {
			return 0, 0, badParam(paramEndTs, "%q is not a Unix time in milliseconds", s)
		}
		end = ms * 1_000_000
	}
	lookback := uint64(24 * time.Hour)
	if s := v.Get(paramLookback); s != "" {
		ms, err := strconv.ParseUint(s, 10, 64)
		if err != nil || ms == 0 || ms > math.MaxUint64/1_000_000 {
			return 0, 0, badParam(paramLookback, "%q is not a positive number of milliseconds", s)
		}
		lookback = ms * 1_000_000
	}
	return end - min(end, lookback), end, nil
}
