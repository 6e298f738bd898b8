// Package storage defines how Scry stores and reads spans: small interfaces
// whose doc comments state what is safe concurrently, what is durable when a
// call returns and what order results come in, plus the errors they share and
// the warnings of answers with part of their data missing.
//
// Backends live in sub-packages (badger, memory); storagetest is the
// conformance suite every backend runs.
package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/scrytrace/scry/model"
)

// ErrTraceNotFound is returned by GetTrace when no span of the trace is
// stored. (GetTraces answers such a trace with an empty result instead.)
var ErrTraceNotFound = errors.New("trace not found")

// ErrClosed is returned by calls on a store before Start or after Shutdown.
var ErrClosed = errors.New("store is closed")

// ErrNoSpace is wrapped by the error of a write refused because the store's
// disk is full or nearly so. It is retryable: the same spans may be sent
// again once space is freed, and reads go on working meanwhile.
var ErrNoSpace = errors.New("no space left on the store's disk, retry later")

// Writer stores spans.
//
// WriteSpans is safe to call from many goroutines at once. When it returns nil
// every span is durable: it survives a crash of the process. Writes are
// idempotent: a span (trace ID and span ID) written again with the same content
// (model.Span.Equal, which compares doubles by their bits, so a NaN attribute
// does not make a retried span new) is stored once. Spans of one trace may arrive in any number of calls.
//
// A span with an all-zero trace or span ID is rejected; the other spans of the
// call are still stored, and the error is a *RejectedError naming each
// rejected span. Spans are normalised first (see model.Span.Normalize): the
// caller must not use the slice's spans concurrently with the call.
//
// A write refused for lack of disk space fails with an error wrapping
// ErrNoSpace; none of its spans may be counted as stored (some may be, and a
// retry stores them once). A store that refuses writes for lack of space
// still answers reads, and takes writes again by itself once there is room.
type Writer interface {
	WriteSpans(ctx context.Context, spans []*model.Span) error
}

// Reader answers queries. All methods are safe to call concurrently with each
// other and with writes; a read sees every write that returned before it began.
//
// A Reader that answers with part of its data missing (a client of several
// stores, some of which did not answer) says so with Warn on the call's
// context; the caller that shows warnings wraps the context with
// WithWarnings first. A Reader that cannot answer at all returns an error.
type Reader interface {
	// GetTrace returns every stored span of the trace, ordered by start time
	// then span ID, or ErrTraceNotFound. The hint, if given, may narrow the
	// search but never hides spans outside it.
	GetTrace(ctx context.Context, id model.TraceID, hint TimeHint) ([]*model.Span, error)

	// GetTraces returns the spans of several traces in one call: result i
	// holds every stored span of ids[i], ordered as GetTrace orders them, or
	// is empty when no span of that trace is stored, which is not an error.
	// IDs may repeat; each occurrence gets a result of its own, so the
	// caller may change one without changing another. The hint applies to
	// every ID as it does to GetTrace. The result has len(ids) entries
	// unless the error is non-nil: a failure to read any trace fails the
	// call.
	GetTraces(ctx context.Context, ids []model.TraceID, hint TimeHint) ([][]*model.Span, error)

	// FindTraceIDs returns the IDs of traces matching q, newest first by
	// TraceRef.Start (ties by trace ID, ascending), at most q.Limit of them.
	FindTraceIDs(ctx context.Context, q Query) ([]TraceRef, error)

	// Services returns the names of services with stored spans, sorted.
	Services(ctx context.Context) ([]string, error)

	// Operations returns the operations (span name and kind) of a service,
	// sorted by name then kind. kind AnyKind returns every kind.
	Operations(ctx context.Context, service string, kind model.SpanKind) ([]Operation, error)

	// Dependencies returns parent-service to child-service call counts for
	// child spans that started in [start, end) (Unix ns), sorted by parent
	// then child. A backend may count at one-second resolution: a call then
	// counts when the second its child started in overlaps the window.
	Dependencies(ctx context.Context, start, end uint64) ([]DependencyLink, error)
}

