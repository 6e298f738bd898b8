package tlsconf

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/scrytrace/scry/internal/auth"
	"github.com/scrytrace/scry/internal/browser"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/tenant"
)

// Listener names, as in the flags --<name>-tls-cert-file and the
// scry_plaintext_listeners label. A binary registers those it has.
const (
	OTLPGRPC   = "otlp-grpc"
	OTLPHTTP   = "otlp-http"
	JaegerHTTP = "jaeger-http"
	Zipkin     = "zipkin"
	HTTP       = "http"       // the query API and UI
	TempoHTTP  = "tempo-http" // Grafana Tempo's query API (--tempo-http-addr)
	Storage    = "storage"    // a collector's storage read API
	Sampling   = "sampling"   // the agent's sampling endpoint
	Admin      = "admin"
)

// authRules are the scopes each listener's requests need when an auth
// file is in force: intake needs write; reading sampling strategies,
// which SDKs and agents do with the credential they write with, write or
// read; the query API, the UI and the storage read API read; the admin
// port admin, except its probes, which the kubelet sends without
// credentials.
var authRules = map[string]auth.Rules{
	OTLPGRPC:   {Default: []auth.Scope{auth.Write}},
	OTLPHTTP:   {Default: []auth.Scope{auth.Write}},
	JaegerHTTP: {Default: []auth.Scope{auth.Write}, Routes: map[string][]auth.Scope{"/api/sampling": {auth.Write, auth.Read}}},
	Zipkin:     {Default: []auth.Scope{auth.Write}},
	HTTP:       {Default: []auth.Scope{auth.Read}},
	TempoHTTP:  {Default: []auth.Scope{auth.Read}},
	Storage:    {Default: []auth.Scope{auth.Read}},
	Sampling:   {Default: []auth.Scope{auth.Write, auth.Read}},
	Admin:      {Default: []auth.Scope{auth.Admin}, Routes: map[string][]auth.Scope{"/healthz": nil, "/livez": nil, "/readyz": nil}},
}

// browserRules are what each HTTP listener is to browsers: the intake
// that browser SDKs post to (OTLP/HTTP, Zipkin) and the query APIs take
// the CORS of --http-cors-allowed-origins; the query and Tempo ports serve
// pages (the UI, and answers a browser may open); only the admin port
// serves /debug/. A listener missing here gets the strictest: no CORS, no
// debug.
var browserRules = map[string]browser.Rules{
	OTLPHTTP:   {CORS: true},
	Zipkin:     {CORS: true},
	JaegerHTTP: {},
	HTTP:       {CORS: true, Pages: true},
	TempoHTTP:  {CORS: true, Pages: true},
	Sampling:   {},
	Admin:      {Debug: true},
}

// tenantRules are the tenant-facing listeners (with tenancy on, each of
// their requests works for one tenant) and what of them is not: the
// sampling strategies, and the web UI's files (everything on the query
// port but its APIs, under /api/). The storage read API takes the tenant
// scry-query relays (tenant.Set.Relay); the sampling and admin ports are
// not tenant-scoped.
var tenantRules = map[string]tenant.Rules{
	OTLPGRPC:   {},
	OTLPHTTP:   {},
	JaegerHTTP: {Exempt: func(path string) bool { return path == "/api/sampling" }},
	Zipkin:     {},
	HTTP:       {Exempt: func(path string) bool { return !strings.Contains(path+"/", "/api/") }},
	TempoHTTP:  {},
}

// ServerFlags are the TLS flags of a binary's listeners: --tls-cert-file,
// --tls-key-file, --tls-client-ca-file and --tls-min-version for all of
// them, --<listener>-tls-cert-file and so on for one, --tls-reload-interval
// and --require-tls. In the --config file, a tls: block with the
// OpenTelemetry Collector's keys (cert_file, key_file, client_ca_file,
// min_version) sets the first four, and <listener>-tls: sets one
// listener's (internal/cli flattens them to the flag names). They also
// hold --auth-file, the credentials every listener requires (see
// internal/auth), and the CORS of --http-cors-allowed-origins (see
// internal/browser), since a listener's security is all three.
type ServerFlags struct {
	Default        ServerConfig
	ReloadInterval time.Duration
	RequireTLS     bool
	Auth           auth.Config
	CORS           browser.Config
	// Tenancy is the binary's --multi-tenancy.* flags; nil (a binary
	// without tenant-facing listeners): none.
	Tenancy *tenant.Config

	names []string
	per   map[string]*ServerConfig
	fs    *pflag.FlagSet
}

