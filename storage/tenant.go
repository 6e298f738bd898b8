package storage

import (
	"context"
	"errors"
	"fmt"
)

// Tenants. Every call of a Writer or Reader works for one tenant, the one its
// context carries (WithTenant); a context without one works for the default
// tenant, "", which is all there is when tenancy is off. A store keeps
// tenants apart: a read sees only what was written for its own tenant, so
// the same trace ID written by two tenants is two traces, and a trace of
// another tenant is ErrTraceNotFound. Services, operations, dependencies and
// search are per tenant too.
//
// The tenant is decided at the edge (internal/tenant: by the credential when
// it is bound to tenants, else by a header) and travels with the request; no
// code below the edge takes a tenant from anywhere but the context of the
// request it serves.

// MaxTenantLen is the longest tenant name accepted, in bytes.
const MaxTenantLen = 150

// ErrBadTenant is wrapped by the error of ValidateTenant.
var ErrBadTenant = errors.New("invalid tenant name")

type tenantKey struct{}

// WithTenant returns a context whose calls work for tenant. The name must
// have passed ValidateTenant (or be "", the default tenant).
func WithTenant(ctx context.Context, tenant string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenant)
}

// TenantFrom returns the tenant ctx carries, or "" (the default tenant).
func TenantFrom(ctx context.Context) string {
	t, _ := ctx.Value(tenantKey{}).(string)
	return t
}

// ValidateTenant says whether name may name a tenant: 1 to MaxTenantLen
// bytes of ASCII letters, digits and ! - _ . * ' ( ), and not "." or ".."
// (the set Tempo and Mimir accept for X-Scope-OrgID). So a tenant name is
// safe in a key, a path, a log line and a metric label as it is.
func ValidateTenant(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrBadTenant)
	case len(name) > MaxTenantLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrBadTenant, MaxTenantLen)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q", ErrBadTenant, name)
	}
	for i := 0; i < len(name); i++ {
		if !tenantByte(name[i]) {
			return fmt.Errorf("%w: byte %d (%q) is not a letter, digit or one of !-_.*'()", ErrBadTenant, i, name[i])
		}
	}
	return nil
}

func tenantByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '-', '_', '.', '*', '\'', '(', ')':
		return true
	}
	return false
}
