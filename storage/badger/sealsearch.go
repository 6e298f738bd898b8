package badger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// findSealed answers a search with attribute conditions from the sealed
// blocks, the pending chunks and the chunks of legacy buckets: candidates of
// one condition (the driver) come from each source in non-increasing order
// of an upper bound on their rank, merged, and are checked exactly; the
// search stops once limit results are newer than every remaining bound.
// FORMAT.md ("Search with attribute conditions") says why this is exact.
func (s *Store) findSealed(ctx context.Context, q *storage.Query, cq *chunkQuery) ([]storage.TraceRef, error) {
	buckets := s.liveBuckets()
	hiBound := q.StartMax
	if hiBound == 0 {
		hiBound = ^uint64(0)
	}

	var blocks []blockMeta
	var fresh, legacy []uint32
	// The snapshot first, then the block list, both under the index lock
	// (a merge swaps blocks under it): see FORMAT.md.
	s.idx.mu.RLock()
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	for _, b := range buckets {
		if s.idx.legacy[b] {
			// Its old chunks are scanned; new ones, sealed (and so
			// stripped) or pending, are found as in other buckets.
			legacy = append(legacy, b)
		}
		fresh = append(fresh, b)
		for _, m := range s.idx.blocks[b] {
			if m.max >= q.StartMin && m.min <= hiBound {
				blocks = append(blocks, m)
			}
		}
	}
	s.idx.mu.RUnlock()

	// The driver: the condition with the fewest postings in the newest
	// block of the window (a sample: any choice is exact, the fewest
	// candidates is fastest). Blocks' postings are read only when the
	// merge reaches them, so a search that stops early reads few.
	slices.SortFunc(blocks, func(x, y blockMeta) int { return cmpU64(min(y.max, hiBound), min(x.max, hiBound)) })
	driver := 0
	if len(cq.hashes) > 1 {
		for _, m := range blocks {
			best, visible := -1, true
			for j, h := range cq.hashes {
				n, ok, err := countPostings(txn, &m, h, cq.svc)
				if err != nil {
					return nil, err
				}
				if !ok {
					visible = false // sealed after the snapshot: its chunks are pending in it
					break
				}
				if best < 0 || n < best {
					best, driver = n, j
				}
			}
			if visible {
				break
			}
			driver = 0
		}
	}

	dcq := *cq
	dcq.hashes = []uint32{cq.hashes[driver]}
	dcq.all = 1
	var sources []candSource
	for _, m := range blocks {
		sources = append(sources, &blockSource{txn: txn, m: m, hash: dcq.hashes[0], svc: cq.svc, lo: q.StartMin, hi: hiBound, pages: map[int][]blockTrace{}})
	}
	seekAt := ^uint64(0)
	if q.StartMax != 0 && q.StartMax < ^uint64(0)-chunkExtent {
		seekAt = q.StartMax + chunkExtent
	}
	for _, cs := range []*chunkSource{
		{txn: txn, cq: &dcq, buckets: fresh, prefix: prefixPending, seekAt: seekAt, hi: hiBound},
		{txn: txn, cq: &dcq, buckets: legacy, prefix: prefixIndex, seekAt: seekAt, hi: hiBound},
	} {
		if len(cs.buckets) > 0 {
			defer cs.close()
			sources = append(sources, cs)
		}
	}

	it := newDataIterator(txn)
	defer it.Close()
	f := &finder{s: s, txn: txn, it: it, buckets: buckets, q: q, cq: cq, done: map[model.TraceID]bool{}}
	for n := 0; ; n++ {
		if n%256 == 255 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		// The source with the highest bound; a bound that is only an
		// estimate (a block's max) is made exact before it is used.
		best, bound := -1, uint64(0)
		for i := 0; i < len(sources); i++ {
			b, ok, err := sources[i].bound(false)
			if err != nil {
				return nil, err
			}
			if !ok {
				sources = slices.Delete(sources, i, i+1)
				i--
				continue
			}
			if best < 0 || b > bound {
				best, bound = i, b
			}
		}
		if best < 0 {
			break
		}
		b, ok, err := sources[best].bound(true)
		if err != nil {
			return nil, err
		}
		if !ok || b < bound {
			continue // choose again with the exact bound
		}
		if f.full(b) {
			break
		}
		id := sources[best].take()
		if !f.done[id] {
			if err := f.check(id); err != nil {
				return nil, err
			}
		}
	}
	return f.answer(), nil
}

