package httpserver

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/internal/tlsconf"
	"github.com/scrytrace/scry/internal/tlsconf/tlstest"
)

// A server with mutual TLS answers a client with the CA and a certificate
// it signed; refuses TLS 1.1, plain HTTP, a client without a certificate
// and one with a certificate of another CA; and serves a rotated
// certificate to new connections within the reload interval while an open
// connection goes on.
func TestTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	srvCert := ca.Server(t, "server")
	client := ca.Client(t, "client")
	foreign := tlstest.NewCA(t, "foreign CA").Client(t, "intruder")
	const reload = 100 * time.Millisecond
	l, err := tlsconf.NewListener("http", tlsconf.ServerConfig{
		CertFile: srvCert.CertFile, KeyFile: srvCert.KeyFile, ClientCAFile: ca.CAFile(t),
	}, reload, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := New("test server", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}), l, telemetry.Nop())
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	addr := s.Addr().String()
	url := "https://" + addr + "/"

	get := func(c *http.Client) (*http.Response, error) {
		resp, err := c.Get(url)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "ok" {
			t.Errorf("GET %s: %d %q, want ok", url, resp.StatusCode, body)
		}
		return resp, nil
	}
	clientOf := func(cfg *tls.Config) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
	}

	kept := clientOf(tlstest.ClientConfig(ca, &client))
	resp, err := get(kept)
	if err != nil {
		t.Fatalf("GET with the CA and a client certificate: %v", err)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2 over TLS", resp.Proto)
	}

	old := &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{client.Cert}, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if _, err := tlstest.Handshake(addr, old); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("TLS 1.1 handshake: %v, want a protocol version error", err)
	}
	if resp, err := http.Get("http://" + addr + "/"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || string(body) == "ok" {
			t.Errorf("plain HTTP: %d %q, want a refusal", resp.StatusCode, body)
		}
	}
	if _, err := clientOf(tlstest.ClientConfig(ca, nil)).Get(url); err == nil {
		t.Error("GET without a client certificate succeeded")
	}
	if _, err := clientOf(tlstest.ClientConfig(ca, &foreign)).Get(url); err == nil {
		t.Error("GET with a certificate of another CA succeeded")
	}

	// Rotation: new files; new connections get the new certificate.
	next := ca.Rewrite(t, srvCert)
	testkit.EventuallyWithin(t, 10*time.Second, "the rotated certificate is served", func() bool {
		leaf, err := tlstest.Handshake(addr, tlstest.ClientConfig(ca, &client))
		return err == nil && leaf.SerialNumber.Cmp(next.Leaf.SerialNumber) == 0
	})
	// The connection opened before goes on, with the certificate it began with.
	resp, err = get(kept)
	if err != nil {
		t.Fatalf("GET on the connection opened before the rotation: %v", err)
	}
	if got := resp.TLS.PeerCertificates[0].SerialNumber; got.Cmp(srvCert.Leaf.SerialNumber) != 0 {
		t.Errorf("the open connection now has certificate %v, want the first one (%v): it was not kept", got, srvCert.Leaf.SerialNumber)
	}
}
