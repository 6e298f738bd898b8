package collector_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/collector/internal/intaketest"
	"github.com/scrytrace/scry/model"
)

type nop struct{}

func (nop) ConsumeSpans(context.Context, []*model.Span, int) error { return nil }

func TestRecordRejected(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := collector.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Wrap("zipkin", nop{})
	collector.RecordRejected(c, 3)
	collector.RecordRejected(c, 0)
	if err := c.ConsumeSpans(context.Background(), make([]*model.Span, 2), 10); err != nil {
		t.Fatal(err)
	}
	if got := intaketest.Counter(t, reg, "scry_receiver_spans_received_total", map[string]string{"transport": "zipkin"}); got != 5 {
		t.Errorf("received %v, want 5", got)
	}
	if got := intaketest.Counter(t, reg, "scry_receiver_spans_refused_total", map[string]string{"transport": "zipkin", "reason": "invalid"}); got != 3 {
		t.Errorf("refused invalid %v, want 3", got)
	}
	if got := intaketest.Counter(t, reg, "scry_receiver_spans_accepted_total", map[string]string{"transport": "zipkin"}); got != 2 {
		t.Errorf("accepted %v, want 2", got)
	}
	collector.RecordRejected(nop{}, 3) // a Consumer that does not count: nothing happens
}

func TestRecordRefused(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := collector.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Wrap("udp_compact", nop{})
	collector.RecordRefused(c, "buffer_full", 4)
	collector.RecordRefused(c, "buffer_full", 0)
	if got := intaketest.Counter(t, reg, "scry_receiver_spans_received_total", map[string]string{"transport": "udp_compact"}); got != 4 {
		t.Errorf("received %v, want 4", got)
	}
	if got := intaketest.Counter(t, reg, "scry_receiver_spans_refused_total", map[string]string{"transport": "udp_compact", "reason": "buffer_full"}); got != 4 {
		t.Errorf("refused buffer_full %v, want 4", got)
	}
	collector.RecordRefused(nop{}, "buffer_full", 3) // a Consumer that does not count: nothing happens
}
