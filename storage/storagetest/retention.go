package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// Retention is how RunRetention asks a backend to keep traces: Default for
// every trace, Errors for traces with an error span, Slow for traces whose
// root span lasts longer than SlowThreshold.
type Retention struct {
	Default, Errors, Slow time.Duration
	SlowThreshold         time.Duration
}

// RetentionStore is a backend under RunRetention: a store, constructed but
// not started, that reads its time from the suite's Clock, and a function
// that runs its retention once, at the time the clock says.
type RetentionStore struct {
	Store  storage.Store
	Upkeep func(ctx context.Context) error
}

// Clock is the suite's clock, which a backend under RunRetention reads
// instead of the machine's (it satisfies telemetry.Clock).
type Clock struct{ ns atomic.Int64 }

// Now returns the time the suite set.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

func (c *Clock) set(t time.Time) { c.ns.Store(t.UnixNano()) }

// RunRetention checks retention by kind of trace: plain traces go after
// Default, traces with an error span after Errors, slow ones after Slow; a
// kept trace is read back whole, with spans that came in later buckets, and
// is found by service and by attribute until it goes; then it is found no
// more. Backends without retention do not run it.
func RunRetention(t *testing.T, open func(t *testing.T, r Retention, clock *Clock) RetentionStore) {
	t0 := time.Unix(1_800_000_000, 0) // a whole hour
	clock := &Clock{}
	clock.set(t0)
	r := Retention{Default: 12 * time.Minute, Errors: time.Hour, Slow: 2 * time.Hour, SlowThreshold: time.Second}
	rs := open(t, r, clock)
	s := rs.Store
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})

	// Each trace is one service and carries kind=<its name> on every span.
	kinds := []struct {
		name    string
		rootDur time.Duration
		errAt   int // a span with an error status; -1: none
		later   int // spans written a minute later, the error among them if errAt >= 4
	}{
		{"plain", time.Millisecond, -1, 0},
		{"error", time.Millisecond, 2, 0},
		{"slow", 5 * time.Second, -1, 0},
		{"late-error", time.Millisecond, 5, 3},   // the error comes in the later part
		{"split-plain", time.Millisecond, -1, 3}, // a plain trace over two buckets
	}
	spans := map[string][]*model.Span{}
	for i, k := range kinds {
		id := model.TraceID{0x7e, 0x7e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(i + 1)}
		n := 4 + k.later
		for j := range n {
			sp := &model.Span{
				TraceID:  id,
				Resource: &model.Resource{Attributes: []model.KeyValue{str("service.name", "ret-"+k.name)}},
				Scope:    &model.Scope{Name: "retention"},
				Name:     fmt.Sprintf("op-%d", j%2),
				Kind:     model.SpanKindServer,
			}
			sp.SpanID = spanID(id, uint16(j+1))
			start := t0.Add(time.Duration(j) * time.Millisecond)
			if j >= 4 {
				start = t0.Add(time.Minute + time.Duration(j)*time.Millisecond)
			}
			sp.StartTime = uint64(start.UnixNano())
			sp.EndTime = sp.StartTime + uint64(100*time.Microsecond)
			if j == 0 {
				sp.EndTime = sp.StartTime + uint64(k.rootDur)
			} else {
				sp.ParentSpanID = spanID(id, 1)
			}
			if j == k.errAt {
				sp.Status = model.Status{Code: model.StatusError, Message: "boom"}
			}
			sp.Attributes = []model.KeyValue{str("kind", k.name)}
			spans[k.name] = append(spans[k.name], sp)
		}
	}
	// The first four spans of every trace now, the rest a minute later.
	for _, k := range kinds {
		write(t, s, model.CloneSpans(spans[k.name][:4])...)
	}
	clock.set(t0.Add(time.Minute))
	for _, k := range kinds {
		if k.later > 0 {
			write(t, s, model.CloneSpans(spans[k.name][4:])...)
		}
	}

	ctx := t.Context()
	window := func(q storage.Query) storage.Query {
		q.StartMin, q.StartMax = uint64(t0.Add(-time.Minute).UnixNano()), uint64(t0.Add(3*time.Minute).UnixNano())
		q.Kind, q.Limit = storage.AnyKind, 10
		return q
	}
	// check upkeeps at now, then says which traces are there, and whole.
	check := func(now time.Duration, kept ...string) {
		t.Helper()
		clock.set(t0.Add(now))
		if err := rs.Upkeep(ctx); err != nil {
			t.Fatalf("upkeep at t0+%v: %v", now, err)
		}
		for _, k := range kinds {
			want := 0
			for _, name := range kept {
				if name == k.name {
					want = len(spans[k.name])
				}
			}
			id := spans[k.name][0].TraceID
			got, err := s.GetTrace(ctx, id, storage.TimeHint{})
			if errors.Is(err, storage.ErrTraceNotFound) {
				got, err = nil, nil
			}
			if err != nil {
				t.Fatalf("t0+%v: GetTrace(%s): %v", now, k.name, err)
			}
			if len(got) != want {
				t.Errorf("t0+%v: trace %q has %d spans, want %d", now, k.name, len(got), want)
			} else if want > 0 {
				checkTrace(t, got, spans[k.name])
			}
			for _, q := range []storage.Query{
				{Service: "ret-" + k.name},
				{Attributes: []storage.Attribute{{Key: "kind", Value: k.name}}},
				{Service: "ret-" + k.name, Attributes: []storage.Attribute{{Key: "kind", Value: k.name}}},
			} {
				refs, err := s.FindTraceIDs(ctx, window(q))
				if err != nil {
					t.Fatalf("t0+%v: FindTraceIDs(%+v): %v", now, q, err)
				}
				if wantN := min(want, 1); len(refs) != wantN || wantN == 1 && refs[0].TraceID != id {
					t.Errorf("t0+%v: search %+v for %q found %v, want %d trace(s)", now, q, k.name, refs, wantN)
				}
			}
		}
	}
	check(5*time.Minute, "plain", "error", "slow", "late-error", "split-plain")
	check(30*time.Minute, "error", "slow", "late-error")
	check(90*time.Minute, "slow")
	check(3 * time.Hour)
}
