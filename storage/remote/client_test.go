package remote_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/remote"
)

func spanIDs(spans []*model.Span) []model.SpanID {
	out := make([]model.SpanID, len(spans))
	for i, s := range spans {
		out[i] = s.SpanID
	}
	return out
}

// A trace whose spans went to two collectors comes back whole, in order, with
// a span both stored once and both halves of a shared span kept.
func TestTraceSplitAcrossEndpoints(t *testing.T) {
	ss, srvs := stores(t, 2)
	root := span(1, 1, "frontend", 0, 0)
	root.Warnings = []string{"clock skew adjusted"}
	child := span(1, 2, "checkout", 10, 1)
	grandchild := span(1, 3, "payment", 20, 2)
	late := span(1, 4, "checkout", 30, 2)
	// The client half of a Zipkin shared span on A, the server half on B:
	// same IDs, different content.
	clientHalf := span(1, 5, "checkout", 40, 2)
	clientHalf.Kind = model.SpanKindClient
	serverHalf := span(1, 5, "payment", 41, 2)
	write(t, ss[0], root, grandchild, clientHalf)
	write(t, ss[1], child, late, serverHalf)
	write(t, ss[1], span(1, 3, "payment", 20, 2)) // grandchild again, on B too
	write(t, ss[0], span(2, 1, "other", 0, 0))    // another trace

	c := newClient(t, addrs(srvs), nil)
	ctx, warnings := storage.WithWarnings(t.Context())
	got, err := c.GetTrace(ctx, tid(1), storage.TimeHint{})
	if err != nil {
		t.Fatalf("GetTrace: %v", err)
	}
	want := []*model.Span{root, child, grandchild, late, clientHalf, serverHalf}
	if !slices.Equal(spanIDs(got), spanIDs(want)) {
		t.Fatalf("GetTrace: got spans %v, want %v", spanIDs(got), spanIDs(want))
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("span %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if w := warnings.List(); len(w) != 0 {
		t.Errorf("warnings with every endpoint up: %q", w)
	}
	if _, err := c.GetTrace(t.Context(), tid(9), storage.TimeHint{}); !errors.Is(err, storage.ErrTraceNotFound) {
		t.Errorf("GetTrace of a trace no endpoint has: got %v, want ErrTraceNotFound", err)
	}
}

func TestFindTraceIDsMerge(t *testing.T) {
	ss, srvs := stores(t, 2)
	write(t, ss[0], span(1, 1, "svc", 10, 0), span(3, 1, "svc", 30, 0), span(5, 1, "svc", 20, 0))
	write(t, ss[1], span(2, 1, "svc", 40, 0), span(4, 1, "svc", 5, 0), span(5, 2, "svc", 50, 1))
	c := newClient(t, addrs(srvs), nil)

	ref := func(tr byte, ms uint64) storage.TraceRef {
		return storage.TraceRef{TraceID: tid(tr), Start: base + ms*1e6}
	}
	cases := []struct {
		limit int
		want  []storage.TraceRef
	}{
		// Trace 5 is on both, newest on B at 50ms: it counts once, at 50ms.
		{10, []storage.TraceRef{ref(5, 50), ref(2, 40), ref(3, 30), ref(1, 10), ref(4, 5)}},
		{3, []storage.TraceRef{ref(5, 50), ref(2, 40), ref(3, 30)}},
		{1, []storage.TraceRef{ref(5, 50)}},
	}
	for _, tc := range cases {
		got, err := c.FindTraceIDs(t.Context(), storage.Query{Service: "svc", Kind: storage.AnyKind, Limit: tc.limit})
		if err != nil {
			t.Fatalf("FindTraceIDs(limit %d): %v", tc.limit, err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("FindTraceIDs(limit %d):\n got %v\nwant %v", tc.limit, got, tc.want)
		}
	}
	if _, err := c.FindTraceIDs(t.Context(), storage.Query{Kind: storage.AnyKind}); err == nil {
		t.Errorf("FindTraceIDs with limit 0: got no error")
	}
}

func TestServicesOperationsDependenciesMerge(t *testing.T) {
	ss, srvs := stores(t, 2)
	// A: frontend -> checkout once. B: frontend -> checkout twice and
	// checkout -> payment once.
	write(t, ss[0], span(1, 1, "frontend", 0, 0), span(1, 2, "checkout", 1, 1))
	write(t, ss[1],
		span(2, 1, "frontend", 0, 0), span(2, 2, "checkout", 1, 1), span(2, 3, "payment", 2, 2),
		span(3, 1, "frontend", 0, 0), span(3, 2, "checkout", 1, 1))
	c := newClient(t, addrs(srvs), nil)

	svcs, err := c.Services(t.Context())
	if err != nil {
		t.Fatalf("Services: %v", err)
	}
	if want := []string{"checkout", "frontend", "payment"}; !slices.Equal(svcs, want) {
		t.Errorf("Services: got %q, want %q", svcs, want)
	}

	ops, err := c.Operations(t.Context(), "checkout", storage.AnyKind)
	if err != nil {
		t.Fatalf("Operations: %v", err)
	}
	wantOps := []storage.Operation{{Name: "checkout-op-2", Kind: model.SpanKindServer}}
	if !slices.Equal(ops, wantOps) {
		t.Errorf("Operations(checkout): got %v, want %v", ops, wantOps)
	}
	ops, err = c.Operations(t.Context(), "checkout", model.SpanKindClient)
	if err != nil || len(ops) != 0 {
		t.Errorf("Operations(checkout, client): got %v, %v; want none", ops, err)
	}

	deps, err := c.Dependencies(t.Context(), base, base+uint64(time.Hour))
	if err != nil {
		t.Fatalf("Dependencies: %v", err)
	}
	wantDeps := []storage.DependencyLink{
		{Parent: "checkout", Child: "payment", CallCount: 1},
		{Parent: "frontend", Child: "checkout", CallCount: 3},
	}
	if !slices.Equal(deps, wantDeps) {
		t.Errorf("Dependencies: got %v, want %v", deps, wantDeps)
	}
}

// With one endpoint down, calls answer from the other and say which failed.
func TestOneEndpointDown(t *testing.T) {
	ss, srvs := stores(t, 2)
	write(t, ss[0], span(1, 1, "frontend", 0, 0), span(1, 2, "checkout", 1, 1))
	write(t, ss[1], span(1, 3, "payment", 2, 2), span(2, 1, "batch", 0, 0))
	c := newClient(t, addrs(srvs), nil)
	srvs[1].stop()
	down := srvs[1].addr

	checkWarned := func(t *testing.T, w *storage.Warnings) {
		t.Helper()
		list := w.List()
		if len(list) != 1 || !strings.Contains(list[0], down) {
			t.Errorf("warnings: got %q, want one naming %s", list, down)
		}
	}

	ctx, w := storage.WithWarnings(t.Context())
	spans, err := c.GetTrace(ctx, tid(1), storage.TimeHint{})
	if err != nil {
		t.Fatalf("GetTrace: %v", err)
	}
	if want := []model.SpanID{sid(1, 1), sid(1, 2)}; !slices.Equal(spanIDs(spans), want) {
		t.Errorf("GetTrace: got %v, want the spans of the endpoint that is up, %v", spanIDs(spans), want)
	}
	checkWarned(t, w)

	ctx, w = storage.WithWarnings(t.Context())
	_, err = c.GetTrace(ctx, tid(2), storage.TimeHint{})
	if !errors.Is(err, storage.ErrTraceNotFound) || !strings.Contains(err.Error(), "1 did not") {
		t.Errorf("GetTrace of a trace only the down endpoint has: got %v, want ErrTraceNotFound saying one endpoint did not answer", err)
	}
	checkWarned(t, w)

	ctx, w = storage.WithWarnings(t.Context())
	svcs, err := c.Services(ctx)
	if err != nil || !slices.Equal(svcs, []string{"checkout", "frontend"}) {
		t.Errorf("Services: got %q, %v; want [checkout frontend]", svcs, err)
	}
	checkWarned(t, w)

	ctx, w = storage.WithWarnings(t.Context())
	refs, err := c.FindTraceIDs(ctx, storage.Query{Kind: storage.AnyKind, Limit: 10})
	if err != nil || len(refs) != 1 || refs[0].TraceID != tid(1) {
		t.Errorf("FindTraceIDs: got %v, %v; want trace 1 only", refs, err)
	}
	checkWarned(t, w)

	// Without a collector on the context the call still answers.
	if _, err := c.Operations(t.Context(), "frontend", storage.AnyKind); err != nil {
		t.Errorf("Operations: %v", err)
	}
	ctx, w = storage.WithWarnings(t.Context())
	if _, err := c.Dependencies(ctx, base, base+uint64(time.Hour)); err != nil {
		t.Errorf("Dependencies: %v", err)
	}
	checkWarned(t, w)
}

func TestAllEndpointsDown(t *testing.T) {
	ss, srvs := stores(t, 2)
	write(t, ss[0], span(1, 1, "frontend", 0, 0))
	c := newClient(t, addrs(srvs), nil)
	srvs[0].stop()
	srvs[1].stop()
	ctx := t.Context()
	_, errTrace := c.GetTrace(ctx, tid(1), storage.TimeHint{})
	_, errFind := c.FindTraceIDs(ctx, storage.Query{Kind: storage.AnyKind, Limit: 10})
	_, errSvcs := c.Services(ctx)
	_, errOps := c.Operations(ctx, "frontend", storage.AnyKind)
	_, errDeps := c.Dependencies(ctx, base, base+1)
	for name, err := range map[string]error{"GetTrace": errTrace, "FindTraceIDs": errFind, "Services": errSvcs, "Operations": errOps, "Dependencies": errDeps} {
		if err == nil {
			t.Errorf("%s with every endpoint down: no error", name)
			continue
		}
		if errors.Is(err, storage.ErrTraceNotFound) {
			t.Errorf("%s with every endpoint down: got %v, which claims the trace does not exist", name, err)
		}
		if !strings.Contains(err.Error(), srvs[0].addr) {
			t.Errorf("%s: error %q does not name the first failed endpoint %s", name, err, srvs[0].addr)
		}
	}
}

// A stopped collector that starts again on the same address is used again.
func TestEndpointComesBack(t *testing.T) {
	ss, srvs := stores(t, 2)
	write(t, ss[0], span(1, 1, "frontend", 0, 0))
	write(t, ss[1], span(2, 1, "backend", 0, 0))
	c := newClient(t, addrs(srvs), nil)
	srvs[1].stop()
	ctx, w := storage.WithWarnings(t.Context())
	if svcs, err := c.Services(ctx); err != nil || len(svcs) != 1 || len(w.List()) != 1 {
		t.Fatalf("Services with one endpoint down: got %q, %v, warnings %q", svcs, err, w.List())
	}
	serve(t, ss[1], srvs[1].addr)
	testkit.Eventually(t, "the restarted endpoint to answer", func() bool {
		ctx, w := storage.WithWarnings(t.Context())
		svcs, err := c.Services(ctx)
		return err == nil && len(svcs) == 2 && len(w.List()) == 0
	})
}

// A hung endpoint is reported as failed after CallTimeout.
func TestCallTimeout(t *testing.T) {
	ss, srvs := stores(t, 1)
	write(t, ss[0], span(1, 1, "frontend", 0, 0))
	hung := serve(t, hangingReader{}, "127.0.0.1:0")
	c := newClient(t, []string{srvs[0].addr, hung.addr}, func(c *remote.Config) { c.CallTimeout = 200 * time.Millisecond })
	ctx, w := storage.WithWarnings(t.Context())
	svcs, err := c.Services(ctx)
	if err != nil || !slices.Equal(svcs, []string{"frontend"}) {
		t.Errorf("Services: got %q, %v; want [frontend]", svcs, err)
	}
	if list := w.List(); len(list) != 1 || !strings.Contains(list[0], hung.addr) || !strings.Contains(list[0], "DeadlineExceeded") {
		t.Errorf("warnings: got %q, want one saying %s timed out", list, hung.addr)
	}
}

// hangingReader answers nothing until the call is cancelled.
type hangingReader struct{ storage.Reader }

func (hangingReader) Services(ctx context.Context) ([]string, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestClientLifecycle(t *testing.T) {
	_, srvs := stores(t, 1)
	cfg := remote.DefaultConfig()
	cfg.Endpoints = addrs(srvs)
	c, err := remote.New(cfg, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Services(t.Context()); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Services before Start: got %v, want ErrClosed", err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, err := c.Services(t.Context()); err != nil {
		t.Errorf("Services: %v", err)
	}
	if err := c.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := c.Shutdown(t.Context()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if _, err := c.Services(t.Context()); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Services after Shutdown: got %v, want ErrClosed", err)
	}
	if err := c.Start(t.Context()); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Start after Shutdown: got %v, want ErrClosed", err)
	}

	unstarted, err := remote.New(cfg, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := unstarted.Shutdown(t.Context()); err != nil {
		t.Errorf("Shutdown before Start: %v", err)
	}
}

func TestWarningsNested(t *testing.T) {
	outerCtx, outer := storage.WithWarnings(t.Context())
	ctx, inner := storage.WithWarnings(outerCtx)
	_, srvs := stores(t, 1)
	c := newClient(t, []string{srvs[0].addr, "127.0.0.1:1"}, nil)
	if _, err := c.Services(ctx); err != nil {
		t.Fatalf("Services: %v", err)
	}
	if len(inner.List()) != 1 || !slices.Equal(inner.List(), outer.List()) {
		t.Errorf("inner warnings %q, outer %q: want the same one in both", inner.List(), outer.List())
	}
}

func TestConfigValidate(t *testing.T) {
	bad := map[string]func(*remote.Config){
		"no endpoints":      func(c *remote.Config) { c.Endpoints = nil },
		"no port":           func(c *remote.Config) { c.Endpoints = []string{"collector"} },
		"no host":           func(c *remote.Config) { c.Endpoints = []string{":17271"} },
		"port not a number": func(c *remote.Config) { c.Endpoints = []string{"collector:grpc"} },
		"port 0":            func(c *remote.Config) { c.Endpoints = []string{"collector:0"} },
		"port too large":    func(c *remote.Config) { c.Endpoints = []string{"collector:70000"} },
		"zero interval":     func(c *remote.Config) { c.ResolveInterval = 0 },
		"negative interval": func(c *remote.Config) { c.ResolveInterval = -time.Second },
		"zero dial":         func(c *remote.Config) { c.DialTimeout = 0 },
		"negative dial":     func(c *remote.Config) { c.DialTimeout = -time.Second },
		"negative call":     func(c *remote.Config) { c.CallTimeout = -time.Second },
	}
	for name, mod := range bad {
		cfg := remote.DefaultConfig()
		cfg.Endpoints = []string{"collector:17271"}
		mod(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, cfg)
		}
		if _, err := remote.New(cfg, telemetry.Nop()); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	good := remote.DefaultConfig()
	good.Endpoints = []string{"collector:17271", "10.0.0.1:17271", "[::1]:17271"}
	if err := good.Validate(); err != nil {
		t.Errorf("Validate(%+v): %v", good, err)
	}
}
