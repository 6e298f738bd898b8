package testkit

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	n := 0
	if !Poll(time.Second, func() bool { n++; return n == 5 }) {
		t.Fatal("Poll gave up on a condition that came true")
	}
	if n != 5 {
		t.Errorf("condition checked %d times, want 5", n)
	}
	n = 0
	st := time.Now()
	if Poll(30*time.Millisecond, func() bool { n++; return false }) {
		t.Fatal("Poll reported a condition that never held")
	}
	if d := time.Since(st); d < 30*time.Millisecond {
		t.Errorf("Poll gave up after %s, before its timeout", d)
	}
	if n < 2 {
		t.Errorf("condition checked %d times in 30ms", n)
	}
}

// fatalRecorder is a testing.TB that records Fatalf instead of stopping.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
}

func TestEventuallyNoErrorReportsTheLastError(t *testing.T) {
	var r fatalRecorder
	n := 0
	EventuallyNoError(&r, 20*time.Millisecond, "the answer", func() error {
		n++
		return fmt.Errorf("attempt %d: %w", n, errors.New("not yet"))
	})
	if want := fmt.Sprintf("attempt %d: not yet", n); !strings.HasPrefix(r.msg, "timed out after 20ms waiting for the answer") || !strings.HasSuffix(r.msg, want) {
		t.Errorf("failure %q, want the timeout, what and the last error %q", r.msg, want)
	}
	r.msg = ""
	EventuallyNoError(&r, time.Second, "the answer", func() error { return nil })
	if r.msg != "" {
		t.Errorf("failed on a check that passed: %q", r.msg)
	}
}
