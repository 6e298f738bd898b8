// Package browser keeps Scry's HTTP listeners safe to reach from a web
// browser: CORS for the origins the --http-cors-* flags allow (off by
// default), Go's http.CrossOriginProtection against cross-site
// state-changing requests, security headers on every answer, and debug
// endpoints (pprof) only where they belong, on the admin port.
//
// A Policy wraps one listener's handler, outside its auth guard, so that
// preflights (which carry no credential) are answered and refusals of the
// guard carry the CORS and security headers too. Requests of non-browser
// clients (SDKs, agents, curl: no Origin and no Sec-Fetch-Site header) go
// through unchanged.
package browser

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// AppPolicy is the Content-Security-Policy of the answers of listeners
// with Rules.Pages (the query and Tempo ports) that do not set their own:
// the API's JSON and protobuf, errors, refusals. Nothing they hold is to
// load anything, run, or be framed. The UI's pages set their own policy
// (ui.ContentSecurityPolicy), as strict for scripts.
const AppPolicy = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// ReferrerPolicy is the Referrer-Policy of every answer: no page of Scry
// tells another site what was looked at (trace IDs, service names).
const ReferrerPolicy = "no-referrer"

// Header values set on every answer (see Wrap).
var (
	nosniff    = []string{"nosniff"}
	noReferrer = []string{ReferrerPolicy}
	appPolicy  = []string{AppPolicy}
	deny       = []string{"DENY"}
	varyOrigin = []string{"Origin"}
)

// allowedMethods are the methods cross-origin requests may use: reads,
// and POST for exports.
var allowedMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost}

// exposedHeaders are the answer headers a cross-origin script may read on
// top of the CORS-safelisted ones: Retry-After, which the OpenTelemetry JS
// exporter reads on 429 and 503 to wait before retrying.
const exposedHeaders = "Retry-After"

// Rules say what a listener is, for its Policy.
type Rules struct {
	// CORS: the --http-cors-* settings apply (intake that browser SDKs
	// post to, and the query APIs).
	CORS bool
	// Pages: answers may be opened in a browser as a page (the query and
	// Tempo ports): they carry AppPolicy unless they set their own, and
	// X-Frame-Options: DENY.
	Pages bool
	// Debug: /debug/ paths are served (the admin port); elsewhere they
	// are 404.
	Debug bool
}

// Policy is the browser safety of one listener. It is immutable after New
// and safe for concurrent use; a nil *Policy wraps nothing.
type Policy struct {
	name    string
	rules   Rules
	cors    bool // CORS is on for this listener
	any     bool // every origin is allowed ("*")
	origins map[string]bool
	headers headerSet // allowed request headers
	anyHdr  bool      // every request header is allowed
	maxAge  string    // Access-Control-Max-Age, "" for none
	cop     *http.CrossOriginProtection
	hint    string // what a refused cross-origin request is told
}

// New returns the policy of the listener called name (in messages) with
// rules, under the CORS of c, which must be valid (Config.Validate).
func New(name string, c Config, rules Rules) (*Policy, error) {
	p := &Policy{name: name, rules: rules, cop: http.NewCrossOriginProtection(), origins: map[string]bool{}}
	p.hint = "the " + name + " listener takes no state-changing request from web pages of other sites"
	if rules.CORS && c.Enabled() {
		p.cors = true
		p.hint = "only the origins in --http-cors-allowed-origins may send it"
		p.any = c.AnyOrigin()
		for _, o := range c.origins() {
			if o == "*" {
				continue
			}
			n, err := normalOrigin(o)
			if err != nil {
				return nil, err
			}
			p.origins[n] = true
			if err := p.cop.AddTrustedOrigin(n); err != nil {
				return nil, fmt.Errorf("cannot trust origin %q: %w", n, err)
			}
		}
		p.headers = newHeaderSet(DefaultAllowedHeaders)
		for _, h := range c.AllowedHeaders {
			if strings.TrimSpace(h) == "*" {
				p.anyHdr = true
			}
		}
		for h := range newHeaderSet(c.AllowedHeaders) {
			p.headers[h] = true
		}
		if c.MaxAge > 0 {
			p.maxAge = strconv.FormatInt(int64(c.MaxAge.Seconds()), 10)
		}
	}
	return p, nil
}

