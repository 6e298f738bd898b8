package httpintake

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/internal/httpserver"
)

// Base is what every HTTP receiver holds: its settings, consumer and logger,
// and its handler with the server that runs it. Its methods are safe for
// concurrent use.
type Base struct {
	Settings Settings
	Consumer collector.Consumer
	Logger   *slog.Logger // never nil

	handler http.Handler
	server  *httpserver.Server
}

// NewBase returns the base of the receiver called name (used in errors and
// logs, e.g. "zipkin receiver") serving h on s.Addr. It fails if s is not
// valid or consumer is nil; logger may be nil (nothing is logged).
func NewBase(name string, s Settings, consumer collector.Consumer, h http.Handler, logger *slog.Logger) (*Base, error) {
	if err := s.Validate(name); err != nil {
		return nil, err
	}
	if consumer == nil {
		return nil, fmt.Errorf("cannot create %s: consumer is nil", name)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Base{
		Settings: s,
		Consumer: consumer,
		Logger:   logger,
		handler:  h,
		server:   httpserver.New(name, s.Addr, h, logger),
	}, nil
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
