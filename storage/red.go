package storage

import (
	"context"
	"math"
	"slices"
	"strings"

	"github.com/scrytrace/scry/model"
)

// RED series: request (call) counts, error counts and latency histograms of
// spans, aggregated at ingest (collector/red) per tenant, service,
// operation, span kind, status code and the configured dimensions, one
// point per series and step.

// OtherValue replaces a label value past a cardinality limit: the spans of
// every value over the limit are counted together under it.
const OtherValue = "__other__"

// REDSeries names one series. Dims are the configured dimensions, sorted by
// key; a span without the attribute has the value "".
type REDSeries struct {
	Service   string
	Operation string
	Kind      model.SpanKind
	Status    model.StatusCode
	Dims      []REDDim
}

// REDDim is one dimension of a series.
type REDDim struct{ Key, Value string }

// Key returns a string that identifies the series: equal series, equal keys.
func (s *REDSeries) Key() string {
	var b strings.Builder
	s.AppendKey(&b)
	return b.String()
}

// AppendKey writes Key's bytes to b.
func (s *REDSeries) AppendKey(b *strings.Builder) {
	b.WriteString(s.Service)
	b.WriteByte(0)
	b.WriteString(s.Operation)
	b.WriteByte(0)
	b.WriteByte(byte(s.Kind))
	b.WriteByte(byte(s.Status))
	for _, d := range s.Dims {
		b.WriteByte(0)
		b.WriteString(d.Key)
		b.WriteByte(1)
		b.WriteString(d.Value)
	}
}

// REDPoint is what one series counted in one step: spans whose step (by
// arrival) started at Start, Unix ns, and lasted Step ns.
type REDPoint struct {
	Series REDSeries
	Start  uint64
	Step   uint64
	Calls  uint64
	Errors uint64 // spans with status code error
	// Latency is the histogram of the spans' durations in ns.
	Latency   Histogram
	Exemplars []Exemplar
}

// MaxExemplars is the most exemplars a point keeps.
const MaxExemplars = 4

// Exemplar is one span of a point, kept as an example: errors and slow
// spans are preferred (collector/red).
type Exemplar struct {
	TraceID  model.TraceID
	SpanID   model.SpanID
	Duration uint64 // ns
	Error    bool
}

// Add adds o's counts, histogram and exemplars to p (same series and step).
func (p *REDPoint) Add(o *REDPoint) {
	p.Calls += o.Calls
	p.Errors += o.Errors
	p.Latency.Merge(&o.Latency)
	for _, e := range o.Exemplars {
		p.AddExemplar(e)
	}
}

// AddExemplar keeps e if p has fewer than MaxExemplars exemplars or e ranks
// above the lowest one kept: errors first, then the slower.
func (p *REDPoint) AddExemplar(e Exemplar) {
	if len(p.Exemplars) < MaxExemplars {
		p.Exemplars = append(p.Exemplars, e)
		return
	}
	low := 0
	for i := 1; i < len(p.Exemplars); i++ {
		if exemplarBelow(p.Exemplars[i], p.Exemplars[low]) {
			low = i
		}
	}
	if exemplarBelow(p.Exemplars[low], e) {
		p.Exemplars[low] = e
	}
}

func exemplarBelow(a, b Exemplar) bool {
	if a.Error != b.Error {
		return b.Error
	}
	return a.Duration < b.Duration
}

// REDQuery selects points. Only points with Start in [Start, End) count.
type REDQuery struct {
	Services []string         // at least one
	Kinds    []model.SpanKind // empty: every kind
	Start    uint64           // Unix ns
	End      uint64           // Unix ns
	// MaxStep is the coarsest step the caller can use (its own step): a
	// store that keeps roll-ups answers with points of the coarsest step
	// not above it that it holds for the whole window. 0: the finest.
	MaxStep uint64
}

// REDWriter stores RED points.
//
// WriteRED is safe to call from many goroutines at once. When it returns nil
// the points are durable. Writing a point of a series and step that is
// stored already adds to it (REDPoint.Add): the writer (collector/red)
// writes each step's counts once.
type REDWriter interface {
	WriteRED(ctx context.Context, points []REDPoint) error
}

