package agent

import (
	"context"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/scrytrace/scry/model"
)

// forwardLoop sends batches until the buffer is closed and empty, or ctx
// ends; a batch it could not finish then goes back to the buffer.
func (a *Agent) forwardLoop(ctx context.Context) {
	for {
		b, ok := a.buf.take(ctx)
		if !ok {
			return
		}
		if err := a.send(ctx, b.tenant, b.spans); err != nil {
			a.buf.giveBack(b)
			return
		}
		a.buf.done(b)
	}
}

// errorKind is how the agent treats a failed export.
type errorKind int

const (
	retryable errorKind = iota // try again, another address first
	tooLarge                   // split the batch; a single span is dropped
	permanent                  // drop the batch
)

// classify follows OTLP's rules for gRPC exporters: CANCELLED,
// DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE and DATA_LOSS are
// retryable, and RESOURCE_EXHAUSTED when the answer carries RetryInfo
// (without it the request is too large); every other code is permanent.
// hint is the RetryInfo delay, if any.
func classify(err error) (kind errorKind, hint time.Duration) {
	st, ok := status.FromError(err)
	if !ok {
		return retryable, 0
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			hint = max(ri.GetRetryDelay().AsDuration(), time.Millisecond)
		}
	}
	switch st.Code() {
	case codes.Canceled, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange, codes.Unavailable, codes.DataLoss:
		return retryable, hint
	case codes.ResourceExhausted:
		if hint > 0 {
			return retryable, hint
		}
		return tooLarge, 0
	default:
		return permanent, 0
	}
}

// send exports spans of tenant to a collector, with the tenant in the
// Config.TenantHeader metadata unless it is "", retrying (another address
// first, then with backoff) until one acknowledges them or refuses them for
// good. It returns an error only when ctx ends first.
func (a *Agent) send(ctx context.Context, tenant string, spans []*model.Span) error {
	req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: model.SpansToOTLP(spans)}
	for {
		t, wait := a.eps.pick(a.tel.Clock.Now())
		if wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			case <-timer.C:
			}
		}
		if t == nil {
			continue
		}
		start := a.tel.Clock.Now()
		actx, cancel := context.WithTimeout(ctx, a.cfg.ExportTimeout)
		if tenant != "" {
			actx = metadata.AppendToOutgoingContext(actx, a.cfg.TenantHeader, tenant)
		}
		resp, err := t.client.Export(actx, req)
		cancel()
		a.m.exportDuration.Observe(a.tel.Clock.Now().Sub(start).Seconds())
		if err == nil {
			a.eps.succeeded(t)
			rejected := int(min(max(resp.GetPartialSuccess().GetRejectedSpans(), 0), int64(len(spans))))
			if rejected > 0 {
				a.dropped(dropRejected, rejected)
				a.throttled.Warn("collector rejected some spans of a batch; they are dropped",
					"addr", t.addr, "rejected", rejected, "spans", len(spans), "reason", resp.GetPartialSuccess().GetErrorMessage())
			}
			a.m.batches.Inc()
			a.m.forwarded.Add(float64(len(spans) - rejected))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		kind, hint := classify(err)
		switch kind {
		case retryable:
			a.m.retries.Inc()
			a.eps.failed(t, hint, err)
			a.logger.Debug("export to collector failed; retrying", "addr", t.addr, "spans", len(spans), "err", err)
		case tooLarge:
			if len(spans) > 1 {
				half := len(spans) / 2
				if err := a.send(ctx, tenant, spans[:half]); err != nil {
					return err
				}
				return a.send(ctx, tenant, spans[half:])
			}
			a.dropped(dropTooLarge, 1)
			a.throttled.Warn("collector refused a span as too large; it is dropped", "addr", t.addr, "err", err)
			return nil
		default:
			a.dropped(dropRejected, len(spans))
			a.throttled.Warn("collector refused a batch for good; it is dropped", "addr", t.addr, "spans", len(spans), "err", err)
			return nil
		}
	}
}