// Store is a backend: a Writer and a Reader over the same data.
//
// A store has the life of every long-lived part (internal/app.Part): its
// constructor only checks the configuration, Start opens it (and starts its
// background work), and Shutdown stops that work within ctx's deadline and
// releases the store. Calls before Start or after Shutdown fail with
// ErrClosed. Shutdown waits for calls in progress; it is safe to call twice
// and before Start. A second Start fails, and a store once shut down cannot
// be started again (Start fails with ErrClosed).
type Store interface {
	Writer
	Reader
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// TimeHint optionally says when a trace happened (Unix ns; 0 means unknown).
type TimeHint struct {
	Start, End uint64
}

// AnyKind in a Query or Operations call matches spans of every kind.
const AnyKind model.SpanKind = -1

// Query selects traces. Only spans that started inside the window count.
// A trace matches when it has at least one such span that satisfies every
// span-level condition together (service, operation, kind, duration bounds),
// and each attribute condition holds on some such span of the trace (of the
// service, when one is given) as a span, resource or event attribute;
// different attributes may hold on different spans, as in Jaeger.
type Query struct {
	Service   string         // "" for any service
	Operation string         // "" for any; needs nothing else
	Kind      model.SpanKind // AnyKind for any
	// Attributes must all hold; Value is compared with model.Value.String().
	Attributes []Attribute
	// StartMin and StartMax bound span start times, inclusive, in Unix ns.
	// Zero means unbounded.
	StartMin, StartMax uint64
	// DurationMin and DurationMax bound span durations, inclusive, in ns.
	// Zero means unbounded.
	DurationMin, DurationMax uint64
	// Limit caps the number of traces returned; it must be positive.
	Limit int
}

// Validate reports what is wrong with q, if anything.
func (q *Query) Validate() error {
	var errs []string
	if q.Limit <= 0 {
		errs = append(errs, fmt.Sprintf("limit must be positive, got %d", q.Limit))
	}
	if q.StartMax != 0 && q.StartMin > q.StartMax {
		errs = append(errs, "start of the time window is after its end")
	}
	if q.DurationMax != 0 && q.DurationMin > q.DurationMax {
		errs = append(errs, "minimum duration is greater than maximum duration")
	}
	if q.Kind < AnyKind || q.Kind > model.SpanKindConsumer {
		errs = append(errs, fmt.Sprintf("unknown span kind %d", q.Kind))
	}
	for _, a := range q.Attributes {
		if a.Key == "" {
			errs = append(errs, "attribute key is empty")
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid query: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Attribute is one key=value condition of a Query.
type Attribute struct {
	Key, Value string
}

// TraceRef is one FindTraceIDs result.
type TraceRef struct {
	TraceID model.TraceID
	// Start (Unix ns) is when the trace matched: without attribute
	// conditions, the start of its newest span that meets the span
	// conditions; with them, the earliest of that and, per attribute, the
	// start of the newest span in the window (of the service, if given)
	// that carries it. It is the start of one of the trace's spans. Results
	// are ordered by it, newest first. (Ranking by the time every condition
	// had been met lets a store that scans newest first stop as soon as it
	// holds Limit results newer than what is left to scan.)
	Start uint64
}

// Operation is a span name with its kind, as seen for one service.
type Operation struct {
	Name string
	Kind model.SpanKind
}

// DependencyLink counts calls from spans of Parent to spans of Child.
type DependencyLink struct {
	Parent, Child string
	CallCount     uint64
}

// RejectedError reports spans a write refused. Every other span of the call
// was stored. Retrying the same spans cannot succeed.
type RejectedError struct {
	Errs []error // one per rejected span, each naming it
}

func (e *RejectedError) Error() string {
	if len(e.Errs) == 1 {
		return "rejected 1 span: " + e.Errs[0].Error()
	}
	msgs := make([]string, 0, 3)
	for i, err := range e.Errs {
		if i == 3 {
			msgs = append(msgs, "...")
			break
		}
		msgs = append(msgs, err.Error())
	}
	return fmt.Sprintf("rejected %d spans: %s", len(e.Errs), strings.Join(msgs, "; "))
}

// Unwrap gives errors.Is access to each span's error.
func (e *RejectedError) Unwrap() []error { return e.Errs }

// Prepare normalises spans for storage and splits off those that cannot be
// stored. It returns the spans to keep (in order) and a *RejectedError, or nil
// when all are kept. Backends call it first thing in WriteSpans.
func Prepare(spans []*model.Span) ([]*model.Span, error) {
	var rejected []error
	keep := spans[:0:0]
	for i, s := range spans {
		if s == nil {
			rejected = append(rejected, fmt.Errorf("span %d of the batch is nil", i))
			continue
		}
		if err := s.ValidateIDs(); err != nil {
			rejected = append(rejected, err)
			continue
		}
		if s.Resource == nil {
			s.Resource = &model.Resource{}
		}
		if s.Scope == nil {
			s.Scope = &model.Scope{}
		}
		s.Normalize()
		keep = append(keep, s)
	}
	if rejected == nil {
		return spans, nil
	}
	return keep, &RejectedError{Errs: rejected}
}
