package badger

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/scrytrace/scry/model"
)

// Sealed attribute blocks: the sealer folds pending index chunks into
// immutable blocks, an inverted table of attribute hashes split into pages,
// so that an exact attribute search reads a few pages per block rather than
// every chunk of its window. FORMAT.md describes the layout and the cost
// model.

const (
	// sealChunks is the number of pending chunks of a bucket that makes a
	// block (~300k spans of the reference workload): the pending tail a
	// search scans stays under about twice that, and a round's postings
	// (~8 bytes each) under ~15 MB.
	sealChunks = 512
	// tracePageSize is the number of traces per page of a block's table.
	tracePageSize = 512
	// postingPageBytes is the size a block's posting pages aim at.
	postingPageBytes = 4096
	// blockCodecVersion is the version of the blocks written: 2 adds each
	// trace's oldest span start to the trace table. Version 1 blocks are
	// read too (their traces' oldest is unknown: 0).
	blockCodecVersion = 2
)

// Kinds of block keys.
const (
	blockHeader  = 0
	blockPosting = 1
	blockTraces  = 2
)

// blockMeta is a sealed block's header, kept in memory.
type blockMeta struct {
	version    uint8
	bucket     uint32
	seq        uint64
	min, max   uint64 // span start range of its chunks (ns)
	traces     int
	pageBits   uint8
	tracePages int
	tier       uint8    // 0: sealed from chunks; 1: merged from tier 0 blocks (merge.go)
	replaces   []uint64 // seqs of the blocks a merged block replaces
}

// sealedIndex is the in-memory state of the sealed index.
type sealedIndex struct {
	mu     sync.RWMutex
	blocks map[uint32][]blockMeta // by bucket
	legacy map[uint32]bool        // buckets of a scry-badger-2 store, scanned whole

	pending atomic.Int64 // pending chunks (about: it is a trigger, not a bound)

	sealMu  sync.Mutex // serialises sealing
	lastSeq uint64     // guarded by sealMu
	// postings is how many postings the last sealed round had, guarded
	// by sealMu: the next round's buffer starts that large, rather than
	// growing to it (tens of MB) by doubling.
	postings int
}

func (x *sealedIndex) reset() {
	x.blocks = map[uint32][]blockMeta{}
	x.legacy = map[uint32]bool{}
	x.pending.Store(0)
	x.lastSeq = 0
}

func (x *sealedIndex) add(m blockMeta) {
	x.mu.Lock()
	x.blocks[m.bucket] = append(x.blocks[m.bucket], m)
	x.mu.Unlock()
}

func (x *sealedIndex) dropBucket(b uint32) {
	x.mu.Lock()
	delete(x.blocks, b)
	delete(x.legacy, b)
	x.mu.Unlock()
}

// chunkVersion is the version of the chunks this store writes.
func (s *Store) chunkVersion() byte {
	if s.legacyChunks {
		return legacyChunkVersion
	}
	return indexCodecVersion
}

// notePending counts n pending chunks written and asks for sealing once
// there are enough for a block.
func (s *Store) notePending(n int) {
	if n == 0 {
		return
	}
	if s.idx.pending.Add(int64(n)) >= sealChunks && !s.holdSeal {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

func blockKey(b uint32, seq uint64, kind byte, n uint32) []byte {
	k := make([]byte, 0, 18)
	k = append(k, prefixBlock)
	k = binary.BigEndian.AppendUint32(k, b)
	k = binary.BigEndian.AppendUint64(k, seq)
	k = append(k, kind)
	return binary.BigEndian.AppendUint32(k, n)
}

// upgradeLegacy upgrades a scry-badger-2 store in place inside txn: its
// buckets are recorded as legacy (searched by scanning their chunks) and
// the format becomes FormatVersion.
func (s *Store) upgradeLegacy(txn *kvTxn) error {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{prefixBucket}})
	var v []byte
	for it.Rewind(); it.Valid(); it.Next() {
		if k := it.Item().Key(); len(k) == 5 {
			v = append(v, k[1:]...)
		}
	}
	it.Close()
	if err := txn.Set(legacyKey, v); err != nil {
		return fmt.Errorf("cannot upgrade store format: %w", err)
	}
	if err := txn.Set(formatKey, []byte(FormatVersion)); err != nil {
		return fmt.Errorf("cannot upgrade store format: %w", err)
	}
	s.log.Info("upgraded store format in place; its older buckets are searched as before until they expire",
		"from", legacyFormat, "to", FormatVersion, "buckets", len(v)/4)
	return nil
}

