package jaegerudp_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/collector/internal/intaketest"
	"github.com/scrytrace/scry/collector/jaegerudp"
	"github.com/scrytrace/scry/collector/queue"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/memory"
)

// gatedWriter is a store whose writes wait for the gate to open: a slow
// disk.
type gatedWriter struct {
	*memory.Store
	gate chan struct{}
}

func (g gatedWriter) WriteSpans(ctx context.Context, spans []*model.Span) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Store.WriteSpans(ctx, spans)
}

// collectorStack is a server in front of a ConsumerSink in front of the
// counted queue, as the collectors wire them.
type collectorStack struct {
	server *jaegerudp.Server
	sink   *jaegerudp.ConsumerSink
	queue  *queue.Queue
	store  *memory.Store
	reg    *prometheus.Registry
}

func startStack(t *testing.T, w storage.Writer, store *memory.Store, qc queue.Config, maxInFlight int) *collectorStack {
	t.Helper()
	reg := prometheus.NewRegistry()
	q, err := queue.New(qc, w, telemetry.Settings{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	m, err := collector.NewMetrics(reg, intaketest.MetricPrefix, "committed")
	if err != nil {
		t.Fatal(err)
	}
	sink, err := jaegerudp.NewConsumerSink(q, m, maxInFlight, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	s, err := jaegerudp.New(testConfig(), sink, telemetry.Settings{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := &collectorStack{server: s, sink: sink, queue: q, store: store, reg: reg}
	t.Cleanup(func() { st.shutdown(t, 5*time.Second) })
	return st
}

// shutdown stops the parts in the collectors' order: server, sink, queue.
func (st *collectorStack) shutdown(t *testing.T, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return errors.Join(st.server.Shutdown(ctx), st.sink.Shutdown(ctx), st.queue.Shutdown(ctx))
}

func (st *collectorStack) spans(t testing.TB, name, transport string, extra ...string) float64 {
	labels := map[string]string{"transport": transport}
	if len(extra) == 2 {
		labels[extra[0]] = extra[1]
	}
	return intaketest.Counter(t, st.reg, "scry_receiver_spans_"+name+"_total", labels)
}

func TestConsumerSinkStoresSpans(t *testing.T) {
	store := testkit.Start(t, memory.New())
	st := startStack(t, store, store, queue.DefaultConfig(), jaegerudp.DefaultMaxInFlight)
	b := batch("stored", 4)
	b.Spans[3].SpanId = 0 // invalid
	send(t, st.server.Addrs().Compact, packet(t, b, true))
	send(t, st.server.Addrs().Binary, packet(t, batch("stored", 2), false))
	testkit.Eventually(t, "the spans committed", func() bool {
		return st.spans(t, "accepted", jaegerudp.TransportCompact) == 3 && st.spans(t, "accepted", jaegerudp.TransportBinary) == 2
	})
	testkit.GatherCounts(t, st.reg, intaketest.MetricPrefix, jaegerudp.TransportCompact).Check(t, testkit.Counts{
		Received: 4, Accepted: 3, Rejected: map[string]float64{"invalid": 1},
	})
	testkit.GatherCounts(t, st.reg, intaketest.MetricPrefix, jaegerudp.TransportBinary).Check(t, testkit.Counts{
		Received: 2, Accepted: 2,
	})
	hi, lo := be(b.Spans[0].TraceIdHigh), be(b.Spans[0].TraceIdLow)
	tid := model.TraceID(append(hi[:], lo[:]...))
	spans, err := store.GetTrace(context.Background(), tid, storage.TimeHint{})
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 3 {
		t.Fatalf("stored %d spans of the trace, want 3", len(spans))
	}
}

// TestConsumerSinkNeverWaits: with storage stuck, the workers go on (they
// never wait for a commit); past MaxInFlight calls under way, spans are
// refused as buffer_full, and past the queue's bound, as queue_full.
func TestConsumerSinkNeverWaits(t *testing.T) {
	p := packet(t, batch("stuck", 5), true)
	for _, tc := range []struct {
		name        string
		queueBytes  int64
		maxInFlight int
		reason      string
	}{
		{"in flight", queue.DefaultMaxBytes, 2, "buffer_full"},
		{"queue", int64(2*len(p) + len(p)/2), jaegerudp.DefaultMaxInFlight, "queue_full"}, // packets differ by a few bytes
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := testkit.Start(t, memory.New())
			gate := make(chan struct{})
			var once sync.Once
			open := func() { once.Do(func() { close(gate) }) }
			qc := queue.DefaultConfig()
			qc.MaxBytes = tc.queueBytes
			st := startStack(t, gatedWriter{Store: store, gate: gate}, store, qc, tc.maxInFlight)
			t.Cleanup(open) // before the stack's shutdown
			// Two packets are taken and wait for storage; the others are
			// refused at once.
			const packets = 6
			for i := range packets {
				send(t, st.server.Addrs().Compact, packet(t, batch("stuck", 5), true))
				if i < 2 {
					testkit.Eventually(t, "the packet in the queue", func() bool { return st.queue.Stats().Spans == int64(5*(i+1)) })
				}
			}
			testkit.Eventually(t, "every span counted", func() bool {
				return st.spans(t, "received", jaegerudp.TransportCompact) == packets*5
			})
			if got := st.spans(t, "refused", jaegerudp.TransportCompact, "reason", tc.reason); got != (packets-2)*5 {
				t.Fatalf("refused{%s} = %v, want %d", tc.reason, got, (packets-2)*5)
			}
			wantDropped := 0.0
			if tc.reason == "buffer_full" {
				wantDropped = packets - 2
			}
			if got := dropped(t, st.reg, jaegerudp.TransportCompact, jaegerudp.DropBufferFull); got != wantDropped {
				t.Errorf("packets dropped buffer_full = %v, want %v", got, wantDropped)
			}
			// The storage recovers: what was queued is stored, and new
			// packets are taken again.
			open()
			testkit.Eventually(t, "the queued spans committed", func() bool {
				return st.spans(t, "accepted", jaegerudp.TransportCompact) == 10
			})
			send(t, st.server.Addrs().Compact, packet(t, batch("after", 5), true))
			testkit.Eventually(t, "a packet after recovery committed", func() bool {
				return st.spans(t, "accepted", jaegerudp.TransportCompact) == 15
			})
		})
	}
}

// TestConsumerSinkShutdown: Shutdown waits for the commits under way, and
// when its context ends first, gives up on them.
func TestConsumerSinkShutdown(t *testing.T) {
	t.Run("waits for commits", func(t *testing.T) {
		store := testkit.Start(t, memory.New())
		gate := make(chan struct{})
		st := startStack(t, gatedWriter{Store: store, gate: gate}, store, queue.DefaultConfig(), jaegerudp.DefaultMaxInFlight)
		send(t, st.server.Addrs().Binary, packet(t, batch("shutdown", 3), false))
		testkit.Eventually(t, "the spans in the queue", func() bool { return st.queue.Stats().Spans == 3 })
		time.AfterFunc(50*time.Millisecond, func() { close(gate) })
		if err := st.shutdown(t, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if got := st.spans(t, "accepted", jaegerudp.TransportBinary); got != 3 {
			t.Fatalf("accepted = %v after shutdown, want 3", got)
		}
		if err := st.sink.Shutdown(context.Background()); err != nil {
			t.Fatalf("second Shutdown: %v", err)
		}
		if st.sink.TakeSpans(jaegerudp.TransportBinary, make([]*model.Span, 1), nil, 1) {
			t.Fatal("TakeSpans after Shutdown took the spans")
		}
	})
	t.Run("gives up when the context ends", func(t *testing.T) {
		store := testkit.Start(t, memory.New())
		gate := make(chan struct{})
		defer close(gate)
		st := startStack(t, gatedWriter{Store: store, gate: gate}, store, queue.DefaultConfig(), jaegerudp.DefaultMaxInFlight)
		send(t, st.server.Addrs().Binary, packet(t, batch("stuck", 3), false))
		testkit.Eventually(t, "the spans in the queue", func() bool { return st.queue.Stats().Spans == 3 })
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := st.server.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if err := st.sink.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown with storage stuck: %v, want the deadline", err)
		}
		if got := st.spans(t, "refused", jaegerudp.TransportBinary, "reason", "error"); got != 3 {
			t.Fatalf("refused{error} = %v, want 3", got)
		}
	})
}

func TestNewConsumerSinkChecks(t *testing.T) {
	q := collectorFunc(func(context.Context, []*model.Span, int) error { return nil })
	m, err := collector.NewMetrics(prometheus.NewRegistry(), intaketest.MetricPrefix, "committed")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jaegerudp.NewConsumerSink(q, nil, 1, telemetry.Nop()); err == nil {
		t.Error("no metrics: no error")
	}
	if _, err := jaegerudp.NewConsumerSink(q, m, 0, telemetry.Nop()); err == nil {
		t.Error("max in flight 0: no error")
	}
}

type collectorFunc func(context.Context, []*model.Span, int) error

func (f collectorFunc) ConsumeSpans(ctx context.Context, spans []*model.Span, size int) error {
	return f(ctx, spans, size)
}
