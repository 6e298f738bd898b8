package remote_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"path"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/memory"
	"github.com/scrytrace/scry/storage/remote"
	storagepb "github.com/scrytrace/scry/storage/remote/proto"
)

// countingServer is a testServer that counts the calls of each method. When
// old, it answers GetTraces as a server built before that method does:
// UNIMPLEMENTED.
type countingServer struct {
	*testServer
	mu    sync.Mutex
	calls map[string]int
}

func serveCounting(t *testing.T, r storage.Reader, old bool) *countingServer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingServer{calls: make(map[string]int)}
	g := grpc.NewServer(grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		cs.mu.Lock()
		cs.calls[path.Base(info.FullMethod)]++
		cs.mu.Unlock()
		if old && info.FullMethod == storagepb.Reader_GetTraces_FullMethodName {
			return status.Error(codes.Unimplemented, "unknown method GetTraces for service scry.storage.v1.Reader")
		}
		return handler(srv, ss)
	}))
	remote.NewServer(r, telemetry.Settings{Logger: testLogger(t)}).Register(g)
	cs.testServer = &testServer{addr: lis.Addr().String(), g: g, done: make(chan struct{})}
	go func() {
		defer close(cs.done)
		_ = g.Serve(lis)
	}()
	t.Cleanup(cs.stop)
	return cs
}

// count returns the calls of method so far and starts counting again.
func (cs *countingServer) count(method string) int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	n := cs.calls[method]
	delete(cs.calls, method)
	return n
}

// splitTraces writes trace 1 split across a and b (with span 3 on both), trace
// 2 on a only and trace 3 on b only, and returns the IDs to ask for, with
// their expected span IDs: a repeat, an unknown trace and the zero ID among
// them.
func splitTraces(t *testing.T, a, b storage.Writer) ([]model.TraceID, [][]model.SpanID) {
	t.Helper()
	write(t, a, span(1, 1, "frontend", 0, 0), span(1, 3, "payment", 20, 2), span(2, 1, "batch", 5, 0))
	write(t, b, span(1, 2, "checkout", 10, 1), span(1, 3, "payment", 20, 2), span(3, 1, "cron", 1, 0))
	ids := []model.TraceID{tid(1), tid(9), tid(2), tid(3), {}, tid(1)}
	trace1 := []model.SpanID{sid(1, 1), sid(1, 2), sid(1, 3)}
	want := [][]model.SpanID{trace1, nil, {sid(2, 1)}, {sid(3, 1)}, nil, trace1}
	return ids, want
}

func checkTraces(t *testing.T, got [][]*model.Span, want [][]model.SpanID) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("GetTraces: got %d results, want %d", len(got), len(want))
	}
	for i := range want {
		if g := spanIDs(got[i]); !slices.Equal(g, want[i]) {
			t.Errorf("GetTraces: result %d has spans %v, want %v", i, g, want[i])
		}
	}
}

// GetTraces asks each endpoint once and merges per trace as GetTrace does.
func TestGetTracesOneCallPerEndpoint(t *testing.T) {
	a, b := testkit.Start(t, memory.New()), testkit.Start(t, memory.New())
	ids, want := splitTraces(t, a, b)
	sa, sb := serveCounting(t, a, false), serveCounting(t, b, false)
	c := newClient(t, []string{sa.addr, sb.addr}, nil)

	ctx, w := storage.WithWarnings(t.Context())
	got, err := c.GetTraces(ctx, ids, storage.TimeHint{})
	if err != nil {
		t.Fatalf("GetTraces: %v", err)
	}
	checkTraces(t, got, want)
	for i, srv := range []*countingServer{sa, sb} {
		if n, m := srv.count("GetTraces"), srv.count("GetTrace"); n != 1 || m != 0 {
			t.Errorf("endpoint %d: %d GetTraces and %d GetTrace calls, want one GetTraces", i, n, m)
		}
	}
	if list := w.List(); len(list) != 0 {
		t.Errorf("warnings with every endpoint up: %q", list)
	}

	// The same answer as one GetTrace per trace.
	for i, id := range ids {
		spans, err := c.GetTrace(t.Context(), id, storage.TimeHint{})
		if err != nil && !errors.Is(err, storage.ErrTraceNotFound) {
			t.Fatalf("GetTrace(%s): %v", id, err)
		}
		if len(spans) != len(got[i]) {
			t.Errorf("result %d: %d spans, GetTrace %d", i, len(got[i]), len(spans))
			continue
		}
		for j := range spans {
			if !reflect.DeepEqual(spans[j], got[i][j]) {
				t.Errorf("result %d, span %d: got %+v, GetTrace %+v", i, j, got[i][j], spans[j])
			}
		}
	}

	if got, err := c.GetTraces(t.Context(), nil, storage.TimeHint{}); err != nil || len(got) != 0 {
		t.Errorf("GetTraces of no IDs: got %d results, %v", len(got), err)
	}
	if n := sa.count("GetTraces"); n != 0 {
		t.Errorf("GetTraces of no IDs made %d calls, want none", n)
	}
}

