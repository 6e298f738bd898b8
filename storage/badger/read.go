package badger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
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

func (s *Store) readTrace(txn *badger.Txn, buckets []uint32, id model.TraceID) ([]*model.Span, error) {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{prefixData}})
	defer it.Close()
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
				raw, err := zstdDecoder.DecodeAll(v, nil)
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
		spans = dedupSpans(spans)
	}
	sortSpans(spans)
	return spans, nil
}

// dedupSpans drops spans equal in every field to an earlier one.
func dedupSpans(spans []*model.Span) []*model.Span {
	byID := make(map[model.SpanID][]*model.Span, len(spans))
	out := spans[:0]
	for _, sp := range spans {
		dup := false
		for _, o := range byID[sp.SpanID] {
			if reflect.DeepEqual(o, sp) {
				dup = true
				break
			}
		}
		if !dup {
			byID[sp.SpanID] = append(byID[sp.SpanID], sp)
			out = append(out, sp)
		}
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

// traceState accumulates, for one trace, which conditions the index entries
// seen so far may satisfy.
type traceState struct {
	spanOK   bool
	start    uint64 // newest start of a span meeting the span conditions
	attrs    uint64
	verified bool
}

// FindTraceIDs implements storage.Reader. It scans the time index newest
// first, keeps per trace which conditions its entries may satisfy (attribute
// conditions through 16-bit hashes), and checks each trace that may match
// against its stored spans before returning it, so hash collisions never
// show up in results.
func (s *Store) FindTraceIDs(ctx context.Context, q storage.Query) ([]storage.TraceRef, error) {
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

	ops, svc, ok := s.matchingOps(&q)
	if !ok {
		return []storage.TraceRef{}, nil
	}
	hashes := make([]uint16, len(q.Attributes))
	for i, a := range q.Attributes {
		hashes[i] = attrHash(a.Key, a.Value)
	}
	allAttrs := uint64(1)<<len(hashes) - 1
	lo := uint64(0)
	if q.StartMin > maxEntryExtent {
		lo = q.StartMin - maxEntryExtent
	}
	hi := q.StartMax
	if hi == 0 {
		hi = ^uint64(0)
	}

	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	buckets := s.liveBuckets()
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{prefixIndex}})
	defer it.Close()

	states := map[model.TraceID]*traceState{}
	results := []storage.TraceRef{}
	seek := make([]byte, 13)
	seek[0] = prefixIndex
	var scanned int
	for _, b := range buckets {
		binary.BigEndian.PutUint32(seek[1:], b)
		binary.BigEndian.PutUint64(seek[5:], ^hi)
		for it.Seek(seek); it.ValidForPrefix(seek[:5]); it.Next() {
			if scanned++; scanned%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			k := it.Item().Key()
			if len(k) < 33 {
				return nil, fmt.Errorf("%w: index key %x", errCorrupt, k)
			}
			start := ^binary.BigEndian.Uint64(k[5:13])
			if start < lo {
				break
			}
			var id model.TraceID
			copy(id[:], k[13:29])
			st := states[id]
			if st == nil {
				st = &traceState{}
				states[id] = st
			} else if st.verified {
				continue
			}
			err := it.Item().Value(func(v []byte) error {
				return s.scanEntry(v, start, &q, ops, svc, hashes, st)
			})
			if err != nil {
				return nil, err
			}
			if !st.spanOK || st.attrs != allAttrs {
				continue
			}
			st.verified = true
			if len(hashes) == 0 {
				// The index states span conditions exactly: no need to
				// read the trace.
				results = append(results, storage.TraceRef{TraceID: id, Start: st.start})
				if len(results) == q.Limit {
					sortRefs(results)
					return results, nil
				}
				continue
			}
			spans, err := s.readTrace(txn, buckets, id)
			if err != nil {
				return nil, err
			}
			if at, ok := storage.MatchTrace(spans, &q); ok {
				results = append(results, storage.TraceRef{TraceID: id, Start: at})
				if len(results) == q.Limit {
					sortRefs(results)
					return results, nil
				}
			}
		}
	}
	sortRefs(results)
	return results, nil
}

func sortRefs(r []storage.TraceRef) {
	sort.SliceStable(r, func(i, j int) bool { return r[i].Start > r[j].Start })
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

// scanEntry folds one index entry into a trace's state.
func (s *Store) scanEntry(v []byte, start uint64, q *storage.Query, ops bitset, svc int64, hashes []uint16, st *traceState) error {
	if len(v) == 0 || v[0] != indexCodecVersion {
		return fmt.Errorf("%w: index entry version", errCorrupt)
	}
	d := &decoder{b: v[1:]}
	n := d.count("index spans")
	inWindow := false
	for i := 0; i < n && d.err == nil; i++ {
		op := uint32(d.uvarint("index op"))
		at := start + d.uvarint("index start")
		dur := d.uvarint("index duration")
		if !q.InWindow(at) {
			continue
		}
		inWindow = true
		if ops != nil && !ops.has(op) {
			continue
		}
		if (q.DurationMin == 0 || dur >= q.DurationMin) && (q.DurationMax == 0 || dur <= q.DurationMax) {
			st.spanOK = true
			st.start = max(st.start, at)
		}
	}
	if !inWindow || len(hashes) == 0 {
		return d.err
	}
	np := d.count("index hashes")
	for i := 0; i < np && d.err == nil; i++ {
		hb := d.bytes(2, "index hash")
		ps := d.uvarint("index hash service")
		if hb == nil || (svc >= 0 && int64(ps) != svc) {
			continue
		}
		h := binary.LittleEndian.Uint16(hb)
		for j, want := range hashes {
			if h == want {
				st.attrs |= 1 << j
			}
		}
	}
	return d.err
}

// Services implements storage.Reader: services with an operation seen in a
// live bucket.
func (s *Store) Services(ctx context.Context) ([]string, error) {
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
	err := s.db.View(func(txn *badger.Txn) error {
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
