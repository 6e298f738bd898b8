package badger

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/internal/workload"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// mountTmpfs mounts a tmpfs of the given size ("64m") on a new folder,
// unmounted when t ends, or skips t when it cannot (not root, say).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: the disk-full tests mount a small tmpfs of their own, which needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("skipped: cannot mount a tmpfs for the disk-full test: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("cannot unmount the test's tmpfs: %v", err)
		}
	})
	return dir
}

// resizeTmpfs changes the size of the tmpfs at dir.
func resizeTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, "size="+size); err != nil {
		t.Fatalf("cannot resize the test's tmpfs to %s: %v", size, err)
	}
}

// smallStore is a store for a 64 MiB filesystem: 8 MiB memtables and a
// 48 MiB margin, which covers a level-0 compaction of everything written.
func smallStore(c *Config) {
	c.MemTableSize = 8 << 20
	c.MinFreeDisk = 48 << 20
}

// fillUntilRefused writes batches of the reference workload until a write
// fails, and returns the traces of the writes that succeeded and that error.
func fillUntilRefused(t *testing.T, s *Store, g *workload.Generator) ([]model.TraceID, error) {
	t.Helper()
	var acked []model.TraceID
	start := time.Now().Add(-time.Minute)
	for i := range 5000 {
		batch := g.Batch(500, start.Add(time.Duration(i)*time.Millisecond), time.Microsecond)
		for _, sp := range batch {
			// Half a kilobyte that does not compress, so that the disk
			// fills with few spans (-race encodes them slowly).
			pad := make([]byte, 512)
			rand.Read(pad)
			sp.Attributes = append(sp.Attributes, model.KeyValue{Key: "pad", Value: model.BytesValue(pad)})
		}
		if err := s.WriteSpans(t.Context(), batch); err != nil {
			return acked, err
		}
		acked = appendTraces(acked, batch)
	}
	t.Fatal("5000 batches written to a 64 MiB filesystem without a refusal")
	return nil, nil
}

func appendTraces(ids []model.TraceID, batch []*model.Span) []model.TraceID {
	seen := map[model.TraceID]bool{}
	for _, sp := range batch {
		if !seen[sp.TraceID] {
			seen[sp.TraceID] = true
			ids = append(ids, sp.TraceID)
		}
	}
	return ids
}

// checkWhole fails t unless every trace of ids reads back with its ten
// spans.
func checkWhole(t *testing.T, s *Store, ids []model.TraceID) {
	t.Helper()
	got, err := s.GetTraces(t.Context(), ids, storage.TimeHint{})
	if err != nil {
		t.Fatalf("GetTraces: %v", err)
	}
	for i, spans := range got {
		if len(spans) != 10 {
			t.Fatalf("trace %v has %d spans stored, want 10", ids[i], len(spans))
		}
	}
}

// A store whose filesystem fills up refuses writes with the retryable
// storage.ErrNoSpace instead of crashing, keeps every write it acknowledged
// and serves reads; once the filesystem grows it takes writes again.
func TestDiskFullRefusesWritesThenResumes(t *testing.T) {
	dir := mountTmpfs(t, "64m")
	s := openTest(t, filepath.Join(dir, "store"), smallStore)
	g := workload.New(workload.Config{Seed: 1})

	acked, err := fillUntilRefused(t, s, g)
	if !errors.Is(err, storage.ErrNoSpace) {
		t.Fatalf("write on a full disk: got %v, want an error wrapping storage.ErrNoSpace", err)
	}
	if len(acked) == 0 {
		t.Fatal("no write succeeded before the disk was full")
	}
	if s.DiskFull() == nil {
		t.Error("DiskFull() = nil while writes are refused")
	}
	if free := s.DiskFree(); free <= 0 || free >= 48<<20 {
		t.Errorf("DiskFree() = %d, want between 0 and the 48 MiB margin", free)
	}
	// Refused again, not crashed, and reads work.
	if err := s.WriteSpans(t.Context(), g.Batch(500, time.Now(), time.Microsecond)); !errors.Is(err, storage.ErrNoSpace) {
		t.Fatalf("second write on a full disk: got %v, want storage.ErrNoSpace", err)
	}
	checkWhole(t, s, acked)
	if svcs, err := s.Services(t.Context()); err != nil || len(svcs) != 8 {
		t.Fatalf("Services on a full disk = %v, %v; want the 8 services", svcs, err)
	}
	// Sealing, which writes blocks before it frees chunks, waits. A seal
	// upkeep began before the disk filled may still be finishing: wait
	// for it (later ones see the full disk and do nothing).
	s.idx.sealMu.Lock()
	s.idx.sealMu.Unlock() //nolint:staticcheck // an empty critical section: waits for an in-flight seal
	pending, blocks := s.idx.pending.Load(), s.sealedBlocks()
	if pending == 0 {
		t.Fatal("no chunk pending before sealing")
	}
	if err := s.sealIndex(t.Context(), true); err != nil {
		t.Fatalf("sealing on a full disk: %v", err)
	}
	if s.idx.pending.Load() != pending || s.sealedBlocks() != blocks {
		t.Errorf("sealing on a full disk took %d pending chunks into %d blocks", pending-s.idx.pending.Load(), s.sealedBlocks()-blocks)
	}

	resizeTmpfs(t, dir, "256m")
	batch := g.Batch(500, time.Now(), time.Microsecond)
	testkit.EventuallyNoError(t, 5*time.Second, "a write after the filesystem grew", func() error {
		return s.WriteSpans(t.Context(), batch)
	})
	if err := s.DiskFull(); err != nil {
		t.Errorf("DiskFull() after writes resumed: %v", err)
	}
	if err := s.sealIndex(t.Context(), true); err != nil || s.idx.pending.Load() != 0 {
		t.Errorf("sealing after writes resumed: %v, %d chunks left pending", err, s.idx.pending.Load())
	}
	checkWhole(t, s, appendTraces(acked, batch))
}

