// Package collector holds what the collector's parts share: the Consumer
// interface through which receivers hand converted spans on, and the errors
// that tell a receiver how to answer its client.
//
// The collector's path for a span is
//
//	receiver (otlpgrpc, otlphttp, jaegerhttp, jaegerudp, zipkin) ─► queue (bounded in bytes) ─► group commit ─► storage.Writer
//
// A receiver answers an export only after the Consumer returned, and the
// queue returns only after the spans are committed to storage, so an
// acknowledged span is durable (at-least-once delivery; writes are
// idempotent, so a client that retries never duplicates a span).
//
// Errors come in two kinds, as in the OpenTelemetry Collector's consumererror:
// an error wrapped by NewPermanent cannot succeed if the same data is sent
// again (the client must not retry); every other error is retryable.
// ErrQueueFull and ErrStopped are the retryable answers of a queue that cannot
// take more right now; receivers turn them into gRPC UNAVAILABLE with
// RetryInfo and HTTP 503 with Retry-After.
//
// Every receiver goes from a decoded request to its answer through Deliver,
// which also counts each span it got on Metrics, under the receiver's
// transport: once as received, and once as accepted, rejected (with the
// reason: invalid, too_large) or refused (queue_full, buffer_full, stopped,
// disk_full, error). A store's storage.ErrNoSpace is retryable like any
// storage failure, and counted as disk_full. Receivers are given their Metrics at construction.
//
// Sub-packages: queue (the bounded queue and group-commit writers), otlpgrpc
// and otlphttp (the OTLP receivers), jaegerhttp (Jaeger Thrift over HTTP, and
// the sampling endpoint on the same port), jaegerudp (Jaeger Thrift emitBatch
// over UDP, which scry-agent uses too), zipkin (Zipkin v2 JSON and protobuf),
// sampling (remote sampling strategies from a file).
package collector
