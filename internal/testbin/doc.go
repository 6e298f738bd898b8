// Package testbin runs the module's binaries in tests: it builds ./cmd/...
// packages once per test process, picks free loopback ports, and starts
// processes, waits for their /readyz and stops them.
//
// It is for tests only (it imports testing); no production code may import
// it.
package testbin
