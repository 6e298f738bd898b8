package agent

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
)

func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "no collector") {
		t.Fatalf("default config without a collector: %v", err)
	}
	cfg.Collectors = []string{"collector:4317"}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("default config with a collector: %v", err)
	}
	bad := cfg
	bad.Collectors = []string{"nohost", ":4317", "h:0"}
	bad.UDPCompactAddr = "nonsense"
	bad.BatchSpans = 0
	bad.BufferBytes = 10
	bad.RetryMaxBackoff = time.Millisecond
	bad.SpoolDir, bad.SpoolBytes = "/tmp/x", 1
	bad.SamplingURL = "ftp://x"
	err := bad.Validate()
	for _, want := range []string{`"nohost"`, `":4317" has no host`, `"h:0"`, "udp compact address", "batch spans", "buffer bytes", "retry backoff", "spool", "sampling url"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}

func TestLifecycle(t *testing.T) {
	col := startCollector(t, "127.0.0.1:0")
	a, err := New(testConfig(col.Addr), telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown before Start: %v", err)
	}
	if err := a.Start(context.Background()); err == nil {
		t.Fatal("Start after Shutdown succeeded")
	}

	a = startAgent(t, testConfig(col.Addr))
	if err := a.Start(context.Background()); err == nil {
		t.Fatal("second Start succeeded")
	}
	for range 2 {
		if err := a.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	// Nothing listens any more.
	req, _ := otlpRequest("late", 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := otlpClient(t, a.Addrs().OTLPGRPC).Export(ctx, req); err == nil {
		t.Fatal("export after Shutdown succeeded")
	}
}

func TestStartFailsOnTakenPort(t *testing.T) {
	col := startCollector(t, "127.0.0.1:0")
	a := startAgent(t, testConfig(col.Addr))
	cfg := testConfig(col.Addr)
	cfg.OTLPGRPCAddr = a.Addrs().OTLPGRPC.String()
	b, err := New(cfg, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err == nil {
		t.Fatal("Start on a taken port succeeded")
	}
}

func TestShutdownFlushes(t *testing.T) {
	col := startCollector(t, "127.0.0.1:0")
	cfg := testConfig(col.Addr)
	cfg.BatchTimeout = time.Hour // only shutdown sends this batch
	a := startAgent(t, cfg)
	req, sent := otlpRequest("flush", 42)
	if _, err := otlpClient(t, a.Addrs().OTLPGRPC).Export(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := col.Has(sent); got != len(sent) {
		t.Fatalf("%d of %d spans forwarded by Shutdown", got, len(sent))
	}
}

func TestShutdownWithoutSpoolCountsDrops(t *testing.T) {
	cfg := testConfig("127.0.0.1:1")
	a := startAgent(t, cfg)
	req, _ := otlpRequest("lost", 9)
	if _, err := otlpClient(t, a.Addrs().OTLPGRPC).Export(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := a.Shutdown(ctx); err == nil || !strings.Contains(err.Error(), "9 spans") {
		t.Fatalf("Shutdown = %v, want an error about 9 spans dropped", err)
	}
	if got := counter(a.m.dropped.WithLabelValues(dropShutdown)); got != 9 {
		t.Fatalf("dropped{shutdown} = %v, want 9", got)
	}
}

func TestSpoolSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	col := startCollector(t, "127.0.0.1:0")
	col.Stop()
	cfg := testConfig(col.Addr)
	cfg.SpoolDir = dir
	a := startAgent(t, cfg)

	var acked []sentSpan
	for range 5 {
		req, sent := otlpRequest("spooled", 30)
		if _, err := otlpClient(t, a.Addrs().OTLPGRPC).Export(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		acked = append(acked, sent...)
	}
	// And UDP spans, not spooled on intake: spooled at shutdown.
	batch, udpSent := jaegerBatch("udp-spooled", 4)
	if _, err := udpSender(t, a.Addrs().UDPCompact).Write(emitBatchPacket(t, batch, true)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the udp spans in the buffer", func() bool { return a.buf.stats().Spans == int64(len(acked)+len(udpSent)) })
	if a.spoolBytes() == 0 {
		t.Fatal("nothing in the spool after acknowledged exports")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a spool: %v", err)
	}

	col.Restart()
	b := startAgent(t, cfg)
	testkit.Eventually(t, "every acknowledged span in the collector", func() bool {
		return col.Has(acked) == len(acked) && col.Has(udpSent) == len(udpSent)
	})
	testkit.Eventually(t, "the spool emptied", func() bool {
		segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
		return len(segs) == 0 && b.spoolBytes() == 0
	})
	if c := b.intakeCounts(t, transportSpool); c.Received < float64(len(acked)+len(udpSent)) || c.Accepted != c.Received {
		t.Fatalf("spool counters %s, want at least %d received, all accepted", c, len(acked)+len(udpSent))
	}
}

func TestSpoolIsEmptyWhenCaughtUp(t *testing.T) {
	dir := t.TempDir()
	col := startCollector(t, "127.0.0.1:0")
	cfg := testConfig(col.Addr)
	cfg.SpoolDir = dir
	a := startAgent(t, cfg)
	req, sent := otlpRequest("caught-up", 50)
	if _, err := otlpClient(t, a.Addrs().OTLPGRPC).Export(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "spans forwarded", func() bool { return col.Has(sent) == len(sent) })
	testkit.Eventually(t, "segments removed", func() bool {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".seg") {
				return false
			}
		}
		return true
	})
}

func TestBufferFullAnswersRetryLater(t *testing.T) {
	cfg := testConfig("127.0.0.1:1") // collector away
	cfg.BufferBytes = 1 << 20
	a := startAgent(t, cfg)
	client := otlpClient(t, a.Addrs().OTLPGRPC)

	var grpcErr error
	for i := 0; i < 1000 && grpcErr == nil; i++ {
		req, _ := otlpRequest("full", 200)
		_, grpcErr = client.Export(context.Background(), req)
	}
	st, _ := status.FromError(grpcErr)
	if st.Code() != codes.Unavailable {
		t.Fatalf("gRPC export to a full buffer: %v, want UNAVAILABLE", grpcErr)
	}
	var hasRetryInfo bool
	for _, d := range st.Details() {
		_, hasRetryInfo = d.(*errdetails.RetryInfo)
	}
	if !hasRetryInfo {
		t.Fatal("UNAVAILABLE without RetryInfo")
	}

	req, _ := otlpRequest("full", 200)
	body, _ := proto.Marshal(req)
	resp, err := http.Post("http://"+a.Addrs().OTLPHTTP.String()+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("HTTP export to a full buffer: %s, Retry-After %q; want 503 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}
	if c := a.intakeCounts(t, transportOTLPGRPC); c.Refused["buffer_full"] == 0 || c.Received != c.Total() {
		t.Fatalf("refused spans not counted: %s", c)
	}
	if c := a.intakeCounts(t, transportOTLPHTTP); c.Refused["buffer_full"] != 200 || c.Received != c.Total() {
		t.Fatalf("OTLP/HTTP counters: %s; want 200 refused buffer_full", c)
	}
	if st := a.buf.stats(); st.Bytes > cfg.BufferBytes {
		t.Fatalf("buffer holds %d bytes, over its bound", st.Bytes)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = a.Shutdown(ctx)
}

func TestSamplingEndpoint(t *testing.T) {
	col := startCollector(t, "127.0.0.1:0")
	cfg := testConfig(col.Addr)
	cfg.SamplingAddr = "127.0.0.1:0"
	cfg.SamplingURL = "http://127.0.0.1:1/api/sampling"
	reg := prometheus.NewRegistry()
	a, err := New(cfg, telemetry.Settings{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown(context.Background())
	resp, err := http.Get("http://" + a.Addrs().Sampling.String() + "/sampling?service=x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"samplingRate":0.001`) {
		t.Fatalf("sampling answer %s, want the default", b)
	}
}
