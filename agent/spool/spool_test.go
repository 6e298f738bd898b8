package spool

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
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
	st, err := s.Replay(context.Background(), func(_ string, p []byte, ref *Ref) error {
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
		ref, err := s.Append("", rec(i))
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
	ref, err := s.Append("", rec(99))
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
		ref, err := s.Append("", rec(i))
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
		if _, err := s.Append("", big); err != nil {
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
		ref, err := s.Append("", payload)
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
	if _, err := s.Append("", payload); err != nil {
		t.Fatalf("append after releasing everything: %v", err)
	}
}

func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 1<<20)
	for i := range 3 {
		if _, err := s.Append("", rec(i)); err != nil {
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
		if _, err := s.Append("", rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	seg := segments(t, dir)[0]
	b, _ := os.ReadFile(seg)
	second := int(headerLen) + recHeaderLen + 1 + len(rec(0)) + recHeaderLen + 1
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
	if _, err := s.Append("", rec(1)); err != nil {
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
		if _, err := s.Append("", rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s2 := open(t, dir, 1<<20)
	stop := errors.New("stop")
	n := 0
	_, err := s2.Replay(context.Background(), func(_ string, _ []byte, ref *Ref) error {
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
				ref, err := s.Append("", rec(w*1000+i))
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
	if _, err := s.Append("", rec(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
}

// tenantRec is a record as Replay hands it out.
type tenantRec struct {
	tenant  string
	payload string
}

func replayTenants(t *testing.T, s *Spool) ([]tenantRec, ReplayStats) {
	t.Helper()
	var got []tenantRec
	st, err := s.Replay(context.Background(), func(tenant string, p []byte, ref *Ref) error {
		got = append(got, tenantRec{tenant, string(p)})
		s.Release(ref)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, st
}

func TestTenantsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 1<<20)
	long := string(bytes.Repeat([]byte{'t'}, MaxTenantLen))
	want := []tenantRec{{"team-a", "a1"}, {"", "none"}, {"team-b", "b1"}, {"team-a", ""}, {long, "long"}}
	for _, r := range want {
		if _, err := s.Append(r.tenant, []byte(r.payload)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Append(long+"x", []byte("too long")); err == nil {
		t.Fatalf("a tenant of %d bytes was spooled", MaxTenantLen+1)
	}
	s.Close()
	got, st := replayTenants(t, open(t, dir, 1<<20))
	if !slices.Equal(got, want) || st.Damaged != 0 {
		t.Fatalf("read back %q (stats %+v), want %q", got, st, want)
	}
}

// v1Segment builds a version 1 segment (records without a tenant), as
// agents before tenants wrote them.
func v1Segment(payloads ...string) []byte {
	b := []byte(magicV1)
	for _, p := range payloads {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = binary.LittleEndian.AppendUint32(b, crc32.Checksum([]byte(p), castagnoli))
		b = append(b, p...)
	}
	return b
}

func TestVersion1SegmentsAreReadWithoutTenant(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, segName(3)), v1Segment("old one", "\x06team-a looks like a tenant"), 0o640); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir, 1<<20)
	got, st := replayTenants(t, s)
	want := []tenantRec{{"", "old one"}, {"", "\x06team-a looks like a tenant"}}
	if !slices.Equal(got, want) || st.Damaged != 0 {
		t.Fatalf("read back %q (stats %+v), want %q", got, st, want)
	}
	if n := segments(t, dir); len(n) != 0 {
		t.Fatalf("the version 1 segment is still there once read and released: %v", n)
	}
	// What is written now is version 2.
	if _, err := s.Append("team-a", []byte("new")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, segName(4)))
	if err != nil || !bytes.HasPrefix(b, []byte(magic)) {
		t.Fatalf("new segment starts %q (%v), want %q", b[:min(len(b), 8)], err, magic)
	}
}

func TestRecordTooShortForItsTenant(t *testing.T) {
	dir := t.TempDir()
	for i, body := range []string{"", "\x09team-a"} { // no tenant length; a length past the body
		b := []byte(magic)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(body)))
		b = binary.LittleEndian.AppendUint32(b, crc32.Checksum([]byte(body), castagnoli))
		b = append(b, body...)
		if err := os.WriteFile(filepath.Join(dir, segName(uint64(i+1))), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	got, st := replayTenants(t, open(t, dir, 1<<20))
	if len(got) != 0 || st.Damaged != 2 {
		t.Fatalf("read back %q (stats %+v), want nothing and 2 damaged segments", got, st)
	}
}
