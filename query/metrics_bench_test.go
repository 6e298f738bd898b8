package query

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/badger"
)

// BenchmarkMetricsLatencies is the Monitor tab's latencies request for 8
// services by operation (10 operations each, server spans, OK and error
// series) from a Badger store: over 1 h at 60 s steps read from the 15 s
// points, and over 24 h at 5 min steps read from the roll-ups.
func BenchmarkMetricsLatencies(b *testing.B) {
	for _, c := range []struct {
		name           string
		lookback, step time.Duration
		seedStep       time.Duration
	}{
		{"1h-60s", time.Hour, time.Minute, 15 * time.Second},
		{"24h-5m", 24 * time.Hour, 5 * time.Minute, 5 * time.Minute},
	} {
		b.Run(c.name, func(b *testing.B) {
			cfg := badger.DefaultConfig()
			cfg.Dir, cfg.NoSync = b.TempDir(), true
			s, err := badger.New(cfg, telemetry.Nop())
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer s.Shutdown(context.Background())
			end := time.Now().Truncate(5 * time.Minute)
			var services []string
			for i := range 8 {
				services = append(services, fmt.Sprintf("service-%d", i))
			}
			steps := int((c.lookback + 10*time.Minute) / c.seedStep)
			for st := range steps {
				start := uint64(end.Add(-time.Duration(st+1) * c.seedStep).UnixNano())
				var pts []storage.REDPoint
				for _, svc := range services {
					for op := range 10 {
						for _, status := range []model.StatusCode{model.StatusUnset, model.StatusError} {
							p := storage.REDPoint{Series: storage.REDSeries{Service: svc, Operation: fmt.Sprintf("op-%d", op), Kind: model.SpanKindServer, Status: status},
								Start: start, Step: uint64(c.seedStep), Calls: 100}
							for d := range 100 { // 1 ms .. ~1 s
								p.Latency.Observe(uint64(time.Millisecond) * uint64(1+d*d/10))
							}
							pts = append(pts, p)
						}
					}
				}
				if err := s.WriteRED(context.Background(), pts); err != nil {
					b.Fatal(err)
				}
			}
			h, err := NewHandler(Config{DefaultLimit: 20, MaxLimit: 100, DefaultLookback: time.Hour, RED: s, REDStep: c.seedStep}, s, telemetry.Settings{})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			v := url.Values{"service": services, "groupByOperation": {"true"}, "quantile": {"0.95"}, "spanKind": {"server"},
				"endTs": {fmt.Sprint(end.UnixMilli())}, "lookback": {fmt.Sprint(c.lookback.Milliseconds())},
				"step": {fmt.Sprint(c.step.Milliseconds())}, "ratePer": {"600000"}}
			u := srv.URL + "/api/metrics/latencies?" + v.Encode()
			var lat []time.Duration
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				resp, err := http.Get(u)
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("%v %v", resp, err)
				}
				resp.Body.Close()
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
