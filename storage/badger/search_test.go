package badger

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/internal/workload"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/memory"
)

// TestSearchAgreesWithMemory runs random searches over generated traces on
// this store and on the reference store. Windows with edges inside chunks
// and windows covering whole chunks take the two ways a chunk is scanned;
// small limits make the scan stop early. Some spans of some traces are held
// back to the next write, so those traces lie in chunks of two writes.
func TestSearchAgreesWithMemory(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), nil)
	ref := testkit.Start(t, memory.New())
	g := workload.New(workload.Config{Seed: 5})
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	const batches = 40
	step := 10 * time.Minute / batches
	var held []*model.Span
	for i := range batches {
		batch := append(held, g.Batch(500, start.Add(time.Duration(i)*step), step/50)...)
		held = nil
		for k := len(batch) - 1; k >= 0; k -= 23 {
			held = append(held, batch[k])
			batch = slices.Delete(batch, k, k+1)
		}
		if i == batches-1 {
			batch, held = append(batch, held...), nil
		}
		if err := ref.WriteSpans(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteSpans(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	attrs := []storage.Attribute{
		{Key: "customer.tier", Value: "enterprise"},
		{Key: "http.response.status_code", Value: "500"},
		{Key: "http.request.method", Value: "GET"},
		{Key: "cache.hit", Value: "true"},
		{Key: "server.port", Value: "8080"},
		{Key: "user.id", Value: "user-00042"},
	}
	end := start.Add(10 * time.Minute)
	for n := range 300 {
		q := storage.Query{Kind: storage.AnyKind, Limit: []int{1, 3, 20, 100000}[rng.IntN(4)]}
		if rng.IntN(3) > 0 {
			q.Service = workload.ServiceName(rng.IntN(8))
		}
		if rng.IntN(4) == 0 {
			q.Operation = g.Operation(rng.IntN(8), rng.IntN(6))
		}
		for range rng.IntN(3) {
			q.Attributes = append(q.Attributes, attrs[rng.IntN(len(attrs))])
		}
		if rng.IntN(5) == 0 {
			q.DurationMin = uint64(rng.IntN(20)) * uint64(time.Millisecond)
		}
		switch rng.IntN(3) {
		case 0: // everything
		case 1: // edges anywhere
			a, b := rng.Int64N(int64(10*time.Minute)), rng.Int64N(int64(10*time.Minute))
			q.StartMin, q.StartMax = uint64(start.UnixNano()+min(a, b)), uint64(start.UnixNano()+max(a, b))
		case 2: // wide windows: most chunks wholly inside
			q.StartMin = uint64(start.Add(time.Duration(rng.IntN(60)) * time.Second).UnixNano())
			q.StartMax = uint64(end.Add(-time.Duration(rng.IntN(60)) * time.Second).UnixNano())
		}
		want, err := ref.FindTraceIDs(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.FindTraceIDs(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("query %d %+v: %d traces, want %d\ngot  %v\nwant %v", n, q, len(got), len(want), head(got), head(want))
		}
	}
}

func head(r []storage.TraceRef) []storage.TraceRef { return r[:min(len(r), 5)] }
