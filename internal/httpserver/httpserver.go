// Package httpserver runs an http.Handler on an address with the lifecycle
// every Scry part has: New, Start (binds, then serves in the background),
// Shutdown (graceful, safe to call twice).
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
)

// Server serves one handler.
type Server struct {
	name string
	addr string
	log  *slog.Logger
	srv  *http.Server
	ln   net.Listener
	once sync.Once
}

// New returns a server; name is used in logs and errors.
func New(name, addr string, h http.Handler, logger *slog.Logger) *Server {
	return &Server{name: name, addr: addr, log: logger,
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
}

// Start binds the address and serves in the background.
func (s *Server) Start(context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s address %s: %w", s.name, s.addr, err)
	}
	s.ln = ln
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("server failed", "server", s.name, "err", err)
		}
	}()
	return nil
}

// Addr returns the bound address (after Start).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops accepting and waits for requests in flight, until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		if s.ln != nil {
			err = s.srv.Shutdown(ctx)
		}
	})
	return err
}
