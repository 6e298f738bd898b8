package traceql

import (
	"slices"
	"strings"

	"github.com/scrytrace/scry/model"
)

// Spanset is one set of spans of a trace that a query selected.
type Spanset struct {
	Spans []*model.Span // in the order of the trace's spans as given to Match
	// By holds, after by(...), the value of each field this spanset was
	// grouped on.
	By []GroupValue
	// Select holds the fields select(...) asked to be returned with the
	// spans, and Selected their values: Selected[i][j] is Select[j] of
	// Spans[i] (TypeNil where the span has none).
	Select   []Expr
	Selected [][]Static
}

// GroupValue is one field of a by(...) and the value its spanset has.
type GroupValue struct {
	Field Expr
	Value Static // TypeNil for spans without the field; arrays as their JSON text
}

// Match evaluates the query on the spans of one trace and returns the
// spansets it selected, and whether there is at least one (the trace
// matches). The spans may come in any order; storage's order (by start
// time) is what the spansets keep. For a metrics query Match answers the
// stages before the metrics function: the spans that feed it (for
// arithmetic, the spansets of each metrics query, left to right).
//
// Semantics, where Tempo's documentation leaves room:
//   - A comparison with a missing attribute is false, except = nil;
//     != nil is true when the attribute is present.
//   - An array attribute equals (=, =~, <, ...) a value when one of its
//     elements does; != and !~ hold when no element equals or matches.
//   - In a filter that names event (or link) fields, a span matches when
//     the filter holds for one of its events (links) with the others'
//     fields of that same event; a span without events sees them as nil.
//   - Unscoped .x is the span's attribute x, else the resource's.
//   - by(), select() and aggregates read event and link fields from a
//     span's first event and link.
//   - A structural operator relates spans by parent span ID within the
//     trace; spans whose parent is missing have no parent, and spans with
//     no parent are nobody's siblings.
//
// Match is safe to call concurrently on one Query.
func (q *Query) Match(trace []*model.Span) (matched []Spanset, ok bool) {
	t := newTraceCtx(q, trace)
	all := make([]int, len(trace))
	for i := range all {
		all[i] = i
	}
	var sets []spanset
	for _, pl := range q.Pipelines() {
		sets = append(sets, t.pipeline(pl, []spanset{{idx: all}})...)
	}
	for _, s := range sets {
		out := Spanset{Spans: make([]*model.Span, len(s.idx)), By: s.by, Select: s.sel}
		for i, x := range s.idx {
			out.Spans[i] = trace[x]
		}
		if len(s.sel) > 0 {
			out.Selected = make([][]Static, len(s.idx))
			for i, x := range s.idx {
				out.Selected[i] = make([]Static, len(s.sel))
				for j, f := range s.sel {
					out.Selected[i][j] = t.eval(f, t.firstEnv(x)).static()
				}
			}
		}
		matched = append(matched, out)
	}
	return matched, len(matched) > 0
}

// spanset is a set of span indexes into the trace, sorted.
type spanset struct {
	idx []int
	by  []GroupValue
	sel []Expr
}

// traceCtx is one trace being evaluated, with its structure computed on
// first use.
type traceCtx struct {
	q     *Query
	spans []*model.Span

	structured bool
	parent     []int // index of the parent span, or -1
	children   []int // number of direct children

	summarised  bool
	root        int // index of the root span, or -1
	traceStart  uint64
	traceEnd    uint64
	traceIDText string
}

func newTraceCtx(q *Query, spans []*model.Span) *traceCtx {
	return &traceCtx{q: q, spans: spans}
}

// structure computes parents and child counts by span ID. With two spans
// of one ID (the halves of a Zipkin shared span) the first is the parent.
func (t *traceCtx) structure() {
	if t.structured {
		return
	}
	t.structured = true
	byID := make(map[model.SpanID]int, len(t.spans))
	for i, sp := range t.spans {
		if _, dup := byID[sp.SpanID]; !dup {
			byID[sp.SpanID] = i
		}
	}
	t.parent = make([]int, len(t.spans))
	t.children = make([]int, len(t.spans))
	for i, sp := range t.spans {
		t.parent[i] = -1
		if sp.ParentSpanID.IsZero() {
			continue
		}
		if p, ok := byID[sp.ParentSpanID]; ok && p != i {
			t.parent[i] = p
			t.children[p]++
		}
	}
}