// REDReader reads RED points; safe for concurrent use, and a read sees every
// WriteRED that returned before it began.
type REDReader interface {
	// ReadRED returns the points q selects, in no particular order, of
	// one step (the finest, or the one q.MaxStep allows).
	ReadRED(ctx context.Context, q REDQuery) ([]REDPoint, error)
}

// Latency histograms are log-linear: each power of two is split into
// HistogramSubBuckets buckets of equal width, so a bucket is at most 1/32
// (3.1%) of its values wide and the middle of a bucket is within 1.6% of
// any value in it. The index of a value is the top bits of its float64
// representation (exponent and the first mantissa bits), which costs one
// conversion and a shift.
const (
	histogramSubBits    = 5
	HistogramSubBuckets = 1 << histogramSubBits
)

// Histogram counts durations (ns) in log-linear buckets. Counts[i] is the
// count of bucket Min+i. The zero value is empty.
type Histogram struct {
	Min    int32
	Counts []uint64
}

// HistogramIndex returns the bucket of a duration in ns (values below 1 go
// to the bucket of 1).
func HistogramIndex(ns uint64) int32 {
	if ns < 1 {
		ns = 1
	}
	return int32(math.Float64bits(float64(ns)) >> (52 - histogramSubBits))
}

// HistogramLower returns the smallest value of bucket i.
func HistogramLower(i int32) float64 {
	return math.Float64frombits(uint64(i) << (52 - histogramSubBits))
}

// Observe counts one duration.
func (h *Histogram) Observe(ns uint64) { h.addAt(HistogramIndex(ns), 1) }

func (h *Histogram) addAt(i int32, n uint64) {
	switch {
	case len(h.Counts) == 0:
		h.Min = i
		h.Counts = append(h.Counts[:0], n)
		return
	case i < h.Min:
		grow := int(h.Min - i)
		h.Counts = slices.Insert(h.Counts, 0, make([]uint64, grow)...)
		h.Min = i
	case int(i-h.Min) >= len(h.Counts):
		h.Counts = append(h.Counts, make([]uint64, int(i-h.Min)+1-len(h.Counts))...)
	}
	h.Counts[i-h.Min] += n
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if len(o.Counts) == 0 {
		return
	}
	if len(h.Counts) == 0 {
		h.Min = o.Min
		h.Counts = append(h.Counts[:0], o.Counts...)
		return
	}
	lo, hi := min(h.Min, o.Min), max(h.Min+int32(len(h.Counts)), o.Min+int32(len(o.Counts)))
	if lo < h.Min {
		h.Counts = slices.Insert(h.Counts, 0, make([]uint64, h.Min-lo)...)
		h.Min = lo
	}
	if n := int(hi - h.Min); n > len(h.Counts) {
		h.Counts = append(h.Counts, make([]uint64, n-len(h.Counts))...)
	}
	dst := h.Counts[o.Min-h.Min:]
	for j, n := range o.Counts {
		dst[j] += n
	}
}

// Total returns the number of values counted.
func (h *Histogram) Total() uint64 {
	var t uint64
	for _, n := range h.Counts {
		t += n
	}
	return t
}

// Quantile returns the q-quantile (0 < q <= 1) of the values in ns,
// interpolated linearly inside its bucket, or NaN when h is empty.
func (h *Histogram) Quantile(q float64) float64 {
	total := h.Total()
	if total == 0 {
		return math.NaN()
	}
	rank := q * float64(total)
	var seen float64
	for j, n := range h.Counts {
		if n == 0 {
			continue
		}
		if seen+float64(n) >= rank {
			lo, hi := HistogramLower(h.Min+int32(j)), HistogramLower(h.Min+int32(j)+1)
			return lo + (hi-lo)*(rank-seen)/float64(n)
		}
		seen += float64(n)
	}
	return HistogramLower(h.Min + int32(len(h.Counts)))
}

// Sub takes o's counts (added to h before) out of h.
func (h *Histogram) Sub(o *Histogram) {
	for j, n := range o.Counts {
		if i := o.Min + int32(j) - h.Min; n != 0 && i >= 0 && int(i) < len(h.Counts) {
			h.Counts[i] -= min(n, h.Counts[i])
		}
	}
}
