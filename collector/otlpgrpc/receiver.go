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
	"github.com/scrytrace/scry/collector/internal/otlpexport"
	"github.com/scrytrace/scry/internal/grpcserver"
)

// Defaults of Config.
const (
	DefaultAddr               = "127.0.0.1:4317"
	DefaultMaxRecvMsgSize     = 16 << 20 // bytes, after decompression
	DefaultMaxSpansPerRequest = 100_000
	DefaultRetryDelay         = time.Second
)

// Config sets up a Receiver.
type Config struct {
	// Addr is the host:port to listen on.
	Addr string
	// MaxRecvMsgSize bounds a request message in bytes, after decompression.
	MaxRecvMsgSize int
	// MaxSpansPerRequest bounds the spans of one export.
	MaxSpansPerRequest int
	// RetryDelay is the delay suggested to clients told to retry.
	RetryDelay time.Duration
}

// DefaultConfig returns the defaults: 127.0.0.1:4317, 16 MiB messages,
// 100,000 spans per request, a retry delay of one second.
func DefaultConfig() Config {
	return Config{
		Addr:               DefaultAddr,
		MaxRecvMsgSize:     DefaultMaxRecvMsgSize,
		MaxSpansPerRequest: DefaultMaxSpansPerRequest,
		RetryDelay:         DefaultRetryDelay,
	}
}

// Validate reports what is wrong with c, if anything.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("address %q: %w", c.Addr, err))
	}
	if c.MaxRecvMsgSize <= 0 {
		errs = append(errs, fmt.Errorf("max message size must be positive, got %d", c.MaxRecvMsgSize))
	}
	if c.MaxSpansPerRequest <= 0 {
		errs = append(errs, fmt.Errorf("max spans per request must be positive, got %d", c.MaxSpansPerRequest))
	}
	if c.RetryDelay <= 0 {
		errs = append(errs, fmt.Errorf("retry delay must be positive, got %s", c.RetryDelay))
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
	logger   *slog.Logger
	server   *grpcserver.Server
}

// New returns a receiver handing spans to consumer. logger may be nil
// (nothing is logged).
func New(cfg Config, consumer collector.Consumer, logger *slog.Logger) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if consumer == nil {
		return nil, errors.New("cannot create otlp grpc receiver: consumer is nil")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Receiver{cfg: cfg, consumer: consumer, logger: logger}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(cfg.MaxRecvMsgSize), grpc.StatsHandler(requestSizes{}))
	coltracepb.RegisterTraceServiceServer(srv, &service{r: r})
	r.server = grpcserver.New("otlp grpc receiver", cfg.Addr, srv, logger)
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
	res, err := otlpexport.Export(ctx, r.consumer, req.GetResourceSpans(), requestSize(ctx, req), r.cfg.MaxSpansPerRequest, nil)
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
	switch otlpexport.Classify(err) {
	case otlpexport.TooLarge:
		return status.Error(codes.ResourceExhausted, err.Error())
	case otlpexport.Invalid:
		r.logger.Debug("otlp grpc export rejected", "error", err)
		return status.Error(codes.InvalidArgument, err.Error())
	default:
		st := status.New(codes.Unavailable, err.Error())
		if withInfo, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(r.cfg.RetryDelay)}); derr == nil {
			st = withInfo
		}
		return st.Err()
	}
}
