// Package httpintake holds what the collector's HTTP span receivers other
// than OTLP (jaegerhttp, zipkin) share: reading a request body within a size
// limit (after gzip decompression, so a small gzip bomb costs only the
// limit), handing decoded spans to a collector.Consumer, turning the outcome
// into an HTTP status with a plain-text message. Serving a handler is
// internal/httpserver's job.
package httpintake
