package badger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/dgraph-io/badger/v4"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// enter starts a read; the caller must call s.life.RUnlock when done.
func (s *Store) enter(ctx context.Context) error {
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return storage.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		s.life.RUnlock()
		return err
	}
	return nil
}

// GetTrace implements storage.Reader. The hint is not used: a trace's spans
// are found in every live bucket with one seek each.
func (s *Store) GetTrace(ctx context.Context, id model.TraceID, _ storage.TimeHint) ([]*model.Span, error) {
	if sp, err := s.space(ctx); sp != s {
		if err != nil {
			return nil, err
		}
		return sp.GetTrace(ctx, id, storage.TimeHint{})
	}
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	spans, err := s.readTrace(txn, s.liveBuckets(), id)
	if err != nil {
		return nil, err
	}
	if len(spans) == 0 {
		return nil, storage.ErrTraceNotFound
	}
	return spans, nil
}

// GetTraces implements storage.Reader: every trace is read in one read
// transaction, through one iterator, as GetTrace reads one. The hint is not
// used.
func (s *Store) GetTraces(ctx context.Context, ids []model.TraceID, _ storage.TimeHint) ([][]*model.Span, error) {
	if sp, err := s.space(ctx); sp != s {
		if err != nil {
			return nil, err
		}
		return sp.GetTraces(ctx, ids, storage.TimeHint{})
	}
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	out := make([][]*model.Span, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	it := newDataIterator(txn)
	defer it.Close()
	buckets := s.liveBuckets()
	for i, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		spans, err := s.readTraceWith(it, buckets, id)
		if err != nil {
			return nil, err
		}
		out[i] = spans
	}
	return out, nil
}

// newDataIterator returns an iterator over the span groups, for
// readTraceWith.
func newDataIterator(txn *kvTxn) *kvIter {
	return txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{prefixData}})
}

// readTrace returns the spans of a trace in GetTrace's order, none when no
// span of it is stored.
func (s *Store) readTrace(txn *kvTxn, buckets []uint32, id model.TraceID) ([]*model.Span, error) {
	it := newDataIterator(txn)
	defer it.Close()
	return s.readTraceWith(it, buckets, id)
}

// readTraceWith is readTrace through an iterator of newDataIterator, which
// may serve one call after another.
func (s *Store) readTraceWith(it *kvIter, buckets []uint32, id model.TraceID) ([]*model.Span, error) {
	var spans []*model.Span
	prefix := make([]byte, 21)
	prefix[0] = prefixData
	copy(prefix[5:], id[:])
	groups := 0
	for _, b := range buckets {
		binary.BigEndian.PutUint32(prefix[1:], b)
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			groups++
			err := it.Item().Value(func(v []byte) error {
				raw, err := s.zdec.DecodeAll(v, nil)
				if err != nil {
					return fmt.Errorf("%w: %v", errCorrupt, err)
				}
				g, err := decodeGroup(id, raw, s.dictReader)
				if err != nil {
					return err
				}
				spans = append(spans, g...)
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("cannot read trace %s: %w", id, err)
			}
		}
	}
	if groups > 1 {
		if keep := distinct(spans); keep != nil {
			spans = pick(spans, keep)
		}
	}
	sortSpans(spans)
	return spans, nil
}

// distinct returns the indexes of the spans to keep, dropping each span
// equal (model.Span.Equal) to an earlier one, or nil when every span is kept.
// Spans with the same ID but other content (Zipkin's client and server
// halves) are all kept.
func distinct(spans []*model.Span) []int {
	first := make(map[model.SpanID]int, len(spans))
	var keep []int
	for i, sp := range spans {
		dup := false
		if f, ok := first[sp.SpanID]; ok {
			// Rare: compare with the earlier spans of this ID (a dropped
			// one equals a kept one, so comparing with it is harmless).
			for k := f; k < i && !dup; k++ {
				dup = spans[k].SpanID == sp.SpanID && spans[k].Equal(sp)
			}
		} else {
			first[sp.SpanID] = i
		}
		switch {
		case dup && keep == nil:
			keep = make([]int, i, len(spans))
			for k := range keep {
				keep[k] = k
			}
		case !dup && keep != nil:
			keep = append(keep, i)
		}
	}
	return keep
}

