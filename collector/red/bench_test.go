package red

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/workload"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/badger"
	"github.com/scrytrace/scry/storage/memory"
)

// The benchmarks use the reference workload of DESIGN.md: batches of 500
// spans, 10 spans a trace, ~10 attributes a span, 8 services.

func benchBatches(n int) [][]*model.Span {
	g := workload.New(workload.Config{Seed: 42})
	out := make([][]*model.Span, n)
	start := time.Now().Add(-time.Hour)
	for i := range out {
		out[i] = g.Batch(500, start.Add(time.Duration(i)*50*time.Millisecond), time.Millisecond)
	}
	return out
}

// BenchmarkObserve is the aggregator's cost per span, with two
// dimensions configured.
func BenchmarkObserve(b *testing.B) {
	clk := newClock(time.Unix(1_700_000_000, 0))
	cfg := DefaultConfig()
	cfg.Dimensions = []string{"deployment.environment", "http.route"}
	mem := memory.New()
	mem.Start(context.Background())
	a, _ := New(cfg, mem, mem, telemetry.Settings{Clock: clk})
	batches := benchBatches(20)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		a.Observe(context.Background(), batches[n%len(batches)], false)
		n++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*500), "ns/span")
}

// BenchmarkWritePath is the collector's commit path, the Badger store's
// WriteSpans (not durable, so that the aggregator's share shows at its
// largest) by four writers, without and with the aggregator in front.
func BenchmarkWritePath(b *testing.B) {
	for _, withRED := range []bool{false, true} {
		b.Run(fmt.Sprintf("red=%v", withRED), func(b *testing.B) {
			cfg := badger.DefaultConfig()
			cfg.Dir, cfg.NoSync = b.TempDir(), true
			s, err := badger.New(cfg, telemetry.Nop())
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer s.Shutdown(context.Background())
			var w storage.Writer = s
			if withRED {
				a, err := New(DefaultConfig(), s, s, telemetry.Settings{Registerer: prometheus.NewRegistry()})
				if err != nil {
					b.Fatal(err)
				}
				a.Start(context.Background())
				defer a.Shutdown(context.Background())
				w = a
			}
			batches := benchBatches(200)
			var mu sync.Mutex
			next := 0
			b.ResetTimer()
			b.SetParallelism(2)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mu.Lock()
					batch := batches[next%len(batches)]
					next++
					mu.Unlock()
					if err := w.WriteSpans(context.Background(), batch); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "spans/s")
		})
	}
}
