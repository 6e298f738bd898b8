package agent

import (
	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/collector/jaegerudp"
	"github.com/scrytrace/scry/model"
)

// udpSink takes the spans of the UDP intake (collector/jaegerudp) into the
// buffer. It never waits: spans that do not fit are dropped and counted.
type udpSink struct{ a *Agent }

var _ jaegerudp.Sink = udpSink{}

// TakeSpans implements jaegerudp.Sink. The spans are of Config.Tenant. Spans with an all-zero ID are
// rejected and dropped (reason invalid); spans that find the buffer full are
// refused and dropped (reason buffer_full).
func (s udpSink) TakeSpans(transport string, spans []*model.Span, rejected []error, _ int) bool {
	a := s.a
	m := a.intake[transport]
	m.Received(len(spans) + len(rejected))
	if len(rejected) > 0 {
		m.Rejected(collector.ReasonInvalid, len(rejected))
		a.dropped(dropInvalid, len(rejected))
	}
	if len(spans) == 0 {
		return true
	}
	if !a.buf.tryAdd(&chunk{spans: spans, tenant: a.cfg.Tenant, bytes: spansSize(spans)}) {
		m.Refused(collector.ReasonBufferFull, len(spans))
		a.dropped(dropBufferFull, len(spans))
		a.throttled.Warn("buffer is full; dropping udp spans (collectors slow or away?)", "transport", transport)
		return false
	}
	m.Accepted(len(spans))
	return true
}
