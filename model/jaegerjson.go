package model

import (
	"cmp"
	"encoding/base64"
	"encoding/hex"
	"math"
	"slices"
	"strconv"
	"strings"
)

// This file renders the model as the JSON that Jaeger's query service returns
// from /api/traces and that Jaeger UI and Grafana's Jaeger data source parse.
//
// Jaeger's JSON is narrower than OTLP, so this output (and only this output)
// drops some data: link attributes, trace state, flags and dropped counts
// (references carry only a type and two IDs), event dropped counts, the
// resource's and scope's schema URLs and dropped counts, scope attributes,
// and the span's dropped counts. Typed values become Jaeger's five types
// (arrays and maps are shown as JSON text). Storage keeps all of it.

// Jaeger tag and log field value types.
const (
	JaegerTypeString  = "string"
	JaegerTypeBool    = "bool"
	JaegerTypeInt64   = "int64"
	JaegerTypeFloat64 = "float64"
	JaegerTypeBinary  = "binary"
)

// Jaeger reference types.
const (
	JaegerChildOf     = "CHILD_OF"
	JaegerFollowsFrom = "FOLLOWS_FROM"
)

// Tag keys that TraceToJaegerJSON adds to a span's tags, as Jaeger's own
// OTLP translation does.
const (
	JaegerSpanKindKey          = "span.kind"
	JaegerStatusCodeKey        = "otel.status_code"
	JaegerStatusDescriptionKey = "otel.status_description"
	JaegerErrorKey             = "error"
	JaegerScopeNameKey         = "otel.scope.name"
	JaegerScopeVersionKey      = "otel.scope.version"
	JaegerTraceStateKey        = "w3c.tracestate"
	// JaegerEventKey is the log field that carries an event's name.
	JaegerEventKey = "event"
)

// maxExactJSONInt is the largest magnitude a JavaScript number (a float64)
// holds exactly; larger int64 values are written as strings.
const maxExactJSONInt = 1 << 53

// JaegerTrace is one trace in Jaeger's UI JSON: an element of the "data"
// array that /api/traces and /api/traces/{id} return.
type JaegerTrace struct {
	TraceID   string                   `json:"traceID"`
	Spans     []JaegerSpan             `json:"spans"`
	Processes map[string]JaegerProcess `json:"processes"`
	Warnings  []string                 `json:"warnings"`
}

// JaegerSpan is one span in Jaeger's UI JSON. Times are in microseconds.
type JaegerSpan struct {
	TraceID       string            `json:"traceID"`
	SpanID        string            `json:"spanID"`
	OperationName string            `json:"operationName"`
	References    []JaegerReference `json:"references"`
	Flags         uint32            `json:"flags"`
	StartTime     uint64            `json:"startTime"` // Unix µs
	Duration      uint64            `json:"duration"`  // µs
	Tags          []JaegerKeyValue  `json:"tags"`
	Logs          []JaegerLog       `json:"logs"`
	ProcessID     string            `json:"processID"`
	Warnings      []string          `json:"warnings"`
}

// JaegerReference points from a span to its parent (CHILD_OF) or to a
// linked span (FOLLOWS_FROM).
type JaegerReference struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

// JaegerProcess is a service and its tags (the span's resource).
type JaegerProcess struct {
	ServiceName string           `json:"serviceName"`
	Tags        []JaegerKeyValue `json:"tags"`
}

// JaegerLog is a span event: its time in Unix µs and its fields.
type JaegerLog struct {
	Timestamp uint64           `json:"timestamp"`
	Fields    []JaegerKeyValue `json:"fields"`
}

// JaegerKeyValue is a typed tag or log field. Value holds a string, bool,
// int64 or float64, as Type says, except that int64 values beyond ±2^53 and
// non-finite float64 values are strings, which JavaScript cannot misread.
type JaegerKeyValue struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// JaegerTraceID formats a trace ID as Jaeger does: 16 lower-case hex digits
// when the high 8 bytes are zero (a 64-bit ID), else 32.
func JaegerTraceID(id TraceID) string {
	if [8]byte(id[:8]) == [8]byte{} {
		return hex.EncodeToString(id[8:])
	}
	return id.String()
}

