package sampling

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	jaeger "github.com/uber/jaeger-client-go"
	"go.opentelemetry.io/contrib/samplers/jaegerremote"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model/jaegersampling"
)

// collector is a stand-in for the collector's /api/sampling: it serves the
// body set for a service, or fails while down.
type collector struct {
	*httptest.Server
	mu     sync.Mutex
	bodies map[string]string
	down   atomic.Bool
	calls  atomic.Int64
}

func newCollector(t *testing.T) *collector {
	c := &collector{bodies: map[string]string{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.calls.Add(1)
		if r.URL.Path != "/api/sampling" || c.down.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		c.mu.Lock()
		body, ok := c.bodies[r.URL.Query().Get("service")]
		c.mu.Unlock()
		if !ok {
			body = `{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5}}`
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *collector) set(service, body string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bodies[service] = body
}

// newProxyServer serves a Proxy of upstreamURL over HTTP.
func newProxyServer(t *testing.T, upstreamURL string) *httptest.Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.URL, cfg.Timeout = upstreamURL, time.Second
	p, err := New(cfg, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDefaultWhenNothingFetched(t *testing.T) {
	srv := newProxyServer(t, "http://127.0.0.1:1/api/sampling") // nothing listens on port 1
	code, body := get(t, srv.URL+"/sampling?service=checkout")
	want := `{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.001}}`
	if code != 200 || body != want {
		t.Fatalf("GET /sampling = %d %s, want 200 %s", code, body, want)
	}
	code, body = get(t, srv.URL+"/?service=checkout")
	want = `{"strategyType":0,"probabilisticSampling":{"samplingRate":0.001}}`
	if code != 200 || body != want {
		t.Fatalf("GET / = %d %s, want 200 %s", code, body, want)
	}
}

func TestCachedWhileCollectorAway(t *testing.T) {
	c := newCollector(t)
	c.set("checkout", `{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":7},"extra":"dropped"}`)
	srv := newProxyServer(t, c.URL+"/api/sampling")

	want := `{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":7}}`
	if _, body := get(t, srv.URL+"/sampling?service=checkout"); body != want {
		t.Fatalf("fetched: %s, want %s", body, want)
	}
	c.down.Store(true)
	if _, body := get(t, srv.URL+"/sampling?service=checkout"); body != want {
		t.Fatalf("collector away: %s, want the cached %s", body, want)
	}
	if _, body := get(t, srv.URL+"/?service=checkout"); body != `{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":7}}` {
		t.Fatalf("legacy form while away: %s", body)
	}
	if _, body := get(t, srv.URL+"/sampling?service=other"); !strings.Contains(body, `"samplingRate":0.001`) {
		t.Fatalf("a service never fetched gets %s, want the default", body)
	}
	c.down.Store(false)
	c.set("checkout", `{"probabilisticSampling":{"samplingRate":0.25}}`) // type left out, as proto JSON does for 0
	if _, body := get(t, srv.URL+"/sampling?service=checkout"); body != `{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.25}}` {
		t.Fatalf("collector back: %s", body)
	}
}

func TestBadAnswersAreNotCached(t *testing.T) {
	c := newCollector(t)
	srv := newProxyServer(t, c.URL+"/api/sampling")
	for _, bad := range []string{
		`not json`,
		`{"strategyType":"SOMETHING"}`,
		`{"strategyType":0}`,
		`{"strategyType":0,"probabilisticSampling":{"samplingRate":2}}`,
		`{"strategyType":1}`,
		`{"operationSampling":{"defaultSamplingProbability":0.1,"perOperationStrategies":[{"operation":"x"}]}}`,
	} {
		c.set("s", bad)
		if _, body := get(t, srv.URL+"/sampling?service=s"); !strings.Contains(body, `"samplingRate":0.001`) {
			t.Errorf("collector answered %s; proxy served %s, want the default", bad, body)
		}
	}
}

func TestBadRequests(t *testing.T) {
	srv := newProxyServer(t, "http://127.0.0.1:1/api/sampling")
	for path, want := range map[string]int{
		"/sampling":                     400,
		"/sampling?service=a&service=b": 400,
		"/?service=":                    400,
		"/other?service=a":              404,
	} {
		if code, _ := get(t, srv.URL+path); code != want {
			t.Errorf("GET %s = %d, want %d", path, code, want)
		}
	}
}

const perOperation = `{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5},
 "operationSampling":{"defaultSamplingProbability":0.5,"defaultLowerBoundTracesPerSecond":0.1,
  "perOperationStrategies":[{"operation":"GET /never","probabilisticSampling":{"samplingRate":0}},
                            {"operation":"GET /always","probabilisticSampling":{"samplingRate":1}}]}}`

// TestJaegerClientParses runs jaeger-client-go's remote sampler against the
// proxy. It polls /sampling; "/" (numbers for types) is for clients built on
// Thrift 0.9.2, whose enums do not take names.
func TestJaegerClientParses(t *testing.T) {
	c := newCollector(t)
	c.set("prob", `{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.25}}`)
	c.set("rate", `{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":3}}`)
	c.set("ops", perOperation)
	srv := newProxyServer(t, c.URL+"/api/sampling")
	down := newProxyServer(t, "http://127.0.0.1:1/api/sampling")

	for _, path := range []string{"/sampling"} {
		check := func(base, service string, ok func(jaeger.SamplerV2) bool) {
			t.Helper()
			s := jaeger.NewRemotelyControlledSampler(service,
				jaeger.SamplerOptions.SamplingServerURL(base+path),
				jaeger.SamplerOptions.InitialSampler(jaeger.NewConstSampler(true)),
				jaeger.SamplerOptions.SamplingRefreshInterval(time.Hour))
			defer s.Close()
			s.UpdateSampler()
			if got := s.Sampler(); !ok(got) {
				t.Errorf("%s%s for %s: sampler is %#v", base, path, service, got)
			}
		}
		check(srv.URL, "prob", func(s jaeger.SamplerV2) bool {
			p, ok := s.(*jaeger.ProbabilisticSampler)
			return ok && p.SamplingRate() == 0.25
		})
		check(srv.URL, "rate", func(s jaeger.SamplerV2) bool {
			_, ok := s.(*jaeger.RateLimitingSampler)
			return ok
		})
		check(srv.URL, "ops", func(s jaeger.SamplerV2) bool {
			_, ok := s.(*jaeger.PerOperationSampler)
			return ok
		})
		check(down.URL, "never-fetched", func(s jaeger.SamplerV2) bool {
			p, ok := s.(*jaeger.ProbabilisticSampler)
			return ok && p.SamplingRate() == 0.001
		})
	}
}

// TestOTelJaegerRemoteParses runs OpenTelemetry's jaegerremote sampler
// (strict: it rejects unknown fields) against the proxy.
func TestOTelJaegerRemoteParses(t *testing.T) {
	c := newCollector(t)
	c.set("none", `{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0},"unknown":1}`)
	c.set("ops", perOperation)
	srv := newProxyServer(t, c.URL+"/api/sampling")
	down := newProxyServer(t, "http://127.0.0.1:1/api/sampling")

	sampled := func(base, path, service, op string) (int, []string) {
		var mu sync.Mutex
		var errs []string
		logger := funcr.New(func(prefix, args string) {
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, args)
		}, funcr.Options{})
		s := jaegerremote.New(service,
			jaegerremote.WithSamplingServerURL(base+path),
			jaegerremote.WithInitialSampler(sdktrace.AlwaysSample()),
			jaegerremote.WithSamplingRefreshInterval(time.Hour),
			jaegerremote.WithLogger(logger))
		defer s.Close()
		s.UpdateSampler()
		n := 0
		for range 1000 {
			var id trace.TraceID
			rand.Read(id[:])
			if s.ShouldSample(sdktrace.SamplingParameters{TraceID: id, Name: op}).Decision == sdktrace.RecordAndSample {
				n++
			}
		}
		mu.Lock()
		defer mu.Unlock()
		return n, errs
	}
	for _, path := range []string{"/sampling", "/"} {
		if n, errs := sampled(srv.URL, path, "none", "x"); n != 0 || len(errs) > 0 {
			t.Errorf("%s, rate 0: %d of 1000 sampled, errors %v", path, n, errs)
		}
		if n, errs := sampled(srv.URL, path, "ops", "GET /always"); n != 1000 || len(errs) > 0 {
			t.Errorf("%s, per-operation rate 1: %d of 1000 sampled, errors %v", path, n, errs)
		}
		if n, errs := sampled(down.URL, path, "never-fetched", "x"); n > 20 || len(errs) > 0 {
			t.Errorf("%s, default 0.001: %d of 1000 sampled, errors %v", path, n, errs)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	s, err := jaegersampling.Parse([]byte(perOperation))
	if err != nil {
		t.Fatal(err)
	}
	for _, legacy := range []bool{false, true} {
		again, err := jaegersampling.Parse(encode(s, legacy))
		if err != nil {
			t.Fatalf("legacy=%v: %v", legacy, err)
		}
		a, _ := json.Marshal(s)
		b, _ := json.Marshal(again)
		if string(a) != string(b) {
			t.Fatalf("legacy=%v: %s came back as %s", legacy, a, b)
		}
	}
}
