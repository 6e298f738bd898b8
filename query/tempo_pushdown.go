package query

import (
	"strconv"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/query/traceql"
	"github.com/scrytrace/scry/storage"
)

// This file derives, from a TraceQL query, the storage.Query that asks the
// store for candidate traces: conditions that every span of every spanset
// the query can answer satisfies. A trace is found by a Tempo search when
// one of the spans of its answer started in the window (see tempoSearch),
// so a span that meets these conditions started in the window, and the
// store, asked for traces with such a span, finds every trace the search
// can answer and perhaps more; Query.Match on each decides. Conditions are
// pushed only where that holds:
//
//   - resource.service.name = "s" becomes Service, name = "x" Operation,
//     kind = k Kind, and duration compared to a literal the duration bounds;
//   - span., resource., event. and unscoped attributes compared with = to
//     a string, a boolean or an integer of at most six digits become
//     attribute conditions, which the store compares with the attribute
//     value's text (model.Value.String); a longer integer could equal a
//     double attribute whose text is in exponent form, and floats are
//     never pushed for the same reason;
//   - && inside a filter keeps the conditions of both sides, || only those
//     both sides share; between spansets && and || (whose answer is the
//     spans of both sides) and the union structural operators keep what
//     both sides share, the other structural operators the right side's
//     (their answer is spans of the right side); later pipeline stages that
//     are spanset filters add theirs.
//
// The one case the store cannot see is an array attribute: TraceQL
// compares each element, the store the whole array's text, so a trace
// whose only match is an element of an array attribute named in a pushed
// equality is not found.

// spanConds are conditions on one span.
type spanConds struct {
	service, operation string
	kind               model.SpanKind // storage.AnyKind: any
	durMin, durMax     uint64         // inclusive ns; 0: unbounded
	attrs              []storage.Attribute
	// impossible is set when the conditions contradict each other (two
	// operations, empty duration range): no span meets them.
	impossible bool
}

func anySpan() spanConds { return spanConds{kind: storage.AnyKind} }

// and is c with d's conditions added.
func (c spanConds) and(d spanConds) spanConds {
	out := c
	out.impossible = c.impossible || d.impossible
	pick := func(a, b string) string {
		switch {
		case a == "":
			return b
		case b != "" && a != b:
			out.impossible = true
		}
		return a
	}
	out.service = pick(c.service, d.service)
	out.operation = pick(c.operation, d.operation)
	switch {
	case c.kind == storage.AnyKind:
		out.kind = d.kind
	case d.kind != storage.AnyKind && d.kind != c.kind:
		out.impossible = true
	}
	out.durMin = max(c.durMin, d.durMin)
	switch {
	case c.durMax == 0:
		out.durMax = d.durMax
	case d.durMax != 0:
		out.durMax = min(c.durMax, d.durMax)
	}
	if out.durMax != 0 && out.durMin > out.durMax {
		out.impossible = true
	}
	out.attrs = append(append([]storage.Attribute(nil), c.attrs...), d.attrs...)
	return out
}

// or is what a span meeting c or d meets for sure.
func (c spanConds) or(d spanConds) spanConds {
	if c.impossible {
		return d
	}
	if d.impossible {
		return c
	}
	out := anySpan()
	if c.service == d.service {
		out.service = c.service
	}
	if c.operation == d.operation {
		out.operation = c.operation
	}
	if c.kind == d.kind {
		out.kind = c.kind
	}
	out.durMin = min(c.durMin, d.durMin)
	if c.durMax != 0 && d.durMax != 0 {
		out.durMax = max(c.durMax, d.durMax)
	}
	for _, a := range c.attrs {
		for _, b := range d.attrs {
			if a == b {
				out.attrs = append(out.attrs, a)
				break
			}
		}
	}
	return out
}

// storageQuery returns c as a storage query over w, with limit.
func (c spanConds) storageQuery(w tempoWindow, limit int) storage.Query {
	return storage.Query{
		Service: c.service, Operation: c.operation, Kind: c.kind,
		Attributes: c.attrs,
		StartMin:   w.start, StartMax: w.end,
		DurationMin: c.durMin, DurationMax: c.durMax,
		Limit: limit,
	}
}

// queryConds returns the conditions every answered span of q meets.
func queryConds(q *traceql.Query) spanConds {
	pls := q.Pipelines()
	out := pipelineConds(pls[0])
	for _, pl := range pls[1:] {
		out = out.or(pipelineConds(pl))
	}
	return out
}

func pipelineConds(pl *traceql.Pipeline) spanConds {
	c := anySpan()
	for _, st := range pl.Stages {
		if e, ok := st.(traceql.SpansetExpr); ok {
			c = c.and(spansetConds(e))
		}
	}
	return c
}

