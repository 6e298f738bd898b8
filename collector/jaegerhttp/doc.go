// Package jaegerhttp is the collector's Jaeger HTTP port (default
// 127.0.0.1:14268, as Jaeger's collector): POST /api/traces takes a Jaeger
// Thrift Batch in the binary protocol, the body jaeger-client-go's
// transport.HTTPTransport and the other Jaeger clients' HTTP senders send
// (Content-Type application/x-thrift or
// application/vnd.apache.thrift.binary, optionally gzip-compressed). The
// batch is decoded with jaegerthrift.DecodeBatch, converted with
// jaegerthrift.SpansFromBatch and handed to a collector.Consumer; the answer
// comes once the spans are stored. The same port serves Jaeger's remote
// sampling endpoint, GET /api/sampling?service=<name>, when given a handler
// for it (collector/sampling).
//
// Answers to POST /api/traces, in plain text:
//   - 202 Accepted, with an empty body, once every span is stored; when some
//     spans were rejected (a zero trace or span ID) and the others stored,
//     still 202, with a body saying which were rejected (they are counted as
//     refused, reason invalid);
//   - 400 for a body that is not a Thrift Batch, a corrupt gzip stream, or a
//     batch whose every span is invalid, saying what was wrong;
//   - 413 when the body exceeds Config.MaxRequestBytes before or after
//     decompression (read through a limit, so a gzip bomb costs only the
//     limit), or has more than Config.MaxSpansPerRequest spans;
//   - 503 with Retry-After when the queue is full, the collector is shutting
//     down or storage fails;
//   - 405 for a method other than POST; 415 for another content type or
//     content encoding.
//
// Jaeger's own collector answers 400 to an unsupported content type and 500
// when it cannot store; 415 and 503 say the same more precisely, and every
// Jaeger client treats any status of 400 or more as a failure.
//
// Lifecycle: New validates the config; Start binds the address (so Addr
// reports the real port of "127.0.0.1:0") and serves in the background;
// Shutdown stops accepting and waits for requests in flight. Shutdown is safe
// to call more than once.
package jaegerhttp
