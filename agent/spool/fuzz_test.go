package spool

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/scrytrace/scry/internal/telemetry"
)

// FuzzReplay reads back a segment file of arbitrary bytes: no panic, and no
// record longer than the file.
func FuzzReplay(f *testing.F) {
	rec := func(p string) []byte {
		b := binary.LittleEndian.AppendUint32(nil, uint32(len(p)))
		b = binary.LittleEndian.AppendUint32(b, crc32.Checksum([]byte(p), castagnoli))
		return append(b, p...)
	}
	f.Add([]byte(magic))
	f.Add(append([]byte(magic), rec("hello")...))
	f.Add(append(append([]byte(magic), rec("a")...), rec("bc")...))
	f.Add(append([]byte(magic), 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segName(1)), data, 0o640); err != nil {
			t.Fatal(err)
		}
		s, err := Open(Config{Dir: dir, MaxBytes: 1 << 20}, telemetry.Nop())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var total int
		_, err = s.Replay(context.Background(), func(p []byte, ref *Ref) error {
			total += len(p) + recHeaderLen
			s.Release(ref)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if total > len(data) {
			t.Fatalf("read back %d bytes of records from a %d-byte file", total, len(data))
		}
		if s.Bytes() != 0 {
			t.Fatalf("spool keeps %d bytes after replaying and releasing everything", s.Bytes())
		}
	})
}
