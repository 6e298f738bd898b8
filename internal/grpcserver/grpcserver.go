// Package grpcserver runs a *grpc.Server on an address with the lifecycle
// every Scry part has: New, Start (binds, then serves in the background),
// Shutdown (graceful, safe to call twice and before Start), in plain text or
// with the TLS of an internal/tlsconf Listener.
package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"google.golang.org/grpc"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/tlsconf"
)

// Server serves one *grpc.Server. Its methods are safe for concurrent use.
type Server struct {
	name   string // for logs and errors, e.g. "otlp grpc receiver"
	addr   string
	srv    *grpc.Server
	tls    *tlsconf.Listener // nil: plain text, no policy
	tel    telemetry.Settings
	logger *slog.Logger

	mu      sync.Mutex
	bound   net.Addr
	ln      net.Listener // for tests, which close it to make Serve fail
	started bool
	stopped chan struct{} // closed when Serve has returned
}

// New returns a server on addr of a grpc.Server made with opts, the TLS
// of l (nil: plain text) and its auth guard, which checks every call's
// credential before the service sees it, then its tenant resolver; register its services on GRPC before Start. name
// is used in logs and errors. If the server stops serving on its own after
// Start, it reports the error with tel.Fail.
func New(name, addr string, l *tlsconf.Listener, tel telemetry.Settings, opts ...grpc.ServerOption) *Server {
	tel = tel.Complete()
	// The guard's interceptors first, so that they run before any of opts;
	// then the tenant's, which needs the identity the guard found.
	opts = append(append(append(l.Auth().ServerOptions(), l.Tenant().ServerOptions()...), opts...), l.GRPCServerOption())
	srv := grpc.NewServer(opts...)
	return &Server{name: name, addr: addr, srv: srv, tls: l, tel: tel, logger: tel.Logger}
}

// GRPC returns the grpc.Server, to register services on before Start.
func (s *Server) GRPC() *grpc.Server { return s.srv }

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
	s.stopped = make(chan struct{})
	go func() {
		defer close(s.stopped)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
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

// Shutdown stops accepting connections and waits for calls in flight to be
// answered. If ctx ends first it closes every connection and returns an
// error wrapping ctx's. It is safe to call more than once, and before Start
// (the server then never starts).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	stopped, running := s.stopped, s.started && s.stopped != nil
	s.started = true
	s.mu.Unlock()
	if !running {
		return nil
	}
	graceful := make(chan struct{})
	go func() {
		s.srv.GracefulStop()
		close(graceful)
	}()
	select {
	case <-graceful:
		<-stopped
		return nil
	case <-ctx.Done():
		s.srv.Stop()
		return fmt.Errorf("cannot shut down %s gracefully: %w", s.name, ctx.Err())
	}
}
