package storage

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestValidateTenant(t *testing.T) {
	for _, ok := range []string{"team-a", "A", "acme_prod.eu", "x(1)*'!", strings.Repeat("t", MaxTenantLen)} {
		if err := ValidateTenant(ok); err != nil {
			t.Errorf("ValidateTenant(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "../etc", "a b", "tab\t", "nul\x00", "é", "a:b", strings.Repeat("t", MaxTenantLen+1)} {
		if err := ValidateTenant(bad); !errors.Is(err, ErrBadTenant) {
			t.Errorf("ValidateTenant(%q) = %v, want ErrBadTenant", bad, err)
		}
	}
}

func TestTenantContext(t *testing.T) {
	ctx := context.Background()
	if got := TenantFrom(ctx); got != "" {
		t.Fatalf("TenantFrom(background) = %q, want the default tenant", got)
	}
	a := WithTenant(ctx, "team-a")
	if got := TenantFrom(WithTenant(a, "team-b")); got != "team-b" {
		t.Fatalf("inner WithTenant: got %q", got)
	}
	if got := TenantFrom(a); got != "team-a" {
		t.Fatalf("got %q, want team-a", got)
	}
}