// NewServerFlags returns the flags of a binary with the listeners names.
func NewServerFlags(names ...string) *ServerFlags {
	f := &ServerFlags{ReloadInterval: DefaultReloadInterval, names: names, per: map[string]*ServerConfig{},
		Auth: auth.Config{ReloadInterval: auth.DefaultReloadInterval}}
	for _, n := range names {
		f.per[n] = &ServerConfig{}
	}
	return f
}

// Add registers the flags on fs.
func (f *ServerFlags) Add(fs *pflag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.Default.CertFile, "tls-cert-file", "", "PEM certificate (chain) every listener serves TLS with (empty: plain text); re-read when the file changes")
	fs.StringVar(&f.Default.KeyFile, "tls-key-file", "", "PEM private key of --tls-cert-file")
	fs.StringVar(&f.Default.ClientCAFile, "tls-client-ca-file", "", "PEM CA certificates: when set, clients must present a certificate they signed (mutual TLS)")
	fs.StringVar(&f.Default.MinVersion, "tls-min-version", "1.2", "oldest TLS version accepted: 1.2 or 1.3")
	fs.DurationVar(&f.ReloadInterval, "tls-reload-interval", f.ReloadInterval,
		"how often certificate, key and CA files are read again when a client connects; changed ones are used for new connections, open ones keep theirs (0: never)")
	fs.BoolVar(&f.RequireTLS, "require-tls", false,
		"refuse to start with a plaintext listener on an address that is not loopback (without it such a listener is logged and counted in scry_plaintext_listeners)")
	for _, n := range f.names {
		c := f.per[n]
		fs.StringVar(&c.CertFile, n+"-tls-cert-file", "", "the "+n+" listener's certificate, instead of --tls-cert-file (set to empty: plain text there)")
		fs.StringVar(&c.KeyFile, n+"-tls-key-file", "", "the "+n+" listener's key, instead of --tls-key-file")
		fs.StringVar(&c.ClientCAFile, n+"-tls-client-ca-file", "", "the "+n+" listener's client CAs, instead of --tls-client-ca-file")
		fs.StringVar(&c.MinVersion, n+"-tls-min-version", "", "the "+n+" listener's oldest TLS version, instead of --tls-min-version")
	}
	f.Auth.AddFlags(fs)
	f.CORS.AddFlags(fs)
	if f.Tenancy != nil {
		f.Tenancy.AddFlags(fs)
	}
}

// WithTenancy gives f the --multi-tenancy.* flags, tenancy off by
// default, and returns f.
func (f *ServerFlags) WithTenancy() *ServerFlags {
	c := tenant.DefaultConfig()
	f.Tenancy = &c
	return f
}

// Names returns the listeners the flags are for.
func (f *ServerFlags) Names() []string { return slices.Clone(f.names) }

// changed reports whether flag name was set, on the command line, in the
// environment or in the config file.
func (f *ServerFlags) changed(name string) bool {
	if f.fs == nil {
		return false
	}
	fl := f.fs.Lookup(name)
	return fl != nil && fl.Changed
}

// Config returns the settings of listener name: the --tls-* defaults with
// what its own flags set in their place. A listener whose own certificate
// flag was set to empty is plain text.
func (f *ServerFlags) Config(name string) ServerConfig {
	c := f.Default
	own, ok := f.per[name]
	if !ok {
		return c
	}
	if f.changed(name + "-tls-cert-file") {
		if own.CertFile == "" {
			return ServerConfig{MinVersion: c.MinVersion}
		}
		c.CertFile = own.CertFile
	}
	if f.changed(name + "-tls-key-file") {
		c.KeyFile = own.KeyFile
	}
	if f.changed(name + "-tls-client-ca-file") {
		c.ClientCAFile = own.ClientCAFile
	}
	if f.changed(name + "-tls-min-version") {
		c.MinVersion = own.MinVersion
	}
	return c
}

// Servers are the Listeners of a binary, by name.
type Servers struct {
	policy  *Policy
	byName  map[string]*Listener
	authn   *auth.Authenticator // nil: no auth file
	tenants *tenant.Set         // nil: no --multi-tenancy.* flags
	logger  *slog.Logger
}

// TenancyEnabled reports whether --multi-tenancy.enabled is on.
func (s *Servers) TenancyEnabled() bool { return s != nil && s.tenants.Enabled() }

