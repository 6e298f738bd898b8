package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/auth/authtest"
	"github.com/scrytrace/scry/internal/tlsconf/tlstest"
	"github.com/scrytrace/scry/internal/tracegen"
)

// BenchmarkSecurity compares scry in plain text with scry with TLS on every
// listener, an auth file (the exporter's token, bound to its tenant) and
// multi-tenancy on: sustained OTLP/gRPC ingest as fast as each answers, and
// export latency at 20k spans/s, each on a fresh store, the two set-ups
// alternated for SCRY_BENCH_ROUNDS rounds (default 2) of
// SCRY_BENCH_DURATION (default 20s) per phase. It reports the medians, and
// the secure set-up's throughput as a percentage of the plain one's
// (target: at least 85; p99 at 20k spans/s under 50 ms). Run with
// `make bench-security`.
func BenchmarkSecurity(b *testing.B) {
	d := benchDuration(b)
	rounds := 2
	if v := os.Getenv("SCRY_BENCH_ROUNDS"); v != "" {
		fmt.Sscan(v, &rounds)
	}
	ca := tlstest.NewCA(b, "bench-ca")
	server := ca.Server(b, "scry")
	const token = "bench-app-token"
	authFile := authtest.Write(b,
		authtest.Entry{Token: token, Tenants: []string{"team-a"}, Scopes: []string{"write"}},
		authtest.Entry{Token: "bench-ops", Scopes: []string{"read", "admin"}})

	type setup struct {
		name  string
		start func() (*Scry, tracegen.Config)
	}
	base := tracegen.Config{Protocol: "grpc", Workers: 8, BatchSpans: 500, Services: 8, SpansPerTrace: 10, Duration: d}
	setups := []setup{
		{"plain", func() (*Scry, tracegen.Config) {
			s := startScry(b)
			cfg := base
			cfg.Endpoint = s.OTLPGRPC
			return s, cfg
		}},
		{"tls+auth+tenancy", func() (*Scry, tracegen.Config) {
			s := startScryWith(b, scryOptions{
				Flags: []string{"--tls-cert-file=" + server.CertFile, "--tls-key-file=" + server.KeyFile,
					"--auth-file=" + authFile, "--multi-tenancy.enabled"},
				TLS:           tlstest.ClientConfig(ca, nil),
				Authorization: authtest.Bearer("bench-ops"),
			})
			cfg := base
			cfg.Endpoint = s.OTLPGRPC
			cfg.TLS = tlstest.ClientConfig(ca, nil)
			cfg.Authorization = func() string { return authtest.Bearer(token) }
			cfg.Tenant = "team-a"
			return s, cfg
		}},
	}
	maxRates := map[string][]float64{}
	p99s := map[string][]time.Duration{}
	for range b.N {
		for r := range rounds {
			for _, su := range setups {
				for _, phase := range []string{"max", "20k"} {
					s, cfg := su.start()
					if phase == "20k" {
						cfg.Rate = 20000
					}
					cfg.WatchPID = s.Pid()
					res, err := tracegen.Run(context.Background(), cfg, io.Discard)
					if err != nil {
						b.Fatal(err)
					}
					if res.Failed > 0 {
						b.Errorf("%s %s: %d spans refused (first: %s)", su.name, phase, res.Failed, res.FirstError)
					}
					b.Logf("round %d %s %s: %.0f spans/s, p99 %v, peak RSS %d MB", r+1, su.name, phase,
						res.SpansPerSecond(), res.Percentile(99).Round(time.Millisecond), res.PeakRSSBytes>>20)
					if phase == "max" {
						maxRates[su.name] = append(maxRates[su.name], res.SpansPerSecond())
					} else {
						p99s[su.name] = append(p99s[su.name], res.Percentile(99))
					}
					if err := s.Stop(); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
	}
	med := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	medD := func(v []time.Duration) time.Duration { slices.Sort(v); return v[len(v)/2] }
	plain, secure := med(maxRates["plain"]), med(maxRates["tls+auth+tenancy"])
	b.ReportMetric(plain, "plain-spans/s")
	b.ReportMetric(secure, "secure-spans/s")
	b.ReportMetric(100*secure/plain, "secure-%")
	b.ReportMetric(float64(medD(p99s["plain"]).Microseconds())/1000, "plain-p99-ms@20k")
	b.ReportMetric(float64(medD(p99s["tls+auth+tenancy"]).Microseconds())/1000, "secure-p99-ms@20k")
	b.ReportMetric(0, "ns/op")
}
