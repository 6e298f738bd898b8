package tracegen

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/spf13/pflag"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"

	"github.com/scrytrace/scry/internal/auth/authtest"
	"github.com/scrytrace/scry/internal/grpcserver"
	"github.com/scrytrace/scry/internal/httpserver"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/tlsconf"
)

// tracegen with a token (--endpoint-auth-token-file) exports over gRPC and
// HTTP to servers whose --auth-file requires write; without it nothing
// gets through.
func TestRunWithToken(t *testing.T) {
	file := authtest.Write(t, authtest.Entry{Token: "gen-token", Scopes: []string{"write"}})
	flags := tlsconf.NewServerFlags(tlsconf.OTLPGRPC, tlsconf.OTLPHTTP)
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	flags.Add(fs)
	if err := fs.Parse([]string{"--auth-file=" + file}); err != nil {
		t.Fatal(err)
	}
	srv, err := flags.Build(telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	g := grpcserver.New("otlp grpc", "127.0.0.1:0", srv.For(tlsconf.OTLPGRPC), telemetry.Nop())
	coltracepb.RegisterTraceServiceServer(g.GRPC(), acceptAll{})
	h := httpserver.New("otlp http", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}), srv.For(tlsconf.OTLPHTTP), telemetry.Nop())
	for _, s := range []interface {
		Start(context.Context) error
		Shutdown(context.Context) error
	}{g, h} {
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Shutdown(context.Background()) })
	}
	for _, c := range []struct{ protocol, endpoint string }{{"grpc", g.Addr().String()}, {"http", h.Addr().String()}} {
		cfg := Config{Endpoint: c.endpoint, Protocol: c.protocol, Duration: 200 * time.Millisecond, Workers: 1, BatchSpans: 10, Services: 2, SpansPerTrace: 5}
		cfg.Authorization = func() string { return authtest.Bearer("gen-token") }
		res, err := Run(context.Background(), cfg, io.Discard)
		if err != nil || res.Accepted == 0 || res.Failed != 0 {
			t.Errorf("%s with the token: %v, %s", c.protocol, err, res)
		}
		cfg.Authorization = nil
		if res, err := Run(context.Background(), cfg, io.Discard); err == nil && res.Accepted != 0 {
			t.Errorf("%s without the token: %d spans accepted", c.protocol, res.Accepted)
		}
	}
}