// pick returns the elements of s at the indexes keep.
func pick[T any](s []T, keep []int) []T {
	out := make([]T, len(keep))
	for i, k := range keep {
		out[i] = s[k]
	}
	return out
}

func sortSpans(spans []*model.Span) {
	slices.SortStableFunc(spans, func(a, b *model.Span) int {
		if c := cmpU64(a.StartTime, b.StartTime); c != 0 {
			return c
		}
		return slices.Compare(a.SpanID[:], b.SpanID[:])
	})
}

// traceState accumulates, for a trace met in several chunks, which
// conditions the chunks seen so far may satisfy.
type traceState struct {
	spanOK bool
	attrs  uint64
}

// FindTraceIDs implements storage.Reader. A search with attribute
// conditions is answered through the sealed index (findSealed). Otherwise
// it scans index chunks newest first (by their latest span start). Per chunk it finds the traces that may
// match: span conditions exactly from the chunk's span list, attribute
// conditions through the chunk's table of 16-bit attribute hashes. A trace
// met in several chunks has its conditions gathered across them. A trace
// whose attribute conditions may hold is read and checked exactly
// (storage.MatchTrace), so hash collisions never show up in results. The
// scan stops once no later chunk can hold a newer result than the ones
// found.
func (s *Store) FindTraceIDs(ctx context.Context, q storage.Query) ([]storage.TraceRef, error) {
	if sp, err := s.space(ctx); sp != s {
		if err != nil {
			return nil, err
		}
		return sp.FindTraceIDs(ctx, q)
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if len(q.Attributes) > 64 {
		return nil, errors.New("invalid query: more than 64 attribute conditions")
	}
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()

	cq := &chunkQuery{q: &q}
	var ok bool
	cq.ops, cq.svc, ok = s.matchingOps(&q)
	if !ok {
		return []storage.TraceRef{}, nil
	}
	cq.svc = min(cq.svc, maxIndexedSvc)
	for _, a := range q.Attributes {
		cq.hashes = append(cq.hashes, attrHash(a.Key, a.Value))
	}
	cq.all = uint64(1)<<len(cq.hashes) - 1
	cq.implied = len(cq.hashes) > 0 && q.Operation == "" && q.Kind == storage.AnyKind &&
		q.DurationMin == 0 && q.DurationMax == 0
	if len(cq.hashes) > 0 && !s.legacyChunks {
		return s.findSealed(ctx, &q, cq)
	}
	lo := q.StartMin
	seekAt := ^uint64(0)
	if q.StartMax != 0 && q.StartMax < ^uint64(0)-chunkExtent {
		seekAt = q.StartMax + chunkExtent
	}

	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	buckets := s.liveBuckets()
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{prefixIndex}})
	defer it.Close()

	f := &finder{s: s, txn: txn, buckets: buckets, q: &q, cq: cq, done: map[model.TraceID]bool{}}
	seek := make([]byte, 13)
	seek[0] = prefixIndex
	var chunk []chunkTrace
	var scanned int
	for _, b := range buckets {
		binary.BigEndian.PutUint32(seek[1:], b)
		binary.BigEndian.PutUint64(seek[5:], ^seekAt)
		for it.Seek(seek); it.ValidForPrefix(seek[:5]); it.Next() {
			if scanned++; scanned%256 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			k := it.Item().Key()
			if len(k) != 29 {
				return nil, fmt.Errorf("%w: index key %x", errCorrupt, k)
			}
			last := ^binary.BigEndian.Uint64(k[5:13])
			first := binary.BigEndian.Uint64(k[13:21])
			if last < lo || f.full(last) {
				break
			}
			if q.StartMax != 0 && first > q.StartMax {
				continue
			}
			err := it.Item().Value(func(v []byte) error {
				var err error
				chunk, err = scanChunk(v, cq, first, last, chunk)
				return err
			})
			if err != nil {
				return nil, err
			}
			for i := range chunk {
				if err := f.consider(&chunk[i]); err != nil {
					return nil, err
				}
			}
		}
	}
	return f.answer(), nil
}

