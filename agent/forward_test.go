package agent

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/scrytrace/scry/internal/testkit"
)

func TestOTLPToCollector(t *testing.T) {
	col := startCollector(t, "127.0.0.1:0")
	a := startAgent(t, testConfig(col.Addr))

	req, sentGRPC := otlpRequest("grpc-app", 120)
	if _, err := otlpClient(t, a.Addrs().OTLPGRPC).Export(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	req, sentHTTP := otlpRequest("http-app", 30)
	body, _ := proto.Marshal(req)
	resp, err := http.Post("http://"+a.Addrs().OTLPHTTP.String()+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("OTLP/HTTP export: %s", resp.Status)
	}
	testkit.Eventually(t, "every span in the collector", func() bool {
		return col.Has(sentGRPC) == len(sentGRPC) && col.Has(sentHTTP) == len(sentHTTP)
	})
	testkit.Eventually(t, "forwarded counted", func() bool { return counter(a.m.forwarded) == 150 })
	testkit.Eventually(t, "the buffer emptied", func() bool {
		st := a.buf.stats()
		return st.Spans == 0 && st.Bytes == 0
	})
}

func TestBatchesBySize(t *testing.T) {
	col := startCollector(t, "127.0.0.1:0")
	cfg := testConfig(col.Addr)
	cfg.BatchSpans = 100
	cfg.BatchTimeout = time.Hour // only size cuts batches
	a := startAgent(t, cfg)
	req, sent := otlpRequest("size", 1000)
	if _, err := otlpClient(t, a.Addrs().OTLPGRPC).Export(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "every span in the collector", func() bool { return col.Has(sent) == len(sent) })
	testkit.Eventually(t, "the batches counted", func() bool { return counter(a.m.forwarded) == 1000 })
	if got := counter(a.m.batches); got != 10 {
		t.Fatalf("%v batches for 1000 spans of 100 a batch, want 10", got)
	}
	// A smaller remainder waits for the timeout, here forever: it leaves
	// only as part of the next full batch. Had the 30 been sent alone, the
	// 70 after them would wait forever instead, and 1100 never be reached.
	req, rest := otlpRequest("size", 30)
	if _, err := otlpClient(t, a.Addrs().OTLPGRPC).Export(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got := a.buf.stats().Queued; got != 30 {
		t.Fatalf("%d spans waiting, want the 30 of an unfilled batch", got)
	}
	req, more := otlpRequest("size", 70)
	if _, err := otlpClient(t, a.Addrs().OTLPGRPC).Export(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the 30 and the next 70 forwarded", func() bool { return counter(a.m.forwarded) == 1100 })
	if got := counter(a.m.batches); got != 11 {
		t.Fatalf("%v batches after 1100 spans of 100 a batch, want 11", got)
	}
	if got := col.Has(rest) + col.Has(more); got != 100 {
		t.Fatalf("%d of the last 100 spans in the collector, want 100", got)
	}
}

func TestCollectorAwayThenBack(t *testing.T) {
	col := startCollector(t, "127.0.0.1:0")
	a := startAgent(t, testConfig(col.Addr))
	client := otlpClient(t, a.Addrs().OTLPGRPC)

	col.Stop()
	var acked []sentSpan
	for range 20 {
		req, sent := otlpRequest("away", 50)
		if _, err := client.Export(context.Background(), req); err != nil {
			t.Fatalf("export while the collector is away: %v", err)
		}
		acked = append(acked, sent...)
	}
	testkit.Eventually(t, "retries", func() bool { return counter(a.m.retries) > 0 })
	col.Restart()
	testkit.Eventually(t, "every acknowledged span in the collector", func() bool { return col.Has(acked) == len(acked) })
	for _, r := range []string{dropRejected, dropShutdown, dropBufferFull} {
		if n := counter(a.m.dropped.WithLabelValues(r)); n != 0 {
			t.Errorf("dropped{%s} = %v", r, n)
		}
	}
}

func TestRoundRobinAndFailover(t *testing.T) {
	c1 := startCollector(t, "127.0.0.1:0")
	c2 := startCollector(t, "127.0.0.1:0")
	cfg := testConfig(c1.Addr + "," + c2.Addr)
	cfg.Collectors = []string{c1.Addr, c2.Addr}
	cfg.BatchSpans = 10
	a := startAgent(t, cfg)
	client := otlpClient(t, a.Addrs().OTLPGRPC)

	req, sent := otlpRequest("rr", 200)
	if _, err := client.Export(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "every span stored", func() bool { return c1.Has(sent)+c2.Has(sent) == len(sent) })
	if c1.Has(sent) == 0 || c2.Has(sent) == 0 {
		t.Fatalf("round robin: collector 1 has %d spans, collector 2 %d", c1.Has(sent), c2.Has(sent))
	}

	c1.Stop()
	req, sent = otlpRequest("failover", 200)
	if _, err := client.Export(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "every span in the live collector", func() bool { return c2.Has(sent) == len(sent) })
}

// scriptedCollector answers exports with the errors it is given, in turn,
// then succeeds; it records when each export came.
type scriptedCollector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu      sync.Mutex
	answers []error
	times   []time.Time
	spans   atomic.Int64
	Addr    string
}

func startScripted(t *testing.T, answers ...error) *scriptedCollector {
	s := &scriptedCollector{answers: answers}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, s)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	s.Addr = ln.Addr().String()
	return s
}

func (s *scriptedCollector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.times = append(s.times, time.Now())
	if len(s.answers) > 0 {
		err := s.answers[0]
		s.answers = s.answers[1:]
		return nil, err
	}
	n := 0
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			n += len(ss.GetSpans())
		}
	}
	s.spans.Add(int64(n))
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (s *scriptedCollector) exports() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.times...)
}

