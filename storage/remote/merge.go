package remote

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// This file merges the answers of several backends into one answer with the
// storage.Reader contract's order and limits.

// mergeSpans concatenates the spans of a trace from several backends, drops
// a span equal (model.Span.Equal) to one already kept (the same span stored by
// two collectors, as an at-least-once retry to another collector makes), and
// sorts them by start time then span ID. Spans that share IDs but differ, as
// the two halves of a Zipkin shared span do, are all kept.
func mergeSpans(answers [][]*model.Span) []*model.Span {
	var out []*model.Span
	nonEmpty := 0
	for _, a := range answers {
		if len(a) > 0 {
			nonEmpty++
		}
		out = append(out, a...)
	}
	if nonEmpty > 1 { // one backend never answers a span twice
		byID := make(map[model.SpanID][]*model.Span, len(out))
		kept := out[:0]
		for _, s := range out {
			if slices.ContainsFunc(byID[s.SpanID], func(k *model.Span) bool { return k.Equal(s) }) {
				continue
			}
			byID[s.SpanID] = append(byID[s.SpanID], s)
			kept = append(kept, s)
		}
		clear(out[len(kept):])
		out = kept
	}
	slices.SortStableFunc(out, func(a, b *model.Span) int {
		return cmp.Or(cmp.Compare(a.StartTime, b.StartTime), bytes.Compare(a.SpanID[:], b.SpanID[:]))
	})
	return out
}

// mergeRefs merges FindTraceIDs answers: a trace found by several backends
// keeps its newest start; the result is newest first (ties by trace ID) and
// cut to limit. Each backend returned its own newest limit traces, so the
// newest limit of the union are among them.
func mergeRefs(answers [][]storage.TraceRef, limit int) []storage.TraceRef {
	if len(answers) == 1 {
		return answers[0][:min(limit, len(answers[0]))]
	}
	newest := make(map[model.TraceID]uint64)
	for _, a := range answers {
		for _, r := range a {
			if start, ok := newest[r.TraceID]; !ok || r.Start > start {
				newest[r.TraceID] = r.Start
			}
		}
	}
	out := make([]storage.TraceRef, 0, len(newest))
	for id, start := range newest {
		out = append(out, storage.TraceRef{TraceID: id, Start: start})
	}
	slices.SortFunc(out, func(a, b storage.TraceRef) int {
		return cmp.Or(cmp.Compare(b.Start, a.Start), bytes.Compare(a.TraceID[:], b.TraceID[:]))
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// mergeStrings returns the sorted union of the answers.
func mergeStrings(answers [][]string) []string {
	var out []string
	for _, a := range answers {
		out = append(out, a...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// mergeOps returns the union of the answers, sorted by name then kind.
func mergeOps(answers [][]storage.Operation) []storage.Operation {
	var out []storage.Operation
	for _, a := range answers {
		out = append(out, a...)
	}
	slices.SortFunc(out, func(a, b storage.Operation) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Kind, b.Kind))
	})
	return slices.Compact(out)
}

// mergeDeps sums the call counts of each parent and child, sorted by parent
// then child: each backend counted the calls whose spans it stores.
func mergeDeps(answers [][]storage.DependencyLink) []storage.DependencyLink {
	var out []storage.DependencyLink
	for _, a := range answers {
		out = append(out, a...)
	}
	slices.SortFunc(out, func(a, b storage.DependencyLink) int {
		return cmp.Or(cmp.Compare(a.Parent, b.Parent), cmp.Compare(a.Child, b.Child))
	})
	sum := out[:0]
	for _, l := range out {
		if n := len(sum); n > 0 && sum[n-1].Parent == l.Parent && sum[n-1].Child == l.Child {
			sum[n-1].CallCount += l.CallCount
			continue
		}
		sum = append(sum, l)
	}
	return sum
}
