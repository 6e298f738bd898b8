package badger

import (
	"context"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/storage/memory"
)

// sealedRounds writes the search load in rounds of 8 batches, sealing each
// round into a block of its own (the first two of version 1), with merging
// held off, and leaves the last batches pending.
func sealedRounds(t *testing.T, s *Store, ref *memory.Store, w *searchLoad, rounds int) {
	t.Helper()
	s.mergeFan = 1 << 30
	for k := range rounds {
		w.write(t, k*8, k*8+8, s, ref)
		s.blockVersion = 0
		if k < 2 {
			s.blockVersion = 1
		}
		if err := s.sealIndex(context.Background(), true); err != nil {
			t.Fatal(err)
		}
	}
	s.blockVersion = 0
	w.write(t, rounds*8, 70, s, ref)
	if n := s.sealedBlocks(); n != rounds {
		t.Fatalf("%d blocks sealed, want %d", n, rounds)
	}
}

// merge runs one merging pass with fan as the merge's fan.
func merge(t *testing.T, s *Store, fan int) {
	t.Helper()
	s.idx.sealMu.Lock()
	defer s.idx.sealMu.Unlock()
	s.mergeFan = fan
	if err := s.mergeBlocks(context.Background()); err != nil {
		t.Error(err)
	}
}

// tiers counts the store's blocks by tier.
func tiers(s *Store) map[uint8]int {
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	out := map[uint8]int{}
	for _, bs := range s.idx.blocks {
		for _, m := range bs {
			out[m.tier]++
		}
	}
	return out
}

// blockSeqsOnDisk returns the seqs of every block key in the store.
func blockSeqsOnDisk(t *testing.T, s *Store) []uint64 {
	t.Helper()
	var seqs []uint64
	if err := s.db.View(func(txn *kvTxn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{prefixBlock}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if seq := binary.BigEndian.Uint64(it.Item().Key()[5:]); !slices.Contains(seqs, seq) {
				seqs = append(seqs, seq)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return seqs
}

// checkBlocksOnDisk fails t unless the blocks on disk are those in memory.
func checkBlocksOnDisk(t *testing.T, s *Store) {
	t.Helper()
	var want []uint64
	s.idx.mu.RLock()
	for _, bs := range s.idx.blocks {
		for _, m := range bs {
			want = append(want, m.seq)
		}
	}
	s.idx.mu.RUnlock()
	got := blockSeqsOnDisk(t, s)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("blocks on disk %v, in use %v", got, want)
	}
}

// TestMergedBlocksAgree merges sealed blocks (of both versions) while
// searches run, and compares searches with the reference store before,
// during and after, and after a restart.
func TestMergedBlocksAgree(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), nil)
	ref := testkit.Start(t, memory.New())
	w := newSearchLoad(searchLoadStart())
	sealedRounds(t, s, ref, w, 8)
	attrs := w.attrs()
	w.compare(t, s, ref, attrs, 60, "sealed, not merged")

	done := make(chan struct{})
	go func() {
		defer close(done)
		merge(t, s, 3)
	}()
	searches := 0
	for running := true; running; searches++ {
		select {
		case <-done:
			running = false
		default:
		}
		w.compare(t, s, ref, attrs, 1, "while merging")
	}
	// 8 blocks, merged 3 at a time: two merged blocks, two left.
	if got := tiers(s); got[1] != 2 || got[0] != 2 {
		t.Fatalf("blocks by tier after merging: %v, want 2 of tier 1 and 2 of tier 0", got)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.metrics.merged)
	if n := gathered(t, reg, "scry_store_index_merge_seconds")[""]; n != 2 {
		t.Errorf("scry_store_index_merge_seconds counts %v merges, want 2", n)
	}
	t.Logf("%d searches ran during the merges", searches)
	w.compare(t, s, ref, attrs, 150, "merged")
	checkBlocksOnDisk(t, s)

	dir := s.cfg.Dir
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, nil)
	if got := tiers(s); got[1] != 2 || got[0] != 2 {
		t.Fatalf("blocks by tier after a restart: %v", got)
	}
	w.compare(t, s, ref, attrs, 50, "merged, reopened")
}

// TestMergeLeftoversDeletedAtStart leaves a merge's inputs on disk, as a
// crash right after the merged block's header would, and checks that the
// next start uses the merged block alone and deletes them.
func TestMergeLeftoversDeletedAtStart(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), nil)
	ref := testkit.Start(t, memory.New())
	w := newSearchLoad(searchLoadStart())
	sealedRounds(t, s, ref, w, 4)
	s.keepMergeInputs = true
	merge(t, s, 2)
	if got := tiers(s); got[1] != 2 || got[0] != 0 {
		t.Fatalf("blocks by tier after merging: %v, want 2 of tier 1", got)
	}
	if n := len(blockSeqsOnDisk(t, s)); n != 6 {
		t.Fatalf("%d blocks on disk, want the 2 merged and their 4 inputs", n)
	}
	attrs := w.attrs()
	w.compare(t, s, ref, attrs, 40, "inputs left on disk")

	dir := s.cfg.Dir
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, nil)
	if got := tiers(s); got[1] != 2 || got[0] != 0 {
		t.Fatalf("blocks by tier after a restart: %v, want the 2 merged", got)
	}
	checkBlocksOnDisk(t, s)
	w.compare(t, s, ref, attrs, 60, "reopened")
}
