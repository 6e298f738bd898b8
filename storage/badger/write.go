package badger

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// newZstd returns the store's compressor and decompressor. Both are safe for
// concurrent EncodeAll/DecodeAll.
func newZstd() (*zstd.Encoder, *zstd.Decoder, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(2), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, nil, fmt.Errorf("cannot create zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		enc.Close()
		return nil, nil, fmt.Errorf("cannot create zstd decoder: %w", err)
	}
	return enc, dec, nil
}

// WriteSpans implements storage.Writer. See the interface for the contract.
func (s *Store) WriteSpans(ctx context.Context, spans []*model.Span) error {
	if sp, err := s.space(ctx); sp != s {
		if err != nil {
			return err
		}
		return sp.WriteSpans(ctx, spans)
	}
	keep, rejected := storage.Prepare(spans)
	if len(keep) == 0 {
		return rejected
	}
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return storage.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.disk.check(); err != nil {
		return err
	}
	if s.readOnly {
		return fmt.Errorf("cannot write spans: the store was opened read-only on a full disk and is not reopened yet: %w", storage.ErrNoSpace)
	}
	s.dropMu.RLock() // upkeep's DropPrefix would fail the write
	defer s.dropMu.RUnlock()
	groups := groupByTrace(keep)
	now := s.clock.Now()
	nowSec, cutoff := uint64(now.Unix()), s.expiryCutoff()

	// Resolve dictionary IDs, registering what is new durably first so no
	// index entry can refer to an unknown ID after a crash.
	w := &groupWriter{s: s, nowSec: nowSec, cutoff: cutoff}
	if err := w.resolve(groups); err != nil {
		return s.noSpace(err)
	}

	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	enc := s.encoders.Get().(*encoder)
	defer s.encoders.Put(enc)
	for _, g := range groups {
		if err := w.writeGroup(wb, enc, g); err != nil {
			return err
		}
	}
	if err := w.writeIndex(wb); err != nil {
		return err
	}
	if err := wb.Flush(); err != nil {
		return s.noSpace(fmt.Errorf("cannot write spans: %w", err))
	}
	s.deps.observe(keep, w.svcOf)
	s.notePending(w.chunks)
	if rejected != nil {
		return rejected
	}
	return nil
}

// noSpace returns err, marked with storage.ErrNoSpace (and writes refused
// until there is room) when it says the filesystem is full.
func (s *Store) noSpace(err error) error {
	if !isNoSpace(err) {
		return err
	}
	s.disk.noSpace()
	return fmt.Errorf("%w: %w", storage.ErrNoSpace, err)
}

// groupByTrace splits spans by trace ID, keeping first-seen order.
func groupByTrace(spans []*model.Span) [][]*model.Span {
	if len(spans) == 0 {
		return nil
	}
	idx := make(map[model.TraceID]int, len(spans)/8+1)
	var groups [][]*model.Span
	for _, sp := range spans {
		i, ok := idx[sp.TraceID]
		if !ok {
			i = len(groups)
			idx[sp.TraceID] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], sp)
	}
	return groups
}

// groupWriter holds one WriteSpans call's state.
type groupWriter struct {
	s              *Store
	nowSec, cutoff uint64
	into           uint32 // with forced, the bucket of everything written
	forced         bool
	svcOf          map[*model.Resource]uint32
	dict           *groupDict
	indexed        []*model.Span // spans written, for the index
	indexedOps     []uint32      // their op IDs
	opOf           []uint32      // op ID per span, in group order
	scratch        []byte
	pairs          []hashPair
	list           []byte // a chunk's span lists, being encoded
	chunks         int    // pending chunks written
}

// bucketOf returns the bucket for a span start time, clamped so that spans
// from the far past or future land in a live bucket.
func (w *groupWriter) bucketOf(startNs uint64) uint32 {
	if w.forced {
		return w.into
	}
	sec := startNs / 1e9
	if sec < w.cutoff {
		sec = w.cutoff
	}
	if sec > w.nowSec+uint64(w.s.width) {
		sec = w.nowSec
	}
	return uint32(sec - sec%uint64(w.s.width))
}

