package badger

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/scrytrace/scry/internal/bytesize"
	"github.com/scrytrace/scry/model"
)

// enforceSize drops the oldest buckets while the data folder is over
// RetentionSize (see enforceSizeLocked).
func (s *Store) enforceSize(ctx context.Context) error {
	s.upkeepMu.Lock()
	defer s.upkeepMu.Unlock()
	return s.enforceSizeLocked(ctx)
}

// enforceSizeLocked drops the oldest bucket, one at a time, while the data
// folder is over RetentionSize, never the newest bucket or the current one
// (that of now). Before each drop it raises the size floor to the end of the
// bucket, so reads skip it at once and writes of spans older than that go to
// the oldest bucket kept, as for spans past Retention. DropPrefix rewrites
// or deletes the table files that hold the bucket before it returns, so the
// size measured next already shows what the drop freed. The caller holds
// upkeepMu.
func (s *Store) enforceSizeLocked(ctx context.Context) error {
	limit := s.cfg.RetentionSize
	if limit <= 0 {
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		size := s.DiskSize()
		if size <= limit {
			s.sizeStuck = false
			return nil
		}
		sp, b, w, ok := s.oldestDroppableOfAll()
		if !ok {
			if !s.sizeStuck {
				s.sizeStuck = true
				s.log.Warn("the store is over its retention size but holds only the current bucket of spans; "+
					"it is dropped once it is no longer current: raise --retention-size or shorten --retention "+
					"(a bucket is retention/12 wide)",
					"disk_bytes", size, "retention_size", bytesize.Format(limit))
			}
			return nil
		}
		if err := sp.raiseSizeFloor(uint64(b) + uint64(w)); err != nil {
			return err
		}
		if err := sp.dropBucket(b, reasonSize, "disk_bytes", size, "retention_size", bytesize.Format(limit)); err != nil {
			return err
		}
	}
}

// raiseSizeFloor raises the size floor to floor (Unix seconds), on disk
// first, so that after a restart late spans older than what was dropped
// still go to the oldest bucket kept.
func (s *Store) raiseSizeFloor(floor uint64) error {
	if floor <= s.sizeFloor.Load() {
		return nil
	}
	if err := s.db.Update(func(txn *kvTxn) error {
		return txn.Set(floorKey, binary.BigEndian.AppendUint64(nil, floor))
	}); err != nil {
		return fmt.Errorf("cannot record the size floor: %w", err)
	}
	s.sizeFloor.Store(floor)
	return nil
}

// oldestDroppableOfAll returns the oldest bucket of any tenant that the
// size limit may drop, and the Store that holds it: tenants lose their
// oldest data first, whoever wrote the most.
func (s *Store) oldestDroppableOfAll() (sp *Store, bucket, width uint32, ok bool) {
	for _, t := range s.allSpaces() {
		if b, w, found := t.oldestDroppable(); found && (!ok || b < bucket) {
			sp, bucket, width, ok = t, b, w, true
		}
	}
	return sp, bucket, width, ok
}

// oldestDroppable returns the oldest bucket that the size limit may drop: not
// the newest one and not the one that now falls in.
func (s *Store) oldestDroppable() (bucket, width uint32, ok bool) {
	now := uint64(s.clock.Now().Unix())
	current := now - now%uint64(s.width)
	s.mu.RLock()
	defer s.mu.RUnlock()
	var newest uint32
	for b := range s.buckets {
		newest = max(newest, b)
	}
	for b, w := range s.buckets {
		if b == newest || uint64(b) >= current {
			continue
		}
		if !ok || b < bucket {
			bucket, width, ok = b, w, true
		}
	}
	return bucket, width, ok
}

// Bucket classes: a kept bucket holds the traces of one kind copied out of
// a bucket that expired, and lives as long as that kind's retention. Its ID
// is its bucket's plus the class, so it sorts with the time it covers.
const (
	classNormal uint8 = iota
	classErrors       // RetentionErrors
	classSlow         // RetentionSlow
	numClasses
)

// Kinds of a trace, the bits of a k key.
const (
	kindError uint8 = 1 << iota // a span with status code error
	kindSlow                    // a root span longer than SlowThreshold
)

