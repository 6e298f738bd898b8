package model

import (
	"fmt"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// This file converts between OTLP protobuf messages and the model. OTLP is
// the model, so the conversion is lossless for valid spans, with these
// exceptions (none of which carries trace data):
//   - Resource.entity_refs (a development-status OTLP field) is not kept.
//   - AnyValue.string_value_strindex and KeyValue.key_strindex are meant for
//     the profiling signal only; as the OTLP spec asks of other signals they
//     are ignored (the value becomes ValueEmpty, the key stays as sent).
//   - An 8-byte trace ID comes back as 16 bytes, zero-padded on the left; an
//     all-zero 8-byte parent span ID comes back empty (both mean "no
//     parent"); a link ID sent empty comes back as zero bytes of full length.
//   - A missing resource, scope or status comes back as an empty message.

// SpansFromOTLP converts OTLP resource spans to model spans, in the order
// they were sent. The spans of one ResourceSpans share one *Resource and the
// spans of one ScopeSpans share one *Scope; a missing resource or scope
// becomes an empty one.
//
// A span with a malformed ID is not converted: a trace ID that is not 16
// bytes (or 8, which is zero-padded on the left) or is all zeros, a span ID
// that is not 8 bytes or is all zeros, a parent span ID that is neither empty
// nor 8 bytes, or a link whose trace ID is not 0, 8 or 16 bytes or whose span
// ID is not 0 or 8 bytes (all-zero link IDs are allowed, as OTel SDKs record
// links to invalid span contexts). Each such span adds one error to rejected,
// naming the span and the ID at fault and wrapping ErrInvalidID; the other
// spans are still converted.
//
// The result does not alias rss. To keep allocations low on the ingest path,
// the spans of one call share backing arrays, so holding any of them keeps
// the whole batch's memory alive; slices are capped, so appending to a span's
// attributes, events or links never overwrites another span's.
func SpansFromOTLP(rss []*tracepb.ResourceSpans) (spans []*Span, rejected []error) {
	var n batchCounts
	for _, rs := range rss {
		n.kvs += len(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			n.kvs += len(ss.GetScope().GetAttributes())
			for _, sp := range ss.GetSpans() {
				n.count(sp)
			}
		}
	}
	if n.spans == 0 {
		return nil, nil
	}
	c := fromOTLP{
		spans:  make([]Span, n.spans),
		kvs:    make([]KeyValue, n.kvs),
		events: make([]Event, n.events),
		links:  make([]Link, n.links),
	}
	spans = make([]*Span, 0, n.spans)
	for _, rs := range rss {
		res := &Resource{
			Attributes:             c.attrs(rs.GetResource().GetAttributes()),
			DroppedAttributesCount: rs.GetResource().GetDroppedAttributesCount(),
			SchemaURL:              rs.GetSchemaUrl(),
		}
		for _, ss := range rs.GetScopeSpans() {
			is := ss.GetScope()
			scope := &Scope{
				Name:                   is.GetName(),
				Version:                is.GetVersion(),
				Attributes:             c.attrs(is.GetAttributes()),
				DroppedAttributesCount: is.GetDroppedAttributesCount(),
				SchemaURL:              ss.GetSchemaUrl(),
			}
			for _, sp := range ss.GetSpans() {
				s := &c.spans[0]
				c.spans = c.spans[1:]
				if err := c.span(s, sp); err != nil {
					rejected = append(rejected, fmt.Errorf("span %q of service %q: %w", sp.GetName(), res.ServiceName(), err))
					continue
				}
				s.Resource = res
				s.Scope = scope
				spans = append(spans, s)
			}
		}
	}
	return spans, rejected
}

type batchCounts struct {
	spans, kvs, events, links int
}

func (n *batchCounts) count(sp *tracepb.Span) {
	n.spans++
	n.kvs += len(sp.GetAttributes())
	n.events += len(sp.GetEvents())
	for _, e := range sp.GetEvents() {
		n.kvs += len(e.GetAttributes())
	}
	n.links += len(sp.GetLinks())
	for _, l := range sp.GetLinks() {
		n.kvs += len(l.GetAttributes())
	}
}

// fromOTLP hands out pieces of batch-wide slabs, each exactly sized by a
// counting pass, so a batch costs a handful of allocations plus one per
// nested array or map value and per bytes value.
type fromOTLP struct {
	spans  []Span
	kvs    []KeyValue
	events []Event
	links  []Link
}

// span fills s from sp, or returns an error about its IDs and leaves s unused.
func (c *fromOTLP) span(s *Span, sp *tracepb.Span) error {
	var err error
	if s.TraceID, err = TraceIDFromBytes(sp.GetTraceId()); err != nil {
		return err
	}
	if s.SpanID, err = SpanIDFromBytes(sp.GetSpanId()); err != nil {
		return err
	}
	switch p := sp.GetParentSpanId(); len(p) {
	case 0:
	case 8:
		copy(s.ParentSpanID[:], p)
	default:
		return fmt.Errorf("%w: parent span id has %d bytes, want 0 or 8", ErrInvalidID, len(p))
	}
	for i, l := range sp.GetLinks() {
		if err := checkLinkIDs(l); err != nil {
			return fmt.Errorf("link %d: %w", i, err)
		}
	}

	s.TraceState = sp.GetTraceState()
	s.Flags = sp.GetFlags()
	s.Name = sp.GetName()
	s.Kind = SpanKind(sp.GetKind())
	s.StartTime = sp.GetStartTimeUnixNano()
	s.EndTime = sp.GetEndTimeUnixNano()
	s.Attributes = c.attrs(sp.GetAttributes())
	s.DroppedAttributesCount = sp.GetDroppedAttributesCount()
	s.DroppedEventsCount = sp.GetDroppedEventsCount()
	s.DroppedLinksCount = sp.GetDroppedLinksCount()
	s.Status = Status{Code: StatusCode(sp.GetStatus().GetCode()), Message: sp.GetStatus().GetMessage()}

	if evs := sp.GetEvents(); len(evs) > 0 {
		s.Events = c.events[:len(evs):len(evs)]
		c.events = c.events[len(evs):]
		for i, e := range evs {
			s.Events[i] = Event{
				Time:                   e.GetTimeUnixNano(),
				Name:                   e.GetName(),
				Attributes:             c.attrs(e.GetAttributes()),
				DroppedAttributesCount: e.GetDroppedAttributesCount(),
			}
		}
	}
	if ls := sp.GetLinks(); len(ls) > 0 {
		s.Links = c.links[:len(ls):len(ls)]
		c.links = c.links[len(ls):]
		for i, l := range ls {
			dst := &s.Links[i]
			if tid := l.GetTraceId(); len(tid) > 0 {
				copy(dst.TraceID[16-len(tid):], tid) // length checked: 8 or 16
			}
			copy(dst.SpanID[:], l.GetSpanId())
			dst.TraceState = l.GetTraceState()
			dst.Attributes = c.attrs(l.GetAttributes())
			dst.DroppedAttributesCount = l.GetDroppedAttributesCount()
			dst.Flags = l.GetFlags()
		}
	}
	return nil
}

func checkLinkIDs(l *tracepb.Span_Link) error {
	switch n := len(l.GetTraceId()); n {
	case 0, 8, 16:
	default:
		return fmt.Errorf("%w: trace id has %d bytes, want 16", ErrInvalidID, n)
	}
	switch n := len(l.GetSpanId()); n {
	case 0, 8:
	default:
		return fmt.Errorf("%w: span id has %d bytes, want 8", ErrInvalidID, n)
	}
	return nil
}

// attrs converts a list of attributes into the next piece of the slab.
func (c *fromOTLP) attrs(src []*commonpb.KeyValue) []KeyValue {
	if len(src) == 0 {
		return nil
	}
	dst := c.kvs[:len(src):len(src)]
	c.kvs = c.kvs[len(src):]
	fillKVs(dst, src)
	return dst
}

func fillKVs(dst []KeyValue, src []*commonpb.KeyValue) {
	for i, kv := range src {
		dst[i].Key = kv.GetKey()
		fillValue(&dst[i].Value, kv.GetValue())
	}
}

// ValueFromOTLP converts an OTLP AnyValue. A nil AnyValue, one with no value
// set, and one holding a profiling string-table index all become ValueEmpty.
func ValueFromOTLP(av *commonpb.AnyValue) Value {
	var v Value
	fillValue(&v, av)
	return v
}

func fillValue(dst *Value, av *commonpb.AnyValue) {
	switch x := av.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		*dst = Value{Type: ValueString, Str: x.StringValue}
	case *commonpb.AnyValue_BoolValue:
		*dst = Value{Type: ValueBool, Bool: x.BoolValue}
	case *commonpb.AnyValue_IntValue:
		*dst = Value{Type: ValueInt, Int: x.IntValue}
	case *commonpb.AnyValue_DoubleValue:
		*dst = Value{Type: ValueDouble, Double: x.DoubleValue}
	case *commonpb.AnyValue_BytesValue:
		*dst = Value{Type: ValueBytes}
		if x.BytesValue != nil {
			dst.Bytes = append(make([]byte, 0, len(x.BytesValue)), x.BytesValue...)
		}
	case *commonpb.AnyValue_ArrayValue:
		*dst = Value{Type: ValueArray}
		if src := x.ArrayValue.GetValues(); len(src) > 0 {
			dst.Array = make([]Value, len(src))
			for i, e := range src {
				fillValue(&dst.Array[i], e)
			}
		}
	case *commonpb.AnyValue_KvlistValue:
		*dst = Value{Type: ValueMap}
		if src := x.KvlistValue.GetValues(); len(src) > 0 {
			dst.Map = make([]KeyValue, len(src))
			fillKVs(dst.Map, src)
		}
	default:
		*dst = Value{}
	}
}

