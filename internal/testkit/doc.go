// Package testkit holds what tests across the tree share: polling for a
// condition with a deadline, reading the intake counters of a transport,
// and starting a part (a store, a client) for the length of a test. It is
// imported by tests only.
package testkit
