package otlphttp

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/collector/internal/httpintake"
	"github.com/scrytrace/scry/internal/telemetry"
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

// Transport is the receiver's transport label in collector.Metrics.
const Transport = "otlp_http"

// receiverName names the receiver in errors and logs.
const receiverName = "otlp http receiver"

// Config sets up a Receiver: its listen address and request limits.
type Config struct {
	httpintake.Settings
}

// DefaultConfig returns the defaults: 127.0.0.1:4318, 16 MiB bodies, 100,000
// spans per request, Retry-After of one second.
func DefaultConfig() Config {
	return Config{Settings: httpintake.Settings{
		Addr:               DefaultAddr,
		MaxRequestBytes:    DefaultMaxRequestBytes,
		MaxSpansPerRequest: DefaultMaxSpansPerRequest,
		RetryAfter:         DefaultRetryAfter,
	}}
}

// Validate reports what is wrong with c, if anything.
func (c Config) Validate() error {
	return c.Settings.Validate(receiverName)
}

// Receiver is an OTLP/HTTP trace receiver. Its methods are safe for
// concurrent use.
type Receiver struct {
	base *httpintake.Base
}

// New returns a receiver handing spans to consumer. logger may be nil
// and counting them under Transport in m.
func New(cfg Config, consumer collector.Consumer, m *collector.Metrics, tel telemetry.Settings) (*Receiver, error) {
	r := &Receiver{}
	mux := http.NewServeMux()
	mux.HandleFunc(TracesPath, r.handleTraces)
	var err error
	if r.base, err = httpintake.NewBase(receiverName, Transport, cfg.Settings, consumer, m, mux, tel); err != nil {
		return nil, err
	}
	return r, nil
}

// Handler returns the receiver's HTTP handler (serving TracesPath), for
// mounting on another server; Start is not needed to use it.
func (r *Receiver) Handler() http.Handler { return r.base.Handler() }

// Start binds Config.Addr and serves in the background until Shutdown.
func (r *Receiver) Start(ctx context.Context) error { return r.base.Start(ctx) }

// Addr returns the address the receiver listens on, or nil before Start.
func (r *Receiver) Addr() net.Addr { return r.base.Addr() }

// Shutdown stops accepting connections and waits for exports in flight to
// be answered. If ctx ends first it closes every connection and returns an
// error wrapping ctx's. It is safe to call more than once, and before Start.
func (r *Receiver) Shutdown(ctx context.Context) error { return r.base.Shutdown(ctx) }
