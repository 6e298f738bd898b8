package otlpgrpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // registers the gzip decompressor
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/internal/grpcserver"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/tlsconf"
	"github.com/scrytrace/scry/model"
)

// Defaults of Config.
const (
	DefaultAddr               = "127.0.0.1:4317"
	DefaultMaxRequestBytes    = 16 << 20 // after decompression
	DefaultMaxSpansPerRequest = 100_000
	DefaultRetryAfter         = time.Second
)

// Transport is the receiver's transport label in collector.Metrics.
const Transport = "otlp_grpc"

// Config sets up a Receiver.
type Config struct {
	// Addr is the host:port to listen on.
	Addr string
	// MaxRequestBytes bounds a request message in bytes, after
	// decompression.
	MaxRequestBytes int
	// MaxSpansPerRequest bounds the spans of one export.
	MaxSpansPerRequest int
	// RetryAfter is the delay suggested (in RetryInfo) to clients told to
	// retry.
	RetryAfter time.Duration
	// TLS is the listener's TLS; nil: plain text.
	TLS *tlsconf.Listener
}

// DefaultConfig returns the defaults: 127.0.0.1:4317, 16 MiB messages,
// 100,000 spans per request, a retry delay of one second.
func DefaultConfig() Config {
	return Config{
		Addr:               DefaultAddr,
		MaxRequestBytes:    DefaultMaxRequestBytes,
		MaxSpansPerRequest: DefaultMaxSpansPerRequest,
		RetryAfter:         DefaultRetryAfter,
	}
}

// Validate reports what is wrong with c, if anything.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("address %q: %w", c.Addr, err))
	}
	if c.MaxRequestBytes <= 0 {
		errs = append(errs, fmt.Errorf("max request bytes must be positive, got %d", c.MaxRequestBytes))
	}
	if c.MaxSpansPerRequest <= 0 {
		errs = append(errs, fmt.Errorf("max spans per request must be positive, got %d", c.MaxSpansPerRequest))
	}
	if c.RetryAfter <= 0 {
		errs = append(errs, fmt.Errorf("retry after must be positive, got %s", c.RetryAfter))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid otlp grpc receiver config: %w", err)
	}
	return nil
}

// Receiver is an OTLP/gRPC trace receiver. Its methods are safe for
// concurrent use.
type Receiver struct {
	cfg      Config
	consumer collector.Consumer
	metrics  *collector.TransportMetrics
	logger   *slog.Logger
	server   *grpcserver.Server
}

// New returns a receiver handing spans to consumer and counting them under
// Transport in m.
func New(cfg Config, consumer collector.Consumer, m *collector.Metrics, tel telemetry.Settings) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if consumer == nil {
		return nil, errors.New("cannot create otlp grpc receiver: consumer is nil")
	}
	if m == nil {
		return nil, errors.New("cannot create otlp grpc receiver: metrics are nil")
	}
	tel = tel.Complete()
	r := &Receiver{cfg: cfg, consumer: consumer, metrics: m.Transport(Transport), logger: tel.Logger}
	r.server = grpcserver.New("otlp grpc receiver", cfg.Addr, cfg.TLS, tel,
		grpc.MaxRecvMsgSize(cfg.MaxRequestBytes), grpc.StatsHandler(requestSizes{}))
	coltracepb.RegisterTraceServiceServer(r.server.GRPC(), &service{r: r})
	return r, nil
}

// Start binds Config.Addr and serves in the background until Shutdown.
func (r *Receiver) Start(ctx context.Context) error { return r.server.Start(ctx) }

// Addr returns the address the receiver listens on, or nil before Start.
func (r *Receiver) Addr() net.Addr { return r.server.Addr() }

// Shutdown stops accepting connections and waits for exports in flight to
// be answered. If ctx ends first it closes every connection and returns an
// error wrapping ctx's. It is safe to call more than once, and before Start.
func (r *Receiver) Shutdown(ctx context.Context) error { return r.server.Shutdown(ctx) }

// service implements the TraceService.
type service struct {
	coltracepb.UnimplementedTraceServiceServer
	r *Receiver
}

// Export stores the spans of req and answers once they are stored.
func (s *service) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	r := s.r
	spans, rejected := model.SpansFromOTLP(req.GetResourceSpans())
	res, err := collector.Deliver(ctx, r.consumer, r.metrics, collector.Request{
		Spans: spans, Rejected: rejected, Size: requestSize(ctx, req), MaxSpans: r.cfg.MaxSpansPerRequest,
	})
	if err != nil {
		return nil, r.status(ctx, err)
	}
	resp := &coltracepb.ExportTraceServiceResponse{}
	if res.Rejected > 0 {
		r.logger.Debug("otlp grpc export partially rejected", "spans", res.Spans, "rejected", res.Rejected, "reason", res.Message)
		resp.PartialSuccess = &coltracepb.ExportTracePartialSuccess{
			RejectedSpans: int64(res.Rejected),
			ErrorMessage:  res.Message,
		}
	}
	return resp, nil
}

// status turns an Export error into the gRPC status the client gets.
func (r *Receiver) status(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return status.FromContextError(ctxErr).Err()
	}
	switch collector.Classify(err) {
	case collector.KindTooLarge:
		return status.Error(codes.ResourceExhausted, err.Error())
	case collector.KindRateLimited:
		// RESOURCE_EXHAUSTED with RetryInfo is retryable for OTLP clients.
		st := status.New(codes.ResourceExhausted, err.Error())
		if withInfo, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(collector.RetryAfterOf(err, r.cfg.RetryAfter))}); derr == nil {
			st = withInfo
		}
		return st.Err()
	case collector.KindInvalid:
		r.logger.Debug("otlp grpc export rejected", "error", err)
		return status.Error(codes.InvalidArgument, err.Error())
	default:
		st := status.New(codes.Unavailable, err.Error())
		if withInfo, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(r.cfg.RetryAfter)}); derr == nil {
			st = withInfo
		}
		return st.Err()
	}
}
