package zipkin

import (
	"fmt"
	"slices"
	"strings"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/model/internal/conv"
)

// Attribute keys for what Zipkin's endpoints and flags say, following
// OpenTelemetry's semantic conventions (as the OpenTelemetry Collector's
// Zipkin receiver does with its v1 network conventions).
const (
	// LocalAddressKey (resource) is the local endpoint's ipv4, or its ipv6
	// when it has no ipv4.
	LocalAddressKey = "network.local.address"
	// LocalPortKey (resource, int) is the local endpoint's port.
	LocalPortKey = "network.local.port"
	// LocalIPv6Key (resource) is the local endpoint's ipv6 when it has an
	// ipv4 as well.
	LocalIPv6Key = "zipkin.local_endpoint.ipv6"

	// PeerServiceKey (span) is the remote endpoint's service name.
	PeerServiceKey = "service.peer.name"
	// PeerAddressKey (span) is the remote endpoint's ipv4, or its ipv6 when
	// it has no ipv4.
	PeerAddressKey = "network.peer.address"
	// PeerPortKey (span, int) is the remote endpoint's port.
	PeerPortKey = "network.peer.port"
	// PeerIPv6Key (span) is the remote endpoint's ipv6 when it has an ipv4
	// as well.
	PeerIPv6Key = "zipkin.remote_endpoint.ipv6"

	// SharedKey (span, bool true) marks a span whose ID the client shared
	// with the other side of an RPC (Zipkin's "shared": true).
	SharedKey = "zipkin.shared"
	// DebugKey (span, bool true) marks a span sent with "debug": true.
	DebugKey = "zipkin.debug"
)

// span is one Zipkin v2 span as the JSON and protobuf decoders see it, IDs
// already checked.
type span struct {
	traceID  model.TraceID
	spanID   model.SpanID
	parentID model.SpanID
	name     string
	kind     string
	// timestamp and duration are in µs.
	timestamp, duration uint64
	local, remote       endpoint
	annotations         []annotation
	tags                []tag // in key order
	debug, shared       bool
	warnings            []string
}

type endpoint struct {
	serviceName string
	ipv4, ipv6  string
	port        int64 // 0 when absent
}

type annotation struct {
	timestamp uint64 // µs
	value     string
}

type tag struct {
	key, value string
}

// converter turns decoded spans into model spans, sharing one *Resource per
// local endpoint and one *Scope per scope name and version.
type converter struct {
	resources map[endpoint]*model.Resource
	scopes    conv.Scopes
}

// resource returns the shared resource for a local endpoint.
func (c *converter) resource(ep endpoint) *model.Resource {
	if r, ok := c.resources[ep]; ok {
		return r
	}
	if c.resources == nil {
		c.resources = make(map[endpoint]*model.Resource)
	}
	r := &model.Resource{}
	if ep.serviceName != "" {
		r.Attributes = append(r.Attributes, model.KeyValue{Key: model.ServiceNameKey, Value: model.StringValue(ep.serviceName)})
	}
	r.Attributes = appendEndpoint(r.Attributes, ep, LocalAddressKey, LocalIPv6Key, LocalPortKey)
	c.resources[ep] = r
	return r
}

func appendEndpoint(kvs []model.KeyValue, ep endpoint, addrKey, ipv6Key, portKey string) []model.KeyValue {
	switch {
	case ep.ipv4 != "":
		kvs = append(kvs, model.KeyValue{Key: addrKey, Value: model.StringValue(ep.ipv4)})
		if ep.ipv6 != "" {
			kvs = append(kvs, model.KeyValue{Key: ipv6Key, Value: model.StringValue(ep.ipv6)})
		}
	case ep.ipv6 != "":
		kvs = append(kvs, model.KeyValue{Key: addrKey, Value: model.StringValue(ep.ipv6)})
	}
	if ep.port != 0 {
		kvs = append(kvs, model.KeyValue{Key: portKey, Value: model.IntValue(ep.port)})
	}
	return kvs
}

// checkPort returns a port in 1..65535, or 0 and a warning.
func checkPort(p int64, which string) (int64, string) {
	if p < 0 || p > 65535 {
		return 0, fmt.Sprintf("%s endpoint port %d is out of range; dropped", which, p)
	}
	return p, ""
}