// SpansToOTLP converts model spans to OTLP. Spans are grouped by their
// *Resource, then by their *Scope (pointer identity, as SpansFromOTLP shares
// them), keeping the order in which each resource, scope and span was first
// seen. A nil Resource or Scope becomes an empty message; a zero parent span
// ID is left empty; Span.Warnings are not OTLP data and are left out. Nil
// spans are skipped. The result does not alias spans.
func SpansToOTLP(spans []*Span) []*tracepb.ResourceSpans {
	type scopeKey struct {
		r *Resource
		s *Scope
	}
	type group struct {
		res   int // index into out
		ss    *tracepb.ScopeSpans
		count int
	}
	var (
		out      []*tracepb.ResourceSpans
		resIdx   = make(map[*Resource]int)
		scopeIdx = make(map[scopeKey]int)
		groups   []group
		groupOf  = make([]int32, len(spans))
		n        toCounts
	)
	// Pass 1: assign spans to groups and count what the slabs must hold.
	for i, s := range spans {
		if s == nil {
			groupOf[i] = -1
			continue
		}
		key := scopeKey{s.Resource, s.Scope}
		g, ok := scopeIdx[key]
		if !ok {
			r, ok := resIdx[s.Resource]
			if !ok {
				r = len(out)
				resIdx[s.Resource] = r
				out = append(out, &tracepb.ResourceSpans{})
				if s.Resource != nil {
					n.attrs(s.Resource.Attributes)
				}
			}
			g = len(groups)
			scopeIdx[key] = g
			groups = append(groups, group{res: r})
			if s.Scope != nil {
				n.attrs(s.Scope.Attributes)
			}
		}
		groupOf[i] = int32(g)
		groups[g].count++
		n.count(s)
	}
	if len(out) == 0 {
		return nil
	}

	c := toOTLP{
		spans:   make([]tracepb.Span, n.spans),
		status:  make([]tracepb.Status, n.spans),
		events:  make([]tracepb.Span_Event, n.events),
		eventPs: make([]*tracepb.Span_Event, n.events),
		links:   make([]tracepb.Span_Link, n.links),
		linkPs:  make([]*tracepb.Span_Link, n.links),
		kvs:     make([]commonpb.KeyValue, n.kvs),
		kvPs:    make([]*commonpb.KeyValue, n.kvs),
		values:  make([]commonpb.AnyValue, n.kvs),
		ids:     make([]byte, n.idBytes),
		strs:    make([]commonpb.AnyValue_StringValue, n.strs),
		ints:    make([]commonpb.AnyValue_IntValue, n.ints),
		doubles: make([]commonpb.AnyValue_DoubleValue, n.doubles),
		bools:   make([]commonpb.AnyValue_BoolValue, n.bools),
	}

	// Resources and scopes, in first-seen order.
	for r := range resIdx {
		rs := out[resIdx[r]]
		rs.Resource = &resourcepb.Resource{}
		if r != nil {
			rs.Resource.Attributes = c.attrs(r.Attributes)
			rs.Resource.DroppedAttributesCount = r.DroppedAttributesCount
			rs.SchemaUrl = r.SchemaURL
		}
	}
	for k, g := range scopeIdx {
		ss := &tracepb.ScopeSpans{
			Scope: &commonpb.InstrumentationScope{},
			Spans: make([]*tracepb.Span, 0, groups[g].count),
		}
		if k.s != nil {
			ss.Scope.Name = k.s.Name
			ss.Scope.Version = k.s.Version
			ss.Scope.Attributes = c.attrs(k.s.Attributes)
			ss.Scope.DroppedAttributesCount = k.s.DroppedAttributesCount
			ss.SchemaUrl = k.s.SchemaURL
		}
		groups[g].ss = ss
	}
	// Map iteration order is random: attach scope groups in first-seen order.
	for _, g := range groups {
		rs := out[g.res]
		rs.ScopeSpans = append(rs.ScopeSpans, g.ss)
	}

	// Pass 2: the spans.
	for i, s := range spans {
		if groupOf[i] < 0 {
			continue
		}
		ss := groups[groupOf[i]].ss
		ss.Spans = append(ss.Spans, c.span(s))
	}
	return out
}