// CORS reports whether CORS is on for the listener.
func (p *Policy) CORS() bool { return p != nil && p.cors }

// Wrap returns h behind the policy. A nil p returns h.
func (p *Policy) Wrap(h http.Handler) http.Handler {
	if p == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The values are shared, read-only slices of one element: a
		// handler that adds to one gets a new array (len == cap).
		hd := w.Header()
		hd["X-Content-Type-Options"] = nosniff
		hd["Referrer-Policy"] = noReferrer
		if p.rules.Pages {
			hd["Content-Security-Policy"] = appPolicy
			hd["X-Frame-Options"] = deny
		}
		if !p.rules.Debug && (r.URL.Path == "/debug" || strings.HasPrefix(r.URL.Path, "/debug/")) {
			http.Error(w, "404 page not found: debug endpoints are served on the admin port only", http.StatusNotFound)
			return
		}
		if p.cors {
			if p.preflight(w, r) {
				return
			}
			p.actual(w, r)
		}
		// With every origin allowed, a cross-origin request is allowed
		// whatever its method: CORS said so.
		if !(p.cors && p.any) {
			if err := p.cop.Check(r); err != nil {
				http.Error(w, "cross-origin request refused: "+err.Error()+"; "+p.hint, http.StatusForbidden)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// allowed reports whether pages of origin may call the listener.
func (p *Policy) allowed(origin string) bool {
	return origin != "" && (p.any || p.origins[origin])
}

// allowOrigin writes the answer headers that let origin's script read it.
func (p *Policy) allowOrigin(hd http.Header, origin string) {
	if p.any {
		hd.Set("Access-Control-Allow-Origin", "*")
		return
	}
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Set("Access-Control-Allow-Credentials", "true")
}

// actual adds the CORS headers of a request that is not a preflight.
func (p *Policy) actual(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	if v := hd["Vary"]; v == nil {
		hd["Vary"] = varyOrigin
	} else {
		hd["Vary"] = append(v, "Origin")
	}
	if origin := r.Header.Get("Origin"); p.allowed(origin) {
		p.allowOrigin(hd, origin)
		hd.Set("Access-Control-Expose-Headers", exposedHeaders)
	}
}

// preflight answers r if it is a CORS preflight (OPTIONS with Origin and
// Access-Control-Request-Method) and reports whether it was: 204 with
// what is allowed when the origin, method and headers asked for are, else
// 403 saying which is not (the browser then refuses the request).
func (p *Policy) preflight(w http.ResponseWriter, r *http.Request) bool {
	method := r.Header.Get("Access-Control-Request-Method")
	origin := r.Header.Get("Origin")
	if r.Method != http.MethodOptions || origin == "" || method == "" {
		return false
	}
	hd := w.Header()
	hd.Add("Vary", "Origin")
	hd.Add("Vary", "Access-Control-Request-Method")
	hd.Add("Vary", "Access-Control-Request-Headers")
	refuse := func(msg string) bool {
		http.Error(w, "CORS preflight refused: "+msg, http.StatusForbidden)
		return true
	}
	if !p.allowed(origin) {
		return refuse(fmt.Sprintf("origin %q is not in --http-cors-allowed-origins", origin))
	}
	if !slices.Contains(allowedMethods, strings.ToUpper(method)) {
		return refuse(fmt.Sprintf("method %q is not allowed (allowed: %s)", method, strings.Join(allowedMethods, ", ")))
	}
	var asked []string
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for _, h := range strings.Split(v, ",") {
			if h = strings.TrimSpace(h); h == "" {
				continue
			}
			if !p.anyHdr && !p.headers[http.CanonicalHeaderKey(h)] {
				return refuse(fmt.Sprintf("request header %q is not allowed; add it to --http-cors-allowed-headers", h))
			}
			asked = append(asked, strings.ToLower(h))
		}
	}
	p.allowOrigin(hd, origin)
	hd.Set("Access-Control-Allow-Methods", strings.Join(allowedMethods, ", "))
	if len(asked) > 0 {
		hd.Set("Access-Control-Allow-Headers", strings.Join(asked, ", "))
	}
	if p.maxAge != "" {
		hd.Set("Access-Control-Max-Age", p.maxAge)
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}
