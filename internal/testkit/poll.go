package testkit

import (
	"testing"
	"time"
)

// DefaultTimeout is how long Eventually waits. It is generous: it is only
// ever reached by a failing test, and the machine may be busy.
const DefaultTimeout = 20 * time.Second

// Poll intervals: the first check is repeated after minInterval, and the
// wait doubles up to maxInterval, so that a condition that holds soon is
// seen soon and one that reads a server's /metrics does not hammer it.
const (
	minInterval = time.Millisecond
	maxInterval = 20 * time.Millisecond
)

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

// EventuallyNoError is EventuallyWithin for a check that says what is
// still wrong: it polls check until it returns nil, and on timeout fails
// the test with the last error.
func EventuallyNoError(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	var last error
	if !Poll(timeout, func() bool { last = check(); return last == nil }) {
		t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, last)
	}
}

// Poll checks cond every few milliseconds until it holds or timeout has
// passed, and reports whether it held. cond is checked at least once.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	wait := minInterval
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(wait)
		wait = min(2*wait, maxInterval)
	}
	return true
}
