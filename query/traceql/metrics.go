package traceql

import (
	"strconv"
	"strings"
)

// MetricsMath is arithmetic between metrics queries and numbers, as in
// ({ status = error } | rate()) / ({ } | rate()), with the topk(),
// bottomk() and comparisons that follow it.
type MetricsMath struct {
	Expr MetricsExpr
	Then []Stage // *TopK and *MetricsFilter, in order
}

func (m *MetricsMath) String() string {
	var b strings.Builder
	b.WriteString(m.Expr.String())
	for _, st := range m.Then {
		if _, ok := st.(*MetricsFilter); ok {
			b.WriteString(" ")
		} else {
			b.WriteString(" | ")
		}
		b.WriteString(st.String())
	}
	return b.String()
}

// MetricsExpr is an operand of metrics arithmetic: a *MetricsBinary, a
// *MetricsQuery or a Static number.
type MetricsExpr interface {
	String() string
	metricsExpr()
}

// MetricsQuery is a metrics query in parentheses inside metrics
// arithmetic.
type MetricsQuery struct {
	Pipeline *Pipeline
}

func (m *MetricsQuery) String() string { return "(" + m.Pipeline.String() + ")" }

// MetricsBinary is Left Op Right with Op one of + - * /.
type MetricsBinary struct {
	Op    Op
	Left  MetricsExpr
	Right MetricsExpr
}

func (m *MetricsBinary) String() string {
	return wrapMetrics(m.Left, m.Op, false) + " " + m.Op.String() + " " + wrapMetrics(m.Right, m.Op, true)
}

func wrapMetrics(e MetricsExpr, parent Op, right bool) string {
	if c, ok := e.(*MetricsBinary); ok {
		p, cp := exprPrec(parent), exprPrec(c.Op)
		if cp < p || (right && cp == p) {
			return "(" + c.String() + ")"
		}
	}
	return e.String()
}

func (*MetricsBinary) metricsExpr() {}
func (*MetricsQuery) metricsExpr()  {}
func (Static) metricsExpr()         {}

// CompareArgs are the arguments of compare(): the filter that picks the
// selection from the baseline, and the optional top-N and time window.
type CompareArgs struct {
	Filter     *SpansetFilter
	TopN       int   // 0 when not given (Tempo's default is 10)
	Start, End int64 // Unix nanoseconds; both 0 when not given
}

func (c *CompareArgs) String() string {
	s := c.Filter.String()
	if c.TopN != 0 {
		s += ", " + strconv.Itoa(c.TopN)
	}
	if c.Start != 0 || c.End != 0 {
		s += ", " + strconv.FormatInt(c.Start, 10) + ", " + strconv.FormatInt(c.End, 10)
	}
	return s
}

// metricsMath parses metrics arithmetic and what follows it. It fails
// when the query is not arithmetic on at least one metrics query.
func (p *parser) metricsMath() (*MetricsMath, error) {
	e, err := p.mathExpr(0)
	if err != nil {
		return nil, err
	}
	if !hasMetricsQuery(e) {
		return nil, p.errorf(p.tok().pos, "arithmetic needs a metrics query in parentheses, as in ({ } | rate()) * 2")
	}
	then, err := p.metricsTail()
	if err != nil {
		return nil, err
	}
	return &MetricsMath{Expr: e, Then: then}, nil
}

func hasMetricsQuery(e MetricsExpr) bool {
	switch e := e.(type) {
	case *MetricsQuery:
		return true
	case *MetricsBinary:
		return hasMetricsQuery(e.Left) || hasMetricsQuery(e.Right)
	}
	return false
}

var mathOps = map[string]Op{"+": OpAdd, "-": OpSub, "*": OpMul, "/": OpDiv}

func (p *parser) mathExpr(minPrec int) (MetricsExpr, error) {
	left, err := p.mathPrimary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.tok()
		op, ok := mathOps[t.text]
		if t.kind != tokOp || !ok || exprPrec(op) < minPrec {
			return left, nil
		}
		p.advance()
		right, err := p.mathExpr(exprPrec(op) + 1)
		if err != nil {
			return nil, err
		}
		left = &MetricsBinary{Op: op, Left: left, Right: right}
	}
}

// mathPrimary is a number, a metrics query in parentheses, or arithmetic
// in parentheses.
func (p *parser) mathPrimary() (MetricsExpr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.tok()
	if t.kind == tokDuration || (p.is("-") && p.peek().kind == tokDuration) {
		return nil, p.errorf(t.pos, "a duration cannot be an operand of metrics arithmetic")
	}
	if t.kind == tokInt || t.kind == tokFloat || (p.is("-") && (p.peek().kind == tokInt || p.peek().kind == tokFloat)) {
		return p.literal("a number")
	}
	if !p.is("(") {
		return nil, p.expected(`a number or a metrics query in parentheses`)
	}
	p.advance()
	start := p.i
	pl, perr := p.pipeline(false)
	if perr == nil && !isMetricsPipeline(pl) {
		perr = p.errorf(p.tok().pos, "expected a metrics function such as rate() in parentheses")
	}
	if perr == nil {
		if perr = p.expect(")"); perr == nil {
			return &MetricsQuery{Pipeline: pl}, nil
		}
	}
	pend := p.i
	p.i = start
	e, err := p.mathExpr(0)
	if err == nil {
		err = p.expect(")")
	}
	if err != nil {
		if errOffset(perr) >= errOffset(err) {
			p.i = pend
			return nil, perr
		}
		return nil, err
	}
	return e, nil
}

func isMetricsPipeline(pl *Pipeline) bool {
	for _, st := range pl.Stages {
		if _, ok := st.(*MetricsAggregate); ok {
			return true
		}
	}
	return false
}

func errOffset(err error) int {
	if pe, ok := err.(*ParseError); ok {
		return pe.Offset
	}
	return -1
}

// metricsTail parses the topk(), bottomk() and comparisons after metrics
// arithmetic.
func (p *parser) metricsTail() ([]Stage, error) {
	var then []Stage
	for {
		switch {
		case p.is("|"):
			p.advance()
			at := p.tok()
			if at.kind != tokIdent || (at.text != "topk" && at.text != "bottomk") {
				return nil, p.expected("topk() or bottomk()")
			}
			st, err := p.stage()
			if err != nil {
				return nil, err
			}
			then = append(then, st)
		case p.tok().kind == tokOp && comparisonOps[p.tok().text] != OpNone:
			st, err := p.metricsFilter()
			if err != nil {
				return nil, err
			}
			then = append(then, st)
		default:
			return then, nil
		}
	}
}
