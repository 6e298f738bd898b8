package memory

import (
	"context"
	"slices"

	"github.com/scrytrace/scry/storage"
)

type redKey struct {
	start  uint64
	series string
}

var _ storage.REDWriter = (*Store)(nil)
var _ storage.REDReader = (*Store)(nil)

// WriteRED implements storage.REDWriter. The store keeps every point at
// its own step, without roll-ups or retention.
func (s *Store) WriteRED(ctx context.Context, points []storage.REDPoint) error {
	t, err := tenantOf(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return storage.ErrClosed
	}
	m := s.red[t]
	if m == nil {
		m = map[redKey]*storage.REDPoint{}
		s.red[t] = m
	}
	for i := range points {
		p := &points[i]
		k := redKey{start: p.Start, series: p.Series.Key()}
		if old := m[k]; old != nil {
			old.Add(p)
			continue
		}
		c := storage.REDPoint{Series: p.Series, Start: p.Start, Step: p.Step}
		c.Series.Dims = slices.Clone(p.Series.Dims)
		c.Add(p)
		m[k] = &c
	}
	return nil
}

// ReadRED implements storage.REDReader.
func (s *Store) ReadRED(ctx context.Context, q storage.REDQuery) ([]storage.REDPoint, error) {
	t, err := tenantOf(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, storage.ErrClosed
	}
	var out []storage.REDPoint
	for _, p := range s.red[t] {
		if p.Start < q.Start || p.Start >= q.End || !slices.Contains(q.Services, p.Series.Service) {
			continue
		}
		if len(q.Kinds) > 0 && !slices.Contains(q.Kinds, p.Series.Kind) {
			continue
		}
		c := *p
		c.Latency.Counts = slices.Clone(p.Latency.Counts)
		c.Exemplars = slices.Clone(p.Exemplars)
		out = append(out, c)
	}
	return out, nil
}