// summary computes the trace-level intrinsics.
func (t *traceCtx) summary() {
	if t.summarised {
		return
	}
	t.summarised = true
	t.root = -1
	for i, sp := range t.spans {
		if i == 0 || sp.StartTime < t.traceStart {
			t.traceStart = sp.StartTime
		}
		t.traceEnd = max(t.traceEnd, sp.EndTime)
		if sp.ParentSpanID.IsZero() && (t.root < 0 || sp.StartTime < t.spans[t.root].StartTime) {
			t.root = i
		}
	}
	if len(t.spans) > 0 {
		t.traceIDText = t.spans[0].TraceID.String()
	}
}

// pipeline runs the stages on the input spansets, up to a metrics function.
func (t *traceCtx) pipeline(pl *Pipeline, sets []spanset) []spanset {
	for _, st := range pl.Stages {
		if len(sets) == 0 {
			return nil
		}
		switch st := st.(type) {
		case SpansetExpr:
			var out []spanset
			for _, s := range sets {
				if idx := t.spanset(st, s.idx); len(idx) > 0 {
					out = append(out, spanset{idx: idx, by: s.by, sel: s.sel})
				}
			}
			sets = out
		case *ScalarFilter:
			var out []spanset
			for _, s := range sets {
				if v := t.eval(st.Expr, env{span: -1, set: s.idx}); v.isTrue() {
					out = append(out, s)
				}
			}
			sets = out
		case *GroupBy:
			sets = t.groupBy(st, sets)
		case *Select:
			for i := range sets {
				sets[i].sel = append(slices.Clip(sets[i].sel), st.Fields...)
			}
		case *Coalesce:
			var all []int
			var sel []Expr
			for _, s := range sets {
				all = union(all, s.idx)
				sel = append(sel, s.sel...)
			}
			sets = []spanset{{idx: all, sel: slices.Compact(sel)}}
		default: // the metrics function and what follows it
			return sets
		}
	}
	return sets
}

// groupBy splits each spanset by the values of the fields.
func (t *traceCtx) groupBy(g *GroupBy, sets []spanset) []spanset {
	var out []spanset
	for _, s := range sets {
		index := map[string]int{}
		var groups []spanset
		for _, i := range s.idx {
			e := t.firstEnv(i)
			vals := make([]GroupValue, len(g.Fields))
			var key strings.Builder
			for f, field := range g.Fields {
				v := t.eval(field, e).static()
				vals[f] = GroupValue{Field: field, Value: v}
				key.WriteString(v.String())
				key.WriteByte(0)
			}
			k, ok := index[key.String()]
			if !ok {
				k = len(groups)
				index[key.String()] = k
				groups = append(groups, spanset{by: append(slices.Clip(s.by), vals...), sel: s.sel})
			}
			groups[k].idx = append(groups[k].idx, i)
		}
		out = append(out, groups...)
	}
	return out
}

// spanset evaluates a spanset expression on the spans in (sorted indexes).
func (t *traceCtx) spanset(e SpansetExpr, in []int) []int {
	switch e := e.(type) {
	case *SpansetFilter:
		if e.Expr == nil {
			return in
		}
		scopes := scopesOf(e.Expr)
		var out []int
		for _, i := range in {
			if t.matchSpan(e.Expr, i, scopes) {
				out = append(out, i)
			}
		}
		return out
	case *Pipeline:
		var all []int
		for _, s := range t.pipeline(e, []spanset{{idx: in}}) {
			all = union(all, s.idx)
		}
		return all
	case *SpansetOperation:
		l, r := t.spanset(e.Left, in), t.spanset(e.Right, in)
		switch e.Op {
		case OpAnd:
			if len(l) == 0 || len(r) == 0 {
				return nil
			}
			return union(l, r)
		case OpOr:
			return union(l, r)
		}
		return t.structural(e.Op, l, r)
	}
	return nil
}

