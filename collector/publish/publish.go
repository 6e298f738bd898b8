// Package publish is the collector's writer in the scale-out topology
// (internal/scaleout): instead of committing spans to a store of its own, it
// publishes them to the JetStream stream of their partition and returns only
// when every part is acknowledged by the stream, that is, stored on a
// quorum of its replicas. Behind the queue, a client's export is therefore
// answered only after its spans are replicated.
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/internal/scaleout"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// Defaults of Config.
const (
	// DefaultBatchBytes is the compressed size a message aims at: a few
	// hundred KiB keeps the per-message cost of JetStream (a RAFT entry,
	// an index entry) small against the data, and well under its 8 MiB cap.
	DefaultBatchBytes = 256 << 10
	// DefaultTimeout bounds the wait for a stream's acknowledgement: past
	// it the write fails and the client is told to retry.
	DefaultTimeout = 10 * time.Second
)

// Config configures a Publisher.
type Config struct {
	BatchBytes int
	Timeout    time.Duration
	// Stalled, if set, is called (at most once a Timeout) when a write
	// got no answer from a stream: the connected nats-server may be cut
	// off from the cluster, and the caller reconnects elsewhere.
	Stalled func()
}

// DefaultConfig returns the defaults above.
func DefaultConfig() Config { return Config{BatchBytes: DefaultBatchBytes, Timeout: DefaultTimeout} }

// Validate reports what is wrong with c, if anything.
func (c Config) Validate() error {
	var errs []error
	if c.BatchBytes < 4<<10 || c.BatchBytes > 4<<20 {
		errs = append(errs, fmt.Errorf("batch bytes %d is not between 4 KiB and 4 MiB", c.BatchBytes))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("publish timeout %v is not positive", c.Timeout))
	}
	return errors.Join(errs...)
}

// Publisher is a storage.Writer onto the partitions' streams. WriteSpans
// is safe for concurrent use; when it returns nil every span is in its
// partition's stream on a quorum of replicas. Its errors are retryable (no
// quorum, a full stream, a timeout), except a *storage.RejectedError for
// spans that cannot be stored at all.
type Publisher struct {
	cfg    Config
	js     jetstream.JetStream
	topo   scaleout.Topology
	codec  *scaleout.Codec
	logger *slog.Logger
	warn   *telemetry.Throttle

	bytesPerSpan atomic.Int64 // of the last message: sizes the next ones
	lastStall    atomic.Int64 // Unix ns of the last call of cfg.Stalled

	messages *prometheus.CounterVec
	bytes    prometheus.Counter
	latency  prometheus.Histogram
}

var _ storage.Writer = (*Publisher)(nil)

// New returns a Publisher onto the streams of topo through js, with its
// metrics on tel's registry.
func New(cfg Config, js jetstream.JetStream, topo scaleout.Topology, tel telemetry.Settings) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid publish config: %w", err)
	}
	tel = tel.Complete()
	codec, err := scaleout.NewCodec()
	if err != nil {
		return nil, err
	}
	p := &Publisher{
		cfg: cfg, js: js, topo: topo, codec: codec, logger: tel.Logger, warn: telemetry.NewThrottle(tel, 10*time.Second),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scry_publish_messages_total",
			Help: "Batches of spans published to JetStream, by result: acked (stored on a quorum), stream_full, timeout, error.",
		}, []string{"result"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scry_publish_bytes_total",
			Help: "Compressed bytes of batches acknowledged by JetStream.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scry_publish_duration_seconds",
			Help:    "From publishing a write's batches to the last acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	for _, c := range []prometheus.Collector{p.messages, p.bytes, p.latency} {
		if err := tel.Registerer.Register(c); err != nil {
			codec.Close()
			return nil, fmt.Errorf("cannot register publish metrics: %w", err)
		}
	}
	return p, nil
}

// Start implements the part's life; the connection is the caller's.
func (p *Publisher) Start(context.Context) error { return nil }

// Shutdown waits for publishes under way (the queue has stopped writing
// by then) and releases the codec. Safe to call twice.
func (p *Publisher) Shutdown(ctx context.Context) error {
	select {
	case <-p.js.PublishAsyncComplete():
	case <-ctx.Done():
		return fmt.Errorf("cannot shut down the publisher: %d publishes unanswered: %w", p.js.PublishAsyncPending(), ctx.Err())
	}
	p.codec.Close()
	return nil
}

