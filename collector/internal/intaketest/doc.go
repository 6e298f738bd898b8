// Package intaketest holds what the tests of the collector's intake
// receivers share: an environment of a real queue in front of a memory store,
// counted by collector.Metrics, that starts a receiver on a free port and
// stops it when the test ends; HTTP requests and their answers; gzip bodies;
// and reading counters from a Prometheus registry.
//
// It is a normal package only so that several packages' tests can import it;
// nothing but _test.go files may use it.
package intaketest
