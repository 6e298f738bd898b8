package memory

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// Store is an in-memory storage.Store that keeps tenants apart. Its zero
// value is not usable; call New.
// All methods are safe for concurrent use.
type Store struct {
	mu     sync.RWMutex
	closed bool // calls fail: before Start and after Shutdown
	shut   bool // Shutdown was called
	// spaces holds each tenant's data, "" the default tenant's; a tenant
	// that wrote nothing has none.
	spaces map[string]*space
	// red holds each tenant's RED points by step start and series key
	// (red.go).
	red map[string]map[redKey]*storage.REDPoint
}

// space is the data of one tenant.
type space struct {
	traces map[model.TraceID]*trace
	// ops holds, per service, every operation seen; it answers Services and
	// Operations without a scan.
	ops map[string]map[storage.Operation]struct{}
}

// tenantOf returns the tenant ctx works for, or an error wrapping
// storage.ErrBadTenant.
func tenantOf(ctx context.Context) (string, error) {
	t := storage.TenantFrom(ctx)
	if t == "" {
		return "", nil
	}
	return t, storage.ValidateTenant(t)
}

// read returns the data of tenant t, empty if it has none. s.mu must be
// held.
func (s *Store) read(t string) *space {
	if sp := s.spaces[t]; sp != nil {
		return sp
	}
	return &space{}
}

// readLocked takes the read lock for a call of ctx's tenant and returns
// the tenant's data (empty if it has none) with the function that releases
// the lock; or the error of an invalid tenant or a closed store, holding
// nothing.
func (s *Store) readLocked(ctx context.Context) (*space, func(), error) {
	tenant, err := tenantOf(ctx)
	if err != nil {
		return nil, nil, err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, nil, storage.ErrClosed
	}
	return s.read(tenant), s.mu.RUnlock, nil
}

// trace holds the stored spans of one trace.
type trace struct {
	spans []*model.Span                  // in the order they were stored
	byID  map[model.SpanID][]*model.Span // spans sharing a span ID (Zipkin halves)
}

var _ storage.Store = (*Store)(nil)

// New returns an empty store, to be started with Start.
func New() *Store {
	return &Store{
		closed: true,
		spaces: make(map[string]*space),
		red:    make(map[string]map[redKey]*storage.REDPoint),
	}
}

// Start makes the store answer calls. A second Start fails; after Shutdown
// Start fails with storage.ErrClosed.
func (s *Store) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return storage.ErrClosed
	}
	if !s.closed {
		return errors.New("cannot start memory store: already started")
	}
	s.closed = false
	return nil
}

// WriteSpans stores copies of spans after storage.Prepare has normalised them
// and set aside those with invalid IDs, which are reported in a
// *storage.RejectedError while the others are stored. A span equal in every
// field to a stored span of the same trace and span ID is not stored again.
func (s *Store) WriteSpans(ctx context.Context, spans []*model.Span) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot write spans: %w", err)
	}
	tenant, err := tenantOf(ctx)
	if err != nil {
		return fmt.Errorf("cannot write spans: %w", err)
	}
	keep, rejected := storage.Prepare(spans)
	copies := model.CloneSpans(keep)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return storage.ErrClosed
	}
	d := s.spaces[tenant]
	if d == nil && len(copies) > 0 {
		d = &space{traces: make(map[model.TraceID]*trace), ops: make(map[string]map[storage.Operation]struct{})}
		s.spaces[tenant] = d
	}
	for _, sp := range copies {
		d.add(sp)
	}
	return rejected
}

// add stores sp unless an equal span is already stored. Store.mu must be held.
func (s *space) add(sp *model.Span) {
	t := s.traces[sp.TraceID]
	if t == nil {
		t = &trace{byID: make(map[model.SpanID][]*model.Span)}
		s.traces[sp.TraceID] = t
	}
	for _, old := range t.byID[sp.SpanID] {
		if old.Equal(sp) {
			return
		}
	}
	t.spans = append(t.spans, sp)
	t.byID[sp.SpanID] = append(t.byID[sp.SpanID], sp)

	svc := sp.ServiceName()
	if s.ops[svc] == nil {
		s.ops[svc] = make(map[storage.Operation]struct{})
	}
	s.ops[svc][storage.Operation{Name: sp.Name, Kind: sp.Kind}] = struct{}{}
}

// GetTrace returns copies of the trace's spans ordered by start time, then
// span ID, then the order they were stored in. The hint is ignored.
func (s *Store) GetTrace(ctx context.Context, id model.TraceID, _ storage.TimeHint) ([]*model.Span, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cannot get trace %s: %w", id, err)
	}
	d, unlock, err := s.readLocked(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	out := d.trace(id)
	if out == nil {
		return nil, storage.ErrTraceNotFound
	}
	return out, nil
}

// GetTraces returns, for each ID, what GetTrace returns (nil for a trace
// with no span), all read under one lock. The hint is ignored.
func (s *Store) GetTraces(ctx context.Context, ids []model.TraceID, _ storage.TimeHint) ([][]*model.Span, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cannot get %d traces: %w", len(ids), err)
	}
	d, unlock, err := s.readLocked(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	out := make([][]*model.Span, len(ids))
	for i, id := range ids {
		out[i] = d.trace(id)
	}
	return out, nil
}

