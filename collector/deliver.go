package collector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// Request is what a receiver decoded from one request.
type Request struct {
	// Spans are the valid spans, handed to the Consumer.
	Spans []*model.Span
	// Rejected has one error for each span the decoder set aside (a bad ID,
	// a field of the wrong type); they count among the request's spans.
	Rejected []error
	// Size is the request's size in bytes after decompression.
	Size int
	// MaxSpans bounds the request's spans, valid or not.
	MaxSpans int
}

// Result is the outcome of a request that was stored, perhaps partially.
type Result struct {
	Spans    int    // spans in the request, valid or not
	Rejected int    // spans not stored because they were invalid
	Message  string // what was wrong with the rejected spans; "" if none
}

// Deliver is every receiver's path from a decoded request to its answer: it
// hands the valid spans to c, waits until they are stored, and counts each
// span of the request on m once as received and once by its outcome.
//
// It fails with a permanent error wrapping ErrTooLarge when the request has
// more than MaxSpans spans, and with a permanent error when every span of a
// non-empty request is invalid; otherwise a Consumer error is returned as
// is. Some spans rejected (by the decoder or by the store) and the others
// stored is a Result with Rejected > 0, not an error. A request without
// spans is stored trivially.
func Deliver(ctx context.Context, c Consumer, m *TransportMetrics, req Request) (Result, error) {
	total := len(req.Spans) + len(req.Rejected)
	m.Received(total)
	if total > req.MaxSpans {
		m.Rejected(ReasonTooLarge, total)
		return Result{}, NewPermanent(fmt.Errorf("%w: request has %d spans, more than the limit of %d",
			ErrTooLarge, total, req.MaxSpans))
	}
	rejected := req.Rejected
	m.Rejected(ReasonInvalid, len(rejected))
	if n := len(req.Spans); n > 0 {
		err := c.ConsumeSpans(ctx, req.Spans, req.Size)
		var rej *storage.RejectedError
		switch {
		case err == nil:
			m.Accepted(n)
		case errors.As(err, &rej):
			m.Rejected(ReasonInvalid, len(rej.Errs))
			m.Accepted(n - len(rej.Errs))
			rejected = append(rejected, rej.Errs...)
		default:
			m.Failed(err, n)
			return Result{}, err
		}
	}
	res := Result{Spans: total, Rejected: len(rejected)}
	if res.Rejected == 0 {
		return res, nil
	}
	res.Message = Describe(rejected, total)
	if res.Rejected >= total {
		return Result{}, NewPermanent(errors.New("no valid span in request: " + res.Message))
	}
	return res, nil
}

// ErrorKind is how a receiver answers an error from Deliver.
type ErrorKind int

const (
	// KindRetry: the client should send the same request later (gRPC
	// UNAVAILABLE with RetryInfo, HTTP 503 with Retry-After).
	KindRetry ErrorKind = iota
	// KindInvalid: the request is malformed; sending it again cannot
	// succeed (gRPC INVALID_ARGUMENT, HTTP 400).
	KindInvalid
	// KindTooLarge: the request exceeds a limit (gRPC RESOURCE_EXHAUSTED
	// without RetryInfo, HTTP 413).
	KindTooLarge
	// KindRateLimited: the tenant is over its ingestion rate; the client
	// should send the same request after RetryAfterOf (gRPC
	// RESOURCE_EXHAUSTED with RetryInfo, HTTP 429 with Retry-After), which
	// OpenTelemetry SDKs do.
	KindRateLimited
)

// Classify returns how to answer err.
func Classify(err error) ErrorKind {
	switch {
	case errors.Is(err, ErrRateLimited):
		return KindRateLimited
	case errors.Is(err, ErrTooLarge):
		return KindTooLarge
	case IsPermanent(err):
		return KindInvalid
	default:
		return KindRetry
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