// loadIndex reads the legacy bucket list and the block headers, and counts
// the pending chunks. Blocks that a merged block replaces (left by a crash
// between the merged block's header and their deletion) are not used, and
// deleted unless the store is read-only.
func (s *Store) loadIndex() error {
	if err := s.loadBlocks(); err != nil {
		return err
	}
	for b, bs := range s.idx.blocks {
		var gone []uint64
		for _, m := range bs {
			gone = append(gone, m.replaces...)
		}
		if len(gone) == 0 {
			continue
		}
		s.idx.blocks[b] = slices.DeleteFunc(bs, func(m blockMeta) bool { return slices.Contains(gone, m.seq) })
		if !s.readOnly {
			if err := s.deleteBlocks(b, gone); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadBlocks is loadIndex's reading part.
func (s *Store) loadBlocks() error {
	return s.db.View(func(txn *kvTxn) error {
		item, err := txn.Get(legacyKey)
		switch {
		case err == nil:
			v, err := item.ValueCopy(nil)
			if err != nil || len(v)%4 != 0 {
				return fmt.Errorf("damaged legacy bucket list")
			}
			for i := 0; i < len(v); i += 4 {
				s.idx.legacy[binary.BigEndian.Uint32(v[i:])] = true
			}
		case !errors.Is(err, badger.ErrKeyNotFound):
			return fmt.Errorf("cannot read legacy bucket list: %w", err)
		}
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{prefixBlock}})
		defer it.Close()
		for it.Rewind(); it.Valid(); {
			k := it.Item().Key()
			if len(k) != 18 {
				return fmt.Errorf("damaged block key %x", k)
			}
			b, seq := binary.BigEndian.Uint32(k[1:]), binary.BigEndian.Uint64(k[5:])
			if k[13] == blockHeader {
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					return fmt.Errorf("cannot read block header: %w", err)
				}
				m, ok := decodeBlockHeader(b, seq, v)
				if !ok {
					return fmt.Errorf("damaged block header %x", k)
				}
				s.idx.blocks[b] = append(s.idx.blocks[b], m)
			}
			s.idx.lastSeq = max(s.idx.lastSeq, seq)
			if seq == ^uint64(0) {
				break
			}
			it.Seek(blockKey(b, seq+1, 0, 0)) // past this block's pages
		}
		var n int64
		pit := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{prefixPending}})
		defer pit.Close()
		for pit.Rewind(); pit.Valid(); pit.Next() {
			n++
		}
		s.idx.pending.Store(n)
		return nil
	})
}

func encodeBlockHeader(m blockMeta) []byte {
	v := []byte{m.version}
	v = binary.AppendUvarint(v, m.min)
	v = binary.AppendUvarint(v, m.max)
	v = binary.AppendUvarint(v, uint64(m.traces))
	v = append(v, m.pageBits)
	v = binary.AppendUvarint(v, uint64(m.tracePages))
	if m.version < 2 {
		return v
	}
	v = append(v, m.tier)
	v = binary.AppendUvarint(v, uint64(len(m.replaces)))
	for _, seq := range m.replaces {
		v = binary.AppendUvarint(v, seq)
	}
	return v
}

