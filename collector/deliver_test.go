package collector_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/collector/internal/intaketest"
	"github.com/scrytrace/scry/collector/queue"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

func span(trace, id byte) *model.Span {
	s := &model.Span{Name: fmt.Sprintf("s%d", id), StartTime: 1, EndTime: 2}
	s.TraceID[15], s.SpanID[7] = trace, id
	return s
}

// A real queue in front of a memory store: every outcome Deliver counts.
func TestDeliverCounts(t *testing.T) {
	ctx := context.Background()
	e := intaketest.New(t, queue.DefaultConfig())
	e.Transport = "test"
	m := e.Metrics.Transport(e.Transport)
	want := testkit.Counts{Rejected: map[string]float64{}, Refused: map[string]float64{}}

	// Two stored, one set aside by the decoder.
	res, err := collector.Deliver(ctx, e.Q, m, collector.Request{
		Spans: []*model.Span{span(1, 1), span(1, 2)}, Rejected: []error{errors.New("bad id")}, Size: 10, MaxSpans: 10,
	})
	if err != nil || res.Spans != 3 || res.Rejected != 1 || !strings.Contains(res.Message, "bad id") {
		t.Fatalf("Deliver = %+v, %v", res, err)
	}
	want.Received, want.Accepted, want.Rejected["invalid"] = 3, 2, 1
	e.Counts(t).Check(t, want)

	// The store refuses one of three (an all-zero trace ID gets past no
	// decoder, but the store is the last word): only that one is rejected.
	zero := span(0, 3)
	res, err = collector.Deliver(ctx, e.Q, m, collector.Request{
		Spans: []*model.Span{span(2, 1), zero, span(2, 2)}, Size: 10, MaxSpans: 10,
	})
	if err != nil || res.Rejected != 1 {
		t.Fatalf("Deliver with a span the store refuses = %+v, %v", res, err)
	}
	want.Received, want.Accepted, want.Rejected["invalid"] = 6, 4, 2
	e.Counts(t).Check(t, want)

	// Over the span limit: all rejected, too_large.
	_, err = collector.Deliver(ctx, e.Q, m, collector.Request{
		Spans: []*model.Span{span(3, 1), span(3, 2)}, Rejected: []error{errors.New("bad")}, Size: 10, MaxSpans: 2,
	})
	if collector.Classify(err) != collector.KindTooLarge {
		t.Fatalf("Deliver over the limit: %v", err)
	}
	want.Received, want.Rejected["too_large"] = 9, 3
	e.Counts(t).Check(t, want)

	// Every span invalid: a permanent error, all rejected.
	_, err = collector.Deliver(ctx, e.Q, m, collector.Request{Rejected: []error{errors.New("a"), errors.New("b")}, MaxSpans: 10})
	if collector.Classify(err) != collector.KindInvalid {
		t.Fatalf("Deliver of invalid spans only: %v", err)
	}
	want.Received, want.Rejected["invalid"] = 11, 4
	e.Counts(t).Check(t, want)

	// The queue shuts down: the valid spans are refused (stopped), the
	// invalid one still rejected.
	if err := e.Q.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = collector.Deliver(ctx, e.Q, m, collector.Request{
		Spans: []*model.Span{span(4, 1), span(4, 2)}, Rejected: []error{errors.New("bad")}, MaxSpans: 10,
	})
	if !errors.Is(err, collector.ErrStopped) || collector.Classify(err) != collector.KindRetry {
		t.Fatalf("Deliver to a stopped queue: %v", err)
	}
	want.Received, want.Rejected["invalid"], want.Refused["stopped"] = 14, 5, 2
	e.Counts(t).Check(t, want)
}

