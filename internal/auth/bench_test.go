package auth

import (
	"fmt"
	"testing"
)

// BenchmarkAuthenticate measures what a credential costs a request: a
// bearer token among 100 (every hash compared), and basic auth once the
// password is cached (the first check costs a bcrypt comparison).
func BenchmarkAuthenticate(b *testing.B) {
	content := "tokens:\n"
	for i := range 100 {
		content += fmt.Sprintf("  - sha256: %s\n    tenants: [\"*\"]\n    scopes: [write]\n", hashToken(fmt.Sprint("token-", i)))
	}
	content += fmt.Sprintf("users:\n  - name: alice\n    bcrypt: %s\n    tenants: [\"*\"]\n    scopes: [read]\n", bcryptOf(b, "wonderland"))
	a, _ := newAuth(b, content, nil, nil)
	for _, c := range []struct{ name, authz string }{
		{"bearer of 100", "Bearer token-99"},
		{"basic cached", basicAuth("alice", "wonderland")},
	} {
		b.Run(c.name, func(b *testing.B) {
			cred := Credentials{Authorization: c.authz}
			for b.Loop() {
				if id, _ := a.Authenticate(cred); id == nil {
					b.Fatal("refused")
				}
			}
		})
	}
}
