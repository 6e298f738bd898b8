package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/scrytrace/scry/internal/testbin"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/internal/tlsconf/tlstest"
)

// TestTLS runs scry with mutual TLS on every listener, certificates of a
// CA made for the test. On each listener a client with the CA and a
// certificate it signed completes a handshake, while TLS 1.1, plain text,
// no client certificate and one of another CA are refused. The
// OpenTelemetry SDK configured only through its standard environment
// writes a trace over gRPC and over HTTP, read back from the query API over
// TLS. Certificate files rewritten are served to new connections within
// the reload interval while an open connection goes on exporting.
//
// Not parallel: the SDK subtests set the process environment.
func TestTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	srv := ca.Server(t, "scry")
	client := ca.Client(t, "app")
	clientTLS := tlstest.ClientConfig(ca, &client)
	s := startScryWith(t, scryOptions{
		Flags: []string{"--tls-cert-file=" + srv.CertFile, "--tls-key-file=" + srv.KeyFile,
			"--tls-client-ca-file=" + ca.CAFile(t), "--tls-reload-interval=200ms"},
		TLS:   clientTLS,
		Tempo: true,
	})
	listeners := map[string]string{
		"otlp-grpc": s.OTLPGRPC, "otlp-http": s.OTLPHTTP, "jaeger-http": s.JaegerHTTP,
		"zipkin": s.Zipkin, "http": s.Query, "tempo-http": s.Tempo, "admin": s.Admin,
	}
	h2 := func(c *tls.Config) *tls.Config { c = c.Clone(); c.NextProtos = []string{"h2"}; return c }

	t.Run("every listener", func(t *testing.T) {
		foreign := tlstest.NewCA(t, "foreign CA").Client(t, "intruder")
		for name, addr := range listeners {
			tlstest.CheckListener(t, name, addr, ca, client, foreign)
		}
		if code, body, _ := tempoGet(t, s, s.Tempo, "/api/echo", ""); code != 200 || string(body) != "echo" {
			t.Errorf("Tempo API over mutual TLS: %d %q", code, body)
		}
	})

	sdkEnv := func(t *testing.T, endpoint string) {
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://"+endpoint)
		t.Setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.CAFile(t))
		t.Setenv("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", client.CertFile)
		t.Setenv("OTEL_EXPORTER_OTLP_CLIENT_KEY", client.KeyFile)
	}
	t.Run("SDK over gRPC from the environment", func(t *testing.T) {
		sdkEnv(t, s.OTLPGRPC)
		exp, err := otlptracegrpc.New(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		sent := emitSDKTrace(t, exp, "tls-grpc")
		checkJaegerTrace(t, s, "tls-grpc", sent)
	})
	t.Run("SDK over HTTP from the environment", func(t *testing.T) {
		sdkEnv(t, s.OTLPHTTP)
		exp, err := otlptracehttp.New(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		sent := emitSDKTrace(t, exp, "tls-http")
		checkJaegerTrace(t, s, "tls-http", sent)
	})

	t.Run("rotation", func(t *testing.T) {
		conn, err := grpc.NewClient(s.OTLPGRPC, grpc.WithTransportCredentials(credentials.NewTLS(clientTLS)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		c := coltracepb.NewTraceServiceClient(conn)
		export := func() (string, *peer.Peer) {
			tid := newTraceID()
			var p peer.Peer
			ctx, cancel := context.WithTimeout(context.Background(), httpTimeout)
			defer cancel()
			_, err := c.Export(ctx, &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
				resourceSpans("rotation", nil, span(tid, newSpanID(), nil, "op", tracepb.Span_SPAN_KIND_SERVER, time.Now(), time.Millisecond)),
			}}, grpc.Peer(&p))
			if err != nil {
				t.Fatalf("export: %v", err)
			}
			return hexID(tid), &p
		}
		before, _ := export()
		next := ca.Rewrite(t, srv)
		testkit.EventuallyWithin(t, 10*time.Second, "the new certificate served on every listener", func() bool {
			for _, addr := range listeners {
				leaf, err := tlstest.Handshake(addr, h2(clientTLS))
				if err != nil || leaf.SerialNumber.Cmp(next.Leaf.SerialNumber) != 0 {
					return false
				}
			}
			return true
		})
		after, p := export()
		if info, ok := p.AuthInfo.(credentials.TLSInfo); !ok || info.State.PeerCertificates[0].SerialNumber.Cmp(srv.Leaf.SerialNumber) != 0 {
			t.Error("the export after the rotation did not go on the connection opened before it")
		}
		s.trace(t, before)
		s.trace(t, after)
	})
}

// TestPlaintextListeners: a plaintext listener on an address that is not
// loopback is logged and counted in scry_plaintext_listeners; with
// --require-tls scry refuses to start, saying what to do.
func TestPlaintextListeners(t *testing.T) {
	t.Parallel()
	s := startScry(t, "--zipkin-addr=0.0.0.0:0")
	if v := s.metric(t, "scry_plaintext_listeners", map[string]string{"listener": "zipkin"}); v != 1 {
		t.Errorf("scry_plaintext_listeners{listener=zipkin} = %v, want 1", v)
	}
	if v := s.metric(t, "scry_plaintext_listeners", map[string]string{"listener": "otlp-grpc"}); v != 0 {
		t.Errorf("a loopback listener is counted: %v", v)
	}
	if out := s.Output(); !strings.Contains(out, "plain text") || !strings.Contains(out, "zipkin") {
		t.Errorf("no warning naming the listener in the log:\n%s", out)
	}

	out, err := runScryThen(t, "--require-tls", "--zipkin-addr=0.0.0.0:0")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(string(out), "--require-tls") || !strings.Contains(string(out), "--zipkin-tls-cert-file") {
		t.Errorf("scry --require-tls with a plaintext listener on 0.0.0.0: %v, output %q; want a refusal saying what to do", err, out)
	}
	out, err = runScryThen(t, "--require-tls", "--udp-compact-addr=0.0.0.0:0")
	if err == nil || !strings.Contains(string(out), "--udp-compact-addr=") {
		t.Errorf("scry --require-tls with UDP on 0.0.0.0: %v, output %q; want a refusal saying how to turn it off", err, out)
	}
}

// runScryThen runs scry to completion on ports chosen by the system, with
// args after the harness's (so that they win), and returns its output. A
// scry that does not exit within readyTimeout is killed.
func runScryThen(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	pre := []string{"--data-dir=" + t.TempDir()}
	for _, f := range slices.Concat(addrFlags, udpAddrFlags) {
		pre = append(pre, "--"+f+"=127.0.0.1:0")
	}
	cmd := exec.CommandContext(ctx, buildBinary(t, "./cmd/scry"), append(pre, args...)...)
	cmd.Env = cleanEnv()
	testbin.SetChildAttrs(cmd)
	return cmd.CombinedOutput()
}

// TestTLSFromConfigFile: a tls: block with the OpenTelemetry Collector's
// key names in --config turns TLS on for every listener, and an admin-tls:
// block with an empty cert_file keeps the admin port in plain text.
func TestTLSFromConfigFile(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t, "test CA")
	srv := ca.Server(t, "scry")
	cfg := writeConfig(t, "tls:\n  cert_file: "+srv.CertFile+"\n  key_file: "+srv.KeyFile+"\n  min_version: \"1.3\"\n"+
		"admin-tls:\n  cert_file: \"\"\n")
	s := startScry(t, "--config="+cfg) // readiness over plain HTTP: the admin port is plain text
	for name, addr := range map[string]string{"otlp-grpc": s.OTLPGRPC, "http": s.Query, "zipkin": s.Zipkin} {
		c := tlstest.ClientConfig(ca, nil)
		c.NextProtos = []string{"h2"}
		if _, err := tlstest.Handshake(addr, c); err != nil {
			t.Errorf("%s: handshake: %v", name, err)
		}
		c.MaxVersion = tls.VersionTLS12
		if _, err := tlstest.Handshake(addr, c); err == nil || !strings.Contains(err.Error(), "version") {
			t.Errorf("%s: TLS 1.2 with min_version 1.3: %v, want a protocol version error", name, err)
		}
	}
}
