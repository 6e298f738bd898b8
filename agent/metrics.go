package agent

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/collector/jaegerudp"
)

// Transports, the values of the transport label.
const (
	transportUDPCompact = jaegerudp.TransportCompact
	transportUDPBinary  = jaegerudp.TransportBinary
	transportOTLPGRPC   = "otlp_grpc"
	transportOTLPHTTP   = "otlp_http"
	transportSpool      = "spool" // spans read back from the spool at start
)

// refusedSpoolFull is the reason OTLP spans are refused when the spool has
// no room (the other reasons are collector's).
const refusedSpoolFull = "spool_full"

// Reasons a span is dropped, the values of scry_agent_spans_dropped_total's
// reason label.
const (
	dropBufferFull = "buffer_full" // UDP spans that found the buffer full
	dropInvalid    = "invalid"     // UDP spans with an all-zero trace or span ID
	dropRejected   = "rejected"    // a collector refused them for good (INVALID_ARGUMENT, partial success, ...)
	dropTooLarge   = "too_large"   // a single span larger than a collector takes
	dropShutdown   = "shutdown"    // still held at shutdown, with no spool (or a full one)
	dropSpoolBad   = "spool_unreadable"
)

// Reasons a UDP packet is dropped (counted by collector/jaegerudp).
const (
	packetMalformed  = jaegerudp.DropMalformed
	packetOversized  = jaegerudp.DropOversized
	packetQueueFull  = jaegerudp.DropQueueFull
	packetBufferFull = jaegerudp.DropBufferFull
)

// metrics are the agent's counters; gauges are functions of its parts.
type metrics struct {
	forwarded      prometheus.Counter
	batches        prometheus.Counter
	retries        prometheus.Counter
	dropped        *prometheus.CounterVec // reason
	packets        *prometheus.CounterVec // transport; the UDP server's
	packetsDropped *prometheus.CounterVec // transport, reason; the UDP server's
	exportDuration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, a *Agent) (*metrics, error) {
	m := &metrics{
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scry_agent_spans_forwarded_total", Help: "Spans a collector acknowledged.",
		}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scry_agent_batches_forwarded_total", Help: "Batches a collector acknowledged.",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scry_agent_forward_retries_total", Help: "Exports to a collector that failed and are tried again.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scry_agent_spans_dropped_total",
			Help: "Spans dropped, by reason: buffer_full (UDP), invalid (UDP, zero IDs), rejected (by a collector, for good), too_large, shutdown (held at shutdown without a spool), spool_unreadable (invalid spans read back from the spool).",
		}, []string{"reason"}),
		exportDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "scry_agent_export_duration_seconds", Help: "Duration of one export to a collector, successful or not.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	for _, r := range []string{dropBufferFull, dropInvalid, dropRejected, dropTooLarge, dropShutdown} {
		m.dropped.WithLabelValues(r) // export zeros, so that rate() works from the start
	}
	cs := []prometheus.Collector{m.forwarded, m.batches, m.retries, m.dropped, m.exportDuration,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "scry_agent_buffer_bytes", Help: "Estimated memory of the spans the buffer holds (waiting, being sent or retried).",
		}, func() float64 { return float64(a.buf.stats().Bytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "scry_agent_buffer_spans", Help: "Spans the buffer holds.",
		}, func() float64 { return float64(a.buf.stats().Spans) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "scry_agent_buffer_max_bytes", Help: "The buffer's bound (--buffer-bytes).",
		}, func() float64 { return float64(a.cfg.BufferBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "scry_agent_spool_bytes", Help: "Bytes of the spool's segment files (0 without a spool).",
		}, func() float64 { return float64(a.spoolBytes()) }),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("cannot register agent metrics: %w", err)
		}
	}
	return m, nil
}
