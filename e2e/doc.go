// Package e2e holds Scry's end-to-end tests. They build the real binaries
// with `go build`, start them on free loopback ports with their own data
// folders, and talk to them only over the network, with the clients users
// have: the OpenTelemetry SDK's OTLP exporters, a raw OTLP gRPC client,
// jaeger-client-go and Thrift emitBatch packets over UDP, and plain HTTP for
// OTLP/HTTP and the query API.
//
// harness_test.go builds and runs the binaries; each other file covers one
// area (intake through the SDK, Jaeger UDP intake, search, durability across
// restarts and crashes, back-pressure, bad input, configuration). The
// package has no non-test code beyond this comment.
package e2e