// TraceToJaegerJSON renders the spans of one trace as Jaeger UI JSON. Spans
// are ordered by start time, then span ID; nil spans are skipped and the
// caller's slice is not reordered. The trace ID is the earliest span's.
// Each distinct resource (service name and attribute set, in any order)
// becomes one process, numbered p1, p2, ... in span order.
func TraceToJaegerJSON(spans []*Span) JaegerTrace {
	sorted := make([]*Span, 0, len(spans))
	for _, s := range spans {
		if s != nil {
			sorted = append(sorted, s)
		}
	}
	slices.SortStableFunc(sorted, func(a, b *Span) int {
		if c := cmp.Compare(a.StartTime, b.StartTime); c != 0 {
			return c
		}
		return slices.Compare(a.SpanID[:], b.SpanID[:])
	})

	t := JaegerTrace{
		Spans:     make([]JaegerSpan, len(sorted)),
		Processes: make(map[string]JaegerProcess),
	}
	if len(sorted) > 0 {
		t.TraceID = JaegerTraceID(sorted[0].TraceID)
	}
	p := processTable{byPtr: make(map[*Resource]string), byKey: make(map[string]string), out: t.Processes}
	for i, s := range sorted {
		t.Spans[i] = jaegerSpan(s, p.id(s.Resource))
	}
	return t
}

func jaegerSpan(s *Span, processID string) JaegerSpan {
	js := JaegerSpan{
		TraceID:       JaegerTraceID(s.TraceID),
		SpanID:        s.SpanID.String(),
		OperationName: s.Name,
		References:    make([]JaegerReference, 0, 1+len(s.Links)),
		// OTLP's low 8 bits are the W3C trace flags (bit 0: sampled, as in
		// Jaeger); the higher bits (is-remote) mean nothing to Jaeger.
		Flags:     s.Flags & 0xff,
		StartTime: s.StartTime / 1000,
		Duration:  s.Duration() / 1000,
		Tags:      jaegerSpanTags(s),
		Logs:      make([]JaegerLog, len(s.Events)),
		ProcessID: processID,
		Warnings:  s.Warnings,
	}
	if !s.ParentSpanID.IsZero() {
		js.References = append(js.References, JaegerReference{
			RefType: JaegerChildOf, TraceID: js.TraceID, SpanID: s.ParentSpanID.String(),
		})
	}
	// Jaeger references cannot carry a link's attributes, trace state or
	// flags: they are lost in this output format only. Links to an invalid
	// (all-zero) span context point nowhere a UI could follow, so they are
	// left out.
	for i := range s.Links {
		l := &s.Links[i]
		if l.TraceID.IsZero() || l.SpanID.IsZero() {
			continue
		}
		js.References = append(js.References, JaegerReference{
			RefType: JaegerFollowsFrom, TraceID: JaegerTraceID(l.TraceID), SpanID: l.SpanID.String(),
		})
	}
	for i := range s.Events {
		e := &s.Events[i]
		fields := make([]JaegerKeyValue, 0, 1+len(e.Attributes))
		if e.Name != "" && !hasKey(e.Attributes, JaegerEventKey) {
			fields = append(fields, JaegerKeyValue{Key: JaegerEventKey, Type: JaegerTypeString, Value: e.Name})
		}
		fields = appendJaegerKVs(fields, e.Attributes)
		js.Logs[i] = JaegerLog{Timestamp: e.Time / 1000, Fields: fields}
	}
	return js
}

// jaegerSpanTags returns the span's attributes followed by the tags Jaeger
// synthesises from OTLP fields. A synthesised tag whose key the span already
// has as an attribute is left out, so no key appears twice.
func jaegerSpanTags(s *Span) []JaegerKeyValue {
	tags := appendJaegerKVs(make([]JaegerKeyValue, 0, len(s.Attributes)+7), s.Attributes)
	add := func(key, typ string, v any) {
		if !hasKey(s.Attributes, key) {
			tags = append(tags, JaegerKeyValue{Key: key, Type: typ, Value: v})
		}
	}
	if s.Kind != SpanKindUnspecified {
		add(JaegerSpanKindKey, JaegerTypeString, s.Kind.String())
	}
	if s.Status.Code != StatusUnset {
		add(JaegerStatusCodeKey, JaegerTypeString, s.Status.Code.String())
	}
	if s.Status.Message != "" {
		add(JaegerStatusDescriptionKey, JaegerTypeString, s.Status.Message)
	}
	if s.Status.Code == StatusError {
		add(JaegerErrorKey, JaegerTypeBool, true)
	}
	if s.Scope != nil && s.Scope.Name != "" {
		add(JaegerScopeNameKey, JaegerTypeString, s.Scope.Name)
	}
	if s.Scope != nil && s.Scope.Version != "" {
		add(JaegerScopeVersionKey, JaegerTypeString, s.Scope.Version)
	}
	if s.TraceState != "" {
		add(JaegerTraceStateKey, JaegerTypeString, s.TraceState)
	}
	return tags
}

