package agent

import (
	"context"
	"errors"
	"fmt"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/agent/spool"
	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// otlpConsumer takes the spans of OTLP exports into the buffer: it is the
// collector.Consumer of the agent's OTLP receivers, which count the spans.
type otlpConsumer struct{ a *Agent }

var _ collector.Consumer = otlpConsumer{}

// Retryable refusals when the buffer or the spool has no room, counted
// under the reasons buffer_full and spool_full.
var (
	errBufferFull = collector.WithReason(collector.ReasonBufferFull,
		fmt.Errorf("%w: the agent's buffer is full", collector.ErrQueueFull))
	errSpoolFull = collector.WithReason(refusedSpoolFull,
		fmt.Errorf("%w: the agent's spool is full", collector.ErrQueueFull))
)

// ConsumeSpans returns nil once the spans are in the buffer, and in the
// spool when there is one. A full buffer or spool wraps
// collector.ErrQueueFull (the sender retries later).
// The spans are of the tenant the export's headers name, else of
// Config.Tenant; malformed tenant headers make a permanent error and
// nothing is taken.
func (c otlpConsumer) ConsumeSpans(ctx context.Context, spans []*model.Span, _ int) error {
	tenant, err := c.a.tenantOf(ctx)
	if err != nil {
		return err
	}
	return c.a.accept(tenant, spans)
}

// accept puts spans of tenant in the buffer, writing them to the spool
// first when there is one.
func (a *Agent) accept(tenant string, spans []*model.Span) error {
	if a.stopping.Load() {
		return collector.ErrStopped
	}
	c := &chunk{spans: spans, tenant: tenant, bytes: spansSize(spans)}
	if c.bytes > a.cfg.BufferBytes {
		return collector.NewPermanent(fmt.Errorf("%w: the request's spans take about %d bytes, more than the agent's whole buffer (%d)",
			collector.ErrTooLarge, c.bytes, a.cfg.BufferBytes))
	}
	if !a.buf.reserve(c.bytes) {
		return errBufferFull
	}
	if a.spool != nil {
		ref, err := a.spoolSpans(tenant, spans)
		if err != nil {
			a.buf.unreserve(c.bytes)
			return err
		}
		c.ref = ref
	}
	a.buf.push(c)
	return nil
}

// spoolSpans writes spans of tenant to the spool as one record and returns
// its ref.
func (a *Agent) spoolSpans(tenant string, spans []*model.Span) (*spool.Ref, error) {
	payload, err := proto.Marshal(&tracepb.TracesData{ResourceSpans: model.SpansToOTLP(spans)})
	if err != nil {
		return nil, fmt.Errorf("cannot encode spans for the spool: %w", err)
	}
	ref, err := a.spool.Append(tenant, payload)
	switch {
	case errors.Is(err, spool.ErrFull):
		return nil, errSpoolFull
	case err != nil:
		return nil, fmt.Errorf("cannot write spans to the spool: %w", err)
	}
	return ref, nil
}

// replaySpool feeds the records left in the spool by an earlier run into
// the buffer, each into its tenant, waiting for room, until they are all in
// or ctx ends.
func (a *Agent) replaySpool(ctx context.Context) {
	st, err := a.spool.Replay(ctx, func(tenant string, payload []byte, ref *spool.Ref) error {
		var td tracepb.TracesData
		if err := proto.Unmarshal(payload, &td); err != nil {
			// Its checksum held, so this is a bug or another format; how
			// many spans it had is unknown.
			a.logger.Error("cannot decode a spool record; it is dropped", "bytes", len(payload), "err", err)
			a.spool.Release(ref)
			return nil
		}
		spans, rejected := model.SpansFromOTLP(td.GetResourceSpans())
		m := a.intake[transportSpool]
		m.Received(len(spans) + len(rejected))
		if tenant != "" {
			if err := storage.ValidateTenant(tenant); err != nil {
				// Its checksum held, so this is a bug or a hand-made file;
				// sending its spans to another tenant is not an option.
				a.logger.Error("a spool record names an invalid tenant; its spans are dropped", "spans", len(spans)+len(rejected), "err", err)
				m.Rejected(collector.ReasonInvalid, len(spans)+len(rejected))
				a.dropped(dropSpoolBad, len(spans)+len(rejected))
				a.spool.Release(ref)
				return nil
			}
		}
		if len(rejected) > 0 {
			m.Rejected(collector.ReasonInvalid, len(rejected))
			a.dropped(dropSpoolBad, len(rejected))
		}
		if len(spans) == 0 {
			a.spool.Release(ref)
			return nil
		}
		if err := a.buf.addWait(ctx, &chunk{spans: spans, tenant: tenant, bytes: spansSize(spans), ref: ref}); err != nil {
			m.Refused(collector.ReasonStopped, len(spans)) // they stay in the spool
			return err
		}
		m.Accepted(len(spans))
		return nil
	})
	switch {
	case err != nil && ctx.Err() == nil && !errors.Is(err, errBufferClosed):
		a.logger.Error("cannot read back the spool", "err", err)
	case err == nil && st.Records > 0:
		a.logger.Info("read back spans spooled by an earlier run", "records", st.Records, "bytes", st.Bytes, "damaged_segments", st.Damaged)
	}
}

// errBufferClosed is addWait's error once the buffer is closed.
var errBufferClosed = errors.New("buffer is closed")

// spoolLeftovers writes what the buffer still holds at shutdown to the
// spool (or counts it dropped without one) and returns the spans dropped.
func (a *Agent) spoolLeftovers() int {
	var dropped, spooled int
	for _, b := range a.buf.drain(a.cfg.BatchSpans) {
		var spans []*model.Span
		for _, p := range b.pieces {
			if p.c.ref == nil { // spooled chunks are on disk already
				spans = append(spans, p.c.spans[p.from:p.to]...)
			}
		}
		if len(spans) == 0 {
			continue
		}
		if a.spool != nil {
			_, err := a.spoolSpans(b.tenant, spans) // kept on disk for the next start
			if err == nil {
				spooled += len(spans)
				continue
			}
			a.logger.Error("cannot spool spans at shutdown", "spans", len(spans), "err", err)
		}
		dropped += len(spans)
	}
	if spooled > 0 {
		a.logger.Info("spooled the spans not forwarded; they are sent after the next start", "spans", spooled)
	}
	if dropped > 0 {
		a.dropped(dropShutdown, dropped)
	}
	return dropped
}
