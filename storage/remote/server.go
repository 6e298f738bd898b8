package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	storagepb "github.com/scrytrace/scry/storage/remote/proto"
)

// Server serves a storage.Reader over gRPC as the scry.storage.v1.Reader
// service. It holds no state of its own: it is safe for concurrent use as far
// as the reader is, and lives as long as the *grpc.Server it is registered on.
//
// Errors map to gRPC codes: storage.ErrTraceNotFound to NOT_FOUND, a
// malformed request (an invalid query, a trace ID of the wrong length) to
// INVALID_ARGUMENT, storage.ErrClosed to UNAVAILABLE, the caller's
// cancellation or deadline to CANCELLED or DEADLINE_EXCEEDED, and anything
// else to INTERNAL, which is also logged.
type Server struct {
	r      storage.Reader
	shards func(p int) (storage.Reader, error) // with NewPartitionedServer
	logger *slog.Logger
}

// NewServer returns a Server reading from r and logging to tel.Logger.
func NewServer(r storage.Reader, tel telemetry.Settings) *Server {
	return &Server{r: r, logger: tel.Complete().Logger}
}

// NewPartitionedServer returns a Server of a partitioned store: each call
// names its partition in PartitionHeader and reads shards(partition). A
// call without one is INVALID_ARGUMENT; when shards fails (a partition not
// held here, or not ready) the call is UNAVAILABLE with its message, so
// that the client asks the partition's next owner.
func NewPartitionedServer(shards func(p int) (storage.Reader, error), tel telemetry.Settings) *Server {
	return &Server{shards: shards, logger: tel.Complete().Logger}
}

// reader returns the Reader a call reads.
func (s *Server) reader(ctx context.Context) (storage.Reader, error) {
	if s.shards == nil {
		return s.r, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get(PartitionHeader)
	if len(v) != 1 {
		return nil, status.Errorf(codes.InvalidArgument, "this storage API serves partitions: name one in the %s metadata", PartitionHeader)
	}
	p, err := strconv.Atoi(v[0])
	if err != nil || p < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "partition %q in %s is not a number", v[0], PartitionHeader)
	}
	r, err := s.shards(p)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return r, nil
}

// Register adds the service to g. Call it before g.Serve.
func (s *Server) Register(g *grpc.Server) {
	storagepb.RegisterReaderServer(g, &service{s: s})
}

// service implements the generated interface; it is kept apart from Server so
// that the handlers are not part of Server's API.
type service struct {
	storagepb.UnimplementedReaderServer
	s *Server
}

func (v *service) GetTrace(req *storagepb.GetTraceRequest, stream grpc.ServerStreamingServer[storagepb.GetTraceResponse]) error {
	r, err := v.s.reader(stream.Context())
	if err != nil {
		return err
	}
	id, err := traceIDFromProto(req.GetTraceId())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if id.IsZero() {
		return status.Error(codes.NotFound, storage.ErrTraceNotFound.Error())
	}
	hint := storage.TimeHint{Start: req.GetStartTimeUnixNano(), End: req.GetEndTimeUnixNano()}
	spans, err := r.GetTrace(stream.Context(), id, hint)
	if err != nil {
		return v.s.status("get trace "+id.String(), err)
	}
	if err := encodeTrace(spans, stream.Send); err != nil {
		if _, ok := status.FromError(err); ok {
			return err // from Send: the stream is broken
		}
		return v.s.status("send trace "+id.String(), err)
	}
	return nil
}

func (v *service) GetTraces(req *storagepb.GetTracesRequest, stream grpc.ServerStreamingServer[storagepb.GetTracesResponse]) error {
	r, err := v.s.reader(stream.Context())
	if err != nil {
		return err
	}
	ids := make([]model.TraceID, len(req.GetTraceIds()))
	for i, b := range req.GetTraceIds() {
		id, err := traceIDFromProto(b)
		if err != nil {
			return status.Error(codes.InvalidArgument, fmt.Sprintf("trace %d of the request: %v", i, err))
		}
		ids[i] = id
	}
	what := fmt.Sprintf("get %d traces", len(ids))
	hint := storage.TimeHint{Start: req.GetStartTimeUnixNano(), End: req.GetEndTimeUnixNano()}
	traces, err := r.GetTraces(stream.Context(), ids, hint)
	if err != nil {
		return v.s.status(what, err)
	}
	if len(traces) != len(ids) {
		return v.s.status(what, fmt.Errorf("reader answered %d traces for %d IDs", len(traces), len(ids)))
	}
	for i, spans := range traces {
		err := encodeTrace(spans, func(chunk *storagepb.GetTraceResponse) error {
			return stream.Send(&storagepb.GetTracesResponse{TraceIndex: uint32(i), Chunk: chunk})
		})
		if err != nil {
			if _, ok := status.FromError(err); ok {
				return err // from Send: the stream is broken
			}
			return v.s.status(fmt.Sprintf("send trace %s", ids[i]), err)
		}
	}
	return nil
}

func (v *service) FindTraceIDs(ctx context.Context, req *storagepb.FindTraceIDsRequest) (*storagepb.FindTraceIDsResponse, error) {
	r, err := v.s.reader(ctx)
	if err != nil {
		return nil, err
	}
	q := queryFromProto(req)
	if err := q.Validate(); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	refs, err := r.FindTraceIDs(ctx, q)
	if err != nil {
		return nil, v.s.status("find traces", err)
	}
	return refsToProto(refs), nil
}

func (v *service) Services(ctx context.Context, _ *storagepb.ServicesRequest) (*storagepb.ServicesResponse, error) {
	r, err := v.s.reader(ctx)
	if err != nil {
		return nil, err
	}
	svcs, err := r.Services(ctx)
	if err != nil {
		return nil, v.s.status("list services", err)
	}
	return &storagepb.ServicesResponse{Services: svcs}, nil
}

func (v *service) Operations(ctx context.Context, req *storagepb.OperationsRequest) (*storagepb.OperationsResponse, error) {
	r, err := v.s.reader(ctx)
	if err != nil {
		return nil, err
	}
	ops, err := r.Operations(ctx, req.GetServiceName(), kindFromProto(req.Kind))
	if err != nil {
		return nil, v.s.status(fmt.Sprintf("list operations of service %q", req.GetServiceName()), err)
	}
	return opsToProto(ops), nil
}

func (v *service) Dependencies(ctx context.Context, req *storagepb.DependenciesRequest) (*storagepb.DependenciesResponse, error) {
	r, err := v.s.reader(ctx)
	if err != nil {
		return nil, err
	}
	links, err := r.Dependencies(ctx, req.GetStartTimeUnixNano(), req.GetEndTimeUnixNano())
	if err != nil {
		return nil, v.s.status("list dependencies", err)
	}
	return depsToProto(links), nil
}

// status turns a reader's error into a gRPC status error saying what could
// not be done.
func (s *Server) status(what string, err error) error {
	msg := fmt.Sprintf("cannot %s: %v", what, err)
	switch {
	case errors.Is(err, storage.ErrTraceNotFound):
		return status.Error(codes.NotFound, msg)
	case errors.Is(err, storage.ErrClosed):
		return status.Error(codes.Unavailable, msg)
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, msg)
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, msg)
	}
	s.logger.Error("storage read failed", "op", what, "err", err)
	return status.Error(codes.Internal, msg)
}