// A client newer than a collector reads its traces one GetTrace each,
// without asking it for GetTraces on every call, and asks again later in
// case it was upgraded.
func TestGetTracesOlderServer(t *testing.T) {
	a, b := testkit.Start(t, memory.New()), testkit.Start(t, memory.New())
	ids, want := splitTraces(t, a, b)
	old, cur := serveCounting(t, a, true), serveCounting(t, b, false)
	c := newClient(t, []string{old.addr, cur.addr}, nil)
	nonZero := len(ids) - 1

	ctx, w := storage.WithWarnings(t.Context())
	got, err := c.GetTraces(ctx, ids, storage.TimeHint{})
	if err != nil {
		t.Fatalf("GetTraces: %v", err)
	}
	checkTraces(t, got, want)
	if list := w.List(); len(list) != 0 {
		t.Errorf("warnings: %q; an older endpoint is no failure", list)
	}
	if n, m := old.count("GetTraces"), old.count("GetTrace"); n != 1 || m != nonZero {
		t.Errorf("older endpoint, first call: %d GetTraces and %d GetTrace calls, want 1 and %d", n, m, nonZero)
	}
	if n, m := cur.count("GetTraces"), cur.count("GetTrace"); n != 1 || m != 0 {
		t.Errorf("current endpoint: %d GetTraces and %d GetTrace calls, want one GetTraces", n, m)
	}

	// The next calls go trace by trace straight away, until it is asked again
	// (after 100 calls: batchRetryAfter).
	for range 101 {
		got, err := c.GetTraces(t.Context(), ids, storage.TimeHint{})
		if err != nil {
			t.Fatalf("GetTraces: %v", err)
		}
		checkTraces(t, got, want)
		if t.Failed() {
			return
		}
	}
	if n, m := old.count("GetTraces"), old.count("GetTrace"); n != 1 || m != 101*nonZero {
		t.Errorf("older endpoint, next 101 calls: %d GetTraces and %d GetTrace calls, want 1 (asking again after 100) and %d", n, m, 101*nonZero)
	}
}

// With one endpoint down, GetTraces answers from the other and says which
// failed; with all down it fails, naming the first.
func TestGetTracesEndpointDown(t *testing.T) {
	ss, srvs := stores(t, 2)
	ids, _ := splitTraces(t, ss[0], ss[1])
	c := newClient(t, addrs(srvs), nil)
	srvs[1].stop()

	ctx, w := storage.WithWarnings(t.Context())
	got, err := c.GetTraces(ctx, ids, storage.TimeHint{})
	if err != nil {
		t.Fatalf("GetTraces: %v", err)
	}
	checkTraces(t, got, [][]model.SpanID{{sid(1, 1), sid(1, 3)}, nil, {sid(2, 1)}, nil, nil, {sid(1, 1), sid(1, 3)}})
	if list := w.List(); len(list) != 1 || !strings.Contains(list[0], srvs[1].addr) {
		t.Errorf("warnings: got %q, want one naming %s", list, srvs[1].addr)
	}

	srvs[0].stop()
	_, err = c.GetTraces(t.Context(), ids, storage.TimeHint{})
	if err == nil || errors.Is(err, storage.ErrTraceNotFound) || !strings.Contains(err.Error(), srvs[0].addr) {
		t.Errorf("GetTraces with every endpoint down: got %v, want an error naming %s", err, srvs[0].addr)
	}
}

