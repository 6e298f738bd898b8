package agent

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/scrytrace/scry/agent/spool"
	"github.com/scrytrace/scry/model"
)

// chunk is the spans of one intake call (an OTLP export, a UDP packet, a
// spool record), held until every span of it is forwarded or dropped. All
// its spans are of one tenant.
type chunk struct {
	spans   []*model.Span
	tenant  string     // "" for none
	bytes   int64      // estimated memory (spansSize)
	ref     *spool.Ref // its spool record; nil if not spooled
	arrived time.Time

	// Guarded by buffer.mu.
	taken int // spans handed to batches
	left  int // spans not yet done
}

// piece is the spans [from, to) of a chunk in one batch.
type piece struct {
	c        *chunk
	from, to int
}

// batch is what one export sends: spans of one tenant.
type batch struct {
	tenant string
	pieces []piece
	spans  []*model.Span
}

// tenantQueue is the chunks of one tenant with spans not yet taken, oldest
// first.
type tenantQueue struct {
	tenant string
	chunks []*chunk
	queued int // spans not yet taken
}

// bufferStats is what the buffer holds.
type bufferStats struct {
	Spans  int64 // held: waiting, being sent or retried
	Bytes  int64 // estimated memory held or reserved
	Queued int   // waiting for a batch
}

// buffer holds spans from intake until forwarded, bounded by their
// estimated memory, and cuts them into batches of one tenant each: a
// tenant's batch is ready when it has batchSpans spans or its oldest span
// has waited timeout (or at once when flushing). Each tenant's spans are
// batched in arrival order; of the tenants with a batch ready, the one
// whose oldest span waited longest goes first. All methods are safe for
// concurrent use.
type buffer struct {
	maxBytes   int64
	batchSpans int
	timeout    time.Duration
	release    func(*spool.Ref) // called, without the lock, for each spooled chunk fully done

	mu       sync.Mutex
	ready    *sync.Cond     // a batch may be ready, or the buffer closed
	room     *sync.Cond     // bytes were freed
	used     int64          // bytes held or reserved
	held     int64          // spans held
	queues   []*tenantQueue // tenants with spans not yet taken, in no order
	queued   int            // spans not yet taken, of every tenant
	returned []*batch       // batches given back, taken first
	closed   bool           // no more intake; batches are cut at once
	timerAt  time.Time      // when the pending timer fires; zero if none
	timer    *time.Timer
}

func newBuffer(maxBytes int64, batchSpans int, timeout time.Duration, release func(*spool.Ref)) *buffer {
	b := &buffer{maxBytes: maxBytes, batchSpans: batchSpans, timeout: timeout, release: release}
	b.ready = sync.NewCond(&b.mu)
	b.room = sync.NewCond(&b.mu)
	return b
}

// reserve takes n bytes of room, or reports that there is none.
func (b *buffer) reserve(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.maxBytes {
		return false
	}
	b.used += n
	return true
}

// unreserve gives back bytes reserved for a chunk that was not pushed.
func (b *buffer) unreserve(n int64) {
	b.mu.Lock()
	b.used -= n
	b.room.Broadcast()
	b.mu.Unlock()
}

// push queues c, whose bytes were reserved.
func (b *buffer) push(c *chunk) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pushLocked(c)
}

func (b *buffer) pushLocked(c *chunk) {
	c.arrived = time.Now()
	c.left = len(c.spans)
	q := b.queueOf(c.tenant)
	q.chunks = append(q.chunks, c)
	q.queued += len(c.spans)
	b.held += int64(len(c.spans))
	b.queued += len(c.spans)
	switch {
	case q.queued >= b.batchSpans || b.closed:
		b.ready.Signal()
	case len(q.chunks) == 1:
		b.armTimer(c.arrived.Add(b.timeout))
	}
}

// queueOf returns tenant's queue, adding it if it has none. An agent sees
// few tenants (most often one), so a list is quickest. b.mu is held.
func (b *buffer) queueOf(tenant string) *tenantQueue {
	for _, q := range b.queues {
		if q.tenant == tenant {
			return q
		}
	}
	q := &tenantQueue{tenant: tenant}
	b.queues = append(b.queues, q)
	return q
}

// readyQueue returns the queue whose batch is ready, that of the oldest
// waiting span if several are, or nil and when the first will be. b.mu is
// held and b.queued > 0.
func (b *buffer) readyQueue(now time.Time) (*tenantQueue, time.Time) {
	var best *tenantQueue
	var first time.Time
	for _, q := range b.queues {
		due := q.chunks[0].arrived.Add(b.timeout)
		if q.queued >= b.batchSpans || b.closed || !now.Before(due) {
			if best == nil || due.Before(best.chunks[0].arrived.Add(b.timeout)) {
				best = q
			}
		} else if first.IsZero() || due.Before(first) {
			first = due
		}
	}
	return best, first
}

