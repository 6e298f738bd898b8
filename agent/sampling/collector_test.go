package sampling_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	agentsampling "github.com/scrytrace/scry/agent/sampling"
	collectorsampling "github.com/scrytrace/scry/collector/sampling"
	"github.com/scrytrace/scry/internal/telemetry"
)

// strategies has every shape the collector serves: probabilistic with
// operation strategies, rate limiting with the default's, and the default.
const strategies = `{
  "service_strategies": [
    {"service": "foo", "type": "probabilistic", "param": 0.8,
     "operation_strategies": [{"operation": "op1", "type": "probabilistic", "param": 0.2}]},
    {"service": "bar", "type": "ratelimiting", "param": 5},
    {"service": "plain", "type": "probabilistic", "param": 0.25}
  ],
  "default_strategy": {"type": "probabilistic", "param": 0.5,
    "operation_strategies": [{"operation": "/health", "type": "probabilistic", "param": 0}]}
}`

func body(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s %v", url, resp.StatusCode, b, err)
	}
	return string(b)
}

// TestAgentServesWhatTheCollectorServes runs the agent's proxy in front of
// the collector's real /api/sampling: the agent's /sampling answer is the
// collector's byte for byte, and its / answer differs only in the strategy
// type, as a number.
func TestAgentServesWhatTheCollectorServes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "strategies.json")
	if err := os.WriteFile(file, []byte(strategies), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := collectorsampling.New(collectorsampling.Config{File: file}, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/sampling", p.Handler())
	collector := httptest.NewServer(mux)
	t.Cleanup(collector.Close)

	cfg := agentsampling.DefaultConfig()
	cfg.URL, cfg.Timeout = collector.URL+"/api/sampling", time.Second
	proxy, err := agentsampling.New(cfg, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	agent := httptest.NewServer(proxy)
	t.Cleanup(agent.Close)

	legacy := strings.NewReplacer(`"strategyType":"PROBABILISTIC"`, `"strategyType":0`, `"strategyType":"RATE_LIMITING"`, `"strategyType":1`)
	for _, service := range []string{"foo", "bar", "plain", "unlisted"} {
		want := body(t, collector.URL+"/api/sampling?service="+service)
		if got := body(t, agent.URL+"/sampling?service="+service); got != want {
			t.Errorf("%s: agent's /sampling\n got %s\nwant %s (the collector's)", service, got, want)
		}
		if got, want := body(t, agent.URL+"/?service="+service), legacy.Replace(want); got != want {
			t.Errorf("%s: agent's /\n got %s\nwant %s", service, got, want)
		}
	}
}
