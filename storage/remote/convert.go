package remote

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	storagepb "github.com/scrytrace/scry/storage/remote/proto"
)

// This file converts between the storage package's types and the wire
// messages of proto/storage.proto.

// Limits on one GetTrace chunk. A chunk holds at most maxChunkSpans spans and
// is halved while its encoding is over maxChunkBytes, so chunks stay well
// under gRPC's default 4 MiB message limit; only a single span larger than
// that needs the client's larger receive limit (maxRecvBytes).
const (
	maxChunkSpans = 1000
	maxChunkBytes = 1 << 20
	maxRecvBytes  = 64 << 20
)

// kindToProto returns nil for storage.AnyKind: the field is left unset.
func kindToProto(k model.SpanKind) *tracepb.Span_SpanKind {
	if k == storage.AnyKind {
		return nil
	}
	pk := tracepb.Span_SpanKind(k)
	return &pk
}

// kindFromProto turns an unset kind into storage.AnyKind.
func kindFromProto(k *tracepb.Span_SpanKind) model.SpanKind {
	if k == nil {
		return storage.AnyKind
	}
	return model.SpanKind(*k)
}

func queryToProto(q storage.Query) *storagepb.FindTraceIDsRequest {
	req := &storagepb.FindTraceIDsRequest{
		ServiceName:          q.Service,
		Operation:            q.Operation,
		Kind:                 kindToProto(q.Kind),
		StartTimeMinUnixNano: q.StartMin,
		StartTimeMaxUnixNano: q.StartMax,
		DurationMinNanos:     q.DurationMin,
		DurationMaxNanos:     q.DurationMax,
		Limit:                int32(min(q.Limit, math.MaxInt32)),
	}
	for _, a := range q.Attributes {
		req.Attributes = append(req.Attributes, &storagepb.Attribute{Key: a.Key, Value: a.Value})
	}
	return req
}

func queryFromProto(req *storagepb.FindTraceIDsRequest) storage.Query {
	q := storage.Query{
		Service:     req.GetServiceName(),
		Operation:   req.GetOperation(),
		Kind:        kindFromProto(req.Kind),
		StartMin:    req.GetStartTimeMinUnixNano(),
		StartMax:    req.GetStartTimeMaxUnixNano(),
		DurationMin: req.GetDurationMinNanos(),
		DurationMax: req.GetDurationMaxNanos(),
		Limit:       int(req.GetLimit()),
	}
	for _, a := range req.GetAttributes() {
		q.Attributes = append(q.Attributes, storage.Attribute{Key: a.GetKey(), Value: a.GetValue()})
	}
	return q
}

// traceIDFromProto accepts 16 bytes, or 8 (a 64-bit ID, padded on the left).
// The all-zero ID is returned as is: no span of it can be stored.
func traceIDFromProto(b []byte) (model.TraceID, error) {
	var id model.TraceID
	switch len(b) {
	case 16:
		copy(id[:], b)
	case 8:
		copy(id[8:], b)
	default:
		return id, fmt.Errorf("%w: trace id has %d bytes, want 16", model.ErrInvalidID, len(b))
	}
	return id, nil
}

// encodeTrace sends spans in chunks (see maxChunkSpans and maxChunkBytes).
// The spans are the caller's to change: equal resources and scopes are made
// to share one pointer first (see shareEqual).
func encodeTrace(spans []*model.Span, send func(*storagepb.GetTraceResponse) error) error {
	shareEqual(spans)
	n := maxChunkSpans
	for len(spans) > 0 {
		n = min(n, len(spans))
		msg, err := encodeChunk(spans[:n])
		if err != nil {
			return err
		}
		if n > 1 && proto.Size(msg) > maxChunkBytes {
			n /= 2
			continue
		}
		if err := send(msg); err != nil {
			return err
		}
		spans = spans[n:]
	}
	return nil
}

// shareEqual makes spans whose resources (or scopes) are equal share one
// *Resource (*Scope). Conversion to OTLP groups spans by pointer, and a store
// may return a copy per span or per write batch: shared, each resource and
// scope is sent once per chunk instead of once per span.
func shareEqual(spans []*model.Span) {
	type resKey struct {
		service, schema string
		attrs           int
	}
	type scopeKey struct {
		name, version string
		attrs         int
	}
	resSeen := make(map[*model.Resource]*model.Resource)
	resByKey := make(map[resKey][]*model.Resource)
	scopeSeen := make(map[*model.Scope]*model.Scope)
	scopeByKey := make(map[scopeKey][]*model.Scope)
	for _, s := range spans {
		if s == nil {
			continue
		}
		if r := s.Resource; r != nil {
			if shared, ok := resSeen[r]; ok {
				s.Resource = shared
			} else {
				k := resKey{r.ServiceName(), r.SchemaURL, len(r.Attributes)}
				i := slices.IndexFunc(resByKey[k], func(c *model.Resource) bool { return c.Equal(r) })
				if i < 0 {
					resByKey[k] = append(resByKey[k], r)
					resSeen[r] = r
				} else {
					resSeen[r] = resByKey[k][i]
					s.Resource = resByKey[k][i]
				}
			}
		}
		if sc := s.Scope; sc != nil {
			if shared, ok := scopeSeen[sc]; ok {
				s.Scope = shared
			} else {
				k := scopeKey{sc.Name, sc.Version, len(sc.Attributes)}
				i := slices.IndexFunc(scopeByKey[k], func(c *model.Scope) bool { return c.Equal(sc) })
				if i < 0 {
					scopeByKey[k] = append(scopeByKey[k], sc)
					scopeSeen[sc] = sc
				} else {
					scopeSeen[sc] = scopeByKey[k][i]
					s.Scope = scopeByKey[k][i]
				}
			}
		}
	}
}

