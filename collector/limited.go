package collector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/internal/limits"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// ErrRateLimited is wrapped by the error of a request refused because its
// tenant is over its ingestion rate. It is retryable, after RetryAfterOf.
var ErrRateLimited = errors.New("tenant is over its ingestion rate, retry later")

// rateLimited is ErrRateLimited with the delay to wait.
type rateLimited struct {
	tenant string
	wait   time.Duration
}

func (e rateLimited) Error() string {
	return fmt.Sprintf("%v (tenant %q; retry in %v)", ErrRateLimited, e.tenant, e.wait)
}
func (e rateLimited) Unwrap() error { return ErrRateLimited }

// RetryAfterOf returns how long a client refused with err should wait, if
// err says (a rate-limited request), else def.
func RetryAfterOf(err error, def time.Duration) time.Duration {
	var r rateLimited
	if errors.As(err, &r) {
		return r.wait
	}
	return def
}

// Limited applies each tenant's limits (internal/limits) to the requests
// it passes on: a request over its tenant's ingestion rate is refused at
// once (retryable, after the time its bucket needs), spans are truncated to
// the tenant's attribute, event, link and value-length limits (with the
// dropped counts set), and spans of a trace past the tenant's max bytes per
// trace are rejected, the rest of the request stored. Other tenants are not
// affected by one over its limits. It is safe for concurrent use.
type Limited struct {
	next   Consumer
	ov     *limits.Overrides
	rate   *limits.Rate
	traces *limits.TraceSizes
	clock  telemetry.Clock

	refusedBytes *prometheus.CounterVec // tenant
	truncated    *prometheus.CounterVec // tenant, what
	tooLarge     *prometheus.CounterVec // tenant
}

// NewLimited returns next behind the limits of ov and registers its
// counters on tel's registry.
func NewLimited(next Consumer, ov *limits.Overrides, tel telemetry.Settings) (*Limited, error) {
	tel = tel.Complete()
	l := &Limited{
		next: next, ov: ov, rate: limits.NewRate(), traces: limits.NewTraceSizes(limits.DefaultTraceWindow, limits.DefaultMaxTracked),
		clock: tel.Clock,
		refusedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scry_limits_rate_limited_bytes_total",
			Help: "Bytes of requests refused (retryable) because their tenant was over its ingestion rate (--limits-file), by tenant.",
		}, []string{"tenant"}),
		truncated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scry_limits_truncated_total",
			Help: "What was cut from spans to their tenant's limits (--limits-file), by tenant and what: attributes, events, links (dropped), values (shortened).",
		}, []string{"tenant", "what"}),
	}
	l.tooLarge = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scry_limits_trace_too_large_spans_total",
		Help: "Spans rejected because their trace was over its tenant's max bytes per trace (--limits-file), by tenant; they count among the receivers' rejected spans (reason invalid).",
	}, []string{"tenant"})
	for _, c := range []prometheus.Collector{l.refusedBytes, l.truncated, l.tooLarge} {
		if err := tel.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("cannot register limits metrics: %w", err)
		}
	}
	return l, nil
}

// ConsumeSpans implements Consumer.
func (l *Limited) ConsumeSpans(ctx context.Context, spans []*model.Span, size int) error {
	tenant := storage.TenantFrom(ctx)
	lim := l.ov.For(tenant)
	now := l.clock.Now()
	if ok, wait := l.rate.Take(tenant, lim, size, now); !ok {
		l.refusedBytes.WithLabelValues(tenant).Add(float64(size))
		return rateLimited{tenant: tenant, wait: wait}
	}
	if t := limits.Truncate(spans, lim); t.Any() {
		for _, c := range [...]struct {
			what string
			n    int
		}{{"attributes", t.Attributes}, {"events", t.Events}, {"links", t.Links}, {"values", t.Values}} {
			if c.n > 0 {
				l.truncated.WithLabelValues(tenant, c.what).Add(float64(c.n))
			}
		}
	}
	var rejected []error
	if lim.MaxBytesPerTrace > 0 {
		spans, rejected = l.traces.Admit(tenant, spans, size, lim.MaxBytesPerTrace, now)
		if len(rejected) > 0 {
			l.tooLarge.WithLabelValues(tenant).Add(float64(len(rejected)))
		}
	}
	var err error
	if len(spans) > 0 {
		err = l.next.ConsumeSpans(ctx, spans, size)
	}
	if len(rejected) == 0 {
		return err
	}
	var rej *storage.RejectedError
	switch {
	case err == nil:
	case errors.As(err, &rej):
		rejected = append(rejected, rej.Errs...)
	default:
		return err
	}
	return NewPermanent(&storage.RejectedError{Errs: rejected})
}
