package tenant_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/scrytrace/scry/internal/auth"
	"github.com/scrytrace/scry/internal/auth/authtest"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/tenant"
	"github.com/scrytrace/scry/storage"
)

// server is a real HTTP server: the auth guard (when auth is given), then
// the tenant resolver, then a handler that answers the tenant it got.
type server struct {
	url string
	reg *prometheus.Registry
	log *bytes.Buffer
}

func startHTTP(t *testing.T, cfg tenant.Config, rules tenant.Rules, authFile string) *server {
	t.Helper()
	s := &server{reg: prometheus.NewRegistry(), log: &bytes.Buffer{}}
	tel := telemetry.Settings{Registerer: s.reg, Logger: slog.New(slog.NewTextHandler(s.log, nil))}
	set, err := tenant.NewSet(cfg, tel)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "tenant="+storage.TenantFrom(r.Context()))
	})
	h = set.Edge("http", rules).Wrap(h)
	if authFile != "" {
		a, err := auth.New(auth.Config{File: authFile}, tel)
		if err != nil {
			t.Fatal(err)
		}
		h = a.Guard("http", auth.Rules{Default: []auth.Scope{auth.Read}}).Wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// get sends headers (name, value pairs; a name may repeat) and returns
// the status and body.
func (s *server) get(t *testing.T, path string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func on() tenant.Config {
	c := tenant.DefaultConfig()
	c.Enabled = true
	return c
}

func TestHeaders(t *testing.T) {
	s := startHTTP(t, on(), tenant.Rules{}, "")
	long := strings.Repeat("a", storage.MaxTenantLen)
	for _, c := range []struct {
		name    string
		headers []string
		code    int
		body    string // the tenant's answer, or part of the refusal
	}{
		{"x-tenant", []string{"x-tenant", "team-a"}, 200, "tenant=team-a"},
		{"X-Scope-OrgID", []string{"X-Scope-OrgID", "team-b"}, 200, "tenant=team-b"},
		{"both, the same", []string{"x-tenant", "team-a", "X-Scope-OrgID", "team-a"}, 200, "tenant=team-a"},
		{"repeated, the same", []string{"x-tenant", "team-a", "x-tenant", "team-a"}, 200, "tenant=team-a"},
		{"150 bytes", []string{"x-tenant", long}, 200, "tenant=" + long},
		{"missing", nil, 401, "a tenant is required: send the x-tenant header (or X-Scope-OrgID)"},
		{"empty", []string{"x-tenant", ""}, 400, "invalid tenant in the x-tenant header: invalid tenant name: empty"},
		{"dot dot", []string{"x-tenant", ".."}, 400, `invalid tenant name: ".."`},
		{"dot", []string{"X-Scope-OrgID", "."}, 400, "invalid tenant in the X-Scope-OrgID header"},
		{"path", []string{"x-tenant", "../x"}, 400, `byte 2 ('/')`},
		{"slash", []string{"x-tenant", "a/b"}, 400, `byte 1 ('/')`},
		{"control character", []string{"x-tenant", "a\tb"}, 400, `byte 1 ('\t')`},
		{"space", []string{"x-tenant", "a b"}, 400, `byte 1 (' ')`},
		{"non-ASCII", []string{"x-tenant", "é"}, 400, `byte 0`},
		{"comma", []string{"x-tenant", "a,b"}, 400, `byte 1 (',')`},
		{"too long", []string{"x-tenant", long + "a"}, 400, "longer than 150 bytes"},
		{"two headers, different", []string{"x-tenant", "team-a", "X-Scope-OrgID", "team-b"}, 400, "the x-tenant and X-Scope-OrgID headers name different tenants"},
		{"repeated, different", []string{"x-tenant", "team-a", "x-tenant", "team-b"}, 400, "the x-tenant header is given more than once with different tenants"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := s.get(t, "/api/x", c.headers...)
			if code != c.code || !strings.Contains(body, c.body) {
				t.Fatalf("answered %d %q, want %d with %q", code, body, c.code, c.body)
			}
		})
	}
	// No name that failed validation is in the log, nor any tenant in
	// the metrics' labels.
	if strings.Contains(s.log.String(), "../x") || strings.Contains(s.log.String(), "a/b") {
		t.Errorf("log has a refused tenant name: %s", s.log)
	}
	got, series := refusals(t, s.reg, "malformed")
	if got != 12 {
		t.Errorf("malformed refusals counted %v, want 12", got)
	}
	if series != 3 {
		t.Errorf("scry_tenant_refusals_total has %d series, want 3: by listener and reason only", series)
	}
}

// refusals returns the refusals counted for reason, and the number of
// series of scry_tenant_refusals_total.
func refusals(t *testing.T, reg *prometheus.Registry, reason string) (float64, int) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	n := 0
	for _, mf := range mfs {
		if mf.GetName() != "scry_tenant_refusals_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			n++
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					v += m.GetCounter().GetValue()
				}
			}
		}
	}
	return v, n
}