// trace returns copies of the spans of a trace, in GetTrace's order, or nil
// when none is stored. Store.mu must be held.
func (s *space) trace(id model.TraceID) []*model.Span {
	t := s.traces[id]
	if t == nil || len(t.spans) == 0 {
		return nil
	}
	out := model.CloneSpans(t.spans)
	slices.SortStableFunc(out, func(a, b *model.Span) int {
		if r := cmp.Compare(a.StartTime, b.StartTime); r != 0 {
			return r
		}
		return bytes.Compare(a.SpanID[:], b.SpanID[:])
	})
	return out
}

// FindTraceIDs scans every stored trace and applies the semantics documented
// on storage.Query. Traces that matched at the same time (TraceRef.Start)
// are ordered by trace ID, so results are deterministic.
func (s *Store) FindTraceIDs(ctx context.Context, q storage.Query) ([]storage.TraceRef, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cannot find traces: %w", err)
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	d, unlock, err := s.readLocked(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	refs := []storage.TraceRef{}
	for id, t := range d.traces {
		if start, ok := storage.MatchTrace(t.spans, &q); ok {
			refs = append(refs, storage.TraceRef{TraceID: id, Start: start})
		}
	}
	slices.SortFunc(refs, func(a, b storage.TraceRef) int {
		if r := cmp.Compare(b.Start, a.Start); r != 0 {
			return r
		}
		return bytes.Compare(a.TraceID[:], b.TraceID[:])
	})
	if len(refs) > q.Limit {
		refs = refs[:q.Limit]
	}
	return refs, nil
}

// Services returns the sorted names of services with stored spans.
func (s *Store) Services(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cannot list services: %w", err)
	}
	d, unlock, err := s.readLocked(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	out := make([]string, 0, len(d.ops))
	for svc := range d.ops {
		out = append(out, svc)
	}
	slices.Sort(out)
	return out, nil
}

// Operations returns the service's operations of the given kind (every kind
// for storage.AnyKind), sorted by name then kind. An unknown service has none.
func (s *Store) Operations(ctx context.Context, service string, kind model.SpanKind) ([]storage.Operation, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cannot list operations: %w", err)
	}
	if kind < storage.AnyKind || kind > model.SpanKindConsumer {
		return nil, fmt.Errorf("cannot list operations: unknown span kind %d", kind)
	}
	d, unlock, err := s.readLocked(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	out := []storage.Operation{}
	for op := range d.ops[service] {
		if kind == storage.AnyKind || op.Kind == kind {
			out = append(out, op)
		}
	}
	slices.SortFunc(out, func(a, b storage.Operation) int {
		if r := cmp.Compare(a.Name, b.Name); r != 0 {
			return r
		}
		return cmp.Compare(a.Kind, b.Kind)
	})
	return out, nil
}

// Dependencies counts, for every span that started in [start, end) and whose
// parent span is stored in the same trace with a different service, one call
// from the parent's service to the span's.
//
// When several stored spans share the parent span ID (the halves of a Zipkin
// shared span), the span is counted only if none of them has the span's own
// service (otherwise its parent is in-process), against the smallest of their
// service names.
func (s *Store) Dependencies(ctx context.Context, start, end uint64) ([]storage.DependencyLink, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cannot compute dependencies: %w", err)
	}
	d, unlock, err := s.readLocked(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	type edge struct{ parent, child string }
	counts := make(map[edge]uint64)
	for _, t := range d.traces {
		for _, sp := range t.spans {
			if sp.StartTime < start || sp.StartTime >= end || sp.ParentSpanID.IsZero() {
				continue
			}
			if parent, ok := parentService(t, sp); ok {
				counts[edge{parent, sp.ServiceName()}]++
			}
		}
	}
	out := make([]storage.DependencyLink, 0, len(counts))
	for e, n := range counts {
		out = append(out, storage.DependencyLink{Parent: e.parent, Child: e.child, CallCount: n})
	}
	slices.SortFunc(out, func(a, b storage.DependencyLink) int {
		if r := cmp.Compare(a.Parent, b.Parent); r != 0 {
			return r
		}
		return cmp.Compare(a.Child, b.Child)
	})
	return out, nil
}

// parentService returns the service of sp's parent when the parent is stored
// in t and belongs to another service.
func parentService(t *trace, sp *model.Span) (string, bool) {
	child := sp.ServiceName()
	parent := ""
	for _, p := range t.byID[sp.ParentSpanID] {
		svc := p.ServiceName()
		if svc == child {
			return "", false
		}
		if parent == "" || svc < parent {
			parent = svc
		}
	}
	return parent, parent != ""
}

// Shutdown drops every stored span, once the calls in progress have
// returned. Later calls of other methods return storage.ErrClosed; Shutdown
// itself may be called again, or before Start, and returns nil.
func (s *Store) Shutdown(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed, s.shut = true, true
	s.spaces = nil
	return nil
}
