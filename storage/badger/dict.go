package badger

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/cespare/xxhash/v2"

	"github.com/scrytrace/scry/model"
)

// Resources and scopes repeat across writes: every batch from a service
// carries the same ones. The store keeps each distinct one once, in a
// dictionary (keys R and C), and span groups refer to it by ID. The
// dictionary is read whole at start-up; past maxDictEntries of a kind, new
// ones are stored inline in their groups instead, so a sender whose
// resources are all different cannot grow it without bound.

const maxDictEntries = 50_000

const (
	prefixResource = 'R'
	prefixScope    = 'C'
)

// blobDict is one dictionary kind held in memory.
type blobDict struct {
	blobs  [][]byte
	byHash map[uint64][]uint32
	// decoded holds entries already decoded (*model.Resource or
	// *model.Scope by ID), filled by the reads that need them: a trace
	// read copies its resources instead of decoding them again, which
	// was a fifth of its time. The entries here are never handed out.
	decoded sync.Map
}

func (d *blobDict) find(blob []byte, h uint64) (uint32, bool) {
	for _, id := range d.byHash[h] {
		if bytes.Equal(d.blobs[id], blob) {
			return id, true
		}
	}
	return 0, false
}

func (d *blobDict) add(blob []byte, h uint64) uint32 {
	id := uint32(len(d.blobs))
	d.blobs = append(d.blobs, blob)
	if d.byHash == nil {
		d.byHash = map[uint64][]uint32{}
	}
	d.byHash[h] = append(d.byHash[h], id)
	return id
}

// dictBlob is a resource or scope of the current write with its encoding.
type dictBlob struct {
	res  *model.Resource
	scp  *model.Scope
	blob []byte
	hash uint64
}

func (b *dictBlob) kind() int {
	if b.scp != nil {
		return 1
	}
	return 0
}

// collectBlobs encodes each distinct resource and scope of the write once.
func (s *Store) collectBlobs(groups [][]*model.Span) []dictBlob {
	enc := s.encoders.Get().(*encoder)
	defer s.encoders.Put(enc)
	var out []dictBlob
	seenR := map[*model.Resource]bool{}
	seenS := map[*model.Scope]bool{}
	for _, g := range groups {
		for _, sp := range g {
			if !seenR[sp.Resource] {
				seenR[sp.Resource] = true
				b := append([]byte(nil), enc.encodeBlob(sp.Resource, nil)...)
				out = append(out, dictBlob{res: sp.Resource, blob: b, hash: xxhash.Sum64(b)})
			}
			if !seenS[sp.Scope] {
				seenS[sp.Scope] = true
				b := append([]byte(nil), enc.encodeBlob(nil, sp.Scope)...)
				out = append(out, dictBlob{scp: sp.Scope, blob: b, hash: xxhash.Sum64(b)})
			}
		}
	}
	return out
}

// lookupBlobs fills w.dict from the dictionaries; it reports whether some
// blob could be added but is not there yet. The caller holds s.mu.
func (w *groupWriter) lookupBlobs(blobs []dictBlob) (missing bool) {
	s := w.s
	w.dict = &groupDict{res: map[*model.Resource]uint32{}, scp: map[*model.Scope]uint32{}}
	for i := range blobs {
		b := &blobs[i]
		d := &s.dicts[b.kind()]
		id, ok := d.find(b.blob, b.hash)
		switch {
		case ok && b.res != nil:
			w.dict.res[b.res] = id
		case ok:
			w.dict.scp[b.scp] = id
		case len(d.blobs) < maxDictEntries:
			missing = true
		}
	}
	return missing
}

// registerBlobs adds the missing blobs to the dictionaries in txn and
// returns a function that records them in memory once txn is committed. The
// caller holds writeMu and no other lock.
func (w *groupWriter) registerBlobs(txn *kvTxn, blobs []dictBlob) (func(), error) {
	s := w.s
	type add struct {
		kind int
		blob []byte
		hash uint64
	}
	var adds []add
	s.mu.RLock()
	next := [2]int{len(s.dicts[0].blobs), len(s.dicts[1].blobs)}
	pending := [2]blobDict{}
	for i := range blobs {
		b := &blobs[i]
		k := b.kind()
		if _, ok := s.dicts[k].find(b.blob, b.hash); ok {
			continue
		}
		if _, ok := pending[k].find(b.blob, b.hash); ok || next[k] >= maxDictEntries {
			continue
		}
		pending[k].add(b.blob, b.hash)
		key := idKey([]byte{prefixResource, prefixScope}[k], uint32(next[k]))
		next[k]++
		if err := txn.Set(key, b.blob); err != nil {
			s.mu.RUnlock()
			return nil, fmt.Errorf("cannot register resource or scope: %w", err)
		}
		adds = append(adds, add{k, b.blob, b.hash})
	}
	s.mu.RUnlock()
	return func() {
		s.mu.Lock()
		for _, a := range adds {
			s.dicts[a.kind].add(a.blob, a.hash)
		}
		s.mu.Unlock()
	}, nil
}

// dictReader resolves dictionary references for decoding: a copy of the
// decoded entry, decoded once.
func (s *Store) dictReader(scope bool, id uint32) (*model.Resource, *model.Scope, bool) {
	k := 0
	if scope {
		k = 1
	}
	d := &s.dicts[k]
	if v, ok := d.decoded.Load(id); ok {
		return copyEntry(v)
	}
	s.mu.RLock()
	var blob []byte
	if int(id) < len(d.blobs) {
		blob = d.blobs[id]
	}
	s.mu.RUnlock()
	if blob == nil {
		return nil, nil, false
	}
	r, sc, ok := decodeDictEntry(blob, scope)
	if !ok {
		return nil, nil, false
	}
	var v any = r
	if scope {
		v = sc
	}
	d.decoded.Store(id, v)
	return copyEntry(v)
}

// copyEntry returns a copy of a decoded dictionary entry.
func copyEntry(v any) (*model.Resource, *model.Scope, bool) {
	if sc, ok := v.(*model.Scope); ok {
		return nil, sc.Clone(), true
	}
	return v.(*model.Resource).Clone(), nil, true
}

// loadDicts reads the resource and scope dictionaries.
func (s *Store) loadDicts(it *kvIter) error {
	for k, p := range []byte{prefixResource, prefixScope} {
		for it.Seek([]byte{p}); it.ValidForPrefix([]byte{p}); it.Next() {
			key := it.Item().Key()
			v, err := it.Item().ValueCopy(nil)
			if err != nil || len(key) != 5 {
				return fmt.Errorf("damaged dictionary record %x", key)
			}
			if id := bigEndian32(key[1:]); id != uint32(len(s.dicts[k].blobs)) {
				return fmt.Errorf("damaged dictionary: id %d out of sequence", id)
			}
			s.dicts[k].add(v, xxhash.Sum64(v))
		}
	}
	return nil
}

func bigEndian32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
