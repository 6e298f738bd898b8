package browser

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// DefaultMaxAge is how long browsers may keep a preflight's answer unless
// --http-cors-max-age says otherwise. The OpenTelemetry JS SDK exports
// every few seconds; without a max age browsers ask again after 5 s, so
// nearly every export would cost two requests. Chromium keeps an answer
// at most 2 hours, Firefox 24.
const DefaultMaxAge = 10 * time.Minute

// Config is the CORS of a binary's HTTP listeners that browsers' scripts
// may call across origins (the OTLP/HTTP and Zipkin intake, the query and
// Tempo APIs), as the --http-cors-* flags, or an http-cors: block in
// --config with the OpenTelemetry Collector's keys (allowed_origins,
// allowed_headers, max_age), give it. No AllowedOrigins: CORS is off.
type Config struct {
	// AllowedOrigins are the exact origins ("https://app.example.com",
	// "http://localhost:3000") whose pages may call the listeners, or
	// "*" alone for any page (only without credentials).
	AllowedOrigins []string
	// AllowedHeaders are request headers allowed on top of
	// DefaultAllowedHeaders; "*" allows any.
	AllowedHeaders []string
	// MaxAge is how long a browser may keep a preflight's answer (0: no
	// Access-Control-Max-Age header, the browser's default of 5 s).
	MaxAge time.Duration
}

// DefaultAllowedHeaders are the request headers a cross-origin request may
// always carry: those the OpenTelemetry Collector allows implicitly
// (Accept, Accept-Language, Content-Language, Content-Type,
// X-Requested-With), Authorization for credentials, Content-Encoding for
// compressed exports, the tenant headers (Jaeger's x-tenant, Tempo's
// X-Scope-OrgID) and the W3C trace context an instrumented page adds.
var DefaultAllowedHeaders = []string{
	"Accept", "Accept-Language", "Content-Language", "Content-Type", "Content-Encoding",
	"X-Requested-With", "Authorization", "X-Tenant", "X-Scope-OrgID", "Traceparent", "Tracestate",
}

// AddFlags registers --http-cors-allowed-origins, --http-cors-allowed-headers
// and --http-cors-max-age on fs, into c.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	fs.StringSliceVar(&c.AllowedOrigins, "http-cors-allowed-origins", c.AllowedOrigins,
		"exact origins (scheme://host[:port], e.g. https://app.example.com) whose web pages may call the OTLP/HTTP, Zipkin, query and Tempo HTTP listeners "+
			"from another origin (CORS), as the OpenTelemetry JS SDK does in a browser; repeat or separate by commas. "+
			"Their cross-origin POSTs pass the cross-site request check, which refuses every other origin's. "+
			"\"*\" allows any page, and is refused with --auth-file (empty: CORS off)")
	fs.StringSliceVar(&c.AllowedHeaders, "http-cors-allowed-headers", c.AllowedHeaders,
		"request headers cross-origin requests may carry on top of "+strings.Join(DefaultAllowedHeaders, ", ")+` ("*": any)`)
	fs.Var((*maxAge)(&c.MaxAge), "http-cors-max-age",
		"how long a browser may keep the answer to a CORS preflight, as a duration or in seconds (0: no Access-Control-Max-Age, browsers ask again after 5s)")
}

// maxAge is a duration flag that also takes a number of seconds, as the
// OpenTelemetry Collector's max_age is written.
type maxAge time.Duration

func (m *maxAge) String() string { return time.Duration(*m).String() }
func (m *maxAge) Type() string   { return "duration" }
func (m *maxAge) Set(s string) error {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		*m = maxAge(time.Duration(n) * time.Second)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration (10m) or a number of seconds (600): %q", s)
	}
	*m = maxAge(d)
	return nil
}

// Enabled reports whether CORS is on: some origin is allowed.
func (c Config) Enabled() bool { return len(c.origins()) > 0 }

// AnyOrigin reports whether AllowedOrigins is "*".
func (c Config) AnyOrigin() bool {
	o := c.origins()
	return len(o) == 1 && o[0] == "*"
}

// origins returns AllowedOrigins without empty entries.
func (c Config) origins() []string {
	var out []string
	for _, o := range c.AllowedOrigins {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// Validate reports what is wrong with c, if anything. credentials says
// whether the listeners require credentials (--auth-file): "*" is refused
// then.
func (c Config) Validate(credentials bool) error {
	var errs []error
	origins := c.origins()
	for _, o := range origins {
		if o == "*" {
			if len(origins) > 1 {
				errs = append(errs, errors.New(`--http-cors-allowed-origins: "*" allows every origin; give it alone or list exact origins`))
			}
			if credentials {
				errs = append(errs, errors.New(`--http-cors-allowed-origins="*" cannot be used with --auth-file: any web page could then call Scry with its visitors' credentials; list the exact origins that may (e.g. https://app.example.com)`))
			}
			continue
		}
		if _, err := normalOrigin(o); err != nil {
			errs = append(errs, fmt.Errorf("--http-cors-allowed-origins: %w", err))
		}
	}
	for _, h := range c.AllowedHeaders {
		if h = strings.TrimSpace(h); h != "" && h != "*" && !validToken(h) {
			errs = append(errs, fmt.Errorf("--http-cors-allowed-headers: %q is not a header name", h))
		}
	}
	if c.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("--http-cors-max-age must not be negative, got %s", c.MaxAge))
	}
	if len(c.AllowedHeaders) > 0 && len(origins) == 0 {
		errs = append(errs, errors.New("--http-cors-allowed-headers is set but --http-cors-allowed-origins is empty: CORS is off, so the headers would allow nothing"))
	}
	return errors.Join(errs...)
}

// normalOrigin returns o as browsers write it in the Origin header:
// lower case, without the scheme's default port. It refuses what is not
// an exact origin: no scheme http or https, a path (even "/"), a query,
// user info or a wildcard.
func normalOrigin(o string) (string, error) {
	if strings.Contains(o, "*") {
		return "", fmt.Errorf("%q: origins are exact, wildcards are not allowed (list each origin, or give \"*\" alone)", o)
	}
	u, err := url.Parse(o)
	if err != nil {
		return "", fmt.Errorf("%q is not an origin: %w", o, err)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", fmt.Errorf("%q is not an origin: it must start with http:// or https://", o)
	}
	if u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an origin: write scheme://host[:port] with nothing after it, as browsers send it (e.g. https://app.example.com)", o)
	}
	host := strings.ToLower(u.Host)
	if p := u.Port(); (scheme == "http" && p == "80") || (scheme == "https" && p == "443") {
		host = strings.TrimSuffix(host, ":"+p)
	}
	return scheme + "://" + host, nil
}

// validToken reports whether s is an HTTP token, as header names are.
func validToken(s string) bool {
	for _, r := range s {
		if r >= 0x7f || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return s != ""
}

// headerSet is a set of header names in canonical form.
type headerSet map[string]bool

func newHeaderSet(names []string) headerSet {
	s := headerSet{}
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" {
			s[http.CanonicalHeaderKey(n)] = true
		}
	}
	return s
}
