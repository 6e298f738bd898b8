package jaegerhttp_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"

	"github.com/scrytrace/scry/collector/internal/intaketest"
	"github.com/scrytrace/scry/collector/jaegerhttp"
	"github.com/scrytrace/scry/collector/queue"
	"github.com/scrytrace/scry/collector/sampling"
	"github.com/scrytrace/scry/internal/telemetry"
)

// env is a receiver on a free port in front of a real queue and memory
// store, counted by collector.Metrics as jaeger_http, serving a sampling
// provider; URL is Base + TracesPath.
type env struct {
	*intaketest.Env
	r *jaegerhttp.Receiver
}

type options struct {
	queue     queue.Config
	configure func(*jaegerhttp.Config)
	sampling  *sampling.Provider
}

func setup(t *testing.T, o options) *env {
	t.Helper()
	if o.queue == (queue.Config{}) {
		o.queue = queue.DefaultConfig()
	}
	e := &env{Env: intaketest.New(t, o.queue)}
	e.Transport = jaegerhttp.Transport
	cfg := jaegerhttp.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	if o.configure != nil {
		o.configure(&cfg)
	}
	var sh http.Handler
	if o.sampling != nil {
		sh = o.sampling.Handler()
	}
	r, err := jaegerhttp.New(cfg, e.Q, e.Metrics, sh, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	e.Start(t, r, jaegerhttp.TracesPath)
	e.r = r
	return e
}

func encode(t testing.TB, b *jaeger.Batch) []byte {
	t.Helper()
	out, err := thrift.NewTSerializer().Write(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// span returns a Jaeger span of trace (0, tr) with span ID id.
func span(tr, id int64) *jaeger.Span {
	return &jaeger.Span{
		TraceIdLow:    tr,
		SpanId:        id,
		OperationName: "op",
		StartTime:     1_700_000_000_000_000 + id,
		Duration:      1000,
		Tags:          []*jaeger.Tag{{Key: "k", VType: jaeger.TagType_STRING, VStr: thrift.StringPtr("v")}},
	}
}

func batch(spans ...*jaeger.Span) *jaeger.Batch {
	return &jaeger.Batch{Process: &jaeger.Process{ServiceName: "svc"}, Spans: spans}
}
