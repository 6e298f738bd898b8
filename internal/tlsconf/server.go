package tlsconf

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/scrytrace/scry/internal/auth"
	"github.com/scrytrace/scry/internal/browser"
	"github.com/scrytrace/scry/internal/tenant"
)

// ServerConfig is the TLS of one listener, as the flags and the YAML
// file's tls: block give it. With no CertFile the listener is plain text.
type ServerConfig struct {
	// CertFile and KeyFile are the PEM certificate (chain) and its key.
	CertFile, KeyFile string
	// ClientCAFile, when set, makes client certificates required and
	// checked against the PEM CAs it holds (mutual TLS).
	ClientCAFile string
	// MinVersion is the oldest TLS version accepted: "1.2" (empty) or
	// "1.3"; "1.0" and "1.1" are accepted but not advised.
	MinVersion string
}

// Validate reports what is wrong with c, if anything; it reads no file.
func (c ServerConfig) Validate() error {
	var errs []error
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("a certificate file and a key file go together: give both or neither"))
	}
	if c.ClientCAFile != "" && c.CertFile == "" {
		errs = append(errs, errors.New("a client CA file needs a certificate and key to serve TLS with"))
	}
	if _, err := ParseVersion(c.MinVersion); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Policy is what a binary does about plaintext listeners: each one on an
// address that is not loopback is logged as a warning and counted in
// scry_plaintext_listeners{listener}; with Require such a listener is
// refused. A nil *Policy does nothing.
type Policy struct {
	Require bool
	logger  *slog.Logger
	gauge   *prometheus.GaugeVec
}

// NewPolicy returns a policy registering its gauge on reg.
func NewPolicy(require bool, reg prometheus.Registerer, logger *slog.Logger) (*Policy, error) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "scry_plaintext_listeners",
		Help: "Listeners serving plain text (no TLS) on an address that is not loopback, by listener name; see --tls-cert-file and --require-tls.",
	}, []string{"listener"})
	if err := reg.Register(g); err != nil {
		return nil, fmt.Errorf("cannot register TLS metrics: %w", err)
	}
	return &Policy{Require: require, logger: logger, gauge: g}, nil
}

// Listener is the TLS of one named listener: its certificates (none for
// plain text), reloaded as their files change, and the binary's Policy. A
// nil *Listener is plain text with no policy.
type Listener struct {
	name    string
	src     *source // nil: plain text
	minVer  uint16
	mtls    bool
	policy  *Policy
	guard   *auth.Guard      // nil: no credential required
	tenant  *tenant.Resolver // nil: every request for the default tenant
	browser *browser.Policy  // nil: none (gRPC, or a listener not built by ServerFlags)
}

// Browser returns the listener's browser safety (CORS, cross-origin
// protection, security headers), which HTTP servers wrap their handler
// in; nil for a nil l.
func (l *Listener) Browser() *browser.Policy {
	if l == nil {
		return nil
	}
	return l.browser
}

// Auth returns the guard checking the listener's requests against the
// auth file; nil (nothing required) without one, and for a nil l.
func (l *Listener) Auth() *auth.Guard {
	if l == nil {
		return nil
	}
	return l.guard
}

// Tenant returns the resolver of the tenant of the listener's requests,
// which servers put behind the auth guard; nil (every request works for
// the default tenant) when tenancy is off or the listener is not
// tenant-scoped, and for a nil l.
func (l *Listener) Tenant() *tenant.Resolver {
	if l == nil {
		return nil
	}
	return l.tenant
}

// NewListener reads cfg's files and returns the listener called name (as in
// its flags: "otlp-grpc", "admin"). The files are read again at most every
// reload interval (0: never) when a client connects.
func NewListener(name string, cfg ServerConfig, reload time.Duration, policy *Policy, logger *slog.Logger) (*Listener, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid TLS settings of the %s listener: %w", name, err)
	}
	l := &Listener{name: name, policy: policy}
	l.minVer, _ = ParseVersion(cfg.MinVersion)
	if cfg.CertFile == "" {
		return l, nil
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	src, err := newSource(cfg.CertFile, cfg.KeyFile, cfg.ClientCAFile, reload, time.Now, logger.With("listener", name))
	if err != nil {
		return nil, fmt.Errorf("cannot set up TLS of the %s listener: %w", name, err)
	}
	l.src, l.mtls = src, cfg.ClientCAFile != ""
	return l, nil
}

