// Package admin is the admin HTTP server every Scry binary runs: Prometheus
// metrics at /metrics, liveness at /healthz, readiness at /readyz and Go's
// profiles at /debug/pprof/.
package admin

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scrytrace/scry/internal/httpserver"
)

// Server serves /metrics, /healthz, /readyz and /debug/pprof/.
type Server struct {
	*httpserver.Server
	ready atomic.Bool
}

// New returns a server for addr gathering metrics from g.
func New(addr string, g prometheus.Gatherer, logger *slog.Logger) *Server {
	s := &Server{}
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
		if !s.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	s.Server = httpserver.New("admin server", addr, mux, logger)
	return s
}

// SetReady marks the process ready (or not) for /readyz.
func (s *Server) SetReady(ok bool) { s.ready.Store(ok) }

// Shutdown marks the process not ready and stops the server; safe to call
// twice.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	return s.Server.Shutdown(ctx)
}
