package collector_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/scrytrace/scry/collector"
)

func TestPermanent(t *testing.T) {
	base := errors.New("bad span")
	p := collector.NewPermanent(base)
	if !collector.IsPermanent(p) || !errors.Is(p, base) || p.Error() != "bad span" {
		t.Fatalf("NewPermanent(%v) = %v", base, p)
	}
	if wrapped := fmt.Errorf("cannot export: %w", p); !collector.IsPermanent(wrapped) {
		t.Fatal("a wrapped permanent error is not permanent")
	}
	for _, err := range []error{nil, base, collector.ErrQueueFull, collector.ErrStopped} {
		if collector.IsPermanent(err) {
			t.Errorf("%v is permanent", err)
		}
	}
	if collector.NewPermanent(nil) != nil {
		t.Fatal("NewPermanent(nil) is not nil")
	}
}
