package badger

import (
	"context"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/workload"
	"github.com/scrytrace/scry/storage"
)

// BenchmarkLargeStore builds a store of SCRY_BENCH_LARGE spans (skipped when
// unset; 10000000 is the figure), reopens it and reports the time
// to open and the process's resident memory after opening and after a round
// of reads.
func BenchmarkLargeStore(b *testing.B) {
	total, _ := strconv.Atoi(os.Getenv("SCRY_BENCH_LARGE"))
	if total <= 0 {
		b.Skip("set SCRY_BENCH_LARGE to the number of spans")
	}
	dir := b.TempDir()
	s, err := Open(Config{Dir: dir, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	g := workload.New(workload.Config{Seed: 11})
	end := time.Now().Add(-time.Minute)
	start := end.Add(-24 * time.Hour)
	nb := total / batchSpans
	step := 24 * time.Hour / time.Duration(nb)
	for i := range nb {
		batch := g.Batch(batchSpans, start.Add(time.Duration(i)*step), step/50)
		if err := s.WriteSpans(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	debug.FreeOSMemory()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		s, err = Open(Config{Dir: dir, NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(t0).Milliseconds()), "open-ms")
		debug.FreeOSMemory()
		b.ReportMetric(rssMB(), "rss-open-MB")
		for i := range 200 {
			q := storage.Query{Service: workload.ServiceName(i % 8), Kind: storage.AnyKind, Limit: 20,
				StartMin: uint64(end.Add(-time.Duration(i%24+1) * time.Hour).UnixNano()), StartMax: uint64(end.Add(-time.Duration(i%24) * time.Hour).UnixNano())}
			refs, err := s.FindTraceIDs(context.Background(), q)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range refs {
				if _, err := s.GetTrace(context.Background(), r.TraceID, storage.TimeHint{}); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(rssMB(), "rss-reads-MB")
		b.ReportMetric(statusMB("RssAnon:"), "anon-reads-MB")
		b.ReportMetric(statusMB("RssFile:"), "file-reads-MB")
		b.ReportMetric(float64(s.DiskSize())/float64(total), "disk-bytes/span")
		s.Close()
	}
}

func rssMB() float64 { return statusMB("VmRSS:") }

// statusMB reads a field of /proc/self/status in MB (-1 if unavailable).
func statusMB(field string) float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}
