package agent

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/collector/otlpgrpc"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/internal/workload"
	"github.com/scrytrace/scry/model"
)

// sink is an OTLP/gRPC receiver that counts and discards: a collector
// infinitely fast at storing.
type sink struct{ spans atomic.Int64 }

func (s *sink) ConsumeSpans(_ context.Context, spans []*model.Span, _ int) error {
	s.spans.Add(int64(len(spans)))
	return nil
}

func startSink(b *testing.B) (*sink, string) {
	s := &sink{}
	cfg := otlpgrpc.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	m, err := collector.NewMetrics(prometheus.NewRegistry(), "scry_receiver", "committed")
	if err != nil {
		b.Fatal(err)
	}
	r, err := otlpgrpc.New(cfg, s, m, telemetry.Nop())
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	return s, r.Addr().String()
}

// referenceRequests are exports of the reference workload: 500 spans, 10 a
// trace, ~10 attributes a span, 8 services.
func referenceRequests(n int) []*coltracepb.ExportTraceServiceRequest {
	g := workload.New(workload.Config{Seed: 1})
	out := make([]*coltracepb.ExportTraceServiceRequest, n)
	start := time.Now()
	for i := range out {
		out[i] = &coltracepb.ExportTraceServiceRequest{ResourceSpans: model.SpansToOTLP(g.Batch(500, start, time.Millisecond))}
	}
	return out
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// exportAll sends b.N exports of 500 spans to addr from 4 clients and waits
// until the sink has them, reporting spans/s and the process's CPU time per
// span (client, agent if any, and sink together).
func exportAll(b *testing.B, addr string, s *sink) {
	reqs := referenceRequests(16)
	client := otlpClient(b, netAddr(addr))
	base := s.spans.Load()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, t0 := cpuTime(), time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				for {
					_, err := client.Export(context.Background(), reqs[i%int64(len(reqs))])
					if err == nil {
						break
					}
					time.Sleep(time.Millisecond) // buffer full: retry, as an SDK would
				}
			}
		})
	}
	wg.Wait()
	want := base + int64(b.N)*500
	for s.spans.Load() < want {
		time.Sleep(time.Millisecond)
	}
	elapsed, cpu := time.Since(t0), cpuTime()-cpu0
	b.StopTimer()
	spans := float64(b.N) * 500
	b.ReportMetric(spans/elapsed.Seconds(), "spans/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/spans, "cpu-ns/span")
}

type netAddr string

func (a netAddr) Network() string { return "tcp" }
func (a netAddr) String() string  { return string(a) }

// BenchmarkForwardOTLP: OTLP/gRPC client -> agent -> sink. An op is one
// export of 500 spans. Compare with BenchmarkDirectOTLP (client -> sink):
// the difference in cpu-ns/span is the agent's own cost.
func BenchmarkForwardOTLP(b *testing.B) {
	s, addr := startSink(b)
	cfg := testConfig(addr)
	cfg.UDPCompactAddr, cfg.UDPBinaryAddr, cfg.OTLPHTTPAddr = "", "", ""
	cfg.BatchTimeout = DefaultBatchTimeout
	a := startAgent(b, cfg)
	exportAll(b, a.Addrs().OTLPGRPC.String(), s)
}

// BenchmarkForwardOTLPTenant is BenchmarkForwardOTLP with --tenant: every
// batch is sent with the x-tenant metadata.
func BenchmarkForwardOTLPTenant(b *testing.B) {
	s, addr := startSink(b)
	cfg := testConfig(addr)
	cfg.UDPCompactAddr, cfg.UDPBinaryAddr, cfg.OTLPHTTPAddr = "", "", ""
	cfg.BatchTimeout = DefaultBatchTimeout
	cfg.Tenant = "team-a"
	a := startAgent(b, cfg)
	exportAll(b, a.Addrs().OTLPGRPC.String(), s)
}

// BenchmarkDirectOTLP is the baseline: the same client straight to the
// sink.
func BenchmarkDirectOTLP(b *testing.B) {
	s, addr := startSink(b)
	exportAll(b, addr, s)
}

// BenchmarkUDPCompact20k sends Jaeger compact Thrift over loopback UDP at
// 20,000 spans/s (packets of 10 spans, sent every 10ms in bursts of 20
// packets) and reports the spans lost: by the kernel (sent but never read)
// and by the agent (counted drops). An op is one span sent.
func BenchmarkUDPCompact20k(b *testing.B) {
	s, addr := startSink(b)
	cfg := testConfig(addr)
	cfg.OTLPGRPCAddr, cfg.OTLPHTTPAddr, cfg.UDPBinaryAddr = "", "", ""
	cfg.UDPBufferBytes = DefaultUDPBufferBytes
	cfg.BatchTimeout = DefaultBatchTimeout
	a := startAgent(b, cfg)
	conn := udpSender(b, a.Addrs().UDPCompact)
	const perPacket, perTick, tick = 10, 20, 10 * time.Millisecond // 20 packets of 10 spans per 10ms
	packets := make([][]byte, 64)
	for i := range packets {
		batch, _ := jaegerBatch("udp-bench", perPacket)
		packets[i] = emitBatchPacket(b, batch, true)
	}
	received := func() float64 { return a.intakeCounts(b, transportUDPCompact).Received }
	base, fwdBase := received(), s.spans.Load()
	b.ResetTimer()
	cpu0, t0 := cpuTime(), time.Now()
	sent := 0
	ticker := time.NewTicker(tick)
	for sent < b.N {
		for k := 0; k < perTick && sent < b.N; k++ {
			if _, err := conn.Write(packets[(sent/perPacket)%len(packets)]); err != nil {
				b.Fatal(err)
			}
			sent += perPacket
		}
		<-ticker.C
	}
	ticker.Stop()
	sending := time.Since(t0)
	// Wait for the agent to read and forward what reached it.
	testkit.Poll(5*time.Second, func() bool {
		return s.spans.Load()-fwdBase+int64(counter(a.m.dropped.WithLabelValues(dropBufferFull))) >= int64(sent)
	})
	elapsed, cpu := time.Since(t0), cpuTime()-cpu0
	b.StopTimer()
	got := received() - base
	kernelLost := float64(sent) - got
	agentDropped := counter(a.m.dropped.WithLabelValues(dropBufferFull)) + counter(a.m.packetsDropped.WithLabelValues(transportUDPCompact, packetQueueFull))*perPacket
	b.ReportMetric(float64(sent)/sending.Seconds(), "sent-spans/s")
	b.ReportMetric(elapsed.Seconds()-sending.Seconds(), "drain-s")
	b.ReportMetric(kernelLost, "kernel-lost")
	b.ReportMetric(agentDropped, "agent-dropped")
	b.ReportMetric(float64(s.spans.Load()-fwdBase), "forwarded")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(sent), "cpu-ns/span")
}
