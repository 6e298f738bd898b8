package badger

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	"github.com/cespare/xxhash/v2"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// The search index is made of chunks: one index entry covers the spans of
// up to chunkTraces traces from one write whose start times lie within
// chunkExtent of each other. FORMAT.md describes the layout. A search reads
// a chunk as one value and finds the traces whose attributes may match in
// its inverted table of attribute hashes, so it costs per chunk, not per
// trace.

const (
	chunkTraces = 64       // traces per chunk: trace sets are uint64 masks
	chunkExtent = 60 * 1e9 // ns between a chunk's earliest and latest span start
)

// indexCodecVersion is the chunk version written: 5 has 32-bit attribute
// hashes; 4 (scry-badger-2) had 16-bit ones and is still read.
const (
	indexCodecVersion  = 5
	legacyChunkVersion = 4
)

// maxIndexedSvc is the largest service ID a chunk's table tells apart;
// services past it share it, which only adds candidates (always checked).
const maxIndexedSvc = 1<<24 - 1

// pairBlock is the number of hash table entries per block.
const pairBlock = 32

// writeIndex adds the chunks over every span of the write to wb.
func (w *groupWriter) writeIndex(wb *kvBatch) error {
	spans, ops := w.indexed, w.indexedOps
	order := make([]int, len(spans))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmpU64(spans[a].StartTime, spans[b].StartTime) })
	traces := make(map[model.TraceID]struct{}, chunkTraces)
	for lo := 0; lo < len(order); {
		first := spans[order[lo]].StartTime
		clear(traces)
		hi := lo
		for ; hi < len(order); hi++ {
			sp := spans[order[hi]]
			if sp.StartTime-first > chunkExtent {
				break
			}
			if _, ok := traces[sp.TraceID]; !ok {
				if len(traces) == chunkTraces {
					break
				}
				traces[sp.TraceID] = struct{}{}
			}
		}
		k, v := w.chunk(spans, ops, order[lo:hi])
		if err := wb.Set(k, v); err != nil {
			return fmt.Errorf("cannot write index: %w", err)
		}
		if w.s.chunkVersion() == indexCodecVersion {
			// A pending marker: the sealer folds the chunk into a block.
			mk := append([]byte{prefixPending}, k[1:]...)
			if err := wb.Set(mk, nil); err != nil {
				return fmt.Errorf("cannot write index: %w", err)
			}
			w.chunks++
		}
		lo = hi
	}
	return nil
}

// chunk encodes one index chunk over spans[idx...] (sorted by start).
func (w *groupWriter) chunk(spans []*model.Span, ops []uint32, idx []int) ([]byte, []byte) {
	first := spans[idx[0]].StartTime
	last := spans[idx[len(idx)-1]].StartTime
	// Traces in first-seen order, with their spans.
	var ids []model.TraceID
	pos := map[model.TraceID]int{}
	per := [][]int{}
	for _, i := range idx {
		t := spans[i].TraceID
		j, ok := pos[t]
		if !ok {
			j = len(ids)
			pos[t] = j
			ids = append(ids, t)
			per = append(per, nil)
		}
		per[j] = append(per[j], i)
	}
	version := w.s.chunkVersion()
	v := make([]byte, 0, 64+len(idx)*12)
	v = append(v, version)
	v = binary.AppendUvarint(v, uint64(len(ids)))
	for _, id := range ids {
		v = append(v, id[:]...)
	}
	pairs := w.pairs[:0]
	seenRes := map[*model.Resource]bool{} // resources whose attributes this trace has hashed
	list := w.list[:0]
	for j := range ids {
		list = binary.AppendUvarint(list, uint64(len(per[j])))
		clear(seenRes)
		for _, i := range per[j] {
			sp := spans[i]
			list = binary.AppendUvarint(list, uint64(ops[i]))
			list = binary.AppendUvarint(list, sp.StartTime-first)
			list = binary.AppendUvarint(list, sp.EndTime-sp.StartTime)
			svc := w.svcOf[sp.Resource]
			pairs = w.appendHashes(pairs, sp.Attributes, svc, j)
			for e := range sp.Events {
				pairs = w.appendHashes(pairs, sp.Events[e].Attributes, svc, j)
			}
			if !seenRes[sp.Resource] {
				seenRes[sp.Resource] = true
				pairs = w.appendHashes(pairs, sp.Resource.Attributes, svc, j)
			}
		}
	}
	v = binary.AppendUvarint(v, uint64(len(list)))
	v = append(v, list...)
	w.list = list
	slices.Sort(pairs)
	pairs = slices.Compact(pairs)
	// The inverted table: per distinct (hash, service), the traces.
	var distinct int
	for i := range pairs {
		if i == 0 || pairs[i].key() != pairs[i-1].key() {
			distinct++
		}
	}
	// Entries go in blocks of pairBlock; a header per block (its first hash
	// and byte offset) lets a search jump to the block that may hold a hash.
	var table []byte
	var headers []byte
	prev := uint32(0)
	for i, n := 0, 0; i < len(pairs); n++ {
		j := i + 1
		for j < len(pairs) && pairs[j].key() == pairs[i].key() {
			j++
		}
		h := pairs[i].hash()
		if n%pairBlock == 0 {
			if version == legacyChunkVersion {
				headers = binary.LittleEndian.AppendUint16(headers, uint16(h))
			} else {
				headers = binary.LittleEndian.AppendUint32(headers, h)
			}
			headers = binary.LittleEndian.AppendUint32(headers, uint32(len(table)))
			prev = 0
		}
		table = binary.AppendUvarint(table, uint64(h-prev))
		prev = h
		table = binary.AppendUvarint(table, uint64(pairs[i].svc()))
		table = binary.AppendUvarint(table, uint64(j-i))
		for _, p := range pairs[i:j] {
			table = append(table, p.trace())
		}
		i = j
	}
	v = binary.AppendUvarint(v, uint64(distinct))
	v = append(v, headers...)
	v = append(v, table...)
	w.pairs = pairs

	k := make([]byte, 0, 30)
	k = append(k, prefixIndex)
	k = binary.BigEndian.AppendUint32(k, w.bucketOf(last))
	k = binary.BigEndian.AppendUint64(k, ^last)
	k = binary.BigEndian.AppendUint64(k, first)
	k = binary.BigEndian.AppendUint64(k, xxhash.Sum64(v))
	return k, v
}