// keepsErrors, keepsSlow and keepsKinds report whether a kind of trace is
// kept longer than the rest.
func (c *Config) keepsErrors() bool { return c.RetentionErrors > c.Retention }
func (c *Config) keepsSlow() bool {
	return c.RetentionSlow > c.Retention && c.SlowThreshold > 0
}
func (c *Config) keepsKinds() bool { return c.keepsErrors() || c.keepsSlow() }

// retentionOf is how long this Store's buckets of class are kept: its
// tenant's retention (Config.TenantRetention) for normal buckets.
func (s *Store) retentionOf(class uint8) time.Duration {
	r := s.cfg.retentionOf(class)
	if class == classNormal && s.cfg.TenantRetention != nil {
		if t := s.cfg.TenantRetention(s.tenant); t > 0 {
			r = t
		}
	}
	return r
}

// retentionOf is how long the buckets of class are kept.
func (c *Config) retentionOf(class uint8) time.Duration {
	switch {
	case class == classErrors && c.keepsErrors():
		return c.RetentionErrors
	case class == classSlow && c.keepsSlow():
		return c.RetentionSlow
	}
	return c.Retention
}

// classOfKinds is the class a trace of those kinds is kept in: the one
// with the longer retention, errors when they are equal.
func (c *Config) classOfKinds(kinds uint8) uint8 {
	errs, slow := kinds&kindError != 0 && c.keepsErrors(), kinds&kindSlow != 0 && c.keepsSlow()
	switch {
	case errs && slow && c.RetentionSlow > c.RetentionErrors, slow && !errs:
		return classSlow
	case errs:
		return classErrors
	}
	return classNormal
}

// kindsOf returns the kinds kept longer that spans show.
func (c *Config) kindsOf(spans []*model.Span) uint8 {
	errs, slow := c.keepsErrors(), c.keepsSlow()
	var k uint8
	if !errs && !slow {
		return 0 // the write path's usual case: no kind is kept longer
	}
	for _, sp := range spans {
		if errs && sp.Status.Code == model.StatusError {
			k |= kindError
		}
		if slow && sp.ParentSpanID.IsZero() && sp.Duration() > uint64(c.SlowThreshold) {
			k |= kindSlow
		}
	}
	return k
}

// markKinds adds a k key for g's trace in bucket to wb when g shows a kind
// kept longer.
func (w *groupWriter) markKinds(wb *kvBatch, bucket uint32, g []*model.Span) error {
	kinds := w.s.cfg.kindsOf(g)
	if kinds == 0 {
		return nil
	}
	if err := wb.Set(keptKey(bucket, g[0].TraceID, kinds), nil); err != nil {
		return fmt.Errorf("cannot write spans: %w", err)
	}
	return nil
}

func keptKey(bucket uint32, id model.TraceID, kinds uint8) []byte {
	k := make([]byte, 0, 22)
	k = append(k, prefixKept)
	k = binary.BigEndian.AppendUint32(k, bucket)
	k = append(k, id[:]...)
	return append(k, kinds)
}

// classOf is bucket b's class.
func (s *Store) classOf(b uint32) uint8 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.classes[b]
}

// expiresSoon reports whether bucket b of width w expires before the round
// of upkeep after the next: its kept traces are copied out ahead, so that
// reads never miss them.
func (s *Store) expiresSoon(b, w uint32, cutoff uint64) bool {
	if !s.cfg.keepsKinds() {
		return false
	}
	ahead := uint64(2 * s.cfg.MaintenanceInterval / time.Second)
	return uint64(b)+uint64(w) <= cutoff+ahead
}

