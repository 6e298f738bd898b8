package model

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// TraceID is a 16-byte OTLP trace ID. A 64-bit ID occupies the low 8 bytes.
type TraceID [16]byte

// SpanID is an 8-byte OTLP span ID.
type SpanID [8]byte

// IsZero reports whether every byte of id is zero (an invalid ID in OTLP).
func (id TraceID) IsZero() bool { return id == TraceID{} }

// IsZero reports whether every byte of id is zero (an invalid ID in OTLP).
func (id SpanID) IsZero() bool { return id == SpanID{} }

// String returns the 32-digit lower-case hex form.
func (id TraceID) String() string { return hex.EncodeToString(id[:]) }

// String returns the 16-digit lower-case hex form.
func (id SpanID) String() string { return hex.EncodeToString(id[:]) }

// ErrInvalidID is wrapped by every error about a malformed trace or span ID.
var ErrInvalidID = errors.New("invalid id")

// ParseTraceID parses 1 to 32 hex digits; shorter IDs (64-bit Jaeger and Zipkin
// IDs, or IDs whose leading zeros were dropped) are zero-padded on the left.
// The all-zero ID is rejected.
func ParseTraceID(s string) (TraceID, error) {
	var id TraceID
	if len(s) == 0 || len(s) > 32 {
		return id, fmt.Errorf("%w: trace id %q must be 1 to 32 hex digits", ErrInvalidID, s)
	}
	if err := decodePaddedHex(id[:], s); err != nil {
		return id, fmt.Errorf("%w: trace id %q: %v", ErrInvalidID, s, err)
	}
	if id.IsZero() {
		return id, fmt.Errorf("%w: trace id is all zeros", ErrInvalidID)
	}
	return id, nil
}

// ParseSpanID parses 1 to 16 hex digits, zero-padded on the left. The all-zero
// ID is rejected.
func ParseSpanID(s string) (SpanID, error) {
	var id SpanID
	if len(s) == 0 || len(s) > 16 {
		return id, fmt.Errorf("%w: span id %q must be 1 to 16 hex digits", ErrInvalidID, s)
	}
	if err := decodePaddedHex(id[:], s); err != nil {
		return id, fmt.Errorf("%w: span id %q: %v", ErrInvalidID, s, err)
	}
	if id.IsZero() {
		return id, fmt.Errorf("%w: span id is all zeros", ErrInvalidID)
	}
	return id, nil
}

func decodePaddedHex(dst []byte, s string) error {
	buf := make([]byte, 2*len(dst))
	for i := range buf {
		buf[i] = '0'
	}
	copy(buf[len(buf)-len(s):], s)
	_, err := hex.Decode(dst, buf)
	return err
}

// TraceIDFromBytes converts an OTLP trace ID field. It accepts 16 bytes, or 8
// bytes (padded on the left); anything else, and the all-zero ID, is an error.
func TraceIDFromBytes(b []byte) (TraceID, error) {
	var id TraceID
	switch len(b) {
	case 16:
		copy(id[:], b)
	case 8:
		copy(id[8:], b)
	default:
		return id, fmt.Errorf("%w: trace id has %d bytes, want 16", ErrInvalidID, len(b))
	}
	if id.IsZero() {
		return id, fmt.Errorf("%w: trace id is all zeros", ErrInvalidID)
	}
	return id, nil
}

// SpanIDFromBytes converts an OTLP span ID field: exactly 8 bytes, not all zero.
func SpanIDFromBytes(b []byte) (SpanID, error) {
	var id SpanID
	if len(b) != 8 {
		return id, fmt.Errorf("%w: span id has %d bytes, want 8", ErrInvalidID, len(b))
	}
	copy(id[:], b)
	if id.IsZero() {
		return id, fmt.Errorf("%w: span id is all zeros", ErrInvalidID)
	}
	return id, nil
}

// SpanKind is OTLP's span kind; the numbers are OTLP's.
type SpanKind int32

const (
	SpanKindUnspecified SpanKind = 0
	SpanKindInternal    SpanKind = 1
	SpanKindServer      SpanKind = 2
	SpanKindClient      SpanKind = 3
	SpanKindProducer    SpanKind = 4
	SpanKindConsumer    SpanKind = 5
)

var kindNames = [...]string{"", "internal", "server", "client", "producer", "consumer"}

// String returns the lower-case name Jaeger uses ("server", "client", ...),
// or "" for unspecified.
func (k SpanKind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int32(k))
}

