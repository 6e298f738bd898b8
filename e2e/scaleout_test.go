package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/scrytrace/scry/internal/natstest"
	"github.com/scrytrace/scry/internal/testbin"
	"github.com/scrytrace/scry/internal/testkit"
)

// The scale-out topology's tests: real nats-server processes (a JetStream
// cluster on loopback), scry-collector --nats-url, scry-ingester and
// scry-query --nats-url, all built binaries.

// scaleLeaseTTL is the ingesters' (and scry-query's) lease TTL in these
// tests: short, so that a killed ingester is out of reads quickly.
const scaleLeaseTTL = "3s"

// natsCollector is one scry-collector publishing to JetStream.
type natsCollector struct {
	*testbin.Proc
	OTLPGRPC string
}

func startNATSCollector(t testing.TB, urls []string, extra ...string) *natsCollector {
	t.Helper()
	bin := buildBinary(t, "./cmd/scry-collector")
	return testbin.WithFreePorts(t, 2, func(a []string) (*natsCollector, error) {
		args := append([]string{"--nats-url=" + strings.Join(urls, ","), "--otlp-grpc-addr=" + a[0], "--otlp-http-addr=",
			"--jaeger-http-addr=", "--zipkin-addr=", "--udp-compact-addr=", "--udp-binary-addr=", "--admin-addr=" + a[1],
			"--nats-publish-timeout=3s"}, extra...)
		p, err := testbin.Cmd{Bin: bin, Args: args, Admin: a[1], ReadyTimeout: time.Minute, LaxStop: true}.Run(t)
		if err != nil {
			return nil, err
		}
		return &natsCollector{Proc: p, OTLPGRPC: a[0]}, nil
	})
}

// ingesterProc is one scry-ingester.
type ingesterProc struct {
	*testbin.Proc
	ID, DataDir string
	http        *http.Client
}

// startIngester starts ingester id with data in dir (a fresh folder when
// empty) and waits until it is ready: every owned partition caught up.
func startIngester(t testing.TB, urls []string, id, dir string, extra ...string) *ingesterProc {
	t.Helper()
	bin := buildBinary(t, "./cmd/scry-ingester")
	if dir == "" {
		dir = t.TempDir()
	}
	return testbin.WithFreePorts(t, 2, func(a []string) (*ingesterProc, error) {
		args := append([]string{"--nats-url=" + strings.Join(urls, ","), "--id=" + id, "--data-dir=" + dir,
			"--storage-addr=" + a[0], "--admin-addr=" + a[1], "--lease-ttl=" + scaleLeaseTTL}, extra...)
		p, err := testbin.Cmd{Bin: bin, Name: "scry-ingester " + id, Args: args, Admin: a[1], ReadyTimeout: 2 * time.Minute, LaxStop: true}.Run(t)
		if err != nil {
			return nil, err
		}
		return &ingesterProc{Proc: p, ID: id, DataDir: dir, http: &http.Client{Timeout: httpTimeout}}, nil
	})
}

