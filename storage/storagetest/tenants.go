package storagetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// RunTenants checks that a backend keeps tenants apart (storage/tenant.go):
// what one tenant writes, another (or the default tenant) can never read,
// search, count or list. open is as for Run.
func RunTenants(t *testing.T, open func(t *testing.T) storage.Store) {
	h := &harness{open: open, fx: newFixtures()}
	t.Run("SameTraceID", h.testTenantsSameTraceID)
	t.Run("Search", h.testTenantsSearch)
	t.Run("BadName", h.testTenantsBadName)
}

const (
	tenantA = "team-a"
	tenantB = "team-b"
)

func as(ctx context.Context, tenant string) context.Context { return storage.WithTenant(ctx, tenant) }

// otherTrace is a trace of tenant B with the ID of the orderOK fixture
// trace but other spans, services and a shared attribute value.
func (h *harness) otherTrace() []*model.Span {
	id := h.fx.searchTraces()[0].id
	res := &model.Resource{Attributes: []model.KeyValue{str("service.name", "b-billing")}}
	start := h.fx.traceStart(1)
	var out []*model.Span
	for j := uint16(101); j <= 103; j++ {
		sp := &model.Span{
			TraceID: id, SpanID: spanID(id, j), Resource: res, Scope: &model.Scope{Name: "b-lib"},
			Name: "invoice.Send", Kind: model.SpanKindServer,
			StartTime: start + uint64(j)*uint64(time.Millisecond), EndTime: start + uint64(j+5)*uint64(time.Millisecond),
			Attributes: []model.KeyValue{str("order.id", "ord-1001")},
		}
		if j > 101 {
			sp.ParentSpanID = spanID(id, 101)
		}
		out = append(out, sp)
	}
	return out
}

func (h *harness) testTenantsSameTraceID(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	fa := h.fx.searchTraces()[0]
	fb := h.otherTrace()
	if err := s.WriteSpans(as(ctx, tenantA), fa.spans); err != nil {
		t.Fatalf("WriteSpans as %s: %v", tenantA, err)
	}
	if err := s.WriteSpans(as(ctx, tenantB), fb); err != nil {
		t.Fatalf("WriteSpans as %s: %v", tenantB, err)
	}
	for _, c := range []struct {
		tenant string
		want   []*model.Span
	}{{tenantA, fa.spans}, {tenantB, fb}} {
		got, err := s.GetTrace(as(ctx, c.tenant), fa.id, storage.TimeHint{})
		if err != nil {
			t.Fatalf("GetTrace as %s: %v", c.tenant, err)
		}
		checkTrace(t, got, c.want)
		many, err := s.GetTraces(as(ctx, c.tenant), []model.TraceID{fa.id}, storage.TimeHint{})
		if err != nil {
			t.Fatalf("GetTraces as %s: %v", c.tenant, err)
		}
		checkTrace(t, many[0], c.want)
	}
	for _, tenant := range []string{"", "team-c"} {
		if got, err := s.GetTrace(as(ctx, tenant), fa.id, storage.TimeHint{}); !errors.Is(err, storage.ErrTraceNotFound) {
			t.Errorf("GetTrace as %q, which wrote nothing: got %s, %v; want ErrTraceNotFound", tenant, spanList(got), err)
		}
		many, err := s.GetTraces(as(ctx, tenant), []model.TraceID{fa.id}, storage.TimeHint{})
		if err != nil || len(many) != 1 || len(many[0]) != 0 {
			t.Errorf("GetTraces as %q, which wrote nothing: got %d results, %v; want one empty", tenant, len(many), err)
		}
	}
}

