// Package model is Scry's span model: plain data, no I/O.
//
// The model is OTLP's: a span carries its resource and instrumentation scope,
// 16-byte trace and 8-byte span IDs, typed attributes (string, int, double,
// bool, bytes, array, map), events, links with attributes, status, dropped
// counts and flags. Nothing an OTLP sender gave is lost on the way to storage
// and back. 64-bit Jaeger and Zipkin IDs are zero-padded on the left to 128
// bits.
//
// Span equality and copying are defined here once, for every backend and
// test: Span.Equal (every field, resources and scopes by content, nil equal
// to empty, doubles by their bits so that a NaN equals itself) and
// Span.Clone / CloneSpans (deep copies in canonical form; CloneSpans keeps
// resources and scopes shared as they were).
//
// Conversions live beside the types: OTLP protobuf to and from the model
// (otlp.go) and the model to Jaeger's UI JSON (jaegerjson.go). Formats whose
// libraries not every binary needs have sub-packages: jaegerthrift (Jaeger's
// Thrift, agent UDP and HTTP), zipkin (Zipkin v2 JSON and protobuf) and
// otlpjson (OTLP/JSON with hex IDs, the one codec of OTLP/HTTP's JSON
// intake and /api/v3's answers). jaegersampling is Jaeger's sampling
// strategy response, served by the collector and by the agent.
package model
