package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/scrytrace/scry/agent/sampling"
	"github.com/scrytrace/scry/agent/spool"
	"github.com/scrytrace/scry/collector/jaegerudp"
	"github.com/scrytrace/scry/collector/otlpgrpc"
	"github.com/scrytrace/scry/collector/otlphttp"
	"github.com/scrytrace/scry/internal/tlsconf"
	"github.com/scrytrace/scry/storage"
)

// Defaults of Config.
const (
	DefaultUDPCompactAddr      = jaegerudp.DefaultCompactAddr
	DefaultUDPBinaryAddr       = jaegerudp.DefaultBinaryAddr
	DefaultUDPBufferBytes      = jaegerudp.DefaultBufferBytes
	DefaultUDPWorkers          = jaegerudp.DefaultWorkers
	DefaultUDPQueueBytes       = jaegerudp.DefaultQueueBytes
	DefaultBatchSpans          = 500
	DefaultBatchTimeout        = 200 * time.Millisecond
	DefaultBufferBytes         = 64 << 20
	DefaultForwarders          = 4
	DefaultExportTimeout       = 10 * time.Second
	DefaultResolveInterval     = 30 * time.Second
	DefaultRetryInitialBackoff = 100 * time.Millisecond
	DefaultRetryMaxBackoff     = 5 * time.Second
	DefaultRetryAfter          = time.Second

	// MaxPacketBytes is the largest UDP packet taken; larger ones are
	// dropped (reason "oversized"). Jaeger clients send at most 65000.
	MaxPacketBytes = jaegerudp.MaxPacketBytes
)

// Config sets up an Agent. An empty address turns that listener off.
type Config struct {
	// UDPCompactAddr and UDPBinaryAddr take Jaeger Thrift emitBatch packets
	// in the compact and binary protocols.
	UDPCompactAddr, UDPBinaryAddr string
	// UDPBufferBytes is the socket receive buffer asked of the kernel, which
	// may give less (Linux caps it at net.core.rmem_max unless the process
	// may override that).
	UDPBufferBytes int
	// UDPWorkers decode packets; the readers only copy them off the socket.
	UDPWorkers int
	// UDPQueueBytes bounds the packets read and not yet decoded; a packet
	// that does not fit is dropped (reason "queue_full").
	UDPQueueBytes int

	// OTLPGRPCAddr and OTLPHTTPAddr take OTLP exports. An export is answered
	// once its spans are in the buffer (and in the spool when there is one).
	OTLPGRPCAddr, OTLPHTTPAddr string
	// MaxRequestBytes bounds an OTLP request, after decompression.
	MaxRequestBytes int
	// MaxSpansPerRequest bounds the spans of one OTLP request.
	MaxSpansPerRequest int
	// RetryAfter is the delay suggested to OTLP senders told to retry.
	RetryAfter time.Duration

	// Tenant is the tenant of the spans that arrive without one: every UDP
	// span, and OTLP exports without a tenant header. Empty: none, and such
	// spans are sent without a tenant header, as before tenants.
	Tenant string
	// TenantHeader is the header (gRPC metadata key) that names the tenant
	// of an OTLP export (X-Scope-OrgID does too) and that batches are sent
	// to collectors with: the collectors' --multi-tenancy.header. Header
	// names are case-insensitive; it is kept in lower case.
	TenantHeader string

	// Collectors are the collectors' OTLP/gRPC addresses, host:port. A host
	// that is a DNS name stands for every address it resolves to (IPv4 ones
	// if it has any, else IPv6), resolved again every ResolveInterval.
	Collectors      []string
	ResolveInterval time.Duration
	// ExportTimeout bounds one export to one collector.
	ExportTimeout time.Duration
	// Forwarders is how many batches are sent (or retried) at once.
	Forwarders int
	// BatchSpans and BatchTimeout: a batch is sent when it has BatchSpans
	// spans or when its oldest span has waited BatchTimeout.
	BatchSpans   int
	BatchTimeout time.Duration
	// BufferBytes bounds the estimated memory of the spans held: waiting,
	// being sent or retried. When full, UDP spans are dropped (counted) and
	// OTLP senders are told to retry later.
	BufferBytes int64
	// RetryInitialBackoff and RetryMaxBackoff bound the exponential backoff
	// (with jitter) before a collector address that failed is tried again.
	// A RetryInfo delay in the collector's answer is honoured (up to one
	// minute) when it is longer.
	RetryInitialBackoff, RetryMaxBackoff time.Duration
	// DialOptions are added to those of every collector connection (TLS,
	// say; the default is plain text).
	DialOptions []grpc.DialOption
	// ListenTLS holds the TLS of the listeners "otlp-grpc", "otlp-http"
	// and "sampling" and the plaintext policy (UDP included); nil: plain
	// text everywhere, no policy.
	ListenTLS *tlsconf.Servers
	// LookupHost resolves collector host names. Default
	// net.DefaultResolver.LookupHost.
	LookupHost func(ctx context.Context, host string) ([]string, error)

	// SpoolDir, when set, keeps every span acknowledged over OTLP on disk
	// until it is forwarded, and on shutdown the spans not forwarded; they
	// are sent after a restart. SpoolBytes bounds the spool.
	SpoolDir   string
	SpoolBytes int64

	// SamplingAddr serves Jaeger's remote sampling (GET /sampling?service=),
	// proxied from SamplingURL and cached per service.
	SamplingAddr string
	SamplingURL  string
	// SamplingTLS is the client TLS of fetches from an https SamplingURL;
	// nil: the system's CAs.
	SamplingTLS *tls.Config
	// SamplingAuthorization, when set, gives the Authorization header of
	// every fetch from SamplingURL (the collector's --auth-file lets a
	// write or read credential read strategies).
	SamplingAuthorization func() string
}

