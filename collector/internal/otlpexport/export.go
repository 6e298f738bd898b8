package otlpexport

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// Result is the outcome of an export that succeeded, perhaps partially.
type Result struct {
	Spans    int    // spans in the request
	Rejected int    // spans not stored because they were invalid
	Message  string // what was wrong with the rejected spans; "" if none
}

// Export converts the spans of one request and hands the valid ones to c.
// size is the request's size in bytes after decompression. rejected are
// spans the decoder already set aside (counted in the request's spans).
//
// It fails with a permanent error wrapping collector.ErrTooLarge when the
// request has more than maxSpans spans, and with a permanent error when every
// span of a non-empty request is invalid; otherwise a Consumer error is
// returned as is. Some spans rejected and others stored is a Result with
// Rejected > 0, not an error.
func Export(ctx context.Context, c collector.Consumer, rss []*tracepb.ResourceSpans, size, maxSpans int, rejected []error) (Result, error) {
	total := CountSpans(rss) + len(rejected)
	if total > maxSpans {
		return Result{}, collector.NewPermanent(fmt.Errorf("%w: request has %d spans, more than the limit of %d",
			collector.ErrTooLarge, total, maxSpans))
	}
	spans, bad := model.SpansFromOTLP(rss)
	rejected = append(rejected, bad...)
	res := Result{Spans: total}
	if len(spans) > 0 {
		err := c.ConsumeSpans(ctx, spans, size)
		var rej *storage.RejectedError
		switch {
		case errors.As(err, &rej):
			rejected = append(rejected, rej.Errs...)
		case err != nil:
			return Result{}, err
		}
	}
	if len(rejected) == 0 {
		return res, nil
	}
	res.Rejected = len(rejected)
	res.Message = Describe(rejected, total)
	if res.Rejected >= total {
		return Result{}, collector.NewPermanent(errors.New("no valid span in request: " + res.Message))
	}
	return res, nil
}

// CountSpans returns the number of spans in rss.
func CountSpans(rss []*tracepb.ResourceSpans) int {
	n := 0
	for _, rs := range rss {
		for _, ss := range rs.GetScopeSpans() {
			n += len(ss.GetSpans())
		}
	}
	return n
}

// Kind is how a receiver should answer an error.
type Kind int

const (
	// Retry: the client should send the same request later (gRPC
	// UNAVAILABLE with RetryInfo, HTTP 503 with Retry-After).
	Retry Kind = iota
	// Invalid: the request is malformed; sending it again cannot succeed
	// (gRPC INVALID_ARGUMENT, HTTP 400).
	Invalid
	// TooLarge: the request exceeds a limit (gRPC RESOURCE_EXHAUSTED without
	// RetryInfo, HTTP 413).
	TooLarge
)

// Classify returns the Kind of an error from Export.
func Classify(err error) Kind {
	switch {
	case errors.Is(err, collector.ErrTooLarge):
		return TooLarge
	case collector.IsPermanent(err):
		return Invalid
	default:
		return Retry
	}
}

// maxShown is how many rejections a message spells out; maxErrLen caps each
// (span names are the client's and may be long).
const (
	maxShown  = 3
	maxErrLen = 256
)

// Describe summarises the errors of rejected spans out of total.
func Describe(errs []error, total int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "rejected %d of %d spans: ", len(errs), total)
	for i, err := range errs {
		if i == maxShown {
			fmt.Fprintf(&b, "; and %d more", len(errs)-maxShown)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(truncate(err.Error(), maxErrLen))
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
