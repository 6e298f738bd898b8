package e2e

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/natstest"
	"github.com/scrytrace/scry/internal/tracegen"
)

// BenchmarkScaleOut measures the scale-out topology on this machine — 3
// nats-servers (R3 streams, 8 partitions), one scry-collector --nats-url,
// two scry-ingesters owning every partition, scry-query --nats-url — beside
// the all-in-one scry: OTLP/gRPC ingest as fast as each acknowledges (for
// the scale-out also with no ingester running, then the rate at which two
// ingesters on empty disks rebuild that), export latency at 10k spans/s,
// and trace-by-ID latency through the query API,
// for SCRY_BENCH_DURATION (default 20s) per phase. Targets (issue 13): at
// least 25k spans/s acknowledged, p99 export at 10k spans/s at most 100 ms,
// trace by ID p99 at most 5 ms. Run with `make bench-scaleout`.
func BenchmarkScaleOut(b *testing.B) {
	d := benchDuration(b)
	base := tracegen.Config{Protocol: "grpc", Workers: 8, BatchSpans: 500, Services: 8, SpansPerTrace: 10, Duration: d}
	run := func(name, endpoint string, rate float64, pid int) tracegen.Result {
		cfg := base
		cfg.Endpoint, cfg.Rate, cfg.WatchPID = endpoint, rate, pid
		res, err := tracegen.Run(context.Background(), cfg, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		if res.Failed > 0 {
			b.Errorf("%s: %d spans refused (first: %s)", name, res.Failed, res.FirstError)
		}
		b.Logf("%s: %.0f spans/s acknowledged, export p50 %v p99 %v", name, res.SpansPerSecond(),
			res.Percentile(50).Round(100*time.Microsecond), res.Percentile(99).Round(100*time.Microsecond))
		return res
	}
	byID := func(name, queryURL string) time.Duration {
		q, err := tracegen.QueryBench(context.Background(), queryURL, 500, nil, nil, "")
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%s queries: %s", name, q)
		if len(q.ByID) == 0 {
			b.Fatalf("%s: no trace fetched by ID", name)
		}
		return q.ByID[len(q.ByID)*99/100]
	}
	for range b.N {
		// The single node first, on its own.
		s := startScry(b)
		single := run("scry max", s.OTLPGRPC, 0, s.Pid())
		single10k := run("scry 10k", s.OTLPGRPC, 10000, s.Pid())
		singleByID := byID("scry", "http://"+s.Query)
		if err := s.Stop(); err != nil {
			b.Fatal(err)
		}

		nc := natstest.Start(b, natstest.Options{Nodes: 3})
		urls := nc.URLs()
		c := startNATSCollector(b, urls, "--nats-init", "--nats-partitions=8", "--nats-replicas=3",
			"--nats-stream-max-bytes=96MiB", "--nats-stream-max-age=1h", "--nats-publish-timeout=10s")
		// Publishing alone: what collector → JetStream (R3) acknowledges
		// when the ingesters do not share the machine's two cores.
		publishOnly := run("scale-out max, no ingester running", c.OTLPGRPC, 0, c.Pid())
		// Two ingesters on empty disks replay that (a rebuild).
		start := time.Now()
		i0 := startIngester(b, urls, "i0", "", "--ordinal=0", "--ingesters=2")
		i1 := startIngester(b, urls, "i1", "", "--ordinal=1", "--ingesters=2")
		waitCaughtUp(b, i0, i1)
		rebuild := time.Since(start)
		b.Logf("two ingesters rebuilt %d spans each in %v: %.0f spans/s each", publishOnly.Accepted, rebuild.Round(time.Millisecond),
			float64(publishOnly.Accepted)/rebuild.Seconds())
		q := startNATSQuery(b, urls)
		scale := run("scale-out max", c.OTLPGRPC, 0, c.Pid())
		start = time.Now()
		waitCaughtUp(b, i0, i1)
		catchUp := time.Since(start)
		scale10k := run("scale-out 10k", c.OTLPGRPC, 10000, c.Pid())
		waitCaughtUp(b, i0, i1)
		scaleByID := byID("scale-out", "http://"+q.Query)
		b.Logf("ingesters caught up %v after the max-rate phase", catchUp.Round(time.Millisecond))

		b.ReportMetric(single.SpansPerSecond(), "single-spans/s")
		b.ReportMetric(scale.SpansPerSecond(), "scaleout-spans/s")
		b.ReportMetric(publishOnly.SpansPerSecond(), "publish-only-spans/s")
		b.ReportMetric(float64(publishOnly.Accepted)/rebuild.Seconds(), "rebuild-spans/s")
		b.ReportMetric(ms(single10k.Percentile(99)), "single-p99-ms@10k")
		b.ReportMetric(ms(scale10k.Percentile(99)), "scaleout-p99-ms@10k")
		b.ReportMetric(ms(singleByID), "single-byid-p99-ms")
		b.ReportMetric(ms(scaleByID), "scaleout-byid-p99-ms")
		b.ReportMetric(catchUp.Seconds(), "catchup-s")
		b.ReportMetric(0, "ns/op")
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// benchDuration is SCRY_BENCH_DURATION, the length of one phase of the
// end-to-end benchmarks (default 20s).
func benchDuration(b *testing.B) time.Duration {
	v := os.Getenv("SCRY_BENCH_DURATION")
	if v == "" {
		return 20 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		b.Fatalf("SCRY_BENCH_DURATION: %v", err)
	}
	return d
}
