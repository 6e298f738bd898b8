package model

import "bytes"

// Clone returns a deep copy of s that shares no memory with it, its
// resource and scope included; Equal reports it equal to s. The copy is in
// canonical form: empty slices become nil, and values keep only the field
// their type uses, so equal spans have one representation. Clone of nil is
// nil.
func (s *Span) Clone() *Span {
	if s == nil {
		return nil
	}
	var c cloner // nothing to share with
	return c.span(s)
}

// CloneSpans returns Clone of each span. Spans that shared a *Resource or a
// *Scope share one copy of it afterwards, as the spans of one export do, so
// a batch costs one copy per resource and scope rather than one per span.
func CloneSpans(spans []*Span) []*Span {
	if spans == nil {
		return nil
	}
	c := newCloner()
	out := make([]*Span, len(spans))
	for i, s := range spans {
		if s != nil {
			out[i] = c.span(s)
		}
	}
	return out
}

// Clone returns a deep copy of r in canonical form (see Span.Clone).
func (r *Resource) Clone() *Resource {
	if r == nil {
		return nil
	}
	return &Resource{
		Attributes:             cloneKVs(r.Attributes),
		DroppedAttributesCount: r.DroppedAttributesCount,
		SchemaURL:              r.SchemaURL,
	}
}

// Clone returns a deep copy of sc in canonical form (see Span.Clone).
func (sc *Scope) Clone() *Scope {
	if sc == nil {
		return nil
	}
	return &Scope{
		Name:                   sc.Name,
		Version:                sc.Version,
		Attributes:             cloneKVs(sc.Attributes),
		DroppedAttributesCount: sc.DroppedAttributesCount,
		SchemaURL:              sc.SchemaURL,
	}
}

// Clone returns a deep copy of v that keeps only the field v.Type uses;
// Equal reports it equal to v.
func (v Value) Clone() Value {
	out := Value{Type: v.Type}
	switch v.Type {
	case ValueString:
		out.Str = v.Str
	case ValueBool:
		out.Bool = v.Bool
	case ValueInt:
		out.Int = v.Int
	case ValueDouble:
		out.Double = v.Double
	case ValueBytes:
		if len(v.Bytes) > 0 {
			out.Bytes = bytes.Clone(v.Bytes)
		}
	case ValueArray:
		if len(v.Array) > 0 {
			out.Array = make([]Value, len(v.Array))
			for i, e := range v.Array {
				out.Array[i] = e.Clone()
			}
		}
	case ValueMap:
		out.Map = cloneKVs(v.Map)
	}
	return out
}

// cloner copies spans. Made by newCloner, it keeps resources and scopes
// shared as they were; its zero value copies them for every span.
type cloner struct {
	resources map[*Resource]*Resource
	scopes    map[*Scope]*Scope
}

func newCloner() *cloner {
	return &cloner{resources: make(map[*Resource]*Resource), scopes: make(map[*Scope]*Scope)}
}

func (c *cloner) span(s *Span) *Span {
	out := *s
	out.Resource = sharedCopy(c.resources, s.Resource, (*Resource).Clone)
	out.Scope = sharedCopy(c.scopes, s.Scope, (*Scope).Clone)
	out.Attributes = cloneKVs(s.Attributes)
	out.Events = nil
	if len(s.Events) > 0 {
		out.Events = make([]Event, len(s.Events))
		for i, e := range s.Events {
			e.Attributes = cloneKVs(e.Attributes)
			out.Events[i] = e
		}
	}
	out.Links = nil
	if len(s.Links) > 0 {
		out.Links = make([]Link, len(s.Links))
		for i, l := range s.Links {
			l.Attributes = cloneKVs(l.Attributes)
			out.Links[i] = l
		}
	}
	out.Warnings = nil
	if len(s.Warnings) > 0 {
		out.Warnings = append([]string(nil), s.Warnings...)
	}
	return &out
}

// sharedCopy returns p's copy made for an earlier span (seen is nil when
// nothing is shared), or makes and records one.
func sharedCopy[T any](seen map[*T]*T, p *T, clone func(*T) *T) *T {
	if p == nil {
		return nil
	}
	if seen == nil {
		return clone(p)
	}
	cp, ok := seen[p]
	if !ok {
		cp = clone(p)
		seen[p] = cp
	}
	return cp
}

func cloneKVs(kvs []KeyValue) []KeyValue {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]KeyValue, len(kvs))
	for i, kv := range kvs {
		out[i] = KeyValue{Key: kv.Key, Value: kv.Value.Clone()}
	}
	return out
}
