// Package agente2e tests scry-agent end to end: it builds scry-agent and
// scry-collector, runs them as processes on free loopback ports, sends spans
// with real client libraries (jaeger-client-go over UDP, the OpenTelemetry
// SDK over OTLP gRPC and HTTP, raw OTLP/gRPC) and reads back what the
// collector stored through its storage API and through scry-query. It stops
// and restarts collectors and agents to check that every span the agent
// acknowledged is stored.
//
// SCRY_E2E_OUTAGE sets how long the collector stays away in the outage
// test (a Go duration, default 30s).
package agente2e
