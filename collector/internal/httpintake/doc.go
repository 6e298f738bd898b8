// Package httpintake holds what the collector's HTTP span receivers
// (otlphttp, jaegerhttp, zipkin) share: their listen address and request
// limits (Settings); their consumer, logger and server lifecycle (Base);
// reading a request body within a size limit (after gzip decompression, so
// a small gzip bomb costs only the limit); and, for jaegerhttp and zipkin,
// handing decoded spans to a collector.Consumer and turning the outcome into
// an HTTP status with a plain-text message. Base serves a handler with
// internal/httpserver.
package httpintake
