// Package zipkin converts Zipkin's v2 span formats, JSON and protobuf (as
// sent to a Zipkin server's POST /api/v2/spans), to the model.
//
// Zipkin has no resource or scope: a span's local endpoint becomes its
// resource and OpenTelemetry's scope tags its scope, each shared by the spans
// that have the same. Tags are strings and stay strings. See SpansFromJSON
// for the whole mapping. Zipkin's v1 formats are not supported.
//
// It is a package of its own so that binaries that take no Zipkin do not
// link zipkin-go's generated protobuf code.
package zipkin
