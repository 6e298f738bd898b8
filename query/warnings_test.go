package query

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/memory"
)

// warningReader answers from a memory store and warns on every call, as a
// reader that merges several stores does when one of them did not answer.
type warningReader struct{ *memory.Store }

const storeDown = "storage endpoint 10.0.0.2:17271 did not answer, results may be incomplete"

func (r warningReader) Services(ctx context.Context) ([]string, error) {
	storage.Warn(ctx, storeDown)
	return r.Store.Services(ctx)
}

// A reader's warnings are shown in the answer's errors list, each with code
// 503, beside the data.
func TestStorageWarningsShown(t *testing.T) {
	store := newEmptyStore(t)
	if err := store.WriteSpans(t.Context(), seedSpans()); err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(Config{}, warningReader{store}, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	s := &server{Server: srv, store: store}

	e := s.get(t, "/api/services").jaeger(t, http.StatusOK)
	if len(e.Errors) != 1 || e.Errors[0].Code != http.StatusServiceUnavailable || e.Errors[0].Msg != storeDown {
		t.Errorf("errors %+v, want one 503 saying %q", e.Errors, storeDown)
	}
	if svcs := decode[[]string](t, e.Data); !slices.Contains(svcs, "frontend") {
		t.Errorf("services %q, want the store's answer beside the warning", svcs)
	}
}
