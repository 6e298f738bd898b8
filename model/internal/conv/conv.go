// Package conv holds what the model's Jaeger and Zipkin conversions share:
// microsecond times, the well-known tags that carry OTLP fields (span kind,
// status, scope, trace state), and interning of shared scopes.
package conv

import (
	"fmt"
	"math"
	"strings"

	"github.com/scrytrace/scry/model"
)

// Tag keys older OpenTelemetry exporters use for the instrumentation scope.
const (
	LibraryNameKey    = "otel.library.name"
	LibraryVersionKey = "otel.library.version"
)

const maxMicros = math.MaxUint64 / 1000

// Nanos converts a non-negative count of microseconds to nanoseconds,
// saturating at the largest uint64.
func Nanos(us uint64) uint64 {
	if us > maxMicros {
		return math.MaxUint64
	}
	return us * 1000
}

// SignedNanos converts a Unix time in microseconds to nanoseconds. A negative
// time becomes 0 with a warning (for Span.Warnings) naming what, else the
// warning is empty.
func SignedNanos(us int64, what string) (ns uint64, warning string) {
	if us < 0 {
		return 0, fmt.Sprintf("%s %d µs is negative; set to 0", what, us)
	}
	return Nanos(uint64(us)), ""
}

// End returns start plus a duration in microseconds, in nanoseconds,
// saturating at both ends. A negative duration gives an end before the start,
// which model.Span.Normalize later reports and repairs.
func End(start uint64, durUS int64) uint64 {
	if durUS >= 0 {
		d := Nanos(uint64(durUS))
		if start > math.MaxUint64-d {
			return math.MaxUint64
		}
		return start + d
	}
	d := Nanos(uint64(-(durUS + 1)) + 1) // -MinInt64 overflows int64
	if d > start {
		return 0
	}
	return start - d
}

// Scopes hands out one shared *model.Scope per (name, version). The zero
// value is ready to use; it is not safe for concurrent use.
type Scopes struct {
	m map[[2]string]*model.Scope
}

// Get returns the scope for name and version, creating it on first use.
func (s *Scopes) Get(name, version string) *model.Scope {
	k := [2]string{name, version}
	if sc, ok := s.m[k]; ok {
		return sc
	}
	if s.m == nil {
		s.m = make(map[[2]string]*model.Scope)
	}
	sc := &model.Scope{Name: name, Version: version}
	s.m[k] = sc
	return sc
}

// ErrorStyle says how an "error" tag marks a span as failed.
type ErrorStyle int

const (
	// JaegerError: the tag is an error only as bool true or string "true".
	JaegerError ErrorStyle = iota
	// ZipkinError: any string value is an error, and is its message unless
	// it is "true" or empty.
	ZipkinError
)

// Options select which well-known tags Extract reads.
type Options struct {
	// Kind makes a valid "span.kind" tag the span's kind.
	Kind  bool
	Error ErrorStyle
}

// Fields are the OTLP fields that Jaeger and Zipkin carry in tags.
type Fields struct {
	Kind         model.SpanKind
	Status       model.Status
	ScopeName    string
	ScopeVersion string
	TraceState   string
}

