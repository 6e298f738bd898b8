package tlsconf_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/internal/tlsconf"
	"github.com/scrytrace/scry/internal/tlsconf/tlstest"
)

// The --tls-* flags apply to every listener; a listener's own flags
// replace them, and its certificate set to empty makes it plain text.
func TestServerFlagsPerListener(t *testing.T) {
	f := tlsconf.NewServerFlags(tlsconf.OTLPGRPC, tlsconf.Admin, tlsconf.HTTP)
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	f.Add(fs)
	err := fs.Parse([]string{"--tls-cert-file=all.crt", "--tls-key-file=all.key", "--tls-client-ca-file=ca.crt",
		"--otlp-grpc-tls-cert-file=grpc.crt", "--otlp-grpc-tls-key-file=grpc.key", "--otlp-grpc-tls-min-version=1.3",
		"--admin-tls-cert-file="})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]tlsconf.ServerConfig{
		tlsconf.OTLPGRPC: {CertFile: "grpc.crt", KeyFile: "grpc.key", ClientCAFile: "ca.crt", MinVersion: "1.3"},
		tlsconf.Admin:    {MinVersion: "1.2"},
		tlsconf.HTTP:     {CertFile: "all.crt", KeyFile: "all.key", ClientCAFile: "ca.crt", MinVersion: "1.2"},
	}
	for name, w := range want {
		if got := f.Config(name); got != w {
			t.Errorf("%s: %+v, want %+v", name, got, w)
		}
	}
	for _, name := range []string{tlsconf.OTLPGRPC, tlsconf.Admin} {
		if fs.Lookup(name+"-tls-cert-file") == nil || fs.Lookup(name+"-tls-client-ca-file") == nil {
			t.Errorf("no --%s-tls-* flags", name)
		}
	}
	if fs.Lookup("storage-tls-cert-file") != nil {
		t.Error("flags for a listener the binary does not have")
	}
}

// Build refuses files that are missing or wrong, naming the listener.
func TestBuildRefusesBadFiles(t *testing.T) {
	ca := tlstest.NewCA(t, "CA")
	p := ca.Server(t, "server")
	other := ca.Server(t, "other")
	for _, tc := range []struct {
		name string
		cfg  tlsconf.ServerConfig
		want string
	}{
		{"missing", tlsconf.ServerConfig{CertFile: p.CertFile + ".nope", KeyFile: p.KeyFile}, "no such file"},
		{"mismatch", tlsconf.ServerConfig{CertFile: p.CertFile, KeyFile: other.KeyFile}, "private key does not match"},
		{"no key", tlsconf.ServerConfig{CertFile: p.CertFile}, "give both or neither"},
		{"CA without cert", tlsconf.ServerConfig{ClientCAFile: ca.CAFile(t)}, "client CA file needs a certificate"},
		{"CA not PEM", tlsconf.ServerConfig{CertFile: p.CertFile, KeyFile: p.KeyFile, ClientCAFile: p.KeyFile}, "no PEM certificate"},
		{"version", tlsconf.ServerConfig{CertFile: p.CertFile, KeyFile: p.KeyFile, MinVersion: "1.4"}, "not one of"},
	} {
		_, err := tlsconf.NewListener("zipkin", tc.cfg, time.Second, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "zipkin") {
			t.Errorf("%s: %v, want an error naming the listener and saying %q", tc.name, err, tc.want)
		}
	}
}