type toCounts struct {
	spans, kvs, events, links, idBytes int
	strs, ints, doubles, bools         int
}

// attrs counts a list of attributes, by the type of its top-level values.
func (n *toCounts) attrs(kvs []KeyValue) {
	n.kvs += len(kvs)
	for i := range kvs {
		switch kvs[i].Value.Type {
		case ValueString:
			n.strs++
		case ValueInt:
			n.ints++
		case ValueDouble:
			n.doubles++
		case ValueBool:
			n.bools++
		}
	}
}

func (n *toCounts) count(s *Span) {
	n.spans++
	n.idBytes += 16 + 8
	if !s.ParentSpanID.IsZero() {
		n.idBytes += 8
	}
	n.attrs(s.Attributes)
	n.events += len(s.Events)
	for i := range s.Events {
		n.attrs(s.Events[i].Attributes)
	}
	n.links += len(s.Links)
	n.idBytes += len(s.Links) * (16 + 8)
	for i := range s.Links {
		n.attrs(s.Links[i].Attributes)
	}
}

// toOTLP hands out pieces of exactly sized slabs, as fromOTLP does.
type toOTLP struct {
	spans   []tracepb.Span
	status  []tracepb.Status
	events  []tracepb.Span_Event
	eventPs []*tracepb.Span_Event
	links   []tracepb.Span_Link
	linkPs  []*tracepb.Span_Link
	kvs     []commonpb.KeyValue
	kvPs    []*commonpb.KeyValue
	values  []commonpb.AnyValue
	ids     []byte
	// The oneof wrappers of top-level scalar values; nested values and
	// other types are allocated one by one.
	strs    []commonpb.AnyValue_StringValue
	ints    []commonpb.AnyValue_IntValue
	doubles []commonpb.AnyValue_DoubleValue
	bools   []commonpb.AnyValue_BoolValue
}

