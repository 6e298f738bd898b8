package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// Defaults of Config.
const (
	DefaultMaxBytes      = 64 << 20 // 64 MiB of requests, as received
	DefaultMaxBatchSpans = 5000
	DefaultWriters       = 2
)

// Config sets up a Queue.
type Config struct {
	// MaxBytes bounds the bytes (as passed to ConsumeSpans) of the requests
	// accepted and not yet answered. A request that does not fit is refused
	// with collector.ErrQueueFull; one larger than MaxBytes on its own is
	// refused with a permanent error wrapping collector.ErrTooLarge.
	MaxBytes int64
	// MaxBatchSpans caps the spans of one commit. A single request with more
	// spans is still written, alone, in one commit.
	MaxBatchSpans int
	// Writers is the number of goroutines committing batches concurrently.
	Writers int
}

// DefaultConfig returns the defaults: 64 MiB, batches of up to 5000 spans,
// two writers.
func DefaultConfig() Config {
	return Config{MaxBytes: DefaultMaxBytes, MaxBatchSpans: DefaultMaxBatchSpans, Writers: DefaultWriters}
}

// Validate reports what is wrong with c, if anything.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("max bytes must be positive, got %d", c.MaxBytes))
	}
	if c.MaxBatchSpans <= 0 {
		errs = append(errs, fmt.Errorf("max batch spans must be positive, got %d", c.MaxBatchSpans))
	}
	if c.Writers <= 0 {
		errs = append(errs, fmt.Errorf("writers must be positive, got %d", c.Writers))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid queue config: %w", err)
	}
	return nil
}

// Stats is a snapshot of what a Queue holds: the requests accepted and not
// yet answered, whether waiting for a writer or being written.
type Stats struct {
	Requests int
	Spans    int64
	Bytes    int64
}

// Queue is a bounded queue in front of a storage.Writer that commits the
// spans of concurrent requests together. It implements collector.Consumer.
// All methods are safe for concurrent use.
type Queue struct {
	cfg    Config
	w      storage.Writer
	logger *slog.Logger
	clock  telemetry.Clock
	m      *metrics

	mu      sync.Mutex
	cond    *sync.Cond // signalled when pending grows or the state changes
	state   state
	pending []*request // FIFO of requests not yet taken by a writer
	held    Stats      // accepted and not yet answered

	writeCtx     context.Context // context of every storage write
	cancelWrites context.CancelFunc
	done         chan struct{} // closed once every writer has exited
}

type state int

const (
	stateNew state = iota
	stateRunning
	stateStopping
)

// request is one ConsumeSpans call.
type request struct {
	spans  []*model.Span
	size   int64
	tenant string     // of the call's context (storage.TenantFrom)
	result chan error // buffered: a writer never blocks answering
}

var _ collector.Consumer = (*Queue)(nil)

// New returns a queue writing to w, its metrics registered on
// tel.Registerer.
func New(cfg Config, w storage.Writer, tel telemetry.Settings) (*Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if w == nil {
		return nil, errors.New("cannot create queue: storage writer is nil")
	}
	tel = tel.Complete()
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{
		cfg:          cfg,
		w:            w,
		logger:       tel.Logger,
		clock:        tel.Clock,
		writeCtx:     ctx,
		cancelWrites: cancel,
		done:         make(chan struct{}),
	}
	q.cond = sync.NewCond(&q.mu)
	m, err := newMetrics(tel.Registerer, q)
	if err != nil {
		cancel()
		return nil, err
	}
	q.m = m
	return q, nil
}

// Start starts the writers. Requests accepted before Start wait for it. The
// context is not kept: the writers run until Shutdown.
func (q *Queue) Start(_ context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.state != stateNew {
		return errors.New("cannot start queue: already started or shut down")
	}
	q.state = stateRunning
	var wg sync.WaitGroup
	for range q.cfg.Writers {
		wg.Go(q.writer)
	}
	go func() {
		wg.Wait()
		close(q.done)
	}()
	return nil
}

