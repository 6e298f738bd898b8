package model

import (
	"bytes"
	"math"
	"slices"
)

// Equal reports whether s and o are the same span: every field equal,
// warnings included, with the resource and scope compared by content (not by
// pointer). It is the one definition of span equality that storage uses to
// keep a span written twice (an at-least-once retry) once.
//
// Empty and nil slices are equal; values compare by the field their type
// uses (a string value with stray bytes equals one without); doubles compare
// by their bits, so a NaN equals the same NaN and 0 differs from -0. Two nil
// spans are equal; a nil span equals no other.
func (s *Span) Equal(o *Span) bool {
	if s == nil || o == nil {
		return s == o
	}
	return s.TraceID == o.TraceID && s.SpanID == o.SpanID && s.ParentSpanID == o.ParentSpanID &&
		s.TraceState == o.TraceState && s.Flags == o.Flags && s.Name == o.Name && s.Kind == o.Kind &&
		s.StartTime == o.StartTime && s.EndTime == o.EndTime &&
		s.DroppedAttributesCount == o.DroppedAttributesCount && s.DroppedEventsCount == o.DroppedEventsCount &&
		s.DroppedLinksCount == o.DroppedLinksCount && s.Status == o.Status &&
		s.Resource.Equal(o.Resource) && s.Scope.Equal(o.Scope) &&
		equalKVs(s.Attributes, o.Attributes) &&
		slices.EqualFunc(s.Events, o.Events, Event.Equal) &&
		slices.EqualFunc(s.Links, o.Links, Link.Equal) &&
		slices.Equal(s.Warnings, o.Warnings)
}

// Equal reports whether r and o have the same content, as Span.Equal
// compares them. Two nil resources are equal.
func (r *Resource) Equal(o *Resource) bool {
	if r == nil || o == nil {
		return r == o
	}
	return r.DroppedAttributesCount == o.DroppedAttributesCount && r.SchemaURL == o.SchemaURL &&
		equalKVs(r.Attributes, o.Attributes)
}

// Equal reports whether sc and o have the same content, as Span.Equal
// compares them. Two nil scopes are equal.
func (sc *Scope) Equal(o *Scope) bool {
	if sc == nil || o == nil {
		return sc == o
	}
	return sc.Name == o.Name && sc.Version == o.Version && sc.SchemaURL == o.SchemaURL &&
		sc.DroppedAttributesCount == o.DroppedAttributesCount && equalKVs(sc.Attributes, o.Attributes)
}

// Equal reports whether e and o are the same event, as Span.Equal compares
// them.
func (e Event) Equal(o Event) bool {
	return e.Time == o.Time && e.Name == o.Name && e.DroppedAttributesCount == o.DroppedAttributesCount &&
		equalKVs(e.Attributes, o.Attributes)
}

// Equal reports whether l and o are the same link, as Span.Equal compares
// them.
func (l Link) Equal(o Link) bool {
	return l.TraceID == o.TraceID && l.SpanID == o.SpanID && l.TraceState == o.TraceState &&
		l.Flags == o.Flags && l.DroppedAttributesCount == o.DroppedAttributesCount &&
		equalKVs(l.Attributes, o.Attributes)
}

// Equal reports whether kv and o have the same key and equal values.
func (kv KeyValue) Equal(o KeyValue) bool { return kv.Key == o.Key && kv.Value.Equal(o.Value) }

// Equal reports whether v and o have the same type and the same data in the
// field that type uses. Doubles compare by their bits (math.Float64bits), so
// a NaN equals itself; bytes, arrays and maps compare element by element,
// nil equal to empty.
func (v Value) Equal(o Value) bool {
	if v.Type != o.Type {
		return false
	}
	switch v.Type {
	case ValueString:
		return v.Str == o.Str
	case ValueBool:
		return v.Bool == o.Bool
	case ValueInt:
		return v.Int == o.Int
	case ValueDouble:
		return math.Float64bits(v.Double) == math.Float64bits(o.Double)
	case ValueBytes:
		return bytes.Equal(v.Bytes, o.Bytes)
	case ValueArray:
		return slices.EqualFunc(v.Array, o.Array, Value.Equal)
	case ValueMap:
		return equalKVs(v.Map, o.Map)
	}
	return true
}

func equalKVs(a, b []KeyValue) bool { return slices.EqualFunc(a, b, KeyValue.Equal) }