// candSource yields candidate traces in non-increasing order of bound.
type candSource interface {
	// bound returns an upper bound on the rank of every trace the source
	// has left, exact (the bound of the next one) if asked for, and false
	// when none is left.
	bound(exact bool) (uint64, bool, error)
	// take returns the next trace; bound(true) must have returned true.
	take() model.TraceID
}

// readPostings returns the sorted trace numbers of block m posted for
// attribute hash h (and service svc, -1: any), and false if the block is
// not in txn's snapshot.
func readPostings(txn *kvTxn, m *blockMeta, h uint32, svc int64) ([]uint32, bool, error) {
	return postings(txn, m, h, svc, nil)
}

// countPostings is the number of postings readPostings would return (more
// if a trace is posted for several services).
func countPostings(txn *kvTxn, m *blockMeta, h uint32, svc int64) (int, bool, error) {
	n := 0
	_, ok, err := postings(txn, m, h, svc, &n)
	return n, ok, err
}

// postings is readPostings, or countPostings if count is not nil.
func postings(txn *kvTxn, m *blockMeta, h uint32, svc int64, count *int) ([]uint32, bool, error) {
	item, err := txn.Get(blockKey(m.bucket, m.seq, blockPosting, pageOf(h, m.pageBits)))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cannot read index block: %w", err)
	}
	var out []uint32
	parts := 0
	err = item.Value(func(v []byte) error {
		d := &decoder{b: v}
		n := d.count("posting entries")
		eh := uint32(0)
		for range n {
			eh += uint32(d.uvarint("posting hash"))
			sv := d.uvarint("posting service")
			esvc, c := sv>>1, 1
			if sv&1 == 0 {
				c = d.count("posting traces")
			}
			if d.err != nil {
				return d.err
			}
			if eh > h {
				break
			}
			take := eh == h && (svc < 0 || int64(esvc) == svc)
			if take && count != nil {
				*count += c
				take = false
			}
			if take {
				parts++
			}
			if !take {
				// Skipped: its varints are only counted (an entry of
				// a common value holds hundreds of thousands).
				if !d.skipUvarints(c) {
					d.fail("posting trace")
				}
				continue
			}
			t := uint32(0)
			for range c {
				t += uint32(d.uvarint("posting trace"))
				out = append(out, t)
			}
		}
		return d.err
	})
	if err != nil {
		return nil, false, fmt.Errorf("cannot read index block: %w", err)
	}
	if parts > 1 {
		slices.Sort(out)
		out = slices.Compact(out)
	}
	return out, true, nil
}

// blockTrace is one trace of a block's trace table.
type blockTrace struct {
	id     model.TraceID
	newest uint64 // latest start of its spans in the block
	oldest uint64 // earliest (0 in a version 1 block: unknown)
}

// blockSource yields a block's traces posted for the driver, newest first.
type blockSource struct {
	txn    *kvTxn
	m      blockMeta
	hash   uint32 // the driver's
	svc    int64
	opened bool     // list is read
	list   []uint32 // trace numbers, ascending: newest first
	pos    int
	lo, hi uint64 // the window
	pages  map[int][]blockTrace
	cur    *blockTrace
}

func (b *blockSource) bound(exact bool) (uint64, bool, error) {
	if !b.opened {
		if !exact {
			return min(b.m.max, b.hi), true, nil
		}
		l, _, err := readPostings(b.txn, &b.m, b.hash, b.svc)
		if err != nil {
			return 0, false, err
		}
		// Not in the snapshot (sealed after it): its chunks are pending in it.
		b.list, b.opened = l, true
	}
	for b.pos < len(b.list) {
		if b.cur == nil && !exact {
			return min(b.m.max, b.hi), true, nil
		}
		if b.cur == nil {
			t, err := b.trace(b.list[b.pos])
			if err != nil {
				return 0, false, err
			}
			b.cur = &t
		}
		if b.cur.newest < b.lo {
			b.pos = len(b.list) // traces are numbered newest first: none is left in the window
			break
		}
		if b.cur.oldest > b.hi {
			// Every span of it in this block is past the window, the
			// posted one too: not a candidate from this block.
			b.cur = nil
			b.pos++
			continue
		}
		return min(b.cur.newest, b.hi), true, nil
	}
	return 0, false, nil
}

func (b *blockSource) take() model.TraceID {
	id := b.cur.id
	b.cur = nil
	b.pos++
	return id
}

