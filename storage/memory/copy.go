package memory

import (
	"bytes"
	"math"

	"github.com/scrytrace/scry/model"
)

// copier deep-copies spans. Spans that shared a *Resource or *Scope before
// copying share one copy of it afterwards, as spans of one export do.
type copier struct {
	resources map[*model.Resource]*model.Resource
	scopes    map[*model.Scope]*model.Scope
}

func newCopier() *copier {
	return &copier{
		resources: make(map[*model.Resource]*model.Resource),
		scopes:    make(map[*model.Scope]*model.Scope),
	}
}

// span returns a deep copy of s. Empty slices become nil, and values keep
// only the field their type uses, so equal content has one representation.
func (c *copier) span(s *model.Span) *model.Span {
	out := *s
	out.Resource = c.resource(s.Resource)
	out.Scope = c.scope(s.Scope)
	out.Attributes = copyKVs(s.Attributes)
	out.Events = nil
	if len(s.Events) > 0 {
		out.Events = make([]model.Event, len(s.Events))
		for i, e := range s.Events {
			e.Attributes = copyKVs(e.Attributes)
			out.Events[i] = e
		}
	}
	out.Links = nil
	if len(s.Links) > 0 {
		out.Links = make([]model.Link, len(s.Links))
		for i, l := range s.Links {
			l.Attributes = copyKVs(l.Attributes)
			out.Links[i] = l
		}
	}
	out.Warnings = nil
	if len(s.Warnings) > 0 {
		out.Warnings = append([]string(nil), s.Warnings...)
	}
	return &out
}

func (c *copier) resource(r *model.Resource) *model.Resource {
	if r == nil {
		return nil
	}
	if cp, ok := c.resources[r]; ok {
		return cp
	}
	cp := &model.Resource{
		Attributes:             copyKVs(r.Attributes),
		DroppedAttributesCount: r.DroppedAttributesCount,
		SchemaURL:              r.SchemaURL,
	}
	c.resources[r] = cp
	return cp
}

func (c *copier) scope(s *model.Scope) *model.Scope {
	if s == nil {
		return nil
	}
	if cp, ok := c.scopes[s]; ok {
		return cp
	}
	cp := &model.Scope{
		Name:                   s.Name,
		Version:                s.Version,
		Attributes:             copyKVs(s.Attributes),
		DroppedAttributesCount: s.DroppedAttributesCount,
		SchemaURL:              s.SchemaURL,
	}
	c.scopes[s] = cp
	return cp
}

func copyKVs(kvs []model.KeyValue) []model.KeyValue {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]model.KeyValue, len(kvs))
	for i, kv := range kvs {
		out[i] = model.KeyValue{Key: kv.Key, Value: copyValue(kv.Value)}
	}
	return out
}

// copyValue copies the field v.Type uses and leaves the others zero.
func copyValue(v model.Value) model.Value {
	out := model.Value{Type: v.Type}
	switch v.Type {
	case model.ValueString:
		out.Str = v.Str
	case model.ValueBool:
		out.Bool = v.Bool
	case model.ValueInt:
		out.Int = v.Int
	case model.ValueDouble:
		out.Double = v.Double
	case model.ValueBytes:
		if len(v.Bytes) > 0 {
			out.Bytes = bytes.Clone(v.Bytes)
		}
	case model.ValueArray:
		if len(v.Array) > 0 {
			out.Array = make([]model.Value, len(v.Array))
			for i, e := range v.Array {
				out.Array[i] = copyValue(e)
			}
		}
	case model.ValueMap:
		out.Map = copyKVs(v.Map)
	}
	return out
}

// equalSpan reports whether a and b have the same content: every field, with
// resources and scopes compared by content, nil equal to empty, and values
// compared by the field their type uses (doubles bit for bit).
func equalSpan(a, b *model.Span) bool {
	return a.TraceID == b.TraceID &&
		a.SpanID == b.SpanID &&
		a.ParentSpanID == b.ParentSpanID &&
		a.TraceState == b.TraceState &&
		a.Flags == b.Flags &&
		a.Name == b.Name &&
		a.Kind == b.Kind &&
		a.StartTime == b.StartTime &&
		a.EndTime == b.EndTime &&
		a.DroppedAttributesCount == b.DroppedAttributesCount &&
		a.DroppedEventsCount == b.DroppedEventsCount &&
		a.DroppedLinksCount == b.DroppedLinksCount &&
		a.Status == b.Status &&
		equalResource(a.Resource, b.Resource) &&
		equalScope(a.Scope, b.Scope) &&
		equalKVs(a.Attributes, b.Attributes) &&
		equalSlices(a.Events, b.Events, equalEvent) &&
		equalSlices(a.Links, b.Links, equalLink) &&
		equalSlices(a.Warnings, b.Warnings, func(x, y string) bool { return x == y })
}

func equalResource(a, b *model.Resource) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.DroppedAttributesCount == b.DroppedAttributesCount &&
		a.SchemaURL == b.SchemaURL &&
		equalKVs(a.Attributes, b.Attributes)
}

func equalScope(a, b *model.Scope) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Name == b.Name &&
		a.Version == b.Version &&
		a.DroppedAttributesCount == b.DroppedAttributesCount &&
		a.SchemaURL == b.SchemaURL &&
		equalKVs(a.Attributes, b.Attributes)
}

func equalEvent(a, b model.Event) bool {
	return a.Time == b.Time &&
		a.Name == b.Name &&
		a.DroppedAttributesCount == b.DroppedAttributesCount &&
		equalKVs(a.Attributes, b.Attributes)
}

func equalLink(a, b model.Link) bool {
	return a.TraceID == b.TraceID &&
		a.SpanID == b.SpanID &&
		a.TraceState == b.TraceState &&
		a.Flags == b.Flags &&
		a.DroppedAttributesCount == b.DroppedAttributesCount &&
		equalKVs(a.Attributes, b.Attributes)
}

func equalKVs(a, b []model.KeyValue) bool {
	return equalSlices(a, b, func(x, y model.KeyValue) bool {
		return x.Key == y.Key && equalValue(x.Value, y.Value)
	})
}

func equalValue(a, b model.Value) bool {
	if a.Type != b.Type {
		return false
	}
	switch a.Type {
	case model.ValueString:
		return a.Str == b.Str
	case model.ValueBool:
		return a.Bool == b.Bool
	case model.ValueInt:
		return a.Int == b.Int
	case model.ValueDouble:
		return math.Float64bits(a.Double) == math.Float64bits(b.Double)
	case model.ValueBytes:
		return bytes.Equal(a.Bytes, b.Bytes)
	case model.ValueArray:
		return equalSlices(a.Array, b.Array, equalValue)
	case model.ValueMap:
		return equalKVs(a.Map, b.Map)
	}
	return true
}

// equalSlices compares element by element; nil and empty are equal.
func equalSlices[T any](a, b []T, eq func(x, y T) bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !eq(a[i], b[i]) {
			return false
		}
	}
	return true
}