// encodeChunk converts spans into one GetTraceResponse. The spans are first
// grouped by resource, then scope, in the order each was first seen, so that
// model.SpansToOTLP keeps their order and span_index can name each span's
// warnings; the order is checked, not assumed.
func encodeChunk(spans []*model.Span) (*storagepb.GetTraceResponse, error) {
	type scopeKey struct {
		r *model.Resource
		s *model.Scope
	}
	type item struct {
		res, scope int
		span       *model.Span
	}
	resIdx := make(map[*model.Resource]int)
	scopeIdx := make(map[scopeKey]int)
	items := make([]item, 0, len(spans))
	for _, s := range spans {
		if s == nil {
			continue
		}
		r, ok := resIdx[s.Resource]
		if !ok {
			r = len(resIdx)
			resIdx[s.Resource] = r
		}
		k := scopeKey{s.Resource, s.Scope}
		sc, ok := scopeIdx[k]
		if !ok {
			sc = len(scopeIdx)
			scopeIdx[k] = sc
		}
		items = append(items, item{r, sc, s})
	}
	slices.SortStableFunc(items, func(a, b item) int {
		return cmp.Or(cmp.Compare(a.res, b.res), cmp.Compare(a.scope, b.scope))
	})
	ordered := make([]*model.Span, len(items))
	for i := range items {
		ordered[i] = items[i].span
	}

	msg := &storagepb.GetTraceResponse{ResourceSpans: model.SpansToOTLP(ordered)}
	i := 0
	for _, rs := range msg.ResourceSpans {
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				if i >= len(ordered) || !bytes.Equal(sp.GetSpanId(), ordered[i].SpanID[:]) {
					return nil, errors.New("cannot encode span warnings: spans changed order in conversion to otlp")
				}
				if w := ordered[i].Warnings; len(w) > 0 {
					msg.SpanWarnings = append(msg.SpanWarnings, &storagepb.SpanWarnings{SpanIndex: uint32(i), Warnings: w})
				}
				i++
			}
		}
	}
	if i != len(ordered) {
		return nil, fmt.Errorf("cannot encode spans: %d spans became %d in conversion to otlp", len(ordered), i)
	}
	return msg, nil
}

// decodeChunk converts one GetTraceResponse of trace id back into spans.
func decodeChunk(msg *storagepb.GetTraceResponse, id model.TraceID) ([]*model.Span, error) {
	spans, rejected := model.SpansFromOTLP(msg.GetResourceSpans())
	if len(rejected) > 0 {
		return nil, fmt.Errorf("answer holds %d malformed spans: %w", len(rejected), rejected[0])
	}
	for _, s := range spans {
		if s.TraceID != id {
			return nil, fmt.Errorf("answer holds span %s of trace %s, not of trace %s", s.SpanID, s.TraceID, id)
		}
	}
	for _, w := range msg.GetSpanWarnings() {
		i := int(w.GetSpanIndex())
		if i >= len(spans) {
			return nil, fmt.Errorf("answer has warnings for span %d of %d", i, len(spans))
		}
		spans[i].Warnings = append(spans[i].Warnings, w.GetWarnings()...)
	}
	return spans, nil
}

func refsToProto(refs []storage.TraceRef) *storagepb.FindTraceIDsResponse {
	out := &storagepb.FindTraceIDsResponse{Traces: make([]*storagepb.TraceRef, len(refs))}
	for i, r := range refs {
		out.Traces[i] = &storagepb.TraceRef{TraceId: r.TraceID[:], StartTimeUnixNano: r.Start}
	}
	return out
}

func refsFromProto(resp *storagepb.FindTraceIDsResponse) ([]storage.TraceRef, error) {
	refs := make([]storage.TraceRef, 0, len(resp.GetTraces()))
	for _, r := range resp.GetTraces() {
		id, err := traceIDFromProto(r.GetTraceId())
		if err != nil {
			return nil, fmt.Errorf("malformed answer: %w", err)
		}
		refs = append(refs, storage.TraceRef{TraceID: id, Start: r.GetStartTimeUnixNano()})
	}
	return refs, nil
}

func opsToProto(ops []storage.Operation) *storagepb.OperationsResponse {
	out := &storagepb.OperationsResponse{Operations: make([]*storagepb.Operation, len(ops))}
	for i, op := range ops {
		out.Operations[i] = &storagepb.Operation{Name: op.Name, Kind: tracepb.Span_SpanKind(op.Kind)}
	}
	return out
}

func opsFromProto(resp *storagepb.OperationsResponse) []storage.Operation {
	ops := make([]storage.Operation, len(resp.GetOperations()))
	for i, op := range resp.GetOperations() {
		ops[i] = storage.Operation{Name: op.GetName(), Kind: model.SpanKind(op.GetKind())}
	}
	return ops
}

func depsToProto(links []storage.DependencyLink) *storagepb.DependenciesResponse {
	out := &storagepb.DependenciesResponse{Dependencies: make([]*storagepb.DependencyLink, len(links))}
	for i, l := range links {
		out.Dependencies[i] = &storagepb.DependencyLink{Parent: l.Parent, Child: l.Child, CallCount: l.CallCount}
	}
	return out
}

func depsFromProto(resp *storagepb.DependenciesResponse) []storage.DependencyLink {
	links := make([]storage.DependencyLink, len(resp.GetDependencies()))
	for i, l := range resp.GetDependencies() {
		links[i] = storage.DependencyLink{Parent: l.GetParent(), Child: l.GetChild(), CallCount: l.GetCallCount()}
	}
	return links
}
