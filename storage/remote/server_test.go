package remote_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/memory"
	storagepb "github.com/scrytrace/scry/storage/remote/proto"
)

func rawClient(t *testing.T, addr string) storagepb.ReaderClient {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return storagepb.NewReaderClient(conn)
}

// getTraceErr reads a whole GetTrace stream and returns its error.
func getTraceErr(t *testing.T, rpc storagepb.ReaderClient, req *storagepb.GetTraceRequest) error {
	t.Helper()
	stream, err := rpc.GetTrace(t.Context(), req)
	if err != nil {
		return err
	}
	for {
		if _, err := stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func TestServerErrorCodes(t *testing.T) {
	s := testkit.Start(t, memory.New())
	write(t, s, span(1, 1, "frontend", 0, 0))
	srv := serve(t, s, "127.0.0.1:0")
	rpc := rawClient(t, srv.addr)
	ctx := t.Context()
	id := tid(1)

	check := func(what string, err error, want codes.Code) {
		t.Helper()
		if got := status.Code(err); got != want {
			t.Errorf("%s: got code %s (%v), want %s", what, got, err, want)
		}
	}
	check("GetTrace", getTraceErr(t, rpc, &storagepb.GetTraceRequest{TraceId: id[:]}), codes.OK)
	check("GetTrace of an 8-byte ID", getTraceErr(t, rpc, &storagepb.GetTraceRequest{TraceId: id[8:]}), codes.NotFound)
	unknown := tid(2)
	check("GetTrace of an unknown trace", getTraceErr(t, rpc, &storagepb.GetTraceRequest{TraceId: unknown[:]}), codes.NotFound)
	check("GetTrace of the zero ID", getTraceErr(t, rpc, &storagepb.GetTraceRequest{TraceId: make([]byte, 16)}), codes.NotFound)
	check("GetTrace of a 5-byte ID", getTraceErr(t, rpc, &storagepb.GetTraceRequest{TraceId: id[:5]}), codes.InvalidArgument)
	_, err := rpc.FindTraceIDs(ctx, &storagepb.FindTraceIDsRequest{})
	check("FindTraceIDs without a limit", err, codes.InvalidArgument)
	if err != nil && status.Convert(err).Message() == "" {
		t.Errorf("FindTraceIDs without a limit: no message says what is wrong")
	}
	resp, err := rpc.FindTraceIDs(ctx, &storagepb.FindTraceIDsRequest{Limit: 10})
	check("FindTraceIDs", err, codes.OK)
	if len(resp.GetTraces()) != 1 {
		t.Errorf("FindTraceIDs without a kind (any kind): got %d traces, want 1", len(resp.GetTraces()))
	}

	_ = s.Shutdown(ctx)
	check("GetTrace of a closed store", getTraceErr(t, rpc, &storagepb.GetTraceRequest{TraceId: id[:]}), codes.Unavailable)
	_, err = rpc.Services(ctx, &storagepb.ServicesRequest{})
	check("Services of a closed store", err, codes.Unavailable)
	_, err = rpc.Operations(ctx, &storagepb.OperationsRequest{ServiceName: "frontend"})
	check("Operations of a closed store", err, codes.Unavailable)
	_, err = rpc.Dependencies(ctx, &storagepb.DependenciesRequest{})
	check("Dependencies of a closed store", err, codes.Unavailable)
	_, err = rpc.FindTraceIDs(ctx, &storagepb.FindTraceIDsRequest{Limit: 10})
	check("FindTraceIDs of a closed store", err, codes.Unavailable)
}

// A large trace is streamed in several chunks under gRPC's default message
// limit, and every span keeps its warnings and its resource and scope, also
// where resources and scopes alternate from span to span.
func TestLargeTraceChunksKeepWarnings(t *testing.T) {
	const n = 3000
	s := testkit.Start(t, memory.New())
	resources := []*model.Resource{resource("a"), resource("b"), resource("c")}
	scopes := []*model.Scope{{Name: "x"}, {Name: "y", Version: "2"}}
	var spans []*model.Span
	for i := range n {
		sp := &model.Span{
			Resource:  resources[i%3],
			Scope:     scopes[(i/3)%2],
			TraceID:   tid(7),
			SpanID:    model.SpanID{1, byte(i >> 8), byte(i)},
			Name:      fmt.Sprintf("op-%d", i),
			StartTime: base + uint64(n-i)*1000, // stored newest first
			EndTime:   base + uint64(n-i)*1000 + 10,
			Attributes: []model.KeyValue{
				{Key: "payload", Value: model.StringValue(fmt.Sprintf("%0900d", i))},
			},
		}
		if i%7 == 0 {
			sp.Warnings = []string{fmt.Sprintf("warning of span %d", i), "second"}
		}
		spans = append(spans, sp)
	}
	write(t, s, spans...)
	srv := serve(t, s, "127.0.0.1:0")

	id := tid(7)
	stream, err := rawClient(t, srv.addr).GetTrace(t.Context(), &storagepb.GetTraceRequest{TraceId: id[:]})
	if err != nil {
		t.Fatal(err)
	}
	chunks := 0
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		chunks++
		if size := proto.Size(msg); size > 2<<20 {
			t.Errorf("chunk %d is %d bytes", chunks, size)
		}
	}
	if chunks < 3 {
		t.Errorf("a %d-span trace of ~1KB spans came in %d chunks, want several", n, chunks)
	}

	c := newClient(t, []string{srv.addr}, nil)
	got, err := c.GetTrace(t.Context(), id, storage.TimeHint{})
	if err != nil {
		t.Fatalf("GetTrace: %v", err)
	}
	if len(got) != n {
		t.Fatalf("GetTrace: got %d spans, want %d", len(got), n)
	}
	for j, sp := range got {
		i := n - 1 - j // oldest first
		want := spans[i]
		if sp.SpanID != want.SpanID || sp.Name != want.Name {
			t.Fatalf("span %d: got %s %q, want %s %q", j, sp.SpanID, sp.Name, want.SpanID, want.Name)
		}
		if fmt.Sprint(sp.Warnings) != fmt.Sprint(want.Warnings) {
			t.Errorf("span %q: warnings %q, want %q", sp.Name, sp.Warnings, want.Warnings)
		}
		if sp.ServiceName() != want.ServiceName() || sp.Scope.Name != want.Scope.Name || sp.Scope.Version != want.Scope.Version {
			t.Errorf("span %q: service %q scope %+v, want %q %+v", sp.Name, sp.ServiceName(), sp.Scope, want.ServiceName(), want.Scope)
		}
	}
}