// WriteSpans implements storage.Writer: it groups spans by partition, in
// messages of about Config.BatchBytes, for the context's tenant, publishes
// them all and waits for every acknowledgement.
func (p *Publisher) WriteSpans(ctx context.Context, spans []*model.Span) error {
	keep, rejected := storage.Prepare(spans)
	if len(keep) == 0 {
		return rejected
	}
	tenant := storage.TenantFrom(ctx)
	groups := make([][]*model.Span, p.topo.Partitions)
	for _, s := range keep {
		i := scaleout.PartitionOf(s.TraceID, p.topo.Partitions)
		groups[i] = append(groups[i], s)
	}
	start := time.Now()
	type pending struct {
		part int
		fut  jetstream.PubAckFuture
		size int
	}
	var sent []pending
	var errs []error
	for part, g := range groups {
		for len(g) > 0 {
			n := len(g)
			if per := p.bytesPerSpan.Load(); per > 0 {
				n = min(n, max(1, p.cfg.BatchBytes/int(per)))
			}
			m, err := p.codec.Encode(part, tenant, g[:n])
			if err != nil {
				return err
			}
			p.bytesPerSpan.Store(int64(max(1, len(m.Data)/n)))
			fut, err := p.js.PublishMsgAsync(m, jetstream.WithExpectStream(scaleout.StreamName(part)))
			if err != nil {
				errs = append(errs, p.failed(part, err))
				break
			}
			sent = append(sent, pending{part: part, fut: fut, size: len(m.Data)})
			g = g[n:]
		}
	}
	timeout := time.NewTimer(p.cfg.Timeout)
	defer timeout.Stop()
	for _, s := range sent {
		select {
		case <-s.fut.Ok():
			p.messages.WithLabelValues("acked").Inc()
			p.bytes.Add(float64(s.size))
		case err := <-s.fut.Err():
			errs = append(errs, p.failed(s.part, err))
		case <-timeout.C:
			p.messages.WithLabelValues("timeout").Inc()
			p.stalled()
			errs = append(errs, fmt.Errorf("no acknowledgement from JetStream stream %s within %v (no quorum?)", scaleout.StreamName(s.part), p.cfg.Timeout))
			timeout.Reset(0) // the rest are late too
		case <-ctx.Done():
			return fmt.Errorf("cannot publish spans: %w", ctx.Err())
		}
	}
	p.latency.Observe(time.Since(start).Seconds())
	if err := errors.Join(errs...); err != nil {
		p.warn.Warn("cannot publish spans to JetStream; clients are told to retry", "err", err)
		return fmt.Errorf("cannot publish spans, retry later: %w", err)
	}
	return rejected
}

// stalled calls cfg.Stalled, at most once a Timeout.
func (p *Publisher) stalled() {
	if p.cfg.Stalled == nil {
		return
	}
	now, last := time.Now().UnixNano(), p.lastStall.Load()
	if now-last < int64(p.cfg.Timeout) || !p.lastStall.CompareAndSwap(last, now) {
		return
	}
	p.cfg.Stalled()
}

// failed counts a refused or failed publish and says what happened.
func (p *Publisher) failed(part int, err error) error {
	stream := scaleout.StreamName(part)
	var apiErr *jetstream.APIError
	msg := err.Error()
	switch {
	case errors.As(err, &apiErr) && (strings.Contains(apiErr.Description, "maximum bytes") || strings.Contains(apiErr.Description, "maximum messages")),
		strings.Contains(msg, "maximum bytes exceeded"):
		p.messages.WithLabelValues("stream_full").Inc()
		return fmt.Errorf("JetStream stream %s is full (its --nats-stream-max-bytes): the ingesters must catch up or the limit be raised: %w", stream, err)
	case errors.Is(err, jetstream.ErrAsyncPublishTimeout), errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrNoResponders):
		p.messages.WithLabelValues("timeout").Inc()
		p.stalled()
		return fmt.Errorf("no acknowledgement from JetStream stream %s (no quorum?): %w", stream, err)
	}
	p.messages.WithLabelValues("error").Inc()
	return fmt.Errorf("cannot publish to JetStream stream %s: %w", stream, err)
}
