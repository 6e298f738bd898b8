// Package queue is the collector's bounded queue and its group-commit writers.
//
// A receiver hands each request's converted spans to Queue.ConsumeSpans,
// which blocks until the spans are committed to the storage.Writer (or the
// caller's context ends). Writer goroutines (Config.Writers) each take every
// request waiting, up to Config.MaxBatchSpans spans, write them with one
// WriteSpans call and answer every request of the batch with the result, so
// concurrent requests share one commit.
//
// The queue is bounded in bytes (Config.MaxBytes, counted with the sizes the
// receivers pass in): a request is held from the moment it is accepted until
// it is answered, and one that does not fit fails at once with
// collector.ErrQueueFull, a retryable error. Nothing accepted is dropped.
//
// When the store rejects spans of a batch (a *storage.RejectedError), the
// queue writes each request of the batch again on its own, which is safe
// because writes are idempotent, so that each request learns exactly which of
// its own spans were rejected.
//
// Lifecycle: New validates the config; Start starts the writers; Shutdown
// stops accepting (ConsumeSpans then fails with collector.ErrStopped), writes
// everything already accepted and waits for the writers. Shutdown is safe to
// call more than once; if its context ends first, pending writes are aborted.
package queue
