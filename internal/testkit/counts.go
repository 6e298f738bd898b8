package testkit

import (
	"fmt"
	"maps"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Counts are one transport's intake counters: every span received, and
// what became of it.
type Counts struct {
	Received, Accepted float64
	Rejected, Refused  map[string]float64 // by reason; reasons at 0 left out
}

// GatherCounts reads the <prefix>_spans_* counters of transport from g.
func GatherCounts(t testing.TB, g prometheus.Gatherer, prefix, transport string) Counts {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	c := Counts{Rejected: map[string]float64{}, Refused: map[string]float64{}}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var tr, reason string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "transport":
					tr = l.GetValue()
				case "reason":
					reason = l.GetValue()
				}
			}
			v := m.GetCounter().GetValue()
			if tr != transport || v == 0 {
				continue
			}
			switch mf.GetName() {
			case prefix + "_spans_received_total":
				c.Received = v
			case prefix + "_spans_accepted_total":
				c.Accepted = v
			case prefix + "_spans_rejected_total":
				c.Rejected[reason] = v
			case prefix + "_spans_refused_total":
				c.Refused[reason] = v
			}
		}
	}
	return c
}

// Total is what the outcome counters add up to.
func (c Counts) Total() float64 {
	n := c.Accepted
	for _, v := range c.Rejected {
		n += v
	}
	for _, v := range c.Refused {
		n += v
	}
	return n
}

// String is c in one line, for failure messages.
func (c Counts) String() string {
	return fmt.Sprintf("received %v: accepted %v, rejected %v, refused %v", c.Received, c.Accepted, c.Rejected, c.Refused)
}

// Check fails the test unless c is want (nil and empty maps alike), and
// unless every span received is counted by exactly one outcome.
func (c Counts) Check(t testing.TB, want Counts) {
	t.Helper()
	if c.Received != c.Total() {
		t.Errorf("counters do not add up: %s", c)
	}
	if c.Received != want.Received || c.Accepted != want.Accepted ||
		!maps.Equal(c.Rejected, nonNil(want.Rejected)) || !maps.Equal(c.Refused, nonNil(want.Refused)) {
		t.Errorf("counters:\n got  %s\n want %s", c, want)
	}
}

func nonNil(m map[string]float64) map[string]float64 {
	if m == nil {
		return map[string]float64{}
	}
	return m
}
