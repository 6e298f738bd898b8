package spool

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/scrytrace/scry/internal/telemetry"
)

// Defaults and limits.
const (
	DefaultMaxBytes = 1 << 30 // 1 GiB
	// MaxSegmentBytes is the size past which a segment is closed and a new
	// one started (smaller when MaxBytes is small: an eighth of it).
	MaxSegmentBytes = 16 << 20
	minSegmentBytes = 64 << 10
)

// File format constants (SPOOL.md). Segments are written in version 2,
// whose records carry a tenant; version 1 segments (no tenant) are still
// read back.
const (
	magic        = "SCRYSPL2"
	magicV1      = "SCRYSPL1"
	headerLen    = int64(len(magic))
	recHeaderLen = 8 // length (u32 LE), CRC-32C of the body (u32 LE)
	// MaxTenantLen is the longest tenant a record can carry, in bytes.
	MaxTenantLen = 255
	segSuffix    = ".seg"
	lockName     = "LOCK"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrFull is returned by Append when the record would take the spool past
// its MaxBytes. It is temporary: space comes back as records are released.
var ErrFull = errors.New("spool is full")

// ErrClosed is returned by calls after Close.
var ErrClosed = errors.New("spool is closed")

// Config sets up a Spool.
type Config struct {
	// Dir is the folder of the segment files, created if missing. One
	// process at a time may use it (it is locked while open).
	Dir string
	// MaxBytes bounds the size of all segment files together.
	MaxBytes int64
}

// Validate reports what is wrong with c, if anything.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("folder is empty"))
	}
	if c.MaxBytes < 2*minSegmentBytes {
		errs = append(errs, fmt.Errorf("max bytes must be at least %d, got %d", 2*minSegmentBytes, c.MaxBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid spool config: %w", err)
	}
	return nil
}

// Spool is an append-only log of records in segment files. All methods are
// safe for concurrent use.
type Spool struct {
	cfg      Config
	segBytes int64
	logger   *slog.Logger
	unlock   func() error

	mu      sync.Mutex
	closed  bool
	total   int64      // bytes of every segment file we keep
	active  *segment   // where Append writes; nil until the first Append
	old     []*segment // segments found at Open, oldest first
	nextSeq uint64

	// Group commit: writes join pending; one goroutine at a time syncs.
	syncing bool
	pending *round
}

// round is one fsync (per segment written) shared by the appends that
// joined it.
type round struct {
	segs []*segment
	done chan struct{}
	err  error
}

// segment is one file.
type segment struct {
	seq      uint64
	path     string
	f        *os.File // nil for segments found at Open
	size     int64
	pending  int  // records handed out and not released
	old      bool // found at Open: deleted only once read back
	readDone bool // Replay has read every record
	broken   bool // a write failed: no more appends
	gone     bool // deleted
	inSync   int  // fsyncs in flight on f
	closeF   bool // close f once inSync is 0
}

// Ref names one record, for Release.
type Ref struct{ seg *segment }

// Open opens (creating if needed) the spool in cfg.Dir and takes stock of
// the segments already there, which Replay reads back. It logs to
// tel.Logger.
func Open(cfg Config, tel telemetry.Settings) (*Spool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := tel.Complete().Logger
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("cannot create spool folder: %w", err)
	}
	unlock, err := lockDir(filepath.Join(cfg.Dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("cannot lock spool folder %s (is another agent using it?): %w", cfg.Dir, err)
	}
	s := &Spool{cfg: cfg, logger: logger, unlock: unlock, nextSeq: 1,
		segBytes: max(minSegmentBytes, min(MaxSegmentBytes, cfg.MaxBytes/8))}
	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		_ = unlock()
		return nil, fmt.Errorf("cannot list spool folder: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		seq, ok := parseSegName(name)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			_ = unlock()
			return nil, fmt.Errorf("cannot read spool segment %s: %w", name, err)
		}
		s.old = append(s.old, &segment{seq: seq, path: filepath.Join(cfg.Dir, name), size: info.Size(), old: true})
		s.total += info.Size()
		s.nextSeq = max(s.nextSeq, seq+1)
	}
	slices.SortFunc(s.old, func(a, b *segment) int { return cmp.Compare(a.seq, b.seq) })
	if len(s.old) > 0 {
		logger.Info("spool has segments from an earlier run", "dir", cfg.Dir, "segments", len(s.old), "bytes", s.total)
	}
	return s, nil
}

func segName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, segSuffix) }

func parseSegName(name string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(hex) != 16 {
		return 0, false
	}
	seq, err := strconv.ParseUint(hex, 16, 64)
	return seq, err == nil
}

// Bytes returns the size of the segment files the spool keeps.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// HasOld reports whether segments from an earlier run remain to be read back
// or released.
func (s *Spool) HasOld() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.old) > 0
}

