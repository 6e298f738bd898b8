package badger

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/scrytrace/scry/model"
)

// A search with attribute conditions reads a posting page of every block in
// its window that it reaches (all of them when little or nothing matches),
// so the number of blocks sets its cost. The merger folds mergeFan sealed
// blocks (tier 0) of a bucket into one block of tier 1, which answers the
// same searches with one page read instead of mergeFan. Tier 1 blocks are
// not merged again: merging holds the inputs' trace tables in memory
// (~60 bytes a trace, ~15 MB for 8 blocks of the reference workload), which
// a further tier would multiply. FORMAT.md ("Merged blocks") has the
// layout and the order of writes that keeps searches exact meanwhile.

// mergeFan is the number of tier 0 blocks a merge takes.
const mergeFan = 8

// mergeBlocks merges, in every live bucket, the oldest tier 0 blocks while
// the bucket has a full round of them. The caller holds sealMu.
func (s *Store) mergeBlocks(ctx context.Context) error {
	fan := mergeFan
	if s.mergeFan > 0 {
		fan = s.mergeFan
	}
	for _, b := range s.liveBuckets() {
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			if s.DiskFull() != nil {
				return nil // as sealing: the margin is kept for what frees space
			}
			s.idx.mu.RLock()
			var in []blockMeta
			for _, m := range s.idx.blocks[b] {
				if m.tier == 0 {
					in = append(in, m)
				}
			}
			s.idx.mu.RUnlock()
			if len(in) < fan {
				break
			}
			slices.SortFunc(in, func(x, y blockMeta) int { return cmp.Compare(x.seq, y.seq) })
			if err := s.mergeRound(b, in[:fan]); err != nil {
				return fmt.Errorf("cannot merge index blocks: %w", err)
			}
		}
	}
	return nil
}

// mergedTrace is one trace of a merge's output.
type mergedTrace struct {
	blockTrace
	rank uint32 // its number in the output
}

// mergeRound writes one block of tier 1 holding what the blocks in hold,
// makes searches use it instead of them, and deletes them.
func (s *Store) mergeRound(b uint32, in []blockMeta) error {
	defer func(t time.Time) { s.metrics.merged.Observe(time.Since(t).Seconds()) }(time.Now())
	txn := s.db.NewTransaction(false)
	defer txn.Discard()

	// The trace table: each trace once, its newest the latest and its
	// oldest the earliest of the inputs', numbered newest first.
	var traces []mergedTrace
	index := map[model.TraceID]int{}
	renum := make([][]int, len(in)) // input trace number -> index in traces
	out := blockMeta{version: blockCodecVersion, bucket: b, min: ^uint64(0), tier: 1}
	var inBits uint8
	for j := range in {
		m := &in[j]
		out.min, out.max = min(out.min, m.min), max(out.max, m.max)
		inBits = max(inBits, m.pageBits)
		out.replaces = append(out.replaces, m.seq)
		src := &blockSource{txn: txn, m: *m, pages: map[int][]blockTrace{}}
		renum[j] = make([]int, m.traces)
		for t := range m.traces {
			bt, err := src.trace(uint32(t))
			if err != nil {
				return err
			}
			if m.version < 2 {
				bt.oldest = 0 // unknown
			}
			i, ok := index[bt.id]
			if !ok {
				i = len(traces)
				index[bt.id] = i
				traces = append(traces, mergedTrace{blockTrace: bt})
			} else {
				mt := &traces[i]
				mt.newest, mt.oldest = max(mt.newest, bt.newest), min(mt.oldest, bt.oldest)
			}
			renum[j][t] = i
			if t%tracePageSize == tracePageSize-1 {
				delete(src.pages, t/tracePageSize) // done with that page
			}
		}
	}
	order := make([]int, len(traces))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int {
		if c := cmp.Compare(traces[y].newest, traces[x].newest); c != 0 {
			return c
		}
		return slices.Compare(traces[x].id[:], traces[y].id[:])
	})
	for r, i := range order {
		traces[i].rank = uint32(r)
	}
	out.traces = len(traces)
	out.tracePages = (len(traces) + tracePageSize - 1) / tracePageSize
	// Pages of about the inputs' size: the output holds about len(in)
	// times the postings of one input.
	out.pageBits = min(16, inBits+uint8(bits.Len(uint(len(in)-1))))
	s.idx.lastSeq = max(uint64(s.clock.Now().UnixNano()), s.idx.lastSeq+1)
	out.seq = s.idx.lastSeq

	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	cur := make([]postingPage, len(in))
	for j := range cur {
		cur[j].page = -1
	}
	runs := make([][]postingEntry, len(in))
	var v, body []byte
	for p := range uint32(1) << out.pageBits {
		for j := range in {
			ip := int(p >> (out.pageBits - in[j].pageBits))
			c := &cur[j]
			if c.page != ip {
				if err := c.load(txn, &in[j], ip, func(t uint32) uint32 { return traces[renum[j][t]].rank }); err != nil {
					return err
				}
			}
			from := c.next
			for c.next < len(c.entries) && pageOf(c.entries[c.next].hash, out.pageBits) == p {
				c.next++
			}
			runs[j] = c.entries[from:c.next]
		}
		v, body = encodeMergedPage(v[:0], body[:0], runs)
		if err := wb.Set(blockKey(b, out.seq, blockPosting, p), slices.Clone(v)); err != nil {
			return err
		}
	}
	for p := range out.tracePages {
		lo, hi := p*tracePageSize, min((p+1)*tracePageSize, len(order))
		v = binary.AppendUvarint(v[:0], uint64(hi-lo))
		for _, i := range order[lo:hi] {
			v = appendBlockTrace(v, &out, traces[i].blockTrace)
		}
		if err := wb.Set(blockKey(b, out.seq, blockTraces, uint32(p)), slices.Clone(v)); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	txn.Discard()

	// The header and the swap together, under the index lock that
	// searches take their snapshot under: a search sees either the inputs
	// or the merged block, each whole.
	s.idx.mu.Lock()
	err := s.db.Update(func(txn *kvTxn) error {
		return txn.Set(blockKey(b, out.seq, blockHeader, 0), encodeBlockHeader(out))
	})
	if err == nil {
		kept := s.idx.blocks[b][:0]
		for _, m := range s.idx.blocks[b] {
			if !slices.Contains(out.replaces, m.seq) {
				kept = append(kept, m)
			}
		}
		s.idx.blocks[b] = append(kept, out)
	}
	s.idx.mu.Unlock()
	if err != nil {
		return err
	}
	// A crash before this leaves the inputs on disk; the next start
	// deletes them (see loadIndex).
	if s.keepMergeInputs {
		return nil
	}
	return s.deleteBlocks(b, out.replaces)
}