// Build reads every listener's files and the auth file, and returns the
// listeners with the binary's Policy, whose gauge is registered on
// tel.Registerer, each with its auth Guard. An error names the listener
// and the file that is wrong.
func (f *ServerFlags) Build(tel telemetry.Settings) (*Servers, error) {
	tel = tel.Complete()
	if f.ReloadInterval < 0 {
		return nil, fmt.Errorf("--tls-reload-interval must not be negative, got %s", f.ReloadInterval)
	}
	if err := f.CORS.Validate(f.Auth.File != ""); err != nil {
		return nil, err
	}
	p, err := NewPolicy(f.RequireTLS, tel.Registerer, tel.Logger)
	if err != nil {
		return nil, err
	}
	authn, err := auth.New(f.Auth, tel.For("auth"))
	if err != nil {
		return nil, err
	}
	var tenants *tenant.Set
	if f.Tenancy != nil {
		if tenants, err = tenant.NewSet(*f.Tenancy, tel.For("tenant")); err != nil {
			return nil, err
		}
	}
	s := &Servers{policy: p, byName: map[string]*Listener{}, authn: authn, tenants: tenants, logger: tel.Logger}
	for _, n := range f.names {
		l, err := NewListener(n, f.Config(n), f.ReloadInterval, p, tel.Logger)
		if err != nil {
			return nil, err
		}
		rules, ok := authRules[n]
		if !ok && authn != nil {
			// Fail closed: a listener nobody gave rules would be open.
			return nil, fmt.Errorf("listener %s has no authentication rules", n)
		}
		l.guard = authn.Guard(n, rules)
		if n == Storage {
			l.tenant = tenants.Relay(n)
		} else if tr, ok := tenantRules[n]; ok {
			l.tenant = tenants.Edge(n, tr)
		}
		if l.browser, err = browser.New(n, f.CORS, browserRules[n]); err != nil {
			return nil, err
		}
		s.byName[n] = l
	}
	return s, nil
}

// For returns listener name's TLS; nil (plain text, no policy) when s is
// nil or has no such listener.
func (s *Servers) For(name string) *Listener {
	if s == nil {
		return nil
	}
	return s.byName[name]
}

// WarnUDP logs a warning for each of the UDP listeners on compact and
// binary (either may be empty) that is on an address that is not loopback
// while an auth file is in force: Jaeger Thrift over UDP carries no
// credential, so anyone who can reach it can write.
func (s *Servers) WarnUDP(compact, binary string) {
	if s == nil || s.authn == nil {
		return
	}
	for _, u := range []struct{ name, addr string }{{"udp-compact", compact}, {"udp-binary", binary}} {
		if u.addr != "" && !IsLoopback(context.Background(), u.addr) {
			s.logger.Warn("UDP listener takes spans without credentials although --auth-file is set: anyone who can reach it can write; turn it off with --"+u.name+"-addr= or bind it to 127.0.0.1",
				"listener", u.name, "addr", u.addr)
		}
	}
}

// Policy returns the binary's plaintext policy (nil for a nil s), for
// listeners that cannot serve TLS (UDP) to be checked against.
func (s *Servers) Policy() *Policy {
	if s == nil {
		return nil
	}
	return s.policy
}

// ClientFlags are the TLS flags of one kind of connection a binary makes,
// --<prefix>-tls-enabled, -ca-file, -cert-file, -key-file, -server-name and
// -min-version: to collectors (prefix "collector"), to storage APIs
// ("storage"), to tracegen's endpoint ("endpoint"). In the --config file,
// a <prefix>-tls: block takes the OpenTelemetry Collector's client keys
// (ca_file, cert_file, key_file, server_name_override, min_version,
// insecure... as flag names with underscores).
type ClientFlags struct {
	Prefix string
	Config ClientConfig
}

// Add registers the flags on fs; what names the servers dialled in help
// ("collectors").
func (f *ClientFlags) Add(fs *pflag.FlagSet, what string) {
	p, c := f.Prefix+"-tls-", &f.Config
	fs.BoolVar(&c.Enabled, p+"enabled", false, "speak TLS to "+what+", checking their certificates against the system's CAs unless --"+p+"ca-file is set (any other --"+p+"* flag turns TLS on too)")
	fs.StringVar(&c.CAFile, p+"ca-file", "", "PEM CA certificates that must have signed the certificates of "+what+" (turns TLS on)")
	fs.StringVar(&c.CertFile, p+"cert-file", "", "PEM client certificate presented to "+what+" that require one (mutual TLS; turns TLS on); re-read when the file changes")
	fs.StringVar(&c.KeyFile, p+"key-file", "", "PEM private key of --"+p+"cert-file")
	fs.StringVar(&c.ServerName, p+"server-name", "", "name the certificates of "+what+" must hold, instead of the host dialled (turns TLS on)")
	fs.StringVar(&c.MinVersion, p+"min-version", "1.2", "oldest TLS version spoken to "+what+": 1.2 or 1.3")
}
