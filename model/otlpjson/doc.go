// Package otlpjson is Scry's one codec for OTLP/JSON trace data, as the
// OTLP specification defines it
// (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding): an
// ExportTraceServiceRequest as OTLP/HTTP receives it, or a TracesData as
// Jaeger's /api/v3 returns it. The two messages have the same JSON shape
// ({"resourceSpans": [...]}).
//
// OTLP/JSON is protobuf's canonical JSON mapping (lowerCamelCase names,
// 64-bit integers as decimal strings, bytes in base64) with two
// differences: enum values may be numbers, and the trace and span IDs of
// spans and links (traceId, spanId, parentSpanId) are hex strings, not
// base64. Attribute keys are values ({"key": ..., "value": ...}), never
// object keys, so only those fields of Span and Span.Link are IDs.
//
// The codec goes through a generic JSON tree: Marshal encodes with
// protojson (enums as numbers), then rewrites the IDs from base64 to
// lower-case hex; Unmarshal rewrites the IDs from hex to base64, then hands
// the tree to protojson, which takes care of the rest (enums as names or
// numbers, 64-bit integers as strings or numbers, proto field names as well
// as JSON names, unknown fields ignored as the specification asks).
//
// Unmarshal drops a span whose ID is not a hex string and returns an error
// for it (wrapping model.ErrInvalidID), so that one bad span does not fail a
// request; a hex ID of the wrong length is passed on for the conversion to
// the model to reject, as it would from protobuf.
package otlpjson
