package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/scrytrace/scry/internal/telemetry"
)

func open(t *testing.T, dir string, maxBytes int64) *Spool {
	t.Helper()
	s, err := Open(Config{Dir: dir, MaxBytes: maxBytes}, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func replayAll(t *testing.T, s *Spool, release bool) ([][]byte, ReplayStats) {
	t.Helper()
	var got [][]byte
	st, err := s.Replay(context.Background(), func(p []byte, ref *Ref) error {
		got = append(got, p)
		if release {
			s.Release(ref)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, st
}

func rec(i int) []byte {
	return []byte(fmt.Sprintf("record %d %s", i, bytes.Repeat([]byte{'x'}, i%50)))
}

func TestReleasedRecordsLeaveNoFile(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 1<<20)
	var refs []*Ref
	for i := range 10 {
		ref, err := s.Append(rec(i))
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	if len(segments(t, dir)) == 0 || s.Bytes() == 0 {
		t.Fatal("appended records are not on disk")
	}
	for _, r := range refs {
		s.Release(r)
	}
	if n := segments(t, dir); len(n) != 0 {
		t.Fatalf("segments left after every record was released: %v", n)
	}
	if s.Bytes() != 0 {
		t.Fatalf("Bytes = %d after everything was released", s.Bytes())
	}
	// The spool goes on working after its active segment was deleted.
	ref, err := s.Append(rec(99))
	if err != nil {
		t.Fatal(err)
	}
	s.Release(ref)
}

func TestRecordsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 1<<20)
	var want [][]byte
	for i := range 50 {
		ref, err := s.Append(rec(i))
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			s.Release(ref) // released before the stop: may or may not come back
			continue
		}
		want = append(want, rec(i))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	s2 := open(t, dir, 1<<20)
	if !s2.HasOld() {
		t.Fatal("reopened spool has no old segment")
	}
	got, st := replayAll(t, s2, true)
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g []byte) bool { return bytes.Equal(g, w) }) {
			t.Fatalf("record %q did not come back", w)
		}
	}
	if st.Damaged != 0 {
		t.Fatalf("stats %+v: damaged segments", st)
	}
	if n := segments(t, dir); len(n) != 0 || s2.HasOld() {
		t.Fatalf("replayed and released segments are still there: %v", n)
	}
}

func TestSegmentsRotate(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 1<<20) // segments of 128 KiB
	big := bytes.Repeat([]byte{'y'}, 40<<10)
	for range 10 {
		if _, err := s.Append(big); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segments(t, dir)); n < 3 {
		t.Fatalf("%d segments for 400 KiB, want several", n)
	}
	s.Close()
	s2 := open(t, dir, 1<<20)
	got, _ := replayAll(t, s2, true)
	if len(got) != 10 {
		t.Fatalf("replayed %d records, want 10", len(got))
	}
}

func TestFull(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 2*minSegmentBytes)
	payload := bytes.Repeat([]byte{'z'}, 10<<10)
	var refs []*Ref
	for {
		ref, err := s.Append(payload)
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
		if len(refs) > 100 {
			t.Fatal("spool never filled up")
		}
	}
	if s.Bytes() > 2*minSegmentBytes {
		t.Fatalf("spool holds %d bytes, more than its bound", s.Bytes())
	}
	for _, r := range refs {
		s.Release(r)
	}
	if _, err := s.Append(payload); err != nil {
		t.Fatalf("append after releasing everything: %v", err)
	}
}

func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 1<<20)
	for i := range 3 {
		if _, err := s.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	segs := segments(t, dir)
	info, _ := os.Stat(segs[0])
	if err := os.Truncate(segs[0], info.Size()-3); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, dir, 1<<20)
	got, st := replayAll(t, s2, true)
	if len(got) != 2 || st.Damaged != 1 {
		t.Fatalf("got %d records, stats %+v; want 2 records and 1 damaged segment", len(got), st)
	}
}

func TestChecksumMismatch(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 1<<20)
	for i := range 3 {
		if _, err := s.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	seg := segments(t, dir)[0]
	b, _ := os.ReadFile(seg)
	second := int(headerLen) + recHeaderLen + len(rec(0)) + recHeaderLen
	b[second] ^= 0xff // first byte of the second record's payload
	if err := os.WriteFile(seg, b, 0o640); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, dir, 1<<20)
	got, st := replayAll(t, s2, true)
	if len(got) != 1 || st.Damaged != 1 {
		t.Fatalf("got %d records, stats %+v; want 1 record and 1 damaged segment", len(got), st)
	}
}

func TestHugeDeclaredLength(t *testing.T) {
	dir := t.TempDir()
	// A hand-made segment whose only record claims 4 GiB.
	b := append([]byte(magic), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 'a')
	if err := os.WriteFile(filepath.Join(dir, segName(7)), b, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, segName(8)), []byte("not a segment"), 0o640); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir, 1<<20)
	got, st := replayAll(t, s, true)
	if len(got) != 0 || st.Damaged != 2 {
		t.Fatalf("got %d records, stats %+v; want none and 2 damaged", len(got), st)
	}
	// New segments are numbered after the old ones.
	if _, err := s.Append(rec(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, segName(9))); err != nil {
		t.Fatalf("new segment: %v", err)
	}
}

func TestReplayStopsAndResumes(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 1<<20)
	for i := range 5 {
		if _, err := s.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s2 := open(t, dir, 1<<20)
	stop := errors.New("stop")
	n := 0
	_, err := s2.Replay(context.Background(), func(_ []byte, ref *Ref) error {
		if n == 2 {
			return stop
		}
		n++
		s2.Release(ref)
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Replay = %v, want the callback's error", err)
	}
	s2.Close()
	s3 := open(t, dir, 1<<20)
	got, _ := replayAll(t, s3, true)
	if len(got) != 5 {
		t.Fatalf("second replay read %d records, want all 5 again", len(got))
	}
}

func TestConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 64<<20)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var refs []*Ref
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				ref, err := s.Append(rec(w*1000 + i))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				refs = append(refs, ref)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	s.Close()
	s2 := open(t, dir, 64<<20)
	got, _ := replayAll(t, s2, true)
	if len(got) != 400 {
		t.Fatalf("replayed %d records, want 400", len(got))
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, 1<<20)
	if _, err := Open(Config{Dir: dir, MaxBytes: 1 << 20}, telemetry.Nop()); err == nil {
		t.Fatal("a second Open of the same folder succeeded")
	}
}

func TestAppendAfterClose(t *testing.T) {
	s := open(t, t.TempDir(), 1<<20)
	s.Close()
	if _, err := s.Append(rec(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
}
