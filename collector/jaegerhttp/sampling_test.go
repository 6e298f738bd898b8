package jaegerhttp_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	jaegerclient "github.com/uber/jaeger-client-go"
	"go.opentelemetry.io/contrib/samplers/jaegerremote"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/scrytrace/scry/collector/jaegerhttp"
	"github.com/scrytrace/scry/collector/sampling"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
)

const strategies = `{
  "service_strategies": [
    {"service": "always", "type": "probabilistic", "param": 1.0},
    {"service": "never", "type": "probabilistic", "param": 0.0},
    {"service": "by-operation", "type": "probabilistic", "param": 0.0,
     "operation_strategies": [{"operation": "GET /sampled", "type": "probabilistic", "param": 1.0}]}
  ],
  "default_strategy": {"type": "probabilistic", "param": 0.5}
}`

// samplingEnv is a receiver serving a provider of a strategies file.
func samplingEnv(t *testing.T) (*env, *sampling.Provider, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "strategies.json")
	if err := os.WriteFile(path, []byte(strategies), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := sampling.New(sampling.Config{File: path}, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	e := setup(t, options{sampling: p})
	return e, p, path
}

// errorLog collects what a client logs as failures.
type errorLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *errorLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, s)
}

func (l *errorLog) failures() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, m := range l.msgs {
		if strings.Contains(m, "fail") || strings.Contains(m, "error") {
			out = append(out, m)
		}
	}
	return out
}

// Error and Infof make errorLog a jaeger-client-go Logger (which logs its
// failures with Infof).
func (l *errorLog) Error(msg string)           { l.add(msg) }
func (l *errorLog) Infof(msg string, a ...any) { l.add(fmt.Sprintf(msg, a...)) }

// otelOption makes the OpenTelemetry sampler log to l.
func (l *errorLog) otelOption() jaegerremote.Option {
	return jaegerremote.WithLogger(funcr.New(func(prefix, args string) { l.add(prefix + " " + args) }, funcr.Options{}))
}

func randomTraceID() trace.TraceID {
	var id trace.TraceID
	for i := range id {
		id[i] = byte(rand.Uint32())
	}
	return id
}

// otelDecisions asks s about n random traces of a root span named name and
// returns how many it sampled.
func otelDecisions(s sdktrace.Sampler, name string, n int) int {
	sampled := 0
	for range n {
		res := s.ShouldSample(sdktrace.SamplingParameters{
			ParentContext: context.Background(), TraceID: randomTraceID(), Name: name, Kind: trace.SpanKindServer,
		})
		if res.Decision == sdktrace.RecordAndSample {
			sampled++
		}
	}
	return sampled
}