// A store started on a full disk opens read-only and serves reads; writes
// are refused with storage.ErrNoSpace until space is freed, then resume
// without a restart. A new store cannot be created there, and says why.
func TestStartOnFullDisk(t *testing.T) {
	dir := mountTmpfs(t, "64m")
	storeDir := filepath.Join(dir, "store")
	g := workload.New(workload.Config{Seed: 2})
	first := newTest(t, storeDir, smallStore)
	if err := first.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	batch := g.Batch(500, time.Now(), time.Microsecond)
	if err := first.WriteSpans(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	acked := appendTraces(nil, batch)
	if err := first.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}

	filler := filepath.Join(dir, "filler")
	fillDisk(t, filler)

	if err := startErr(t, filepath.Join(dir, "new")); !errors.Is(err, storage.ErrNoSpace) {
		t.Errorf("new store on a full disk: got %v, want an error wrapping storage.ErrNoSpace", err)
	}

	s := openTest(t, storeDir, smallStore)
	checkWhole(t, s, acked)
	if s.DiskFull() == nil {
		t.Error("DiskFull() = nil on a full disk")
	}
	next := g.Batch(500, time.Now(), time.Microsecond)
	if err := s.WriteSpans(t.Context(), next); !errors.Is(err, storage.ErrNoSpace) {
		t.Fatalf("write on a full disk: got %v, want storage.ErrNoSpace", err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyNoError(t, 5*time.Second, "a write after space was freed", func() error {
		return s.WriteSpans(t.Context(), next)
	})
	checkWhole(t, s, appendTraces(acked, next))
}

// fillDisk writes path until its filesystem has no space left.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := 0; ; i++ {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return
		}
		if i > 1<<12 {
			t.Fatalf("wrote %d MiB to a 64 MiB filesystem", i)
		}
	}
}

// A write that fails with ENOSPC (free space measured above the margin,
// say, but taken by another program meanwhile) is the same retryable
// refusal, and refuses writes until a look finds the margin free again.
func TestNoSpaceErrorRefusesUntilALook(t *testing.T) {
	s := openTest(t, t.TempDir(), func(c *Config) { c.MinFreeDisk = 1 << 20 })
	err := s.noSpace(fmt.Errorf("cannot write spans: %w", syscall.ENOSPC))
	if !errors.Is(err, storage.ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("noSpace(ENOSPC) = %v, want it to wrap storage.ErrNoSpace and the cause", err)
	}
	if s.DiskFull() == nil {
		t.Fatal("DiskFull() = nil right after an ENOSPC")
	}
	batch := workload.New(workload.Config{Seed: 3}).Batch(50, time.Now(), time.Microsecond)
	if err := s.WriteSpans(t.Context(), batch); !errors.Is(err, storage.ErrNoSpace) {
		t.Fatalf("write right after an ENOSPC: got %v, want storage.ErrNoSpace", err)
	}
	testkit.EventuallyNoError(t, 5*time.Second, "a write once the disk has room", func() error {
		return s.WriteSpans(t.Context(), batch)
	})
	if err := s.DiskFull(); err != nil {
		t.Errorf("DiskFull() once writes resumed: %v", err)
	}
	if err := s.noSpace(errors.New("other")); errors.Is(err, storage.ErrNoSpace) {
		t.Errorf("noSpace of another error = %v, want it unchanged", err)
	}
}