// Shutdown stops accepting requests, writes every request already accepted
// and waits for the writers to exit. If ctx ends first, the writes still
// pending are aborted (their callers get an error) and Shutdown returns ctx's
// error. It is safe to call more than once and from several goroutines.
func (q *Queue) Shutdown(ctx context.Context) error {
	q.mu.Lock()
	switch q.state {
	case stateNew: // never started: nothing will write what waits
		q.state = stateStopping
		for _, r := range q.pending {
			q.release(r)
			r.result <- collector.ErrStopped
		}
		q.pending = nil
		close(q.done)
	case stateRunning:
		q.state = stateStopping
		q.cond.Broadcast()
	}
	q.mu.Unlock()

	select {
	case <-q.done:
		q.cancelWrites()
		return nil
	case <-ctx.Done():
		q.cancelWrites()
		return fmt.Errorf("cannot drain queue: %w", ctx.Err())
	}
}

// Stats returns what the queue holds now.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.held
}

// ConsumeSpans enqueues the spans of one request, of size bytes, and waits
// until they are committed. It fails at once with collector.ErrQueueFull when
// the queue has no room, with collector.ErrStopped after Shutdown began, and
// with a permanent error wrapping collector.ErrTooLarge when size exceeds
// Config.MaxBytes. When ctx ends first it returns ctx's error; the spans are
// still written (delivery is at-least-once, and a retry stores them once).
//
// A store's *storage.RejectedError comes back marked permanent and names only
// spans of this request; every other span of it was stored. Any other store
// error, storage.ErrNoSpace among them, comes back wrapped and retryable, for
// every request of the failed commit: none is answered as stored.
func (q *Queue) ConsumeSpans(ctx context.Context, spans []*model.Span, size int) error {
	if len(spans) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot enqueue spans: %w", err)
	}
	r := &request{spans: spans, size: int64(max(size, 0)), tenant: storage.TenantFrom(ctx), result: make(chan error, 1)}
	if err := q.push(r); err != nil {
		return err
	}
	select {
	case err := <-r.result:
		return err
	case <-ctx.Done():
		return fmt.Errorf("gave up waiting for spans to be stored: %w", ctx.Err())
	}
}

func (q *Queue) push(r *request) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.state == stateStopping:
		q.m.refused.WithLabelValues(reasonStopped).Inc()
		return collector.ErrStopped
	case r.size > q.cfg.MaxBytes:
		q.m.refused.WithLabelValues(reasonTooLarge).Inc()
		return collector.NewPermanent(fmt.Errorf("%w: request of %d bytes exceeds the queue's capacity of %d bytes",
			collector.ErrTooLarge, r.size, q.cfg.MaxBytes))
	case q.held.Bytes+r.size > q.cfg.MaxBytes:
		q.m.refused.WithLabelValues(reasonFull).Inc()
		return collector.ErrQueueFull
	}
	q.pending = append(q.pending, r)
	q.held.Requests++
	q.held.Spans += int64(len(r.spans))
	q.held.Bytes += r.size
	q.cond.Signal()
	return nil
}

// release gives back what r held. q.mu must be held.
func (q *Queue) release(r *request) {
	q.held.Requests--
	q.held.Spans -= int64(len(r.spans))
	q.held.Bytes -= r.size
}

// writer commits batches until the queue is stopping and drained.
func (q *Queue) writer() {
	for {
		batch := q.take()
		if batch == nil {
			return
		}
		q.commit(batch)
	}
}

// take waits for requests and removes the oldest ones, up to MaxBatchSpans
// spans (at least one request). It returns nil when the queue is stopping
// and nothing is left.
func (q *Queue) take() []*request {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.pending) == 0 && q.state != stateStopping {
		q.cond.Wait()
	}
	if len(q.pending) == 0 {
		return nil
	}
	n, spans := 0, 0
	for n < len(q.pending) {
		s := len(q.pending[n].spans)
		if n > 0 && spans+s > q.cfg.MaxBatchSpans {
			break
		}
		spans += s
		n++
	}
	batch := make([]*request, n)
	copy(batch, q.pending)
	clear(q.pending[:n])
	q.pending = q.pending[n:]
	if len(q.pending) == 0 {
		q.pending = nil // let the backing array go
	}
	return batch
}

