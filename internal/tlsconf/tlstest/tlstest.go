// Package tlstest makes throw-away certificate authorities and the
// certificates they sign, written to PEM files, for tests of TLS.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// CA is a certificate authority made for one test.
type CA struct {
	Cert *x509.Certificate
	PEM  []byte // the CA certificate
	key  *ecdsa.PrivateKey
	dir  string
}

// NewCA makes a CA called name whose files go to a temporary folder of t.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{Cert: cert, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), key: key, dir: t.TempDir()}
}

// Pool returns a pool holding the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// CAFile writes the CA certificate to a file and returns its path.
func (ca *CA) CAFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(ca.dir, "ca.crt")
	WriteFile(t, path, ca.PEM)
	return path
}

// Pair is a signed certificate with its key, and the files they are in.
type Pair struct {
	CertFile, KeyFile string
	Cert              tls.Certificate
	Leaf              *x509.Certificate
}

// Server issues a server certificate for hosts (DNS names or IPs;
// "localhost" and 127.0.0.1 when none) written to name.crt and name.key.
func (ca *CA) Server(t testing.TB, name string, hosts ...string) Pair {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1"}
	}
	return ca.issue(t, name, x509.ExtKeyUsageServerAuth, hosts)
}

// Client issues a client certificate with common name name, written to
// name.crt and name.key.
func (ca *CA) Client(t testing.TB, name string) Pair {
	t.Helper()
	return ca.issue(t, name, x509.ExtKeyUsageClientAuth, nil)
}

// Rewrite issues a new server certificate for hosts and writes it over
// p's files (each replaced whole, by rename), returning the new pair.
func (ca *CA) Rewrite(t testing.TB, p Pair, hosts ...string) Pair {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1"}
	}
	n := ca.make(t, p.Leaf.Subject.CommonName, x509.ExtKeyUsageServerAuth, hosts)
	n.CertFile, n.KeyFile = p.CertFile, p.KeyFile
	n.write(t)
	return n
}

func (ca *CA) issue(t testing.TB, name string, usage x509.ExtKeyUsage, hosts []string) Pair {
	p := ca.make(t, name, usage, hosts)
	p.CertFile, p.KeyFile = filepath.Join(ca.dir, name+".crt"), filepath.Join(ca.dir, name+".key")
	p.write(t)
	return p
}

func (ca *CA) make(t testing.TB, cn string, usage x509.ExtKeyUsage, hosts []string) Pair {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return Pair{Cert: pair, Leaf: leaf}
}

func (p Pair) write(t testing.TB) {
	t.Helper()
	WriteFile(t, p.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: mustPKCS8(t, p.Cert.PrivateKey)}))
	WriteFile(t, p.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Leaf.Raw}))
}

func mustPKCS8(t testing.TB, key any) []byte {
	t.Helper()
	b, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// WriteFile replaces path with data whole: written beside it, then renamed.
func WriteFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// ClientConfig returns a client tls.Config trusting ca, presenting client
// (if not nil) and speaking TLS 1.2 or later.
func ClientConfig(ca *CA, client *Pair) *tls.Config {
	c := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	if client != nil {
		c.Certificates = []tls.Certificate{client.Cert}
	}
	return c
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Handshake connects to addr with cfg, completes a TLS handshake, reads
// until the server has had its say about a client certificate, and returns
// the certificate the server presented.
func Handshake(addr string, cfg *tls.Config) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// In TLS 1.3 the server checks the client's certificate after the
	// client has finished: a refusal arrives as an alert on the first read.
	_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var b [1]byte
	if _, err := conn.Read(b[:]); err != nil {
		var ne net.Error
		if !(errors.As(err, &ne) && ne.Timeout()) {
			return nil, err
		}
	}
	return conn.ConnectionState().PeerCertificates[0], nil
}

// CheckListener fails t unless the listener name on addr, serving a
// certificate of ca with mutual TLS, completes a handshake with a client
// trusting ca and presenting client, and refuses TLS 1.1, a client with no
// certificate, one with a certificate of another CA (foreign), and plain
// HTTP.
func CheckListener(t testing.TB, name, addr string, ca *CA, client, foreign Pair) {
	t.Helper()
	h2 := func(c *tls.Config) *tls.Config { c.NextProtos = []string{"h2"}; return c }
	if _, err := Handshake(addr, h2(ClientConfig(ca, &client))); err != nil {
		t.Errorf("%s: handshake with the CA and a client certificate: %v", name, err)
	}
	old := h2(ClientConfig(ca, &client))
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if _, err := Handshake(addr, old); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("%s: TLS 1.1: %v, want a protocol version error", name, err)
	}
	if _, err := Handshake(addr, h2(ClientConfig(ca, nil))); err == nil {
		t.Errorf("%s: a client without a certificate was let in", name)
	}
	if _, err := Handshake(addr, h2(ClientConfig(ca, &foreign))); err == nil {
		t.Errorf("%s: a client certificate of another CA was let in", name)
	}
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Get("http://" + addr + "/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: plain HTTP answered %d, want a refusal", name, resp.StatusCode)
		}
	}
}
