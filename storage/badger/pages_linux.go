package badger

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/dgraph-io/badger/v4"
)

// releaseTablePages drops the process's mappings of the pages of Badger's
// table files and returns how many bytes of mappings it advised.
//
// Badger writes every table through a shared memory map and reads tables
// through one, so each page of a table written, compacted or searched stays
// mapped into the process, counted in its resident set, until the table is
// deleted: under steady ingest the resident set grows with the data
// written. madvise(MADV_DONTNEED) on a shared file mapping only unmaps the
// pages: they stay in the kernel's page cache, unmapped and so reclaimable
// like any file cache, and the next access maps them again without disk I/O.
//
// A mapping can be advised safely only while its table cannot be closed
// (closing unmaps it, and the address range may then be reused for other
// memory). A Badger iterator holds a reference to every table it covers, so
// this opens one over all keys and advises only the tables listed both
// before and after it was opened: those existed while it was opened.
func (s *Store) releaseTablePages() (int64, error) {
	held := tableIDs(s.bdb)
	txn := s.bdb.NewTransaction(false)
	defer txn.Discard()
	it := txn.NewIterator(badger.IteratorOptions{})
	defer it.Close()
	after := tableIDs(s.bdb)
	for id := range held {
		if !after[id] {
			delete(held, id)
		}
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	var advised int64
	for line := range bytes.Lines(maps) {
		start, end, path, ok := parseMapping(string(line))
		if !ok || filepath.Dir(path) != s.tableDir {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(path), ".sst"), 10, 64)
		if err != nil || !strings.HasSuffix(path, ".sst") || !held[id] {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, start, end-start, syscall.MADV_DONTNEED); errno != 0 {
			return advised, errno
		}
		advised += int64(end - start)
	}
	return advised, nil
}

func tableIDs(db *badger.DB) map[uint64]bool {
	ids := map[uint64]bool{}
	for _, t := range db.Tables() {
		ids[t.ID] = true
	}
	return ids
}

// parseMapping reads one line of /proc/self/maps:
// "start-end perms offset dev inode   path".
func parseMapping(line string) (start, end uintptr, path string, ok bool) {
	rest := strings.TrimRight(line, "\n")
	var fields [5]string
	for i := range fields {
		rest = strings.TrimLeft(rest, " ")
		var found bool
		if fields[i], rest, found = strings.Cut(rest, " "); !found {
			return 0, 0, "", false
		}
	}
	path = strings.TrimLeft(rest, " ")
	lo, hi, found := strings.Cut(fields[0], "-")
	a, err1 := strconv.ParseUint(lo, 16, 64)
	b, err2 := strconv.ParseUint(hi, 16, 64)
	if !found || err1 != nil || err2 != nil || b <= a || !strings.HasPrefix(path, "/") {
		return 0, 0, "", false
	}
	return uintptr(a), uintptr(b), path, true
}
