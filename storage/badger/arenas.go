package badger

import (
	"reflect"
	"unsafe"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/ristretto/v2/z"
)

// releaseBuilderArenas stops Badger from keeping table-builder arenas
// between table builds and reports whether it could.
//
// Badger builds every table (a memtable flush, each compaction output) in
// an arena that grows to the table's size, and returns the arena to a
// private pool of up to eight that it shrinks only after writes have been
// idle for a while. Under steady ingest the pool therefore holds the eight
// largest recent arenas for good: measured at 60k spans/s, most of the
// process's heap. Badger v4.9.6 has no option for the pool, so this takes
// each arena back out of the pool's channel as soon as it is returned and
// releases it; the next build allocates a fresh one and the garbage
// collector reclaims the old. The goroutine ends when Badger closes the
// pool on DB.Close.
//
// The pool is found by field name; if a Badger upgrade renames a field this
// returns false (TestBuilderArenasReleased fails) and Badger keeps its
// pool: more memory, same behaviour.
func releaseBuilderArenas(db *badger.DB) bool {
	ch, ok := builderPool(db)
	if !ok {
		return false
	}
	go func() {
		for a := range ch {
			a.Release()
		}
	}()
	return true
}

// builderPool returns the channel of Badger's table-builder arena pool.
func builderPool(db *badger.DB) (chan *z.Allocator, bool) {
	f := reflect.ValueOf(db).Elem().FieldByName("allocPool")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*z.AllocatorPool]() {
		return nil, false
	}
	pool := *(**z.AllocatorPool)(unsafe.Pointer(f.UnsafeAddr()))
	if pool == nil {
		return nil, false
	}
	c := reflect.ValueOf(pool).Elem().FieldByName("allocCh")
	if !c.IsValid() || c.Type() != reflect.TypeFor[chan *z.Allocator]() {
		return nil, false
	}
	return *(*chan *z.Allocator)(unsafe.Pointer(c.UnsafeAddr())), true
}
