package badger

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/scrytrace/scry/model"
)

// Dependencies are counted as spans are written, not by scanning spans when
// asked. A span whose parent is of another service is one call from the
// parent's service to the span's. Parents often arrive in another write (each
// service exports its own spans), so the tracker remembers recent spans' services and
// children still waiting for their parent, in two generations each of a
// bounded size. Counts are kept per second of the child's start time and
// persisted at every maintenance round and at Close; counts not yet persisted
// are lost if the process crashes, and a parent that arrives after its
// generation rotated out is not linked. Dependencies are an approximation
// with one-second resolution.

const depGeneration = 100_000 // entries per generation

type spanKey [24]byte // trace ID and span ID

func makeSpanKey(t model.TraceID, s model.SpanID) spanKey {
	var k spanKey
	copy(k[:16], t[:])
	copy(k[16:], s[:])
	return k
}

type pendingChild struct {
	svc uint32
	sec uint64
}

type depKey struct {
	sec           uint64
	parent, child uint32
}

type depTracker struct {
	mu              sync.Mutex
	recent, recent0 map[spanKey]uint32
	pend, pend0     map[spanKey][]pendingChild
	counts          map[depKey]uint64
}

func newDepTracker() *depTracker {
	return &depTracker{
		recent: map[spanKey]uint32{},
		pend:   map[spanKey][]pendingChild{},
		counts: map[depKey]uint64{},
	}
}

func (d *depTracker) lookupRecent(k spanKey) (uint32, bool) {
	if v, ok := d.recent[k]; ok {
		return v, true
	}
	v, ok := d.recent0[k]
	return v, ok
}

func (d *depTracker) takePending(k spanKey) []pendingChild {
	c := d.pend[k]
	if c != nil {
		delete(d.pend, k)
	}
	if c0 := d.pend0[k]; c0 != nil {
		delete(d.pend0, k)
		c = append(c, c0...)
	}
	return c
}

// observe counts the calls the spans reveal. svcOf gives each span's
// service ID by its resource.
func (d *depTracker) observe(spans []*model.Span, svcOf map[*model.Resource]uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, sp := range spans {
		svc := svcOf[sp.Resource]
		k := makeSpanKey(sp.TraceID, sp.SpanID)
		if prev, ok := d.lookupRecent(k); ok && prev == svc {
			continue // the same span again: counted already
		}
		if len(d.recent) >= depGeneration {
			d.recent0, d.recent = d.recent, make(map[spanKey]uint32, depGeneration/4)
		}
		d.recent[k] = svc
		if !sp.ParentSpanID.IsZero() {
			pk := makeSpanKey(sp.TraceID, sp.ParentSpanID)
			sec := sp.StartTime / 1e9
			if psvc, ok := d.lookupRecent(pk); ok {
				if psvc != svc {
					d.counts[depKey{sec, psvc, svc}]++
				}
			} else {
				if len(d.pend) >= depGeneration {
					d.pend0, d.pend = d.pend, make(map[spanKey][]pendingChild, depGeneration/4)
				}
				d.pend[pk] = append(d.pend[pk], pendingChild{svc, sec})
			}
		}
		for _, c := range d.takePending(k) {
			if c.svc != svc {
				d.counts[depKey{c.sec, svc, c.svc}]++
			}
		}
	}
}

// take returns and clears the counts not yet persisted.
func (d *depTracker) take() map[depKey]uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.counts) == 0 {
		return nil
	}
	c := d.counts
	d.counts = map[depKey]uint64{}
	return c
}

// snapshot adds the counts not yet persisted to into.
func (d *depTracker) snapshot(into func(depKey, uint64)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, v := range d.counts {
		into(k, v)
	}
}

// flushDeps persists the dependency counts gathered since the last flush,
// one key per bucket. The caller holds writeMu.
func (s *Store) flushDeps() error {
	counts := s.deps.take()
	if counts == nil {
		return nil
	}
	w := &groupWriter{s: s, nowSec: uint64(s.clock.Now().Unix()), cutoff: s.expiryCutoff()}
	byBucket := map[uint32][]byte{}
	for k, n := range counts {
		b := w.bucketOf(k.sec * 1e9)
		v := byBucket[b]
		if v == nil {
			v = []byte{depsCodecVersion}
		}
		v = binary.AppendUvarint(v, k.sec)
		v = binary.AppendUvarint(v, uint64(k.parent))
		v = binary.AppendUvarint(v, uint64(k.child))
		v = binary.AppendUvarint(v, n)
		byBucket[b] = v
	}
	seq := uint64(s.clock.Now().UnixNano())
	err := s.db.Update(func(txn *kvTxn) error {
		for b, v := range byBucket {
			k := idKey(prefixDeps, b)
			k = binary.BigEndian.AppendUint64(k, seq)
			if err := txn.Set(k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Put the counts back so the next round retries them.
		s.deps.mu.Lock()
		for k, n := range counts {
			s.deps.counts[k] += n
		}
		s.deps.mu.Unlock()
		return fmt.Errorf("cannot persist dependency counts: %w", err)
	}
	return nil
}

const depsCodecVersion = 1

// decodeDeps calls fn for each count in a persisted value.
func decodeDeps(v []byte, fn func(depKey, uint64)) error {
	if len(v) == 0 || v[0] != depsCodecVersion {
		return fmt.Errorf("%w: dependency record", errCorrupt)
	}
	d := &decoder{b: v[1:]}
	for len(d.b) > 0 && d.err == nil {
		sec := d.uvarint("dependency time")
		p := d.u32("dependency parent")
		c := d.u32("dependency child")
		n := d.uvarint("dependency count")
		if d.err == nil {
			fn(depKey{sec, p, c}, n)
		}
	}
	return d.err
}
