package tracegen

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"

	"github.com/scrytrace/scry/internal/grpcserver"
	"github.com/scrytrace/scry/internal/httpserver"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/tlsconf"
	"github.com/scrytrace/scry/internal/tlsconf/tlstest"
)

type acceptAll struct {
	coltracepb.UnimplementedTraceServiceServer
}

func (acceptAll) Export(context.Context, *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// tracegen with --endpoint-tls-* exports over gRPC and HTTP to servers
// that require client certificates; without them it gets nothing through.
func TestRunOverMutualTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "CA")
	srv := ca.Server(t, "server")
	client := ca.Client(t, "tracegen")
	l, err := tlsconf.NewListener("otlp", tlsconf.ServerConfig{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientCAFile: ca.CAFile(t)}, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := grpcserver.New("otlp grpc", "127.0.0.1:0", l, telemetry.Nop())
	coltracepb.RegisterTraceServiceServer(g.GRPC(), acceptAll{})
	h := httpserver.New("otlp http", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}), l, telemetry.Nop())
	for _, s := range []interface {
		Start(context.Context) error
		Shutdown(context.Context) error
	}{g, h} {
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Shutdown(context.Background()) })
	}
	tc, err := tlsconf.ClientConfig{CAFile: ca.CAFile(t), CertFile: client.CertFile, KeyFile: client.KeyFile}.TLSConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc2 := range []struct{ protocol, endpoint string }{{"grpc", g.Addr().String()}, {"http", h.Addr().String()}} {
		cfg := Config{Endpoint: tc2.endpoint, Protocol: tc2.protocol, Duration: 200 * time.Millisecond, Workers: 1, BatchSpans: 10, Services: 2, SpansPerTrace: 5}
		cfg.TLS = tc
		res, err := Run(context.Background(), cfg, io.Discard)
		if err != nil || res.Accepted == 0 || res.Failed != 0 {
			t.Errorf("%s over TLS: %v, %s", tc2.protocol, err, res)
		}
		cfg.TLS = nil
		if res, err := Run(context.Background(), cfg, io.Discard); err == nil && res.Accepted != 0 {
			t.Errorf("%s without TLS: %d spans accepted", tc2.protocol, res.Accepted)
		}
	}
}