// Name returns the listener's name, "" for a nil one.
func (l *Listener) Name() string {
	if l == nil {
		return ""
	}
	return l.name
}

// Enabled reports whether the listener serves TLS.
func (l *Listener) Enabled() bool { return l != nil && l.src != nil }

// Scheme returns "https://" for a listener that serves TLS, else
// "http://", for the URLs a binary prints.
func (l *Listener) Scheme() string {
	if l.Enabled() {
		return "https://"
	}
	return "http://"
}

// MutualTLS reports whether client certificates are required.
func (l *Listener) MutualTLS() bool { return l != nil && l.mtls }

// Config returns the server tls.Config offering the ALPN protocols
// nextProtos, or nil for plain text. Each handshake gets the certificate
// and client CAs the files hold then.
func (l *Listener) Config(nextProtos ...string) *tls.Config {
	if !l.Enabled() {
		return nil
	}
	build := func() *tls.Config {
		cert, pool := l.src.current()
		c := &tls.Config{
			Certificates: []tls.Certificate{*cert},
			MinVersion:   l.minVer,
			NextProtos:   nextProtos,
		}
		if l.mtls {
			c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, pool
		}
		return c
	}
	base := build()
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return build(), nil }
	return base
}

// GRPCServerOption returns the option that makes a grpc.Server speak the
// listener's TLS; an option that changes nothing for plain text.
func (l *Listener) GRPCServerOption() grpc.ServerOption {
	if !l.Enabled() {
		return grpc.EmptyServerOption{}
	}
	return grpc.Creds(credentials.NewTLS(l.Config("h2")))
}

// Check applies the policy to the listener about to bind addr: plain text
// on an address that is not loopback is logged and counted, or refused
// when TLS is required.
func (l *Listener) Check(ctx context.Context, addr string) error {
	if l == nil || l.Enabled() {
		return nil
	}
	return l.policy.CheckPlaintext(ctx, l.name, addr, fmt.Sprintf(
		"give it a certificate (--tls-cert-file and --tls-key-file, or --%s-tls-cert-file and --%s-tls-key-file) or bind it to 127.0.0.1", l.name, l.name))
}

// CheckPlaintext applies p to the plaintext listener name about to bind
// addr: on an address that is not loopback it is logged and counted, or
// refused with an error ending in fix when TLS is required. A nil p
// allows everything.
func (p *Policy) CheckPlaintext(ctx context.Context, name, addr, fix string) error {
	if p == nil || IsLoopback(ctx, addr) {
		return nil
	}
	if p.Require {
		return fmt.Errorf("the %s listener on %s would serve plain text on an address that is not loopback, and --require-tls is set: %s", name, addr, fix)
	}
	p.logger.Warn("listener serves plain text on an address that is not loopback: anyone who can reach it can read and send what it carries; "+fix,
		"listener", name, "addr", addr)
	p.gauge.WithLabelValues(name).Set(1)
	return nil
}

// CheckUDP applies the plaintext policy p to the UDP listeners on compact
// and binary (either may be empty): UDP has no TLS, so one on an address
// that is not loopback is logged and counted, or refused with
// --require-tls.
func CheckUDP(p *Policy, compact, binary string) error {
	for _, u := range []struct{ name, addr string }{{"udp-compact", compact}, {"udp-binary", binary}} {
		if u.addr == "" {
			continue
		}
		fix := fmt.Sprintf("Jaeger Thrift over UDP has no TLS: turn it off with --%s-addr= or bind it to 127.0.0.1", u.name)
		if err := p.CheckPlaintext(context.Background(), u.name, u.addr, fix); err != nil {
			return err
		}
	}
	return nil
}

// IsLoopback reports whether every address host:port may mean is a
// loopback one: an IP literal that is loopback, "localhost", or a name
// that resolves to loopback addresses only. An empty host (every
// interface), an unspecified address or a name that cannot be resolved is
// not.
func IsLoopback(ctx context.Context, addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().IsLoopback()
	}
	if host == "localhost" {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.Unmap().IsLoopback() {
			return false
		}
	}
	return true
}
