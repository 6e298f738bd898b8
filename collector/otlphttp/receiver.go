package otlphttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/scrytrace/scry/collector"
)

// Defaults of Config.
const (
	DefaultAddr               = "127.0.0.1:4318"
	DefaultMaxRequestBytes    = 16 << 20 // after decompression
	DefaultMaxSpansPerRequest = 100_000
	DefaultRetryAfter         = time.Second
)

// TracesPath is the URL path of trace exports.
const TracesPath = "/v1/traces"

// readHeaderTimeout bounds how long a client may take to send its headers.
const readHeaderTimeout = 10 * time.Second

// Config sets up a Receiver.
type Config struct {
	// Addr is the host:port to listen on.
	Addr string
	// MaxRequestBytes bounds a request body in bytes, after decompression
	// (and, compressed, before it).
	MaxRequestBytes int64
	// MaxSpansPerRequest bounds the spans of one export.
	MaxSpansPerRequest int
	// RetryAfter is the delay sent in Retry-After (rounded up to whole
	// seconds) when a client should retry.
	RetryAfter time.Duration
}

// DefaultConfig returns the defaults: 127.0.0.1:4318, 16 MiB bodies, 100,000
// spans per request, Retry-After of one second.
func DefaultConfig() Config {
	return Config{
		Addr:               DefaultAddr,
		MaxRequestBytes:    DefaultMaxRequestBytes,
		MaxSpansPerRequest: DefaultMaxSpansPerRequest,
		RetryAfter:         DefaultRetryAfter,
	}
}

// Validate reports what is wrong with c, if anything.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("address %q: %w", c.Addr, err))
	}
	if c.MaxRequestBytes <= 0 {
		errs = append(errs, fmt.Errorf("max request bytes must be positive, got %d", c.MaxRequestBytes))
	}
	if c.MaxSpansPerRequest <= 0 {
		errs = append(errs, fmt.Errorf("max spans per request must be positive, got %d", c.MaxSpansPerRequest))
	}
	if c.RetryAfter <= 0 {
		errs = append(errs, fmt.Errorf("retry after must be positive, got %s", c.RetryAfter))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid otlp http receiver config: %w", err)
	}
	return nil
}

// Receiver is an OTLP/HTTP trace receiver. Its methods are safe for
// concurrent use.
type Receiver struct {
	cfg      Config
	consumer collector.Consumer
	logger   *slog.Logger
	handler  http.Handler

	mu      sync.Mutex
	server  *http.Server
	addr    net.Addr
	started bool
}

// New returns a receiver handing spans to consumer. logger may be nil
// (nothing is logged).
func New(cfg Config, consumer collector.Consumer, logger *slog.Logger) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if consumer == nil {
		return nil, errors.New("cannot create otlp http receiver: consumer is nil")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Receiver{cfg: cfg, consumer: consumer, logger: logger}
	mux := http.NewServeMux()
	mux.HandleFunc(TracesPath, r.handleTraces)
	r.handler = mux
	return r, nil
}

// Handler returns the receiver's HTTP handler (serving TracesPath), for
// mounting on another server; Start is not needed to use it.
func (r *Receiver) Handler() http.Handler { return r.handler }

// Start binds Config.Addr and serves in the background until Shutdown.
func (r *Receiver) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return errors.New("cannot start otlp http receiver: already started")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", r.cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen for otlp http on %s: %w", r.cfg.Addr, err)
	}
	r.started = true
	r.addr = ln.Addr()
	r.server = &http.Server{
		Handler:           r.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(r.logger.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := r.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.logger.Error("otlp http receiver stopped serving", "addr", r.addr.String(), "error", err)
		}
	}()
	r.logger.Info("otlp http receiver listening", "addr", r.addr.String())
	return nil
}

// Addr returns the address the receiver listens on, or nil before Start.
func (r *Receiver) Addr() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addr
}

// Shutdown stops accepting connections and waits for exports in flight to
// be answered. If ctx ends first it closes every connection and returns
// ctx's error. It is safe to call more than once, and before Start.
func (r *Receiver) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	server := r.server
	r.started = true // a receiver shut down cannot start
	r.mu.Unlock()
	if server == nil {
		return nil
	}
	if err := server.Shutdown(ctx); err != nil {
		_ = server.Close()
		return fmt.Errorf("cannot shut down otlp http receiver gracefully: %w", err)
	}
	return nil
}
