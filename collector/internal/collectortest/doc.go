// Package collectortest holds helpers for the collector's tests: storage
// writers that count or hold back writes around a real store, polling with a
// deadline, and OTLP requests to send.
package collectortest
