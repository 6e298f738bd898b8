package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/grpc/metadata"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/storage"
)

// Tenants. Every span the agent holds belongs to one tenant, or to none
// (""): an OTLP export's is named by its tenant header (Config.TenantHeader,
// or Tempo's X-Scope-OrgID), else it is Config.Tenant, as is every UDP
// span's. Batches hold spans of one tenant, and are sent to collectors with
// the tenant in the Config.TenantHeader metadata; spans of no tenant are
// sent without it, as before tenants. The spool keeps each record's tenant.
// A tenant name is valid as storage.ValidateTenant says, the rule the
// collectors apply.

// DefaultTenantHeader is the default of Config.TenantHeader: the
// collectors' default --multi-tenancy.header (Jaeger's).
const DefaultTenantHeader = "x-tenant"

// orgIDHeader is Tempo's tenant header, accepted in OTLP exports too.
const orgIDHeader = "x-scope-orgid"

// errBadTenantHeader is wrapped by the refusal of an export whose tenant
// header is malformed.
var errBadTenantHeader = errors.New("bad tenant header")

// tenantHeadersKey keys the tenant header values of an OTLP/HTTP request
// on its context (gRPC's are in its metadata).
type tenantHeadersKey struct{}

// withTenantHeaders passes the tenant headers of OTLP/HTTP requests on to
// the consumer in the request's context, where tenantOf finds them.
func (a *Agent) withTenantHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vals := r.Header.Values(a.cfg.TenantHeader)
		if a.cfg.TenantHeader != orgIDHeader {
			vals = append(vals[:len(vals):len(vals)], r.Header.Values(orgIDHeader)...)
		}
		if len(vals) > 0 {
			r = r.WithContext(context.WithValue(r.Context(), tenantHeadersKey{}, vals))
		}
		h.ServeHTTP(w, r)
	})
}

// tenantOf returns the tenant of an OTLP export whose context is ctx: that
// of its tenant headers, else Config.Tenant. Malformed headers (an invalid
// name, two different ones) make a permanent error: the export is refused
// as invalid (HTTP 400, gRPC INVALID_ARGUMENT).
func (a *Agent) tenantOf(ctx context.Context) (string, error) {
	vals, ok := ctx.Value(tenantHeadersKey{}).([]string)
	if !ok {
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			vals = md.Get(a.cfg.TenantHeader)
			if a.cfg.TenantHeader != orgIDHeader {
				vals = append(vals[:len(vals):len(vals)], md.Get(orgIDHeader)...)
			}
		}
	}
	if len(vals) == 0 {
		return a.cfg.Tenant, nil
	}
	t := vals[0]
	for _, v := range vals[1:] {
		if v != t {
			return "", collector.NewPermanent(fmt.Errorf("%w: two different tenants, %q and %q", errBadTenantHeader, t, v))
		}
	}
	if err := storage.ValidateTenant(t); err != nil {
		return "", collector.NewPermanent(fmt.Errorf("%w: %w", errBadTenantHeader, err))
	}
	return t, nil
}

// validHeaderName says whether name can name an HTTP header and a gRPC
// metadata key (not a binary one, not one gRPC keeps for itself).
func validHeaderName(name string) bool {
	if name == "" || strings.HasSuffix(name, "-bin") || strings.HasPrefix(name, "grpc-") || name[0] == ':' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
