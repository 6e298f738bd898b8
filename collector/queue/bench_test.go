package queue_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/scrytrace/scry/collector/queue"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// discard is a storage.Writer that stores nothing, so that the benchmark
// measures the queue (enqueue, group commit, answer), not a store.
type discard struct{ spans atomic.Int64 }

func (d *discard) WriteSpans(_ context.Context, spans []*model.Span) error {
	d.spans.Add(int64(len(spans)))
	return nil
}

// BenchmarkQueue is concurrent requests of 500 spans (the reference
// batch) through the queue's group commit; one op is one request. In
// "tenants" every request is of one of four tenants, so that commits mix
// them.
func BenchmarkQueue(b *testing.B) {
	for _, bc := range []struct {
		name    string
		tenants []string
	}{{"default", []string{""}}, {"one-tenant", []string{"team-a"}}, {"tenants", []string{"a", "b", "c", "d"}}} {
		b.Run(bc.name, func(b *testing.B) {
			w := &discard{}
			q, err := queue.New(queue.DefaultConfig(), w, telemetry.Nop())
			if err != nil {
				b.Fatal(err)
			}
			if err := q.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer q.Shutdown(context.Background())
			batch := spans(b, 1, 0, 500)
			var n atomic.Int64
			b.SetParallelism(4)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := storage.WithTenant(context.Background(), bc.tenants[int(n.Add(1))%len(bc.tenants)])
				for pb.Next() {
					if err := q.ConsumeSpans(ctx, batch, 100_000); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(w.spans.Load())/b.Elapsed().Seconds(), "spans/s")
		})
	}
}