func (c *toOTLP) id(b []byte) []byte {
	dst := c.ids[:len(b):len(b)]
	c.ids = c.ids[len(b):]
	copy(dst, b)
	return dst
}

func (c *toOTLP) span(s *Span) *tracepb.Span {
	sp := &c.spans[0]
	c.spans = c.spans[1:]
	st := &c.status[0]
	c.status = c.status[1:]

	sp.TraceId = c.id(s.TraceID[:])
	sp.SpanId = c.id(s.SpanID[:])
	if !s.ParentSpanID.IsZero() {
		sp.ParentSpanId = c.id(s.ParentSpanID[:])
	}
	sp.TraceState = s.TraceState
	sp.Flags = s.Flags
	sp.Name = s.Name
	sp.Kind = tracepb.Span_SpanKind(s.Kind)
	sp.StartTimeUnixNano = s.StartTime
	sp.EndTimeUnixNano = s.EndTime
	sp.Attributes = c.attrs(s.Attributes)
	sp.DroppedAttributesCount = s.DroppedAttributesCount
	sp.DroppedEventsCount = s.DroppedEventsCount
	sp.DroppedLinksCount = s.DroppedLinksCount
	st.Code = tracepb.Status_StatusCode(s.Status.Code)
	st.Message = s.Status.Message
	sp.Status = st

	if n := len(s.Events); n > 0 {
		sp.Events = c.eventPs[:n:n]
		c.eventPs = c.eventPs[n:]
		for i := range s.Events {
			e, pe := &s.Events[i], &c.events[i]
			pe.TimeUnixNano = e.Time
			pe.Name = e.Name
			pe.Attributes = c.attrs(e.Attributes)
			pe.DroppedAttributesCount = e.DroppedAttributesCount
			sp.Events[i] = pe
		}
		c.events = c.events[n:]
	}
	if n := len(s.Links); n > 0 {
		sp.Links = c.linkPs[:n:n]
		c.linkPs = c.linkPs[n:]
		for i := range s.Links {
			l, pl := &s.Links[i], &c.links[i]
			pl.TraceId = c.id(l.TraceID[:])
			pl.SpanId = c.id(l.SpanID[:])
			pl.TraceState = l.TraceState
			pl.Attributes = c.attrs(l.Attributes)
			pl.DroppedAttributesCount = l.DroppedAttributesCount
			pl.Flags = l.Flags
			sp.Links[i] = pl
		}
		c.links = c.links[n:]
	}
	return sp
}

