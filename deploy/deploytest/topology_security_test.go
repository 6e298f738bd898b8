package deploytest

// The chart's production topology with TLS, mutual TLS, credentials and
// limits on, as processes with the chart's own arguments and files.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// testPKI is a throw-away CA and one certificate it signed, for servers
// and clients alike (as one cert-manager Certificate with both usages).
type testPKI struct {
	CA, Cert, Key []byte // PEM
	Pool          *x509.CertPool
	Pair          tls.Certificate
}

func newTestPKI(t *testing.T, ips []string, names []string) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "deploytest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "scry"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    names,
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := testPKI{
		CA:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		Pool: x509.NewCertPool(),
	}
	p.Pool.AddCert(ca)
	if p.Pair, err = tls.X509KeyPair(p.Cert, p.Key); err != nil {
		t.Fatal(err)
	}
	return p
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// bearer adds a bearer token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// TestTopologySecure runs the chart's production mode with the example
// app's sidecar agent, with TLS 1.3 and mutual TLS on every listener,
// credentials, limits and tenancy (securityValues), each process with its
// rendered arguments and the Secrets' files written as the kubelet does
// (the volumes' modes, group read for the pod's fsGroup): the processes
// start and pass their HTTPS readiness probes, the agent sends the app's
// traces as team-a to both collectors over mutual TLS with its token and
// fetches the sampling strategies over https, scry-query reads both
// stores over mutual TLS with its token and answers a reader of team-a
// holding a certificate and a token, and refuses one without the token,
// one without a certificate, and one of team-b.
func TestTopologySecure(t *testing.T) {
	binary(t, "scry-agent")
	objs, _ := renderChart(t, "mode: production\nexampleApp: {enabled: true}\nagent: {tenant: team-a}\n"+securityValues)
	pki := newTestPKI(t, append(append([]string{}, collectorIPs...), queryIP, appIP), []string{"localhost"})
	const agentToken, queryToken, readerToken, otherToken = "agent-token-1", "query-token-1", "reader-token-1", "other-token-1"
	authFile := fmt.Sprintf(`tokens:
  - {name: agent, sha256: %s, tenants: ["*"], scopes: [write]}
  - {name: query, sha256: %s, tenants: ["*"], scopes: [read]}
  - {name: reader, sha256: %s, tenants: [team-a], scopes: [read]}
  - {name: other, sha256: %s, tenants: [team-b], scopes: [read]}
`, sha256Hex(agentToken), sha256Hex(queryToken), sha256Hex(readerToken), sha256Hex(otherToken))
	secrets := map[string]map[string][]byte{
		"scry-tls":         {"tls.crt": pki.Cert, "tls.key": pki.Key, "ca.crt": pki.CA},
		"scry-client-ca":   {"ca.crt": pki.CA},
		"scry-auth":        {"auth.yaml": []byte(authFile)},
		"scry-agent-token": {"token": []byte(agentToken)},
		"scry-query-token": {"token": []byte(queryToken)},
	}
	var queryAddr string
	cl := runTopology(t, objs, map[string][]string{
		"scry-collector":   collectorIPs,
		"scry-query":       {queryIP},
		"scry-example-app": {appIP},
	}, func(cl *cluster) (err error) {
		cl.secrets = secrets
		if queryAddr, err = startBackend(cl); err != nil {
			return err
		}
		_, err = cl.start(cl.podsOf("scry-example-app")[0], "scry-agent", "--batch-spans=25")
		return err
	})

	appPod := cl.podsOf("scry-example-app")[0]
	app := appContainer(appPod)
	endpoint, _ := envValue(app, "OTEL_EXPORTER_OTLP_ENDPOINT")
	protocol, _ := envValue(app, "OTEL_EXPORTER_OTLP_PROTOCOL")
	u, err := cl.endpointFor(appPod, endpoint.Value)
	if err != nil {
		t.Fatal(err)
	}
	exp := newExporter(t, protocol.Value, u)
	tp := newProvider(exp, "example-app")
	defer exp.check(t)
	tracer := tp.Tracer("deploytest")
	want := map[string][]string{}
	for i := range 20 {
		ctx, root := tracer.Start(context.Background(), fmt.Sprintf("GET /dispatch/%d", i), trace.WithSpanKind(trace.SpanKindServer))
		spans := []string{root.SpanContext().SpanID().String()}
		for j := range 3 {
			_, child := tracer.Start(ctx, fmt.Sprintf("step %d", j))
			spans = append(spans, child.SpanContext().SpanID().String())
			child.End()
		}
		root.End()
		want[root.SpanContext().TraceID().String()] = spans
	}
	flush(t, tp)

	tlsConf := &tls.Config{RootCAs: pki.Pool, Certificates: []tls.Certificate{pki.Pair}, MinVersion: tls.VersionTLS13}
	transport := &http.Transport{TLSClientConfig: tlsConf}
	defer transport.CloseIdleConnections()
	reader := &http.Client{Timeout: 10 * time.Second, Transport: bearer{readerToken, transport}}
	waitWholeWith(t, reader, "https://"+queryAddr, want, map[string]bool{"example-app": true})

	// Tenants apart: the agent stamped the app's spans with its tenant,
	// team-a (sent in the collectors' header, X-Org); a reader of team-b
	// does not find them.
	var anyID string
	for id := range want {
		anyID = id
		break
	}
	other := &http.Client{Timeout: 10 * time.Second, Transport: bearer{otherToken, transport}}
	resp, err := other.Get("https://" + queryAddr + "/api/traces/" + anyID)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("team-a's trace read by team-b: status %d, want 404", resp.StatusCode)
	}

	// Without the token: 401; without a client certificate: no TLS.
	resp, err = (&http.Client{Timeout: 10 * time.Second, Transport: transport}).Get("https://" + queryAddr + "/api/services")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("scry-query without a token: status %d, want 401", resp.StatusCode)
	}
	noCert := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool}}
	defer noCert.CloseIdleConnections()
	if resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: bearer{readerToken, noCert}}).Get("https://" + queryAddr + "/api/services"); err == nil {
		resp.Body.Close()
		t.Errorf("scry-query without a client certificate: status %d, want the TLS handshake refused", resp.StatusCode)
	}

	checkSampling(t, cl, appPod)
}