// Append writes one record, payload with the tenant it belongs to ("" for
// none), and returns once it is on disk. It fails with ErrFull when the
// spool has no room for it, and with ErrClosed after Close. The record is
// kept until Release(ref). The spool does not judge tenant names (the agent
// does), but a tenant is at most MaxTenantLen bytes.
func (s *Spool) Append(tenant string, payload []byte) (*Ref, error) {
	if len(tenant) > MaxTenantLen {
		return nil, fmt.Errorf("cannot spool a record: tenant of %d bytes is longer than %d", len(tenant), MaxTenantLen)
	}
	body := 1 + len(tenant) + len(payload)
	size := int64(recHeaderLen + body)
	if int64(body) > s.cfg.MaxBytes || body > 1<<32-1 {
		return nil, fmt.Errorf("record of %d bytes is larger than the spool: %w", body, ErrFull)
	}
	buf := make([]byte, recHeaderLen, size)
	buf = append(buf, byte(len(tenant)))
	buf = append(buf, tenant...)
	buf = append(buf, payload...)
	binary.LittleEndian.PutUint32(buf[0:4], uint32(body))
	binary.LittleEndian.PutUint32(buf[4:8], crc32.Checksum(buf[recHeaderLen:], castagnoli))

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	seg, err := s.segmentFor(size)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if _, err := seg.f.Write(buf); err != nil {
		seg.broken = true // a partial record may be there: write no more after it
		before := seg.size
		if info, serr := seg.f.Stat(); serr == nil {
			seg.size = info.Size()
		}
		s.total += seg.size - before
		s.mu.Unlock()
		return nil, fmt.Errorf("cannot write to spool segment %s: %w", seg.path, err)
	}
	seg.size += size
	s.total += size
	seg.pending++
	ref := &Ref{seg: seg}
	err = s.syncLocked(seg) // unlocks
	if err != nil {
		s.Release(ref)
		return nil, fmt.Errorf("cannot sync spool segment %s: %w", seg.path, err)
	}
	return ref, nil
}

// segmentFor returns the active segment with room for size more bytes,
// starting a new one if needed. s.mu is held.
func (s *Spool) segmentFor(size int64) (*segment, error) {
	a := s.active
	need := size
	if a == nil || a.broken || a.size+size > s.segBytes && a.size > headerLen {
		need += headerLen
	}
	if s.total+need > s.cfg.MaxBytes {
		return nil, ErrFull
	}
	if need == size {
		return a, nil
	}
	if a != nil {
		s.active = nil
		s.maybeRemove(a)
	}
	seg := &segment{seq: s.nextSeq, path: filepath.Join(s.cfg.Dir, segName(s.nextSeq))}
	s.nextSeq++
	f, err := os.OpenFile(seg.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("cannot create spool segment: %w", err)
	}
	seg.f = f
	if _, err := f.Write([]byte(magic)); err != nil {
		_ = f.Close()
		_ = os.Remove(seg.path)
		return nil, fmt.Errorf("cannot write spool segment header: %w", err)
	}
	if err := syncDir(s.cfg.Dir); err != nil {
		_ = f.Close()
		_ = os.Remove(seg.path)
		return nil, fmt.Errorf("cannot sync spool folder: %w", err)
	}
	seg.size = headerLen
	s.total += headerLen
	s.active = seg
	return seg, nil
}

// syncLocked makes every write so far to seg durable, sharing the fsync with
// concurrent appends. s.mu is held on entry and released on return.
func (s *Spool) syncLocked(seg *segment) error {
	if s.pending == nil {
		s.pending = &round{done: make(chan struct{})}
	}
	r := s.pending
	if !slices.Contains(r.segs, seg) {
		r.segs = append(r.segs, seg)
	}
	if s.syncing {
		s.mu.Unlock()
		<-r.done
		return r.err
	}
	// Lead: sync rounds until none is waiting.
	s.syncing = true
	for s.pending != nil {
		cur := s.pending
		s.pending = nil
		for _, g := range cur.segs {
			g.inSync++
			s.mu.Unlock()
			err := g.f.Sync()
			s.mu.Lock()
			g.inSync--
			if g.closeF && g.inSync == 0 {
				_ = g.f.Close()
			}
			cur.err = cmp.Or(cur.err, err)
		}
		close(cur.done)
	}
	s.syncing = false
	s.mu.Unlock()
	return r.err
}

// Release says the record of ref is no longer needed. When every record of
// its segment is released, and nothing more will be written to or read from
// it, the segment file is deleted. Releasing twice is a bug.
func (s *Spool) Release(ref *Ref) {
	if ref == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ref.seg.pending--
	s.maybeRemove(ref.seg)
}

// maybeRemove deletes seg if nothing refers to it any more. s.mu is held.
func (s *Spool) maybeRemove(seg *segment) {
	if seg.gone || seg.pending > 0 || (seg.old && !seg.readDone) || s.closed {
		return
	}
	if seg == s.active {
		s.active = nil
	}
	seg.gone = true
	if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.logger.Warn("cannot delete spool segment", "path", seg.path, "err", err)
	}
	s.total -= seg.size
	if seg.old {
		s.old = slices.DeleteFunc(s.old, func(o *segment) bool { return o == seg })
	}
	if seg.f != nil {
		if seg.inSync > 0 {
			seg.closeF = true
		} else {
			_ = seg.f.Close()
		}
	}
}

// Close stops the spool: segments still holding records stay on disk for
// the next Open. It is safe to call twice.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for s.syncing {
		r := s.pending
		if r == nil {
			r = &round{done: make(chan struct{})}
			s.pending = r
		}
		s.mu.Unlock()
		<-r.done
		s.mu.Lock()
	}
	var errs []error
	if a := s.active; a != nil {
		if err := a.f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("cannot sync spool segment %s: %w", a.path, err))
		}
		if err := a.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("cannot close spool segment %s: %w", a.path, err))
		}
		s.active = nil
	}
	s.mu.Unlock()
	if err := s.unlock(); err != nil {
		errs = append(errs, fmt.Errorf("cannot unlock spool folder: %w", err))
	}
	return errors.Join(errs...)
}

// syncDir makes a new or removed directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