func decodeBlockHeader(b uint32, seq uint64, v []byte) (blockMeta, bool) {
	if len(v) == 0 || v[0] < 1 || v[0] > blockCodecVersion {
		return blockMeta{}, false
	}
	d := &decoder{b: v[1:]}
	m := blockMeta{version: v[0], bucket: b, seq: seq}
	m.min = d.uvarint("block min")
	m.max = d.uvarint("block max")
	m.traces = int(d.uvarint("block traces"))
	m.pageBits = d.byte1("block page bits")
	m.tracePages = int(d.uvarint("block trace pages"))
	if m.version >= 2 && len(d.b) > 0 { // absent: a sealed block that replaces none
		m.tier = d.byte1("block tier")
		n := d.count("block replaced")
		for range n {
			m.replaces = append(m.replaces, d.uvarint("block replaced seq"))
		}
	}
	return m, d.err == nil && m.pageBits <= 16 && m.min <= m.max
}

// sealIndex seals pending chunks: per live bucket, blocks of sealChunks
// chunks, and the rest too when force is set or the bucket no longer takes
// current writes. While the disk is full it seals nothing: a block is
// written before the chunks' space is given back, searches read pending
// chunks as well, and the margin is kept for what frees space.
func (s *Store) sealIndex(ctx context.Context, force bool) error {
	if s.legacyChunks || s.DiskFull() != nil {
		return nil
	}
	s.idx.sealMu.Lock()
	defer s.idx.sealMu.Unlock()
	nowSec := uint64(s.clock.Now().Unix())
	for _, b := range s.liveBuckets() {
		current := uint64(b)+uint64(s.width) > nowSec
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			markers, err := s.pendingMarkers(b, sealChunks)
			if err != nil {
				return err
			}
			if len(markers) == 0 || (len(markers) < sealChunks && current && !force) {
				break
			}
			if err := s.sealBlock(b, markers); err != nil {
				return err
			}
			if len(markers) < sealChunks {
				break
			}
		}
	}
	return s.mergeBlocks(ctx)
}

