// Package red aggregates RED metrics (requests, errors, duration) from every
// span the collector commits: a storage.Writer in front of the store that,
// once a write has succeeded, counts its spans per tenant, service,
// operation, span kind, status code and the configured dimensions, into
// log-linear latency histograms (storage.Histogram), and writes one point
// per series and step to a storage.REDWriter (the Badger store) when the
// step is over.
//
// Spans are counted in the step they arrive in (as the OpenTelemetry
// Collector's spanmetrics connector does), so a span sent late is not
// lost and memory holds only the current step.
//
// Memory is bounded whatever the cardinality: each label (service; the
// operations of a service; each dimension) takes at most
// MaxValuesPerDimension values per tenant, the rest are counted under
// storage.OtherValue; a step holds at most MaxSeries series per tenant, the
// spans of further series are counted in one series whose labels are all
// storage.OtherValue. scry_red_folded_spans_total counts what was folded.
//
// Durability: a step's points are written when the step ends and on
// Shutdown; a process killed with SIGKILL loses the counts of the step
// under way (at most one step, 15 s by default) — never spans.
package red

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// Defaults of Config.
const (
	DefaultStep = 15 * time.Second
	// DefaultMaxValuesPerDimension: 1000 operations of a service or values
	// of a dimension are more than a chart or a table can show.
	DefaultMaxValuesPerDimension = 1000
	// DefaultMaxSeries bounds one tenant's series in a step. A series
	// costs ~100 B plus 8 B per latency bucket in use (~50-150 for a
	// real service): 20000 series are at most ~30 MB.
	DefaultMaxSeries = 20000
	// maxPending is how many steps wait for the store before the oldest
	// is dropped (counted) when the store keeps failing.
	maxPending = 40
)

// Config configures the aggregator. Start from DefaultConfig.
type Config struct {
	// Step is the width of a point. Default DefaultStep.
	Step time.Duration
	// Dimensions are attribute keys (span attributes first, then resource
	// attributes) every series is also split by.
	Dimensions []string
	// MaxValuesPerDimension bounds, per tenant, the services, each
	// service's operations and each dimension's values.
	MaxValuesPerDimension int
	// MaxSeries bounds one tenant's series in one step.
	MaxSeries int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Step: DefaultStep, MaxValuesPerDimension: DefaultMaxValuesPerDimension, MaxSeries: DefaultMaxSeries}
}

// Validate reports what is wrong with c.
func (c *Config) Validate() error {
	var errs []error
	if c.Step < time.Second {
		errs = append(errs, fmt.Errorf("RED step %s is shorter than 1s", c.Step))
	}
	if c.Step > 0 && time.Minute%c.Step != 0 && c.Step != 5*time.Minute {
		errs = append(errs, fmt.Errorf("RED step %s does not divide 1m (or is 5m), the steps of the stored roll-ups", c.Step))
	}
	if c.MaxValuesPerDimension < 1 {
		errs = append(errs, fmt.Errorf("RED max series per dimension must be positive, got %d", c.MaxValuesPerDimension))
	}
	if c.MaxSeries < 1 {
		errs = append(errs, fmt.Errorf("RED max series must be positive, got %d", c.MaxSeries))
	}
	seen := map[string]bool{}
	for _, d := range c.Dimensions {
		if d == "" {
			errs = append(errs, errors.New("RED dimension is empty"))
		}
		if seen[d] {
			errs = append(errs, fmt.Errorf("RED dimension %q is given twice", d))
		}
		seen[d] = true
	}
	return errors.Join(errs...)
}

// Aggregator is a storage.Writer that aggregates what it writes. Safe for
// concurrent use. Start begins flushing steps; Shutdown flushes the step
// under way.
type Aggregator struct {
	next storage.Writer
	sink storage.REDWriter
	cfg  Config
	step uint64
	log  *slog.Logger
	clk  telemetry.Clock
	m    metrics

	mu       sync.Mutex
	curStart uint64
	cur      map[string]*tenantStep // by tenant
	pending  []closedStep
	seen     map[string]*tenantSeen // by tenant
	keyBuf   []byte
	// counted holds the spans counted from a write that rejected some of
	// its spans: the queue writes such a batch again request by request
	// (collector/queue), and those spans must not count twice. Cleared at
	// each step.
	counted map[*model.Span]struct{}

	flushMu  sync.Mutex // one flush at a time
	stop     chan struct{}
	done     chan struct{}
	lifeMu   sync.Mutex
	started  bool
	shutdown bool
}

type closedStep struct {
	start uint64
	steps map[string]*tenantStep
}

// tenantStep is one tenant's series of the current step.
type tenantStep struct {
	series map[string]*storage.REDPoint
}

// tenantSeen holds the label values a tenant has used, for the limits.
type tenantSeen struct {
	services map[string]map[string]struct{} // service -> its operations
	dims     []map[string]struct{}          // per dimension
}

type metrics struct {
	folded  *prometheus.CounterVec
	series  prometheus.Gauge
	written prometheus.Counter
	failed  prometheus.Counter
	dropped prometheus.Counter
}

