package jaegerudp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/model/jaegerthrift"
)

// Defaults of Config.
const (
	DefaultCompactAddr  = "127.0.0.1:6831"
	DefaultBinaryAddr   = "127.0.0.1:6832"
	DefaultBufferBytes  = 4 << 20
	DefaultQueueBytes   = 8 << 20
	DefaultWorkers      = 2
	DefaultMetricPrefix = "scry_receiver"

	// MaxPacketBytes is the largest packet taken; larger ones are dropped
	// (reason oversized). Jaeger clients send at most 65000 bytes.
	MaxPacketBytes = 65000
)

// Transports, the values of the transport label, as the Sink is told them.
const (
	TransportCompact = "udp_compact"
	TransportBinary  = "udp_binary"
)

// Reasons a packet is dropped, the values of the reason label of
// <prefix>_udp_packets_dropped_total.
const (
	DropMalformed  = "malformed"
	DropOversized  = "oversized"
	DropQueueFull  = "queue_full"
	DropBufferFull = "buffer_full"
	DropShutdown   = "shutdown"
)

// Config sets up a Server. An empty address turns that listener off.
type Config struct {
	// CompactAddr and BinaryAddr take emitBatch packets in Thrift's compact
	// and binary protocols.
	CompactAddr, BinaryAddr string
	// BufferBytes is the socket receive buffer asked of the kernel, which
	// may give less (Linux caps it at net.core.rmem_max unless the process
	// may override that); a smaller one given is logged as a warning. 0
	// keeps the system's default.
	BufferBytes int
	// QueueBytes bounds the packets read and not yet decoded; a packet that
	// does not fit is dropped (reason queue_full).
	QueueBytes int
	// Workers decode packets and hand their spans to the Sink.
	Workers int
	// MetricPrefix starts the metric names: <prefix>_udp_packets_...
	// Empty means DefaultMetricPrefix.
	MetricPrefix string
}

// DefaultConfig returns the defaults: Jaeger's ports on 127.0.0.1, a 4 MiB
// receive buffer, an 8 MiB queue, two workers, scry_receiver_ metrics.
func DefaultConfig() Config {
	return Config{
		CompactAddr:  DefaultCompactAddr,
		BinaryAddr:   DefaultBinaryAddr,
		BufferBytes:  DefaultBufferBytes,
		QueueBytes:   DefaultQueueBytes,
		Workers:      DefaultWorkers,
		MetricPrefix: DefaultMetricPrefix,
	}
}

var metricPrefixRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// Validate reports everything that is wrong with c.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for _, a := range []struct{ name, addr string }{{"compact address", c.CompactAddr}, {"binary address", c.BinaryAddr}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			add("%s %q: %w", a.name, a.addr, err)
		}
	}
	if c.BufferBytes < 0 {
		add("buffer bytes must not be negative, got %d", c.BufferBytes)
	}
	if c.QueueBytes < MaxPacketBytes {
		add("queue bytes must be at least %d (one packet), got %d", MaxPacketBytes, c.QueueBytes)
	}
	if c.Workers <= 0 {
		add("workers must be positive, got %d", c.Workers)
	}
	if c.MetricPrefix != "" && !metricPrefixRE.MatchString(c.MetricPrefix) {
		add("metric prefix %q is not a metric name", c.MetricPrefix)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid jaeger udp config: %w", err)
	}
	return nil
}

// Sink takes the spans the workers decode, and counts them. Its method is
// called from several workers at once and must not block: a worker waiting
// on the Sink lets the queue fill and packets drop.
type Sink interface {
	// TakeSpans is given the spans of one packet (never none): the valid
	// ones, and an error for each span set aside because an ID is all
	// zeros; and the packet's size in bytes. It owns the spans from the
	// call on, and reports whether it took the valid ones; when it did not
	// (there were some), the packet is counted dropped (reason
	// buffer_full).
	TakeSpans(transport string, spans []*model.Span, rejected []error, size int) bool
}

// Addrs are the addresses a Server listens on; nil for those turned off (or
// before Start).
type Addrs struct {
	Compact, Binary net.Addr
}