func spansetConds(e traceql.SpansetExpr) spanConds {
	switch e := e.(type) {
	case *traceql.SpansetFilter:
		if e.Expr == nil {
			return anySpan()
		}
		return exprConds(e.Expr)
	case *traceql.Pipeline:
		return pipelineConds(e)
	case *traceql.SpansetOperation:
		switch e.Op {
		case traceql.OpAnd, traceql.OpOr,
			traceql.OpUnionDescendant, traceql.OpUnionChild, traceql.OpUnionAncestor,
			traceql.OpUnionParent, traceql.OpUnionSibling:
			return spansetConds(e.Left).or(spansetConds(e.Right))
		}
		return spansetConds(e.Right)
	}
	return anySpan()
}

// exprConds returns what a span for which the filter expression e is true
// meets for sure.
func exprConds(e traceql.Expr) spanConds {
	b, ok := e.(*traceql.BinaryOperation)
	if !ok {
		return anySpan()
	}
	switch b.Op {
	case traceql.OpAnd:
		return exprConds(b.Left).and(exprConds(b.Right))
	case traceql.OpOr:
		return exprConds(b.Left).or(exprConds(b.Right))
	}
	attr, aok := b.Left.(traceql.Attribute)
	lit, lok := b.Right.(traceql.Static)
	op := b.Op
	if !aok || !lok {
		// The literal on the left: 5ms < duration.
		attr, aok = b.Right.(traceql.Attribute)
		lit, lok = b.Left.(traceql.Static)
		op = flip(op)
	}
	if !aok || !lok {
		return anySpan()
	}
	return comparisonConds(attr, op, lit)
}

// flip is the operator with its operands swapped.
func flip(op traceql.Op) traceql.Op {
	switch op {
	case traceql.OpGt:
		return traceql.OpLt
	case traceql.OpGte:
		return traceql.OpLte
	case traceql.OpLt:
		return traceql.OpGt
	case traceql.OpLte:
		return traceql.OpGte
	}
	return op
}

// comparisonConds pushes attr op lit when the store can test it.
func comparisonConds(attr traceql.Attribute, op traceql.Op, lit traceql.Static) spanConds {
	c := anySpan()
	switch attr.Intrinsic {
	case traceql.IntrinsicName:
		if op == traceql.OpEq && lit.Type == traceql.TypeString {
			c.operation = lit.Str
		}
		return c
	case traceql.IntrinsicKind:
		if op == traceql.OpEq && lit.Type == traceql.TypeKind {
			c.kind = lit.Kind
		}
		return c
	case traceql.IntrinsicDuration:
		var d int64
		switch lit.Type {
		case traceql.TypeDuration:
			d = int64(lit.Duration)
		case traceql.TypeInt:
			d = lit.Int
		default:
			return c
		}
		return durationConds(op, d)
	case traceql.IntrinsicNone:
	default:
		return c
	}
	if op != traceql.OpEq {
		return c
	}
	var text string
	switch lit.Type {
	case traceql.TypeString:
		text = lit.Str
	case traceql.TypeBool:
		text = strconv.FormatBool(lit.Bool)
	case traceql.TypeInt:
		if lit.Int < -999999 || lit.Int > 999999 {
			return c
		}
		text = strconv.FormatInt(lit.Int, 10)
	default:
		return c
	}
	switch attr.Scope {
	case traceql.ScopeResource:
		if attr.Name == model.ServiceNameKey {
			if lit.Type == traceql.TypeString && lit.Str != "" {
				c.service = lit.Str
			}
			return c
		}
	case traceql.ScopeSpan, traceql.ScopeEvent, traceql.ScopeNone:
	default: // links and instrumentation scopes are not in the store's index
		return c
	}
	c.attrs = []storage.Attribute{{Key: attr.Name, Value: text}}
	return c
}

// durationConds bounds span durations by duration op d (ns).
func durationConds(op traceql.Op, d int64) spanConds {
	c := anySpan()
	switch op {
	case traceql.OpEq:
		if d <= 0 {
			c.impossible = d < 0
			return c // 0 is "unbounded" to the store
		}
		c.durMin, c.durMax = uint64(d), uint64(d)
	case traceql.OpGt:
		if d >= 0 {
			c.durMin = uint64(d) + 1
		}
	case traceql.OpGte:
		if d > 0 {
			c.durMin = uint64(d)
		}
	case traceql.OpLt:
		switch {
		case d <= 0:
			c.impossible = true
		case d > 1:
			c.durMax = uint64(d) - 1
		default: // duration < 1ns: only 0, which the store cannot bound
		}
	case traceql.OpLte:
		switch {
		case d < 0:
			c.impossible = true
		case d > 0:
			c.durMax = uint64(d)
		}
	}
	return c
}
