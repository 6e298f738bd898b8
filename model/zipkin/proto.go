package zipkin

import (
	"fmt"
	"net/netip"

	zipkinpb "github.com/openzipkin/zipkin-go/proto/zipkin_proto3"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/model"
)

// SpansFromProto converts a Zipkin v2 protobuf body: a zipkin.proto3
// ListOfSpans, as sent to POST /api/v2/spans with Content-Type
// application/x-protobuf. The mapping is SpansFromJSON's; here IDs are bytes
// (trace_id 8 or 16, id 8, parent_id 0 or 8, all-zero meaning none) and
// endpoint addresses are 4 (ipv4) or 16 (ipv6) bytes, written out as text.
// An address of another length is dropped with a warning on the span.
//
// The whole body is an error (wrapping ErrMalformed) if it is not a valid
// ListOfSpans; protobuf's decoder bounds what it allocates by the input and
// limits nesting. A span with a malformed or all-zero trace or span ID, or a
// parent ID that is not 8 bytes, is not converted: it adds one error to
// rejected, naming it and wrapping model.ErrInvalidID, and the other spans
// are still converted.
func SpansFromProto(b []byte) (spans []*model.Span, rejected []error, err error) {
	var list zipkinpb.ListOfSpans
	if err := proto.Unmarshal(b, &list); err != nil {
		return nil, nil, fmt.Errorf("%w: not a zipkin ListOfSpans: %w", ErrMalformed, err)
	}
	if len(list.Spans) == 0 {
		return nil, nil, nil
	}
	spans = make([]*model.Span, 0, len(list.Spans))
	var (
		c  converter
		sl slab
	)
	for i, ps := range list.Spans {
		z, err := protoSpan(ps)
		if err != nil {
			rejected = append(rejected, rejection(i, ps.GetName(), ps.GetLocalEndpoint().GetServiceName(), err))
			continue
		}
		s := sl.next()
		c.convert(s, &z)
		spans = append(spans, s)
	}
	return spans, rejected, nil
}

func protoSpan(ps *zipkinpb.Span) (span, error) {
	z := span{
		name:      ps.GetName(),
		timestamp: ps.GetTimestamp(),
		duration:  ps.GetDuration(),
		debug:     ps.GetDebug(),
		shared:    ps.GetShared(),
	}
	if k := ps.GetKind(); k != zipkinpb.Span_SPAN_KIND_UNSPECIFIED {
		z.kind = k.String() // CLIENT, SERVER, ...; an unknown number warns
	}
	switch {
	case len(ps.GetTraceId()) == 0:
		return z, errNoTraceID
	case len(ps.GetId()) == 0:
		return z, errNoSpanID
	}
	var err error
	if z.traceID, err = model.TraceIDFromBytes(ps.GetTraceId()); err != nil {
		return z, err
	}
	if z.spanID, err = model.SpanIDFromBytes(ps.GetId()); err != nil {
		return z, err
	}
	switch p := ps.GetParentId(); len(p) {
	case 0:
	case 8:
		z.parentID = model.SpanID(p)
	default:
		return z, fmt.Errorf("%w: parent id has %d bytes, want 0 or 8", model.ErrInvalidID, len(p))
	}
	z.local = protoEndpoint(ps.GetLocalEndpoint(), "local", &z.warnings)
	z.remote = protoEndpoint(ps.GetRemoteEndpoint(), "remote", &z.warnings)
	if as := ps.GetAnnotations(); len(as) > 0 {
		z.annotations = make([]annotation, len(as))
		for i, a := range as {
			z.annotations[i] = annotation{timestamp: a.GetTimestamp(), value: a.GetValue()}
		}
	}
	if tags := ps.GetTags(); len(tags) > 0 {
		z.tags = make([]tag, 0, len(tags))
		for k, v := range tags {
			z.tags = append(z.tags, tag{key: k, value: v})
		}
		sortTags(z.tags)
	}
	return z, nil
}

func protoEndpoint(pe *zipkinpb.Endpoint, which string, warnings *[]string) endpoint {
	if pe == nil {
		return endpoint{}
	}
	port, warn := checkPort(int64(pe.GetPort()), which)
	if warn != "" {
		*warnings = append(*warnings, warn)
	}
	ep := endpoint{serviceName: pe.GetServiceName(), port: port}
	switch b := pe.GetIpv4(); {
	case len(b) == 4:
		ep.ipv4 = netip.AddrFrom4([4]byte(b)).String()
	case len(b) == 16 && netip.AddrFrom16([16]byte(b)).Is4In6():
		// Go's net.IP holds IPv4 addresses in 16 bytes; zipkin-go sends
		// them so unless the endpoint was made with To4.
		ep.ipv4 = netip.AddrFrom16([16]byte(b)).Unmap().String()
	case len(b) != 0:
		*warnings = append(*warnings, fmt.Sprintf("%s endpoint ipv4 has %d bytes, want 4; dropped", which, len(b)))
	}
	if b := pe.GetIpv6(); len(b) == 16 {
		ep.ipv6 = netip.AddrFrom16([16]byte(b)).String()
	} else if len(b) != 0 {
		*warnings = append(*warnings, fmt.Sprintf("%s endpoint ipv6 has %d bytes, want 16; dropped", which, len(b)))
	}
	return ep
}
