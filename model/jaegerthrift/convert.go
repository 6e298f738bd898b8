package jaegerthrift

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/model/internal/conv"
)

// RefTypeKey is the link attribute that keeps a Jaeger reference's type
// ("child_of" or "follows_from"), as OpenTelemetry's semantic conventions
// name it.
const RefTypeKey = "opentracing.ref_type"

// Values of RefTypeKey.
const (
	RefTypeChildOf     = "child_of"
	RefTypeFollowsFrom = "follows_from"
)

// SpansFromBatch converts a Jaeger Thrift batch to model spans, in the order
// they were sent. All spans share one *Resource made from the batch's
// process: its serviceName is service.name (left out when empty, so the
// store names the service unknown_service) and its tags are the other
// attributes. Spans share one *Scope per distinct scope name and version.
//
// For each span:
//   - traceIdHigh and traceIdLow are the 16-byte trace ID (a 64-bit ID has
//     high = 0, so it is zero-padded), spanId the span ID;
//   - startTime and duration (µs) become start and end times in ns;
//   - flags are kept as sent (Jaeger's bit 0, sampled, is W3C's too);
//   - tags keep their types: string, bool, long (int), double, binary
//     (bytes). The tags that carry OTLP fields are taken out of the
//     attributes: span.kind (server, client, producer, consumer or
//     internal) is the kind; otel.status_code and otel.status_description
//     are the status, and an error tag that is bool true or string "true"
//     makes it ERROR; otel.scope.name and otel.scope.version (or the older
//     otel.library.name and otel.library.version) are the scope;
//     w3c.tracestate is the trace state. A well-known tag whose value does
//     not fit its field stays an attribute;
//   - each log is an event at its timestamp (µs to ns); a string field
//     named "event" is the event's name, the other fields its attributes;
//   - a non-zero parentSpanId is the parent; failing it, the first
//     CHILD_OF reference in the same trace is. Every other reference is a
//     link carrying RefTypeKey (a CHILD_OF reference that repeats the
//     parent is dropped as redundant).
//
// A span whose trace ID or span ID is zero is not converted: it adds one
// error to rejected, naming the span and wrapping model.ErrInvalidID, and the
// other spans are still converted. Nil spans are skipped. The result does not
// alias batch.
func SpansFromBatch(batch *jaeger.Batch) (spans []*model.Span, rejected []error) {
	if batch == nil {
		return nil, nil
	}
	var n counts
	for _, js := range batch.Spans {
		n.count(js)
	}
	if n.spans == 0 {
		return nil, nil
	}
	res := resource(batch.Process)
	service := res.ServiceName()
	c := converter{
		spans:  make([]model.Span, n.spans),
		kvs:    make([]model.KeyValue, n.kvs),
		events: make([]model.Event, n.events),
		links:  make([]model.Link, n.links),
	}
	spans = make([]*model.Span, 0, n.spans)
	var scopes conv.Scopes
	for i, js := range batch.Spans {
		if js == nil {
			continue
		}
		s := &c.spans[0]
		c.spans = c.spans[1:]
		f, err := c.span(s, js)
		if err != nil {
			rejected = append(rejected, fmt.Errorf("span %q (span id %016x) of service %q, #%d in the batch: %w",
				js.OperationName, uint64(js.SpanId), service, i, err))
			*s = model.Span{}
			continue
		}
		s.Resource = res
		s.Scope = scopes.Get(f.ScopeName, f.ScopeVersion)
		spans = append(spans, s)
	}
	return spans, rejected
}

// resource converts the batch's process; a nil process is an empty resource.
func resource(p *jaeger.Process) *model.Resource {
	res := &model.Resource{}
	if p == nil {
		return res
	}
	n := len(p.Tags)
	if p.ServiceName != "" {
		n++
	}
	if n == 0 {
		return res
	}
	res.Attributes = make([]model.KeyValue, 0, n)
	if p.ServiceName != "" {
		res.Attributes = append(res.Attributes, model.KeyValue{Key: model.ServiceNameKey, Value: model.StringValue(p.ServiceName)})
	}
	for _, t := range p.Tags {
		if t != nil {
			res.Attributes = append(res.Attributes, model.KeyValue{Key: t.Key, Value: Value(t)})
		}
	}
	return res
}

type counts struct {
	spans, kvs, events, links int
}

func (n *counts) count(js *jaeger.Span) {
	if js == nil {
		return
	}
	n.spans++
	n.kvs += len(js.Tags)
	n.events += len(js.Logs)
	for _, l := range js.Logs {
		if l != nil {
			n.kvs += len(l.Fields)
		}
	}
	n.links += len(js.References)
	n.kvs += len(js.References) // each link's RefTypeKey
}

// converter hands out pieces of batch-wide slabs, each sized by a counting
// pass, so a batch costs a handful of allocations plus one per bytes value.
type converter struct {
	spans  []model.Span
	kvs    []model.KeyValue
	events []model.Event
	links  []model.Link
}

// take returns the next n attributes of the slab, capped.
func (c *converter) take(n int) []model.KeyValue {
	kvs := c.kvs[:n:n]
	c.kvs = c.kvs[n:]
	return kvs
}

