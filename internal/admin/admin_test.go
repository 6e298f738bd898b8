package admin_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/internal/admin"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
)

func readyz(t *testing.T, s *admin.Server) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + s.Addr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A check makes /readyz answer not ready, saying why, while it fails, and
// ready again once it clears: unlike a failure, it is not for good.
func TestCheckClears(t *testing.T) {
	s := testkit.Start(t, admin.New("127.0.0.1:0", nil, prometheus.NewRegistry(), telemetry.Nop()))
	var full atomic.Bool
	s.AddCheck(func() error {
		if full.Load() {
			return errors.New("disk full: free space")
		}
		return nil
	})
	s.SetReady(true)
	if code, body := readyz(t, s); code != http.StatusOK {
		t.Fatalf("/readyz with the check passing: %d %q", code, body)
	}
	full.Store(true)
	if code, body := readyz(t, s); code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready: disk full: free space") {
		t.Fatalf("/readyz with the check failing: %d %q, want 503 saying why", code, body)
	}
	full.Store(false)
	if code, body := readyz(t, s); code != http.StatusOK {
		t.Fatalf("/readyz once the check cleared: %d %q", code, body)
	}
}