// commit writes a batch and answers its requests: with one WriteSpans call
// when they are all of one tenant (the usual case), else with one for each
// tenant, each with its own tenant on the context, so that no request's
// spans are stored for another's tenant.
func (q *Queue) commit(batch []*request) {
	start := q.clock.Now()
	results := make([]error, len(batch))
	n := 0
	if mixed(batch) {
		for _, part := range byTenant(batch) {
			n += q.write(part.reqs, part.idx, results)
		}
	} else {
		n = q.write(batch, nil, results)
	}
	q.m.commitDuration.Observe(q.clock.Now().Sub(start).Seconds())
	q.m.commitSpans.Observe(float64(n))

	q.mu.Lock()
	for _, r := range batch {
		q.release(r)
	}
	q.mu.Unlock()

	failed := false
	for i, r := range batch {
		r.result <- q.outcome(r, results[i], &failed)
	}
	if failed {
		q.m.commitErrors.Inc()
	}
}

// mixed reports whether batch holds requests of more than one tenant.
func mixed(batch []*request) bool {
	for _, r := range batch[1:] {
		if r.tenant != batch[0].tenant {
			return true
		}
	}
	return false
}

// part is the requests of one tenant in a batch, with their indexes.
type part struct {
	reqs []*request
	idx  []int
}

// byTenant splits batch by tenant, in the order each first appears.
func byTenant(batch []*request) []part {
	var parts []part
	at := map[string]int{}
	for i, r := range batch {
		j, ok := at[r.tenant]
		if !ok {
			j = len(parts)
			at[r.tenant] = j
			parts = append(parts, part{})
		}
		parts[j].reqs = append(parts[j].reqs, r)
		parts[j].idx = append(parts[j].idx, i)
	}
	return parts
}

// write stores the spans of reqs, all of one tenant, with one WriteSpans
// call, and sets each one's error in results (at idx[i], or i when idx is
// nil). It returns the spans written.
func (q *Queue) write(reqs []*request, idx []int, results []error) int {
	ctx := q.writeCtx
	if t := reqs[0].tenant; t != "" {
		ctx = storage.WithTenant(ctx, t)
	}
	all := reqs[0].spans
	if len(reqs) > 1 {
		n := 0
		for _, r := range reqs {
			n += len(r.spans)
		}
		all = make([]*model.Span, 0, n)
		for _, r := range reqs {
			all = append(all, r.spans...)
		}
	}
	at := func(i int) int {
		if idx == nil {
			return i
		}
		return idx[i]
	}
	err := q.w.WriteSpans(ctx, all)
	var rej *storage.RejectedError
	if len(reqs) > 1 && errors.As(err, &rej) {
		// Find out whose spans were rejected: write each request again on
		// its own. Writes are idempotent, so stored spans stay stored once.
		for i, r := range reqs {
			results[at(i)] = q.w.WriteSpans(ctx, r.spans)
		}
	} else {
		for i := range reqs {
			results[at(i)] = err
		}
	}
	return len(all)
}

// outcome turns a write's error into the answer for r and counts its spans.
func (q *Queue) outcome(r *request, err error, failed *bool) error {
	if err == nil {
		q.m.committed.Add(float64(len(r.spans)))
		return nil
	}
	var rej *storage.RejectedError
	if errors.As(err, &rej) {
		q.m.rejected.Add(float64(len(rej.Errs)))
		q.m.committed.Add(float64(max(len(r.spans)-len(rej.Errs), 0)))
		return collector.NewPermanent(err)
	}
	// A full disk is said once per episode by the store, not per commit.
	if !*failed && !errors.Is(err, storage.ErrNoSpace) {
		q.logger.Warn("cannot store spans", "spans", len(r.spans), "error", err)
	}
	*failed = true
	return fmt.Errorf("cannot store spans: %w", err)
}
