// Package httpintake holds what the collector's HTTP span receivers
// (otlphttp, jaegerhttp, zipkin) share: their listen address and request
// limits (Settings); their consumer, metrics, logger and server lifecycle
// (Base, whose Deliver hands a decoded request to collector.Deliver);
// reading a request body within a size limit (after gzip decompression, so
// a small gzip bomb costs only the limit); and, for jaegerhttp and zipkin,
// turning an error into an HTTP status with a plain-text message. Base
// serves a handler with internal/httpserver.
package httpintake