func TestCustomHeader(t *testing.T) {
	cfg := on()
	cfg.Header = "X-Org"
	s := startHTTP(t, cfg, tenant.Rules{}, "")
	if code, body := s.get(t, "/", "x-org", "team-a"); code != 200 || body != "tenant=team-a" {
		t.Fatalf("X-Org: %d %q", code, body)
	}
	if code, body := s.get(t, "/", "X-Scope-OrgID", "team-a"); code != 200 || body != "tenant=team-a" {
		t.Fatalf("X-Scope-OrgID is accepted with any --multi-tenancy.header: %d %q", code, body)
	}
	if code, _ := s.get(t, "/", "x-tenant", "team-a"); code != 401 {
		t.Fatalf("x-tenant with --multi-tenancy.header=X-Org: %d, want 401 (not read)", code)
	}
}

func TestAllowlist(t *testing.T) {
	cfg := on()
	cfg.Tenants = []string{"team-a"}
	s := startHTTP(t, cfg, tenant.Rules{}, "")
	if code, _ := s.get(t, "/", "x-tenant", "team-a"); code != 200 {
		t.Fatalf("listed tenant: %d", code)
	}
	if code, body := s.get(t, "/", "x-tenant", "team-b"); code != 403 || !strings.Contains(body, `tenant "team-b" is not one of those this server accepts`) {
		t.Fatalf("unlisted tenant: %d %q, want 403", code, body)
	}
}

func TestOffIgnoresHeaders(t *testing.T) {
	s := startHTTP(t, tenant.DefaultConfig(), tenant.Rules{}, "")
	for _, h := range [][]string{nil, {"x-tenant", "team-a"}, {"x-tenant", "../x"}} {
		if code, body := s.get(t, "/", h...); code != 200 || body != "tenant=" {
			t.Fatalf("tenancy off, headers %q: %d %q, want the default tenant", h, code, body)
		}
	}
}

func TestExempt(t *testing.T) {
	s := startHTTP(t, on(), tenant.Rules{Exempt: func(p string) bool { return p == "/api/sampling" }}, "")
	if code, body := s.get(t, "/api/sampling"); code != 200 || body != "tenant=" {
		t.Fatalf("exempt route: %d %q", code, body)
	}
	if code, _ := s.get(t, "/api/traces"); code != 401 {
		t.Fatalf("scoped route without a tenant: %d", code)
	}
}

