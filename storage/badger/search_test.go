package badger

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/internal/telemetry"
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
// back to the next write, so those traces lie in chunks of two writes. The
// searches run three times: with every chunk pending, with part of them
// sealed into blocks (and later writes pending), and with all sealed; the
// first blocks are of version 1 (no oldest span start per trace), as a store
// sealed by an earlier build has. Attributes of cardinalities from 2 to 1M are searched with stored values
// and with values no span has.
func TestSearchAgreesWithMemory(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), nil)
	ref := testkit.Start(t, memory.New())
	start := searchLoadStart()
	w := newSearchLoad(start)
	w.write(t, 0, 40, s, ref)
	attrs := w.attrs()
	w.compare(t, s, ref, attrs, 100, "all pending")

	// The first blocks also go the way of postings of services past
	// packSvcMask.
	s.blockVersion, s.widePostings = 1, true
	if err := s.sealIndex(ctx, true); err != nil {
		t.Fatal(err)
	}
	s.blockVersion, s.widePostings = 0, false
	w.write(t, 40, 70, s, ref)
	if n := s.sealedBlocks(); n == 0 {
		t.Fatal("no block was sealed")
	}
	attrs = w.attrs()
	w.compare(t, s, ref, attrs, 150, "half sealed")

	if err := s.sealIndex(ctx, true); err != nil {
		t.Fatal(err)
	}
	if n := s.idx.pending.Load(); n != 0 {
		t.Fatalf("%d chunks still pending after sealing", n)
	}
	w.compare(t, s, ref, attrs, 150, "all sealed")

	// The blocks are found again after a restart.
	dir := s.cfg.Dir
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, nil)
	w.compare(t, s, ref, attrs, 50, "reopened")
}

// TestLegacyStoreSearches builds a store in the scry-badger-2 format (16-bit
// chunk hashes, no pending markers), opens it with this version, which
// upgrades it in place, writes and seals more, and compares searches with
// the reference store.
func TestLegacyStoreSearches(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old := newTest(t, dir, nil)
	old.legacyChunks = true
	if err := old.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ref := testkit.Start(t, memory.New())
	start := searchLoadStart()
	w := newSearchLoad(start)
	w.write(t, 0, 30, old, ref)
	if err := old.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	s := openTest(t, dir, nil)
	w.compare(t, s, ref, w.attrs(), 80, "legacy only")
	w.write(t, 30, 60, s, ref)
	if err := s.sealIndex(ctx, true); err != nil {
		t.Fatal(err)
	}
	w.write(t, 60, 70, s, ref)
	w.compare(t, s, ref, w.attrs(), 150, "legacy, sealed and pending")
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	var format []byte
	s = openTest(t, dir, nil)
	if err := s.db.View(func(txn *kvTxn) error {
		item, err := txn.Get(formatKey)
		if err == nil {
			format, err = item.ValueCopy(nil)
		}
		return err
	}); err != nil || string(format) != FormatVersion {
		t.Fatalf("format after upgrade: %q, %v; want %q", format, err, FormatVersion)
	}
	w.compare(t, s, ref, w.attrs(), 50, "legacy reopened")
}

// searchLoad writes generated batches, with extra attributes of chosen
// cardinalities, to both stores and makes random queries.
type searchLoad struct {
	g     *workload.Generator
	start time.Time
	rng   *rand.Rand
	held  []*model.Span
	seen  map[string][]string // stored values by key
}

// cardinalities of the extra attributes card.<n>.
var cardinalities = []int{2, 100, 10_000, 1_000_000}

func newSearchLoad(start time.Time) *searchLoad {
	return &searchLoad{g: workload.New(workload.Config{Seed: 5}), start: start, rng: rand.New(rand.NewPCG(1, 2)), seen: map[string][]string{}}
}

const searchStep = 10 * time.Minute / 70

// searchLoadStart is where a search load starts: an hour boundary about an
// hour ago, so that its ten minutes lie in one bucket (6 h wide for the
// default retention, starting on hour boundaries). Tests count the blocks
// sealed, and a load across a bucket's end (an hour ago starting in the
// ten minutes before 00:00, 06:00, 12:00 or 18:00) sealed one block more.
func searchLoadStart() time.Time { return time.Now().Add(-time.Hour).Truncate(time.Hour) }

