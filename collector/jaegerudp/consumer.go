package jaegerudp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
)

// DefaultMaxInFlight is the default bound on a ConsumerSink's calls under
// way: with packets of at most MaxPacketBytes, they hold at most about 16
// MiB of packets' spans beyond the queue's own bound.
const DefaultMaxInFlight = 256

// ConsumerSink is the Sink of a collector: it hands each packet's spans to
// a collector.Consumer, such as the queue, whose ConsumeSpans returns once
// they are committed, without making the server's workers wait for that.
// Every packet's spans go to collector.Deliver in a goroutine of their own,
// at most MaxInFlight at once, and are counted there under the packet's
// transport; a packet that finds that many under way is refused (the server
// counts it dropped, and its spans are counted refused, reason
// buffer_full). UDP has no answer, so spans the Consumer refuses (its queue
// is full, say) are lost: they are counted with the reason, and the failure
// is logged (at most once per 10 seconds for each kind).
//
// Its methods are safe for concurrent use.
type ConsumerSink struct {
	consumer   collector.Consumer
	transports map[string]*collector.TransportMetrics
	sem        chan struct{}
	logger     *slog.Logger
	warn       *telemetry.Throttle
	ctx        context.Context
	cancel     context.CancelFunc

	mu       sync.Mutex
	closed   bool
	inFlight sync.WaitGroup
}

var _ Sink = (*ConsumerSink)(nil)

// NewConsumerSink returns a sink handing spans to c, counting them in m
// under TransportCompact and TransportBinary, at most maxInFlight calls at
// once.
func NewConsumerSink(c collector.Consumer, m *collector.Metrics, maxInFlight int, tel telemetry.Settings) (*ConsumerSink, error) {
	if maxInFlight <= 0 {
		return nil, fmt.Errorf("cannot create udp consumer sink: max in flight must be positive, got %d", maxInFlight)
	}
	if c == nil || m == nil {
		return nil, errors.New("cannot create udp consumer sink: consumer or metrics is nil")
	}
	tel = tel.Complete()
	ctx, cancel := context.WithCancel(context.Background())
	return &ConsumerSink{
		consumer: c,
		transports: map[string]*collector.TransportMetrics{
			TransportCompact: m.Transport(TransportCompact),
			TransportBinary:  m.Transport(TransportBinary),
		},
		sem:    make(chan struct{}, maxInFlight),
		logger: tel.Logger, warn: telemetry.NewThrottle(tel, 10*time.Second), ctx: ctx, cancel: cancel,
	}, nil
}

// TakeSpans implements Sink: it starts delivering the spans and returns at
// once, or refuses them when MaxInFlight calls are under way or the sink is
// shut down.
func (s *ConsumerSink) TakeSpans(transport string, spans []*model.Span, rejected []error, size int) bool {
	m, ok := s.transports[transport]
	if !ok {
		return false
	}
	refuse := func(reason string) bool {
		m.Received(len(spans) + len(rejected))
		m.Rejected(collector.ReasonInvalid, len(rejected))
		m.Refused(reason, len(spans))
		return false
	}
	select {
	case s.sem <- struct{}{}:
	default:
		s.warn.Warn("too many udp packets' spans waiting to be committed; dropping udp spans (storage slow?)", "transport", transport)
		return refuse(collector.ReasonBufferFull)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.sem
		return refuse(collector.ReasonStopped)
	}
	s.inFlight.Add(1)
	s.mu.Unlock()
	go func() {
		defer func() { <-s.sem; s.inFlight.Done() }()
		_, err := collector.Deliver(s.ctx, s.consumer, m, collector.Request{
			Spans: spans, Rejected: rejected, Size: size, MaxSpans: math.MaxInt,
		})
		switch {
		case err == nil:
		case errors.Is(err, collector.ErrQueueFull):
			s.warn.Warn("the queue is full; dropping udp spans (storage slow?)", "transport", transport)
		case collector.IsPermanent(err):
			s.logger.Debug("udp spans rejected", "transport", transport, "err", err)
		default:
			s.warn.Warn("cannot store udp spans; they are dropped", "transport", transport, "spans", len(spans), "err", err)
		}
	}()
	return true
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
