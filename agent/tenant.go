package agent

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc/metadata"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/internal/auth"
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

// tenantRefusal is why an export's tenant is refused.
type tenantRefusal struct {
	forbidden bool // the credential may not use it (else: malformed)
	msg       string
}

func (r *tenantRefusal) Error() string { return r.msg }

// resolvedTenantKey keys the tenant the OTLP/HTTP middleware decided on
// a request's context (gRPC exports are decided in ConsumeSpans, from their
// metadata).
type resolvedTenantKey struct{}

// withTenant decides the tenant of OTLP/HTTP requests before the receiver
// sees them: a refused one is answered 400 (malformed) or 403 (not the
// credential's) in plain text, as the collectors answer; else the tenant
// goes on the request's context, where tenantOf finds it.
func (a *Agent) withTenant(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ref := a.resolveTenant(r.Context(), r.Header.Values)
		if ref != nil {
			code := http.StatusBadRequest
			if ref.forbidden {
				code = http.StatusForbidden
			}
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, ref.msg, code)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), resolvedTenantKey{}, t)))
	})
}

// tenantOf returns the tenant of an OTLP export whose context is ctx (see
// resolveTenant). A refusal is a permanent error: the export is refused as
// invalid (gRPC INVALID_ARGUMENT; the HTTP middleware answers first).
func (a *Agent) tenantOf(ctx context.Context) (string, error) {
	if t, ok := ctx.Value(resolvedTenantKey{}).(string); ok {
		return t, nil
	}
	t, ref := a.resolveTenant(ctx, func(key string) []string { return metadata.ValueFromIncomingContext(ctx, key) })
	if ref != nil {
		return "", collector.NewPermanent(ref)
	}
	return t, nil
}

// resolveTenant decides the tenant of an export whose tenant headers have
// the values values returns for each name, on a ctx that carries the
// sender's identity (auth.FromContext) when the agent has an auth file.
// The headers name it (all the values must agree and be a valid name),
// else Config.Tenant does; but a credential bound to tenants decides: a
// header naming another tenant is refused, not believed, and without a
// header the credential's one tenant is taken (or Config.Tenant if it may
// use it).
func (a *Agent) resolveTenant(ctx context.Context, values func(string) []string) (string, *tenantRefusal) {
	name, from, given := "", "", false
	for _, h := range a.tenantHeaders {
		for _, v := range values(h) {
			switch {
			case !given:
				name, from, given = v, h, true
			case v != name:
				return "", &tenantRefusal{msg: fmt.Sprintf("bad tenant header: %s and %s name two different tenants, %q and %q", from, h, clip(name), clip(v))}
			}
		}
	}
	if given {
		if err := storage.ValidateTenant(name); err != nil {
			return "", &tenantRefusal{msg: fmt.Sprintf("bad tenant header %s: %v", from, err)}
		}
	}
	if id, ok := auth.FromContext(ctx); ok && !slices.Contains(id.Tenants, auth.AnyTenant) {
		switch {
		case given && !id.AllowsTenant(name):
			return "", &tenantRefusal{forbidden: true, msg: fmt.Sprintf("%s may not use tenant %q", id, name)}
		case given:
		case len(id.Tenants) == 1 && storage.ValidateTenant(id.Tenants[0]) == nil:
			return id.Tenants[0], nil
		case a.cfg.Tenant != "" && id.AllowsTenant(a.cfg.Tenant):
			return a.cfg.Tenant, nil
		default:
			return "", &tenantRefusal{forbidden: true, msg: fmt.Sprintf("%s may use several tenants: say which in the %s header", id, a.cfg.TenantHeader)}
		}
	}
	if !given {
		return a.cfg.Tenant, nil
	}
	return name, nil
}

// clip cuts a name that failed validation to 40 bytes for an answer.
func clip(s string) string {
	if len(s) <= 40 {
		return s
	}
	return s[:40] + fmt.Sprintf("…(%d bytes)", len(s))
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