// A queue with no room refuses with queue_full; a request larger than the
// whole queue is rejected as too_large.
func TestDeliverQueueFull(t *testing.T) {
	ctx := context.Background()
	cfg := queue.DefaultConfig()
	cfg.MaxBytes = 100
	e := intaketest.New(t, cfg)
	e.Transport = "test"
	m := e.Metrics.Transport(e.Transport)
	e.W.Hold()
	done := make(chan error, 1)
	go func() {
		_, err := collector.Deliver(ctx, e.Q, m, collector.Request{Spans: []*model.Span{span(1, 1)}, Size: 80, MaxSpans: 10})
		done <- err
	}()
	testkit.Eventually(t, "the first request waits for its commit", func() bool { return e.W.Waiting() == 1 })
	_, err := collector.Deliver(ctx, e.Q, m, collector.Request{Spans: []*model.Span{span(2, 1), span(2, 2)}, Size: 80, MaxSpans: 10})
	if !errors.Is(err, collector.ErrQueueFull) {
		t.Fatalf("Deliver to a full queue: %v", err)
	}
	_, err = collector.Deliver(ctx, e.Q, m, collector.Request{Spans: []*model.Span{span(3, 1)}, Size: 101, MaxSpans: 10})
	if collector.Classify(err) != collector.KindTooLarge {
		t.Fatalf("Deliver of a request larger than the queue: %v", err)
	}
	e.W.Release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	e.Counts(t).Check(t, testkit.Counts{
		Received: 4, Accepted: 1,
		Refused:  map[string]float64{"queue_full": 2},
		Rejected: map[string]float64{"too_large": 1},
	})
}

func TestOutcome(t *testing.T) {
	for _, tc := range []struct {
		err      error
		rejected bool
		reason   string
	}{
		{collector.ErrQueueFull, false, "queue_full"},
		{collector.ErrStopped, false, "stopped"},
		{errors.New("disk failed"), false, "error"},
		{fmt.Errorf("cannot store spans: %w", fmt.Errorf("only 1 MiB free: %w", storage.ErrNoSpace)), false, "disk_full"},
		{collector.NewPermanent(errors.New("bad")), true, "invalid"},
		{collector.NewPermanent(fmt.Errorf("%w: big", collector.ErrTooLarge)), true, "too_large"},
		{collector.WithReason("spool_full", fmt.Errorf("%w: spool", collector.ErrQueueFull)), false, "spool_full"},
		{fmt.Errorf("wrapped: %w", collector.WithReason("x", collector.ErrStopped)), false, "x"},
	} {
		rejected, reason := collector.Outcome(tc.err)
		if rejected != tc.rejected || reason != tc.reason {
			t.Errorf("Outcome(%v) = %v, %q; want %v, %q", tc.err, rejected, reason, tc.rejected, tc.reason)
		}
	}
	if collector.WithReason("x", nil) != nil {
		t.Error("WithReason(nil) is not nil")
	}
}

func TestDescribe(t *testing.T) {
	errs := []error{errors.New("a"), errors.New("b"), errors.New(strings.Repeat("é", 300)), errors.New("d"), errors.New("e")}
	got := collector.Describe(errs, 9)
	if !strings.HasPrefix(got, "rejected 5 of 9 spans: a; b; ") || !strings.HasSuffix(got, "...; and 2 more") {
		t.Fatalf("Describe = %q", got)
	}
	if len(got) > 400 {
		t.Fatalf("Describe is %d bytes long; long errors must be cut", len(got))
	}
	if !strings.Contains(got, "é...") {
		t.Fatalf("Describe cut inside a character: %q", got)
	}
}

func TestClassify(t *testing.T) {
	for err, want := range map[error]collector.ErrorKind{
		collector.ErrQueueFull:                    collector.KindRetry,
		collector.ErrStopped:                      collector.KindRetry,
		errors.New("disk full"):                   collector.KindRetry,
		collector.NewPermanent(errors.New("bad")): collector.KindInvalid,
		collector.NewPermanent(fmt.Errorf("%w: big", collector.ErrTooLarge)): collector.KindTooLarge,
	} {
		if got := collector.Classify(err); got != want {
			t.Errorf("Classify(%v) = %v, want %v", err, got, want)
		}
	}
}
