package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/scrytrace/scry/internal/testkit"
)

// TestRestartKeepsData stops scry with SIGTERM and starts it again on the
// same data folder: traces, services, operations and dependencies are all
// still there, and new spans are accepted.
func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s1 := startScry(t, "--data-dir", dir)

	exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(s1.OTLPGRPC), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	sent := emitSDKTrace(t, exp, "restart")
	traceID := sent[0].SpanContext().TraceID().String()

	// A cross-service call, for the dependency graph.
	c := s1.traceClient(t)
	tid, parent, child := newTraceID(), newSpanID(), newSpanID()
	start := time.Now().Add(-time.Minute)
	s1.exportOK(t, c,
		resourceSpans("gateway", nil, span(tid, parent, nil, "GET /", tracepb.Span_SPAN_KIND_CLIENT, start, time.Second)),
		resourceSpans("restart", nil, span(tid, child, parent, "POST /checkout", tracepb.Span_SPAN_KIND_SERVER, start, time.Second/2)))

	before := s1.trace(t, traceID)
	deps := fmt.Sprintf("/api/dependencies?endTs=%d&lookback=%d", time.Now().UnixMilli(), (24 * time.Hour).Milliseconds())
	depsBefore := jaeger[json.RawMessage](t, s1, deps).Data
	servicesBefore := jaeger[[]string](t, s1, "/api/services").Data
	opsBefore := jaeger[json.RawMessage](t, s1, "/api/operations?service=restart").Data
	if err := s1.Stop(); err != nil {
		t.Fatalf("scry did not exit cleanly on SIGTERM: %v", err)
	}

	s2 := startScry(t, "--data-dir", dir)
	if after := s2.trace(t, traceID); !reflect.DeepEqual(after, before) {
		t.Errorf("trace after restart differs:\n got %+v\nwant %+v", after, before)
	}
	checkJaegerTrace(t, s2, "restart", sent)
	checkV3Trace(t, s2, sent)
	if got := jaeger[[]string](t, s2, "/api/services").Data; !slices.Equal(got, servicesBefore) || len(got) != 2 {
		t.Errorf("services after restart %v, before %v", got, servicesBefore)
	}
	if got := jaeger[json.RawMessage](t, s2, "/api/operations?service=restart").Data; !jsonEqual(string(got), string(opsBefore)) {
		t.Errorf("operations after restart %s, before %s", got, opsBefore)
	}
	if got := jaeger[json.RawMessage](t, s2, deps).Data; !jsonEqual(string(got), string(depsBefore)) ||
		!jsonEqual(string(got), `[{"parent":"gateway","child":"restart","callCount":1}]`) {
		t.Errorf("dependencies after restart %s, before %s", got, depsBefore)
	}

	batch, ids := smallBatch("restart", 2, 3, "")
	s2.exportOK(t, s2.traceClient(t), batch)
	s2.checkStored(t, ids)
}

// TestKillDuringLoad kills scry with SIGKILL while clients are exporting
// and starts it again on the same data folder: every trace whose export was
// acknowledged is there, complete.
func TestKillDuringLoad(t *testing.T) {
	dir := t.TempDir()
	s1 := startScry(t, "--data-dir", dir)
	acked := exportDuringStop(t, s1, func() {
		s1.Kill()
	})
	s2 := startScry(t, "--data-dir", dir)
	s2.checkStored(t, acked)
}

// TestStopDuringLoad stops scry with SIGTERM while clients are exporting:
// it exits cleanly, and after a restart every acknowledged trace is there.
func TestStopDuringLoad(t *testing.T) {
	dir := t.TempDir()
	s1 := startScry(t, "--data-dir", dir)
	acked := exportDuringStop(t, s1, func() {
		if err := s1.Stop(); err != nil {
			t.Errorf("scry did not exit cleanly on SIGTERM under load: %v", err)
		}
	})
	s2 := startScry(t, "--data-dir", dir)
	s2.checkStored(t, acked)
}

// exportDuringStop exports small batches from several goroutines over
// OTLP/gRPC, calls stop once enough traces were acknowledged (with exports
// still in flight), and returns the traces of every export answered OK.
func exportDuringStop(t *testing.T, s *Scry, stop func()) map[string][]string {
	t.Helper()
	c := s.traceClient(t)
	const (
		workers    = 6
		stopAfter  = 2000 // acknowledged traces
		perRequest = 5    // traces
		perTrace   = 4    // spans
	)
	var (
		mu       sync.Mutex
		acked    = map[string][]string{}
		nAcked   atomic.Int64
		nFailed  atomic.Int64
		partials atomic.Int64
		inFlight atomic.Int64
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				rs, ids := smallBatch(fmt.Sprintf("load-%d", w), perRequest, perTrace, "")
				rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
				inFlight.Add(1)
				resp, err := c.Export(rctx, &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{rs}})
				inFlight.Add(-1)
				rcancel()
				if err != nil {
					nFailed.Add(1)
					continue
				}
				if resp.GetPartialSuccess().GetRejectedSpans() != 0 {
					partials.Add(1)
					continue
				}
				mu.Lock()
				for id, spans := range ids {
					acked[id] = spans
				}
				mu.Unlock()
				nAcked.Add(int64(len(ids)))
			}
		}()
	}
	testkit.EventuallyWithin(t, 60*time.Second, fmt.Sprintf("%d acknowledged traces", stopAfter), func() bool {
		return nAcked.Load() >= stopAfter || s.Exited()
	})
	if s.Exited() {
		t.Fatal("scry exited during the load")
	}
	failedBefore, busy := nFailed.Load(), inFlight.Load()
	stop()
	cancel()
	wg.Wait()
	if failedBefore > 0 || partials.Load() > 0 {
		t.Errorf("before the stop, %d exports failed and %d were partly rejected; want none", failedBefore, partials.Load())
	}
	t.Logf("stopped after %d acknowledged traces with %d exports in flight; %d exports failed from the stop on",
		len(acked), busy, nFailed.Load()-failedBefore)
	return acked
}
