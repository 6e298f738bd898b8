package badger

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

func redPoint(svc, op string, start time.Time, calls, errs uint64, durs ...uint64) storage.REDPoint {
	p := storage.REDPoint{
		Series: storage.REDSeries{Service: svc, Operation: op, Kind: model.SpanKindServer, Status: model.StatusOK,
			Dims: []storage.REDDim{{Key: "env", Value: "prod"}}},
		Start: uint64(start.UnixNano()), Step: uint64(15 * time.Second), Calls: calls, Errors: errs,
	}
	for _, d := range durs {
		p.Latency.Observe(d)
		p.AddExemplar(storage.Exemplar{TraceID: model.TraceID{1, byte(d)}, SpanID: model.SpanID{2}, Duration: d})
	}
	return p
}

// TestREDSeriesPersist writes RED points for two tenants, restarts the
// store and reads them back: each tenant sees its own, the same step
// written twice adds up, and the 5-minute roll-up sums the steps.
func TestREDSeriesPersist(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	a, b := storage.WithTenant(ctx, "team-a"), storage.WithTenant(ctx, "team-b")
	base := time.Now().Truncate(5 * time.Minute).Add(-10 * time.Minute)
	s := newTest(t, dir, nil)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		at := base.Add(time.Duration(i) * 15 * time.Second)
		if err := s.WriteRED(a, []storage.REDPoint{redPoint("checkout", "GET /cart", at, 10, 1, 1e6, 2e6, 3e6)}); err != nil {
			t.Fatal(err)
		}
	}
	// The first step again: added to it.
	if err := s.WriteRED(a, []storage.REDPoint{redPoint("checkout", "GET /cart", base, 5, 5, 9e6)}); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteRED(b, []storage.REDPoint{redPoint("checkout", "POST /pay", base, 7, 0, 4e6)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, nil)
	q := storage.REDQuery{Services: []string{"checkout"}, Start: uint64(base.UnixNano()), End: uint64(base.Add(time.Hour).UnixNano())}
	got, err := s.ReadRED(a, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("tenant a: %d points, want 4: %+v", len(got), got)
	}
	var calls uint64
	for _, p := range got {
		calls += p.Calls
		if p.Series.Operation != "GET /cart" || p.Series.Dims[0] != (storage.REDDim{Key: "env", Value: "prod"}) || p.Step != uint64(15*time.Second) {
			t.Errorf("point %+v", p)
		}
		if p.Start == uint64(base.UnixNano()) {
			if p.Calls != 15 || p.Errors != 6 || p.Latency.Total() != 4 || len(p.Exemplars) != 4 {
				t.Errorf("first step added up wrong: %+v", p)
			}
		}
	}
	if calls != 45 {
		t.Errorf("tenant a: %d calls, want 45", calls)
	}
	gb, err := s.ReadRED(b, q)
	if err != nil || len(gb) != 1 || gb[0].Series.Operation != "POST /pay" {
		t.Errorf("tenant b reads %+v, %v; want its one point", gb, err)
	}
	if d, err := s.ReadRED(ctx, q); err != nil || len(d) != 0 {
		t.Errorf("default tenant reads %+v, %v; want nothing", d, err)
	}
	q.MaxStep = uint64(5 * time.Minute)
	roll, err := s.ReadRED(a, q)
	if err != nil || len(roll) != 1 || roll[0].Calls != 45 || roll[0].Step != uint64(5*time.Minute) || roll[0].Latency.Total() != 13 {
		t.Fatalf("roll-up: %+v, %v; want one 5m point of 45 calls", roll, err)
	}
	if len(roll[0].Exemplars) != storage.MaxExemplars || !roll[0].Exemplars[0].Error && roll[0].Exemplars[0].Duration < 3e6 {
		t.Errorf("roll-up exemplars %+v", roll[0].Exemplars)
	}
}

func TestREDSeriesRefusesBadStep(t *testing.T) {
	s := openTest(t, t.TempDir(), nil)
	p := redPoint("a", "b", time.Now(), 1, 0, 1)
	p.Step = uint64(7 * time.Minute)
	if err := s.WriteRED(context.Background(), []storage.REDPoint{p}); err == nil {
		t.Fatal("a 7m step was written; want an error")
	}
	s.Shutdown(context.Background())
	if err := s.WriteRED(context.Background(), []storage.REDPoint{redPoint("a", "b", time.Now(), 1, 0, 1)}); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("write after shutdown: %v, want ErrClosed", err)
	}
}

// TestREDSeriesNewestStepShows: a read at roll-up resolution answers the
// roll-up period under way from the fine points, so the newest step shows
// at once.
func TestREDSeriesNewestStepShows(t *testing.T) {
	s := openTest(t, t.TempDir(), nil)
	ctx := context.Background()
	now := time.Now()
	step := now.Truncate(15 * time.Second).Add(-15 * time.Second)
	if err := s.WriteRED(ctx, []storage.REDPoint{redPoint("checkout", "GET /cart", step, 10, 1, 1e6)}); err != nil {
		t.Fatal(err)
	}
	for _, maxStep := range []time.Duration{0, time.Minute, 5 * time.Minute} {
		got, err := s.ReadRED(ctx, storage.REDQuery{Services: []string{"checkout"}, Start: uint64(now.Add(-time.Hour).UnixNano()),
			End: uint64(now.UnixNano()), MaxStep: uint64(maxStep)})
		if err != nil {
			t.Fatal(err)
		}
		var calls uint64
		for _, p := range got {
			calls += p.Calls
			if p.Start+p.Step > uint64(now.Add(time.Second).UnixNano()) && p.Step > uint64(15*time.Second) {
				t.Errorf("max step %s: a point ends in the future: %+v", maxStep, p)
			}
		}
		if calls != 10 {
			t.Errorf("max step %s: %d calls, want 10", maxStep, calls)
		}
	}
}
