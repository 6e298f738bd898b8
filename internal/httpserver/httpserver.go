// Package httpserver runs an http.Handler on an address with the lifecycle
// every Scry part has: New, Start (binds, then serves in the background),
// Shutdown (graceful, safe to call twice and before Start), in plain text or
// with the TLS of an internal/tlsconf Listener.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/tlsconf"
)

// readHeaderTimeout bounds how long a client may take to send its headers.
const readHeaderTimeout = 10 * time.Second

// Server serves one handler on one address. Its methods are safe for
// concurrent use.
type Server struct {
	name    string // for logs and errors, e.g. "zipkin receiver"
	addr    string
	handler http.Handler
	tls     *tlsconf.Listener // nil: plain text, no policy
	tel     telemetry.Settings
	logger  *slog.Logger

	mu      sync.Mutex
	server  *http.Server
	bound   net.Addr
	ln      net.Listener // for tests, which close it to make Serve fail
	started bool
}

// New returns a server of h on addr with the TLS of l (nil: plain text),
// its auth guard in front of h, then the resolver of the request's tenant
// (which needs the identity the guard found), and its browser policy (CORS, cross-origin
// protection, security headers) in front of both;
// name is used in logs and errors. If the server stops serving on its own
// after Start, it reports the error with tel.Fail.
func New(name, addr string, h http.Handler, l *tlsconf.Listener, tel telemetry.Settings) *Server {
	tel = tel.Complete()
	return &Server{name: name, addr: addr, handler: h, tls: l, tel: tel, logger: tel.Logger}
}

// Start binds the address and serves in the background until Shutdown.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return fmt.Errorf("cannot start %s: already started or shut down", s.name)
	}
	if err := s.tls.Check(ctx, s.addr); err != nil {
		return fmt.Errorf("cannot start %s: %w", s.name, err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("cannot listen for %s on %s: %w", s.name, s.addr, err)
	}
	s.started = true
	s.bound, s.ln = ln.Addr(), ln
	s.server = &http.Server{
		Handler:           s.tls.Browser().Wrap(s.tls.Auth().Wrap(s.tls.Tenant().Wrap(s.handler))),
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
		TLSConfig:         s.tls.Config("h2", "http/1.1"),
	}
	srv := s.server
	serve := srv.Serve
	if srv.TLSConfig != nil {
		serve = func(ln net.Listener) error { return srv.ServeTLS(ln, "", "") }
	}
	go func() {
		if err := serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.tel.Fail(fmt.Errorf("%s stopped serving on %s: %w", s.name, ln.Addr(), err))
		}
	}()
	s.logger.Info(s.name+" listening", "addr", s.bound.String(), "tls", s.tls.Enabled(), "mtls", s.tls.MutualTLS())
	return nil
}

// Addr returns the address the server listens on, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bound
}

// Shutdown stops accepting connections and waits for requests in flight to
// be answered. If ctx ends first it closes every connection and returns an
// error wrapping ctx's. It is safe to call more than once, and before Start
// (the server then never starts).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv := s.server
	s.started = true
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("cannot shut down %s gracefully: %w", s.name, err)
	}
	return nil
}
