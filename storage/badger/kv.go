package badger

import (
	"bytes"

	"github.com/dgraph-io/badger/v4"
)

// A key space is the part of the Badger database one tenant's keys live in:
// every key of tenant T starts with tenantSpace(T) (FORMAT.md, "Tenants");
// the default tenant's keys have no such prefix. The kv types below are
// Badger's transaction, iterator and write batch seen through a key space:
// the store's code builds and parses keys as if it were alone in the
// database, and they add the prefix on the way in and take it off on the
// way out. With the default tenant's empty prefix they pass keys through
// unchanged.

// prefixTenant starts every key of a tenant's key space.
const prefixTenant = 't'

// tenantSpace returns the prefix of tenant's key space: 't', the name's
// length in one byte, the name. A valid name (storage.ValidateTenant) is 1
// to 150 bytes, so one space's prefix is never the start of another's.
func tenantSpace(tenant string) []byte {
	ns := make([]byte, 0, 2+len(tenant))
	ns = append(ns, prefixTenant, byte(len(tenant)))
	return append(ns, tenant...)
}

// kvDB is the store's database seen through its key space.
type kvDB struct {
	e  *engine
	ns []byte
}

func (d kvDB) key(k []byte) []byte {
	if len(d.ns) == 0 {
		return k
	}
	out := make([]byte, 0, len(d.ns)+len(k))
	return append(append(out, d.ns...), k...)
}

// View runs fn in a read-only transaction of the key space.
func (d kvDB) View(fn func(txn *kvTxn) error) error {
	return d.e.bdb.View(func(t *badger.Txn) error { return fn(&kvTxn{Txn: t, db: d}) })
}

// Update runs fn in a read-write transaction of the key space.
func (d kvDB) Update(fn func(txn *kvTxn) error) error {
	return d.e.bdb.Update(func(t *badger.Txn) error { return fn(&kvTxn{Txn: t, db: d}) })
}

// NewTransaction starts a transaction of the key space; the caller discards it.
func (d kvDB) NewTransaction(update bool) *kvTxn {
	return &kvTxn{Txn: d.e.bdb.NewTransaction(update), db: d}
}

// NewWriteBatch starts a write batch of the key space.
func (d kvDB) NewWriteBatch() *kvBatch {
	return &kvBatch{wb: d.e.bdb.NewWriteBatch(), db: d}
}

// DropPrefix drops the keys of the key space under each prefix.
func (d kvDB) DropPrefix(prefixes ...[]byte) error {
	full := make([][]byte, len(prefixes))
	for i, p := range prefixes {
		full[i] = d.key(p)
	}
	return d.e.bdb.DropPrefix(full...)
}

// kvTxn is a Badger transaction of one key space. Commit and Discard are
// Badger's.
type kvTxn struct {
	*badger.Txn
	db kvDB
}

func (t *kvTxn) Get(k []byte) (*badger.Item, error) { return t.Txn.Get(t.db.key(k)) }
func (t *kvTxn) Set(k, v []byte) error              { return t.Txn.Set(t.db.key(k), v) }
func (t *kvTxn) Delete(k []byte) error              { return t.Txn.Delete(t.db.key(k)) }

// NewIterator iterates over the key space (under opt.Prefix in it, if set).
func (t *kvTxn) NewIterator(opt badger.IteratorOptions) *kvIter {
	if len(t.db.ns) > 0 {
		opt.Prefix = t.db.key(opt.Prefix)
	}
	return &kvIter{Iterator: t.Txn.NewIterator(opt), ns: t.db.ns}
}

// kvIter is a Badger iterator of one key space: its keys come without the
// space's prefix. Valid, Next, Rewind and Close are Badger's.
type kvIter struct {
	*badger.Iterator
	ns []byte
}

func (it *kvIter) Seek(k []byte) {
	if len(it.ns) == 0 {
		it.Iterator.Seek(k)
		return
	}
	it.Iterator.Seek(append(append(make([]byte, 0, len(it.ns)+len(k)), it.ns...), k...))
}

// ValidForPrefix reports whether the iterator is at a key of the space
// that starts with p.
func (it *kvIter) ValidForPrefix(p []byte) bool {
	if !it.Iterator.Valid() {
		return false
	}
	k := it.Iterator.Item().Key()
	return bytes.HasPrefix(k, it.ns) && bytes.HasPrefix(k[len(it.ns):], p)
}

// Item returns the current item, its key without the space's prefix.
func (it *kvIter) Item() kvItem { return kvItem{Item: it.Iterator.Item(), n: len(it.ns)} }

// kvItem is a Badger item whose key is seen without its space's prefix.
type kvItem struct {
	*badger.Item
	n int
}

func (i kvItem) Key() []byte { return i.Item.Key()[i.n:] }

func (i kvItem) KeyCopy(dst []byte) []byte { return append(dst[:0], i.Key()...) }

// kvBatch is a Badger write batch of one key space.
type kvBatch struct {
	wb *badger.WriteBatch
	db kvDB
}

func (b *kvBatch) Set(k, v []byte) error { return b.wb.Set(b.db.key(k), v) }
func (b *kvBatch) Delete(k []byte) error { return b.wb.Delete(b.db.key(k)) }
func (b *kvBatch) Flush() error          { return b.wb.Flush() }
func (b *kvBatch) Cancel()               { b.wb.Cancel() }
