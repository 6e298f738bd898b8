package e2e

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/internal/auth/authtest"
	"github.com/scrytrace/scry/internal/testbin"
	"github.com/scrytrace/scry/internal/testkit"
)

// The credentials of the auth tests. The harness reads the query API and
// /metrics as "ops".
var (
	authApp     = authtest.Entry{Token: "app-token-5f1e", Tenants: []string{"team-a"}, Scopes: []string{"write"}}
	authReader  = authtest.Entry{Token: "reader-token-77c2", Scopes: []string{"read"}}
	authScraper = authtest.Entry{Token: "scrape-token-0b9a", Scopes: []string{"admin"}}
	authAlice   = authtest.Entry{User: "alice", Password: "wonder land", Scopes: []string{"read"}}
	authOps     = authtest.Entry{User: "ops", Password: "ops-secret-31", Scopes: []string{"read", "admin"}}
	authEntries = []authtest.Entry{authApp, authReader, authScraper, authAlice, authOps}
)

// authRoute is one route of a listener and the scope it needs.
type authRoute struct {
	listener, name string
	need           string                               // write, read, admin, "write or read", open
	call           func(t *testing.T, authz string) int // returns an HTTP status (gRPC codes mapped)
}

// TestAuth runs scry with an --auth-file and checks every route of every
// listener with no credential, a bad one, a read-only, a write-only and
// the right one: 401 (UNAUTHENTICATED) with WWW-Authenticate without or
// with a bad credential, 403 (PERMISSION_DENIED) without the scope, served
// with it; the probes stay open. The OpenTelemetry SDK configured only
// through OTEL_EXPORTER_OTLP_HEADERS writes over gRPC and HTTP and the
// trace is read back with basic auth. Refusals are counted by listener
// and reason, no secret reaches the log, a token added to the file works
// within the reload interval, and a file readable by others is refused.
//
// Not parallel: the SDK subtests set the process environment.
func TestAuth(t *testing.T) {
	file := authtest.Write(t, authEntries...)
	s := startScryWith(t, scryOptions{
		Flags:         []string{"--auth-file=" + file, "--auth-reload-interval=100ms"},
		Authorization: authtest.Basic(authOps.User, authOps.Password),
		Tempo:         true,
	})

	httpCall := func(method, base, path, contentType string, body []byte) func(t *testing.T, authz string) int {
		return func(t *testing.T, authz string) int {
			req, err := http.NewRequest(method, "http://"+base+path, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if contentType != "" {
				req.Header.Set("Content-Type", contentType)
			}
			if authz != "" {
				req.Header.Set("Authorization", authz)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			defer resp.Body.Close()
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			if resp.StatusCode == http.StatusUnauthorized {
				if got := resp.Header.Values("WWW-Authenticate"); len(got) == 0 || !strings.HasPrefix(got[0], `Basic realm="scry"`) {
					t.Errorf("%s %s: 401 with WWW-Authenticate %q, want Basic first (the browser's prompt)", method, path, got)
				}
			}
			for _, e := range authEntries {
				for _, secret := range []string{e.Token, e.Password} {
					if secret != "" && strings.Contains(buf.String(), secret) {
						t.Errorf("%s %s: the answer holds a secret", method, path)
					}
				}
			}
			return resp.StatusCode
		}
	}
	conn, err := grpc.NewClient(s.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	grpcExport := func(t *testing.T, authz string) int {
		ctx, cancel := context.WithTimeout(context.Background(), httpTimeout)
		defer cancel()
		if authz != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", authz)
		}
		_, err := coltracepb.NewTraceServiceClient(conn).Export(ctx, &coltracepb.ExportTraceServiceRequest{})
		switch status.Code(err) {
		case codes.OK:
			return 200
		case codes.Unauthenticated:
			return 401
		case codes.PermissionDenied:
			return 403
		}
		t.Fatalf("gRPC export: %v", err)
		return 0
	}
	emptyOTLP, _ := proto.Marshal(&coltracepb.ExportTraceServiceRequest{})
	routes := []authRoute{
		{"otlp-grpc", "Export", "write", grpcExport},
		{"otlp-http", "POST /v1/traces", "write", httpCall("POST", s.OTLPHTTP, "/v1/traces", "application/x-protobuf", emptyOTLP)},
		{"jaeger-http", "POST /api/traces", "write", httpCall("POST", s.JaegerHTTP, "/api/traces", "application/x-thrift", nil)},
		{"jaeger-http", "GET /api/sampling", "write or read", httpCall("GET", s.JaegerHTTP, "/api/sampling?service=checkout", "", nil)},
		{"zipkin", "POST /api/v2/spans", "write", httpCall("POST", s.Zipkin, "/api/v2/spans", "application/json", []byte("[]"))},
		{"http", "GET /", "read", httpCall("GET", s.Query, "/", "", nil)},
		{"http", "GET /api/services", "read", httpCall("GET", s.Query, "/api/services", "", nil)},
		{"http", "GET /api/traces", "read", httpCall("GET", s.Query, "/api/traces?service=checkout", "", nil)},
		{"http", "GET /api/v3/services", "read", httpCall("GET", s.Query, "/api/v3/services", "", nil)},
		{"http", "GET /api/search (Tempo)", "read", httpCall("GET", s.Query, "/api/search?q=%7B%7D", "", nil)},
		{"tempo-http", "GET /api/echo", "read", httpCall("GET", s.Tempo, "/api/echo", "", nil)},
		{"tempo-http", "GET /api/search", "read", httpCall("GET", s.Tempo, "/api/search?tags=service.name%3Dcheckout", "", nil)},
		{"tempo-http", "GET /api/traces/{id}", "read", httpCall("GET", s.Tempo, "/api/traces/0af7651916cd43dd8448eb211c80319c", "", nil)},
		{"admin", "GET /metrics", "admin", httpCall("GET", s.Admin, "/metrics", "", nil)},
		{"admin", "GET /debug/pprof/", "admin", httpCall("GET", s.Admin, "/debug/pprof/", "", nil)},
		{"admin", "GET /readyz", "open", httpCall("GET", s.Admin, "/readyz", "", nil)},
		{"admin", "GET /healthz", "open", httpCall("GET", s.Admin, "/healthz", "", nil)},
	}
	creds := []struct {
		name, authz string
		scope       string // what it may do
	}{
		{"no credential", "", ""},
		{"bad", authtest.Bearer("app-token-5f1f"), ""},
		{"bad password", authtest.Basic("alice", "wonder-land"), ""},
		{"read-only", authtest.Bearer(authReader.Token), "read"},
		{"read-only user", authtest.Basic(authAlice.User, authAlice.Password), "read"},
		{"write-only", authtest.Bearer(authApp.Token), "write"},
		{"admin", authtest.Bearer(authScraper.Token), "admin"},
	}
	for _, r := range routes {
		for _, c := range creds {
			want := 403
			switch {
			case r.need == "open":
				want = 200
			case c.scope == "":
				want = 401
			case strings.Contains(r.need, c.scope):
				want = 200 // or what the route answers a good credential
			}
			got := r.call(t, c.authz)
			if want == 200 && got != 401 && got != 403 && got < 500 {
				continue // served: the body decides the status (an empty Thrift body is a 400)
			}
			if got != want {
				t.Errorf("%s %s with %s credential: %d, want %d", r.listener, r.name, c.name, got, want)
			}
		}
	}

	t.Run("SDK with the token in OTEL_EXPORTER_OTLP_HEADERS", func(t *testing.T) {
		t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20"+authApp.Token)
		t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+s.OTLPGRPC)
		exp, err := otlptracegrpc.New(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		checkJaegerTrace(t, s, "auth-grpc", emitSDKTrace(t, exp, "auth-grpc"))

		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+s.OTLPHTTP)
		hexp, err := otlptracehttp.New(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		checkJaegerTrace(t, s, "auth-http", emitSDKTrace(t, hexp, "auth-http"))
	})

	t.Run("refusals counted", func(t *testing.T) {
		for _, l := range []string{"otlp-grpc", "otlp-http", "http", "admin"} {
			for reason, want := range map[string]float64{"missing": 1, "bad": 2, "forbidden": 1} {
				if got := s.metric(t, "scry_auth_failures_total", map[string]string{"listener": l, "reason": reason}); got < want {
					t.Errorf("scry_auth_failures_total{listener=%q,reason=%q} = %v, want at least %v", l, reason, got, want)
				}
			}
		}
	})

	t.Run("no secret in the log", func(t *testing.T) {
		out := s.Output()
		for _, e := range authEntries {
			for _, secret := range []string{e.Token, e.Password, authtest.HashToken(e.Token)} {
				if e.Token == "" && secret == authtest.HashToken("") {
					continue
				}
				if secret != "" && strings.Contains(out, secret) {
					t.Errorf("the log holds a secret of %s%s", e.User, e.Subject)
				}
			}
		}
		if !strings.Contains(out, "request refused") {
			t.Errorf("refusals are not logged:\n%s", out)
		}
	})

	t.Run("reload", func(t *testing.T) {
		added := authtest.Entry{Token: "new-app-token-9", Scopes: []string{"write"}}
		authtest.Rewrite(t, file, append([]authtest.Entry{added}, authEntries[1:]...)...)
		testkit.EventuallyWithin(t, 10*time.Second, "the token added to the file accepted", func() bool {
			return grpcExport(t, authtest.Bearer(added.Token)) == 200
		})
		if got := grpcExport(t, authtest.Bearer(authApp.Token)); got != 401 {
			t.Errorf("the token removed from the file: %d, want 401", got)
		}
		if err := os.WriteFile(file, []byte("tokens: [{sha256: nothex, tenants: [a], scopes: [write]}]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		testkit.EventuallyWithin(t, 10*time.Second, "the bad file logged", func() bool {
			grpcExport(t, authtest.Bearer(added.Token)) // the file is looked at when a request comes
			return strings.Contains(s.Output(), "cannot reload the auth file")
		})
		if got := grpcExport(t, authtest.Bearer(added.Token)); got != 200 {
			t.Errorf("a bad file replaced the good one: %d", got)
		}
	})

	t.Run("a file readable by others is refused", func(t *testing.T) {
		open := authtest.Write(t, authEntries...)
		if err := os.Chmod(open, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := runScryThen(t, "--auth-file="+open)
		if err == nil || !strings.Contains(string(out), "chmod 600") {
			t.Errorf("scry with a 0644 auth file: %v, output %q; want a refusal saying chmod 600", err, out)
		}
		bad := authtest.Write(t, authEntries...)
		if err := os.WriteFile(bad, []byte("users: [{name: carol, bcrypt: plain, tenants: ['*'], scopes: [read]}]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err = runScryThen(t, "--auth-file="+bad)
		if err == nil || !strings.Contains(string(out), `users[0] \"carol\"`) && !strings.Contains(string(out), `users[0] "carol"`) {
			t.Errorf("scry with a bad bcrypt hash: %v, output %q; want a refusal naming the entry", err, out)
		}
	})
}

// TestAuthHashCommands: scry auth hash-token prints the hex SHA-256 of
// the token on stdin, hash-password a bcrypt hash of the password.
func TestAuthHashCommands(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t, "./cmd/scry")
	run := func(stdin string, args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Env = cleanEnv()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("scry %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	if got := run("test\n", "auth", "hash-token"); got != "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" {
		t.Errorf("hash-token of test: %s", got)
	}
	h := run("wonder land\n", "auth", "hash-password")
	if err := bcrypt.CompareHashAndPassword([]byte(h), []byte("wonder land")); err != nil {
		t.Errorf("hash-password printed %q, which does not match the password: %v", h, err)
	}
}

// TestAuthSplit: a collector with --auth-file serves its storage API only
// to a read credential. scry-query with --storage-auth-token-file (a read
// token, in plain text to a loopback collector) reads what an app wrote
// with its write token, and serves it to a user with basic auth; without
// the token it cannot read; with the app's write token it is refused.
func TestAuthSplit(t *testing.T) {
	t.Parallel()
	file := authtest.Write(t, authEntries...)
	col := startAuthCollector(t, file)
	tid := newTraceID()
	rs := resourceSpans("split-auth", nil, span(tid, newSpanID(), nil, "GET /", tracepb.Span_SPAN_KIND_SERVER, time.Now(), time.Millisecond))
	{
		conn, err := grpc.NewClient(col.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", authtest.Bearer(authApp.Token))
		if _, err := coltracepb.NewTraceServiceClient(conn).Export(ctx, &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{rs}}); err != nil {
			t.Fatalf("export with the write token: %v", err)
		}
	}
	tokenFile := func(tok string) string {
		p := t.TempDir() + "/token"
		if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	q := startAuthQuery(t, col.Storage, "--storage-auth-token-file="+tokenFile(authReader.Token), "--auth-file="+file)
	q.http.Transport = withAuthorization{value: authtest.Basic(authAlice.User, authAlice.Password)}
	got := q.trace(t, hexID(tid))
	if len(got.Spans) != 1 {
		t.Errorf("the trace through scry-query has %d spans, want 1", len(got.Spans))
	}
	if code, _, _ := q.getAs(t, "/api/services", ""); code != http.StatusUnauthorized {
		t.Errorf("scry-query without a credential: %d, want 401", code)
	}

	for _, c := range []struct{ what, token string }{{"no token", ""}, {"the app's write token", authApp.Token}} {
		var args []string
		if c.token != "" {
			args = append(args, "--storage-auth-token-file="+tokenFile(c.token))
		}
		q := startAuthQuery(t, col.Storage, args...)
		code, body, _ := q.getAs(t, "/api/traces/"+hexID(tid), "")
		if code == http.StatusOK {
			t.Errorf("scry-query with %s read the trace: %s", c.what, body)
		}
	}
	if v := col.metricValue(t, "scry_auth_failures_total", map[string]string{"listener": "storage", "reason": "forbidden"}); v < 1 {
		t.Errorf("the write token's read is not counted as forbidden on the storage listener: %v", v)
	}
}

// getAs GETs pathAndQuery from the query API with authz (none if empty),
// past the harness's own credential.
func (s *Scry) getAs(t testing.TB, pathAndQuery, authz string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.base(s.Query)+pathAndQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := (&http.Client{Timeout: httpTimeout}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", pathAndQuery, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes(), resp.Header
}

type authCollector struct {
	*testbin.Proc
	OTLPGRPC, Storage string
}

// metricValue reads a metric from the collector's admin port with the
// scrape token.
func (c *authCollector) metricValue(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	s := &Scry{Proc: c.Proc, http: &http.Client{Timeout: httpTimeout, Transport: withAuthorization{value: authtest.Bearer(authScraper.Token)}}}
	return s.metric(t, name, labels)
}

func startAuthCollector(t *testing.T, authFile string, extra ...string) *authCollector {
	t.Helper()
	bin := buildBinary(t, "./cmd/scry-collector")
	dir := t.TempDir()
	return testbin.WithFreePorts(t, 3, func(a []string) (*authCollector, error) {
		p, err := testbin.Start(t, bin, append([]string{"--data-dir=" + dir, "--otlp-grpc-addr=" + a[0], "--otlp-http-addr=",
			"--jaeger-http-addr=", "--zipkin-addr=", "--udp-compact-addr=", "--udp-binary-addr=",
			"--storage-addr=" + a[1], "--admin-addr=" + a[2], "--auth-file=" + authFile}, extra...), nil, a[2])
		if err != nil {
			return nil, err
		}
		return &authCollector{Proc: p, OTLPGRPC: a[0], Storage: a[1]}, nil
	})
}

func startAuthQuery(t *testing.T, storage string, extra ...string) *Scry {
	t.Helper()
	bin := buildBinary(t, "./cmd/scry-query")
	return testbin.WithFreePorts(t, 2, func(a []string) (*Scry, error) {
		p, err := testbin.Start(t, bin, append([]string{"--storage=" + storage, "--http-addr=" + a[0], "--admin-addr=" + a[1]}, extra...), nil, a[1])
		if err != nil {
			return nil, err
		}
		return &Scry{Proc: p, Query: a[0], http: &http.Client{Timeout: httpTimeout}}, nil
	})
}

// TestAuthProxy: a reverse proxy that authenticates people (oauth2-proxy
// in front of the UI, as Grafana's "Forward OAuth identity" reaches it)
// names the user in a header, which scry believes only from the proxy's
// addresses, with the scopes the proxy's entry gives.
func TestAuthProxy(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "auth.yaml")
	if err := os.WriteFile(path, []byte(`
proxies:
  - name: oauth2-proxy
    cidrs: [127.0.0.0/8, "::1/128"]
    user_header: X-Forwarded-Email
    tenants: ["*"]
    scopes: [read]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startScry(t, "--auth-file="+path)
	do := func(method, url string, hdr ...string) int {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	services := "http://" + s.Query + "/api/services"
	if got := do("GET", services, "X-Forwarded-Email", "alice@example.com", "Authorization", "Bearer eyJ-an-oauth-token"); got != http.StatusOK {
		t.Errorf("UI API through the proxy with its user header: %d, want 200", got)
	}
	if got := do("GET", services); got != http.StatusUnauthorized {
		t.Errorf("UI API from the proxy's address without the header: %d, want 401", got)
	}
	if got := do("POST", "http://"+s.OTLPHTTP+"/v1/traces", "X-Forwarded-Email", "alice@example.com"); got != http.StatusForbidden {
		t.Errorf("intake with the proxy's user (scope read): %d, want 403", got)
	}
}
