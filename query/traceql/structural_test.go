package traceql

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/scrytrace/scry/model"
)

// TestStructuralRandom compares every structural operator with a direct
// reading of its definition on random traces: forests with missing
// parents, and now and then a cycle.
func TestStructuralRandom(t *testing.T) {
	ops := []string{">>", ">", "<<", "<", "~", "!>>", "!>", "!<<", "!<", "!~", "&>>", "&>", "&<<", "&<", "&~"}
	queries := make(map[string]*Query, len(ops))
	for _, op := range ops {
		q, err := Parse(`{ status = error } ` + op + ` { kind = server }`)
		if err != nil {
			t.Fatal(err)
		}
		queries[op] = q
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		trace, parent := randomTrace(rng, 1+n%25)
		var left, right []int
		for i, sp := range trace {
			if sp.Status.Code == model.StatusError {
				left = append(left, i)
			}
			if sp.Kind == model.SpanKindServer {
				right = append(right, i)
			}
		}
		for _, op := range ops {
			want := naiveStructural(op, parent, left, right)
			sets, ok := queries[op].Match(trace)
			var got []int
			for _, s := range sets {
				for _, sp := range s.Spans {
					got = append(got, int(sp.SpanID[7])-1)
				}
			}
			if !slices.Equal(got, want) || ok != (len(want) > 0) {
				t.Fatalf("trace %d (parents %v, errors %v, servers %v): %s gives %v, want %v", n, parent, left, right, op, got, want)
			}
		}
	}
}

// randomTrace builds n spans with span IDs 1..n; parent[i] is the index of
// span i's parent, or -1 (no parent, or a parent not in the trace).
func randomTrace(rng *rand.Rand, n int) ([]*model.Span, []int) {
	res := &model.Resource{}
	parent := make([]int, n)
	spans := make([]*model.Span, n)
	cycle := rng.IntN(10) == 0
	for i := range spans {
		sp := &model.Span{Resource: res, Scope: &model.Scope{}, TraceID: model.TraceID{15: 1}, SpanID: model.SpanID{7: byte(i + 1)}, StartTime: uint64(i)}
		parent[i] = -1
		switch r := rng.IntN(10); {
		case r == 0:
			sp.ParentSpanID = model.SpanID{7: 200} // not in the trace
		case r > 1 && i > 0:
			parent[i] = rng.IntN(i)
		case r > 1 && cycle && n > 1:
			parent[i] = n - 1 // the first span's parent comes later: a cycle
		}
		if parent[i] >= 0 {
			sp.ParentSpanID = model.SpanID{7: byte(parent[i] + 1)}
		}
		if rng.IntN(3) == 0 {
			sp.Status.Code = model.StatusError
		}
		if rng.IntN(2) == 0 {
			sp.Kind = model.SpanKindServer
		}
		spans[i] = sp
	}
	return spans, parent
}

// naiveStructural reads each operator's definition literally.
func naiveStructural(op string, parent, left, right []int) []int {
	ancestors := func(x int) map[int]bool { // reachable by one or more parent links
		seen := map[int]bool{}
		for p := parent[x]; p >= 0 && !seen[p]; p = parent[p] {
			seen[p] = true
		}
		return seen
	}
	// rel(a, b): b stands in the relation to a.
	rels := map[string]func(a, b int) bool{
		">>": func(a, b int) bool { return ancestors(b)[a] },
		">":  func(a, b int) bool { return parent[b] == a },
		"<<": func(a, b int) bool { return ancestors(a)[b] },
		"<":  func(a, b int) bool { return parent[a] == b },
		"~":  func(a, b int) bool { return a != b && parent[a] >= 0 && parent[a] == parent[b] },
	}
	inverse := map[string]string{">>": "<<", ">": "<", "<<": ">>", "<": ">", "~": "~"}
	base := op
	if op[0] == '!' || op[0] == '&' {
		base = op[1:]
	}
	rel := rels[base]
	relatedTo := func(rel func(a, b int) bool, from, cand []int) []int {
		var out []int
		for _, c := range cand {
			for _, f := range from {
				if rel(f, c) {
					out = append(out, c)
					break
				}
			}
		}
		return out
	}
	related := relatedTo(rel, left, right)
	switch op[0] {
	case '!':
		var out []int
		for _, r := range right {
			if !slices.Contains(related, r) {
				out = append(out, r)
			}
		}
		return out
	case '&':
		out := append(slices.Clone(related), relatedTo(rels[inverse[base]], related, left)...)
		slices.Sort(out)
		return slices.Compact(out)
	}
	return related
}
