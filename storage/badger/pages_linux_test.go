package badger

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// flushMemtable makes Badger write its memtable into a table now: it does
// so before dropping a prefix that has data.
func flushMemtable(t testing.TB, s *Store) {
	t.Helper()
	if err := s.bdb.Update(func(txn *badger.Txn) error { return txn.Set([]byte("~flush"), nil) }); err != nil {
		t.Fatal(err)
	}
	if err := s.bdb.DropPrefix([]byte("~flush")); err != nil {
		t.Fatal(err)
	}
}

func TestTablePagesReleased(t *testing.T) {
	s := openTest(t, t.TempDir(), func(c *Config) { c.PageReleaseInterval = -1 })
	ctx := context.Background()
	spans := testSpans(5000, "svc", time.Now().Add(-time.Minute), 1)
	if err := s.WriteSpans(ctx, spans); err != nil {
		t.Fatal(err)
	}
	flushMemtable(t, s)
	readAll := func() [][]*model.Span {
		var out [][]*model.Span
		for i := 0; i < len(spans); i += 10 {
			got, err := s.GetTrace(ctx, spans[i].TraceID, storage.TimeHint{})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, got)
		}
		return out
	}
	first := readAll()
	mapped, _ := mappedMB()
	if mapped <= 0 {
		t.Fatalf("no table page is mapped after reading every trace (%.2f MB)", mapped)
	}
	advised, err := s.releaseTablePages()
	if err != nil {
		t.Fatal(err)
	}
	after, _ := mappedMB()
	if advised == 0 || after > mapped/10 {
		t.Fatalf("advised %d bytes; table pages mapped %.2f MB before, %.2f MB after", advised, mapped, after)
	}
	if again := readAll(); !reflect.DeepEqual(again, first) {
		t.Fatal("traces read after the release differ from before it")
	}
}

// TestTablePagesReleasedUnderLoad releases table pages over and over while
// writes force memtable flushes and compactions (which delete tables) and
// readers check every trace written so far.
func TestTablePagesReleasedUnderLoad(t *testing.T) {
	s := openTest(t, t.TempDir(), func(c *Config) { c.PageReleaseInterval = -1 })
	ctx := context.Background()
	base := time.Now().Add(-time.Minute)
	var written atomic.Int64 // batches written
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.releaseTablePages(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			n := written.Load()
			for b := range n {
				id := testSpans(10, "svc", base, byte(b+1))[0].TraceID
				got, err := s.GetTrace(ctx, id, storage.TimeHint{})
				if err != nil || len(got) != 10 {
					t.Errorf("batch %d: %d spans, %v", b, len(got), err)
					return
				}
			}
		}
	}()
	for b := range 24 {
		if err := s.WriteSpans(ctx, testSpans(2000, "svc", base, byte(b+1))); err != nil {
			t.Fatal(err)
		}
		flushMemtable(t, s)
		written.Store(int64(b + 1))
	}
	close(stop)
	wg.Wait()
	if n := len(s.bdb.Tables()); n == 0 {
		t.Fatal("no tables")
	}
}