func (h *harness) testTenantsSearch(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	h.writeSearchFixtures(t, &tenantStore{Store: s, tenant: tenantA})
	if err := s.WriteSpans(as(ctx, tenantB), h.otherTrace()); err != nil {
		t.Fatalf("WriteSpans as %s: %v", tenantB, err)
	}
	window := func(q storage.Query) storage.Query {
		q.StartMin, q.StartMax, q.Limit = h.fx.base, h.fx.at(time.Hour), 20
		return q
	}
	find := func(tenant string, q storage.Query) []storage.TraceRef {
		t.Helper()
		refs, err := s.FindTraceIDs(as(ctx, tenant), window(q))
		if err != nil {
			t.Fatalf("FindTraceIDs as %q: %v", tenant, err)
		}
		return refs
	}
	all := storage.Query{Kind: storage.AnyKind}
	if n := len(find(tenantA, all)); n != len(h.fx.searchTraces()) {
		t.Errorf("as %s, every trace: got %d, want %d", tenantA, n, len(h.fx.searchTraces()))
	}
	if got := find(tenantB, all); len(got) != 1 {
		t.Errorf("as %s, every trace: got %d traces, want its one", tenantB, len(got))
	}
	if got := find("", all); len(got) != 0 {
		t.Errorf("as the default tenant, every trace: got %d traces, want none", len(got))
	}
	// The same attribute value in both tenants: each finds only its own.
	byOrder := storage.Query{Kind: storage.AnyKind, Attributes: []storage.Attribute{{Key: "order.id", Value: "ord-1001"}}}
	for _, tenant := range []string{tenantA, tenantB} {
		if got := find(tenant, byOrder); len(got) != 1 {
			t.Errorf("as %s, order.id=ord-1001: got %d traces, want 1", tenant, len(got))
		}
	}
	if got := find(tenantB, storage.Query{Service: "checkout", Kind: storage.AnyKind}); len(got) != 0 {
		t.Errorf("as %s, service checkout (%s's): got %d traces, want none", tenantB, tenantA, len(got))
	}
	if got := find(tenantA, storage.Query{Service: "b-billing", Kind: storage.AnyKind}); len(got) != 0 {
		t.Errorf("as %s, service b-billing (%s's): got %d traces, want none", tenantA, tenantB, len(got))
	}

	services := func(tenant string) []string {
		t.Helper()
		svcs, err := s.Services(as(ctx, tenant))
		if err != nil {
			t.Fatalf("Services as %q: %v", tenant, err)
		}
		return svcs
	}
	if got, want := services(tenantA), []string{"checkout", "frontend", "inventory", "payment"}; !slices.Equal(got, want) {
		t.Errorf("Services as %s: got %q, want %q", tenantA, got, want)
	}
	if got, want := services(tenantB), []string{"b-billing"}; !slices.Equal(got, want) {
		t.Errorf("Services as %s: got %q, want %q", tenantB, got, want)
	}
	if got := services(""); len(got) != 0 {
		t.Errorf("Services as the default tenant: got %q, want none", got)
	}
	if ops, err := s.Operations(as(ctx, tenantB), "checkout", storage.AnyKind); err != nil || len(ops) != 0 {
		t.Errorf("Operations of %s's service as %s: got %v, %v; want none", tenantA, tenantB, ops, err)
	}
	if ops, err := s.Operations(as(ctx, tenantB), "b-billing", storage.AnyKind); err != nil ||
		!slices.Equal(ops, []storage.Operation{{Name: "invoice.Send", Kind: model.SpanKindServer}}) {
		t.Errorf("Operations of b-billing as %s: got %v, %v", tenantB, ops, err)
	}
	deps := func(tenant string) []storage.DependencyLink {
		t.Helper()
		d, err := s.Dependencies(as(ctx, tenant), h.fx.base, h.fx.at(time.Hour))
		if err != nil {
			t.Fatalf("Dependencies as %q: %v", tenant, err)
		}
		return d
	}
	if got, want := deps(tenantA), allDependencies(); !slices.Equal(got, want) {
		t.Errorf("Dependencies as %s:\n got %s\nwant %s", tenantA, showLinks(got), showLinks(want))
	}
	for _, tenant := range []string{tenantB, ""} {
		if got := deps(tenant); len(got) != 0 {
			t.Errorf("Dependencies as %q: got %s, want none", tenant, showLinks(got))
		}
	}
}

// testTenantsBadName: a name storage.ValidateTenant refuses is refused by
// every call, with an error wrapping storage.ErrBadTenant, and stores
// nothing anywhere.
func (h *harness) testTenantsBadName(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	tr := h.fx.searchTraces()[0]
	for _, bad := range []string{"../x", "a/b", "nul\x00", string(make([]byte, storage.MaxTenantLen+1))} {
		bctx := as(ctx, bad)
		if err := s.WriteSpans(bctx, tr.spans); !errors.Is(err, storage.ErrBadTenant) {
			t.Errorf("WriteSpans as %q: got %v, want ErrBadTenant", bad, err)
		}
		if _, err := s.GetTrace(bctx, tr.id, storage.TimeHint{}); !errors.Is(err, storage.ErrBadTenant) {
			t.Errorf("GetTrace as %q: got %v, want ErrBadTenant", bad, err)
		}
		if _, err := s.Services(bctx); !errors.Is(err, storage.ErrBadTenant) {
			t.Errorf("Services as %q: got %v, want ErrBadTenant", bad, err)
		}
	}
	if _, err := s.GetTrace(ctx, tr.id, storage.TimeHint{}); !errors.Is(err, storage.ErrTraceNotFound) {
		t.Errorf("GetTrace as the default tenant after refused writes: %v, want ErrTraceNotFound", err)
	}
}

// tenantStore is a Store whose calls work for one tenant, so that helpers
// written for the default tenant can write as another.
type tenantStore struct {
	storage.Store
	tenant string
}

func (s *tenantStore) WriteSpans(ctx context.Context, spans []*model.Span) error {
	return s.Store.WriteSpans(as(ctx, s.tenant), spans)
}
