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

// FuzzReplay reads back a segment file of arbitrary bytes, of either format
// version: no panic, and no record (tenant and payload) longer than the
// file.
func FuzzReplay(f *testing.F) {
	rec := func(p string) []byte { // a record body as it is on disk
		b := binary.LittleEndian.AppendUint32(nil, uint32(len(p)))
		b = binary.LittleEndian.AppendUint32(b, crc32.Checksum([]byte(p), castagnoli))
		return append(b, p...)
	}
	v2 := func(tenant, p string) []byte { return rec(string(rune(len(tenant))) + tenant + p) }
	// Version 1: records without a tenant.
	f.Add([]byte(magicV1))
	f.Add(append([]byte(magicV1), rec("hello")...))
	f.Add(append(append([]byte(magicV1), rec("a")...), rec("bc")...))
	f.Add(append([]byte(magicV1), 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4))
	// Version 2: each record starts with its tenant.
	f.Add([]byte(magic))
	f.Add(append([]byte(magic), v2("team-a", "hello")...))
	f.Add(append(append([]byte(magic), v2("", "a")...), v2("team-b", "bc")...))
	f.Add(append([]byte(magic), rec("")...))           // no room for the tenant length
	f.Add(append([]byte(magic), rec("\x7fteam-a")...)) // a tenant longer than the record
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
		_, err = s.Replay(context.Background(), func(tenant string, p []byte, ref *Ref) error {
			if len(tenant) > MaxTenantLen {
				t.Fatalf("a tenant of %d bytes read back", len(tenant))
			}
			total += len(tenant) + len(p) + recHeaderLen
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