// convert makes the model span for z, into s.
func (c *converter) convert(s *model.Span, z *span) {
	s.Resource = c.resource(z.local)
	s.TraceID = z.traceID
	s.SpanID = z.spanID
	if z.parentID != z.spanID {
		s.ParentSpanID = z.parentID
	}
	s.Name = z.name
	s.StartTime = conv.Nanos(z.timestamp)
	s.EndTime = conv.End(s.StartTime, int64(min(z.duration, 1<<62)))
	s.Warnings = z.warnings

	n := len(z.tags) + 5 // remote endpoint (at most 4) and shared, debug
	attrs := make([]model.KeyValue, 0, n)
	for _, t := range z.tags {
		attrs = append(attrs, model.KeyValue{Key: t.key, Value: model.StringValue(t.value)})
	}
	kind := model.SpanKindUnspecified
	switch strings.ToUpper(z.kind) {
	case "":
	case "CLIENT":
		kind = model.SpanKindClient
	case "SERVER":
		kind = model.SpanKindServer
	case "PRODUCER":
		kind = model.SpanKindProducer
	case "CONSUMER":
		kind = model.SpanKindConsumer
	default:
		s.Warnings = append(s.Warnings, fmt.Sprintf("unknown span kind %q; left unspecified", z.kind))
	}
	// A span.kind tag says what Zipkin cannot (internal) only when the
	// kind field is absent.
	attrs, f := conv.Extract(attrs, conv.Options{Kind: z.kind == "", Error: conv.ZipkinError})
	if kind == model.SpanKindUnspecified {
		kind = f.Kind
	}
	s.Kind = kind
	s.Status = f.Status
	s.TraceState = f.TraceState
	s.Scope = c.scopes.Get(f.ScopeName, f.ScopeVersion)

	if z.remote.serviceName != "" {
		attrs = append(attrs, model.KeyValue{Key: PeerServiceKey, Value: model.StringValue(z.remote.serviceName)})
	}
	attrs = appendEndpoint(attrs, z.remote, PeerAddressKey, PeerIPv6Key, PeerPortKey)
	if z.shared {
		attrs = append(attrs, model.KeyValue{Key: SharedKey, Value: model.BoolValue(true)})
	}
	if z.debug {
		attrs = append(attrs, model.KeyValue{Key: DebugKey, Value: model.BoolValue(true)})
	}
	if len(attrs) > 0 {
		s.Attributes = attrs
	}

	if len(z.annotations) > 0 {
		s.Events = make([]model.Event, len(z.annotations))
		for i, a := range z.annotations {
			s.Events[i] = model.Event{Time: conv.Nanos(a.timestamp), Name: a.value}
		}
	}
}

// slab hands out model spans from chunks that double in size, so that a
// body's spans cost a few allocations and never more than twice the room
// they need, however many spans the body claims to hold.
type slab struct {
	free []model.Span
	size int
}

func (sl *slab) next() *model.Span {
	if len(sl.free) == 0 {
		sl.size = min(max(2*sl.size, 8), 1024)
		sl.free = make([]model.Span, sl.size)
	}
	s := &sl.free[0]
	sl.free = sl.free[1:]
	return s
}

// sortTags orders tags by key, so that attributes do not depend on map order.
func sortTags(tags []tag) {
	slices.SortFunc(tags, func(a, b tag) int { return strings.Compare(a.key, b.key) })
}

// Errors for absent IDs, the commonest rejections, cost nothing per span.
var (
	errNoTraceID = fmt.Errorf("%w: trace id is missing", model.ErrInvalidID)
	errNoSpanID  = fmt.Errorf("%w: span id is missing", model.ErrInvalidID)
)

// spanError names a span that could not be converted. Its message is built
// only when asked for, so that a body of many bad spans stays cheap.
type spanError struct {
	index         int
	name, service string
	err           error
}

func (e *spanError) Error() string {
	service := e.service
	if service == "" {
		service = model.UnknownService
	}
	return fmt.Sprintf("span %q of service %q, #%d in the list: %v", e.name, service, e.index, e.err)
}

func (e *spanError) Unwrap() error { return e.err }

// rejection names a span that could not be converted.
func rejection(i int, name, service string, err error) error {
	return &spanError{index: i, name: name, service: service, err: err}
}
