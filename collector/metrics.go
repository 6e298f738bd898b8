package collector

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/storage"
)

// Outcomes of a span a receiver got, the values of the reason label of the
// rejected and refused counters.
//
// A rejected span can never be stored as sent (the client must not send it
// again); a refused span could not be taken now and may be sent again.
const (
	ReasonInvalid     = "invalid"      // rejected: a bad ID or field
	ReasonTooLarge    = "too_large"    // rejected: the request is over a limit
	ReasonQueueFull   = "queue_full"   // refused: the queue had no room
	ReasonStopped     = "stopped"      // refused: shutting down
	ReasonBufferFull  = "buffer_full"  // refused: UDP spans that found too many commits under way, or the agent's buffer full
	ReasonDiskFull    = "disk_full"    // refused: the store's disk is full (storage.ErrNoSpace)
	ReasonRateLimited = "rate_limited" // refused: the tenant is over its ingestion rate (--limits-file)
	ReasonError       = "error"        // refused: storage failed, or the client went away
)

// Metrics counts the spans of every transport by outcome. Each span a
// receiver got is counted once as received and once as accepted (stored
// and acknowledged), rejected (with the reason) or refused (with the
// reason), so received = accepted + rejected + refused. The names are
// <prefix>_spans_received_total, _accepted_total, _rejected_total and
// _refused_total.
//
// Its methods are safe for concurrent use.
type Metrics struct {
	received, accepted *prometheus.CounterVec // transport
	rejected, refused  *prometheus.CounterVec // transport, reason
}

// NewMetrics registers the intake counters on reg, named after prefix
// ("scry_receiver" for the collector, "scry_agent" for the agent); accepted
// says in the help text what acceptance means there.
func NewMetrics(reg prometheus.Registerer, prefix, accepted string) (*Metrics, error) {
	m := &Metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prefix + "_spans_received_total", Help: "Spans received, by transport.",
		}, []string{"transport"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prefix + "_spans_accepted_total", Help: "Spans " + accepted + ", by transport.",
		}, []string{"transport"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prefix + "_spans_rejected_total",
			Help: "Spans refused for good (sending them again cannot succeed), by transport and reason: invalid, too_large.",
		}, []string{"transport", "reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prefix + "_spans_refused_total",
			Help: "Spans not taken now (the client may retry; UDP spans are lost), by transport and reason: queue_full, buffer_full, stopped, disk_full, rate_limited, error.",
		}, []string{"transport", "reason"}),
	}
	for _, c := range []prometheus.Collector{m.received, m.accepted, m.rejected, m.refused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Transport returns the counters of one transport (its label value, such as
// "otlp_grpc"). Calling it again with the same name returns counters that
// add to the same series.
func (m *Metrics) Transport(name string) *TransportMetrics {
	return &TransportMetrics{
		received: m.received.WithLabelValues(name),
		accepted: m.accepted.WithLabelValues(name),
		rejected: m.rejected.MustCurryWith(prometheus.Labels{"transport": name}),
		refused:  m.refused.MustCurryWith(prometheus.Labels{"transport": name}),
	}
}

// TransportMetrics are one transport's counters. A nil *TransportMetrics
// counts nothing. Its methods are safe for concurrent use.
type TransportMetrics struct {
	received, accepted prometheus.Counter
	rejected, refused  *prometheus.CounterVec // reason
}

// Received counts n spans received.
func (t *TransportMetrics) Received(n int) {
	if t != nil && n > 0 {
		t.received.Add(float64(n))
	}
}

// Accepted counts n spans stored and acknowledged.
func (t *TransportMetrics) Accepted(n int) {
	if t != nil && n > 0 {
		t.accepted.Add(float64(n))
	}
}

// Rejected counts n spans refused for good, for reason.
func (t *TransportMetrics) Rejected(reason string, n int) {
	if t != nil && n > 0 {
		t.rejected.WithLabelValues(reason).Add(float64(n))
	}
}

// Refused counts n spans not taken now, for reason.
func (t *TransportMetrics) Refused(reason string, n int) {
	if t != nil && n > 0 {
		t.refused.WithLabelValues(reason).Add(float64(n))
	}
}

// Failed counts n spans that err kept from being stored, as rejected or
// refused by what err is (see Outcome).
func (t *TransportMetrics) Failed(err error, n int) {
	if rejected, reason := Outcome(err); rejected {
		t.Rejected(reason, n)
	} else {
		t.Refused(reason, n)
	}
}

// Outcome sorts an error a Consumer returned: whether the spans are
// rejected for good (a permanent error) or refused for now, and the reason.
// A reason given with WithReason wins; otherwise too_large, invalid,
// queue_full, stopped, disk_full or error.
func Outcome(err error) (rejected bool, reason string) {
	rejected = IsPermanent(err)
	var r reasoned
	switch {
	case errors.As(err, &r):
		reason = r.reason
	case errors.Is(err, ErrTooLarge):
		reason = ReasonTooLarge
	case rejected:
		reason = ReasonInvalid
	case errors.Is(err, ErrRateLimited):
		reason = ReasonRateLimited
	case errors.Is(err, ErrQueueFull):
		reason = ReasonQueueFull
	case errors.Is(err, ErrStopped):
		reason = ReasonStopped
	case errors.Is(err, storage.ErrNoSpace):
		reason = ReasonDiskFull
	default:
		reason = ReasonError
	}
	return rejected, reason
}

// reasoned is an error with the reason it is counted under.
type reasoned struct {
	reason string
	err    error
}

func (r reasoned) Error() string { return r.err.Error() }
func (r reasoned) Unwrap() error { return r.err }

// WithReason returns err, counted under reason by Metrics (the agent's
// "spool_full", say). It returns nil for nil.
func WithReason(reason string, err error) error {
	if err == nil {
		return nil
	}
	return reasoned{reason: reason, err: err}
}
