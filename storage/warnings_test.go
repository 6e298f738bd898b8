package storage_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/scrytrace/scry/storage"
)

func TestWarnings(t *testing.T) {
	// Without a collector on the context, a warning goes nowhere.
	storage.Warn(t.Context(), "ignored")

	outerCtx, outer := storage.WithWarnings(t.Context())
	ctx, inner := storage.WithWarnings(outerCtx)
	if inner.List() != nil {
		t.Errorf("new collector lists %q, want none", inner.List())
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { storage.Warn(ctx, "endpoint down") })
	}
	wg.Wait()
	storage.Warn(outerCtx, "outer only")

	if got := inner.List(); len(got) != 10 {
		t.Errorf("inner collector lists %d warnings, want 10: %q", len(got), got)
	}
	if got, want := outer.List(), append(inner.List(), "outer only"); !slices.Equal(got, want) {
		t.Errorf("outer collector lists %q, want the inner's and its own: %q", got, want)
	}

	var none *storage.Warnings
	if none.List() != nil {
		t.Errorf("nil Warnings lists %q", none.List())
	}
}
