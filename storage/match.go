package storage

import "github.com/scrytrace/scry/model"

// MatchTrace evaluates q on all the spans of one trace, exactly as the Query
// documentation states. It returns whether the trace matches and when it
// matched (TraceRef.Start): per condition (the span-level conditions
// together, and each attribute) the start of the newest span in the window
// that meets it, and the earliest of these. Limit is not looked at.
func MatchTrace(spans []*model.Span, q *Query) (start uint64, ok bool) {
	found := false
	for _, sp := range spans {
		if q.matchSpan(sp) {
			found = true
			start = max(start, sp.StartTime)
		}
	}
	if !found {
		return 0, false
	}
	for i := range q.Attributes {
		at, ok := q.attributeNewest(spans, &q.Attributes[i])
		if !ok {
			return 0, false
		}
		start = min(start, at)
	}
	return start, true
}

// InWindow reports whether a span start time is inside q's window.
func (q *Query) InWindow(start uint64) bool {
	return (q.StartMin == 0 || start >= q.StartMin) && (q.StartMax == 0 || start <= q.StartMax)
}

// matchSpan reports whether one span meets every span-level condition.
func (q *Query) matchSpan(sp *model.Span) bool {
	if !q.InWindow(sp.StartTime) {
		return false
	}
	if q.Service != "" && sp.ServiceName() != q.Service {
		return false
	}
	if q.Operation != "" && sp.Name != q.Operation {
		return false
	}
	if q.Kind != AnyKind && sp.Kind != q.Kind {
		return false
	}
	d := sp.Duration()
	if q.DurationMin != 0 && d < q.DurationMin {
		return false
	}
	if q.DurationMax != 0 && d > q.DurationMax {
		return false
	}
	return true
}

// attributeNewest returns the start of the newest span in the window (of
// the service, if q has one) that carries a, as a span, resource or event
// attribute, and whether there is one.
func (q *Query) attributeNewest(spans []*model.Span, a *Attribute) (start uint64, ok bool) {
	for _, sp := range spans {
		if !q.InWindow(sp.StartTime) || (q.Service != "" && sp.ServiceName() != q.Service) {
			continue
		}
		if sp.StartTime >= start && carries(sp, a) {
			start, ok = sp.StartTime, true
		}
	}
	return start, ok
}

func carries(sp *model.Span, a *Attribute) bool {
	if hasAttr(sp.Attributes, a) || hasAttr(sp.Resource.Attributes, a) {
		return true
	}
	for i := range sp.Events {
		if hasAttr(sp.Events[i].Attributes, a) {
			return true
		}
	}
	return false
}

func hasAttr(kvs []model.KeyValue, a *Attribute) bool {
	for i := range kvs {
		if kvs[i].Key == a.Key && kvs[i].Value.String() == a.Value {
			return true
		}
	}
	return false
}
