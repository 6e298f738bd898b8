package httpintake

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/internal/httpserver"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
)

// Base is what every HTTP receiver holds: its settings, consumer, metrics
// and logger, and its handler with the server that runs it. Its methods are
// safe for concurrent use.
type Base struct {
	Settings Settings
	Consumer collector.Consumer
	Metrics  *collector.TransportMetrics
	Logger   *slog.Logger // never nil

	handler http.Handler
	server  *httpserver.Server
}

// NewBase returns the base of the receiver called name (used in errors and
// logs, e.g. "zipkin receiver") serving h on s.Addr and counting its spans
// under transport in m. It fails if s is not valid or consumer or m is nil.
func NewBase(name, transport string, s Settings, consumer collector.Consumer, m *collector.Metrics, h http.Handler, tel telemetry.Settings) (*Base, error) {
	if err := s.Validate(name); err != nil {
		return nil, err
	}
	if consumer == nil {
		return nil, fmt.Errorf("cannot create %s: consumer is nil", name)
	}
	if m == nil {
		return nil, fmt.Errorf("cannot create %s: metrics are nil", name)
	}
	tel = tel.Complete()
	return &Base{
		Settings: s,
		Consumer: consumer,
		Metrics:  m.Transport(transport),
		Logger:   tel.Logger,
		handler:  h,
		server:   httpserver.New(name, s.Addr, h, s.TLS, tel),
	}, nil
}

// Deliver hands a decoded request to collector.Deliver with the receiver's
// consumer, metrics and span limit. size is the body's size after
// decompression.
func (b *Base) Deliver(ctx context.Context, spans []*model.Span, rejected []error, size int) (collector.Result, error) {
	return collector.Deliver(ctx, b.Consumer, b.Metrics, collector.Request{
		Spans: spans, Rejected: rejected, Size: size, MaxSpans: b.Settings.MaxSpansPerRequest,
	})
}

// Handler returns the receiver's HTTP handler, for mounting on another
// server; Start is not needed to use it.
func (b *Base) Handler() http.Handler { return b.handler }

// Start binds Settings.Addr and serves in the background until Shutdown.
func (b *Base) Start(ctx context.Context) error { return b.server.Start(ctx) }

// Addr returns the address the receiver listens on, or nil before Start.
func (b *Base) Addr() net.Addr { return b.server.Addr() }

// Shutdown stops accepting connections and waits for requests in flight to
// be answered, as httpserver.Server.Shutdown does.
func (b *Base) Shutdown(ctx context.Context) error { return b.server.Shutdown(ctx) }
