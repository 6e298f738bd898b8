package tenant

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/scrytrace/scry/storage"
)

// Header names.
const (
	// DefaultHeader is Jaeger's tenant header, the default of
	// --multi-tenancy.header.
	DefaultHeader = "x-tenant"
	// TempoHeader is Grafana Tempo's (and Mimir's, Loki's) tenant header,
	// always accepted besides Config.Header.
	TempoHeader = "X-Scope-OrgID"
	// RelayKey is the gRPC metadata key in which scry-query tells a
	// collector's storage API the tenant of a read.
	RelayKey = "x-scry-tenant"
)

// Config is the tenancy of a binary's listeners, as the flags
// --multi-tenancy.enabled, --multi-tenancy.header and
// --multi-tenancy.tenants give it.
type Config struct {
	// Enabled turns tenancy on: every tenant-facing request needs a
	// tenant. Off (the default): tenant headers are ignored.
	Enabled bool
	// Header is the tenant header besides TempoHeader (DefaultHeader).
	Header string
	// Tenants, when not empty, are the only tenants accepted.
	Tenants []string
}

// DefaultConfig returns tenancy off, with DefaultHeader.
func DefaultConfig() Config { return Config{Header: DefaultHeader} }

// AddFlags registers the --multi-tenancy.* flags on fs, into c.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&c.Enabled, "multi-tenancy.enabled", c.Enabled,
		"keep tenants apart: every write and read works for one tenant, decided by the credential when --auth-file binds it to tenants, "+
			"else by the tenant header (--multi-tenancy.header or X-Scope-OrgID); a request without one is refused 401 (off: tenant headers are ignored)")
	fs.StringVar(&c.Header, "multi-tenancy.header", c.Header,
		"HTTP header (and gRPC metadata key) naming the tenant, besides X-Scope-OrgID (Grafana Tempo's), which is always accepted")
	fs.StringSliceVar(&c.Tenants, "multi-tenancy.tenants", c.Tenants,
		"the only tenants accepted, separated by commas; others are refused 403 (empty: any valid name)")
}

// Validate reports what is wrong with c, if anything.
func (c Config) Validate() error {
	var errs []error
	if !validHeaderName(c.Header) {
		errs = append(errs, fmt.Errorf("--multi-tenancy.header %q is not a valid header name", clip(c.Header)))
	} else if strings.EqualFold(c.Header, "authorization") || strings.EqualFold(c.Header, RelayKey) {
		errs = append(errs, fmt.Errorf("--multi-tenancy.header cannot be %s", c.Header))
	}
	for _, t := range c.Tenants {
		if err := storage.ValidateTenant(t); err != nil {
			errs = append(errs, fmt.Errorf("--multi-tenancy.tenants: %q: %w", clip(t), err))
		}
	}
	if len(c.Tenants) > 0 && !c.Enabled {
		errs = append(errs, errors.New("--multi-tenancy.tenants is set but --multi-tenancy.enabled is not"))
	}
	return errors.Join(errs...)
}

// headers returns the header names an edge resolver reads, as they are
// written in messages (http.Header and gRPC metadata look them up in
// their own case), without duplicates.
func (c Config) headers() []string {
	h := []string{c.Header}
	if !strings.EqualFold(c.Header, TempoHeader) {
		h = append(h, TempoHeader)
	}
	return h
}

// clipLen is how much of a name that failed validation is shown.
const clipLen = 40

// clip cuts s to clipLen bytes, marking the cut, to be shown with %q.
func clip(s string) string {
	if len(s) <= clipLen {
		return s
	}
	return s[:clipLen] + fmt.Sprintf("…(%d bytes)", len(s))
}

// validHeaderName says whether s is an HTTP header field name (an RFC 9110
// token) that is also a gRPC metadata key (no upper case is needed there:
// gRPC lower-cases them).
func validHeaderName(s string) bool {
	if s == "" || strings.HasSuffix(strings.ToLower(s), "-bin") || strings.HasPrefix(s, ":") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}
