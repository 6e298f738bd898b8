package testkit

import (
	"testing"
	"time"
)

// DefaultTimeout is how long Eventually waits.
const DefaultTimeout = 10 * time.Second

// pollInterval is how often a condition is checked.
const pollInterval = 2 * time.Millisecond

// Eventually checks cond every few milliseconds until it holds, and fails
// the test (naming what) if it does not within DefaultTimeout.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	EventuallyWithin(t, DefaultTimeout, what, cond)
}

// EventuallyWithin is Eventually with a timeout of its own.
func EventuallyWithin(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// Poll checks cond every few milliseconds until it holds or timeout has
// passed, and reports whether it held.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval)
	}
	return true
}
