// Package agentflags binds scry-agent's flags onto agent.DefaultConfig, as
// internal/wiring binds the collector's onto its parts' DefaultConfigs. It
// is a package of its own because wiring links the store and the UI, which
// the agent must not.
package agentflags

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/scrytrace/scry/agent"
	"github.com/scrytrace/scry/internal/auth"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/tlsconf"
)

// DefaultShutdownTimeout is how long the agent forwards what it holds at
// shutdown by default.
const DefaultShutdownTimeout = 10 * time.Second

// Flags are the agent's configuration, the time it has to shut down, and
// its TLS: of its listeners, and to the collectors.
type Flags struct {
	Agent           agent.Config
	ShutdownTimeout time.Duration
	ListenTLS       *tlsconf.ServerFlags
	CollectorTLS    tlsconf.ClientFlags
	CollectorAuth   auth.ClientFlags
}

// Listeners are the agent's TCP listeners, as its TLS flags name them.
var Listeners = []string{tlsconf.OTLPGRPC, tlsconf.OTLPHTTP, tlsconf.Sampling, tlsconf.Admin}

// Default returns agent.DefaultConfig and DefaultShutdownTimeout.
func Default() Flags {
	return Flags{
		Agent: agent.DefaultConfig(), ShutdownTimeout: DefaultShutdownTimeout,
		ListenTLS: tlsconf.NewServerFlags(Listeners...), CollectorTLS: tlsconf.ClientFlags{Prefix: "collector"},
		CollectorAuth: auth.ClientFlags{Prefix: "collector"},
	}
}

