// Package otlphttp is the OTLP/HTTP trace receiver: POST /v1/traces (default
// 127.0.0.1:4318) with an ExportTraceServiceRequest as binary protobuf
// (Content-Type application/x-protobuf) or as OTLP JSON (application/json),
// optionally gzip-compressed (Content-Encoding: gzip). Spans are converted
// with model.SpansFromOTLP and handed to a collector.Consumer; the answer
// comes once they are stored.
//
// OTLP JSON differs from protobuf's canonical JSON mapping in one way that
// matters: trace and span IDs (traceId, spanId, parentSpanId and the IDs of
// links) are hex strings, not base64. The receiver decodes it with
// model/otlpjson, the codec /api/v3 encodes with. A span with an ID that is
// not hex is rejected (counted in partial_success), as is one whose hex ID
// has the wrong length, exactly as in protobuf.
//
// Answers, per the OTLP/HTTP specification, in the request's content type:
//   - 200 with an ExportTraceServiceResponse, with partial_success when some
//     spans were rejected and the others stored;
//   - 400 with a google.rpc.Status saying what was wrong: undecodable
//     protobuf or JSON, a corrupt gzip stream, or no valid span at all;
//   - 413 when the body, after decompression, exceeds Config.MaxRequestBytes
//     (read through a limit, so a small gzip bomb costs only the limit), or
//     has more than Config.MaxSpansPerRequest spans;
//   - 503 with Retry-After when the queue is full, the collector is shutting
//     down or storage fails;
//   - 405 for a method other than POST and 415 for another content type or
//     content encoding, with a plain-text body.
//
// Lifecycle: New validates the config; Start binds the address (so Addr
// reports the real port of "127.0.0.1:0") and serves in the background;
// Shutdown stops accepting and waits for exports in flight. Shutdown is safe
// to call more than once.
package otlphttp
