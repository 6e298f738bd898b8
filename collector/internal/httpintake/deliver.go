package httpintake

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/scrytrace/scry/internal/tlsconf"

	"github.com/scrytrace/scry/collector"
)

// WriteError answers an error of collector.Deliver: 413 for a request over a limit, 429 with
// Retry-After for a tenant over its ingestion rate, 400 for
// invalid spans, and otherwise (queue full, shutting down, storage failing,
// the client gone) 503 with Retry-After of retryAfter rounded up to whole
// seconds.
func WriteError(w http.ResponseWriter, err error, retryAfter time.Duration, logger *slog.Logger) {
	switch collector.Classify(err) {
	case collector.KindTooLarge:
		WriteText(w, http.StatusRequestEntityTooLarge, err.Error())
	case collector.KindRateLimited:
		w.Header().Set("Retry-After", RetryAfter(collector.RetryAfterOf(err, retryAfter)))
		WriteText(w, http.StatusTooManyRequests, err.Error())
	case collector.KindInvalid:
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
	MaxRequestBytes int
	// MaxSpansPerRequest bounds the spans of one request.
	MaxSpansPerRequest int
	// RetryAfter is the delay sent in Retry-After (rounded up to whole
	// seconds) when a client should retry.
	RetryAfter time.Duration
	// TLS is the listener's TLS; nil: plain text.
	TLS *tlsconf.Listener
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