// tryAdd queues c if there is room for it.
func (b *buffer) tryAdd(c *chunk) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+c.bytes > b.maxBytes {
		return false
	}
	b.used += c.bytes
	b.pushLocked(c)
	return true
}

// addWait queues c once there is room for it (a chunk larger than the
// whole buffer when the buffer is empty). It fails when ctx ends or the
// buffer is closed.
func (b *buffer) addWait(ctx context.Context, c *chunk) error {
	stop := context.AfterFunc(ctx, b.wakeAll)
	defer stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.used+c.bytes > b.maxBytes && b.used > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if b.closed {
			return errBufferClosed
		}
		b.room.Wait()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.closed {
		return errBufferClosed
	}
	b.used += c.bytes
	b.pushLocked(c)
	return nil
}

// wakeAll wakes every waiter to look at its context again.
func (b *buffer) wakeAll() {
	b.mu.Lock()
	b.ready.Broadcast()
	b.room.Broadcast()
	b.mu.Unlock()
}

// armTimer makes sure waiters wake at t. b.mu is held.
func (b *buffer) armTimer(t time.Time) {
	if !b.timerAt.IsZero() && !t.Before(b.timerAt) {
		return
	}
	if b.timer != nil {
		b.timer.Stop()
	}
	b.timerAt = t
	b.timer = time.AfterFunc(time.Until(t), func() {
		b.mu.Lock()
		b.timerAt = time.Time{}
		b.ready.Broadcast()
		b.mu.Unlock()
	})
}

// take returns the next batch once one is ready. It returns false when ctx
// ends, or when the buffer is closed and empty.
func (b *buffer) take(ctx context.Context) (*batch, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if ctx.Err() != nil {
			return nil, false
		}
		if len(b.returned) > 0 {
			bt := b.returned[0]
			b.returned = b.returned[1:]
			return bt, true
		}
		if b.queued > 0 {
			q, due := b.readyQueue(time.Now())
			if q != nil {
				bt := b.cut(q, b.batchSpans)
				if b.queued > 0 {
					b.ready.Signal() // more for another taker
				}
				return bt, true
			}
			b.armTimer(due)
		} else if b.closed {
			return nil, false
		}
		b.ready.Wait()
	}
}

// cut takes up to n spans waiting in q, oldest first; q leaves the buffer
// once empty. b.mu is held.
func (b *buffer) cut(q *tenantQueue, n int) *batch {
	bt := &batch{tenant: q.tenant, spans: make([]*model.Span, 0, min(n, q.queued))}
	for n > 0 && len(q.chunks) > 0 {
		c := q.chunks[0]
		k := min(n, len(c.spans)-c.taken)
		p := piece{c: c, from: c.taken, to: c.taken + k}
		c.taken = p.to
		bt.pieces = append(bt.pieces, p)
		bt.spans = append(bt.spans, c.spans[p.from:p.to]...)
		n -= k
		q.queued -= k
		b.queued -= k
		if c.taken == len(c.spans) {
			q.chunks[0] = nil
			q.chunks = q.chunks[1:]
		}
	}
	if len(q.chunks) == 0 {
		i := slices.Index(b.queues, q)
		last := len(b.queues) - 1
		b.queues[i], b.queues[last] = b.queues[last], nil
		b.queues = b.queues[:last]
	}
	return bt
}

// done releases a batch that was forwarded or dropped. A chunk's bytes
// are freed with its last span (its spans share memory until then).
func (b *buffer) done(bt *batch) {
	var refs []*spool.Ref
	b.mu.Lock()
	for _, p := range bt.pieces {
		n := p.to - p.from
		b.held -= int64(n)
		p.c.left -= n
		if p.c.left > 0 {
			continue
		}
		b.used -= p.c.bytes
		if p.c.ref != nil {
			refs = append(refs, p.c.ref)
		}
	}
	b.room.Broadcast()
	b.mu.Unlock()
	for _, r := range refs {
		b.release(r)
	}
}

// giveBack returns a batch that could not be sent, to be taken first.
func (b *buffer) giveBack(bt *batch) {
	b.mu.Lock()
	b.returned = append(b.returned, bt)
	b.ready.Signal()
	b.mu.Unlock()
}

// close stops intake: waiting spans are cut into batches at once, and take
// returns false once nothing waits.
func (b *buffer) close() {
	b.mu.Lock()
	b.closed = true
	if b.timer != nil {
		b.timer.Stop()
	}
	b.ready.Broadcast()
	b.room.Broadcast()
	b.mu.Unlock()
}

// drain takes everything not yet forwarded, as batches of at most n spans.
// Call it once nothing takes batches any more.
func (b *buffer) drain(n int) []*batch {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.returned
	b.returned = nil
	for len(b.queues) > 0 {
		out = append(out, b.cut(b.queues[0], n))
	}
	return out
}

func (b *buffer) stats() bufferStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bufferStats{Spans: b.held, Bytes: b.used, Queued: b.queued}
}