// A rotation that leaves the files wrong for a while (the key written, not
// yet its certificate) keeps the previous certificate; once the files
// agree, the new one is served.
func TestReloadKeepsOldCertificateWhileFilesDisagree(t *testing.T) {
	ca := tlstest.NewCA(t, "CA")
	p := ca.Server(t, "server")
	var logs syncBuffer
	l, err := tlsconf.NewListener("http", tlsconf.ServerConfig{CertFile: p.CertFile, KeyFile: p.KeyFile}, 20*time.Millisecond, nil,
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", l.Config("http/1.1"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	next := ca.Server(t, "next")
	tlstest.WriteFile(t, p.KeyFile, mustRead(t, next.KeyFile)) // the key only
	testkit.EventuallyWithin(t, 5*time.Second, "the files that disagree are logged", func() bool {
		leaf, err := tlstest.Handshake(addr, tlstest.ClientConfig(ca, nil))
		if err != nil {
			t.Fatalf("handshake while the files disagree: %v", err)
		}
		if leaf.SerialNumber.Cmp(p.Leaf.SerialNumber) != 0 {
			t.Fatal("a certificate other than the previous one was served while the files disagree")
		}
		return strings.Contains(logs.String(), "cannot reload TLS files")
	})
	tlstest.WriteFile(t, p.CertFile, mustRead(t, next.CertFile))
	testkit.EventuallyWithin(t, 5*time.Second, "the new certificate is served", func() bool {
		leaf, err := tlstest.Handshake(addr, tlstest.ClientConfig(ca, nil))
		return err == nil && leaf.SerialNumber.Cmp(next.Leaf.SerialNumber) == 0
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A plaintext listener on loopback is fine; on another address it is
// counted (and logged), and refused with --require-tls. A TLS one anywhere
// is fine.
func TestPlaintextPolicy(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	p, err := tlsconf.NewPolicy(false, reg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := tlsconf.NewListener("otlp-grpc", tlsconf.ServerConfig{}, 0, p, nil)
	for _, addr := range []string{"127.0.0.1:4317", "[::1]:4317", "localhost:4317"} {
		if err := plain.Check(ctx, addr); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	if g := plaintextGauge(t, reg); len(g) != 0 {
		t.Errorf("loopback listeners counted: %v", g)
	}
	if err := plain.Check(ctx, "0.0.0.0:4317"); err != nil {
		t.Fatal(err)
	}
	if g := plaintextGauge(t, reg); len(g) != 1 || g["otlp-grpc"] != 1 {
		t.Errorf("scry_plaintext_listeners %v, want otlp-grpc 1", g)
	}
	if !strings.Contains(logs.String(), "plain text") || !strings.Contains(logs.String(), "otlp-grpc") {
		t.Errorf("no warning naming the listener: %s", logs.String())
	}

	strict, _ := tlsconf.NewPolicy(true, prometheus.NewRegistry(), nil)
	plain, _ = tlsconf.NewListener("otlp-grpc", tlsconf.ServerConfig{}, 0, strict, nil)
	for _, addr := range []string{":4317", "0.0.0.0:4317", "[::]:4317", "192.0.2.1:4317"} {
		err := plain.Check(ctx, addr)
		if err == nil || !strings.Contains(err.Error(), "--require-tls") || !strings.Contains(err.Error(), "--otlp-grpc-tls-cert-file") {
			t.Errorf("%s with --require-tls: %v, want a refusal saying what to do", addr, err)
		}
	}
	if err := plain.Check(ctx, "127.0.0.1:4317"); err != nil {
		t.Errorf("loopback with --require-tls: %v", err)
	}
	ca := tlstest.NewCA(t, "CA")
	c := ca.Server(t, "server")
	secure, err := tlsconf.NewListener("otlp-grpc", tlsconf.ServerConfig{CertFile: c.CertFile, KeyFile: c.KeyFile}, 0, strict, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := secure.Check(ctx, "0.0.0.0:4317"); err != nil {
		t.Errorf("TLS listener with --require-tls: %v", err)
	}
	if err := tlsconf.CheckUDP(strict, "0.0.0.0:6831", ""); err == nil || !strings.Contains(err.Error(), "--udp-compact-addr=") {
		t.Errorf("UDP on all interfaces with --require-tls: %v, want a refusal saying how to turn it off", err)
	}
	var nilListener *tlsconf.Listener
	if err := nilListener.Check(ctx, "0.0.0.0:1"); err != nil || nilListener.Enabled() || nilListener.Config() != nil {
		t.Error("a nil listener is not plain text with no policy")
	}
}

// plaintextGauge returns scry_plaintext_listeners by listener.
func plaintextGauge(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "scry_plaintext_listeners" {
			continue
		}
		for _, m := range mf.Metric {
			out[m.Label[0].GetValue()] = m.Gauge.GetValue()
		}
	}
	return out
}

// The client side: on with any of its settings, trusting the CA given,
// presenting its certificate, checking the server name given.
func TestClientConfig(t *testing.T) {
	if (tlsconf.ClientConfig{MinVersion: "1.2"}).On() {
		t.Error("a client with no TLS setting speaks TLS")
	}
	ca := tlstest.NewCA(t, "CA")
	srvCert := ca.Server(t, "server", "collector.example")
	client := ca.Client(t, "agent")
	l, err := tlsconf.NewListener("otlp-grpc", tlsconf.ServerConfig{CertFile: srvCert.CertFile, KeyFile: srvCert.KeyFile, ClientCAFile: ca.CAFile(t)}, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", l.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	dial := func(c tlsconf.ClientConfig) error {
		cfg, err := c.TLSConfig(nil)
		if err != nil {
			return err
		}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), cfg)
		if err == nil {
			conn.Close()
		}
		return err
	}
	good := tlsconf.ClientConfig{CAFile: ca.CAFile(t), CertFile: client.CertFile, KeyFile: client.KeyFile, ServerName: "collector.example"}
	if err := dial(good); err != nil {
		t.Errorf("client with CA, certificate and server name: %v", err)
	}
	wrongName := good
	wrongName.ServerName = "other.example"
	if err := dial(wrongName); err == nil {
		t.Error("a server without the name asked for was trusted")
	}
	if _, err := (tlsconf.ClientConfig{CertFile: client.CertFile}).TLSConfig(nil); err == nil {
		t.Error("a client certificate without its key was taken")
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]uint16{"": tls.VersionTLS12, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13, "TLSv1.3": tls.VersionTLS13, "1.1": tls.VersionTLS11} {
		if got, err := tlsconf.ParseVersion(in); err != nil || got != want {
			t.Errorf("%q: %x %v, want %x", in, got, err, want)
		}
	}
	if _, err := tlsconf.ParseVersion("1.4"); err == nil {
		t.Error("1.4 accepted")
	}
}
