package queue

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the queue's Prometheus metrics. They are registered with the
// Registerer given to New, if any; without one they are kept but not exported.
type metrics struct {
	commitDuration prometheus.Histogram
	commitSpans    prometheus.Histogram
	committed      prometheus.Counter
	rejected       prometheus.Counter
	commitErrors   prometheus.Counter
	refused        *prometheus.CounterVec
}

// Reasons a request is refused, the values of the refused counter's label.
const (
	reasonFull     = "full"
	reasonStopped  = "stopped"
	reasonTooLarge = "too_large"
)

func newMetrics(reg prometheus.Registerer, q *Queue) (*metrics, error) {
	m := &metrics{
		commitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scry_collector_commit_duration_seconds",
			Help:    "Time taken by one group commit (one storage write of a batch of requests).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5ms .. ~16s
		}),
		commitSpans: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scry_collector_commit_spans",
			Help:    "Spans written by one group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9), // 1 .. 65536
		}),
		committed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scry_collector_spans_committed_total",
			Help: "Spans handed to storage by successful commits (rejected spans excluded).",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scry_collector_spans_rejected_total",
			Help: "Spans refused by storage as invalid; their senders were told.",
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scry_collector_commit_errors_total",
			Help: "Commits that failed for a reason other than rejected spans; their senders were told to retry.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scry_collector_requests_refused_total",
			Help: "Requests the queue refused at once, by reason (full, stopped, too_large).",
		}, []string{"reason"}),
	}
	for _, r := range []string{reasonFull, reasonStopped, reasonTooLarge} {
		m.refused.WithLabelValues(r)
	}
	depthSpans := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "scry_collector_queue_spans",
		Help: "Spans accepted by the queue and not yet answered (waiting or being written).",
	}, func() float64 { return float64(q.Stats().Spans) })
	depthBytes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "scry_collector_queue_bytes",
		Help: "Request bytes accepted by the queue and not yet answered (waiting or being written).",
	}, func() float64 { return float64(q.Stats().Bytes) })
	capacity := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "scry_collector_queue_capacity_bytes",
		Help: "The queue's bound in request bytes.",
	})
	capacity.Set(float64(q.cfg.MaxBytes))
	all := []prometheus.Collector{
		m.commitDuration, m.commitSpans, m.committed, m.rejected, m.commitErrors, m.refused,
		depthSpans, depthBytes, capacity,
	}
	for i, c := range all {
		if err := reg.Register(c); err != nil {
			for _, done := range all[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("cannot register queue metrics: %w", err)
		}
	}
	return m, nil
}
