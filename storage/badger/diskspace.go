package badger

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/storage"
)

// A full disk must never crash the store. Badger writes its memtables'
// write-ahead logs (.mem, 2×MemTableSize each), its value logs (.vlog) and
// every table it flushes or compacts (.sst) through memory maps of files
// that it extends with ftruncate: the files are sparse, and the kernel
// allocates their blocks only when a page is first written. On a full
// filesystem that first write is not an error Badger can return but a
// SIGBUS that kills the process, on every restart while the disk is full.
//
// So the store keeps a margin of free space (Config.MinFreeDisk) that covers
// what Badger may still write once the store stops taking spans: the active
// memtable's log and the one waiting to be flushed, their level-0 tables,
// and the compactions those set off. Writes are refused with
// storage.ErrNoSpace while the filesystem has less free space than the
// margin (or a write failed with ENOSPC), and taken again by themselves
// once it has the margin and an eighth more (so that the state does not
// flap around the threshold). A store opened with less than the margin free
// opens Badger read-only, which writes nothing, serves reads, and is
// reopened for writing once there is room.

// diskCheckEvery is how long the write path trusts the last look at free
// space; diskTickEvery is how often the store looks even without writes (so
// that readiness and the metrics clear, and a read-only store reopens).
// statfs costs about a microsecond; a batch of 500 spans ~4 ms to write.
const (
	diskCheckEvery = 100 * time.Millisecond
	diskTickEvery  = 250 * time.Millisecond
)

// diskGuard tracks the free space of the store's filesystem. Its methods
// are safe for concurrent use.
type diskGuard struct {
	dir   string
	min   int64 // Config.MinFreeDisk
	log   *slog.Logger
	clock telemetry.Clock
	base  time.Time // origin of next

	mu   sync.Mutex   // serialises looks and state changes
	next atomic.Int64 // ns since base after which check looks again
	free atomic.Int64 // bytes free at the last look; -1 before the first
	full atomic.Bool  // writes are refused
}

func newDiskGuard(dir string, min int64, log *slog.Logger, clock telemetry.Clock) *diskGuard {
	g := &diskGuard{dir: dir, min: min, log: log, clock: clock, base: clock.Now()}
	g.free.Store(-1)
	return g
}

// check returns a retryable error wrapping storage.ErrNoSpace while writes
// are refused, looking at the filesystem again when the last look is older
// than diskCheckEvery.
func (g *diskGuard) check() error {
	if int64(g.since()) >= g.next.Load() && g.mu.TryLock() {
		g.lookLocked()
		g.mu.Unlock()
	}
	if g.full.Load() {
		return g.err()
	}
	return nil
}

// since is the time since the guard was made, on the store's clock.
func (g *diskGuard) since() time.Duration { return g.clock.Now().Sub(g.base) }

// look reads the filesystem's free space and updates the state.
func (g *diskGuard) look() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lookLocked()
}

func (g *diskGuard) lookLocked() {
	g.next.Store(int64(g.since() + diskCheckEvery))
	free, err := freeBytes(g.dir)
	if err != nil {
		return // keep the last state; an unreadable folder fails writes anyway
	}
	g.free.Store(free)
	switch full := g.full.Load(); {
	case !full && free < g.min:
		g.enterLocked("free space is under the margin")
	case full && free >= g.min+g.min/8:
		g.full.Store(false)
		g.log.Info("disk space is back: the store takes writes again", "dir", g.dir, "free_bytes", free)
	}
}

// noSpace records that Badger failed a write with ENOSPC: writes are
// refused until the next look finds the margin free.
func (g *diskGuard) noSpace() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.full.Load() {
		g.enterLocked("a write failed with no space left on device")
	}
	// Look again only after diskCheckEvery, not on the next write.
	g.next.Store(int64(g.since() + diskCheckEvery))
}

// enterLocked starts an episode of refused writes and says so, once.
func (g *diskGuard) enterLocked(why string) {
	g.full.Store(true)
	g.log.Error("disk full: the store refuses writes (senders are told to retry later) and keeps serving reads; "+
		"free space on the volume or grow it, and writes resume by themselves",
		"why", why, "dir", g.dir, "free_bytes", g.free.Load(), "min_free_bytes", g.min)
}

// err is the error of a refused write.
func (g *diskGuard) err() error {
	return fmt.Errorf("cannot write spans: %s has %d bytes free, under the store's margin of %d: %w",
		g.dir, g.free.Load(), g.min, storage.ErrNoSpace)
}

// isNoSpace reports whether err says the filesystem is full.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// hasStore reports whether dir holds a Badger database already.
func hasStore(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "MANIFEST"))
	return err == nil
}

// DiskFull returns why the store refuses writes for lack of disk space, or
// nil when it takes them: a condition that clears by itself once space is
// freed (for /readyz).
func (s *Store) DiskFull() error {
	if !s.disk.full.Load() {
		return nil
	}
	return fmt.Errorf("disk full: %s has %d bytes free, under the store's margin of %d; writes are refused until space is freed or the volume grown",
		s.cfg.Dir, s.disk.free.Load(), s.cfg.MinFreeDisk)
}

// DiskFree returns the bytes free on the data folder's filesystem at the
// store's last look (every 250 ms at most), or -1 before the first.
func (s *Store) DiskFree() int64 { return s.disk.free.Load() }