// pendingMarkers returns up to n pending markers of bucket b.
func (s *Store) pendingMarkers(b uint32, n int) ([][]byte, error) {
	var out [][]byte
	err := s.db.View(func(txn *kvTxn) error {
		p := idKey(prefixPending, b)
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: p})
		defer it.Close()
		for it.Rewind(); it.Valid() && len(out) < n; it.Next() {
			out = append(out, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read pending index chunks: %w", err)
	}
	return out, nil
}

// posting is one (hash, service) seen in a trace while sealing: hs is
// hash<<32 | service.
type posting struct {
	hs uint64
	t  uint32
}

// A posting whose service fits in packSvcBits is kept packed in one word,
// hash<<32 | service<<packTraceBits | trace, so that a round's postings
// (millions) sort as integers, by radix: sorting them as structs was two
// thirds of the time sealing took. A round holds at most
// sealChunks*chunkTraces traces, which packTraceBits must number (the
// array below has a negative length, a compile error, if it cannot).
const (
	packTraceBits = 15
	packSvcBits   = 32 - packTraceBits
	packTraceMask = 1<<packTraceBits - 1
	packSvcMask   = 1<<packSvcBits - 1
)

var _ [1<<packTraceBits - sealChunks*chunkTraces]struct{}

// postingList is a round's postings, sorted by (hash, service, trace).
type postingList interface {
	len() int
	at(i int) (hs uint64, t uint32)
}

type packedPostings []uint64

func (p packedPostings) len() int { return len(p) }
func (p packedPostings) at(i int) (uint64, uint32) {
	k := p[i]
	return k>>32<<32 | k>>packTraceBits&packSvcMask, uint32(k & packTraceMask)
}

type widePostings []posting

func (p widePostings) len() int                  { return len(p) }
func (p widePostings) at(i int) (uint64, uint32) { return p[i].hs, p[i].t }

// sortPostings renumbers the builder's postings by rank and sorts them,
// each once.
func (bb *blockBuilder) sortPostings(rank []uint32) postingList {
	if len(bb.wide) == 0 {
		keys := bb.packed
		for i, k := range keys {
			keys[i] = k&^packTraceMask | uint64(rank[k&packTraceMask])
		}
		keys = radixSort(keys, make([]uint64, len(keys)))
		return packedPostings(slices.Compact(keys))
	}
	posts := bb.wide
	for _, k := range bb.packed {
		posts = append(posts, posting{hs: k>>32<<32 | k>>packTraceBits&packSvcMask, t: uint32(k & packTraceMask)})
	}
	for i := range posts {
		posts[i].t = rank[posts[i].t]
	}
	slices.SortFunc(posts, func(x, y posting) int {
		if c := cmpU64(x.hs, y.hs); c != 0 {
			return c
		}
		return cmpU64(uint64(x.t), uint64(y.t))
	})
	return widePostings(slices.Compact(posts))
}

// radixSort sorts keys, with tmp (as long) as scratch space, and returns
// the sorted keys (in keys or in tmp).
func radixSort(keys, tmp []uint64) []uint64 {
	if len(keys) == 0 {
		return keys
	}
	var counts [8][256]int
	for _, k := range keys {
		for d := range 8 {
			counts[d][byte(k>>(8*d))]++
		}
	}
	src, dst := keys, tmp
	for d := range 8 {
		c := &counts[d]
		if c[byte(src[0]>>(8*d))] == len(src) {
			continue // every key has this digit
		}
		sum := 0
		for i, n := range c {
			c[i], sum = sum, sum+n
		}
		for _, k := range src {
			b := byte(k >> (8 * d))
			dst[c[b]] = k
			c[b]++
		}
		src, dst = dst, src
	}
	return src
}

// blockBuilder gathers the chunks of one block.
type blockBuilder struct {
	num      map[model.TraceID]uint32
	ids      []model.TraceID
	newest   []uint64  // latest span start of each trace in the block
	oldest   []uint64  // earliest
	packed   []uint64  // postings, packed
	wide     []posting // postings whose service does not fit packed
	allWide  bool      // keep every posting wide (tests)
	min, max uint64
	stripped [][2][]byte // chunk keys and values without their hash tables
}

// fold adds one chunk (version 5) with key k whose spans started in
// [first, last].
func (bb *blockBuilder) fold(k, v []byte, first, last uint64) error {
	if len(v) == 0 || v[0] != indexCodecVersion {
		return nil // version 4 chunks have no markers; nothing to seal
	}
	d := &decoder{b: v[1:]}
	n := d.count("chunk traces")
	if n > chunkTraces {
		return fmt.Errorf("%w: chunk of %d traces", errCorrupt, n)
	}
	idb := d.bytes(n*16, "chunk trace ids")
	list := d.bytes(d.count("chunk span lists"), "chunk span lists")
	if d.err != nil {
		return d.err
	}
	bb.min, bb.max = min(bb.min, first), max(bb.max, last)
	nums := make([]uint32, n)
	i := 0
	for ti := range n {
		var id model.TraceID
		copy(id[:], idb[ti*16:])
		t, ok := bb.num[id]
		if !ok {
			t = uint32(len(bb.ids))
			bb.num[id] = t
			bb.ids = append(bb.ids, id)
			bb.newest = append(bb.newest, 0)
			bb.oldest = append(bb.oldest, ^uint64(0))
		}
		nums[ti] = t
		var ns uint64
		ns, i = fastUvarint(list, i)
		for range ns {
			var rel uint64
			_, i = fastUvarint(list, i)
			rel, i = fastUvarint(list, i)
			_, i = fastUvarint(list, i)
			if i < 0 {
				return fmt.Errorf("%w: bad chunk span", errCorrupt)
			}
			bb.newest[t] = max(bb.newest[t], first+rel)
			bb.oldest[t] = min(bb.oldest[t], first+rel)
		}
	}
	// Once sealed, the chunk serves searches without attribute
	// conditions only: keep it without its hash table.
	head := len(v) - len(d.b)
	sv := append(slices.Clip(v[:head:head]), 0)
	bb.stripped = append(bb.stripped, [2][]byte{slices.Clone(k), slices.Clone(sv)})
	np := d.count("chunk hashes")
	nb := (np + pairBlock - 1) / pairBlock
	d.bytes(nb*8, "chunk hash blocks")
	var h uint32
	for e := 0; e < np && d.err == nil; e++ {
		if e%pairBlock == 0 {
			h = 0
		}
		h += uint32(d.uvarint("chunk hash"))
		svc := d.uvarint("chunk hash service")
		c := d.count("chunk hash traces")
		for _, ti := range d.bytes(c, "chunk hash traces") {
			if int(ti) >= n {
				continue
			}
			if sv := svc & maxIndexedSvc; sv <= packSvcMask && !bb.allWide {
				bb.packed = append(bb.packed, uint64(h)<<32|sv<<packTraceBits|uint64(nums[ti]))
			} else {
				bb.wide = append(bb.wide, posting{hs: uint64(h)<<32 | sv, t: nums[ti]})
			}
		}
	}
	return d.err
}

// sealBlock builds a block of the chunks of the given pending markers of
// bucket b, writes it (pages, then the header) and deletes the markers.
func (s *Store) sealBlock(b uint32, markers [][]byte) error {
	defer func(t time.Time) { s.metrics.sealed.Observe(time.Since(t).Seconds()) }(time.Now())
	bb := &blockBuilder{num: map[model.TraceID]uint32{}, min: ^uint64(0), allWide: s.widePostings,
		packed: make([]uint64, 0, s.idx.postings+s.idx.postings/8)}
	err := s.db.View(func(txn *kvTxn) error {
		ck := make([]byte, 29)
		ck[0] = prefixIndex
		for _, m := range markers {
			if len(m) != 29 {
				return fmt.Errorf("%w: pending marker %x", errCorrupt, m)
			}
			copy(ck[1:], m[1:])
			item, err := txn.Get(ck)
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			first, last := binary.BigEndian.Uint64(m[13:21]), ^binary.BigEndian.Uint64(m[5:13])
			if err := item.Value(func(v []byte) error { return bb.fold(ck, v, first, last) }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot seal index chunks: %w", err)
	}
	if len(markers) == sealChunks {
		s.idx.postings = len(bb.packed) + len(bb.wide)
	}
	if len(bb.ids) > 0 {
		if err := s.writeBlock(b, bb); err != nil {
			return err
		}
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, kv := range bb.stripped {
		if err := wb.Set(kv[0], kv[1]); err != nil {
			return fmt.Errorf("cannot clear pending index chunks: %w", err)
		}
	}
	for _, m := range markers {
		if err := wb.Delete(m); err != nil {
			return fmt.Errorf("cannot clear pending index chunks: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("cannot clear pending index chunks: %w", err)
	}
	s.idx.pending.Add(-int64(len(markers)))
	return nil
}

// writeBlock numbers bb's traces newest first, encodes its pages and
// header and writes them, header last.
func (s *Store) writeBlock(b uint32, bb *blockBuilder) error {
	order := make([]uint32, len(bb.ids))
	for i := range order {
		order[i] = uint32(i)
	}
	slices.SortFunc(order, func(x, y uint32) int {
		if c := cmpU64(bb.newest[y], bb.newest[x]); c != 0 {
			return c
		}
		return slices.Compare(bb.ids[x][:], bb.ids[y][:])
	})
	rank := make([]uint32, len(order))
	for r, t := range order {
		rank[t] = uint32(r)
	}
	posts := bb.sortPostings(rank)

	// Entries, one per (hash, service): posts[lo:hi].
	type entry struct {
		hash   uint32
		svc    uint64
		lo, hi int
	}
	var entries []entry
	size := 0
	for i := 0; i < posts.len(); {
		hs, _ := posts.at(i)
		j := i + 1
		for j < posts.len() {
			if next, _ := posts.at(j); next != hs {
				break
			}
			j++
		}
		entries = append(entries, entry{uint32(hs >> 32), hs & maxIndexedSvc, i, j})
		size += 4 + 2*(j-i)
		i = j
	}
	var bits uint8
	for size>>bits > postingPageBytes && bits < 16 {
		bits++
	}
	m := blockMeta{version: cmp.Or(s.blockVersion, blockCodecVersion), bucket: b, min: bb.min, max: bb.max, traces: len(order), pageBits: bits,
		tracePages: (len(order) + tracePageSize - 1) / tracePageSize}
	now := uint64(s.clock.Now().UnixNano())
	m.seq = max(now, s.idx.lastSeq+1)
	s.idx.lastSeq = m.seq

	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	e := 0
	var v []byte
	var traces []uint32
	for page := range uint32(1) << bits {
		lo := e
		for e < len(entries) && pageOf(entries[e].hash, bits) == page {
			e++
		}
		v = binary.AppendUvarint(v[:0], uint64(e-lo))
		prevHash := uint32(0)
		for _, en := range entries[lo:e] {
			traces = traces[:0]
			for i := en.lo; i < en.hi; i++ {
				_, t := posts.at(i)
				traces = append(traces, t)
			}
			v = appendPosting(v, en.hash-prevHash, en.svc, traces)
			prevHash = en.hash
		}
		if err := wb.Set(blockKey(b, m.seq, blockPosting, page), slices.Clone(v)); err != nil {
			return fmt.Errorf("cannot write index block: %w", err)
		}
	}
	for p := range m.tracePages {
		lo, hi := p*tracePageSize, min((p+1)*tracePageSize, len(order))
		v := binary.AppendUvarint(nil, uint64(hi-lo))
		for _, t := range order[lo:hi] {
			v = appendBlockTrace(v, &m, blockTrace{id: bb.ids[t], newest: bb.newest[t], oldest: bb.oldest[t]})
		}
		if err := wb.Set(blockKey(b, m.seq, blockTraces, uint32(p)), v); err != nil {
			return fmt.Errorf("cannot write index block: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("cannot write index block: %w", err)
	}
	if err := s.db.Update(func(txn *kvTxn) error {
		return txn.Set(blockKey(b, m.seq, blockHeader, 0), encodeBlockHeader(m))
	}); err != nil {
		return fmt.Errorf("cannot write index block: %w", err)
	}
	s.idx.add(m)
	return nil
}

// appendPosting appends one posting entry: the hash as a delta from the
// previous entry's, the service, and the ascending trace numbers.
func appendPosting(v []byte, hashDelta uint32, svc uint64, traces []uint32) []byte {
	v = binary.AppendUvarint(v, uint64(hashDelta))
	single := uint64(0)
	if len(traces) == 1 {
		single = 1
	}
	v = binary.AppendUvarint(v, svc<<1|single)
	if len(traces) > 1 {
		v = binary.AppendUvarint(v, uint64(len(traces)))
	}
	prev := uint32(0)
	for _, t := range traces {
		v = binary.AppendUvarint(v, uint64(t-prev))
		prev = t
	}
	return v
}

// appendBlockTrace appends one entry of a trace page of block m.
func appendBlockTrace(v []byte, m *blockMeta, t blockTrace) []byte {
	v = append(v, t.id[:]...)
	newest := min(t.newest, m.max)
	v = binary.AppendUvarint(v, m.max-newest)
	if m.version >= 2 {
		v = binary.AppendUvarint(v, newest-min(t.oldest, newest))
	}
	return v
}

func pageOf(hash uint32, bits uint8) uint32 {
	if bits == 0 {
		return 0
	}
	return hash >> (32 - bits)
}

// sealedBlocks returns the number of sealed blocks in memory.
func (s *Store) sealedBlocks() int {
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	n := 0
	for _, bs := range s.idx.blocks {
		n += len(bs)
	}
	return n
}
