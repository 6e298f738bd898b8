package storagetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// testConcurrent runs writers of distinct traces alongside readers that
// check, as they go, that every write which returned before a read began is
// visible to it; then checks that everything is there. Readers stop when the
// writers are done or after maxReads rounds, whichever comes first.
func (h *harness) testConcurrent(t *testing.T) {
	const (
		writers   = 8
		readers   = 4
		perWriter = 20
		perTrace  = 4 // spans in concTrace
		// maxReads bounds each reader's rounds, so that readers cannot
		// starve the writers on a small machine.
		maxReads = 250
	)
	s := h.store(t)
	ctx := t.Context()
	var done [writers]atomic.Int64 // traces fully written, per writer
	var writersWG, readersWG sync.WaitGroup
	stop := make(chan struct{})

	for w := range writers {
		writersWG.Add(1)
		go func() {
			defer writersWG.Done()
			for i := range perWriter {
				spans := h.fx.concTrace(w, i)
				// Each trace in two calls: the second holds the other service.
				for _, batch := range [][]int{{0, 1}, {2, 3}} {
					if err := s.WriteSpans(ctx, spans[batch[0]:batch[1]+1]); err != nil {
						t.Errorf("writer %d, trace %d: WriteSpans: %v", w, i, err)
						return
					}
				}
				done[w].Store(int64(i + 1))
			}
		}()
	}

	var reads atomic.Int64
	for r := range readers {
		readersWG.Add(1)
		go func() {
			defer readersWG.Done()
			for n := 0; n < maxReads; n++ {
				select {
				case <-stop:
					return
				default:
				}
				w := (r + n) % writers
				complete := int(done[w].Load())
				if complete > 0 {
					id := concTraceID(w, n%complete)
					spans, err := s.GetTrace(ctx, id, storage.TimeHint{})
					if err != nil {
						t.Errorf("reader %d: GetTrace of a trace fully written before the read: %v", r, err)
						return
					}
					if len(spans) != perTrace {
						t.Errorf("reader %d: GetTrace(%s) of a trace fully written before the read: got %d spans, want %d", r, id, len(spans), perTrace)
						return
					}
				}
				refs, err := s.FindTraceIDs(ctx, storage.Query{Service: concService(w), Kind: storage.AnyKind, Limit: 1000})
				if err != nil {
					t.Errorf("reader %d: FindTraceIDs: %v", r, err)
					return
				}
				if len(refs) < complete || len(refs) > perWriter {
					t.Errorf("reader %d: FindTraceIDs(service %s) found %d traces; %d were written before the search began, %d at most",
						r, concService(w), len(refs), complete, perWriter)
					return
				}
				if _, err := s.GetTrace(ctx, concTraceID(w, perWriter+1), storage.TimeHint{}); !errors.Is(err, storage.ErrTraceNotFound) {
					t.Errorf("reader %d: GetTrace of a trace never written: got %v, want ErrTraceNotFound", r, err)
					return
				}
				if complete > 0 {
					ids := []model.TraceID{concTraceID(w, complete-1), concTraceID(w, perWriter+1)}
					got, err := s.GetTraces(ctx, ids, storage.TimeHint{})
					if err != nil || len(got) != 2 || len(got[0]) != perTrace || len(got[1]) != 0 {
						t.Errorf("reader %d: GetTraces of a trace fully written before the read and one never written: got %d results, %v; want %d spans and none",
							r, len(got), err, perTrace)
						return
					}
				}
				switch n % 3 {
				case 0:
					_, err = s.Services(ctx)
				case 1:
					_, err = s.Operations(ctx, concService(w), storage.AnyKind)
				case 2:
					_, err = s.Dependencies(ctx, h.fx.base, h.fx.at(time.Hour))
				}
				if err != nil {
					t.Errorf("reader %d: %v", r, err)
					return
				}
				reads.Add(1)
			}
		}()
	}
	writersWG.Wait()
	close(stop)
	readersWG.Wait()
	if t.Failed() {
		return
	}
	t.Logf("readers completed %d rounds", reads.Load())

	for w := range writers {
		for i := range perWriter {
			checkTrace(t, getTrace(t, s, concTraceID(w, i)), h.fx.concTrace(w, i))
		}
		refs, err := s.FindTraceIDs(ctx, storage.Query{Service: concService(w), Kind: storage.AnyKind, Limit: 1000})
		if err != nil {
			t.Fatalf("FindTraceIDs: %v", err)
		}
		if len(refs) != perWriter {
			t.Errorf("FindTraceIDs(service %s): got %d traces, want %d", concService(w), len(refs), perWriter)
		}
	}
	svcs, err := s.Services(ctx)
	if err != nil {
		t.Fatalf("Services: %v", err)
	}
	if len(svcs) != writers+1 {
		t.Errorf("Services: got %q, want conc-0 to conc-%d and conc-db", svcs, writers-1)
	}
	deps, err := s.Dependencies(ctx, h.fx.base, h.fx.at(time.Hour))
	if err != nil {
		t.Fatalf("Dependencies: %v", err)
	}
	if len(deps) != writers {
		t.Fatalf("Dependencies: got %s, want conc-N->conc-db for each of %d writers", showLinks(deps), writers)
	}
	for _, d := range deps {
		if d.Child != "conc-db" || d.CallCount != perWriter {
			t.Errorf("Dependencies: got %s->%s:%d, want %d calls to conc-db", d.Parent, d.Child, d.CallCount, perWriter)
		}
	}
}