func TestCredentialBinding(t *testing.T) {
	file := authtest.Write(t,
		authtest.Entry{Token: "tok-a", Tenants: []string{"team-a"}, Scopes: []string{"read"}},
		authtest.Entry{Token: "tok-ab", Tenants: []string{"team-a", "team-b"}, Scopes: []string{"read"}},
		authtest.Entry{Token: "tok-any", Scopes: []string{"read"}},
	)
	s := startHTTP(t, on(), tenant.Rules{}, file)
	bearer := func(tok string) []string { return []string{"Authorization", authtest.Bearer(tok)} }
	for _, c := range []struct {
		name    string
		headers []string
		code    int
		body    string
	}{
		{"bound to one, no header: that one", bearer("tok-a"), 200, "tenant=team-a"},
		{"bound to one, its own", append(bearer("tok-a"), "x-tenant", "team-a"), 200, "tenant=team-a"},
		{"bound to one, another", append(bearer("tok-a"), "x-tenant", "team-b"), 403, `may not use tenant "team-b"`},
		{"bound to one, another in X-Scope-OrgID", append(bearer("tok-a"), "X-Scope-OrgID", "team-b"), 403, `may not use tenant "team-b"`},
		{"bound to one, malformed", append(bearer("tok-a"), "x-tenant", "a/b"), 400, "invalid tenant"},
		{"bound to two, no header", bearer("tok-ab"), 401, "may use several tenants: say which in the x-tenant header"},
		{"bound to two, one of them", append(bearer("tok-ab"), "x-tenant", "team-b"), 200, "tenant=team-b"},
		{"bound to two, another", append(bearer("tok-ab"), "x-tenant", "team-c"), 403, `may not use tenant "team-c"`},
		{"any tenant, header", append(bearer("tok-any"), "x-tenant", "team-c"), 200, "tenant=team-c"},
		{"any tenant, no header", bearer("tok-any"), 401, "a tenant is required"},
		{"no credential: the guard answers first", []string{"x-tenant", "team-a"}, 401, "authentication required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := s.get(t, "/", c.headers...)
			if code != c.code || !strings.Contains(body, c.body) {
				t.Fatalf("answered %d %q, want %d with %q", code, body, c.code, c.body)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := tenant.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	for _, c := range []tenant.Config{
		{Enabled: true, Header: ""},
		{Enabled: true, Header: "x tenant"},
		{Enabled: true, Header: "authorization"},
		{Enabled: true, Header: "x-tenant", Tenants: []string{"a/b"}},
		{Enabled: false, Header: "x-tenant", Tenants: []string{"a"}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	var c tenant.Config = tenant.DefaultConfig()
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	c.AddFlags(fs)
	if err := fs.Parse([]string{"--multi-tenancy.enabled", "--multi-tenancy.header=X-Org", "--multi-tenancy.tenants=a,b"}); err != nil {
		t.Fatal(err)
	}
	if !c.Enabled || c.Header != "X-Org" || len(c.Tenants) != 2 {
		t.Fatalf("flags gave %+v", c)
	}
}

// grpcServer serves the health service behind the guard (when authFile
// is given) and the resolver r builds, recording the tenant each call had.
func grpcServer(t *testing.T, mk func(*tenant.Set) *tenant.Resolver, cfg tenant.Config, authFile string) (healthpb.HealthClient, *string) {
	t.Helper()
	tel := telemetry.Settings{Registerer: prometheus.NewRegistry()}
	set, err := tenant.NewSet(cfg, tel)
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if authFile != "" {
		a, err := auth.New(auth.Config{File: authFile}, tel)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, a.Guard("storage", auth.Rules{Default: []auth.Scope{auth.Read}}).ServerOptions()...)
	}
	got := new(string)
	record := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		*got = "tenant=" + storage.TenantFrom(ctx)
		return h(ctx, req)
	}
	opts = append(opts, mk(set).ServerOptions()...)
	opts = append(opts, grpc.ChainUnaryInterceptor(record))
	srv := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, tenant.DialOptions()...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn), got
}

func TestGRPCEdge(t *testing.T) {
	c, got := grpcServer(t, func(s *tenant.Set) *tenant.Resolver { return s.Edge("otlp-grpc", tenant.Rules{}) }, on(), "")
	call := func(kv ...string) (codes.Code, string) {
		*got = ""
		ctx := metadata.AppendToOutgoingContext(context.Background(), kv...)
		_, err := c.Check(ctx, &healthpb.HealthCheckRequest{})
		return status.Code(err), *got + status.Convert(err).Message()
	}
	for _, tc := range []struct {
		kv   []string
		code codes.Code
		msg  string
	}{
		{[]string{"x-tenant", "team-a"}, codes.OK, "tenant=team-a"},
		{[]string{"x-scope-orgid", "team-b"}, codes.OK, "tenant=team-b"},
		{nil, codes.Unauthenticated, "a tenant is required"},
		{[]string{"x-tenant", "../x"}, codes.InvalidArgument, "invalid tenant"},
		{[]string{"x-tenant", strings.Repeat("x", 151)}, codes.InvalidArgument, "longer than 150 bytes"},
		{[]string{"x-tenant", "a", "x-scope-orgid", "b"}, codes.InvalidArgument, "name different tenants"},
		{[]string{"x-tenant", "a", "x-tenant", "b"}, codes.InvalidArgument, "more than once"},
	} {
		code, msg := call(tc.kv...)
		if code != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("metadata %q: %s %q, want %s with %q", tc.kv, code, msg, tc.code, tc.msg)
		}
	}
}

// TestRelay: the storage API's resolver believes x-scry-tenant, which
// DialOptions send from the context's tenant, from a caller allowed it.
func TestRelay(t *testing.T) {
	check := func(c healthpb.HealthClient, got *string, ctx context.Context) (codes.Code, string) {
		*got = ""
		_, err := c.Check(ctx, &healthpb.HealthCheckRequest{})
		return status.Code(err), *got
	}
	relay := func(s *tenant.Set) *tenant.Resolver { return s.Relay("storage") }
	t.Run("no auth", func(t *testing.T) {
		c, got := grpcServer(t, relay, tenant.DefaultConfig(), "")
		if code, g := check(c, got, storage.WithTenant(context.Background(), "team-a")); code != codes.OK || g != "tenant=team-a" {
			t.Fatalf("team-a: %s %q", code, g)
		}
		if code, g := check(c, got, context.Background()); code != codes.OK || g != "tenant=" {
			t.Fatalf("default tenant: %s %q", code, g)
		}
		// x-tenant is not what a storage API reads.
		ctx := metadata.AppendToOutgoingContext(context.Background(), "x-tenant", "team-a")
		if code, g := check(c, got, ctx); code != codes.OK || g != "tenant=" {
			t.Fatalf("x-tenant to the storage API: %s %q, want the default tenant", code, g)
		}
	})
	t.Run("auth", func(t *testing.T) {
		file := authtest.Write(t,
			authtest.Entry{Token: "query-a", Tenants: []string{"team-a"}, Scopes: []string{"read"}},
			authtest.Entry{Token: "query-any", Scopes: []string{"read"}})
		c, got := grpcServer(t, relay, on(), file)
		as := func(tok, tn string) context.Context {
			return storage.WithTenant(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok), tn)
		}
		if code, g := check(c, got, as("query-any", "team-b")); code != codes.OK || g != "tenant=team-b" {
			t.Fatalf("any-tenant caller: %s %q", code, g)
		}
		if code, g := check(c, got, as("query-a", "team-b")); code != codes.PermissionDenied {
			t.Fatalf("caller bound to team-a relaying team-b: %s %q, want PERMISSION_DENIED", code, g)
		}
		if code, g := check(c, got, as("query-a", "")); code != codes.OK || g != "tenant=team-a" {
			t.Fatalf("caller bound to team-a, no tenant: %s %q, want team-a", code, g)
		}
	})
}
