package grpcserver

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/telemetry"
)

// A server whose listener fails after Start reports the failure; one shut
// down normally reports nothing.
func TestFailureAfterStartIsReported(t *testing.T) {
	failures := telemetry.NewFailures()
	s := New("test server", "127.0.0.1:0", nil, telemetry.Settings{Failures: failures})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	s.ln.Close()
	select {
	case <-failures.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("the failure was not reported")
	}
	if err := errors.Join(failures.Errs()...); !strings.Contains(err.Error(), "test server stopped serving on "+addr) {
		t.Fatalf("failure %q does not name the server and its address", err)
	}
	_ = s.Shutdown(context.Background())

	quiet := telemetry.NewFailures()
	s = New("test server", "127.0.0.1:0", nil, telemetry.Settings{Failures: quiet})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if errs := quiet.Errs(); len(errs) != 0 {
		t.Fatalf("a server shut down normally reported %v", errs)
	}
}