// write writes batches [from, to) (to 70 is the last).
func (w *searchLoad) write(t *testing.T, from, to int, stores ...storage.Store) {
	t.Helper()
	for i := from; i < to; i++ {
		batch := append(w.held, w.g.Batch(500, w.start.Add(time.Duration(i)*searchStep), searchStep/50)...)
		w.held = nil
		for _, sp := range batch {
			if sp.Attributes == nil || len(sp.Attributes) > 10 {
				continue // held back from an earlier batch: already has them
			}
			sp.Attributes = slices.Clip(sp.Attributes)
			for _, c := range cardinalities {
				if w.rng.IntN(3) == 0 {
					continue
				}
				key := fmt.Sprintf("card.%d", c)
				v := fmt.Sprint(w.rng.IntN(c))
				if c == 2 {
					sp.Attributes = append(sp.Attributes, model.KeyValue{Key: key, Value: model.BoolValue(v == "1")})
					v = map[string]string{"0": "false", "1": "true"}[v]
				} else {
					sp.Attributes = append(sp.Attributes, model.KeyValue{Key: key, Value: model.StringValue(v)})
				}
				if w.rng.IntN(20) == 0 || len(w.seen[key]) < 5 {
					w.seen[key] = append(w.seen[key], v)
				}
			}
		}
		if i < to-1 {
			for k := len(batch) - 1; k >= 0; k -= 23 {
				w.held = append(w.held, batch[k])
				batch = slices.Delete(batch, k, k+1)
			}
		}
		for _, s := range stores {
			if err := s.WriteSpans(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// attrs returns the attributes to search: the workload's, stored values of
// the extra ones and values of them that no span has.
func (w *searchLoad) attrs() []storage.Attribute {
	out := []storage.Attribute{
		{Key: "customer.tier", Value: "enterprise"},
		{Key: "http.response.status_code", Value: "500"},
		{Key: "http.request.method", Value: "GET"},
		{Key: "cache.hit", Value: "true"},
		{Key: "server.port", Value: "8080"},
		{Key: "user.id", Value: "user-00042"},
		{Key: "user.id", Value: "user-99999"},
		{Key: "service.name", Value: workload.ServiceName(3)},
	}
	for _, c := range cardinalities {
		key := fmt.Sprintf("card.%d", c)
		for range 3 {
			vs := w.seen[key]
			out = append(out, storage.Attribute{Key: key, Value: vs[w.rng.IntN(len(vs))]})
		}
		out = append(out, storage.Attribute{Key: key, Value: "none"})
	}
	return out
}

// compare makes n random queries of both stores and fails on a difference.
func (w *searchLoad) compare(t *testing.T, s, ref storage.Store, attrs []storage.Attribute, n int, phase string) {
	t.Helper()
	ctx := context.Background()
	rng := w.rng
	end := w.start.Add(10 * time.Minute)
	for i := range n {
		q := storage.Query{Kind: storage.AnyKind, Limit: []int{1, 3, 20, 100000}[rng.IntN(4)]}
		if rng.IntN(3) > 0 {
			q.Service = workload.ServiceName(rng.IntN(8))
		}
		if rng.IntN(4) == 0 {
			q.Operation = w.g.Operation(rng.IntN(8), rng.IntN(6))
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
			q.StartMin, q.StartMax = uint64(w.start.UnixNano()+min(a, b)), uint64(w.start.UnixNano()+max(a, b))
		case 2: // wide windows: most chunks wholly inside
			q.StartMin = uint64(w.start.Add(time.Duration(rng.IntN(60)) * time.Second).UnixNano())
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
			t.Fatalf("%s: query %d %+v: %d traces, want %d\ngot  %v\nwant %v", phase, i, q, len(got), len(want), head(got), head(want))
		}
	}
}

func head(r []storage.TraceRef) []storage.TraceRef { return r[:min(len(r), 5)] }

// TestWritesSealInTheBackground checks that once writes leave enough
// chunks pending the store seals them by itself, searches still agree, and
// the index metrics say so.
func TestWritesSealInTheBackground(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.Dir, cfg.NoSync = t.TempDir(), true
	s, err := New(cfg, telemetry.Settings{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Start(t, s)
	ref := testkit.Start(t, memory.New())
	g := workload.New(workload.Config{Seed: 9})
	start := time.Now().Add(-30 * time.Minute)
	for i := range sealChunks + 50 {
		// A trace a write: one chunk a write.
		batch := g.Batch(10, start.Add(time.Duration(i)*time.Second), time.Millisecond)
		for _, st := range []storage.Store{s, ref} {
			if err := st.WriteSpans(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A round is over once it is timed (its block is listed a little before).
	testkit.Eventually(t, "a block sealed by the store itself", func() bool {
		return gathered(t, reg, "scry_store_index_seal_seconds")[""] > 0
	})
	// Another round may seal a block while the gauge is read: it must lie
	// between the counts read just before and just after.
	before := s.sealedBlocks()
	got := gathered(t, reg, "scry_store_index_blocks")[""]
	after := s.sealedBlocks()
	if got < float64(before) || got > float64(after) || got == 0 {
		t.Errorf("scry_store_index_blocks = %v, want between %d and %d", got, before, after)
	}
	// 50 chunks of the current bucket wait for the bucket's next round.
	if got := gathered(t, reg, "scry_store_index_pending_chunks")[""]; got < 1 || got >= sealChunks {
		t.Errorf("scry_store_index_pending_chunks = %v after sealing %d of %d chunks", got, sealChunks, sealChunks+50)
	}
	for _, a := range []storage.Attribute{{Key: "http.response.status_code", Value: "500"}, {Key: "user.id", Value: "user-00042"}, {Key: "cache.hit", Value: "true"}} {
		q := storage.Query{Kind: storage.AnyKind, Limit: 20, Attributes: []storage.Attribute{a}}
		want, err := ref.FindTraceIDs(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.FindTraceIDs(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%v: got %v, want %v", a, head(got), head(want))
		}
	}
}

// TestSealedTraceAcrossWindowEnd checks a sealed trace whose matching span
// starts inside the window and whose other spans start after it: the block
// posts the trace with its newest start past the window, and the search
// still finds it; a trace whose spans all start after the window is not
// found. Version 1 and version 2 blocks, and a merged block of two whose
// first holds the matching span and the second the others.
func TestSealedTraceAcrossWindowEnd(t *testing.T) {
	for _, tc := range []struct {
		version uint8
		merged  bool
	}{{1, false}, {2, false}, {2, true}} {
		t.Run(fmt.Sprintf("block version %d, merged %v", tc.version, tc.merged), func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t, t.TempDir(), nil)
			s.blockVersion = tc.version
			base := searchLoadStart()
			spans := testSpans(20, "svc", base, 3)
			// Trace 0: span 0 inside the window, the others 30 s later.
			// Trace 1: every span 30 s later.
			for i, sp := range spans {
				if i > 0 {
					sp.StartTime += uint64(30 * time.Second)
					sp.EndTime += uint64(30 * time.Second)
				}
				sp.Attributes = append(sp.Attributes, model.KeyValue{Key: "order.id", Value: model.StringValue("o-1")})
			}
			writes := [][]*model.Span{spans}
			if tc.merged {
				writes = [][]*model.Span{spans[:1], spans[1:]}
			}
			for _, w := range writes {
				if err := s.WriteSpans(ctx, w); err != nil {
					t.Fatal(err)
				}
				s.mergeFan = 1 << 30
				if err := s.sealIndex(ctx, true); err != nil {
					t.Fatal(err)
				}
			}
			if tc.merged {
				merge(t, s, 2)
			}
			if s.sealedBlocks() != 1 {
				t.Fatalf("%d blocks, want 1", s.sealedBlocks())
			}
			q := storage.Query{Kind: storage.AnyKind, Limit: 20, StartMin: uint64(base.Add(-time.Minute).UnixNano()),
				StartMax: uint64(base.Add(time.Second).UnixNano()), Attributes: []storage.Attribute{{Key: "order.id", Value: "o-1"}}}
			got, err := s.FindTraceIDs(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].TraceID != spans[0].TraceID || got[0].Start != spans[0].StartTime {
				t.Fatalf("found %v, want trace %s at the start of its first span", got, spans[0].TraceID)
			}
		})
	}
}

// TestPackedPostingsLikeWide seals the same chunks with postings packed (the
// usual way) and kept wide (the way of services past packSvcMask), and
// checks that the blocks are the same bytes.
func TestPackedPostingsLikeWide(t *testing.T) {
	ctx := context.Background()
	packed, wide := openTest(t, t.TempDir(), nil), openTest(t, t.TempDir(), nil)
	wide.widePostings = true
	w := newSearchLoad(searchLoadStart())
	w.write(t, 0, 40, packed, wide)
	blocks := func(s *Store) []string {
		t.Helper()
		if err := s.sealIndex(ctx, true); err != nil {
			t.Fatal(err)
		}
		var out []string
		err := s.db.View(func(txn *kvTxn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixBlock}})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				k := it.Item().Key()
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					return err
				}
				// Without the seq, which is the time of sealing.
				out = append(out, fmt.Sprintf("bucket %x kind %d page %x: %x", k[1:5], k[13], k[14:], v))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	p, wd := blocks(packed), blocks(wide)
	if len(p) < 3 {
		t.Fatalf("%d block keys sealed, want a header and pages", len(p))
	}
	if !slices.Equal(p, wd) {
		t.Errorf("blocks sealed with packed postings differ from wide ones:\npacked %d keys, wide %d", len(p), len(wd))
		for i := range min(len(p), len(wd)) {
			if p[i] != wd[i] {
				t.Errorf("first difference:\npacked %.200s\nwide   %.200s", p[i], wd[i])
				break
			}
		}
	}
}