// ready reports whether the ingester's /readyz answers 200.
func (in *ingesterProc) ready() bool {
	resp, err := in.http.Get("http://" + in.Admin + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func startNATSQuery(t testing.TB, urls []string) *Scry {
	t.Helper()
	bin := buildBinary(t, "./cmd/scry-query")
	return testbin.WithFreePorts(t, 2, func(a []string) (*Scry, error) {
		p, err := testbin.Cmd{Bin: bin, Args: []string{"--nats-url=" + strings.Join(urls, ","), "--nats-lease-ttl=" + scaleLeaseTTL,
			"--http-addr=" + a[0], "--admin-addr=" + a[1]}, Admin: a[1], ReadyTimeout: time.Minute}.Run(t)
		if err != nil {
			return nil, err
		}
		return &Scry{Proc: p, Query: a[0], http: &http.Client{Timeout: httpTimeout}}, nil
	})
}

// load exports small batches of traces from several workers, each to one
// of the collectors in turn, and remembers every trace of an export
// answered OK.
type load struct {
	mu      sync.Mutex
	acked   map[string][]string
	n       atomic.Int64 // acknowledged traces
	failed  atomic.Int64 // exports answered with an error
	wrong   atomic.Int64 // exports answered with a non-retryable error
	lastErr atomic.Value
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func startLoad(t *testing.T, collectors []string, workers int) *load {
	t.Helper()
	l := &load{acked: map[string][]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	for w := range workers {
		addr := collectors[w%len(collectors)]
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		c := coltracepb.NewTraceServiceClient(conn)
		l.wg.Go(func() {
			defer conn.Close()
			for ctx.Err() == nil {
				rs, ids := smallBatch(fmt.Sprintf("scale-%d", w), 5, 4, "")
				rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := c.Export(rctx, &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{rs}})
				rcancel()
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					l.failed.Add(1)
					l.lastErr.Store(err.Error())
					switch status.Code(err) {
					case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Aborted:
					default:
						l.wrong.Add(1)
					}
					time.Sleep(50 * time.Millisecond) // a client's retry backoff
					continue
				}
				l.mu.Lock()
				for id, spans := range ids {
					l.acked[id] = spans
				}
				l.mu.Unlock()
				l.n.Add(int64(len(ids)))
			}
		})
	}
	t.Cleanup(l.stop)
	return l
}

// more waits until n more traces are acknowledged.
func (l *load) more(t *testing.T, n int64, during string) {
	t.Helper()
	goal := l.n.Load() + n
	testkit.EventuallyWithin(t, 90*time.Second, fmt.Sprintf("%d more acknowledged traces %s", n, during), func() bool { return l.n.Load() >= goal })
}

// stop ends the load and returns the acknowledged traces.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

func (l *load) traces() map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string][]string, len(l.acked))
	for k, v := range l.acked {
		out[k] = v
	}
	return out
}

// prober asks scry-query for the services and a search every 100 ms and
// counts answers that are not 200.
type prober struct {
	asked, failed atomic.Int64
	lastErr       atomic.Value
	cancel        context.CancelFunc
	wg            sync.WaitGroup
}

