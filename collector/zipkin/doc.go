// Package zipkin is the collector's Zipkin receiver (default 127.0.0.1:9411,
// Zipkin's port): POST /api/v2/spans takes a list of Zipkin v2 spans as JSON
// (Content-Type application/json, or none, as Zipkin's server assumes) or as
// a zipkin.proto3 ListOfSpans (application/x-protobuf), optionally
// gzip-compressed, as zipkin-go's reporter/http, Brave and OpenTelemetry's
// Zipkin exporters send them. The spans are converted with
// model/zipkin.SpansFromJSON or SpansFromProto and handed to a
// collector.Consumer; the answer comes once they are stored.
//
// Answers, in plain text:
//   - 202 Accepted, with an empty body, once every span is stored (as
//     Zipkin's server answers); when some spans were rejected (a bad ID, a
//     field of the wrong type) and the others stored, still 202, with a body
//     saying which were rejected (they are counted as refused, reason
//     invalid);
//   - 400 for a body that is not a JSON array of spans or a ListOfSpans, a
//     corrupt gzip stream, or spans that are all invalid, saying what was
//     wrong; and for any request to /api/v1/spans: Zipkin's v1 formats are
//     not supported, the message says to send v2;
//   - 413 when the body exceeds Config.MaxRequestBytes before or after
//     decompression (read through a limit, so a gzip bomb costs only the
//     limit), or has more than Config.MaxSpansPerRequest spans;
//   - 503 with Retry-After when the queue is full, the collector is shutting
//     down or storage fails;
//   - 405 for a method other than POST; 415 for another content type or
//     content encoding.
//
// Lifecycle: New validates the config; Start binds the address (so Addr
// reports the real port of "127.0.0.1:0") and serves in the background;
// Shutdown stops accepting and waits for requests in flight. Shutdown is safe
// to call more than once.
package zipkin
