package collector

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/model"
)

// Metrics counts spans per transport as they pass to the queue: received,
// accepted (committed) and refused (with the reason).
type Metrics struct {
	received, accepted *prometheus.CounterVec
	refused            *prometheus.CounterVec
}

// NewMetrics registers the intake counters on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scry_receiver_spans_received_total", Help: "Spans received, by transport.",
		}, []string{"transport"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scry_receiver_spans_accepted_total", Help: "Spans committed to storage and acknowledged, by transport.",
		}, []string{"transport"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scry_receiver_spans_refused_total", Help: "Spans refused, by transport and reason (queue_full, stopped, too_large, invalid, error; buffer_full: UDP spans that found too many commits under way).",
		}, []string{"transport", "reason"}),
	}
	for _, c := range []prometheus.Collector{m.received, m.accepted, m.refused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Wrap returns a Consumer that counts what passes through to next under the
// transport's name.
func (m *Metrics) Wrap(transport string, next Consumer) Consumer {
	return &counted{m: m, transport: transport, next: next}
}

// RejectRecorder is implemented by a Consumer that counts the spans a
// receiver set aside as invalid (a bad ID, a field of the wrong type) before
// handing the others on. Metrics.Wrap's Consumers count them as received and
// refused with reason invalid.
type RejectRecorder interface {
	RecordRejected(n int)
}

// RecordRejected tells c that a receiver rejected n spans of a request, if c
// keeps count (implements RejectRecorder); otherwise it does nothing.
func RecordRejected(c Consumer, n int) {
	if r, ok := c.(RejectRecorder); ok && n > 0 {
		r.RecordRejected(n)
	}
}

// RefuseRecorder is implemented by a Consumer that counts the spans a
// receiver refused itself, without handing them on (a UDP receiver with no
// room to take them, say). Metrics.Wrap's Consumers count them as received
// and refused with the reason given.
type RefuseRecorder interface {
	RecordRefused(reason string, n int)
}

// RecordRefused tells c that a receiver refused n spans for reason, if c
// keeps count (implements RefuseRecorder); otherwise it does nothing.
func RecordRefused(c Consumer, reason string, n int) {
	if r, ok := c.(RefuseRecorder); ok && n > 0 {
		r.RecordRefused(reason, n)
	}
}

type counted struct {
	m         *Metrics
	transport string
	next      Consumer
}

// RecordRejected implements RejectRecorder.
func (c *counted) RecordRejected(n int) {
	c.m.received.WithLabelValues(c.transport).Add(float64(n))
	c.m.refused.WithLabelValues(c.transport, "invalid").Add(float64(n))
}

// RecordRefused implements RefuseRecorder.
func (c *counted) RecordRefused(reason string, n int) {
	c.m.received.WithLabelValues(c.transport).Add(float64(n))
	c.m.refused.WithLabelValues(c.transport, reason).Add(float64(n))
}

func (c *counted) ConsumeSpans(ctx context.Context, spans []*model.Span, size int) error {
	n := float64(len(spans))
	c.m.received.WithLabelValues(c.transport).Add(n)
	err := c.next.ConsumeSpans(ctx, spans, size)
	if err == nil {
		c.m.accepted.WithLabelValues(c.transport).Add(n)
		return nil
	}
	reason := "error"
	switch {
	case errors.Is(err, ErrQueueFull):
		reason = "queue_full"
	case errors.Is(err, ErrStopped):
		reason = "stopped"
	case errors.Is(err, ErrTooLarge):
		reason = "too_large"
	case IsPermanent(err):
		reason = "invalid"
	}
	c.m.refused.WithLabelValues(c.transport, reason).Add(n)
	return err
}
