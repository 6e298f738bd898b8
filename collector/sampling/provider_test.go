package sampling_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/collector/sampling"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model/jaegersampling"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Write then rename, as a config management tool would, so the poller
	// never reads half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func probability(r jaegersampling.Response) float64 {
	if r.ProbabilisticSampling == nil {
		return -1
	}
	return r.ProbabilisticSampling.SamplingRate
}

func reloads(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "scry_sampling_strategies_reloads_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// syncBuffer is a log sink safe for the poller and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestNoFile(t *testing.T) {
	p, err := sampling.New(sampling.Config{ReloadInterval: time.Millisecond}, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := string(p.Strategies().JSON("any")); got != `{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.001}}` {
		t.Fatalf("default strategy %s", got)
	}
	if err := p.Reload(); err != nil {
		t.Fatalf("reload without a file: %v", err)
	}
	for range 2 {
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBadFileAtStart(t *testing.T) {
	dir := t.TempDir()
	if _, err := sampling.New(sampling.Config{File: filepath.Join(dir, "missing.json")}, telemetry.Nop()); err == nil ||
		!strings.Contains(err.Error(), "cannot read sampling strategies file") {
		t.Fatalf("missing file: error %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	writeFile(t, bad, `{"default_strategy":{"type":"probabilistic","param":2}}`)
	if _, err := sampling.New(sampling.Config{File: bad}, telemetry.Nop()); err == nil || !strings.Contains(err.Error(), bad) ||
		!strings.Contains(err.Error(), "not a probability") {
		t.Fatalf("bad file: error %v", err)
	}
	if _, err := sampling.New(sampling.Config{ReloadInterval: -time.Second}, telemetry.Nop()); err == nil {
		t.Fatal("negative reload interval: no error")
	}
}

func TestReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "strategies.json")
	writeFile(t, path, `{"service_strategies":[{"service":"a","type":"probabilistic","param":0.25}]}`)
	reg := prometheus.NewRegistry()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	p, err := sampling.New(sampling.Config{File: path, ReloadInterval: 5 * time.Millisecond}, telemetry.Settings{Logger: logger, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	if got := probability(p.Strategy("a")); got != 0.25 {
		t.Fatalf("a: %v, want 0.25", got)
	}

	// A change is picked up.
	writeFile(t, path, `{"service_strategies":[{"service":"a","type":"probabilistic","param":0.75},{"service":"b","type":"ratelimiting","param":9}]}`)
	testkit.Eventually(t, "the changed file to be applied", func() bool { return probability(p.Strategy("a")) == 0.75 })
	if r := p.Strategy("b"); r.RateLimitingSampling == nil || r.RateLimitingSampling.MaxTracesPerSecond != 9 {
		t.Fatalf("b: %+v", r)
	}
	if reloads(t, reg, "ok") != 1 {
		t.Fatalf("ok reloads %v, want 1", reloads(t, reg, "ok"))
	}

	// A bad file keeps the strategies in force, and is reported once.
	writeFile(t, path, `{"service_strategies":[{"service":"a","type":"probabilistic","param":"high"}]}`)
	testkit.Eventually(t, "the bad file to be reported", func() bool { return reloads(t, reg, "error") == 1 })
	if got := probability(p.Strategy("a")); got != 0.75 {
		t.Fatalf("after a bad reload a: %v, want 0.75 kept", got)
	}
	if err := p.Reload(); err != nil {
		t.Fatalf("reloading the same bad file again: %v (it was already reported)", err)
	}
	// A missing file too.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the missing file to be reported", func() bool { return reloads(t, reg, "error") == 2 })
	if got := probability(p.Strategy("a")); got != 0.75 {
		t.Fatalf("after the file went a: %v, want 0.75 kept", got)
	}
	if n := strings.Count(logs.String(), "keeping the current sampling strategies"); n != 2 {
		t.Fatalf("logged %d reload errors, want 2:\n%s", n, logs.String())
	}

	// A good file again is applied.
	writeFile(t, path, `{"default_strategy":{"type":"probabilistic","param":1}}`)
	testkit.Eventually(t, "the fixed file to be applied", func() bool { return probability(p.Strategy("a")) == 1 })
}

func TestReloadDirect(t *testing.T) {
	path := filepath.Join(t.TempDir(), "strategies.json")
	writeFile(t, path, `{"default_strategy":{"type":"probabilistic","param":0.5}}`)
	p, err := sampling.New(sampling.Config{File: path}, telemetry.Nop()) // no polling
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	writeFile(t, path, `{"default_strategy":{"type":"probabilistic"`)
	if err := p.Reload(); err == nil || !strings.Contains(err.Error(), "cannot reload sampling strategies from") {
		t.Fatalf("bad reload: %v", err)
	}
	if got := probability(p.Strategy("x")); got != 0.5 {
		t.Fatalf("after a bad reload: %v, want 0.5 kept", got)
	}
	writeFile(t, path, `{"default_strategy":{"type":"probabilistic","param":0.125}}`)
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := probability(p.Strategy("x")); got != 0.125 {
		t.Fatalf("after a good reload: %v, want 0.125", got)
	}
}

func TestHandler(t *testing.T) {
	path := filepath.Join(t.TempDir(), "strategies.json")
	writeFile(t, path, `{"service_strategies":[{"service":"a b","type":"ratelimiting","param":7}]}`)
	p, err := sampling.New(sampling.Config{File: path}, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	get := func(method, query string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+"/api/sampling"+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	code, h, body := get(http.MethodGet, "?service=a+b")
	if code != http.StatusOK || h.Get("Content-Type") != "application/json" ||
		body != `{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":7}}` {
		t.Fatalf("a b: %d %q %s", code, h.Get("Content-Type"), body)
	}
	if code, _, body := get(http.MethodGet, "?service=unknown"); code != http.StatusOK || !strings.Contains(body, `"samplingRate":0.001`) {
		t.Fatalf("unknown service: %d %s", code, body)
	}
	for _, q := range []string{"", "?", "?service=", "?service=a&service=b", "?svc=a"} {
		if code, _, body := get(http.MethodGet, q); code != http.StatusBadRequest || !strings.Contains(body, "'service' parameter must be provided once") {
			t.Errorf("query %q: %d %s, want 400", q, code, body)
		}
	}
	if code, h, _ := get(http.MethodPost, "?service=a"); code != http.StatusMethodNotAllowed || !strings.Contains(h.Get("Allow"), "GET") {
		t.Errorf("POST: %d, Allow %q", code, h.Get("Allow"))
	}
}