// Extract reads the well-known tags from attrs and returns the attributes
// left (attrs filtered in place, order kept) and the fields they gave:
//   - span.kind (a string naming a kind, with Options.Kind) is the kind;
//   - otel.status_code ("OK", "ERROR", "UNSET" or the STATUS_CODE_ forms)
//     is the status code, otel.status_description its message if the code
//     is ERROR;
//   - an error tag (see ErrorStyle) makes the status ERROR unless
//     otel.status_code says otherwise;
//   - otel.scope.name and otel.scope.version (or, failing them,
//     otel.library.name and otel.library.version) name the scope;
//   - w3c.tracestate is the trace state.
//
// A tag is removed only when its value was taken into a field in full: one
// of the wrong type or with a value the field cannot hold stays an
// attribute, and so does the second of two tags with the same key.
func Extract(attrs []model.KeyValue, opt Options) ([]model.KeyValue, Fields) {
	const (
		iKind = iota
		iCode
		iDesc
		iError
		iScopeName
		iScopeVersion
		iLibName
		iLibVersion
		iTraceState
		nSpecial
	)
	var idx [nSpecial]int
	found := false
	for i := range idx {
		idx[i] = -1
	}
	for i := range attrs {
		k := attrs[i].Key
		if len(k) < 5 || (k[0] != 's' && k[0] != 'o' && k[0] != 'e' && k[0] != 'w') {
			continue // fast path: no well-known key starts otherwise
		}
		j := -1
		switch k {
		case model.JaegerSpanKindKey:
			j = iKind
		case model.JaegerStatusCodeKey:
			j = iCode
		case model.JaegerStatusDescriptionKey:
			j = iDesc
		case model.JaegerErrorKey:
			j = iError
		case model.JaegerScopeNameKey:
			j = iScopeName
		case model.JaegerScopeVersionKey:
			j = iScopeVersion
		case LibraryNameKey:
			j = iLibName
		case LibraryVersionKey:
			j = iLibVersion
		case model.JaegerTraceStateKey:
			j = iTraceState
		}
		if j >= 0 && idx[j] < 0 {
			idx[j] = i
			found = true
		}
	}
	var f Fields
	if !found {
		return attrs, f
	}
	str := func(j int) (string, bool) {
		if idx[j] < 0 || attrs[idx[j]].Value.Type != model.ValueString {
			return "", false
		}
		return attrs[idx[j]].Value.Str, true
	}
	var used [nSpecial]bool

	if s, ok := str(iKind); ok && opt.Kind && s != "" {
		if k, err := model.ParseSpanKind(s); err == nil {
			f.Kind, used[iKind] = k, true
		}
	}

	codeSet := false
	if s, ok := str(iCode); ok {
		if c, ok := parseStatusCode(s); ok {
			f.Status.Code, codeSet, used[iCode] = c, true, true
		}
	}
	errMsg, isErr := "", false
	if idx[iError] >= 0 {
		v := attrs[idx[iError]].Value
		switch {
		case v.Type == model.ValueBool:
			isErr = v.Bool
		case v.Type == model.ValueString && opt.Error == JaegerError:
			isErr = v.Str == "true"
		case v.Type == model.ValueString && opt.Error == ZipkinError:
			isErr = true
			if v.Str != "true" {
				errMsg = v.Str
			}
		}
	}
	if isErr && !codeSet {
		f.Status.Code = model.StatusError
	}
	if f.Status.Code == model.StatusError {
		if s, ok := str(iDesc); ok {
			f.Status.Message, used[iDesc] = s, true
		} else {
			f.Status.Message = errMsg
		}
		// The error tag is redundant unless it held a different message.
		used[iError] = isErr && (errMsg == "" || errMsg == f.Status.Message)
	}

	if s, ok := str(iScopeName); ok {
		f.ScopeName, used[iScopeName] = s, true
		if v, ok := str(iScopeVersion); ok {
			f.ScopeVersion, used[iScopeVersion] = v, true
		}
	} else if s, ok := str(iLibName); ok {
		f.ScopeName, used[iLibName] = s, true
		if v, ok := str(iLibVersion); ok {
			f.ScopeVersion, used[iLibVersion] = v, true
		}
	}
	if s, ok := str(iTraceState); ok {
		f.TraceState, used[iTraceState] = s, true
	}

	drop := func(i int) bool {
		for j, at := range idx {
			if at == i && used[j] {
				return true
			}
		}
		return false
	}
	out := attrs[:0]
	for i := range attrs {
		if !drop(i) {
			out = append(out, attrs[i])
		}
	}
	// Clear the tail so dropped values are not kept alive by the slab.
	clear(attrs[len(out):])
	if len(out) == 0 {
		return nil, f
	}
	return out[:len(out):len(out)], f
}

func parseStatusCode(s string) (model.StatusCode, bool) {
	switch strings.TrimPrefix(strings.ToUpper(s), "STATUS_CODE_") {
	case "UNSET":
		return model.StatusUnset, true
	case "OK":
		return model.StatusOK, true
	case "ERROR":
		return model.StatusError, true
	}
	return 0, false
}