func retryInfo(d time.Duration) error {
	st, _ := status.New(codes.Unavailable, "queue is full").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
	return st.Err()
}

func TestRetryInfoIsHonoured(t *testing.T) {
	const delay = 400 * time.Millisecond // longer than the test config's max backoff
	col := startScripted(t, retryInfo(delay))
	a := startAgent(t, testConfig(col.Addr))
	req, _ := otlpRequest("busy", 5)
	if _, err := otlpClient(t, a.Addrs().OTLPGRPC).Export(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the spans delivered", func() bool { return col.spans.Load() == 5 })
	times := col.exports()
	if len(times) != 2 {
		t.Fatalf("%d exports, want 2 (one refused, one retried)", len(times))
	}
	if gap := times[1].Sub(times[0]); gap < delay {
		t.Fatalf("retried after %s; the collector asked for %s", gap, delay)
	}
}

func TestPermanentErrorsDropAndCount(t *testing.T) {
	col := startScripted(t, status.Error(codes.InvalidArgument, "bad spans"))
	cfg := testConfig(col.Addr)
	a := startAgent(t, cfg)
	req, _ := otlpRequest("bad", 7)
	if _, err := otlpClient(t, a.Addrs().OTLPGRPC).Export(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the batch dropped as rejected", func() bool { return counter(a.m.dropped.WithLabelValues(dropRejected)) == 7 })
	if n := len(col.exports()); n != 1 {
		t.Fatalf("%d exports, want 1: a permanent error is not retried", n)
	}
	testkit.Eventually(t, "the buffer emptied", func() bool { return a.buf.stats().Spans == 0 })
}

func TestTooLargeBatchIsSplit(t *testing.T) {
	tooLarge := status.Error(codes.ResourceExhausted, "message larger than max")
	col := startScripted(t, tooLarge, tooLarge)
	cfg := testConfig(col.Addr)
	cfg.Forwarders = 1
	a := startAgent(t, cfg)
	req, _ := otlpRequest("big", 8)
	if _, err := otlpClient(t, a.Addrs().OTLPGRPC).Export(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	// 8 refused, 4 refused, then 2+2 and 4 accepted.
	testkit.Eventually(t, "every span delivered in smaller batches", func() bool { return col.spans.Load() == 8 })
	if got := counter(a.m.dropped.WithLabelValues(dropTooLarge)); got != 0 {
		t.Fatalf("dropped{too_large} = %v", got)
	}
}

func TestDNSResolution(t *testing.T) {
	c1 := startCollector(t, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(c1.Addr)
	var mu sync.Mutex
	answer := []string{"127.0.0.1"}
	cfg := testConfig(net.JoinHostPort("collectors.test", port))
	cfg.ResolveInterval = 50 * time.Millisecond
	cfg.LookupHost = func(_ context.Context, host string) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		if host != "collectors.test" {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return append([]string(nil), answer...), nil
	}
	a := startAgent(t, cfg)
	client := otlpClient(t, a.Addrs().OTLPGRPC)
	req, sent := otlpRequest("dns", 20)
	if _, err := client.Export(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "spans at the resolved address", func() bool { return c1.Has(sent) == len(sent) })

	mu.Lock()
	answer = []string{"127.0.0.2", "::1"} // IPv4 wins; nothing listens on 127.0.0.2
	mu.Unlock()
	testkit.Eventually(t, "the new address", func() bool {
		a.eps.mu.Lock()
		defer a.eps.mu.Unlock()
		return len(a.eps.all) == 1 && a.eps.all[0].addr == net.JoinHostPort("127.0.0.2", port)
	})
}
