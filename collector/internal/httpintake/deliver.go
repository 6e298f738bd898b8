package httpintake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/collector/internal/otlpexport"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// Result is the outcome of a request that was stored, perhaps partially.
type Result struct {
	Spans    int    // spans in the request, valid or not
	Rejected int    // spans not stored because they were invalid
	Message  string // what was wrong with the rejected spans; "" if none
}

// Deliver hands the valid spans of one request to c and waits until they
// are stored. rejected are the spans the decoder set aside (counted in the
// request's spans, and reported to c with collector.RecordRejected); size is
// the request's size in bytes after decompression.
//
// It fails with a permanent error wrapping collector.ErrTooLarge when the
// request has more than maxSpans spans, and with a permanent error when every
// span of a non-empty request is invalid; otherwise a Consumer error is
// returned as is. Some spans rejected and the others stored is a Result with
// Rejected > 0, not an error. A request without spans is stored trivially.
func Deliver(ctx context.Context, c collector.Consumer, spans []*model.Span, rejected []error, size, maxSpans int) (Result, error) {
	total := len(spans) + len(rejected)
	if total > maxSpans {
		return Result{}, collector.NewPermanent(fmt.Errorf("%w: request has %d spans, more than the limit of %d",
			collector.ErrTooLarge, total, maxSpans))
	}
	collector.RecordRejected(c, len(rejected))
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
	res := Result{Spans: total, Rejected: len(rejected)}
	if res.Rejected == 0 {
		return res, nil
	}
	res.Message = otlpexport.Describe(rejected, total)
	if res.Rejected >= total {
		return Result{}, collector.NewPermanent(errors.New("no valid span in request: " + res.Message))
	}
	return res, nil
}

// WriteError answers a Deliver error: 413 for a request over a limit, 400 for
// invalid spans, and otherwise (queue full, shutting down, storage failing,
// the client gone) 503 with Retry-After of retryAfter rounded up to whole
// seconds.
func WriteError(w http.ResponseWriter, err error, retryAfter time.Duration, logger *slog.Logger) {
	switch otlpexport.Classify(err) {
	case otlpexport.TooLarge:
		WriteText(w, http.StatusRequestEntityTooLarge, err.Error())
	case otlpexport.Invalid:
		logger.Debug("spans rejected", "error", err)
		WriteText(w, http.StatusBadRequest, err.Error())
	default:
		logger.Debug("spans not stored, client asked to retry", "error", err)
		w.Header().Set("Retry-After", RetryAfter(retryAfter))
		WriteText(w, http.StatusServiceUnavailable, err.Error())
	}
}

// RetryAfter is d as a Retry-After value: whole seconds, at least one.
func RetryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// Settings are the listen address and request limits of an HTTP receiver.
type Settings struct {
	// Addr is the host:port to listen on.
	Addr string
	// MaxRequestBytes bounds a request body in bytes, after decompression
	// (and, compressed, before it).
	MaxRequestBytes int64
	// MaxSpansPerRequest bounds the spans of one request.
	MaxSpansPerRequest int
	// RetryAfter is the delay sent in Retry-After (rounded up to whole
	// seconds) when a client should retry.
	RetryAfter time.Duration
}

// Validate reports what is wrong with s, if anything; receiver names the
// receiver in the error.
func (s Settings) Validate(receiver string) error {
	var errs []error
	if _, _, err := net.SplitHostPort(s.Addr); err != nil {
		errs = append(errs, fmt.Errorf("address %q: %w", s.Addr, err))
	}
	if s.MaxRequestBytes <= 0 {
		errs = append(errs, fmt.Errorf("max request bytes must be positive, got %d", s.MaxRequestBytes))
	}
	if s.MaxSpansPerRequest <= 0 {
		errs = append(errs, fmt.Errorf("max spans per request must be positive, got %d", s.MaxSpansPerRequest))
	}
	if s.RetryAfter <= 0 {
		errs = append(errs, fmt.Errorf("retry after must be positive, got %s", s.RetryAfter))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid %s config: %w", receiver, err)
	}
	return nil
}