// Config returns the agent's Config with its TLS built from the flags:
// the listeners' (srv, from ListenTLS.Build) and the collectors' client
// TLS, also used to fetch sampling strategies from an https --sampling-url;
// and the token of --collector-auth-token-file, sent to both.
func (f *Flags) Config(srv *tlsconf.Servers, tel telemetry.Settings) (agent.Config, error) {
	c := f.Agent
	c.ListenTLS = srv
	tc, err := f.CollectorTLS.Config.TLSConfig(tel.Complete().Logger)
	if err != nil {
		return c, fmt.Errorf("invalid --collector-tls-* settings: %w", err)
	}
	if tc != nil {
		c.DialOptions = append(c.DialOptions, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
		c.SamplingTLS = tc
	}
	tok, err := f.CollectorAuth.Token(context.Background(), tc != nil, c.Collectors, tlsconf.IsLoopback)
	if err != nil {
		return c, err
	}
	if u, err := url.Parse(c.SamplingURL); tok != nil && c.SamplingAddr != "" && err == nil && u.Scheme == "http" && !tlsconf.IsLoopback(context.Background(), hostPort(u)) {
		return c, fmt.Errorf("--collector-auth-token-file would send the token in plain text to --sampling-url %s, which is not loopback: use an https:// URL", c.SamplingURL)
	}
	if tok != nil {
		c.DialOptions = append(c.DialOptions, tok.DialOption())
		c.SamplingAuthorization = tok.Authorization
	}
	return c, nil
}

// hostPort returns u's host with its port, the scheme's when none is given.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// Add registers the flags on fs, with f's values as their defaults.
func (f *Flags) Add(fs *pflag.FlagSet) {
	c := &f.Agent
	fs.StringVar(&c.UDPCompactAddr, "udp-compact-addr", c.UDPCompactAddr, "UDP listen address for Jaeger Thrift emitBatch, compact protocol (empty: off)")
	fs.StringVar(&c.UDPBinaryAddr, "udp-binary-addr", c.UDPBinaryAddr, "UDP listen address for Jaeger Thrift emitBatch, binary protocol (empty: off)")
	fs.IntVar(&c.UDPBufferBytes, "udp-buffer-bytes", c.UDPBufferBytes, "UDP socket receive buffer asked of the kernel (a smaller one given is logged)")
	fs.IntVar(&c.UDPWorkers, "udp-workers", c.UDPWorkers, "goroutines decoding UDP packets")
	fs.StringVar(&c.OTLPGRPCAddr, "otlp-grpc-addr", c.OTLPGRPCAddr, "OTLP/gRPC listen address (empty: off)")
	fs.StringVar(&c.OTLPHTTPAddr, "otlp-http-addr", c.OTLPHTTPAddr, "OTLP/HTTP listen address, POST /v1/traces (empty: off)")
	fs.IntVar(&c.MaxRequestBytes, "max-message-bytes", c.MaxRequestBytes, "largest OTLP request accepted, after decompression")
	fs.IntVar(&c.MaxSpansPerRequest, "max-spans-per-request", c.MaxSpansPerRequest, "most spans accepted in one OTLP request")
	fs.StringVar(&c.Tenant, "tenant", c.Tenant,
		"tenant of the spans that arrive without one: every UDP span, and OTLP exports without a --tenant-header (or X-Scope-OrgID) header; sent to the collectors in --tenant-header (empty: no tenant, no header sent)")
	fs.StringVar(&c.TenantHeader, "tenant-header", c.TenantHeader,
		"header (gRPC metadata key) naming the tenant of an OTLP export, X-Scope-OrgID accepted too, and sent with each batch to the collectors: their --multi-tenancy.header")
	fs.StringSliceVar(&c.Collectors, "collector", nil,
		"a collector's OTLP/gRPC address, host:port (required); repeat or separate by commas for several. A DNS name stands for every address it resolves to (a Kubernetes headless Service)")
	fs.DurationVar(&c.ResolveInterval, "collector-resolve-interval", c.ResolveInterval, "how often DNS names in --collector are resolved again")
	fs.DurationVar(&c.ExportTimeout, "collector-timeout", c.ExportTimeout, "time limit of one export to a collector")
	fs.IntVar(&c.Forwarders, "forwarders", c.Forwarders, "batches sent or retried at once")
	fs.IntVar(&c.BatchSpans, "batch-spans", c.BatchSpans, "spans per batch sent to a collector")
	fs.DurationVar(&c.BatchTimeout, "batch-timeout", c.BatchTimeout, "longest a span waits for its batch to fill before the batch is sent")
	fs.Int64Var(&c.BufferBytes, "buffer-bytes", c.BufferBytes, "bound on the estimated memory of spans held (waiting, being sent or retried)")
	fs.DurationVar(&c.RetryInitialBackoff, "retry-initial-backoff", c.RetryInitialBackoff, "first wait before a failing collector address is tried again (doubles, with jitter)")
	fs.DurationVar(&c.RetryMaxBackoff, "retry-max-backoff", c.RetryMaxBackoff, "longest wait before a failing collector address is tried again (RetryInfo from the collector may ask for longer)")
	fs.StringVar(&c.SpoolDir, "spool-dir", c.SpoolDir, "folder for the on-disk spool: spans acknowledged over OTLP are written there until forwarded, and survive a restart (empty: no spool)")
	fs.Int64Var(&c.SpoolBytes, "spool-bytes", c.SpoolBytes, "bound on the spool's size on disk; when full, OTLP senders are told to retry later")
	fs.StringVar(&c.SamplingAddr, "sampling-addr", c.SamplingAddr, "listen address of the remote sampling endpoint, GET /sampling?service= (empty: off)")
	fs.StringVar(&c.SamplingURL, "sampling-url", c.SamplingURL, "the collector's sampling endpoint the strategies are fetched from")
	fs.DurationVar(&f.ShutdownTimeout, "shutdown-timeout", f.ShutdownTimeout,
		"time to forward what the buffer holds at shutdown; what is left is spooled (with --spool-dir) or dropped and counted")
	f.ListenTLS.Add(fs)
	f.CollectorTLS.Add(fs, "collectors (and an https --sampling-url)")
	f.CollectorAuth.Add(fs, "collectors (and --sampling-url)")
}
