package ui_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/query"
	"github.com/scrytrace/scry/storage/memory"
	"github.com/scrytrace/scry/ui"
)

// TestMountedUnderQueryHandler serves the UI as scry-query does: through
// query.NewHandler under a base path, beside the API.
func TestMountedUnderQueryHandler(t *testing.T) {
	cfg := query.DefaultConfig()
	cfg.BasePath, cfg.UI = "/scry", ui.Handler("/scry")
	h, err := query.NewHandler(cfg, testkit.Start(t, memory.New()), telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	for _, p := range []string{"/scry", "/scry/", "/scry/search?service=a", "/scry/trace/0af7651916cd43dd", "/scry/dependencies"} {
		res, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s = %d %s, want the app's page", p, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy = %q", p, csp)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no X-Content-Type-Options: nosniff", p)
		}
	}
	// The API still answers under the base path.
	res, err := http.Get(srv.URL + "/scry/api/services")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var env struct{ Data []string }
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("GET /scry/api/services = %d, %v", res.StatusCode, err)
	}
}
