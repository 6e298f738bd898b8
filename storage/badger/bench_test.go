package badger

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/workload"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// The benchmarks use the reference workload of DESIGN.md: batches of 500
// spans, 10 spans a trace, ~10 attributes a span, 8 services.

const batchSpans = 500

func benchBatches(n int, start time.Time) [][]*model.Span {
	g := workload.New(workload.Config{Seed: 42})
	out := make([][]*model.Span, n)
	for i := range out {
		out[i] = g.Batch(batchSpans, start.Add(time.Duration(i)*50*time.Millisecond), time.Millisecond)
	}
	return out
}

// BenchmarkWrite measures WriteSpans throughput with durable (fsync) and
// non-durable writes, four writers at once, for the default tenant and
// (tenant=4) for four tenants, one per writer, whose keys carry a prefix.
func BenchmarkWrite(b *testing.B) {
	for _, c := range []struct {
		durable bool
		tenants int
	}{{true, 0}, {false, 0}, {false, 4}} {
		durable := c.durable
		name := fmt.Sprintf("sync=%v", durable)
		if c.tenants > 0 {
			name += fmt.Sprintf("/tenants=%d", c.tenants)
		}
		b.Run(name, func(b *testing.B) {
			s, err := startBench(b.TempDir(), !durable)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Shutdown(context.Background())
			batches := benchBatches(200, time.Now().Add(-time.Hour))
			b.ReportAllocs()
			b.ResetTimer()
			var mu sync.Mutex
			next, writers := 0, 0
			b.SetParallelism(2) // 2 cores x 2 = 4 writers
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				mu.Lock()
				if c.tenants > 0 {
					ctx = storage.WithTenant(ctx, fmt.Sprintf("tenant-%d", writers%c.tenants))
				}
				writers++
				mu.Unlock()
				for pb.Next() {
					mu.Lock()
					batch := batches[next%len(batches)]
					next++
					mu.Unlock()
					if err := s.WriteSpans(ctx, batch); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N*batchSpans)/b.Elapsed().Seconds(), "spans/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// startBench constructs and starts a store in dir with the default
// configuration; the caller shuts it down.
func startBench(dir string, noSync bool) (*Store, error) {
	cfg := DefaultConfig()
	cfg.Dir, cfg.NoSync = dir, noSync
	s, err := New(cfg, telemetry.Nop())
	if err != nil {
		return nil, err
	}
	return s, s.Start(context.Background())
}

// readStore is a store of benchReadSpans spans built once for the read
// benchmarks (SCRY_BENCH_SPANS overrides the size).
var readStore struct {
	once  sync.Once
	s     *Store
	dir   string
	ids   []model.TraceID
	start time.Time
	end   time.Time
	err   error
	bytes float64
}

func benchReadSpans() int {
	if v, err := strconv.Atoi(os.Getenv("SCRY_BENCH_SPANS")); err == nil && v > 0 {
		return v
	}
	return 1_000_000
}

// benchMeta is what a kept read store (SCRY_BENCH_DIR) records of its build.
type benchMeta struct {
	Layout int // benchLayout of the build
	Spans  int
	IDs    []model.TraceID
	Start  time.Time
	End    time.Time
	Bytes  float64
}

// benchLayout changes whenever what openReadStore writes changes, so that a
// kept store of another layout is built again.
const benchLayout = 2

// benchOrder is the order.id carried by the root span of the first trace of
// the k-th sampled batch (readStore.ids[k]): a value one span has.
func benchOrder(k int) string { return fmt.Sprintf("order-%08d", k) }

func openReadStore(b *testing.B) *Store {
	readStore.once.Do(func() {
		// SCRY_BENCH_DIR keeps the store between runs (built once, then
		// reopened as it is), so that searches can be profiled again
		// without rebuilding tens of millions of spans.
		dir, keep := os.Getenv("SCRY_BENCH_DIR"), true
		var err error
		if dir == "" {
			keep = false
			if dir, err = os.MkdirTemp("", "scry-bench-*"); err != nil {
				readStore.err = err
				return
			}
			readStore.dir = dir
		}
		s, err := startBench(dir, true)
		if err != nil {
			readStore.err = err
			return
		}
		metaPath := dir + ".json"
		if keep {
			var m benchMeta
			if data, err := os.ReadFile(metaPath); err == nil && json.Unmarshal(data, &m) == nil && m.Spans == benchReadSpans() && m.Layout == benchLayout {
				readStore.ids, readStore.start, readStore.end, readStore.bytes = m.IDs, m.Start, m.End, m.Bytes
				readStore.s = s
				fmt.Fprintf(os.Stderr, "reopened the store of %d spans in %s\n", m.Spans, dir)
				return
			}
		}
		total := benchReadSpans()
		// Spread the spans over the last 2 hours.
		g := workload.New(workload.Config{Seed: 7})
		readStore.end = time.Now().Add(-time.Minute)
		readStore.start = readStore.end.Add(-2 * time.Hour)
		nb := total / batchSpans
		step := 2 * time.Hour / time.Duration(nb)
		tstep := step / (batchSpans / 10)
		t0 := time.Now()
		for i := range nb {
			batch := g.Batch(batchSpans, readStore.start.Add(time.Duration(i)*step), tstep)
			if i%97 == 0 {
				batch[0].Attributes = append(batch[0].Attributes, model.KeyValue{Key: "order.id", Value: model.StringValue(benchOrder(len(readStore.ids)))})
				readStore.ids = append(readStore.ids, batch[0].TraceID)
			}
			if err := s.WriteSpans(context.Background(), batch); err != nil {
				readStore.err = err
				return
			}
		}
		fmt.Fprintf(os.Stderr, "built a store of %d spans in %v\n", total, time.Since(t0).Round(time.Millisecond))
		if err := s.Compact(); err != nil {
			readStore.err = err
			return
		}
		readStore.bytes = float64(s.DiskSize()) / float64(total)
		readStore.s = s
		if keep {
			data, _ := json.Marshal(benchMeta{Layout: benchLayout, Spans: total, IDs: readStore.ids, Start: readStore.start, End: readStore.end, Bytes: readStore.bytes})
			if err := os.WriteFile(metaPath, data, 0o644); err != nil {
				readStore.err = err
			}
		}
	})
	if readStore.err != nil {
		b.Fatal(readStore.err)
	}
	return readStore.s
}

// latency runs fn b.N times and reports p50 and p99 in microseconds.
func latency(b *testing.B, fn func(i int)) {
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := time.Now()
		fn(i)
		lat = append(lat, time.Since(t))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkRead measures reads on a store of 1M spans: trace by ID and
// searches over a one-hour window with limit 20, plus disk bytes per span
// after compaction.
func BenchmarkRead(b *testing.B) {
	s := openReadStore(b)
	ctx := context.Background()
	b.Run("DiskBytesPerSpan", func(b *testing.B) {
		for range b.N {
		}
		b.ReportMetric(readStore.bytes, "bytes/span")
		b.ReportMetric(float64(s.sealedBlocks()), "blocks")
		b.ReportMetric(float64(s.idx.pending.Load()), "pending-chunks")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("TraceByID", func(b *testing.B) {
		b.ReportAllocs()
		latency(b, func(i int) {
			sp, err := s.GetTrace(ctx, readStore.ids[i%len(readStore.ids)], storage.TimeHint{})
			if err != nil || len(sp) != 10 {
				b.Fatalf("trace: %d spans, %v", len(sp), err)
			}
		})
	})
	g := workload.New(workload.Config{Seed: 7})
	winEnd := readStore.end.Add(-30 * time.Minute)
	base := storage.Query{
		StartMin: uint64(winEnd.Add(-time.Hour).UnixNano()),
		StartMax: uint64(winEnd.UnixNano()),
		Kind:     storage.AnyKind,
		Limit:    20,
	}
	// The sampled traces are spread evenly over the two hours: those of
	// the window's hour are the middle half.
	n := len(readStore.ids)
	orderInWindow := func(i int) int { return n/4 + 1 + (i*7919)%(n/2-2) }
	wantFound := map[string]int{"OrderID": 1, "ServiceOrderID": 1}
	queries := map[string]func(i int) storage.Query{
		"Service": func(i int) storage.Query {
			q := base
			q.Service = workload.ServiceName(i % 8)
			return q
		},
		"ServiceOperation": func(i int) storage.Query {
			q := base
			q.Service = workload.ServiceName(i % 8)
			q.Operation = g.Operation(i%8, i%6)
			return q
		},
		// One user in 10,000, on ~1 span in 1,000: a selective search.
		"ServiceAttribute": func(i int) storage.Query {
			q := base
			q.Service = workload.ServiceName(1 + i%7)
			q.Attributes = []storage.Attribute{{Key: "customer.tier", Value: "enterprise"}, {Key: "http.response.status_code", Value: "500"}}
			return q
		},
		"NoService": func(i int) storage.Query {
			q := base
			q.Attributes = []storage.Attribute{{Key: "http.response.status_code", Value: "500"}}
			return q
		},
		// A value of one user (1 in 10,000, ~1 span in 10,000): high
		// cardinality, with and without its service.
		"UserID": func(i int) storage.Query {
			q := base
			q.Attributes = []storage.Attribute{{Key: "user.id", Value: fmt.Sprintf("user-%05d", i*7919%10000)}}
			return q
		},
		"ServiceUserID": func(i int) storage.Query {
			q := base
			q.Service = workload.ServiceName(i % 8)
			q.Attributes = []storage.Attribute{{Key: "user.id", Value: fmt.Sprintf("user-%05d", i*7919%10000)}}
			return q
		},
		"ServiceStatus": func(i int) storage.Query {
			q := base
			q.Service = workload.ServiceName(i % 8)
			q.Attributes = []storage.Attribute{{Key: "http.response.status_code", Value: "500"}}
			return q
		},
		// A value one span has (the root span, of service-0, of one
		// trace in ~5,000), in the window: with and without its service.
		"OrderID": func(i int) storage.Query {
			q := base
			q.Attributes = []storage.Attribute{{Key: "order.id", Value: benchOrder(orderInWindow(i))}}
			return q
		},
		"ServiceOrderID": func(i int) storage.Query {
			q := base
			q.Service = workload.ServiceName(0)
			q.Attributes = []storage.Attribute{{Key: "order.id", Value: benchOrder(orderInWindow(i))}}
			return q
		},
		// A value no span has.
		"NoMatch": func(i int) storage.Query {
			q := base
			q.Attributes = []storage.Attribute{{Key: "user.id", Value: fmt.Sprintf("nobody-%d", i)}}
			return q
		},
	}
	for _, name := range []string{"Service", "ServiceOperation", "ServiceAttribute", "NoService", "UserID", "ServiceUserID", "ServiceStatus", "OrderID", "ServiceOrderID", "NoMatch"} {
		mk := queries[name]
		b.Run("Find"+name, func(b *testing.B) {
			b.ReportAllocs()
			found := 0
			latency(b, func(i int) {
				refs, err := s.FindTraceIDs(ctx, mk(i))
				if err != nil {
					b.Fatal(err)
				}
				found += len(refs)
			})
			b.ReportMetric(float64(found)/float64(b.N), "traces/op")
			if want := wantFound[name]; want != 0 && found != want*b.N {
				b.Errorf("%d traces found in %d searches, want %d each", found, b.N, want)
			}
		})
	}
}

// BenchmarkSeal measures the attribute index's upkeep on the reference
// workload: each iteration seals one round of pending chunks (sealChunks
// writes of 500 spans) into a block; every mergeFan rounds the blocks are
// merged into one. Reported per span: sealing and merging time.
func BenchmarkSeal(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Dir, cfg.NoSync = b.TempDir(), true
	cfg.MaintenanceInterval = time.Hour // sealing is by hand
	s, err := New(cfg, telemetry.Nop())
	if err != nil {
		b.Fatal(err)
	}
	s.holdSeal, s.mergeFan = true, 1<<30
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	ctx := context.Background()
	g := workload.New(workload.Config{Seed: 7})
	start := time.Now().Add(-time.Hour)
	step := 10 * time.Millisecond
	var seal, merge time.Duration
	for i := range b.N {
		for k := range sealChunks {
			at := start.Add(time.Duration(i*sealChunks+k) * step)
			if err := s.WriteSpans(ctx, g.Batch(batchSpans, at, step/(batchSpans/10))); err != nil {
				b.Fatal(err)
			}
		}
		t := time.Now()
		if err := s.sealIndex(ctx, false); err != nil {
			b.Fatal(err)
		}
		seal += time.Since(t)
		if (i+1)%mergeFan == 0 {
			t = time.Now()
			s.idx.sealMu.Lock()
			s.mergeFan = mergeFan
			err := s.mergeBlocks(ctx)
			s.mergeFan = 1 << 30
			s.idx.sealMu.Unlock()
			if err != nil {
				b.Fatal(err)
			}
			merge += time.Since(t)
		}
	}
	spans := float64(b.N * sealChunks * batchSpans)
	b.ReportMetric(float64(seal.Nanoseconds())/spans, "seal-ns/span")
	b.ReportMetric(float64(merge.Nanoseconds())/spans, "merge-ns/span")
	b.ReportMetric(float64(s.idx.postings), "postings/round")
	b.ReportMetric(0, "ns/op")
}