// resolve assigns service and operation IDs to every span and makes sure
// buckets and per-bucket operation markers exist.
func (w *groupWriter) resolve(groups [][]*model.Span) error {
	s := w.s
	w.svcOf = make(map[*model.Resource]uint32, 8)
	n := 0
	for _, g := range groups {
		n += len(g)
	}
	w.opOf = make([]uint32, 0, n)
	type mark struct{ bucket, op uint32 }
	var missing bool
	var marks []mark

	blobs := s.collectBlobs(groups)
	lookup := func() {
		missing = false
		w.opOf = w.opOf[:0]
		marks = marks[:0]
		s.mu.RLock()
		defer s.mu.RUnlock()
		missing = w.lookupBlobs(blobs)
		for _, g := range groups {
			for _, sp := range g {
				svc, ok := w.svcOf[sp.Resource]
				if !ok {
					svc, ok = s.svcIDs[sp.ServiceName()]
					if !ok {
						missing = true
						w.opOf = append(w.opOf, 0)
						continue
					}
					w.svcOf[sp.Resource] = svc
				}
				op, ok := s.opIDs[opKey{svc, sp.Kind, sp.Name}]
				if !ok {
					missing = true
					w.opOf = append(w.opOf, 0)
					continue
				}
				w.opOf = append(w.opOf, op)
				b := w.bucketOf(sp.StartTime)
				if _, ok := s.buckets[b]; !ok || !s.opSeen[b].has(op) {
					marks = append(marks, mark{b, op})
				}
			}
		}
	}
	lookup()
	if !missing && len(marks) == 0 {
		return nil
	}

	// Slow path: register new names and markers under writeMu.
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	var newSvcs []string
	var newOps []opInfo
	s.mu.RLock()
	nextSvc, nextOp := uint32(len(s.svcByID)), uint32(len(s.ops))
	pendingSvc := map[string]uint32{}
	pendingOp := map[opKey]uint32{}
	for _, g := range groups {
		for _, sp := range g {
			name := sp.ServiceName()
			svc, ok := s.svcIDs[name]
			if !ok {
				if svc, ok = pendingSvc[name]; !ok {
					svc = nextSvc
					nextSvc++
					pendingSvc[name] = svc
					newSvcs = append(newSvcs, name)
				}
			}
			k := opKey{svc, sp.Kind, sp.Name}
			if _, ok := s.opIDs[k]; !ok {
				if _, ok := pendingOp[k]; !ok {
					pendingOp[k] = nextOp
					nextOp++
					newOps = append(newOps, opInfo(k))
				}
			}
		}
	}
	s.mu.RUnlock()
	base := uint32(len(s.svcByID))
	for i, name := range newSvcs {
		if err := txn.Set(idKey(prefixService, base+uint32(i)), []byte(name)); err != nil {
			return fmt.Errorf("cannot register service: %w", err)
		}
	}
	base = uint32(len(s.ops))
	for i, op := range newOps {
		if err := txn.Set(idKey(prefixOp, base+uint32(i)), encodeOp(op)); err != nil {
			return fmt.Errorf("cannot register operation: %w", err)
		}
	}
	recordBlobs, err := w.registerBlobs(txn, blobs)
	if err != nil {
		return err
	}
	if len(newSvcs)+len(newOps) > 0 || missing {
		if err := txn.Commit(); err != nil {
			return fmt.Errorf("cannot register services and operations: %w", err)
		}
		s.mu.Lock()
		for _, name := range newSvcs {
			s.svcIDs[name] = uint32(len(s.svcByID))
			s.svcByID = append(s.svcByID, name)
		}
		for _, op := range newOps {
			s.opIDs[opKey(op)] = uint32(len(s.ops))
			s.ops = append(s.ops, op)
		}
		s.mu.Unlock()
		recordBlobs()
		txn = s.db.NewTransaction(true)
	}
	if missing {
		// Everything is registered now, by this call or a concurrent one.
		clear(w.svcOf)
		lookup()
	}
	if len(marks) == 0 {
		return nil
	}
	newBuckets := map[uint32]bool{}
	s.mu.RLock()
	for _, m := range marks {
		if _, ok := s.buckets[m.bucket]; !ok && !newBuckets[m.bucket] {
			newBuckets[m.bucket] = true
			var v [4]byte
			binary.BigEndian.PutUint32(v[:], s.width)
			if err := txn.Set(idKey(prefixBucket, m.bucket), v[:]); err != nil {
				s.mu.RUnlock()
				return fmt.Errorf("cannot register bucket: %w", err)
			}
		}
		k := append(idKey(prefixOpSeen, m.bucket), 0, 0, 0, 0)
		binary.BigEndian.PutUint32(k[5:], m.op)
		if err := txn.Set(k, nil); err != nil {
			s.mu.RUnlock()
			return fmt.Errorf("cannot register operation marker: %w", err)
		}
	}
	s.mu.RUnlock()
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("cannot register buckets: %w", err)
	}
	s.mu.Lock()
	for b := range newBuckets {
		s.buckets[b] = s.width
	}
	for _, m := range marks {
		bs := s.opSeen[m.bucket]
		bs.set(m.op)
		s.opSeen[m.bucket] = bs
	}
	s.mu.Unlock()
	return nil
}

