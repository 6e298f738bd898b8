package jaegerudp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/model"
)

// DefaultMaxInFlight is the default bound on a ConsumerSink's calls under
// way: with packets of at most MaxPacketBytes, they hold at most about 16
// MiB of packets' spans beyond the queue's own bound.
const DefaultMaxInFlight = 256

// Reason a ConsumerSink refuses spans itself, given to
// collector.RecordRefused: MaxInFlight calls are under way already.
const RefusedBufferFull = "buffer_full"

// ConsumerSink is the Sink of a collector: it hands each packet's spans to
// a collector.Consumer, such as the queue, whose ConsumeSpans returns once
// they are committed, without making the server's workers wait for that.
// Every packet's spans go to ConsumeSpans in a goroutine of their own, at
// most MaxInFlight at once; a packet that finds that many under way is
// refused (the server counts it dropped, reason buffer_full) and its spans
// are reported with collector.RecordRefused (reason buffer_full). UDP has no
// answer, so spans the Consumer refuses (its queue is full, say) are lost:
// a Consumer made by collector.Metrics.Wrap counts them with the reason, and
// the failure is logged (at most once per 10 seconds for each kind).
//
// Its methods are safe for concurrent use.
type ConsumerSink struct {
	consumers map[string]collector.Consumer
	sem       chan struct{}
	logger    *slog.Logger
	warn      *throttle
	ctx       context.Context
	cancel    context.CancelFunc

	mu       sync.Mutex
	closed   bool
	inFlight sync.WaitGroup
}

var _ Sink = (*ConsumerSink)(nil)

// NewConsumerSink returns a sink handing the spans of each transport
// (TransportCompact, TransportBinary) to its Consumer, at most maxInFlight
// calls at once. logger may be nil.
func NewConsumerSink(consumers map[string]collector.Consumer, maxInFlight int, logger *slog.Logger) (*ConsumerSink, error) {
	if maxInFlight <= 0 {
		return nil, fmt.Errorf("cannot create udp consumer sink: max in flight must be positive, got %d", maxInFlight)
	}
	for _, tr := range []string{TransportCompact, TransportBinary} {
		if consumers[tr] == nil {
			return nil, fmt.Errorf("cannot create udp consumer sink: no consumer for %s", tr)
		}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &ConsumerSink{
		consumers: consumers, sem: make(chan struct{}, maxInFlight),
		logger: logger, warn: newThrottle(logger, 10*time.Second), ctx: ctx, cancel: cancel,
	}, nil
}

// TakeSpans implements Sink: it starts handing spans to the transport's
// Consumer and returns at once, or refuses them when MaxInFlight calls are
// under way or the sink is shut down.
func (s *ConsumerSink) TakeSpans(transport string, spans []*model.Span, size int) bool {
	c := s.consumers[transport]
	if c == nil {
		return false
	}
	select {
	case s.sem <- struct{}{}:
	default:
		collector.RecordRefused(c, RefusedBufferFull, len(spans))
		s.warn.warn("too many udp packets' spans waiting to be committed; dropping udp spans (storage slow?)", "transport", transport)
		return false
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.sem
		collector.RecordRefused(c, "stopped", len(spans))
		return false
	}
	s.inFlight.Add(1)
	s.mu.Unlock()
	go func() {
		defer func() { <-s.sem; s.inFlight.Done() }()
		err := c.ConsumeSpans(s.ctx, spans, size)
		switch {
		case err == nil:
		case errors.Is(err, collector.ErrQueueFull):
			s.warn.warn("the queue is full; dropping udp spans (storage slow?)", "transport", transport)
		default:
			s.warn.warn("cannot store udp spans; they are dropped", "transport", transport, "spans", len(spans), "err", err)
		}
	}()
	return true
}

// RecordRejected implements Sink: it passes the count to the transport's
// Consumer (collector.RecordRejected).
func (s *ConsumerSink) RecordRejected(transport string, n int) {
	if c := s.consumers[transport]; c != nil {
		collector.RecordRejected(c, n)
	}
}

// Shutdown refuses new spans and waits for the calls under way to return.
// If ctx ends first, their contexts are cancelled (the spans may still be
// stored; the Consumer decides) and ctx's error is returned once they have
// returned. Call it after the Server's Shutdown, and before the Consumer's.
// It is safe to call more than once.
func (s *ConsumerSink) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.inFlight.Wait(); close(done) }()
	defer s.cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.cancel()
		<-done
		return fmt.Errorf("cannot wait for udp spans to be committed: %w", ctx.Err())
	}
}
