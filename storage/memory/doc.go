// Package memory is an in-memory storage.Store: simple, obviously right, and
// the reference the conformance suite in storagetest is checked against.
//
// Everything lives in Go maps behind one sync.RWMutex: writes take the write
// lock, reads the read lock, so every read sees every write that returned
// before it began. Nothing survives the process; "durable" in the
// storage.Writer contract means "visible to every later read" here. Queries
// scan every stored span, which is fine for tests and small demos and wrong
// for anything large.
//
// Spans are deep-copied on the way in (the caller may reuse its spans once
// WriteSpans returns) and on the way out (callers may modify what they get).
// A span is stored once per distinct content: a span whose trace ID, span ID
// and full content equal a stored span's is not stored again, while a span
// that shares its IDs with a stored span but differs in content (for example
// the client and server halves of a Zipkin shared span) is kept beside it.
package memory
