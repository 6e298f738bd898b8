package testkit

import (
	"context"
	"testing"

	"github.com/scrytrace/scry/internal/app"
)

// Start starts p, a part constructed but not started (a store, say), and
// shuts it down when t ends, failing t if either fails. It returns p, so
// that a test can write s := testkit.Start(t, memory.New()).
func Start[P app.Part](t testing.TB, p P) P {
	t.Helper()
	if err := p.Start(t.Context()); err != nil {
		t.Fatalf("cannot start %T: %v", p, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("cannot shut down %T: %v", p, err)
		}
	})
	return p
}
