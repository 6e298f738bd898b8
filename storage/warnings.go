package storage

import (
	"context"
	"slices"
	"sync"
)

// Warnings collects what went wrong during calls that still answered: a
// Reader that answers with part of its data missing (a client of several
// stores, some of which did not answer) says so with Warn on the call's
// context, and the caller that shows warnings reads them here once the calls
// have returned. Its methods are safe for concurrent use.
type Warnings struct {
	parent *Warnings // an enclosing collector, which sees every warning too

	mu   sync.Mutex
	list []string
}

type warningsKey struct{}

// WithWarnings returns a context that collects the warnings of the calls made
// with it, and the collector to read them from once the calls have returned.
// If ctx already carries a collector, it receives every warning as well.
//
// The query API wraps each request's context with it and shows the warnings
// to the user (Jaeger's "errors" list) beside the answer.
func WithWarnings(ctx context.Context) (context.Context, *Warnings) {
	w := &Warnings{parent: warningsFrom(ctx)}
	return context.WithValue(ctx, warningsKey{}, w), w
}

// Warn records msg on the collector ctx carries (see WithWarnings), and on
// each enclosing one. Without a collector it does nothing: the caller does
// not show warnings.
func Warn(ctx context.Context, msg string) {
	for w := warningsFrom(ctx); w != nil; w = w.parent {
		w.mu.Lock()
		w.list = append(w.list, msg)
		w.mu.Unlock()
	}
}

// warningsFrom returns the collector ctx carries, or nil.
func warningsFrom(ctx context.Context) *Warnings {
	w, _ := ctx.Value(warningsKey{}).(*Warnings)
	return w
}

// List returns the warnings recorded so far, in the order they were added.
// A nil *Warnings has none.
func (w *Warnings) List() []string {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.list)
}