// keepKinds copies every trace of a kind kept longer that has spans in
// normal bucket b, whole (its spans in every bucket), into b's kept bucket
// of the trace's class. A trace is of a kind when a k key of b or of a
// younger normal bucket says so (its later spans may show it). The k keys
// of each bucket run in trace ID order, so they are merged as streams:
// memory does not grow with the number of marks. Copying again what is
// there writes the same keys. The caller holds upkeepMu.
func (s *Store) keepKinds(ctx context.Context, b uint32) error {
	if !s.cfg.keepsKinds() {
		return nil
	}
	s.mu.RLock()
	width := s.buckets[b]
	all := make([]uint32, 0, len(s.buckets))
	var marked []uint32 // b and the younger normal buckets
	for bk := range s.buckets {
		all = append(all, bk)
		if bk >= b && s.classes[bk] == classNormal {
			marked = append(marked, bk)
		}
	}
	s.mu.RUnlock()
	sort.Slice(all, func(i, j int) bool { return all[i] > all[j] })

	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	marks := make([]*kvIter, 0, len(marked))
	defer func() {
		for _, it := range marks {
			it.Close()
		}
	}()
	for _, bk := range marked {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: idKey(prefixKept, bk)})
		it.Rewind()
		marks = append(marks, it)
	}
	data := newDataIterator(txn)
	defer data.Close()
	prefix := make([]byte, 21)
	prefix[0] = prefixData
	binary.BigEndian.PutUint32(prefix[1:], b)
	batch := map[uint8][][]*model.Span{}
	pending, copied := 0, 0
	flush := func() error {
		for class, traces := range batch {
			if err := s.registerKept(b+uint32(class), width, class); err != nil {
				return err
			}
			if err := s.writeInto(b+uint32(class), traces); err != nil {
				return err
			}
		}
		clear(batch)
		pending = 0
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// The smallest trace ID at the head of a stream, and its kinds
		// in every stream.
		var id []byte
		for _, it := range marks {
			if it.Valid() {
				if k := it.Item().Key(); len(k) == 22 && (id == nil || bytes.Compare(k[5:21], id) < 0) {
					id = k[5:21]
				} else if len(k) != 22 {
					return fmt.Errorf("%w: kind marker %x", errCorrupt, k)
				}
			}
		}
		if id == nil {
			break
		}
		var trace model.TraceID
		copy(trace[:], id)
		var kinds uint8
		for _, it := range marks {
			for ; it.Valid() && bytes.Equal(it.Item().Key()[5:21], trace[:]); it.Next() {
				kinds |= it.Item().Key()[21]
			}
		}
		class := s.cfg.classOfKinds(kinds)
		if class == classNormal {
			continue
		}
		copy(prefix[5:], trace[:])
		if data.Seek(prefix); !data.ValidForPrefix(prefix) {
			continue
		}
		spans, err := s.readTraceWith(data, all, trace)
		if err != nil {
			return err
		}
		batch[class] = append(batch[class], spans)
		copied++
		if pending += len(spans); pending >= 5000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if copied > 0 {
		s.log.Info("kept traces of a bucket about to expire", "bucket_start", time.Unix(int64(b), 0).UTC(), "traces", copied)
	}
	return nil
}

// registerKept writes the record of kept bucket kb, of width and class,
// unless it exists.
func (s *Store) registerKept(kb, width uint32, class uint8) error {
	s.mu.RLock()
	_, ok := s.buckets[kb]
	s.mu.RUnlock()
	if ok {
		return nil
	}
	v := binary.BigEndian.AppendUint32(nil, width)
	v = append(v, class)
	if err := s.db.Update(func(txn *kvTxn) error { return txn.Set(idKey(prefixBucket, kb), v) }); err != nil {
		return fmt.Errorf("cannot register kept bucket: %w", err)
	}
	s.mu.Lock()
	s.buckets[kb], s.classes[kb] = width, class
	s.mu.Unlock()
	return nil
}

// writeInto writes traces, each whole, into bucket kb: span groups, index
// chunks and kind markers, as WriteSpans would but all in kb. Dependency
// counts are not made again.
func (s *Store) writeInto(kb uint32, traces [][]*model.Span) error {
	w := &groupWriter{s: s, nowSec: uint64(s.clock.Now().Unix()), cutoff: s.expiryCutoff(), into: kb, forced: true}
	if err := w.resolve(traces); err != nil {
		return err
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	enc := s.encoders.Get().(*encoder)
	defer s.encoders.Put(enc)
	for _, g := range traces {
		if err := w.writeGroup(wb, enc, g); err != nil {
			return err
		}
	}
	if err := w.writeIndex(wb); err != nil {
		return err
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("cannot write kept traces: %w", err)
	}
	s.notePending(w.chunks)
	return nil
}
