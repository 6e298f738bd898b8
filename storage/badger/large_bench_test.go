package badger

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/workload"
	"github.com/scrytrace/scry/storage"
)

// BenchmarkLargeStore builds a store of SCRY_BENCH_LARGE spans (skipped when
// unset; 10000000 is the figure), lets Badger finish compacting it
// as a long-running server would have, reopens it and reports the time to
// open and the process's resident memory after opening and after a round of
// reads.
func BenchmarkLargeStore(b *testing.B) {
	total, _ := strconv.Atoi(os.Getenv("SCRY_BENCH_LARGE"))
	if total <= 0 {
		b.Skip("set SCRY_BENCH_LARGE to the number of spans")
	}
	dir := b.TempDir()
	s, err := startBench(dir, true)
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
	// Closing flushes the memtable into one more level-0 table, which
	// Badger compacts after the next open: open once more and wait for it.
	var settled time.Duration
	for range 2 {
		settled += waitCompacted(s)
		if err := s.Shutdown(context.Background()); err != nil {
			b.Fatal(err)
		}
		if s, err = startBench(dir, true); err != nil {
			b.Fatal(err)
		}
	}
	settled += waitCompacted(s)
	if err := s.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	debug.FreeOSMemory()
	b.ResetTimer()
	b.ReportMetric(settled.Seconds(), "settle-s")
	for range b.N {
		t0 := time.Now()
		s, err = startBench(dir, true)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(t0).Milliseconds()), "open-ms")
		debug.FreeOSMemory()
		b.ReportMetric(rssMB(), "rss-open-MB")
		time.Sleep(5 * time.Second)
		sst0, _ := mappedMB()
		b.ReportMetric(sst0, "sst-mapped-idle-MB")
		b.ReportMetric(rssMB(), "rss-idle-MB")
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
		sst, mem := mappedMB()
		b.ReportMetric(sst, "sst-mapped-MB")
		b.ReportMetric(mem, "memtable-mapped-MB")
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-inuse-MB")
		b.ReportMetric(float64(ms.HeapSys-ms.HeapReleased)/(1<<20), "heap-held-MB")
		b.ReportMetric(float64(s.DiskSize())/float64(total), "disk-bytes/span")
		if path := os.Getenv("SCRY_BENCH_HEAPPROFILE"); path != "" {
			writeHeapProfile(b, path)
		}
		s.Shutdown(context.Background())
	}
}

// mappedMB sums the resident pages of the process's mappings of Badger's
// table (.sst) and memtable (.mem) files, in MB.
func mappedMB() (sst, mem float64) {
	raw, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return -1, -1
	}
	var cur *float64
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4:
			// A mapping's first line; anonymous ones have no path.
			cur = nil
			if len(f) >= 6 && strings.HasSuffix(f[5], ".sst") {
				cur = &sst
			} else if len(f) >= 6 && strings.HasSuffix(f[5], ".mem") {
				cur = &mem
			}
		case len(f) >= 2 && f[0] == "Rss:" && cur != nil:
			kb, _ := strconv.ParseFloat(f[1], 64)
			*cur += kb / 1024
		}
	}
	return sst, mem
}

// waitCompacted waits (at most ten minutes) until Badger has no level due
// for compaction two seconds running, and returns how long that took.
func waitCompacted(s *Store) time.Duration {
	t0 := time.Now()
	calm := 0
	for calm < 2 && time.Since(t0) < 10*time.Minute {
		time.Sleep(time.Second)
		calm++
		for _, l := range s.bdb.Levels() {
			if l.Adjusted >= 1 {
				calm = 0
			}
		}
	}
	return time.Since(t0)
}

func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
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
