package collector

import (
	"context"
	"errors"

	"github.com/scrytrace/scry/model"
)

// Consumer takes the spans of one request.
//
// ConsumeSpans is safe to call from many goroutines at once. It returns nil
// only once every span is durable in storage. size is the request's size in
// bytes as received (after decompression); a Consumer may bound its memory
// by it. The Consumer owns spans from the call on: the caller must not use
// them again.
//
// An error is retryable unless IsPermanent says otherwise. A
// *storage.RejectedError (wrapped as permanent) names spans that were refused
// while every other span of the call was stored.
type Consumer interface {
	ConsumeSpans(ctx context.Context, spans []*model.Span, size int) error
}

// ErrQueueFull is returned, at once, when a queue has no room for a request.
// It is retryable: the client should send the same request again later.
var ErrQueueFull = errors.New("queue is full, retry later")

// ErrStopped is returned when the collector is shutting down and accepts no
// more spans. It is retryable (another instance, or this one after a restart,
// will take them).
var ErrStopped = errors.New("collector is shutting down, retry later")

// ErrTooLarge is wrapped (as a permanent error) by errors about a request
// larger than a limit allows; sending it again cannot succeed.
var ErrTooLarge = errors.New("request too large")

// permanent marks an error that retrying cannot fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// NewPermanent marks err as permanent: sending the same data again cannot
// succeed. It returns nil for nil.
func NewPermanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked by
// NewPermanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}
