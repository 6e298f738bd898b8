package query

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkTempoMetrics measures TraceQL metrics over the store of
// BenchmarkTempo (reference workload, SCRY_BENCH_TEMPO_SPANS spans over
// two hours, default 1M): each query covers the last hour at 30 s steps.
func BenchmarkTempoMetrics(b *testing.B) {
	h := tempoBenchHandler(b)
	for _, c := range []struct{ name, q string }{
		{"RateByService", `{ } | rate() by (resource.service.name)`},
		{"ErrorCount", `{ status = error } | count_over_time()`},
		{"Quantiles", `{ kind = server } | quantile_over_time(duration, .5, .99)`},
	} {
		b.Run(c.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			var traces int
			for range b.N {
				now := time.Now()
				v := url.Values{"q": {c.q}, "step": {"30s"},
					"start": {strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)}, "end": {strconv.FormatInt(now.Unix(), 10)}}
				req := httptest.NewRequest(http.MethodGet, "/api/metrics/query_range?"+v.Encode(), nil)
				rec := httptest.NewRecorder()
				t := time.Now()
				h.ServeHTTP(rec, req)
				lat = append(lat, time.Since(t))
				var resp struct {
					Series  []json.RawMessage `json:"series"`
					Status  string            `json:"status"`
					Metrics struct {
						InspectedTraces int `json:"inspectedTraces"`
					} `json:"metrics"`
				}
				if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &resp) != nil || len(resp.Series) == 0 {
					b.Fatalf("%d: %.300s", rec.Code, rec.Body.String())
				}
				traces = resp.Metrics.InspectedTraces
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")
			b.ReportMetric(float64(traces), "traces/op")
		})
	}
}
