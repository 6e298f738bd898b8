// Package testkit holds what tests across the tree share: polling for a
// condition with a deadline, and reading the intake counters of a
// transport. It is imported by tests only.
package testkit
