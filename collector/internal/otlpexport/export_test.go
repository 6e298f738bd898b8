package otlpexport

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/scrytrace/scry/collector"
)

func TestDescribe(t *testing.T) {
	errs := []error{errors.New("a"), errors.New("b"), errors.New(strings.Repeat("é", 300)), errors.New("d"), errors.New("e")}
	got := Describe(errs, 9)
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
	for err, want := range map[error]Kind{
		collector.ErrQueueFull:                    Retry,
		collector.ErrStopped:                      Retry,
		errors.New("disk full"):                   Retry,
		collector.NewPermanent(errors.New("bad")): Invalid,
		collector.NewPermanent(fmt.Errorf("%w: big", collector.ErrTooLarge)): TooLarge,
	} {
		if got := Classify(err); got != want {
			t.Errorf("Classify(%v) = %v, want %v", err, got, want)
		}
	}
}