// New returns an aggregator in front of next that writes its points to
// sink.
func New(cfg Config, next storage.Writer, sink storage.REDWriter, tel telemetry.Settings) (*Aggregator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid RED config: %w", err)
	}
	if next == nil || sink == nil {
		return nil, errors.New("cannot create RED aggregator: writer or series store is nil")
	}
	tel = tel.Complete()
	a := &Aggregator{next: next, sink: sink, cfg: cfg, step: uint64(cfg.Step), log: tel.Logger, clk: tel.Clock,
		cur: map[string]*tenantStep{}, seen: map[string]*tenantSeen{}}
	a.m = metrics{
		folded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scry_red_folded_spans_total",
			Help: "Spans counted under __other__ in RED metrics because a label (service, operation, a --red-dimensions key; series: the series limit) had too many values.",
		}, []string{"dimension"}),
		series: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scry_red_series", Help: "RED series in the step under way, all tenants.",
		}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scry_red_points_written_total", Help: "RED points (a series' step) written to the store.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scry_red_flush_errors_total", Help: "RED flushes that failed (retried at the next step).",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scry_red_points_dropped_total", Help: "RED points dropped because the store failed for too many steps in a row.",
		}),
	}
	for _, c := range []prometheus.Collector{a.m.folded, a.m.series, a.m.written, a.m.failed, a.m.dropped} {
		if err := tel.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("cannot register RED metrics: %w", err)
		}
	}
	return a, nil
}

// WriteSpans writes spans to the next writer and, if that succeeded (for
// the spans it kept, on a *storage.RejectedError), counts them.
func (a *Aggregator) WriteSpans(ctx context.Context, spans []*model.Span) error {
	err := a.next.WriteSpans(ctx, spans)
	var rej *storage.RejectedError
	switch {
	case err == nil:
		a.Observe(ctx, spans, false)
	case errors.As(err, &rej):
		a.Observe(ctx, spans, true)
		a.mu.Lock()
		if a.counted == nil {
			a.counted = map[*model.Span]struct{}{}
		}
		if len(a.counted) < maxRecount {
			for _, sp := range spans {
				a.counted[sp] = struct{}{}
			}
		}
		a.mu.Unlock()
	}
	return err
}

// maxRecount bounds Aggregator.counted.
const maxRecount = 1 << 16

// Observe counts spans for the tenant of ctx; with checkIDs, spans a store
// would reject (nil, zero IDs) are skipped.
func (a *Aggregator) Observe(ctx context.Context, spans []*model.Span, checkIDs bool) {
	tenant := storage.TenantFrom(ctx)
	now := uint64(a.clk.Now().UnixNano())
	start := now - now%a.step
	a.mu.Lock()
	defer a.mu.Unlock()
	if start != a.curStart {
		a.rotateLocked(start)
	}
	ts := a.cur[tenant]
	if ts == nil {
		ts = &tenantStep{series: map[string]*storage.REDPoint{}}
		a.cur[tenant] = ts
	}
	seen := a.seen[tenant]
	if seen == nil {
		seen = &tenantSeen{services: map[string]map[string]struct{}{}, dims: make([]map[string]struct{}, len(a.cfg.Dimensions))}
		for i := range seen.dims {
			seen.dims[i] = map[string]struct{}{}
		}
		a.seen[tenant] = seen
	}
	var dimVals [8]string
	for _, sp := range spans {
		if sp == nil || (checkIDs && sp.ValidateIDs() != nil) {
			continue
		}
		if _, ok := a.counted[sp]; ok {
			delete(a.counted, sp) // written again after a partial rejection
			continue
		}
		svc, ops := a.service(seen, sp.ServiceName())
		op := a.limit(ops, sp.Name, "operation")
		vals := dimVals[:0]
		for i, k := range a.cfg.Dimensions {
			vals = append(vals, a.limit(seen.dims[i], attr(sp, k), k))
		}
		b := a.keyBuf[:0]
		b = appendKey(b, svc, op, sp.Kind, sp.Status.Code, vals)
		p := ts.series[string(b)]
		if p == nil {
			if len(ts.series) >= a.cfg.MaxSeries {
				a.m.folded.WithLabelValues("series").Inc()
				for i := range vals {
					vals[i] = storage.OtherValue
				}
				svc, op = storage.OtherValue, storage.OtherValue
				b = appendKey(b[:0], svc, op, sp.Kind, sp.Status.Code, vals)
				p = ts.series[string(b)]
			}
			if p == nil {
				p = &storage.REDPoint{Series: storage.REDSeries{Service: svc, Operation: op, Kind: sp.Kind, Status: sp.Status.Code}, Start: start, Step: a.step}
				for i, k := range a.cfg.Dimensions {
					p.Series.Dims = append(p.Series.Dims, storage.REDDim{Key: k, Value: vals[i]})
				}
				ts.series[string(b)] = p
				a.m.series.Inc()
			}
		}
		a.keyBuf = b
		d := sp.Duration()
		isErr := sp.Status.Code == model.StatusError
		p.Calls++
		if isErr {
			p.Errors++
		}
		p.Latency.Observe(d)
		p.AddExemplar(storage.Exemplar{TraceID: sp.TraceID, SpanID: sp.SpanID, Duration: d, Error: isErr})
	}
}

