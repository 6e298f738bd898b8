package queue_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/collector/internal/collectortest"
	"github.com/scrytrace/scry/collector/queue"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/memory"
)

// spans converts n OTLP spans of trace t (span IDs from first on).
func spans(t testing.TB, trace, first, n int) []*model.Span {
	t.Helper()
	var sps []*tracepb.Span
	for i := range n {
		sps = append(sps, collectortest.Span(trace, first+i))
	}
	out, rejected := model.SpansFromOTLP(collectortest.Request("svc", sps...))
	if len(rejected) > 0 {
		t.Fatal(rejected)
	}
	return out
}

type fixture struct {
	store *memory.Store
	w     *collectortest.Writer
	q     *queue.Queue
	reg   *prometheus.Registry
}

func start(t *testing.T, cfg queue.Config) *fixture {
	t.Helper()
	f := &fixture{store: testkit.Start(t, memory.New()), reg: prometheus.NewRegistry()}
	f.w = &collectortest.Writer{Inner: f.store}
	q, err := queue.New(cfg, f.w, telemetry.Settings{Registerer: f.reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.q = q
	t.Cleanup(func() {
		f.w.Release()
		if err := q.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return f
}

func TestConfigValidate(t *testing.T) {
	if err := queue.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, cfg := range []queue.Config{
		{MaxBytes: 0, MaxBatchSpans: 1, Writers: 1},
		{MaxBytes: 1, MaxBatchSpans: 0, Writers: 1},
		{MaxBytes: 1, MaxBatchSpans: 1, Writers: 0},
	} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
		if _, err := queue.New(cfg, memory.New(), telemetry.Nop()); err == nil {
			t.Errorf("New(%+v): no error", cfg)
		}
	}
	if _, err := queue.New(queue.DefaultConfig(), nil, telemetry.Nop()); err == nil {
		t.Error("New with a nil writer: no error")
	}
}

func TestConsumeStoresBeforeReturning(t *testing.T) {
	f := start(t, queue.DefaultConfig())
	if err := f.q.ConsumeSpans(context.Background(), spans(t, 1, 1, 3), 300); err != nil {
		t.Fatal(err)
	}
	if got := len(collectortest.MustGetTrace(t, f.store, collectortest.TraceID(1))); got != 3 {
		t.Fatalf("stored %d spans, want 3", got)
	}
	if st := f.q.Stats(); st != (queue.Stats{}) {
		t.Fatalf("queue holds %+v after the answer, want nothing", st)
	}
	if err := f.q.ConsumeSpans(context.Background(), nil, 0); err != nil {
		t.Fatalf("empty request: %v", err)
	}
}

func TestGroupCommit(t *testing.T) {
	cfg := queue.DefaultConfig()
	f := start(t, cfg)
	f.w.Hold()
	const requests = 20
	var wg sync.WaitGroup
	errs := make(chan error, requests)
	for i := range requests {
		sp := spans(t, 100+i, 1, 5)
		wg.Go(func() { errs <- f.q.ConsumeSpans(context.Background(), sp, 500) })
	}
	// Every request is accepted (some held by the writers) before any commits.
	testkit.Eventually(t, "all requests queued", func() bool { return f.q.Stats().Requests == requests })
	f.w.Release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if calls := f.w.Calls(); calls >= requests || calls > cfg.Writers+2 {
		t.Fatalf("%d WriteSpans calls for %d requests, want them grouped into a few", calls, requests)
	}
	for i := range requests {
		if got := len(collectortest.MustGetTrace(t, f.store, collectortest.TraceID(100+i))); got != 5 {
			t.Fatalf("trace %d: stored %d spans, want 5", i, got)
		}
	}
	if got := metricValue(t, f.reg, "scry_collector_spans_committed_total"); got != requests*5 {
		t.Fatalf("committed counter %v", got)
	}
}

func TestBatchSpanCap(t *testing.T) {
	cfg := queue.Config{MaxBytes: 1 << 20, MaxBatchSpans: 10, Writers: 1}
	f := start(t, cfg)
	f.w.Hold()
	var wg sync.WaitGroup
	for i := range 6 { // 6 requests of 4 spans: at most 2 per batch
		sp := spans(t, 200+i, 1, 4)
		wg.Go(func() {
			if err := f.q.ConsumeSpans(context.Background(), sp, 100); err != nil {
				t.Error(err)
			}
		})
	}
	testkit.Eventually(t, "all requests queued", func() bool { return f.q.Stats().Requests == 6 })
	f.w.Release()
	wg.Wait()
	// The first request may have been taken alone before the others came.
	if calls := f.w.Calls(); calls < 3 || calls > 4 {
		t.Fatalf("%d WriteSpans calls, want 3 or 4 with batches capped at 10 spans", calls)
	}
}

func TestQueueFull(t *testing.T) {
	f := start(t, queue.Config{MaxBytes: 1000, MaxBatchSpans: 100, Writers: 1})
	f.w.Hold()
	held := make(chan error, 1)
	sp := spans(t, 1, 1, 2)
	go func() { held <- f.q.ConsumeSpans(context.Background(), sp, 600) }()
	testkit.Eventually(t, "first request in the writer", func() bool { return f.w.Waiting() == 1 })

	startFull := time.Now()
	err := f.q.ConsumeSpans(context.Background(), spans(t, 2, 1, 2), 600)
	if !errors.Is(err, collector.ErrQueueFull) {
		t.Fatalf("got %v, want ErrQueueFull", err)
	}
	if collector.IsPermanent(err) {
		t.Fatal("ErrQueueFull is marked permanent")
	}
	if d := time.Since(startFull); d > 5*time.Second {
		t.Fatalf("full queue answered after %s, want at once", d)
	}
	if got := metricValue(t, f.reg, "scry_collector_queue_bytes"); got != 600 {
		t.Fatalf("queue bytes gauge %v, want 600", got)
	}
	if got := metricValue(t, f.reg, "scry_collector_queue_spans"); got != 2 {
		t.Fatalf("queue spans gauge %v, want 2", got)
	}

	f.w.Release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	// Room again once the first is answered.
	if err := f.q.ConsumeSpans(context.Background(), spans(t, 2, 1, 2), 600); err != nil {
		t.Fatal(err)
	}
	if got := metricValue(t, f.reg, "scry_collector_requests_refused_total"); got != 1 {
		t.Fatalf("refused counter %v, want 1", got)
	}
}

func TestTooLarge(t *testing.T) {
	f := start(t, queue.Config{MaxBytes: 1000, MaxBatchSpans: 100, Writers: 1})
	err := f.q.ConsumeSpans(context.Background(), spans(t, 1, 1, 1), 1001)
	if !errors.Is(err, collector.ErrTooLarge) || !collector.IsPermanent(err) {
		t.Fatalf("got %v, want a permanent ErrTooLarge", err)
	}
}

func TestRejectedSpansAttributedToTheirRequest(t *testing.T) {
	f := start(t, queue.Config{MaxBytes: 1 << 20, MaxBatchSpans: 1000, Writers: 1})
	f.w.Hold()
	good1 := spans(t, 1, 1, 2)
	bad := spans(t, 2, 1, 2)
	bad[1].TraceID = model.TraceID{} // the store rejects an all-zero trace ID
	good2 := spans(t, 3, 1, 2)

	// A request to occupy the writer, so the next three share one batch.
	first := make(chan error, 1)
	occupy := spans(t, 4, 1, 1)
	go func() { first <- f.q.ConsumeSpans(context.Background(), occupy, 10) }()
	testkit.Eventually(t, "writer busy", func() bool { return f.w.Waiting() == 1 })

	results := make([]chan error, 3)
	for i, sp := range [][]*model.Span{good1, bad, good2} {
		results[i] = make(chan error, 1)
		go func() { results[i] <- f.q.ConsumeSpans(context.Background(), sp, 100) }()
	}
	testkit.Eventually(t, "three requests queued", func() bool { return f.q.Stats().Requests == 4 })
	f.w.Release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-results[0]; err != nil {
		t.Fatalf("good request 1: %v", err)
	}
	if err := <-results[2]; err != nil {
		t.Fatalf("good request 2: %v", err)
	}
	err := <-results[1]
	var rej *storage.RejectedError
	if !errors.As(err, &rej) || len(rej.Errs) != 1 || !collector.IsPermanent(err) {
		t.Fatalf("bad request: got %v, want a permanent RejectedError naming 1 span", err)
	}
	for _, tr := range []int{1, 3} {
		if got := len(collectortest.MustGetTrace(t, f.store, collectortest.TraceID(tr))); got != 2 {
			t.Fatalf("trace %d: %d spans stored, want 2", tr, got)
		}
	}
	if got := len(collectortest.MustGetTrace(t, f.store, collectortest.TraceID(2))); got != 1 {
		t.Fatalf("valid span of the bad request: %d stored, want 1", got)
	}
	if got := metricValue(t, f.reg, "scry_collector_spans_rejected_total"); got != 1 {
		t.Fatalf("rejected counter %v, want 1", got)
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) WriteSpans(context.Context, []*model.Span) error {
	return errors.New("disk on fire")
}

func TestStoreErrorIsRetryable(t *testing.T) {
	q, err := queue.New(queue.DefaultConfig(), failingWriter{}, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer q.Shutdown(context.Background())
	err = q.ConsumeSpans(context.Background(), spans(t, 1, 1, 1), 10)
	if err == nil || collector.IsPermanent(err) {
		t.Fatalf("got %v, want a retryable error", err)
	}
}

// noSpaceWriter refuses every write for lack of disk space.
type noSpaceWriter struct{}

func (noSpaceWriter) WriteSpans(context.Context, []*model.Span) error {
	return fmt.Errorf("only 1 MiB free: %w", storage.ErrNoSpace)
}

// A store out of disk space makes the request retryable, counted as
// disk_full by the receivers.
func TestNoSpaceIsRetryable(t *testing.T) {
	q, err := queue.New(queue.DefaultConfig(), noSpaceWriter{}, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer q.Shutdown(context.Background())
	err = q.ConsumeSpans(context.Background(), spans(t, 1, 1, 1), 10)
	if !errors.Is(err, storage.ErrNoSpace) || collector.Classify(err) != collector.KindRetry {
		t.Fatalf("got %v, want a retryable error wrapping storage.ErrNoSpace", err)
	}
	if rejected, reason := collector.Outcome(err); rejected || reason != collector.ReasonDiskFull {
		t.Fatalf("Outcome = %v, %q; want refused, disk_full", rejected, reason)
	}
}

func TestContextEndsWhileWaiting(t *testing.T) {
	f := start(t, queue.DefaultConfig())
	f.w.Hold()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	sp := spans(t, 1, 1, 1)
	go func() { done <- f.q.ConsumeSpans(ctx, sp, 10) }()
	testkit.Eventually(t, "write held", func() bool { return f.w.Waiting() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	// The spans are still written: delivery is at-least-once.
	f.w.Release()
	testkit.Eventually(t, "span stored", func() bool { return f.q.Stats().Requests == 0 })
	if got := len(collectortest.MustGetTrace(t, f.store, collectortest.TraceID(1))); got != 1 {
		t.Fatalf("%d spans stored, want 1", got)
	}
}

func TestShutdownDrains(t *testing.T) {
	store := testkit.Start(t, memory.New())
	w := &collectortest.Writer{Inner: store}
	q, err := queue.New(queue.Config{MaxBytes: 1 << 20, MaxBatchSpans: 3, Writers: 2}, w, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.Hold()
	const requests = 10
	results := make(chan error, requests)
	for i := range requests {
		sp := spans(t, 300+i, 1, 2)
		go func() { results <- q.ConsumeSpans(context.Background(), sp, 100) }()
	}
	testkit.Eventually(t, "all requests queued", func() bool { return q.Stats().Requests == requests })

	shutdown := make(chan error, 2)
	go func() { shutdown <- q.Shutdown(context.Background()) }()
	go func() { shutdown <- q.Shutdown(context.Background()) }() // twice, concurrently
	// Once shutting down, nothing new is accepted.
	testkit.Eventually(t, "queue refusing", func() bool {
		// Accepted before Shutdown began, a probe waits (and is drained too).
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		return errors.Is(q.ConsumeSpans(ctx, spans(t, 999, 1, 1), 10), collector.ErrStopped)
	})
	w.Release()
	for range 2 {
		if err := <-shutdown; err != nil {
			t.Fatal(err)
		}
	}
	for range requests {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	for i := range requests {
		if got := len(collectortest.MustGetTrace(t, store, collectortest.TraceID(300+i))); got != 2 {
			t.Fatalf("trace %d: %d spans stored, want 2", i, got)
		}
	}
	if err := q.Shutdown(context.Background()); err != nil {
		t.Fatalf("third shutdown: %v", err)
	}
	if err := q.Start(context.Background()); err == nil {
		t.Fatal("start after shutdown: no error")
	}
}

func TestShutdownDeadlineAbortsWrites(t *testing.T) {
	store := testkit.Start(t, memory.New())
	w := &collectortest.Writer{Inner: store}
	w.Hold() // never released: only the abort ends the write
	q, err := queue.New(queue.DefaultConfig(), w, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	sp := spans(t, 1, 1, 1)
	go func() { result <- q.ConsumeSpans(context.Background(), sp, 10) }()
	testkit.Eventually(t, "write held", func() bool { return w.Waiting() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := q.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown: got %v, want DeadlineExceeded", err)
	}
	if err := <-result; err == nil || collector.IsPermanent(err) {
		t.Fatalf("aborted request: got %v, want a retryable error", err)
	}
}

func TestShutdownBeforeStart(t *testing.T) {
	q, err := queue.New(queue.DefaultConfig(), memory.New(), telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	sp := spans(t, 1, 1, 1)
	go func() { result <- q.ConsumeSpans(context.Background(), sp, 10) }()
	testkit.Eventually(t, "request queued", func() bool { return q.Stats().Requests == 1 })
	if err := q.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-result; !errors.Is(err, collector.ErrStopped) {
		t.Fatalf("got %v, want ErrStopped", err)
	}
}

func TestMetricsRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := queue.New(queue.DefaultConfig(), memory.New(), telemetry.Settings{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := queue.New(queue.DefaultConfig(), memory.New(), telemetry.Settings{Registerer: reg}); err == nil {
		t.Fatal("second queue on one registry: no error")
	}
	f := start(t, queue.DefaultConfig())
	if err := f.q.ConsumeSpans(context.Background(), spans(t, 1, 1, 4), 10); err != nil {
		t.Fatal(err)
	}
	if got := metricValue(t, f.reg, "scry_collector_spans_committed_total"); got != 4 {
		t.Fatalf("committed counter %v, want 4", got)
	}
	if got := metricValue(t, f.reg, "scry_collector_commit_duration_seconds"); got < 1 {
		t.Fatalf("commit duration histogram has %v observations, want at least 1", got)
	}
}

// metricValue sums the series of a counter or gauge in reg, or returns the
// sample count of a histogram.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
		return sum
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// TestGroupCommitTenants: requests of several tenants committed together
// are each stored for their own tenant, with one write per tenant, and
// each is answered after its commit.
func TestGroupCommitTenants(t *testing.T) {
	f := start(t, queue.Config{MaxBytes: 1 << 20, MaxBatchSpans: 1000, Writers: 1})
	f.w.Hold()
	first := make(chan error, 1)
	sp := spans(t, 299, 1, 1)
	go func() { first <- f.q.ConsumeSpans(context.Background(), sp, 100) }()
	testkit.Eventually(t, "the writer holds the first request", func() bool { return f.w.Waiting() == 1 })

	// The same trace ID from three tenants (and "a" twice), different spans.
	reqs := []struct {
		tenant   string
		first, n int
	}{{"a", 1, 3}, {"b", 4, 2}, {"", 6, 1}, {"a", 7, 1}}
	var wg sync.WaitGroup
	errs := make(chan error, len(reqs))
	for _, r := range reqs {
		sp := spans(t, 300, r.first, r.n)
		ctx := storage.WithTenant(context.Background(), r.tenant)
		wg.Go(func() { errs <- f.q.ConsumeSpans(ctx, sp, 100) })
	}
	testkit.Eventually(t, "all requests queued", func() bool { return f.q.Stats().Requests == 1+len(reqs) })
	f.w.Release()
	wg.Wait()
	close(errs)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if calls := f.w.Calls(); calls != 4 {
		t.Fatalf("%d WriteSpans calls, want 4: the first request, then one for each of the 3 tenants of the batch", calls)
	}
	id, err := model.TraceIDFromBytes(collectortest.TraceID(300))
	if err != nil {
		t.Fatal(err)
	}
	for tenant, want := range map[string]int{"a": 4, "b": 2, "": 1} {
		ctx := storage.WithTenant(context.Background(), tenant)
		got, err := f.store.GetTrace(ctx, id, storage.TimeHint{})
		if err != nil {
			t.Fatalf("tenant %q: %v", tenant, err)
		}
		if len(got) != want {
			t.Errorf("tenant %q reads %d spans of the trace, want its own %d", tenant, len(got), want)
		}
	}
}