// traceID joins Jaeger's two halves into a 16-byte ID.
func traceID(high, low int64) model.TraceID {
	var id model.TraceID
	binary.BigEndian.PutUint64(id[:8], uint64(high))
	binary.BigEndian.PutUint64(id[8:], uint64(low))
	return id
}

func spanID(v int64) model.SpanID {
	var id model.SpanID
	binary.BigEndian.PutUint64(id[:], uint64(v))
	return id
}

// span fills s from js and returns the scope fields its tags gave, or an
// error about its IDs.
func (c *converter) span(s *model.Span, js *jaeger.Span) (conv.Fields, error) {
	s.TraceID = traceID(js.TraceIdHigh, js.TraceIdLow)
	s.SpanID = spanID(js.SpanId)
	if s.TraceID.IsZero() {
		return conv.Fields{}, fmt.Errorf("%w: trace id is all zeros", model.ErrInvalidID)
	}
	if s.SpanID.IsZero() {
		return conv.Fields{}, fmt.Errorf("%w: span id is all zeros", model.ErrInvalidID)
	}
	s.ParentSpanID = spanID(js.ParentSpanId)
	s.Name = js.OperationName
	s.Flags = uint32(js.Flags)
	var warn string
	if s.StartTime, warn = conv.SignedNanos(js.StartTime, "start time"); warn != "" {
		s.Warnings = append(s.Warnings, warn)
	}
	s.EndTime = conv.End(s.StartTime, js.Duration)

	attrs := c.take(len(js.Tags))
	n := 0
	for _, t := range js.Tags {
		if t != nil {
			attrs[n] = model.KeyValue{Key: t.Key, Value: Value(t)}
			n++
		}
	}
	attrs, f := conv.Extract(attrs[:n:n], conv.Options{Kind: true, Error: conv.JaegerError})
	if len(attrs) > 0 {
		s.Attributes = attrs
	}
	s.Kind = f.Kind
	s.Status = f.Status
	s.TraceState = f.TraceState

	if len(js.Logs) > 0 {
		s.Events = c.events[:0:len(js.Logs)]
		c.events = c.events[len(js.Logs):]
		for _, l := range js.Logs {
			if l != nil {
				s.Events = append(s.Events, c.event(s, l))
			}
		}
		if len(s.Events) == 0 {
			s.Events = nil
		}
	}
	if len(js.References) > 0 {
		s.Links = c.links[:0:len(js.References)]
		c.links = c.links[len(js.References):]
		for _, r := range js.References {
			if r == nil {
				continue
			}
			tid, sid := traceID(r.TraceIdHigh, r.TraceIdLow), spanID(r.SpanId)
			if r.RefType == jaeger.SpanRefType_CHILD_OF && tid == s.TraceID && !sid.IsZero() {
				if s.ParentSpanID.IsZero() {
					s.ParentSpanID = sid
					continue
				}
				if sid == s.ParentSpanID {
					continue
				}
			}
			l := model.Link{TraceID: tid, SpanID: sid}
			switch r.RefType {
			case jaeger.SpanRefType_CHILD_OF:
				l.Attributes = c.take(1)
				l.Attributes[0] = model.KeyValue{Key: RefTypeKey, Value: model.StringValue(RefTypeChildOf)}
			case jaeger.SpanRefType_FOLLOWS_FROM:
				l.Attributes = c.take(1)
				l.Attributes[0] = model.KeyValue{Key: RefTypeKey, Value: model.StringValue(RefTypeFollowsFrom)}
			default:
				s.Warnings = append(s.Warnings, fmt.Sprintf("reference to span %s has unknown type %d", sid, int64(r.RefType)))
			}
			s.Links = append(s.Links, l)
		}
		if len(s.Links) == 0 {
			s.Links = nil
		}
	}
	return f, nil
}

// event converts a log of span s: its "event" string field is the name.
func (c *converter) event(s *model.Span, l *jaeger.Log) model.Event {
	e := model.Event{}
	var warn string
	if e.Time, warn = conv.SignedNanos(l.Timestamp, "log timestamp"); warn != "" {
		s.Warnings = append(s.Warnings, warn)
	}
	attrs := c.take(len(l.Fields))
	n := 0
	named := false
	for _, t := range l.Fields {
		if t == nil {
			continue
		}
		if !named && t.Key == model.JaegerEventKey && t.VType == jaeger.TagType_STRING {
			e.Name, named = t.GetVStr(), true
			continue
		}
		attrs[n] = model.KeyValue{Key: t.Key, Value: Value(t)}
		n++
	}
	if n > 0 {
		e.Attributes = attrs[:n:n]
	}
	return e
}

// Value converts a Jaeger tag's value to a typed model value: STRING,
// BOOL, LONG (int), DOUBLE and BINARY (bytes, copied). A tag of an unknown
// type has an empty value.
func Value(t *jaeger.Tag) model.Value {
	switch t.VType {
	case jaeger.TagType_STRING:
		return model.StringValue(t.GetVStr())
	case jaeger.TagType_BOOL:
		return model.BoolValue(t.GetVBool())
	case jaeger.TagType_LONG:
		return model.IntValue(t.GetVLong())
	case jaeger.TagType_DOUBLE:
		return model.DoubleValue(t.GetVDouble())
	case jaeger.TagType_BINARY:
		return model.BytesValue(bytes.Clone(t.VBinary))
	}
	return model.Value{}
}
