package httpserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/scrytrace/scry/internal/auth"
	"github.com/scrytrace/scry/internal/auth/authtest"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/tlsconf"
)

// With --auth-file, the admin listener serves /metrics to a credential
// with scope admin (a token or a user's basic auth), answers 401 with
// WWW-Authenticate (Basic first, so that a browser asks for a user and
// password) without one or with a bad one, 403 to one without the scope,
// and keeps /healthz and /readyz open for the kubelet's probes. The
// handler sees the identity.
func TestAuth(t *testing.T) {
	file := authtest.Write(t,
		authtest.Entry{Token: "scrape-token", Scopes: []string{"admin"}},
		authtest.Entry{User: "alice", Password: "wonderland", Tenants: []string{"team-a", "team-b"}, Scopes: []string{"read", "admin"}},
		authtest.Entry{User: "bob", Password: "builder", Scopes: []string{"read"}},
	)
	flags := tlsconf.NewServerFlags(tlsconf.Admin)
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	flags.Add(fs)
	if err := fs.Parse([]string{"--auth-file=" + file}); err != nil {
		t.Fatal(err)
	}
	srv, err := flags.Build(telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, ok := auth.FromContext(r.Context()); ok {
			fmt.Fprintf(w, "%s %s", id.Name, strings.Join(id.Tenants, ","))
			return
		}
		fmt.Fprint(w, "anonymous")
	})
	s := New("admin", "127.0.0.1:0", h, srv.For(tlsconf.Admin), telemetry.Nop())
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })

	get := func(path, authz string) (int, string, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+s.Addr().String()+path, nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	for _, c := range []struct {
		what, path, authz string
		code              int
		body              string
	}{
		{"no credential", "/metrics", "", 401, "authentication required"},
		{"bad token", "/metrics", "Bearer scrape-tokeN", 401, "not accepted"},
		{"wrong password", "/metrics", authtest.Basic("alice", "wonderlan"), 401, "not accepted"},
		{"no admin scope", "/metrics", authtest.Basic("bob", "builder"), 403, `user "bob" has no scope admin`},
		{"token", "/metrics", authtest.Bearer("scrape-token"), 200, "tokens[0] *"},
		{"user", "/debug/pprof/", authtest.Basic("alice", "wonderland"), 200, "alice team-a,team-b"},
		{"probe", "/readyz", "", 200, "anonymous"},
		{"probe with a bad credential", "/healthz", "Bearer nope", 200, "anonymous"},
	} {
		code, body, hdr := get(c.path, c.authz)
		if code != c.code || !strings.Contains(body, c.body) {
			t.Errorf("%s: GET %s = %d %q, want %d %q", c.what, c.path, code, body, c.code, c.body)
		}
		if code == 401 {
			if got := hdr.Values("WWW-Authenticate"); !slices.Equal(got, []string{`Basic realm="scry", charset="UTF-8"`, `Bearer realm="scry"`}) {
				t.Errorf("%s: WWW-Authenticate %q", c.what, got)
			}
		}
		if strings.Contains(body, "wonderlan") || strings.Contains(body, "scrape-tokeN") {
			t.Errorf("%s: the answer repeats the credential: %q", c.what, body)
		}
	}
}
