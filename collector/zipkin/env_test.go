package zipkin_test

import (
	"context"
	"testing"

	"github.com/scrytrace/scry/collector/internal/intaketest"
	"github.com/scrytrace/scry/collector/queue"
	"github.com/scrytrace/scry/collector/zipkin"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// env is a receiver on a free port in front of a real queue and memory
// store, counted by collector.Metrics as zipkin; URL is Base + SpansPath.
type env struct {
	*intaketest.Env
	r *zipkin.Receiver
}

func setup(t *testing.T, qcfg queue.Config, configure func(*zipkin.Config)) *env {
	t.Helper()
	e := &env{Env: intaketest.New(t, qcfg)}
	e.Transport = zipkin.Transport
	cfg := zipkin.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	if configure != nil {
		configure(&cfg)
	}
	r, err := zipkin.New(cfg, e.Q, e.Metrics, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	e.Start(t, r, zipkin.SpansPath)
	e.r = r
	return e
}

func (e *env) trace(t *testing.T, hexID string) []*model.Span {
	t.Helper()
	id, err := model.ParseTraceID(hexID)
	if err != nil {
		t.Fatal(err)
	}
	spans, err := e.Store.GetTrace(context.Background(), id, storage.TimeHint{})
	if err != nil {
		t.Fatalf("trace %s: %v", hexID, err)
	}
	return spans
}
