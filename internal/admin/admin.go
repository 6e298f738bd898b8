// Package admin is the admin HTTP server every Scry binary runs: Prometheus
// metrics at /metrics, liveness at /healthz, readiness at /readyz and Go's
// profiles at /debug/pprof/.
package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scrytrace/scry/internal/httpserver"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/tlsconf"
)

// Server serves /metrics, /healthz, /readyz and /debug/pprof/.
type Server struct {
	*httpserver.Server
	failures *telemetry.Failures
	ready    atomic.Bool

	mu     sync.Mutex
	checks []func() error // conditions that clear by themselves; see AddCheck
}

// New returns a server for addr, with the TLS of l (nil: plain text),
// gathering metrics from g. /readyz answers
// ready once SetReady(true) is called, and not ready again from the first
// failure reported to tel.Failures (the process is then shutting down).
// While a check added with AddCheck fails, /readyz answers not ready with
// its error.
func New(addr string, l *tlsconf.Listener, g prometheus.Gatherer, tel telemetry.Settings) *Server {
	s := &Server{failures: tel.Failures}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if errs := s.failed(); len(errs) > 0 {
			http.Error(w, "not ready: "+errors.Join(errs...).Error(), http.StatusServiceUnavailable)
			return
		}
		if !s.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		if errs := s.checked(); len(errs) > 0 {
			http.Error(w, "not ready: "+errors.Join(errs...).Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	s.Server = httpserver.New("admin server", addr, mux, l, tel)
	return s
}

// failed returns the failures reported so far.
func (s *Server) failed() []error {
	if s.failures == nil {
		return nil
	}
	return s.failures.Errs()
}

// AddCheck adds a condition of readiness that clears by itself, unlike a
// failure: while check returns an error (a store's full disk, say), /readyz
// answers 503 "not ready: " and the error. check is called on every
// /readyz request, so it must be cheap and safe for concurrent use.
func (s *Server) AddCheck(check func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, check)
}

// checked returns the errors of the failing checks.
func (s *Server) checked() []error {
	s.mu.Lock()
	checks := s.checks
	s.mu.Unlock()
	var errs []error
	for _, c := range checks {
		if err := c(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// SetReady marks the process ready (or not) for /readyz.
func (s *Server) SetReady(ok bool) { s.ready.Store(ok) }

// Shutdown marks the process not ready and stops the server; safe to call
// twice.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	return s.Server.Shutdown(ctx)
}