func hasKey(kvs []KeyValue, key string) bool {
	for i := range kvs {
		if kvs[i].Key == key {
			return true
		}
	}
	return false
}

func appendJaegerKVs(dst []JaegerKeyValue, kvs []KeyValue) []JaegerKeyValue {
	for i := range kvs {
		dst = append(dst, JaegerKV(kvs[i].Key, kvs[i].Value))
	}
	return dst
}

// JaegerKV converts one attribute to a Jaeger tag: strings, bools, int64 and
// float64 keep their type (an int64 beyond ±2^53 and a NaN or infinite
// float64 have a string value), bytes become type "binary" with a base64
// value, and arrays, maps and empty values become type "string" holding
// Value.String() (JSON text for arrays and maps, "" when empty).
func JaegerKV(key string, v Value) JaegerKeyValue {
	switch v.Type {
	case ValueString:
		return JaegerKeyValue{Key: key, Type: JaegerTypeString, Value: v.Str}
	case ValueBool:
		return JaegerKeyValue{Key: key, Type: JaegerTypeBool, Value: v.Bool}
	case ValueInt:
		if v.Int > maxExactJSONInt || v.Int < -maxExactJSONInt {
			return JaegerKeyValue{Key: key, Type: JaegerTypeInt64, Value: strconv.FormatInt(v.Int, 10)}
		}
		return JaegerKeyValue{Key: key, Type: JaegerTypeInt64, Value: v.Int}
	case ValueDouble:
		if math.IsNaN(v.Double) || math.IsInf(v.Double, 0) {
			return JaegerKeyValue{Key: key, Type: JaegerTypeFloat64, Value: v.String()}
		}
		return JaegerKeyValue{Key: key, Type: JaegerTypeFloat64, Value: v.Double}
	case ValueBytes:
		return JaegerKeyValue{Key: key, Type: JaegerTypeBinary, Value: base64.StdEncoding.EncodeToString(v.Bytes)}
	}
	return JaegerKeyValue{Key: key, Type: JaegerTypeString, Value: v.String()}
}

// processTable numbers distinct processes. Spans usually share *Resource
// pointers, so the content key is computed once per pointer.
type processTable struct {
	byPtr map[*Resource]string
	byKey map[string]string
	out   map[string]JaegerProcess
}

func (p *processTable) id(r *Resource) string {
	if id, ok := p.byPtr[r]; ok {
		return id
	}
	proc := jaegerProcess(r)
	key := processKey(proc)
	id, ok := p.byKey[key]
	if !ok {
		id = "p" + strconv.Itoa(len(p.out)+1)
		p.byKey[key] = id
		p.out[id] = proc
	}
	p.byPtr[r] = id
	return id
}

// jaegerProcess returns the resource as a process: its service name, and its
// attributes except the service.name attribute that named it.
func jaegerProcess(r *Resource) JaegerProcess {
	proc := JaegerProcess{ServiceName: r.ServiceName(), Tags: []JaegerKeyValue{}}
	if r == nil {
		return proc
	}
	proc.Tags = make([]JaegerKeyValue, 0, len(r.Attributes))
	skipped := false
	for i := range r.Attributes {
		kv := &r.Attributes[i]
		if !skipped && kv.Key == ServiceNameKey && kv.Value.Type == ValueString && kv.Value.Str == proc.ServiceName {
			skipped = true
			continue
		}
		proc.Tags = append(proc.Tags, JaegerKV(kv.Key, kv.Value))
	}
	return proc
}

// processKey identifies a process by what Jaeger JSON shows of it: the
// service name and the set of typed tags, in any order. Resources that differ
// only in what Jaeger cannot show share a process.
func processKey(p JaegerProcess) string {
	parts := make([]string, len(p.Tags))
	for i, t := range p.Tags {
		var b strings.Builder
		b.WriteString(strconv.Quote(t.Key))
		b.WriteByte(' ')
		b.WriteString(t.Type)
		b.WriteByte(' ')
		switch v := t.Value.(type) {
		case string:
			b.WriteString(strconv.Quote(v))
		case bool:
			b.WriteString(strconv.FormatBool(v))
		case int64:
			b.WriteString(strconv.FormatInt(v, 10))
		case float64:
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		}
		parts[i] = b.String()
	}
	slices.Sort(parts)
	return strconv.Quote(p.ServiceName) + "\n" + strings.Join(parts, "\n")
}
