package grpcserver

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/internal/tlsconf"
	"github.com/scrytrace/scry/internal/tlsconf/tlstest"
)

// A gRPC server with mutual TLS answers a client with the CA and a
// certificate it signed; refuses TLS 1.1, plain text, a client without a
// certificate and one with a certificate of another CA; and serves a
// rotated certificate to new connections within the reload interval while
// an open connection goes on.
func TestTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	srvCert := ca.Server(t, "server")
	client := ca.Client(t, "client")
	foreign := tlstest.NewCA(t, "foreign CA").Client(t, "intruder")
	l, err := tlsconf.NewListener("storage", tlsconf.ServerConfig{
		CertFile: srvCert.CertFile, KeyFile: srvCert.KeyFile, ClientCAFile: ca.CAFile(t),
	}, 100*time.Millisecond, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := New("test server", "127.0.0.1:0", l, telemetry.Nop())
	healthpb.RegisterHealthServer(s.GRPC(), health.NewServer())
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	addr := s.Addr().String()

	check := func(creds credentials.TransportCredentials) (*grpc.ClientConn, *peer.Peer, error) {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var p peer.Peer
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p))
		return conn, &p, err
	}
	kept, p, err := check(credentials.NewTLS(tlstest.ClientConfig(ca, &client)))
	if err != nil {
		t.Fatalf("call with the CA and a client certificate: %v", err)
	}
	if got := servedSerial(p); got != srvCert.Leaf.SerialNumber.String() {
		t.Fatalf("served certificate %s, want %s", got, srvCert.Leaf.SerialNumber)
	}

	old := &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{client.Cert}, NextProtos: []string{"h2"},
		MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if _, err := tlstest.Handshake(addr, old); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("TLS 1.1 handshake: %v, want a protocol version error", err)
	}
	if _, _, err := check(insecure.NewCredentials()); err == nil {
		t.Error("plain text call succeeded")
	}
	if _, _, err := check(credentials.NewTLS(tlstest.ClientConfig(ca, nil))); err == nil {
		t.Error("call without a client certificate succeeded")
	}
	if _, _, err := check(credentials.NewTLS(tlstest.ClientConfig(ca, &foreign))); err == nil {
		t.Error("call with a certificate of another CA succeeded")
	}

	next := ca.Rewrite(t, srvCert)
	testkit.EventuallyWithin(t, 10*time.Second, "the rotated certificate is served", func() bool {
		_, p, err := check(credentials.NewTLS(tlstest.ClientConfig(ca, &client)))
		return err == nil && servedSerial(p) == next.Leaf.SerialNumber.String()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var kp peer.Peer
	if _, err := healthpb.NewHealthClient(kept).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&kp)); err != nil {
		t.Fatalf("call on the connection opened before the rotation: %v", err)
	}
	if got := servedSerial(&kp); got != srvCert.Leaf.SerialNumber.String() {
		t.Errorf("the open connection has certificate %s, want the first one %s: it was not kept", got, srvCert.Leaf.SerialNumber)
	}
}

func servedSerial(p *peer.Peer) string {
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return ""
	}
	return info.State.PeerCertificates[0].SerialNumber.String()
}
