package badger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// RED series (FORMAT.md, "RED series"): each point is one key under
// prefixRED in the tenant's key space, at its own step (resolution 0) and
// added into its 5-minute roll-up (resolution 1) in the same transaction.
// Badger expires both by themselves (the entry's ExpiresAt): a point of
// resolution 0 at REDFineRetention after its step, a roll-up at
// REDRetention, so upkeep has nothing to do for them.

// Defaults of Config.REDRetention and REDFineRetention.
const (
	// DefaultREDRetention: 30 days of 5-minute roll-ups cover the month
	// a team compares against; 8640 points a series, ~1.3 MB per series.
	DefaultREDRetention = 30 * 24 * time.Hour
	// DefaultREDFineRetention: a day at 15 s steps (5760 points, ~0.9 MB
	// a series) covers the Monitor tab's ranges up to 24 h at full
	// resolution.
	DefaultREDFineRetention = 24 * time.Hour
	// REDRollupStep is the step of the roll-ups.
	REDRollupStep = 5 * time.Minute
)

const (
	redFine   = 0 // at the writer's step
	redRollup = 1 // 5 minutes
	redMinute = 2 // 1 minute
	redValueV = 1 // first byte of every value
	// REDMinuteStep is the step of the 1-minute roll-ups, kept as long as
	// the fine points: a 1 h chart at 60 s steps reads 4x fewer points.
	REDMinuteStep = time.Minute
)

var _ storage.REDWriter = (*Store)(nil)
var _ storage.REDReader = (*Store)(nil)

func (s *Store) redRetentions() (coarse, fine time.Duration) {
	coarse, fine = s.cfg.REDRetention, s.cfg.REDFineRetention
	if coarse <= 0 {
		coarse = DefaultREDRetention
	}
	if fine <= 0 {
		fine = DefaultREDFineRetention
	}
	return coarse, fine
}

// redServicePrefix is 'm' res uvarint(len) service.
func redServicePrefix(res byte, service string) []byte {
	k := make([]byte, 0, 2+binary.MaxVarintLen64+len(service)+8)
	k = append(k, prefixRED, res)
	k = binary.AppendUvarint(k, uint64(len(service)))
	return append(k, service...)
}