// Server reads emitBatch packets off UDP sockets and hands their spans to a
// Sink. Its methods are safe for concurrent use.
type Server struct {
	cfg    Config
	sink   Sink
	logger *slog.Logger
	warn   *telemetry.Throttle

	packets, dropped *prometheus.CounterVec

	queued atomic.Int64 // bytes of the packets in queue
	queue  chan packet
	abort  atomic.Bool // Shutdown's context ended: drop what is queued

	mu       sync.Mutex
	state    int // 0 new, 1 started, 2 shut down
	conns    []*listener
	addrs    Addrs
	readers  sync.WaitGroup
	workers  sync.WaitGroup
	shutOnce sync.Once
	shutErr  error
}

// packet is one datagram waiting to be decoded.
type packet struct {
	data      []byte
	compact   bool
	transport string
}

// listener is one socket.
type listener struct {
	conn      *net.UDPConn
	transport string
	compact   bool
}

// New validates cfg and builds a server handing spans to sink; nothing
// listens before Start. Its packet counters are registered on
// tel.Registerer.
func New(cfg Config, sink Sink, tel telemetry.Settings) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sink == nil {
		return nil, errors.New("cannot create jaeger udp server: sink is nil")
	}
	if cfg.MetricPrefix == "" {
		cfg.MetricPrefix = DefaultMetricPrefix
	}
	tel = tel.Complete()
	reg := tel.Registerer
	s := &Server{
		cfg: cfg, sink: sink, logger: tel.Logger, warn: telemetry.NewThrottle(tel, 10*time.Second),
		queue: make(chan packet, 4096),
		packets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: cfg.MetricPrefix + "_udp_packets_received_total", Help: "UDP packets read, by transport.",
		}, []string{"transport"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: cfg.MetricPrefix + "_udp_packets_dropped_total",
			Help: "UDP packets dropped, by transport and reason: malformed, oversized (over 65000 bytes), queue_full (decoders behind), buffer_full, shutdown.",
		}, []string{"transport", "reason"}),
	}
	for _, c := range []prometheus.Collector{s.packets, s.dropped} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("cannot register jaeger udp metrics: %w", err)
		}
	}
	return s, nil
}

// Metrics are a Server's counters.
type Metrics struct {
	// PacketsReceived is <prefix>_udp_packets_received_total{transport}.
	PacketsReceived *prometheus.CounterVec
	// PacketsDropped is <prefix>_udp_packets_dropped_total{transport,reason}.
	PacketsDropped *prometheus.CounterVec
}

// Metrics returns the server's counters, for tests and for a user that
// reports them in its own terms.
func (s *Server) Metrics() Metrics {
	return Metrics{PacketsReceived: s.packets, PacketsDropped: s.dropped}
}

// Start binds the addresses that are set and starts reading. If one cannot
// be bound, the others are closed again and the server cannot be started
// again. The context bounds the start only.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != 0 {
		return errors.New("cannot start jaeger udp server: already started or shut down")
	}
	s.state = 1
	for _, u := range []struct {
		addr, transport string
		compact         bool
	}{{s.cfg.CompactAddr, TransportCompact, true}, {s.cfg.BinaryAddr, TransportBinary, false}} {
		if u.addr == "" {
			continue
		}
		l, err := s.listen(ctx, u.addr, u.transport, u.compact)
		if err != nil {
			for _, l := range s.conns {
				_ = l.conn.Close()
			}
			s.conns, s.addrs, s.state = nil, Addrs{}, 2
			return err
		}
		s.conns = append(s.conns, l)
		s.packets.WithLabelValues(u.transport) // export zeros, so that rate() works from the start
		for _, r := range []string{DropMalformed, DropOversized, DropQueueFull, DropBufferFull} {
			s.dropped.WithLabelValues(u.transport, r)
		}
		if u.compact {
			s.addrs.Compact = l.conn.LocalAddr()
		} else {
			s.addrs.Binary = l.conn.LocalAddr()
		}
	}
	if len(s.conns) == 0 {
		return nil
	}
	for _, l := range s.conns {
		s.readers.Go(func() { s.read(l) })
	}
	for range s.cfg.Workers {
		s.workers.Go(s.work)
	}
	return nil
}

// Addrs returns the addresses the server listens on.
func (s *Server) Addrs() Addrs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs
}

