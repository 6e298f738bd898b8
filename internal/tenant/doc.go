// Package tenant decides, at the edge, which tenant a request works for,
// and puts it on the request's context (storage.WithTenant) for every
// storage call below.
//
// With --multi-tenancy.enabled the tenant is decided by the credential
// when it is bound to tenants (internal/auth: a credential bound to one
// tenant needs no header; a header naming a tenant the credential may not
// use is refused, not believed), else by the tenant header: --multi-
// tenancy.header (x-tenant, Jaeger's, by default) or X-Scope-OrgID
// (Tempo's and Mimir's), which is always accepted too. The answers:
//
//   - no tenant: HTTP 401 / gRPC UNAUTHENTICATED;
//   - a malformed one (empty, "..", "/", control characters, longer than
//     storage.MaxTenantLen, the two headers or a repeated header naming
//     different tenants): 400 / INVALID_ARGUMENT, saying what is wrong;
//   - one not in --multi-tenancy.tenants or not allowed for the
//     credential: 403 / PERMISSION_DENIED.
//
// storage.ValidateTenant is the one rule for a valid name. A name that
// failed it is never logged or answered raw (it is quoted and truncated)
// and no tenant is ever a metric label: refusals are counted by listener
// and reason only.
//
// Without --multi-tenancy.enabled nothing changes: tenant headers are
// ignored and every request works for the default tenant.
//
// Between scry-query and the collectors' storage read API the tenant
// travels in the gRPC metadata RelayKey (x-scry-tenant). A Relay resolver
// believes it from a caller whose credential allows that tenant (any
// caller when no auth file is in force); without it the call works for
// the default tenant, unless the credential is bound to tenants.
//
// A nil *Resolver changes nothing: its Wrap returns the handler and its
// ServerOptions are none.
package tenant