// relation is how a right-hand span relates to a left-hand one.
type relation int

const (
	relDescendant relation = iota
	relChild
	relAncestor
	relParent
	relSibling
)

var inverse = [...]relation{relDescendant: relAncestor, relChild: relParent, relAncestor: relDescendant, relParent: relChild, relSibling: relSibling}

// structural answers l OP r: the spans of r related to a span of l as the
// operator says (or not, for the negations), and for the union forms also
// the spans of l so related to those.
func (t *traceCtx) structural(op Op, l, r []int) []int {
	t.structure()
	var rel relation
	var not, both bool
	switch op {
	case OpDescendant, OpNotDescendant, OpUnionDescendant:
		rel = relDescendant
	case OpChild, OpNotChild, OpUnionChild:
		rel = relChild
	case OpAncestor, OpNotAncestor, OpUnionAncestor:
		rel = relAncestor
	case OpParent, OpNotParent, OpUnionParent:
		rel = relParent
	case OpSibling, OpNotSibling, OpUnionSibling:
		rel = relSibling
	}
	switch op {
	case OpNotDescendant, OpNotChild, OpNotAncestor, OpNotParent, OpNotSibling:
		not = true
	case OpUnionDescendant, OpUnionChild, OpUnionAncestor, OpUnionParent, OpUnionSibling:
		both = true
	}
	related := t.related(rel, l, r)
	switch {
	case not:
		return difference(r, related)
	case both:
		return union(related, t.related(inverse[rel], related, l))
	}
	return related
}

// related returns the spans of cand that stand in rel to some span of
// from: descendants, children, ancestors, parents or siblings of them.
func (t *traceCtx) related(rel relation, from, cand []int) []int {
	if len(from) == 0 || len(cand) == 0 {
		return nil
	}
	inFrom := make([]bool, len(t.spans))
	for _, i := range from {
		inFrom[i] = true
	}
	var out []int
	switch rel {
	case relDescendant:
		for _, c := range cand {
			for p, steps := t.parent[c], 0; p >= 0 && steps < len(t.spans); p, steps = t.parent[p], steps+1 {
				if inFrom[p] {
					out = append(out, c)
					break
				}
			}
		}
	case relChild:
		for _, c := range cand {
			if p := t.parent[c]; p >= 0 && inFrom[p] {
				out = append(out, c)
			}
		}
	case relAncestor:
		mark := make([]bool, len(t.spans))
		for _, f := range from {
			for p, steps := t.parent[f], 0; p >= 0 && !mark[p] && steps < len(t.spans); p, steps = t.parent[p], steps+1 {
				mark[p] = true
			}
		}
		for _, c := range cand {
			if mark[c] {
				out = append(out, c)
			}
		}
	case relParent:
		mark := make([]bool, len(t.spans))
		for _, f := range from {
			if p := t.parent[f]; p >= 0 {
				mark[p] = true
			}
		}
		for _, c := range cand {
			if mark[c] {
				out = append(out, c)
			}
		}
	case relSibling:
		count := make(map[int]int)
		for _, f := range from {
			if p := t.parent[f]; p >= 0 {
				count[p]++
			}
		}
		for _, c := range cand {
			p := t.parent[c]
			if p < 0 {
				continue
			}
			n := count[p]
			if inFrom[c] {
				n-- // a span is not its own sibling
			}
			if n > 0 {
				out = append(out, c)
			}
		}
	}
	return out
}

// union merges two sorted index lists.
func union(a, b []int) []int {
	out := make([]int, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j >= len(b) || (i < len(a) && a[i] < b[j]):
			out = append(out, a[i])
			i++
		case i >= len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// difference returns the elements of sorted a not in sorted b.
func difference(a, b []int) []int {
	var out []int
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j < len(b) && b[j] == x {
			continue
		}
		out = append(out, x)
	}
	return out
}