// Shutdown closes the sockets and waits for the workers to hand what was
// queued to the Sink. If ctx ends first, the packets still queued are
// dropped (counted, reason shutdown) and ctx's error is returned. It is
// safe to call more than once, and before Start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutOnce.Do(func() { s.shutErr = s.shutdown(ctx) })
	return s.shutErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.mu.Lock()
	started := s.state == 1 && len(s.conns) > 0
	s.state = 2
	conns := s.conns
	s.mu.Unlock()
	if !started {
		return nil
	}
	for _, l := range conns {
		_ = l.conn.Close()
	}
	s.readers.Wait()
	close(s.queue)
	done := make(chan struct{})
	go func() { s.workers.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.abort.Store(true)
		<-done
		return fmt.Errorf("cannot hand on every queued udp packet before shutdown: %w", ctx.Err())
	}
}

// listen binds addr and sizes its receive buffer.
func (s *Server) listen(ctx context.Context, addr, transport string, compact bool) (*listener, error) {
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for %s on %s: %w", transport, addr, err)
	}
	conn := pc.(*net.UDPConn)
	if want := s.cfg.BufferBytes; want > 0 {
		got, err := setReadBuffer(conn, want)
		switch {
		case err != nil:
			s.logger.Warn("cannot set the UDP receive buffer", "transport", transport, "want_bytes", want, "err", err)
		case got > 0 && got < want:
			s.logger.Warn("the kernel gave a smaller UDP receive buffer than asked; bursts may be dropped by the kernel (raise net.core.rmem_max)",
				"transport", transport, "want_bytes", want, "got_bytes", got)
		}
	}
	s.logger.Info("udp intake listening", "transport", transport, "addr", conn.LocalAddr().String())
	return &listener{conn: conn, transport: transport, compact: compact}, nil
}

// read copies datagrams off the socket into the workers' queue until the
// socket is closed. It never waits for anything but the socket: a packet
// that does not fit the queue is dropped.
func (s *Server) read(l *listener) {
	buf := make([]byte, 1<<16) // larger than MaxPacketBytes, so oversized packets show
	received := s.packets.WithLabelValues(l.transport)
	for {
		n, err := l.conn.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.warn.Warn("udp read failed", "transport", l.transport, "err", err)
			time.Sleep(10 * time.Millisecond) // do not spin on a lasting error
			continue
		}
		received.Inc()
		if n > MaxPacketBytes {
			s.dropped.WithLabelValues(l.transport, DropOversized).Inc()
			continue
		}
		if s.queued.Add(int64(n)) > int64(s.cfg.QueueBytes) {
			s.queued.Add(-int64(n))
			s.dropped.WithLabelValues(l.transport, DropQueueFull).Inc()
			continue
		}
		p := packet{data: append([]byte(nil), buf[:n]...), compact: l.compact, transport: l.transport}
		select {
		case s.queue <- p:
		default:
			s.queued.Add(-int64(n))
			s.dropped.WithLabelValues(l.transport, DropQueueFull).Inc()
		}
	}
}

// work decodes queued packets until the queue is closed.
func (s *Server) work() {
	for p := range s.queue {
		s.queued.Add(-int64(len(p.data)))
		if s.abort.Load() {
			s.dropped.WithLabelValues(p.transport, DropShutdown).Inc()
			continue
		}
		s.take(p)
	}
}

// take decodes one packet and hands its spans to the sink, counting what
// it drops.
func (s *Server) take(p packet) {
	b, err := jaegerthrift.DecodeEmitBatch(p.data, p.compact)
	if err != nil {
		s.dropped.WithLabelValues(p.transport, DropMalformed).Inc()
		s.logger.Debug("dropped a malformed udp packet", "transport", p.transport, "bytes", len(p.data), "err", err)
		return
	}
	spans, rejected := jaegerthrift.SpansFromBatch(b)
	if len(rejected) > 0 {
		s.logger.Debug("dropped udp spans with invalid ids", "transport", p.transport, "spans", len(rejected), "first", rejected[0])
	}
	if len(spans)+len(rejected) == 0 {
		return
	}
	if !s.sink.TakeSpans(p.transport, spans, rejected, len(p.data)) && len(spans) > 0 {
		s.dropped.WithLabelValues(p.transport, DropBufferFull).Inc()
	}
}
