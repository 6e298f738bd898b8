package query

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/workload"
	"github.com/scrytrace/scry/storage/badger"
)

// The Tempo API over a Badger store of the reference workload (10 spans
// a trace, ~10 attributes a span, 8 services; 1% of traces end in an error
// span of service-2 with http.response.status_code 500), spread over the
// last two hours; each search covers the last hour, limit 20.
// SCRY_BENCH_TEMPO_SPANS sets the store's size (default 1M spans).

// tempoBenchHandler builds the store (once: a benchmark with
// sub-benchmarks runs its body once) and serves it.
func tempoBenchHandler(b *testing.B) http.Handler {
	total := 1_000_000
	if v := os.Getenv("SCRY_BENCH_TEMPO_SPANS"); v != "" {
		var err error
		if total, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	tel := telemetry.Settings{Logger: slog.New(slog.DiscardHandler)}
	cfg := badger.DefaultConfig()
	cfg.Dir = b.TempDir()
	s, err := badger.New(cfg, tel)
	if err == nil {
		err = s.Start(context.Background())
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	g := workload.New(workload.Config{Seed: 11})
	end := time.Now().Add(-time.Minute)
	const batch = 500
	nb := total / batch
	step := 2 * time.Hour / time.Duration(nb)
	t0 := time.Now()
	for i := range nb {
		if err := s.WriteSpans(context.Background(), g.Batch(batch, end.Add(-2*time.Hour+time.Duration(i)*step), step/(batch/10))); err != nil {
			b.Fatal(err)
		}
	}
	fmt.Fprintf(os.Stderr, "built a store of %d spans in %v\n", total, time.Since(t0).Round(time.Millisecond))
	h, err := NewTempoHandler(DefaultConfig(), s, tel)
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// BenchmarkTempo measures searches (Search/...) and tag requests
// (Tags/...) over one store.
func BenchmarkTempo(b *testing.B) {
	h := tempoBenchHandler(b)
	b.Run("Search", func(b *testing.B) { benchmarkTempoSearch(b, h) })
	b.Run("Tags", func(b *testing.B) { benchmarkTempoTags(b, h) })
}

func benchmarkTempoSearch(b *testing.B, h http.Handler) {
	for _, c := range []struct {
		name, q string
		want    int // traces each search must find
	}{
		{"ServiceStatus", `{ resource.service.name = "service-2" && span.http.response.status_code = 500 }`, 20},
		{"ServiceStatusNone", `{ resource.service.name = "service-3" && span.http.response.status_code = 500 }`, 0},
		{"Structural", `{ resource.service.name = "service-0" } >> { status = error }`, 20},
		{"ServiceOperation", `{ resource.service.name = "service-1" && name = "POST /api/service-1/v1" }`, 20},
	} {
		b.Run(c.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			inspected := 0
			for range b.N {
				now := time.Now()
				v := url.Values{"q": {c.q}, "limit": {"20"},
					"start": {strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)}, "end": {strconv.FormatInt(now.Unix(), 10)}}
				req := httptest.NewRequest(http.MethodGet, "/api/search?"+v.Encode(), nil)
				rec := httptest.NewRecorder()
				t := time.Now()
				h.ServeHTTP(rec, req)
				lat = append(lat, time.Since(t))
				var resp struct {
					Traces  []json.RawMessage `json:"traces"`
					Metrics struct {
						InspectedTraces int `json:"inspectedTraces"`
					} `json:"metrics"`
				}
				if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &resp) != nil || len(resp.Traces) != c.want {
					b.Fatalf("%d, %d traces, want %d: %.300s", rec.Code, len(resp.Traces), c.want, rec.Body.String())
				}
				inspected += resp.Metrics.InspectedTraces
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(inspected)/float64(b.N), "inspected/op")
		})
	}
}

// tags: the requests Grafana's TraceQL editor sends as it completes names
// and values, over the same kind of store.
func benchmarkTempoTags(b *testing.B, h http.Handler) {
	for _, c := range []struct{ name, path string }{
		{"TagsV2", "/api/v2/search/tags"},
		{"TagValuesService", "/api/v2/search/tag/resource.service.name/values"},
		{"TagValuesAttribute", "/api/v2/search/tag/span.http.request.method/values"},
		{"TagValuesFiltered", "/api/v2/search/tag/name/values?q=" + url.QueryEscape(`{ resource.service.name = "service-3" }`)},
	} {
		b.Run(c.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for range b.N {
				req := httptest.NewRequest(http.MethodGet, c.path, nil)
				rec := httptest.NewRecorder()
				t := time.Now()
				h.ServeHTTP(rec, req)
				lat = append(lat, time.Since(t))
				if rec.Code != http.StatusOK || rec.Body.Len() < 20 {
					b.Fatalf("%s: %d %.300s", c.path, rec.Code, rec.Body.String())
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