// answer returns the search's results in FindTraceIDs' order, at most
// Limit of them.
func (f *finder) answer() []storage.TraceRef {
	sortRefs(f.results)
	if len(f.results) > f.q.Limit {
		f.results = f.results[:f.q.Limit]
	}
	return f.results
}

// finder holds one search's progress.
type finder struct {
	s       *Store
	txn     *kvTxn
	it      *kvIter // of newDataIterator, or nil
	buckets []uint32
	q       *storage.Query
	cq      *chunkQuery
	done    map[model.TraceID]bool       // decided: a result or checked and refused
	partial map[model.TraceID]traceState // undecided; only with attribute conditions
	results []storage.TraceRef           // kept sorted newest first
}

// full reports whether Limit results are found and all newer than at.
func (f *finder) full(at uint64) bool {
	return len(f.results) >= f.q.Limit && f.results[f.q.Limit-1].Start > at
}

// consider folds one chunk's view of a trace into the search.
func (f *finder) consider(t *chunkTrace) error {
	if !t.spanOK && t.attrs == 0 {
		return nil
	}
	if f.done[t.id] {
		if t.spanOK && len(f.cq.hashes) == 0 {
			f.raise(t.id, t.start)
		}
		return nil
	}
	if len(f.cq.hashes) == 0 {
		// Span conditions alone are exact in the index.
		f.done[t.id] = true
		f.add(storage.TraceRef{TraceID: t.id, Start: t.start})
		return nil
	}
	// Attribute conditions may hold on different chunks' spans: gather
	// them, and check a trace for which all may hold exactly, since
	// attribute hashes may collide.
	st := f.partial[t.id]
	st.spanOK = st.spanOK || t.spanOK
	st.attrs |= t.attrs
	if !st.spanOK || st.attrs != f.cq.all {
		if f.partial == nil {
			f.partial = make(map[model.TraceID]traceState, 8192)
		}
		f.partial[t.id] = st
		return nil
	}
	delete(f.partial, t.id)
	return f.check(t.id)
}

// check reads a trace and adds it to the results if it matches exactly.
func (f *finder) check(id model.TraceID) error {
	f.done[id] = true
	var spans []*model.Span
	var err error
	if f.it != nil {
		spans, err = f.s.readTraceWith(f.it, f.buckets, id)
	} else {
		spans, err = f.s.readTrace(f.txn, f.buckets, id)
	}
	if err != nil {
		return err
	}
	start, ok := storage.MatchTrace(spans, f.q)
	if !ok {
		return nil
	}
	f.add(storage.TraceRef{TraceID: id, Start: start})
	return nil
}

// raise moves a result to a newer matching span found in a later chunk
// (chunks of different writes overlap in time).
func (f *finder) raise(id model.TraceID, start uint64) {
	for i := range f.results {
		if f.results[i].TraceID == id {
			if start > f.results[i].Start {
				r := f.results[i]
				r.Start = start
				f.results = slices.Delete(f.results, i, i+1)
				f.add(r)
			}
			return
		}
	}
}

// add inserts r into the results, newest first.
func (f *finder) add(r storage.TraceRef) {
	i, _ := slices.BinarySearchFunc(f.results, r.Start, func(e storage.TraceRef, at uint64) int {
		return cmpU64(at, e.Start)
	})
	f.results = slices.Insert(f.results, i, r)
}

// sortRefs orders results newest first, ties by trace ID.
func sortRefs(r []storage.TraceRef) {
	slices.SortFunc(r, func(a, b storage.TraceRef) int {
		if c := cmpU64(b.Start, a.Start); c != 0 {
			return c
		}
		return slices.Compare(a.TraceID[:], b.TraceID[:])
	})
}

