// Package otlpgrpc is the OTLP/gRPC trace receiver: it serves the
// opentelemetry.proto.collector.trace.v1.TraceService Export call (default
// 127.0.0.1:4317), converts the spans with model.SpansFromOTLP and hands them
// to a collector.Consumer with collector.Deliver (which counts every span
// under transport otlp_grpc), answering only once they are stored.
//
// Answers, per the OTLP specification:
//   - every span stored: OK with an empty response;
//   - some spans with malformed IDs, the others stored: OK with
//     partial_success (rejected_spans and a message naming them);
//   - every span malformed: INVALID_ARGUMENT with the message;
//   - a message larger than Config.MaxRequestBytes after decompression, or
//     more spans than Config.MaxSpansPerRequest: RESOURCE_EXHAUSTED without
//     RetryInfo (not retryable);
//   - queue full, shutting down or storage failing: UNAVAILABLE with a
//     google.rpc.RetryInfo detail of Config.RetryAfter;
//   - the client's deadline or cancellation: DEADLINE_EXCEEDED or CANCELLED.
//
// gzip-compressed requests are accepted.
//
// Lifecycle: New validates the config; Start binds the address (so Addr
// reports the real port of "127.0.0.1:0") and serves in the background;
// Shutdown stops accepting and waits for exports in flight, which end once
// their spans are stored. Shutdown is safe to call more than once.
package otlpgrpc
