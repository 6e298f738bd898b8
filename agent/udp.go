package agent

import (
	"github.com/scrytrace/scry/collector/jaegerudp"
	"github.com/scrytrace/scry/model"
)

// udpSink takes the spans of the UDP intake (collector/jaegerudp) into the
// buffer. It never waits: spans that do not fit are dropped and counted.
type udpSink struct{ a *Agent }

var _ jaegerudp.Sink = udpSink{}

// TakeSpans implements jaegerudp.Sink.
func (s udpSink) TakeSpans(transport string, spans []*model.Span, _ int) bool {
	a := s.a
	a.m.received.WithLabelValues(transport).Add(float64(len(spans)))
	if !a.buf.tryAdd(&chunk{spans: spans, bytes: spansSize(spans)}) {
		a.dropped(dropBufferFull, len(spans))
		a.throttled.warn("buffer is full; dropping udp spans (collectors slow or away?)", "transport", transport)
		return false
	}
	return true
}

// RecordRejected implements jaegerudp.Sink: spans with an all-zero ID are
// received and dropped (reason invalid).
func (s udpSink) RecordRejected(transport string, n int) {
	s.a.m.received.WithLabelValues(transport).Add(float64(n))
	s.a.dropped(dropInvalid, n)
}