func (c *toOTLP) attrs(src []KeyValue) []*commonpb.KeyValue {
	n := len(src)
	if n == 0 {
		return nil
	}
	dst := c.kvPs[:n:n]
	c.kvPs = c.kvPs[n:]
	for i := range src {
		kv, av := &c.kvs[i], &c.values[i]
		kv.Key = src[i].Key
		c.value(av, src[i].Value)
		kv.Value = av
		dst[i] = kv
	}
	c.kvs = c.kvs[n:]
	c.values = c.values[n:]
	return dst
}

// value fills av from v, taking scalar oneof wrappers from the slabs.
func (c *toOTLP) value(av *commonpb.AnyValue, v Value) {
	switch v.Type {
	case ValueString:
		w := &c.strs[0]
		c.strs = c.strs[1:]
		w.StringValue = v.Str
		av.Value = w
	case ValueInt:
		w := &c.ints[0]
		c.ints = c.ints[1:]
		w.IntValue = v.Int
		av.Value = w
	case ValueDouble:
		w := &c.doubles[0]
		c.doubles = c.doubles[1:]
		w.DoubleValue = v.Double
		av.Value = w
	case ValueBool:
		w := &c.bools[0]
		c.bools = c.bools[1:]
		w.BoolValue = v.Bool
		av.Value = w
	default:
		fillAnyValue(av, v)
	}
}

// ValueToOTLP converts a Value to an OTLP AnyValue. ValueEmpty (and any
// unknown type) becomes an AnyValue with no value set.
func ValueToOTLP(v Value) *commonpb.AnyValue {
	av := &commonpb.AnyValue{}
	fillAnyValue(av, v)
	return av
}

func fillAnyValue(av *commonpb.AnyValue, v Value) {
	switch v.Type {
	case ValueString:
		av.Value = &commonpb.AnyValue_StringValue{StringValue: v.Str}
	case ValueBool:
		av.Value = &commonpb.AnyValue_BoolValue{BoolValue: v.Bool}
	case ValueInt:
		av.Value = &commonpb.AnyValue_IntValue{IntValue: v.Int}
	case ValueDouble:
		av.Value = &commonpb.AnyValue_DoubleValue{DoubleValue: v.Double}
	case ValueBytes:
		var b []byte
		if v.Bytes != nil {
			b = append(make([]byte, 0, len(v.Bytes)), v.Bytes...)
		}
		av.Value = &commonpb.AnyValue_BytesValue{BytesValue: b}
	case ValueArray:
		arr := &commonpb.ArrayValue{}
		if n := len(v.Array); n > 0 {
			vals := make([]commonpb.AnyValue, n)
			arr.Values = make([]*commonpb.AnyValue, n)
			for i := range v.Array {
				fillAnyValue(&vals[i], v.Array[i])
				arr.Values[i] = &vals[i]
			}
		}
		av.Value = &commonpb.AnyValue_ArrayValue{ArrayValue: arr}
	case ValueMap:
		kvl := &commonpb.KeyValueList{}
		if n := len(v.Map); n > 0 {
			kvs := make([]commonpb.KeyValue, n)
			vals := make([]commonpb.AnyValue, n)
			kvl.Values = make([]*commonpb.KeyValue, n)
			for i := range v.Map {
				kvs[i].Key = v.Map[i].Key
				fillAnyValue(&vals[i], v.Map[i].Value)
				kvs[i].Value = &vals[i]
				kvl.Values[i] = &kvs[i]
			}
		}
		av.Value = &commonpb.AnyValue_KvlistValue{KvlistValue: kvl}
	default:
		av.Value = nil
	}
}