// deleteBlocks deletes every key of the blocks of bucket b with the given
// seqs.
func (s *Store) deleteBlocks(b uint32, seqs []uint64) error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	err := s.db.View(func(txn *kvTxn) error {
		for _, seq := range seqs {
			p := blockKey(b, seq, 0, 0)[:13]
			it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: p})
			for it.Rewind(); it.Valid(); it.Next() {
				if err := wb.Delete(it.Item().KeyCopy(nil)); err != nil {
					it.Close()
					return err
				}
			}
			it.Close()
		}
		return nil
	})
	if err == nil {
		err = wb.Flush()
	}
	if err != nil {
		return fmt.Errorf("cannot delete merged index blocks: %w", err)
	}
	return nil
}

// postingEntry is one decoded entry of a posting page.
type postingEntry struct {
	hash   uint32
	svc    uint64
	traces []uint32
}

// postingPage is the decoded posting page of one input of a merge.
type postingPage struct {
	page    int
	entries []postingEntry
	next    int      // the first entry not yet taken
	buf     []uint32 // the entries' traces
}

// load decodes page ip of block m, with trace numbers mapped by num.
func (c *postingPage) load(txn *kvTxn, m *blockMeta, ip int, num func(uint32) uint32) error {
	c.page, c.entries, c.next, c.buf = ip, c.entries[:0], 0, c.buf[:0]
	item, err := txn.Get(blockKey(m.bucket, m.seq, blockPosting, uint32(ip)))
	if err != nil {
		return fmt.Errorf("cannot read index block: %w", err)
	}
	// The traces of every entry go into one buffer; entries take their
	// part of it once it is whole (it moves while it grows).
	var ends []int
	err = item.Value(func(v []byte) error {
		d := &decoder{b: v}
		n := d.count("posting entries")
		h := uint32(0)
		for range n {
			h += uint32(d.uvarint("posting hash"))
			sv := d.uvarint("posting service")
			k := 1
			if sv&1 == 0 {
				k = d.count("posting traces")
			}
			t := uint32(0)
			for range k {
				t += uint32(d.uvarint("posting trace"))
				c.buf = append(c.buf, num(t))
			}
			if d.err != nil {
				return d.err
			}
			c.entries = append(c.entries, postingEntry{hash: h, svc: sv >> 1})
			ends = append(ends, len(c.buf))
		}
		return d.err
	})
	lo := 0
	for i, hi := range ends {
		c.entries[i].traces = c.buf[lo:hi:hi]
		lo = hi
	}
	return err
}

// encodeMergedPage appends a posting page of the entries of runs (one run
// per input, each sorted by hash and service) to v: one entry per (hash,
// service), its traces sorted and each once. body is scratch space; both
// are returned for reuse.
func encodeMergedPage(v, body []byte, runs [][]postingEntry) ([]byte, []byte) {
	pos := make([]int, len(runs))
	n := 0
	prevHash := uint32(0)
	var traces []uint32
	for {
		// The smallest (hash, service) at the head of a run.
		best := -1
		for j, r := range runs {
			if pos[j] == len(r) {
				continue
			}
			e := &r[pos[j]]
			if best < 0 || e.hash < runs[best][pos[best]].hash ||
				e.hash == runs[best][pos[best]].hash && e.svc < runs[best][pos[best]].svc {
				best = j
			}
		}
		if best < 0 {
			break
		}
		hash, svc := runs[best][pos[best]].hash, runs[best][pos[best]].svc
		traces = traces[:0]
		for j, r := range runs {
			for pos[j] < len(r) && r[pos[j]].hash == hash && r[pos[j]].svc == svc {
				traces = append(traces, r[pos[j]].traces...)
				pos[j]++
			}
		}
		slices.Sort(traces)
		traces = slices.Compact(traces)
		body = appendPosting(body, hash-prevHash, svc, traces)
		prevHash = hash
		n++
	}
	v = binary.AppendUvarint(v, uint64(n))
	return append(v, body...), body
}