func appendKey(b []byte, svc, op string, kind model.SpanKind, status model.StatusCode, vals []string) []byte {
	b = append(b, svc...)
	b = append(b, 0)
	b = append(b, op...)
	b = append(b, 0, byte(kind), byte(status))
	for _, v := range vals {
		b = append(b, 0)
		b = append(b, v...)
	}
	return b
}

// service returns the service's name within the limit and its operations.
func (a *Aggregator) service(seen *tenantSeen, name string) (string, map[string]struct{}) {
	if ops, ok := seen.services[name]; ok {
		return name, ops
	}
	if len(seen.services) >= a.cfg.MaxValuesPerDimension {
		a.m.folded.WithLabelValues("service").Inc()
		name = storage.OtherValue
		if ops, ok := seen.services[name]; ok {
			return name, ops
		}
	}
	ops := map[string]struct{}{}
	seen.services[name] = ops
	return name, ops
}

// limit returns v, or storage.OtherValue once set holds the most values and
// v is not one of them.
func (a *Aggregator) limit(set map[string]struct{}, v, dim string) string {
	if _, ok := set[v]; ok {
		return v
	}
	if len(set) >= a.cfg.MaxValuesPerDimension {
		a.m.folded.WithLabelValues(dim).Inc()
		return storage.OtherValue
	}
	set[v] = struct{}{}
	return v
}

// attr returns the value of span attribute k, else of resource attribute
// k, else "".
func attr(sp *model.Span, k string) string {
	for i := range sp.Attributes {
		if sp.Attributes[i].Key == k {
			return sp.Attributes[i].Value.String()
		}
	}
	if sp.Resource != nil {
		for i := range sp.Resource.Attributes {
			if sp.Resource.Attributes[i].Key == k {
				return sp.Resource.Attributes[i].Value.String()
			}
		}
	}
	return ""
}

// rotateLocked closes the current step and starts the one at start.
func (a *Aggregator) rotateLocked(start uint64) {
	if len(a.cur) > 0 {
		a.pending = append(a.pending, closedStep{start: a.curStart, steps: a.cur})
		a.cur = map[string]*tenantStep{}
		a.m.series.Set(0)
		if len(a.pending) > maxPending {
			for _, ts := range a.pending[0].steps {
				a.m.dropped.Add(float64(len(ts.series)))
			}
			a.pending = a.pending[1:]
		}
	}
	a.curStart = start
	a.counted = nil
}

// Flush writes the steps that are over; with all, the one under way too.
func (a *Aggregator) Flush(ctx context.Context, all bool) error {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	now := uint64(a.clk.Now().UnixNano())
	a.mu.Lock()
	if start := now - now%a.step; all || start != a.curStart {
		a.rotateLocked(start)
	}
	pending := a.pending
	a.pending = nil
	a.mu.Unlock()
	for i, cs := range pending {
		for tenant, ts := range cs.steps {
			pts := make([]storage.REDPoint, 0, len(ts.series))
			for _, p := range ts.series {
				pts = append(pts, *p)
			}
			if err := a.sink.WriteRED(storage.WithTenant(ctx, tenant), pts); err != nil {
				a.m.failed.Inc()
				// Put back what is not written yet, before anything newer.
				a.mu.Lock()
				a.pending = append(pending[i:len(pending):len(pending)], a.pending...)
				a.mu.Unlock()
				return fmt.Errorf("cannot write RED metrics: %w", err)
			}
			delete(cs.steps, tenant)
			a.m.written.Add(float64(len(pts)))
		}
	}
	return nil
}

// Start begins writing each step when it is over (checked every second, or
// every step if shorter).
func (a *Aggregator) Start(context.Context) error {
	a.lifeMu.Lock()
	defer a.lifeMu.Unlock()
	if a.started || a.shutdown {
		return errors.New("cannot start RED aggregator: started before")
	}
	a.started = true
	a.stop, a.done = make(chan struct{}), make(chan struct{})
	go a.loop()
	return nil
}

func (a *Aggregator) loop() {
	defer close(a.done)
	t := time.NewTicker(min(time.Second, a.cfg.Step))
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			if err := a.Flush(context.Background(), false); err != nil {
				a.log.Warn("cannot write RED metrics, retrying", "err", err)
			}
		}
	}
}

// Shutdown stops the loop and writes every step, the one under way too.
// Safe to call twice. Shut it down after the parts that write spans through
// it (the queue) and before the store.
func (a *Aggregator) Shutdown(ctx context.Context) error {
	a.lifeMu.Lock()
	defer a.lifeMu.Unlock()
	if a.shutdown {
		return nil
	}
	a.shutdown = true
	if a.started {
		close(a.stop)
		select {
		case <-a.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return a.Flush(ctx, true)
}