// ParseSpanKind accepts Jaeger's lower-case names and "" (unspecified).
func ParseSpanKind(s string) (SpanKind, error) {
	for i, n := range kindNames {
		if n == s {
			return SpanKind(i), nil
		}
	}
	return 0, fmt.Errorf("unknown span kind %q (want one of internal, server, client, producer, consumer)", s)
}

// StatusCode is OTLP's status code; the numbers are OTLP's.
type StatusCode int32

const (
	StatusUnset StatusCode = 0
	StatusOK    StatusCode = 1
	StatusError StatusCode = 2
)

// String returns "UNSET", "OK" or "ERROR", as Jaeger shows otel.status_code.
func (c StatusCode) String() string {
	switch c {
	case StatusUnset:
		return "UNSET"
	case StatusOK:
		return "OK"
	case StatusError:
		return "ERROR"
	}
	return fmt.Sprintf("STATUS(%d)", int32(c))
}

// Status is a span's OTLP status.
type Status struct {
	Code    StatusCode
	Message string
}

// Resource is the entity that produced spans. Spans from one export share a
// *Resource; treat it as immutable once built.
type Resource struct {
	Attributes             []KeyValue
	DroppedAttributesCount uint32
	SchemaURL              string
}

// ServiceNameKey is the resource attribute that names the service.
const ServiceNameKey = "service.name"

// UnknownService is the service name given to spans whose resource has none.
const UnknownService = "unknown_service"

// ServiceName returns the resource's service.name string, or UnknownService.
func (r *Resource) ServiceName() string {
	if r != nil {
		for i := range r.Attributes {
			if r.Attributes[i].Key == ServiceNameKey && r.Attributes[i].Value.Type == ValueString && r.Attributes[i].Value.Str != "" {
				return r.Attributes[i].Value.Str
			}
		}
	}
	return UnknownService
}

// Scope is the instrumentation scope that produced spans. Like Resource it is
// shared and immutable.
type Scope struct {
	Name                   string
	Version                string
	Attributes             []KeyValue
	DroppedAttributesCount uint32
	SchemaURL              string
}

// Span is one OTLP span with its resource and scope.
type Span struct {
	Resource *Resource // never nil in stored spans
	Scope    *Scope    // never nil in stored spans

	TraceID      TraceID
	SpanID       SpanID
	ParentSpanID SpanID // zero for a root span
	TraceState   string
	Flags        uint32

	Name      string
	Kind      SpanKind
	StartTime uint64 // Unix nanoseconds
	EndTime   uint64 // Unix nanoseconds; >= StartTime in stored spans

	Attributes             []KeyValue
	DroppedAttributesCount uint32
	Events                 []Event
	DroppedEventsCount     uint32
	Links                  []Link
	DroppedLinksCount      uint32
	Status                 Status

	// Warnings are Scry's notes about what was wrong with the span as sent
	// (for example an end before its start). They are stored with the span
	// and shown by the UI; they are not OTLP data.
	Warnings []string
}

// Duration returns EndTime-StartTime in nanoseconds (0 if end is before start).
func (s *Span) Duration() uint64 {
	if s.EndTime < s.StartTime {
		return 0
	}
	return s.EndTime - s.StartTime
}

// ServiceName returns the service.name of the span's resource.
func (s *Span) ServiceName() string { return s.Resource.ServiceName() }

// Event is a timestamped annotation on a span.
type Event struct {
	Time                   uint64 // Unix nanoseconds
	Name                   string
	Attributes             []KeyValue
	DroppedAttributesCount uint32
}

// Link points from a span to another span, possibly in another trace.
type Link struct {
	TraceID                TraceID
	SpanID                 SpanID
	TraceState             string
	Attributes             []KeyValue
	DroppedAttributesCount uint32
	Flags                  uint32
}

// Normalize fixes what storage must not keep as sent, recording a warning on
// the span for each fix: an end before the start becomes a zero duration.
// It does not touch IDs; callers reject invalid IDs with ValidateIDs.
func (s *Span) Normalize() {
	if s.EndTime < s.StartTime {
		s.Warnings = append(s.Warnings, fmt.Sprintf("end time %d is before start time %d; duration set to zero", s.EndTime, s.StartTime))
		s.EndTime = s.StartTime
	}
}

// ValidateIDs returns an error naming the span's invalid trace or span ID.
func (s *Span) ValidateIDs() error {
	if s.TraceID.IsZero() {
		return fmt.Errorf("%w: span %q (span id %s) has an all-zero trace id", ErrInvalidID, s.Name, s.SpanID)
	}
	if s.SpanID.IsZero() {
		return fmt.Errorf("%w: span %q in trace %s has an all-zero span id", ErrInvalidID, s.Name, s.TraceID)
	}
	return nil
}