// trace returns trace number t of the block's table.
func (b *blockSource) trace(t uint32) (blockTrace, error) {
	p := int(t / tracePageSize)
	page, ok := b.pages[p]
	if !ok {
		item, err := b.txn.Get(blockKey(b.m.bucket, b.m.seq, blockTraces, uint32(p)))
		if err != nil {
			return blockTrace{}, fmt.Errorf("cannot read index block traces: %w", err)
		}
		err = item.Value(func(v []byte) error {
			d := &decoder{b: v}
			n := d.count("block traces")
			page = make([]blockTrace, 0, n)
			for range n {
				var bt blockTrace
				copy(bt.id[:], d.bytes(16, "block trace id"))
				bt.newest = b.m.max - d.uvarint("block trace start")
				if b.m.version >= 2 {
					bt.oldest = bt.newest - d.uvarint("block trace oldest")
				}
				page = append(page, bt)
			}
			return d.err
		})
		if err != nil {
			return blockTrace{}, fmt.Errorf("cannot read index block traces: %w", err)
		}
		b.pages[p] = page
	}
	i := int(t % tracePageSize)
	if i >= len(page) {
		return blockTrace{}, fmt.Errorf("%w: trace %d past its block's table", errCorrupt, t)
	}
	return page[i], nil
}

// chunkSource yields the traces of chunks with the driver's hash, chunk by
// chunk newest first (by last), with bound min(last, window end): the
// pending chunks (prefix p, read through their i key) or all chunks of
// legacy buckets (prefix i).
type chunkSource struct {
	txn     *kvTxn
	cq      *chunkQuery
	buckets []uint32 // newest first
	prefix  byte
	seekAt  uint64
	hi      uint64

	it    *kvIter
	bi    int // the bucket it is in
	buf   []chunkTrace
	ids   []model.TraceID
	last  uint64
	done  bool
	chunk []byte // the i key, for pending markers
}

func (c *chunkSource) close() {
	if c.it != nil {
		c.it.Close()
	}
}

func (c *chunkSource) bound(bool) (uint64, bool, error) {
	for len(c.ids) == 0 {
		if c.done {
			return 0, false, nil
		}
		if err := c.advance(); err != nil {
			return 0, false, err
		}
	}
	return min(c.last, c.hi), true, nil
}

func (c *chunkSource) take() model.TraceID {
	id := c.ids[0]
	c.ids = c.ids[1:]
	return id
}

// nextBucket seeks to the next bucket's chunks from seekAt, or sets done
// and returns false when none is left.
func (c *chunkSource) nextBucket() bool {
	c.bi++
	if c.bi >= len(c.buckets) {
		c.done = true
		return false
	}
	seek := idKey(c.prefix, c.buckets[c.bi])
	c.it.Seek(binary.BigEndian.AppendUint64(seek, ^c.seekAt))
	return true
}

// advance reads the next chunk into ids, or sets done.
func (c *chunkSource) advance() error {
	q := c.cq.q
	if c.it == nil {
		c.it = c.txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{c.prefix}})
		c.bi = -1
	}
	for {
		if c.bi < 0 || !c.it.ValidForPrefix(idKey(c.prefix, c.buckets[c.bi])) {
			if !c.nextBucket() {
				return nil
			}
			continue
		}
		item := c.it.Item()
		k := item.Key()
		if len(k) != 29 {
			return fmt.Errorf("%w: index key %x", errCorrupt, k)
		}
		last := ^binary.BigEndian.Uint64(k[5:13])
		first := binary.BigEndian.Uint64(k[13:21])
		if last < q.StartMin {
			// Older chunks of this bucket are all outside the window.
			if !c.nextBucket() {
				return nil
			}
			continue
		}
		if q.StartMax != 0 && first > q.StartMax {
			c.it.Next()
			continue
		}
		if c.prefix == prefixPending {
			c.chunk = append(append(c.chunk[:0], prefixIndex), k[1:]...)
			ci, err := c.txn.Get(c.chunk)
			if errors.Is(err, badger.ErrKeyNotFound) {
				c.it.Next()
				continue
			}
			if err != nil {
				return fmt.Errorf("cannot read index chunk: %w", err)
			}
			item = kvItem{Item: ci}
		}
		err := item.Value(func(v []byte) error {
			var err error
			c.buf, err = scanChunk(v, c.cq, first, last, c.buf)
			return err
		})
		c.it.Next()
		if err != nil {
			return err
		}
		c.ids = c.ids[:0]
		for i := range c.buf {
			if c.buf[i].attrs != 0 {
				c.ids = append(c.ids, c.buf[i].id)
			}
		}
		if len(c.ids) > 0 {
			c.last = last
			return nil
		}
	}
}