// hashPair is one attribute hash of a chunk with the service of the span it
// was found on and the trace's index in the chunk, packed so that pairs sort
// as integers: hash (32 bits), service (24), trace (8).
type hashPair uint64

func makePair(h uint32, svc uint32, trace int) hashPair {
	return hashPair(uint64(h)<<32 | uint64(min(svc, maxIndexedSvc))<<8 | uint64(trace))
}

func (p hashPair) hash() uint32  { return uint32(p >> 32) }
func (p hashPair) svc() uint32   { return uint32(p>>8) & maxIndexedSvc }
func (p hashPair) trace() byte   { return byte(p) }
func (p hashPair) key() hashPair { return p >> 8 }

func (w *groupWriter) appendHashes(pairs []hashPair, kvs []model.KeyValue, svc uint32, trace int) []hashPair {
	for i := range kvs {
		w.scratch = appendAttrText(w.scratch[:0], kvs[i].Key, &kvs[i].Value)
		h := uint32(xxhash.Sum64(w.scratch))
		if w.s.legacyChunks {
			h &= 0xffff
		}
		pairs = append(pairs, makePair(h, svc, trace))
	}
	return pairs
}

// chunkQuery is a query prepared for scanning chunks.
type chunkQuery struct {
	q      *storage.Query
	ops    bitset // nil: every op
	svc    int64  // -1: any service (else at most maxIndexedSvc)
	hashes []uint32
	all    uint64 // mask with a bit per attribute condition
	// implied: the only span condition is the service (or none), so an
	// attribute seen on a span of the service in a chunk that lies wholly
	// inside the window shows that the span conditions hold too.
	implied bool
}

// chunkTrace is what one chunk says of one trace.
type chunkTrace struct {
	id     model.TraceID
	spanOK bool   // a span meets the span conditions
	start  uint64 // the newest such span's start (ranks results without attribute conditions)
	attrs  uint64 // attribute conditions that may hold
}

