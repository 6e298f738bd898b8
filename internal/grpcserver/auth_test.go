package grpcserver

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/scrytrace/scry/internal/auth"
	"github.com/scrytrace/scry/internal/auth/authtest"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/tlsconf"
	"github.com/scrytrace/scry/internal/tlsconf/tlstest"
)

// With --auth-file, the storage listener (scope read) answers a call with
// a read token, or with a client certificate the file names; refuses one
// without a credential or with a bad one as UNAUTHENTICATED and a write
// token as PERMISSION_DENIED, unary and streaming alike, counting each in
// scry_auth_failures_total; the handler sees the identity and its tenants.
func TestAuth(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	srvCert := ca.Server(t, "server")
	reader := ca.Client(t, "query")
	stranger := ca.Client(t, "stranger")
	file := authtest.Write(t,
		authtest.Entry{Token: "write-token", Scopes: []string{"write"}},
		authtest.Entry{Token: "read-token", Tenants: []string{"team-a"}, Scopes: []string{"read"}},
		authtest.Entry{Subject: "CN=query", Scopes: []string{"read"}},
	)
	flags := tlsconf.NewServerFlags(tlsconf.Storage)
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	flags.Add(fs)
	if err := fs.Parse([]string{"--auth-file=" + file, "--tls-cert-file=" + srvCert.CertFile, "--tls-key-file=" + srvCert.KeyFile, "--tls-client-ca-file=" + ca.CAFile(t)}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	tel := telemetry.Settings{Registerer: reg}
	srv, err := flags.Build(tel)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan *auth.Identity, 10)
	record := grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		id, _ := auth.FromContext(ctx)
		seen <- id
		return h(ctx, req)
	})
	s := New("test server", "127.0.0.1:0", srv.For(tlsconf.Storage), tel, record)
	healthpb.RegisterHealthServer(s.GRPC(), health.NewServer())
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })

	dial := func(client *tlstest.Pair) healthpb.HealthClient {
		conn, err := grpc.NewClient(s.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(tlstest.ClientConfig(ca, client))))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return healthpb.NewHealthClient(conn)
	}
	withCert, anonymous := dial(&reader), dial(&stranger)
	call := func(c healthpb.HealthClient, authz string) (codes.Code, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if authz != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", authz)
		}
		_, err := c.Check(ctx, &healthpb.HealthCheckRequest{})
		return status.Code(err), status.Convert(err).Message()
	}
	stream := func(c healthpb.HealthClient, authz string) codes.Code {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if authz != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", authz)
		}
		w, err := c.Watch(ctx, &healthpb.HealthCheckRequest{})
		if err == nil {
			_, err = w.Recv()
		}
		return status.Code(err)
	}

	for _, c := range []struct {
		what   string
		client healthpb.HealthClient
		authz  string
		want   codes.Code
	}{
		{"no credential", anonymous, "", codes.Unauthenticated},
		{"bad token", anonymous, "Bearer nope", codes.Unauthenticated},
		{"write token", anonymous, authtest.Bearer("write-token"), codes.PermissionDenied},
		{"read token", anonymous, authtest.Bearer("read-token"), codes.OK},
		{"certificate the file names", withCert, "", codes.OK},
		{"bad token with a good certificate", withCert, "Bearer nope", codes.Unauthenticated},
	} {
		if got, msg := call(c.client, c.authz); got != c.want {
			t.Errorf("%s: unary %v (%s), want %v", c.what, got, msg, c.want)
		} else if strings.Contains(msg, "nope") || strings.Contains(msg, "token\"") {
			t.Errorf("%s: the answer repeats the credential: %s", c.what, msg)
		}
		if got := stream(c.client, c.authz); got != c.want {
			t.Errorf("%s: stream %v, want %v", c.what, got, c.want)
		}
	}
	// Identities seen by the handler: the read token (team-a), the cert.
	close(seen)
	var names []string
	for id := range seen {
		names = append(names, id.Name+" "+strings.Join(id.Tenants, ","))
	}
	if got := strings.Join(names, "; "); got != "tokens[1] team-a; CN=query *" {
		t.Errorf("identities on the context: %s", got)
	}
	for reason, want := range map[string]float64{"missing": 2, "bad": 4, "forbidden": 2} {
		got := counter(t, reg, "scry_auth_failures_total", "storage", reason)
		if got != want {
			t.Errorf("scry_auth_failures_total{listener=storage,reason=%s} = %v, want %v", reason, got, want)
		}
	}
}

// counter returns the value of the counter name with labels listener
// and reason, 0 if absent.
func counter(t *testing.T, reg *prometheus.Registry, name, listener, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["listener"] == listener && l["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
