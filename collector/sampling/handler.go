package sampling

import (
	"fmt"
	"net/http"
	"strconv"
)

// Handler serves GET /api/sampling?service=<name> as Jaeger's collector
// does: 200 with the service's strategy as JSON (Content-Type
// application/json), 400 unless the service parameter is given exactly once
// and is not empty, 405 for a method other than GET or HEAD. Mount it at
// the path; it does not look at the path itself.
func (p *Provider) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, fmt.Sprintf("method %s not allowed, use GET", r.Method), http.StatusMethodNotAllowed)
			return
		}
		services := r.URL.Query()["service"]
		if len(services) != 1 || services[0] == "" {
			http.Error(w, "'service' parameter must be provided once", http.StatusBadRequest)
			return
		}
		b := p.current.Load().JSON(services[0])
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
	})
}
