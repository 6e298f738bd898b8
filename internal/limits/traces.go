package limits

import (
	"fmt"
	"sync"
	"time"

	"github.com/scrytrace/scry/model"
)

// DefaultTraceWindow is how long a trace's bytes are remembered after its
// last span: traces are sent within seconds to minutes.
const DefaultTraceWindow = 5 * time.Minute

// DefaultMaxTracked bounds the traces remembered (~60 bytes each).
const DefaultMaxTracked = 500_000

// TraceSizes counts the bytes received for each recent trace of each
// tenant, to hold traces to a max bytes per trace. Memory is bounded: a
// trace is remembered for one to two windows after its last span, and past
// maxTracked traces new ones are not counted (and so not limited) until the
// window turns. A request's bytes are shared among its spans in proportion
// to the bytes of their names, attributes, events and links. It is
// safe for concurrent use.
type TraceSizes struct {
	window     time.Duration
	maxTracked int

	mu        sync.Mutex
	cur, prev map[traceKey]int64
	turned    time.Time
}

type traceKey struct {
	tenant string
	id     model.TraceID
}

// NewTraceSizes returns an empty TraceSizes.
func NewTraceSizes(window time.Duration, maxTracked int) *TraceSizes {
	return &TraceSizes{window: window, maxTracked: maxTracked, cur: map[traceKey]int64{}, prev: map[traceKey]int64{}}
}

// Admit returns the spans whose traces stay within max bytes with them, and
// an error naming each span it keeps out (and so every later span of a
// trace once it is over). size is the request's bytes.
func (t *TraceSizes) Admit(tenant string, spans []*model.Span, size int, max int64, now time.Time) ([]*model.Span, []error) {
	if len(spans) == 0 {
		return spans, nil
	}
	weights := make([]int64, len(spans))
	var total int64
	for i, sp := range spans {
		weights[i] = weight(sp)
		total += weights[i]
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.turned) >= t.window {
		t.prev, t.cur, t.turned = t.cur, make(map[traceKey]int64, len(t.cur)), now
	}
	adds := map[model.TraceID]int64{}
	for i, sp := range spans {
		adds[sp.TraceID] += int64(size) * weights[i] / total
	}
	var over map[model.TraceID]bool // made for the first trace over
	for id, add := range adds {
		k := traceKey{tenant, id}
		n, ok := t.cur[k]
		if !ok {
			n = t.prev[k]
			if len(t.cur) >= t.maxTracked {
				continue
			}
		}
		if n >= max || (n > 0 && n+add > max) || (n == 0 && add > max) {
			if over == nil {
				over = map[model.TraceID]bool{}
			}
			over[id] = true
			t.cur[k] = max // remembered as full
			continue
		}
		t.cur[k] = n + add
	}
	if len(over) == 0 {
		return spans, nil
	}
	keep := spans[:0:0]
	var errs []error
	for _, sp := range spans {
		if over[sp.TraceID] {
			errs = append(errs, fmt.Errorf("span %s of trace %s: the trace is over the tenant's max of %d bytes per trace", sp.SpanID, sp.TraceID, max))
			continue
		}
		keep = append(keep, sp)
	}
	return keep, errs
}

// weight estimates the bytes a span takes on the wire: a fixed part for
// its IDs, times and kind, and the bytes of its strings.
func weight(sp *model.Span) int64 {
	n := int64(48 + len(sp.Name) + len(sp.TraceState) + len(sp.Status.Message))
	n += kvsWeight(sp.Attributes)
	for i := range sp.Events {
		n += 16 + int64(len(sp.Events[i].Name)) + kvsWeight(sp.Events[i].Attributes)
	}
	for i := range sp.Links {
		n += 32 + kvsWeight(sp.Links[i].Attributes)
	}
	return n
}

func kvsWeight(kvs []model.KeyValue) int64 {
	var n int64
	for i := range kvs {
		n += 4 + int64(len(kvs[i].Key)) + valueWeight(&kvs[i].Value)
	}
	return n
}

func valueWeight(v *model.Value) int64 {
	n := int64(2 + len(v.Str) + len(v.Bytes))
	for i := range v.Array {
		n += valueWeight(&v.Array[i])
	}
	n += kvsWeight(v.Map)
	return n
}