// scanChunk decodes chunk value v, whose spans started in [first, last],
// into out (reused), evaluating cq. A trace of the chunk that can meet no
// condition may be left out.
func scanChunk(v []byte, cq *chunkQuery, first, last uint64, out []chunkTrace) ([]chunkTrace, error) {
	if len(v) == 0 || (v[0] != indexCodecVersion && v[0] != legacyChunkVersion) {
		return nil, fmt.Errorf("%w: index chunk version", errCorrupt)
	}
	wide := v[0] == indexCodecVersion
	d := &decoder{b: v[1:]}
	n := d.count("chunk traces")
	if n > chunkTraces {
		return nil, fmt.Errorf("%w: chunk of %d traces", errCorrupt, n)
	}
	ids := d.bytes(n*16, "chunk trace ids")
	list := d.bytes(d.count("chunk span lists"), "chunk span lists")
	if d.err != nil {
		return nil, d.err
	}
	out = out[:0]
	q := cq.q
	if cq.implied && q.InWindow(first) && q.InWindow(last) {
		// Only the hash table is needed: every span is in the window.
		var bits [chunkTraces]uint64
		err := chunkHashes(d, cq, wide, func(ti byte, cond int) {
			if int(ti) < n {
				bits[ti] |= 1 << cond
			}
		})
		if err != nil {
			return nil, err
		}
		for i, b := range bits[:n] {
			if b != 0 {
				t := chunkTrace{spanOK: true, start: last, attrs: b}
				copy(t.id[:], ids[i*16:])
				out = append(out, t)
			}
		}
		return out, nil
	}
	var inWin uint64 // traces with a span started inside the window
	// The span list is the hot loop of a search: decode it on a local
	// slice rather than through the decoder's methods.
	i := 0
	for ti := range n {
		t := chunkTrace{}
		copy(t.id[:], ids[ti*16:])
		var ns uint64
		ns, i = fastUvarint(list, i)
		for range ns {
			var opv, rel, dur uint64
			opv, i = fastUvarint(list, i)
			rel, i = fastUvarint(list, i)
			dur, i = fastUvarint(list, i)
			if i < 0 {
				break
			}
			op, at := uint32(opv), first+rel
			if !q.InWindow(at) {
				continue
			}
			inWin |= 1 << ti
			if cq.ops != nil && !cq.ops.has(op) {
				continue
			}
			if (q.DurationMin == 0 || dur >= q.DurationMin) && (q.DurationMax == 0 || dur <= q.DurationMax) {
				t.spanOK = true
				t.start = max(t.start, at)
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("%w: bad chunk span", errCorrupt)
		}
		out = append(out, t)
	}
	if i != len(list) {
		return nil, fmt.Errorf("%w: chunk span lists length", errCorrupt)
	}
	if len(cq.hashes) == 0 {
		return out, nil
	}
	err := chunkHashes(d, cq, wide, func(ti byte, cond int) {
		if int(ti) < n && inWin&(1<<ti) != 0 {
			out[ti].attrs |= 1 << cond
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// chunkHashes finds cq's attribute hashes in the chunk's hash table (what
// d holds; 32-bit hashes if wide, else 16-bit ones) and calls found with
// each trace index and condition found for the query's service.
func chunkHashes(d *decoder, cq *chunkQuery, wide bool, found func(trace byte, cond int)) error {
	np := d.count("chunk hashes")
	nb := (np + pairBlock - 1) / pairBlock
	hw := 2
	if wide {
		hw = 4
	}
	headers := d.bytes(nb*(hw+4), "chunk hash blocks")
	table := d.b
	if d.err != nil || nb == 0 {
		return d.err
	}
	header := func(i int) uint32 {
		if wide {
			return binary.LittleEndian.Uint32(headers[i*8:])
		}
		return uint32(binary.LittleEndian.Uint16(headers[i*6:]))
	}
	for j, want := range cq.hashes {
		if !wide {
			want &= 0xffff
		}
		// Entries with hash want begin in the block before the first
		// block whose first hash is >= want, or at that block's start.
		b := sort.Search(nb, func(i int) bool { return header(i) >= want })
		b = max(b-1, 0)
		off := binary.LittleEndian.Uint32(headers[b*(hw+4)+hw:])
		if int(off) > len(table) {
			return fmt.Errorf("%w: chunk hash block offset", errCorrupt)
		}
		td := &decoder{b: table[off:]}
		var h uint32
		for n := b * pairBlock; n < np && td.err == nil; n++ {
			if n%pairBlock == 0 {
				h = 0
			}
			h += uint32(td.uvarint("chunk hash"))
			if !wide {
				h &= 0xffff
			}
			svc := td.uvarint("chunk hash service")
			c := td.count("chunk hash traces")
			traces := td.bytes(c, "chunk hash traces")
			if h > want {
				break
			}
			if h != want || (cq.svc >= 0 && int64(svc) != cq.svc) {
				continue
			}
			for _, ti := range traces {
				found(ti, j)
			}
		}
		if td.err != nil {
			return td.err
		}
	}
	return nil
}

// fastUvarint decodes a uvarint at b[i:] and returns it with the index after
// it, or -1 as the index if b is short or the varint overflows 64 bits (also
// when i is already -1). It accepts what binary.Uvarint accepts, without its
// call overhead: decoding is the hot loop of reads and searches.
func fastUvarint(b []byte, i int) (uint64, int) {
	if i < 0 {
		return 0, -1
	}
	var x uint64
	for s := uint(0); i < len(b) && s < 64; s += 7 {
		c := b[i]
		i++
		if c < 0x80 {
			if s == 63 && c > 1 {
				return 0, -1
			}
			return x | uint64(c)<<s, i
		}
		x |= uint64(c&0x7f) << s
	}
	return 0, -1
}