// DefaultConfig returns the defaults: Jaeger's and OTLP's ports on
// 127.0.0.1, no collector (it must be set), no spool.
func DefaultConfig() Config {
	return Config{
		UDPCompactAddr:      DefaultUDPCompactAddr,
		UDPBinaryAddr:       DefaultUDPBinaryAddr,
		UDPBufferBytes:      DefaultUDPBufferBytes,
		UDPWorkers:          DefaultUDPWorkers,
		UDPQueueBytes:       DefaultUDPQueueBytes,
		OTLPGRPCAddr:        otlpgrpc.DefaultAddr,
		OTLPHTTPAddr:        otlphttp.DefaultAddr,
		MaxRequestBytes:     otlpgrpc.DefaultMaxRequestBytes,
		MaxSpansPerRequest:  otlpgrpc.DefaultMaxSpansPerRequest,
		RetryAfter:          DefaultRetryAfter,
		TenantHeader:        DefaultTenantHeader,
		ResolveInterval:     DefaultResolveInterval,
		ExportTimeout:       DefaultExportTimeout,
		Forwarders:          DefaultForwarders,
		BatchSpans:          DefaultBatchSpans,
		BatchTimeout:        DefaultBatchTimeout,
		BufferBytes:         DefaultBufferBytes,
		RetryInitialBackoff: DefaultRetryInitialBackoff,
		RetryMaxBackoff:     DefaultRetryMaxBackoff,
		SpoolBytes:          spool.DefaultMaxBytes,
		SamplingAddr:        sampling.DefaultAddr,
		SamplingURL:         sampling.DefaultURL,
	}
}

// Validate reports everything that is wrong with c.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for _, a := range []struct{ name, addr string }{
		{"udp compact address", c.UDPCompactAddr}, {"udp binary address", c.UDPBinaryAddr},
		{"otlp grpc address", c.OTLPGRPCAddr}, {"otlp http address", c.OTLPHTTPAddr},
		{"sampling address", c.SamplingAddr},
	} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			add("%s %q: %w", a.name, a.addr, err)
		}
	}
	if c.UDPBufferBytes < 0 {
		add("udp buffer bytes must not be negative, got %d", c.UDPBufferBytes)
	}
	if c.UDPWorkers <= 0 {
		add("udp workers must be positive, got %d", c.UDPWorkers)
	}
	if c.UDPQueueBytes < MaxPacketBytes {
		add("udp queue bytes must be at least %d (one packet), got %d", MaxPacketBytes, c.UDPQueueBytes)
	}
	if c.MaxRequestBytes <= 0 {
		add("max request bytes must be positive, got %d", c.MaxRequestBytes)
	}
	if c.MaxSpansPerRequest <= 0 {
		add("max spans per request must be positive, got %d", c.MaxSpansPerRequest)
	}
	if c.RetryAfter <= 0 {
		add("retry after must be positive, got %s", c.RetryAfter)
	}
	if c.Tenant != "" {
		if err := storage.ValidateTenant(c.Tenant); err != nil {
			add("tenant %q: %w", c.Tenant, err)
		}
	}
	if !validHeaderName(strings.ToLower(c.TenantHeader)) {
		add("tenant header %q is not a header name a gRPC metadata key can be (letters, digits, - _ .; not ending in -bin, not starting with grpc-)", c.TenantHeader)
	}
	if len(c.Collectors) == 0 {
		add("no collector address given")
	}
	for _, ep := range c.Collectors {
		host, port, err := net.SplitHostPort(ep)
		if err != nil {
			add("collector %q is not host:port: %w", ep, err)
			continue
		}
		if host == "" {
			add("collector %q has no host", ep)
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			add("collector %q: port %q is not a number from 1 to 65535", ep, port)
		}
	}
	if c.ResolveInterval <= 0 {
		add("collector resolve interval must be positive, got %s", c.ResolveInterval)
	}
	if c.ExportTimeout <= 0 {
		add("export timeout must be positive, got %s", c.ExportTimeout)
	}
	if c.Forwarders <= 0 {
		add("forwarders must be positive, got %d", c.Forwarders)
	}
	if c.BatchSpans <= 0 {
		add("batch spans must be positive, got %d", c.BatchSpans)
	}
	if c.BatchTimeout <= 0 {
		add("batch timeout must be positive, got %s", c.BatchTimeout)
	}
	if c.BufferBytes < 1<<20 {
		add("buffer bytes must be at least 1 MiB, got %d", c.BufferBytes)
	}
	if c.RetryInitialBackoff <= 0 || c.RetryMaxBackoff < c.RetryInitialBackoff {
		add("retry backoff must be positive with max >= initial, got initial %s, max %s", c.RetryInitialBackoff, c.RetryMaxBackoff)
	}
	if c.SpoolDir != "" {
		if err := (spool.Config{Dir: c.SpoolDir, MaxBytes: c.SpoolBytes}).Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.SamplingAddr != "" {
		u, err := url.Parse(c.SamplingURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("sampling url %q must be an http(s) URL", c.SamplingURL)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid agent config: %w", err)
	}
	return nil
}
