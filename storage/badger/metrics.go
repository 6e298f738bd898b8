package badger

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a bucket is dropped, the reason label of
// scry_store_buckets_dropped_total.
const (
	reasonAge  = "age"  // past Retention
	reasonSize = "size" // the folder was over RetentionSize
)

// metrics are the store's own counters; its gauges read the store.
type metrics struct {
	dropped *prometheus.CounterVec
	sealed  prometheus.Histogram // seconds a sealing round took
	merged  prometheus.Histogram // seconds a merge of blocks took
}

// newMetrics registers the store's metrics on reg: the buckets it dropped,
// its size on disk, the free space of its filesystem and whether it refuses
// writes for lack of it, and the state of the attribute index (pending
// chunks, sealed blocks, time per sealing round and per merge).
func newMetrics(reg prometheus.Registerer, s *Store) (*metrics, error) {
	m := &metrics{
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scry_store_buckets_dropped_total",
			Help: "Time buckets of spans deleted from the store, by reason: age (past --retention) or size (the data folder was over --retention-size).",
		}, []string{"reason"}),
		sealed: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scry_store_index_seal_seconds",
			Help:    "Time one sealing round took: pending index chunks folded into one attribute block.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
		merged: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scry_store_index_merge_seconds",
			Help:    "Time one merge took: eight sealed attribute blocks of a bucket rewritten as one.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
	}
	// Both series exist from the start, so a rate over them is defined.
	m.dropped.WithLabelValues(reasonAge)
	m.dropped.WithLabelValues(reasonSize)
	for _, c := range []prometheus.Collector{
		m.dropped,
		m.sealed,
		m.merged,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "scry_store_index_pending_chunks",
			Help: "Index chunks not yet sealed into attribute blocks, of every tenant: the recent tail that attribute searches scan chunk by chunk.",
		}, func() float64 {
			var n int64
			for _, sp := range s.allSpaces() {
				n += sp.idx.pending.Load()
			}
			return float64(n)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "scry_store_index_blocks",
			Help: "Sealed attribute blocks of the live time buckets, of every tenant.",
		}, func() float64 {
			n := 0
			for _, sp := range s.allSpaces() {
				n += sp.sealedBlocks()
			}
			return float64(n)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "scry_store_disk_bytes", Help: "Bytes the store's files take on disk.",
		}, func() float64 { return float64(s.DiskSize()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "scry_store_disk_free_bytes",
			Help: "Bytes free on the data folder's filesystem at the store's last look (-1 before it opened).",
		}, func() float64 { return float64(s.DiskFree()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "scry_store_disk_full",
			Help: "1 while the store refuses writes because its filesystem has less than --min-free-disk free, else 0.",
		}, func() float64 {
			if s.DiskFull() != nil {
				return 1
			}
			return 0
		}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("cannot register store metrics: %w", err)
		}
	}
	return m, nil
}
