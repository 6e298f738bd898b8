// Package badger is Scry's default store: spans in an embedded Badger
// database, laid out so that one write of many spans costs a few keys, reads
// by trace ID cost one seek per time bucket, searches scan a compact time
// index, and data past retention is deleted from disk whole.
//
// FORMAT.md beside this file describes the keys and values.
package badger