// TestOTelRemoteSampler points OpenTelemetry's Jaeger remote sampler at the
// collector's sampling endpoint.
func TestOTelRemoteSampler(t *testing.T) {
	e, p, path := samplingEnv(t)
	url := e.Base + jaegerhttp.SamplingPath
	var log errorLog
	newSampler := func(service string, initial sdktrace.Sampler) *jaegerremote.Sampler {
		s := jaegerremote.New(service,
			jaegerremote.WithSamplingServerURL(url),
			jaegerremote.WithSamplingRefreshInterval(time.Hour),
			jaegerremote.WithInitialSampler(initial),
			log.otelOption())
		t.Cleanup(s.Close)
		s.UpdateSampler() // as the poller does at start; synchronous here
		return s
	}
	const n = 50
	always := newSampler("always", sdktrace.NeverSample())
	if got := otelDecisions(always, "op", n); got != n {
		t.Errorf("service always: sampled %d of %d", got, n)
	}
	never := newSampler("never", sdktrace.AlwaysSample())
	if got := otelDecisions(never, "op", n); got != 0 {
		t.Errorf("service never: sampled %d of %d", got, n)
	}
	byOp := newSampler("by-operation", sdktrace.AlwaysSample())
	if got := otelDecisions(byOp, "GET /sampled", n); got != n {
		t.Errorf("by-operation, GET /sampled: sampled %d of %d", got, n)
	}
	if got := otelDecisions(byOp, "GET /other", n); got != 0 {
		t.Errorf("by-operation, GET /other: sampled %d of %d", got, n)
	}
	if f := log.failures(); len(f) > 0 {
		t.Fatalf("sampler logged failures: %q", f)
	}
	// (The log does catch failures.)
	var badLog errorLog
	bad := jaegerremote.New("always", jaegerremote.WithSamplingServerURL(e.Base+"/nope"),
		jaegerremote.WithSamplingRefreshInterval(time.Hour), badLog.otelOption())
	bad.UpdateSampler()
	bad.Close()
	if len(badLog.failures()) == 0 {
		t.Fatal("a sampler pointed at a wrong URL logged no failure")
	}

	// A changed file reaches the sampler at its next poll.
	if err := os.WriteFile(path, []byte(`{"service_strategies":[{"service":"always","type":"probabilistic","param":0}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	// (Polled: the sampler's own first fetch, from New, may land late.)
	testkit.Eventually(t, "the sampler to take the reloaded strategy", func() bool {
		always.UpdateSampler()
		return otelDecisions(always, "op", n) == 0
	})
	// A bad file does not.
	if err := os.WriteFile(path, []byte(`{"service_strategies":[{"service":"always","type":"probabilistic","param":7}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(); err == nil {
		t.Fatal("bad file reloaded")
	}
	always.UpdateSampler()
	if got := otelDecisions(always, "op", n); got != 0 {
		t.Errorf("service always after a bad reload: sampled %d of %d, want the old strategy (0)", got, n)
	}
	if f := log.failures(); len(f) > 0 {
		t.Fatalf("sampler logged failures: %q", f)
	}
}

// TestJaegerClientRemoteSampler points jaeger-client-go's remote sampler at
// the collector's sampling endpoint.
func TestJaegerClientRemoteSampler(t *testing.T) {
	e, _, _ := samplingEnv(t)
	url := e.Base + jaegerhttp.SamplingPath
	var log errorLog
	newSampler := func(service string, initial bool) *jaegerclient.RemotelyControlledSampler {
		s := jaegerclient.NewRemotelyControlledSampler(service,
			jaegerclient.SamplerOptions.SamplingServerURL(url),
			jaegerclient.SamplerOptions.SamplingRefreshInterval(time.Hour),
			jaegerclient.SamplerOptions.InitialSampler(jaegerclient.NewConstSampler(initial)),
			jaegerclient.SamplerOptions.Logger(&log))
		s.UpdateSampler() // as the poller does; synchronous here
		return s          // closed by the tracer that uses it
	}
	// decisions starts 50 root spans named op with a tracer using s, as an
	// application does, and counts the sampled ones.
	decisions := func(s *jaegerclient.RemotelyControlledSampler, op string) int {
		tracer, closer := jaegerclient.NewTracer("unused", s, jaegerclient.NewNullReporter())
		defer closer.Close()
		sampled := 0
		for range 50 {
			sp := tracer.StartSpan(op)
			if sp.Context().(jaegerclient.SpanContext).IsSampled() {
				sampled++
			}
			sp.Finish()
		}
		return sampled
	}
	always := newSampler("always", false)
	if _, ok := always.Sampler().(*jaegerclient.ProbabilisticSampler); !ok {
		t.Fatalf("service always: sampler %T, want probabilistic", always.Sampler())
	}
	if got := decisions(always, "op"); got != 50 {
		t.Errorf("service always: sampled %d of 50", got)
	}
	if got := decisions(newSampler("never", true), "op"); got != 0 {
		t.Errorf("service never: sampled %d of 50", got)
	}
	byOp := newSampler("by-operation", false)
	if _, ok := byOp.Sampler().(*jaegerclient.PerOperationSampler); !ok {
		t.Fatalf("service by-operation: sampler %T, want per-operation", byOp.Sampler())
	}
	if got := decisions(byOp, "GET /sampled"); got != 50 {
		t.Errorf("by-operation, GET /sampled: sampled %d of 50", got)
	}
	// jaeger-client-go gives an operation not listed a lower-bound rate
	// limiter with one credit to start with, even at a lower bound of 0
	// traces a second (as Jaeger's collector sends it): the first trace may
	// pass.
	if got := decisions(byOp, "GET /other"); got > 1 {
		t.Errorf("by-operation, GET /other: sampled %d of 50", got)
	}
	other := newSampler("someone-else", false)
	ps, ok := other.Sampler().(*jaegerclient.ProbabilisticSampler)
	if !ok || ps.SamplingRate() != 0.5 {
		t.Errorf("default: sampler %T %v, want probabilistic 0.5", other.Sampler(), other.Sampler())
	}
	other.Close()
	if f := log.failures(); len(f) > 0 {
		t.Fatalf("sampler logged failures: %q", f)
	}
}