// matchingOps returns the set of op IDs meeting q's service, operation and
// kind conditions (nil: all), the service ID (-1: any), and false if nothing
// can match.
func (s *Store) matchingOps(q *storage.Query) (bitset, int64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	svc := int64(-1)
	if q.Service != "" {
		id, ok := s.svcIDs[q.Service]
		if !ok {
			return nil, 0, false
		}
		svc = int64(id)
	}
	if svc < 0 && q.Operation == "" && q.Kind == storage.AnyKind {
		return nil, svc, true
	}
	var set bitset
	any := false
	for id, op := range s.ops {
		if (svc < 0 || int64(op.svc) == svc) &&
			(q.Operation == "" || op.name == q.Operation) &&
			(q.Kind == storage.AnyKind || op.kind == q.Kind) {
			set.set(uint32(id))
			any = true
		}
	}
	return set, svc, any
}

// Services implements storage.Reader: services with an operation seen in a
// live bucket.
func (s *Store) Services(ctx context.Context) ([]string, error) {
	if sp, err := s.space(ctx); sp != s {
		if err != nil {
			return nil, err
		}
		return sp.Services(ctx)
	}
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	live := s.liveBuckets()
	s.mu.RLock()
	seen := map[string]bool{}
	for _, b := range live {
		bs := s.opSeen[b]
		for id, op := range s.ops {
			if bs.has(uint32(id)) {
				seen[s.svcByID[op.svc]] = true
			}
		}
	}
	s.mu.RUnlock()
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

// Operations implements storage.Reader.
func (s *Store) Operations(ctx context.Context, service string, kind model.SpanKind) ([]storage.Operation, error) {
	if sp, err := s.space(ctx); sp != s {
		if err != nil {
			return nil, err
		}
		return sp.Operations(ctx, service, kind)
	}
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	live := s.liveBuckets()
	s.mu.RLock()
	svc, ok := s.svcIDs[service]
	out := []storage.Operation{}
	if ok {
		for id, op := range s.ops {
			if op.svc != svc || (kind != storage.AnyKind && op.kind != kind) {
				continue
			}
			for _, b := range live {
				if s.opSeen[b].has(uint32(id)) {
					out = append(out, storage.Operation{Name: op.name, Kind: op.kind})
					break
				}
			}
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b storage.Operation) int {
		if a.Name != b.Name {
			if a.Name < b.Name {
				return -1
			}
			return 1
		}
		return int(a.Kind - b.Kind)
	})
	return out, nil
}

// Dependencies implements storage.Reader, with one-second resolution: a
// count is included when its second overlaps [start, end).
func (s *Store) Dependencies(ctx context.Context, start, end uint64) ([]storage.DependencyLink, error) {
	if sp, err := s.space(ctx); sp != s {
		if err != nil {
			return nil, err
		}
		return sp.Dependencies(ctx, start, end)
	}
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	type edge struct{ p, c uint32 }
	sum := map[edge]uint64{}
	add := func(k depKey, n uint64) {
		if k.sec*1e9 < end && (k.sec+1)*1e9 > start {
			sum[edge{k.parent, k.child}] += n
		}
	}
	err := s.db.View(func(txn *kvTxn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{prefixDeps}})
		defer it.Close()
		for _, b := range s.liveBuckets() {
			p := idKey(prefixDeps, b)
			for it.Seek(p); it.ValidForPrefix(p); it.Next() {
				if err := it.Item().Value(func(v []byte) error { return decodeDeps(v, add) }); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read dependencies: %w", err)
	}
	s.deps.snapshot(add)
	s.mu.RLock()
	out := make([]storage.DependencyLink, 0, len(sum))
	for e, n := range sum {
		if int(e.p) < len(s.svcByID) && int(e.c) < len(s.svcByID) {
			out = append(out, storage.DependencyLink{Parent: s.svcByID[e.p], Child: s.svcByID[e.c], CallCount: n})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b storage.DependencyLink) int {
		if a.Parent != b.Parent {
			if a.Parent < b.Parent {
				return -1
			}
			return 1
		}
		if a.Child < b.Child {
			return -1
		}
		if a.Child > b.Child {
			return 1
		}
		return 0
	})
	return out, nil
}