func redKey(res byte, start uint64, ser *storage.REDSeries) []byte {
	k := redServicePrefix(res, ser.Service)
	k = binary.BigEndian.AppendUint64(k, start)
	k = appendStr(k, ser.Operation)
	k = append(k, byte(ser.Kind), byte(ser.Status))
	k = binary.AppendUvarint(k, uint64(len(ser.Dims)))
	for _, d := range ser.Dims {
		k = appendStr(appendStr(k, d.Key), d.Value)
	}
	return k
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

type redDecoder struct {
	b   []byte
	err error
}

func (d *redDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("damaged RED series record")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *redDecoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if uint64(len(d.b)) < n {
		d.err = errors.New("damaged RED series record")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *redDecoder) str() string { return string(d.bytes(d.uvarint())) }

// parseRedKey reads a key made by redKey (with the prefix of length pl,
// whose service the caller knows).
func parseRedKey(k []byte, pl int, service string) (uint64, storage.REDSeries, error) {
	var ser storage.REDSeries
	if len(k) < pl+8 {
		return 0, ser, fmt.Errorf("damaged RED series key %x", k)
	}
	start := binary.BigEndian.Uint64(k[pl:])
	d := redDecoder{b: k[pl+8:]}
	ser.Service = service
	ser.Operation = d.str()
	kb := d.bytes(2)
	if d.err == nil {
		ser.Kind, ser.Status = model.SpanKind(kb[0]), model.StatusCode(kb[1])
	}
	n := d.uvarint()
	if n > 64 {
		d.err = errors.New("damaged RED series key")
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		ser.Dims = append(ser.Dims, storage.REDDim{Key: d.str(), Value: d.str()})
	}
	if d.err != nil {
		return 0, ser, fmt.Errorf("%w: key %x", d.err, k)
	}
	return start, ser, nil
}

func encodeRedValue(p *storage.REDPoint) []byte {
	b := make([]byte, 0, 32+len(p.Latency.Counts)*2+len(p.Exemplars)*30)
	b = append(b, redValueV)
	b = binary.AppendUvarint(b, p.Step)
	b = binary.AppendUvarint(b, p.Calls)
	b = binary.AppendUvarint(b, p.Errors)
	b = binary.AppendVarint(b, int64(p.Latency.Min))
	// Counts as runs: zeros skipped, then a run of non-zero counts.
	cs := p.Latency.Counts
	b = binary.AppendUvarint(b, uint64(len(cs)))
	for i := 0; i < len(cs); {
		z := i
		for z < len(cs) && cs[z] == 0 {
			z++
		}
		nz := z
		for nz < len(cs) && cs[nz] != 0 {
			nz++
		}
		b = binary.AppendUvarint(b, uint64(z-i))
		b = binary.AppendUvarint(b, uint64(nz-z))
		for _, c := range cs[z:nz] {
			b = binary.AppendUvarint(b, c)
		}
		i = nz
	}
	b = binary.AppendUvarint(b, uint64(len(p.Exemplars)))
	for _, e := range p.Exemplars {
		b = append(b, e.TraceID[:]...)
		b = append(b, e.SpanID[:]...)
		b = binary.AppendUvarint(b, e.Duration)
		if e.Error {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	return b
}

func decodeRedValue(v []byte, p *storage.REDPoint) error {
	if len(v) == 0 || v[0] != redValueV {
		return errors.New("RED series value of an unknown version")
	}
	d := redDecoder{b: v[1:]}
	p.Step = d.uvarint()
	p.Calls = d.uvarint()
	p.Errors = d.uvarint()
	if d.err == nil {
		m, n := binary.Varint(d.b)
		if n <= 0 {
			d.err = errors.New("damaged RED series value")
		} else {
			d.b = d.b[n:]
			p.Latency.Min = int32(m)
		}
	}
	nc := d.uvarint()
	if nc > 1<<16 {
		d.err = errors.New("damaged RED series value")
	}
	if d.err == nil {
		p.Latency.Counts = make([]uint64, nc)
		for i := uint64(0); i < nc && d.err == nil; {
			i += d.uvarint()
			run := d.uvarint()
			if i+run > nc {
				d.err = errors.New("damaged RED series value")
				break
			}
			for j := range run {
				p.Latency.Counts[i+j] = d.uvarint()
			}
			i += run
		}
	}
	ne := d.uvarint()
	if ne > storage.MaxExemplars {
		d.err = errors.New("damaged RED series value")
	}
	for i := uint64(0); i < ne && d.err == nil; i++ {
		var e storage.Exemplar
		copy(e.TraceID[:], d.bytes(16))
		copy(e.SpanID[:], d.bytes(8))
		e.Duration = d.uvarint()
		eb := d.bytes(1)
		e.Error = len(eb) == 1 && eb[0] == 1
		p.Exemplars = append(p.Exemplars, e)
	}
	return d.err
}

// WriteRED implements storage.REDWriter: each point is added into its key
// at its own step and into its 5-minute roll-up, in one transaction per
// call, durable when it returns.
func (s *Store) WriteRED(ctx context.Context, points []storage.REDPoint) error {
	if sp, err := s.space(ctx); sp != s {
		if err != nil {
			return err
		}
		return sp.WriteRED(ctx, points)
	}
	if len(points) == 0 {
		return nil
	}
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.life.RUnlock()
	if err := s.disk.check(); err != nil {
		return err
	}
	if s.readOnly {
		return fmt.Errorf("cannot write RED series: the store is read-only on a full disk: %w", storage.ErrNoSpace)
	}
	coarse, fine := s.redRetentions()
	roll := uint64(REDRollupStep)
	// Points of one roll-up are summed first: one read-modify-write per key.
	type entry struct {
		key []byte
		p   storage.REDPoint
		exp uint64
	}
	var entries []*entry
	byKey := map[string]*entry{}
	add := func(res byte, start uint64, p *storage.REDPoint, keep time.Duration, step uint64) {
		k := redKey(res, start, &p.Series)
		if e := byKey[string(k)]; e != nil {
			e.p.Add(p)
			return
		}
		e := &entry{key: k, exp: uint64((time.Duration(start+step) + keep) / time.Second)}
		e.p = storage.REDPoint{Series: p.Series, Start: start, Step: step}
		e.p.Add(p)
		byKey[string(k)] = e
		entries = append(entries, e)
	}
	for i := range points {
		p := &points[i]
		if p.Step == 0 || p.Step > roll || roll%p.Step != 0 {
			return fmt.Errorf("cannot write RED series: step %s does not divide the roll-up step %s", time.Duration(p.Step), REDRollupStep)
		}
		add(redFine, p.Start, p, fine, p.Step)
		if minute := uint64(REDMinuteStep); p.Step < minute && minute%p.Step == 0 {
			add(redMinute, p.Start-p.Start%minute, p, fine, minute)
		}
		add(redRollup, p.Start-p.Start%roll, p, coarse, roll)
	}
	for attempt := 0; ; attempt++ {
		err := s.db.Update(func(txn *kvTxn) error {
			for _, e := range entries {
				p := e.p
				item, err := txn.Get(e.key)
				switch {
				case err == nil:
					var old storage.REDPoint
					if err := item.Value(func(v []byte) error { return decodeRedValue(v, &old) }); err != nil {
						return err
					}
					old.Series, old.Start = p.Series, p.Start
					old.Add(&p)
					old.Step = p.Step
					p = old
				case !errors.Is(err, badger.ErrKeyNotFound):
					return err
				}
				ent := badger.NewEntry(txn.db.key(e.key), encodeRedValue(&p))
				ent.ExpiresAt = e.exp
				if err := txn.SetEntry(ent); err != nil {
					return err
				}
			}
			return nil
		})
		if errors.Is(err, badger.ErrConflict) && attempt < 10 {
			continue
		}
		if err != nil {
			return fmt.Errorf("cannot write RED series: %w", err)
		}
		return nil
	}
}

// redMinuteRollups reports whether the points of q's window have 1-minute
// roll-ups: not when they are written at a step of a minute or more (then
// the fine points are as coarse). It looks at the first fine point.
func (s *Store) redMinuteRollups(q storage.REDQuery) bool {
	found := false
	_ = s.db.View(func(txn *kvTxn) error {
		for _, svc := range q.Services {
			pre := redServicePrefix(redFine, svc)
			it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: pre})
			it.Seek(binary.BigEndian.AppendUint64(slices.Clip(pre), q.Start))
			if it.ValidForPrefix(pre) {
				var p storage.REDPoint
				if it.Item().Value(func(v []byte) error { return decodeRedValue(v, &p) }) == nil {
					found = p.Step < uint64(REDMinuteStep) && uint64(REDMinuteStep)%p.Step == 0
				}
				it.Close()
				return nil
			}
			it.Close()
		}
		return nil
	})
	return found
}

// redFineRange is the longest window read at the fine step: past it a
// query reads the roll-ups (~20x fewer points at a 15 s step), so that a
// 24 h chart does not decode 5760 points per series.
const redFineRange = 6 * time.Hour

// ReadRED implements storage.REDReader: the finest points for windows the
// fine retention still covers, the 5-minute roll-ups when q.MaxStep
// allows them, the window starts before the fine points do or is longer
// than redFineRange.
func (s *Store) ReadRED(ctx context.Context, q storage.REDQuery) ([]storage.REDPoint, error) {
	if sp, err := s.space(ctx); sp != s {
		if err != nil {
			return nil, err
		}
		return sp.ReadRED(ctx, q)
	}
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	_, fine := s.redRetentions()
	res := byte(redFine)
	now := uint64(s.clock.Now().UnixNano())
	switch {
	case q.MaxStep >= uint64(REDRollupStep) || q.Start+uint64(fine) < now || q.End-q.Start > uint64(redFineRange):
		res = redRollup
		q.Start -= q.Start % uint64(REDRollupStep)
	case q.MaxStep >= uint64(REDMinuteStep) && s.redMinuteRollups(q):
		res = redMinute
		q.Start -= q.Start % uint64(REDMinuteStep)
	}
	// One goroutine per service, at most GOMAXPROCS at once: decoding
	// the histograms is most of a read's cost.
	svcs := slices.Compact(slices.Sorted(slices.Values(q.Services)))
	rq, cur := q, q.End
	if res != redFine {
		roll := uint64(REDRollupStep)
		if res == redMinute {
			roll = uint64(REDMinuteStep)
		}
		cur = now - now%roll
		rq.End = min(q.End, cur)
	}
	parts := make([][]storage.REDPoint, len(svcs))
	errs := make([]error, len(svcs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, svc := range svcs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			parts[i], errs[i] = s.readREDService(ctx, res, svc, rq)
			if res != redFine && q.End > cur {
				// The roll-up under way is not complete: its steps
				// come from the fine points, so that the newest step
				// shows as soon as it is written.
				fq := q
				fq.Start = max(q.Start, cur)
				var fine []storage.REDPoint
				var err error
				fine, err = s.readREDService(ctx, redFine, svc, fq)
				parts[i], errs[i] = append(parts[i], fine...), errors.Join(errs[i], err)
			}
		}()
	}
	wg.Wait()
	err := errors.Join(errs...)
	out := slices.Concat(parts...)
	if err != nil {
		return nil, fmt.Errorf("cannot read RED series: %w", err)
	}
	return out, nil
}

// readREDService reads the points of one service for ReadRED.
func (s *Store) readREDService(ctx context.Context, res byte, svc string, q storage.REDQuery) ([]storage.REDPoint, error) {
	var out []storage.REDPoint
	err := s.db.View(func(txn *kvTxn) error {
		pre := redServicePrefix(res, svc)
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: pre})
		defer it.Close()
		seek := binary.BigEndian.AppendUint64(slices.Clip(pre), q.Start)
		for it.Seek(seek); it.ValidForPrefix(pre); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			start, ser, err := parseRedKey(item.Key(), len(pre), svc)
			if err != nil {
				return err
			}
			if start >= q.End {
				break
			}
			if len(q.Kinds) > 0 && !slices.Contains(q.Kinds, ser.Kind) {
				continue
			}
			p := storage.REDPoint{Series: ser, Start: start}
			if err := item.Value(func(v []byte) error { return decodeRedValue(v, &p) }); err != nil {
				return fmt.Errorf("%w: key %x", err, item.Key())
			}
			out = append(out, p)
		}
		return nil
	})
	return out, err
}
