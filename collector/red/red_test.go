package red

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/memory"
)

type testClock struct{ ns atomic.Int64 }

func (c *testClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *testClock) add(d time.Duration) { c.ns.Add(int64(d)) }
func newClock(t time.Time) *testClock    { c := &testClock{}; c.ns.Store(t.UnixNano()); return c }
func res(svc string) *model.Resource {
	return &model.Resource{Attributes: []model.KeyValue{{Key: "service.name", Value: model.StringValue(svc)}}}
}
func traceID(i int) (id model.TraceID) {
	id[0], id[1], id[2], id[15] = 1, byte(i>>8), byte(i), 1
	return id
}
func spanID(i int) (id model.SpanID) { id[0], id[1], id[7] = byte(i>>8), byte(i), 1; return id }

func newAgg(t *testing.T, cfg Config, clk telemetry.Clock, reg prometheus.Registerer) (*Aggregator, *memory.Store) {
	t.Helper()
	mem := testkit.Start(t, memory.New())
	a, err := New(cfg, mem, mem, telemetry.Settings{Clock: clk, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return a, mem
}

// exact returns the q-quantile of sorted values as the nearest rank.
func exact(sorted []uint64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return float64(sorted[max(i, 0)])
}

// TestAggregationMatchesSpans sends spans of known rates, error ratios and
// log-normal latencies across several steps and checks the stored series
// against counts and quantiles computed from the spans themselves.
func TestAggregationMatchesSpans(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0).Truncate(15 * time.Second)
	clk := newClock(t0)
	cfg := DefaultConfig()
	cfg.Dimensions = []string{"deployment.environment"}
	a, mem := newAgg(t, cfg, clk, nil)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	type key struct{ svc, op, env string }
	durs := map[key][]uint64{}
	calls, errs := map[key]uint64{}, map[key]uint64{}
	services := []string{"frontend", "checkout"}
	ops := []string{"GET /", "POST /pay", "GET /cart"}
	errRatio := map[string]float64{"GET /": 0.01, "POST /pay": 0.2, "GET /cart": 0.05}
	n := 0
	for step := range 4 {
		for range 5 { // batches per step
			var batch []*model.Span
			for range 400 {
				svc, op := services[rng.IntN(2)], ops[rng.IntN(3)]
				env := []string{"prod", "staging"}[rng.IntN(2)]
				d := uint64(math.Exp(rng.NormFloat64()*0.8+math.Log(20e6))) + 1 // ~20 ms median
				st := model.StatusOK
				if rng.Float64() < errRatio[op] {
					st = model.StatusError
				}
				start := uint64(clk.Now().UnixNano())
				sp := &model.Span{Resource: res(svc), TraceID: traceID(n), SpanID: spanID(n), Name: op, Kind: model.SpanKindServer,
					StartTime: start, EndTime: start + d, Status: model.Status{Code: st},
					Attributes: []model.KeyValue{{Key: "deployment.environment", Value: model.StringValue(env)}}}
				n++
				batch = append(batch, sp)
				k := key{svc, op, env}
				durs[k] = append(durs[k], d)
				calls[k]++
				if st == model.StatusError {
					errs[k]++
				}
			}
			if err := a.WriteSpans(ctx, batch); err != nil {
				t.Fatal(err)
			}
			clk.add(2 * time.Second)
		}
		if step < 3 {
			clk.add(5 * time.Second) // into the next step
		}
		_ = step
	}
	if err := a.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	pts, err := mem.ReadRED(ctx, storage.REDQuery{Services: services, Start: 0, End: math.MaxUint64})
	if err != nil {
		t.Fatal(err)
	}
	steps := map[uint64]bool{}
	got := map[key]*storage.REDPoint{}
	for i := range pts {
		p := &pts[i]
		steps[p.Start] = true
		if p.Start%uint64(15*time.Second) != 0 || p.Step != uint64(15*time.Second) {
			t.Errorf("point at %d step %d is not on the 15s grid", p.Start, p.Step)
		}
		k := key{p.Series.Service, p.Series.Operation, p.Series.Dims[0].Value}
		if got[k] == nil {
			got[k] = &storage.REDPoint{}
		}
		got[k].Add(p)
	}
	if len(steps) < 4 {
		t.Errorf("points in %d steps, want at least 4", len(steps))
	}
	for k, want := range calls {
		g := got[k]
		if g == nil {
			t.Errorf("%v: no series", k)
			continue
		}
		if g.Calls != want || g.Errors != errs[k] {
			t.Errorf("%v: %d calls %d errors, want %d and %d", k, g.Calls, g.Errors, want, errs[k])
		}
		sorted := slices.Sorted(slices.Values(durs[k]))
		for _, q := range []float64{0.5, 0.95, 0.99} {
			est, ex := g.Latency.Quantile(q), exact(sorted, q)
			if rel := math.Abs(est-ex) / ex; rel > 0.05 {
				t.Errorf("%v: p%v %.0f ns, exact %.0f ns: %.1f%% off", k, q*100, est, ex, rel*100)
			}
		}
		for _, e := range g.Exemplars {
			if !e.Error && errs[k] >= storage.MaxExemplars {
				t.Errorf("%v: exemplar %+v is no error though %d errors were seen", k, e, errs[k])
			}
		}
	}
	if len(got) != len(calls) {
		t.Errorf("%d series, want %d", len(got), len(calls))
	}
}

// TestCardinalityIsBounded sends a burst of distinct operation names: the
// series stay bounded, the excess is counted under __other__ and by the
// folded counter.
func TestCardinalityIsBounded(t *testing.T) {
	clk := newClock(time.Unix(1_700_000_000, 0))
	cfg := DefaultConfig()
	cfg.MaxValuesPerDimension = 100
	reg := prometheus.NewRegistry()
	a, mem := newAgg(t, cfg, clk, reg)
	ctx := context.Background()
	const total = 100_000
	for b := 0; b < total; b += 1000 {
		batch := make([]*model.Span, 0, 1000)
		for i := b; i < b+1000; i++ {
			batch = append(batch, &model.Span{Resource: res("api"), TraceID: traceID(i), SpanID: spanID(i), Name: fmt.Sprintf("GET /user/%d", i),
				Kind: model.SpanKindServer, StartTime: 1, EndTime: 1 + 1e6})
		}
		if err := a.WriteSpans(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	pts, _ := mem.ReadRED(ctx, storage.REDQuery{Services: []string{"api"}, End: math.MaxUint64})
	if len(pts) != 101 {
		t.Fatalf("%d series, want 100 operations and __other__", len(pts))
	}
	var other uint64
	for _, p := range pts {
		if p.Series.Operation == storage.OtherValue {
			other = p.Calls
		}
	}
	if other != total-100 {
		t.Errorf("__other__ counted %d calls, want %d", other, total-100)
	}
	var m dto.Metric
	if err := a.m.folded.WithLabelValues("operation").Write(&m); err != nil {
		t.Fatal(err)
	}
	if f := m.GetCounter().GetValue(); f != total-100 {
		t.Errorf("scry_red_folded_spans_total{dimension=operation} = %v, want %d", f, total-100)
	}
}

// TestMaxSeriesFolds: past MaxSeries in a step, further series go to one
// series labelled __other__.
func TestMaxSeriesFolds(t *testing.T) {
	clk := newClock(time.Unix(1_700_000_000, 0))
	cfg := DefaultConfig()
	cfg.MaxSeries = 10
	a, mem := newAgg(t, cfg, clk, nil)
	ctx := context.Background()
	var batch []*model.Span
	for i := range 50 {
		batch = append(batch, &model.Span{Resource: res(fmt.Sprintf("svc-%d", i)), TraceID: traceID(i), SpanID: spanID(i), Name: "op", StartTime: 1, EndTime: 2})
	}
	if err := a.WriteSpans(ctx, batch); err != nil {
		t.Fatal(err)
	}
	a.Flush(ctx, true)
	var svcs []string
	for i := range 50 {
		svcs = append(svcs, fmt.Sprintf("svc-%d", i))
	}
	pts, _ := mem.ReadRED(ctx, storage.REDQuery{Services: append(svcs, storage.OtherValue), End: math.MaxUint64})
	if len(pts) != 11 {
		t.Fatalf("%d series, want 10 and __other__", len(pts))
	}
}

// TestOnlyCommittedSpansCount: a write the store refuses counts nothing.
func TestOnlyCommittedSpansCount(t *testing.T) {
	clk := newClock(time.Unix(1_700_000_000, 0))
	mem := memory.New() // never started: every write fails
	sink := testkit.Start(t, memory.New())
	a, err := New(DefaultConfig(), mem, sink, telemetry.Settings{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sp := &model.Span{Resource: res("a"), TraceID: traceID(1), SpanID: spanID(1), Name: "op", StartTime: 1, EndTime: 2}
	if err := a.WriteSpans(ctx, []*model.Span{sp}); err == nil {
		t.Fatal("write to a closed store succeeded")
	}
	// A span with a zero ID is rejected, the other stored: one counts.
	good := testkit.Start(t, memory.New())
	a2, _ := New(DefaultConfig(), good, sink, telemetry.Settings{Clock: clk, Registerer: prometheus.NewRegistry()})
	bad := &model.Span{Resource: res("a"), Name: "op"}
	_ = a2.WriteSpans(ctx, []*model.Span{sp, bad})
	a.Flush(ctx, true)
	a2.Flush(ctx, true)
	pts, _ := sink.ReadRED(ctx, storage.REDQuery{Services: []string{"a"}, End: math.MaxUint64})
	if len(pts) != 1 || pts[0].Calls != 1 {
		t.Fatalf("points %+v, want one of 1 call", pts)
	}
}

// TestShutdownFlushesTenants: Shutdown writes the step under way, each
// tenant's to its own series.
func TestShutdownFlushesTenants(t *testing.T) {
	clk := newClock(time.Unix(1_700_000_000, 0))
	a, mem := newAgg(t, DefaultConfig(), clk, nil)
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, tenant := range []string{"team-a", "team-b", "team-b"} {
		sp := &model.Span{Resource: res("a"), TraceID: traceID(i), SpanID: spanID(i), Name: "op", StartTime: 1, EndTime: 2}
		if err := a.WriteSpans(storage.WithTenant(context.Background(), tenant), []*model.Span{sp}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
	for tenant, want := range map[string]uint64{"team-a": 1, "team-b": 2, "": 0} {
		pts, _ := mem.ReadRED(storage.WithTenant(context.Background(), tenant), storage.REDQuery{Services: []string{"a"}, End: math.MaxUint64})
		var n uint64
		for _, p := range pts {
			n += p.Calls
		}
		if n != want {
			t.Errorf("tenant %q: %d calls, want %d", tenant, n, want)
		}
	}
}

// TestPartialRejectionCountsOnce: when a batch of several requests has a
// span the store rejects, the queue writes each request again; the spans
// stored count once.
func TestPartialRejectionCountsOnce(t *testing.T) {
	clk := newClock(time.Unix(1_700_000_000, 0))
	a, mem := newAgg(t, DefaultConfig(), clk, nil)
	ctx := context.Background()
	r1 := []*model.Span{{Resource: res("a"), TraceID: traceID(1), SpanID: spanID(1), Name: "op", StartTime: 1, EndTime: 2}}
	r2 := []*model.Span{{Resource: res("a"), TraceID: traceID(2), SpanID: spanID(2), Name: "op", StartTime: 1, EndTime: 2}, {Resource: res("a"), Name: "op"}}
	if err := a.WriteSpans(ctx, append(slices.Clone(r1), r2...)); err == nil {
		t.Fatal("a span with zero IDs was accepted")
	}
	if err := a.WriteSpans(ctx, r1); err != nil {
		t.Fatal(err)
	}
	_ = a.WriteSpans(ctx, r2)
	a.Flush(ctx, true)
	pts, _ := mem.ReadRED(ctx, storage.REDQuery{Services: []string{"a"}, End: math.MaxUint64})
	if len(pts) != 1 || pts[0].Calls != 2 {
		t.Fatalf("points %+v, want one of 2 calls", pts)
	}
}
