// Package workload generates synthetic traces shaped like the reference
// workload of DESIGN.md: batches of spans, traces of a fixed number of spans
// spread over several services, about ten attributes a span. Benchmarks and
// the load generator use it; output is deterministic for a seed.
package workload

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/scrytrace/scry/model"
)

// Config shapes the generated traces.
type Config struct {
	Services      int // distinct services (default 8)
	SpansPerTrace int // default 10
	// ExtraAttributes adds attributes extra.0 ... extra.N-1 with random
	// values to every span, beyond the ten it always has.
	ExtraAttributes int
	Seed            uint64
}

// Generator makes traces. It is not safe for concurrent use.
type Generator struct {
	cfg       Config
	rng       *rand.Rand
	resources []*model.Resource
	scopes    []*model.Scope
	ops       [][]string
	next      uint64
}

var verbs = []string{"GET", "POST", "PUT", "DELETE"}

// New returns a generator.
func New(cfg Config) *Generator {
	if cfg.Services <= 0 {
		cfg.Services = 8
	}
	if cfg.SpansPerTrace <= 0 {
		cfg.SpansPerTrace = 10
	}
	g := &Generator{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}
	for i := range cfg.Services {
		name := ServiceName(i)
		g.resources = append(g.resources, &model.Resource{Attributes: []model.KeyValue{
			{Key: "service.name", Value: model.StringValue(name)},
			{Key: "service.version", Value: model.StringValue("1.4." + fmt.Sprint(i))},
			{Key: "host.name", Value: model.StringValue(fmt.Sprintf("node-%d.cluster.local", i%3))},
			{Key: "deployment.environment", Value: model.StringValue("production")},
			{Key: "telemetry.sdk.language", Value: model.StringValue("go")},
		}})
		g.scopes = append(g.scopes, &model.Scope{Name: "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", Version: "0.60.0"})
		var ops []string
		for j := range 6 {
			ops = append(ops, fmt.Sprintf("%s /api/%s/v%d", verbs[j%len(verbs)], name, j))
		}
		g.ops = append(g.ops, ops)
	}
	return g
}

// ServiceName is the name of the i-th generated service.
func ServiceName(i int) string { return fmt.Sprintf("service-%d", i) }

// Operation is the j-th operation name of service i (j < 6).
func (g *Generator) Operation(i, j int) string { return g.ops[i][j] }

// Trace returns one trace of SpansPerTrace spans starting at start: a root
// span in service 0 and children spread over the services, each a client or
// server span with about ten attributes.
func (g *Generator) Trace(start time.Time) []*model.Span {
	n := g.cfg.SpansPerTrace
	spans := make([]*model.Span, n)
	store := make([]model.Span, n)
	var tid model.TraceID
	g.next++
	putU64(tid[:8], g.rng.Uint64()|1)
	putU64(tid[8:], g.next)
	base := uint64(start.UnixNano())
	errTrace := g.rng.IntN(100) == 0
	for i := range spans {
		sp := &store[i]
		svc := 0
		if i > 0 && g.cfg.Services > 1 {
			svc = 1 + (i-1)%(g.cfg.Services-1)
		}
		sp.Resource, sp.Scope = g.resources[svc], g.scopes[svc]
		sp.TraceID = tid
		putU64(sp.SpanID[:], g.rng.Uint64()|1)
		sp.Kind = model.SpanKindServer
		op := g.rng.IntN(6)
		sp.Name = g.ops[svc][op]
		if i == 0 {
			sp.StartTime = base
			sp.EndTime = base + uint64(g.rng.ExpFloat64()*float64(40*time.Millisecond)) + uint64(5*time.Millisecond)
		} else {
			// A child starts in the first half of its parent and ends
			// before it does.
			p := spans[g.rng.IntN(i)]
			sp.ParentSpanID = p.SpanID
			d := p.EndTime - p.StartTime
			sp.StartTime = p.StartTime + uint64(g.rng.Int64N(int64(d/2)+1))
			sp.EndTime = sp.StartTime + uint64(g.rng.Int64N(int64(p.EndTime-sp.StartTime)+1))
		}
		status := int64(200)
		if errTrace && i == n-1 {
			status = 500
			sp.Status = model.Status{Code: model.StatusError, Message: "upstream failed"}
		}
		user := g.rng.IntN(10000)
		sp.Attributes = []model.KeyValue{
			{Key: "http.request.method", Value: model.StringValue(verbs[op%len(verbs)])},
			{Key: "http.response.status_code", Value: model.IntValue(status)},
			{Key: "url.path", Value: model.StringValue(fmt.Sprintf("/api/%s/v%d/items/%d", ServiceName(svc), op, g.rng.IntN(1000)))},
			{Key: "server.address", Value: model.StringValue(ServiceName(svc) + ".default.svc")},
			{Key: "server.port", Value: model.IntValue(8080)},
			{Key: "network.protocol.version", Value: model.StringValue("1.1")},
			{Key: "user.id", Value: model.StringValue(fmt.Sprintf("user-%05d", user))},
			{Key: "customer.tier", Value: model.StringValue([]string{"free", "pro", "enterprise"}[user%3])},
			{Key: "http.response.body.size", Value: model.IntValue(int64(g.rng.IntN(64 << 10)))},
			{Key: "cache.hit", Value: model.BoolValue(g.rng.IntN(2) == 0)},
		}
		for a := range g.cfg.ExtraAttributes {
			sp.Attributes = append(sp.Attributes, model.KeyValue{Key: fmt.Sprintf("extra.%d", a), Value: model.IntValue(int64(g.rng.IntN(1000)))})
		}
		spans[i] = sp
	}
	return spans
}

// Batch returns traces enough for n spans (a multiple of SpansPerTrace),
// their starts spread evenly from start by step.
func (g *Generator) Batch(n int, start time.Time, step time.Duration) []*model.Span {
	out := make([]*model.Span, 0, n)
	for t := 0; len(out) < n; t++ {
		out = append(out, g.Trace(start.Add(time.Duration(t)*step))...)
	}
	return out
}

func putU64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (56 - 8*i))
	}
}
