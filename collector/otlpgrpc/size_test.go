package otlpgrpc_test

import (
	"context"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/collector/internal/collectortest"
	"github.com/scrytrace/scry/collector/otlpgrpc"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
)

// sizeRecorder is a consumer that keeps the sizes it is charged.
type sizeRecorder struct {
	mu    sync.Mutex
	sizes []int
}

func (c *sizeRecorder) ConsumeSpans(_ context.Context, _ []*model.Span, size int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sizes = append(c.sizes, size)
	return nil
}

// TestRequestSizeCharged checks that each export is charged the size of its
// request after decompression, as gRPC read it.
func TestRequestSizeCharged(t *testing.T) {
	rec := &sizeRecorder{}
	cfg := otlpgrpc.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	r, err := otlpgrpc.New(cfg, rec, testMetrics(t), telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Shutdown(context.Background()) })
	conn, err := grpc.NewClient(r.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := coltracepb.NewTraceServiceClient(conn)
	var want []int
	for _, n := range []int{10, 1000, 100000} {
		req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: collectortest.Request("svc", bigSpan(n, 1, n))}
		want = append(want, proto.Size(req))
		if _, err := client.Export(t.Context(), req, grpc.UseCompressor(gzip.Name)); err != nil {
			t.Fatal(err)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.sizes) != len(want) {
		t.Fatalf("charged %v, want %v", rec.sizes, want)
	}
	for i := range want {
		if rec.sizes[i] != want[i] {
			t.Errorf("export %d charged %d bytes, want %d (the request's size)", i, rec.sizes[i], want[i])
		}
	}
}