func idKey(prefix byte, id uint32) []byte {
	k := make([]byte, 5, 9)
	k[0] = prefix
	binary.BigEndian.PutUint32(k[1:], id)
	return k
}

// writeGroup adds one trace's spans (its data value) to wb and keeps them
// for the index. Spans' op IDs are taken from w.opOf in order.
func (w *groupWriter) writeGroup(wb *kvBatch, enc *encoder, g []*model.Span) error {
	ops := w.opOf[:len(g)]
	w.opOf = w.opOf[len(g):]
	if keep := distinct(g); keep != nil {
		g, ops = pick(g, keep), pick(ops, keep)
	}
	enc.dict = w.dict
	raw := enc.encodeGroup(g)
	enc.dict = nil
	sum := xxhash.Sum64(raw)
	val := w.s.zenc.EncodeAll(raw, make([]byte, 0, len(raw)/3+16))

	id := g[0].TraceID
	minStart := g[0].StartTime
	for _, sp := range g {
		minStart = min(minStart, sp.StartTime)
	}
	bucket := w.bucketOf(minStart)
	if err := w.markKinds(wb, bucket, g); err != nil {
		return err
	}
	dk := make([]byte, 0, 29)
	dk = append(dk, prefixData)
	dk = binary.BigEndian.AppendUint32(dk, bucket)
	dk = append(dk, id[:]...)
	dk = binary.BigEndian.AppendUint64(dk, sum)
	if err := wb.Set(dk, val); err != nil {
		return fmt.Errorf("cannot write spans: %w", err)
	}

	w.indexed = append(w.indexed, g...)
	w.indexedOps = append(w.indexedOps, ops...)
	return nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// appendAttrText appends key, a zero byte and the value's text form
// (model.Value.String) to b: what attribute hashes are taken of.
func appendAttrText(b []byte, key string, v *model.Value) []byte {
	b = append(b, key...)
	b = append(b, 0)
	switch v.Type {
	case model.ValueString:
		return append(b, v.Str...)
	case model.ValueInt:
		return strconv.AppendInt(b, v.Int, 10)
	case model.ValueBool:
		return strconv.AppendBool(b, v.Bool)
	}
	return append(b, v.String()...)
}

// attrHash is the index hash of key=value as a query states it.
func attrHash(key, value string) uint32 {
	b := make([]byte, 0, len(key)+1+len(value))
	b = append(b, key...)
	b = append(b, 0)
	b = append(b, value...)
	return uint32(xxhash.Sum64(b))
}
