// Package storagetest is the conformance suite every storage backend runs.
//
// A backend's test calls Run with a function that constructs a fresh, empty
// store, which Run starts:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store { return memory.New() })
//	}
//
// Run checks the contracts written on the storage package's interfaces: that
// every field of a span survives a round trip (through GetTrace and the batch
// read GetTraces), that writes are idempotent and reject invalid IDs without
// losing the rest of the batch, the exact query
// semantics of storage.Query, services, operations, dependencies, concurrent
// use, and the life of a store (no call answered before Start or after
// Shutdown). Each part is its own subtest, so a failure names what broke.
//
// The fixtures are the suite's own, built in Go (fixtures.go): a small shop of
// frontend, checkout, payment and inventory services. IDs and time offsets are
// fixed; timestamps are relative to a base time a few minutes before the run,
// so that backends which drop old data keep all of it.
package storagetest