// GetTraces streams each trace in chunks under gRPC's default message limit,
// each naming its trace by index; a trace with no span gets none. Malformed
// IDs and a closed store get GetTrace's codes.
func TestGetTracesChunks(t *testing.T) {
	const n = 3000
	s := testkit.Start(t, memory.New())
	for _, tr := range []byte{7, 8} {
		var spans []*model.Span
		for i := range n {
			sp := span(tr, 1, "bulk", uint64(i), 0)
			sp.SpanID = model.SpanID{tr, byte(i >> 8), byte(i)}
			sp.Attributes = append(sp.Attributes, model.KeyValue{Key: "payload", Value: model.StringValue(fmt.Sprintf("%0900d", i))})
			if i%7 == 0 {
				sp.Warnings = []string{fmt.Sprintf("warning of span %d", i)}
			}
			spans = append(spans, sp)
		}
		write(t, s, spans...)
	}
	srv := serve(t, s, "127.0.0.1:0")
	rpc := rawClient(t, srv.addr)

	ids := []model.TraceID{tid(8), tid(9), tid(7)}
	req := &storagepb.GetTracesRequest{}
	for _, id := range ids {
		req.TraceIds = append(req.TraceIds, id[:])
	}
	stream, err := rpc.GetTraces(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	var order []uint32 // trace index of each chunk
	spansOf := make([]int, len(ids))
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		if size := proto.Size(msg); size > 2<<20 {
			t.Errorf("chunk %d is %d bytes", len(order), size)
		}
		i := msg.GetTraceIndex()
		order = append(order, i)
		for _, rs := range msg.GetChunk().GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				spansOf[i] += len(ss.GetSpans())
			}
		}
	}
	if !slices.Equal(spansOf, []int{n, 0, n}) {
		t.Errorf("spans per requested trace: got %v, want [%d 0 %d]", spansOf, n, n)
	}
	if c := slices.Compact(slices.Clone(order)); !slices.Equal(c, []uint32{0, 2}) || len(order) < 6 {
		t.Errorf("chunks by trace index: %v, want several of trace 0, then several of trace 2", order)
	}

	c := newClient(t, []string{srv.addr}, nil)
	got, err := c.GetTraces(t.Context(), ids, storage.TimeHint{})
	if err != nil {
		t.Fatalf("GetTraces: %v", err)
	}
	for k, i := range []int{0, 2} {
		if len(got[i]) != n {
			t.Fatalf("result %d: got %d spans, want %d", i, len(got[i]), n)
		}
		tr := []byte{8, 7}[k]
		for j, sp := range got[i] {
			if sp.SpanID != (model.SpanID{tr, byte(j >> 8), byte(j)}) {
				t.Fatalf("result %d, span %d: got %s, want spans in start order", i, j, sp.SpanID)
			}
			if want := j%7 == 0; (len(sp.Warnings) == 1) != want {
				t.Errorf("result %d, span %d: warnings %q", i, j, sp.Warnings)
			}
		}
	}

	check := func(what string, err error, want codes.Code) {
		t.Helper()
		if got := status.Code(err); got != want {
			t.Errorf("%s: got code %s (%v), want %s", what, got, err, want)
		}
	}
	recvErr := func(req *storagepb.GetTracesRequest) error {
		stream, err := rpc.GetTraces(t.Context(), req)
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
	id := tid(7)
	check("GetTraces with a 5-byte ID", recvErr(&storagepb.GetTracesRequest{TraceIds: [][]byte{id[:], id[:5]}}), codes.InvalidArgument)
	check("GetTraces of no IDs", recvErr(&storagepb.GetTracesRequest{}), codes.OK)
	_ = s.Shutdown(t.Context())
	check("GetTraces of a closed store", recvErr(&storagepb.GetTracesRequest{TraceIds: [][]byte{id[:]}}), codes.Unavailable)
}