func startProber(q *Scry) *prober {
	p := &prober{}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	c := &http.Client{Timeout: 5 * time.Second}
	p.wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			path := "/api/services"
			if i%2 == 1 {
				path = "/api/traces?service=scale-0&limit=5&lookback=1h"
			}
			resp, err := c.Get("http://" + q.Query + path)
			p.asked.Add(1)
			if err != nil {
				p.failed.Add(1)
				p.lastErr.Store(err.Error())
			} else {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					p.failed.Add(1)
					p.lastErr.Store(fmt.Sprintf("GET %s: %d", path, resp.StatusCode))
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	return p
}

func (p *prober) stop() { p.cancel(); p.wg.Wait() }

// TestScaleOut runs the scale-out topology through its faults on one
// cluster: 3 nats-servers (R3 streams of 4 partitions), 2 collectors, 2
// ingesters (each owning every partition: two replicas), scry-query. Under
// load it SIGKILLs a nats-server and restarts it, SIGKILLs an ingester and
// restarts it on its disk, SIGSTOPs a collector, and cuts a nats-server
// off its routes; then every acknowledged trace must be whole through
// scry-query, queries must have answered throughout, and the idle cluster
// keeps its leaders. Last, a standby on an empty disk takes over every
// partition when the owners stop, rebuilds it from the streams, and alone
// answers for every acknowledged trace.
func TestScaleOut(t *testing.T) {
	nc := natstest.Start(t, natstest.Options{Nodes: 3})
	urls := nc.URLs()
	c1 := startNATSCollector(t, urls, "--nats-init", "--nats-partitions=4", "--nats-replicas=3",
		"--nats-stream-max-bytes=256MiB", "--nats-stream-max-age=1h")
	// The second collector checks the topology the first created: a
	// different partition count is refused, saying what the cluster has.
	bad := runBinary(t, "./cmd/scry-collector", "--nats-url="+strings.Join(urls, ","), "--nats-init", "--nats-partitions=6",
		"--otlp-grpc-addr=127.0.0.1:0", "--otlp-http-addr=", "--jaeger-http-addr=", "--zipkin-addr=", "--udp-compact-addr=", "--udp-binary-addr=", "--admin-addr=127.0.0.1:0")
	if !strings.Contains(bad, "created with 4 partitions") {
		t.Errorf("a collector asking for 6 partitions of a 4-partition cluster: want a refusal naming 4 partitions, got:\n%s", bad)
	}
	c2 := startNATSCollector(t, urls)
	i0 := startIngester(t, urls, "i0", "", "--ordinal=0", "--ingesters=2")
	i1 := startIngester(t, urls, "i1", "", "--ordinal=1", "--ingesters=2")
	q := startNATSQuery(t, urls)

	// Traces through the OpenTelemetry SDK, acknowledged when flushed.
	sdkAcked := sdkTraces(t, c2.OTLPGRPC, 30)

	l := startLoad(t, []string{c1.OTLPGRPC, c2.OTLPGRPC}, 6)
	pr := startProber(q)
	l.more(t, 500, "before any fault")

	t.Log("SIGKILL nats-server 0")
	nc.Kill(0)
	l.more(t, 500, "with a nats-server down")
	nc.Restart(0)
	nc.WaitReady(t, time.Minute)
	l.more(t, 300, "after the nats-server came back")

	t.Log("SIGKILL ingester i0")
	i0.Kill()
	l.more(t, 500, "with an ingester killed")
	i0 = startIngester(t, urls, "i0", i0.DataDir, "--ordinal=0", "--ingesters=2")
	l.more(t, 300, "after the ingester came back")

	t.Log("SIGSTOP collector 2")
	if err := syscall.Kill(c2.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	l.more(t, 500, "with a collector stopped")
	if err := syscall.Kill(c2.Pid(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}

	t.Log("cut nats-server 1 off its routes")
	nc.Cut(1)
	l.more(t, 500, "with a nats-server cut off")
	nc.Heal(1)
	nc.WaitReady(t, time.Minute)
	l.more(t, 300, "after the cut healed")

	l.stop()
	pr.stop()
	if n := l.wrong.Load(); n > 0 {
		t.Errorf("%d exports failed with a non-retryable error (last: %v)", n, l.lastErr.Load())
	}
	t.Logf("load: %d traces acknowledged, %d exports refused (retryable; last: %v); queries: %d asked, %d failed",
		l.n.Load(), l.failed.Load(), l.lastErr.Load(), pr.asked.Load(), pr.failed.Load())
	if n := pr.failed.Load(); n > 0 {
		t.Errorf("%d of %d queries during the faults did not answer 200 (last: %v)", n, pr.asked.Load(), pr.lastErr.Load())
	}

	acked := l.traces()
	for id, spans := range sdkAcked {
		acked[id] = spans
	}
	waitCaughtUp(t, i0, i1)
	q.checkStored(t, acked)

	// Idle, the cluster keeps its leaders: over 30 lease renewals (10 s of
	// the ingesters' background traffic) no stream changes leader.
	before := nc.Streams(t, 2)
	goal := before["KV_scry_owners"].LastSeq + 30
	testkit.EventuallyWithin(t, 30*time.Second, "30 lease renewals", func() bool {
		return nc.Streams(t, 2)["KV_scry_owners"].LastSeq >= goal
	})
	for name, st := range nc.Streams(t, 2) {
		if was := before[name].Leader; st.Leader != was {
			t.Errorf("idle cluster: stream %s changed leader from %q to %q", name, was, st.Leader)
		}
	}

	// A standby on an empty disk takes over the partitions whose owners
	// stop renewing (one SIGKILLed, one stopped), rebuilds them from the
	// streams, and alone answers for every acknowledged trace.
	i2 := startIngester(t, urls, "i2", "", "--standby")
	i1.Kill()
	if err := i0.Stop(); err != nil {
		t.Logf("stopping i0: %v", err)
	}
	s2 := &Scry{Proc: i2.Proc, http: i2.http}
	testkit.EventuallyWithin(t, 90*time.Second, "the standby to take over and rebuild every partition", func() bool {
		return len(s2.series(t, "scry_ingester_partition_applied_sequence")) == 4 && i2.ready() &&
			s2.metricSum(t, "scry_ingester_partition_lag_messages") == 0
	})
	testkit.EventuallyWithin(t, 30*time.Second, "scry-query to ask the standby", func() bool {
		code, body, _ := q.get(t, "/api/services")
		var env jaegerEnvelope[[]string]
		return code == http.StatusOK && json.Unmarshal(body, &env) == nil && len(env.Errors) == 0 && len(env.Data) > 0
	})
	q.checkStored(t, acked)
}

// runBinary runs the binary of pkg with args until it exits (within a
// minute) and returns its output.
func runBinary(t *testing.T, pkg string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, buildBinary(t, pkg), args...)
	cmd.Env = cleanEnv()
	testbin.SetChildAttrs(cmd)
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// waitCaughtUp waits until every ingester is ready (within its lag) and
// has applied every message (lag 0 on every partition).
func waitCaughtUp(t testing.TB, ins ...*ingesterProc) {
	t.Helper()
	for _, in := range ins {
		s := &Scry{Proc: in.Proc, http: in.http}
		testkit.EventuallyWithin(t, time.Minute, "ingester "+in.ID+" to apply every message", func() bool {
			return in.ready() && s.metricSum(t, "scry_ingester_partition_lag_messages") == 0
		})
	}
}

// sdkTraces sends n traces of two spans through the OpenTelemetry SDK to
// a collector and returns those the SDK had acknowledged.
func sdkTraces(t *testing.T, addr string, n int) map[string][]string {
	t.Helper()
	exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{SpanExporter: exp}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(rec),
		sdktrace.WithResource(sdkresource.NewSchemaless(attribute.String("service.name", "scale-sdk"))))
	tr := tp.Tracer("e2e/scaleout")
	for i := range n {
		ctx, root := tr.Start(context.Background(), "GET /item")
		_, child := tr.Start(ctx, "SELECT item")
		child.SetAttributes(attribute.Int("i", i))
		child.End()
		root.End()
	}
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatalf("SDK shutdown: %v", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := map[string][]string{}
	for _, s := range rec.spans {
		id := s.SpanContext().TraceID().String()
		out[id] = append(out[id], s.SpanContext().SpanID().String())
	}
	if len(out) != n {
		t.Fatalf("the SDK acknowledged %d of %d traces (errors: %v)", len(out), n, rec.errs)
	}
	return out
}

// TestScaleOutFullStream fills a small stream with no ingester reading:
// the collector refuses with a retryable answer naming the full stream,
// and once an ingester applies the stream every acknowledged trace is
// there.
func TestScaleOutFullStream(t *testing.T) {
	nc := natstest.Start(t, natstest.Options{Nodes: 1})
	urls := nc.URLs()
	c := startNATSCollector(t, urls, "--nats-init", "--nats-partitions=1", "--nats-replicas=1",
		"--nats-stream-max-bytes=1MiB", "--nats-stream-max-age=1h")
	conn, err := grpc.NewClient(c.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := coltracepb.NewTraceServiceClient(conn)
	acked := map[string][]string{}
	pad := strings.Repeat("x", 2000) // compresses, but random IDs do not
	var refusal error
	for i := 0; i < 2000 && refusal == nil; i++ {
		rs, ids := smallBatch("full", 10, 4, pad+fmt.Sprint(i))
		_, err := client.Export(t.Context(), &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{rs}})
		if err != nil {
			refusal = err
			break
		}
		for id, s := range ids {
			acked[id] = s
		}
	}
	if refusal == nil {
		t.Fatal("a 1 MiB stream never refused a publish")
	}
	if code := status.Code(refusal); code != codes.Unavailable && code != codes.ResourceExhausted {
		t.Errorf("a full stream: code %v, want UNAVAILABLE or RESOURCE_EXHAUSTED (retryable): %v", code, refusal)
	}
	if !strings.Contains(refusal.Error(), "full") {
		t.Errorf("a full stream's refusal does not say the stream is full: %v", refusal)
	}
	t.Logf("%d traces acknowledged before the refusal: %v", len(acked), refusal)
	in := startIngester(t, urls, "solo", "", "--partitions=0")
	waitCaughtUp(t, in)
	q := startNATSQuery(t, urls)
	q.checkStored(t, acked)
}
