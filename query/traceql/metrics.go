package traceql

import (
	"strconv"
	"strings"
)

// MetricsAggregate is a metrics function (rate(), quantile_over_time(x,
// .9), ...) with its optional by(...).
type MetricsAggregate struct {
	Func      MetricsFunc
	Field     Expr      // the measured field; nil for rate() and count_over_time()
	Quantiles []float64 // quantile_over_time only
	By        []Expr
	Compare   *CompareArgs // compare() only
}

func (m *MetricsAggregate) String() string {
	if m.Compare != nil {
		return "compare(" + m.Compare.String() + ")"
	}
	var args []string
	if m.Field != nil {
		args = append(args, m.Field.String())
	}
	for _, q := range m.Quantiles {
		args = append(args, formatFloat(q))
	}
	s := m.Func.String() + "(" + strings.Join(args, ", ") + ")"
	if len(m.By) > 0 {
		s += " by (" + joinExprs(m.By) + ")"
	}
	return s
}

// TopK is topk(k) or bottomk(k) after a metrics function.
type TopK struct {
	Bottom bool
	K      int
}

func (t *TopK) String() string {
	if t.Bottom {
		return "bottomk(" + strconv.Itoa(t.K) + ")"
	}
	return "topk(" + strconv.Itoa(t.K) + ")"
}

// MetricsFilter is a comparison after a metrics function (`rate() > 10`):
// it keeps the data points that meet it.
type MetricsFilter struct {
	Op    Op
	Value Static
}

func (f *MetricsFilter) String() string { return f.Op.String() + " " + f.Value.String() }

// MetricsFunc names a metrics function.
type MetricsFunc int

const (
	MetricsRate MetricsFunc = iota
	MetricsCountOverTime
	MetricsSumOverTime
	MetricsMinOverTime
	MetricsMaxOverTime
	MetricsAvgOverTime
	MetricsQuantileOverTime
	MetricsHistogramOverTime
	MetricsCompare
)

var metricsFuncNames = [...]string{"rate", "count_over_time", "sum_over_time", "min_over_time", "max_over_time", "avg_over_time", "quantile_over_time", "histogram_over_time", "compare"}

func (f MetricsFunc) String() string { return metricsFuncNames[f] }

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

// metricsFilter parses a comparison after a metrics function: > 10.
func (p *parser) metricsFilter() (*MetricsFilter, error) {
	at := p.advance()
	op := comparisonOps[at.text]
	if op == OpRegex || op == OpNotRegex {
		return nil, p.errorf(at.pos, "a metrics query compares with > >= < <= = or !=, not %s", op)
	}
	v, err := p.literal("a number or a duration")
	if err != nil {
		return nil, err
	}
	if !v.isNumber() {
		return nil, p.errorf(p.toks[p.i-1].pos, "a metrics query compares with a number or a duration, not %s", v)
	}
	return &MetricsFilter{Op: op, Value: v}, nil
}

func metricsName(pl *Pipeline) string {
	for _, st := range pl.Stages {
		if m, ok := st.(*MetricsAggregate); ok {
			return m.Func.String() + "()"
		}
	}
	return "a metrics function"
}

func isCompare(pl *Pipeline) bool {
	m, ok := pl.Stages[len(pl.Stages)-1].(*MetricsAggregate)
	return ok && m.Func == MetricsCompare
}

// compare parses compare({ filter }[, topN[, start, end]]).
func (p *parser) compare() (Stage, error) {
	p.advance()
	if err := p.expect("("); err != nil {
		return nil, err
	}
	if !p.is("{") {
		return nil, p.expected(`a spanset filter "{" that picks the selection`)
	}
	f, err := p.spansetPrimary()
	if err != nil {
		return nil, err
	}
	args := &CompareArgs{Filter: f.(*SpansetFilter)}
	var nums []int64
	for p.is(",") && len(nums) < 3 {
		p.advance()
		t := p.tok()
		n, err := strconv.ParseInt(t.text, 10, 64)
		if t.kind != tokInt || err != nil {
			return nil, p.expected("a whole number")
		}
		p.advance()
		nums = append(nums, n)
	}
	switch len(nums) {
	case 2:
		return nil, p.errorf(p.tok().pos, "compare() takes a start and an end, or neither")
	case 3:
		if nums[1] == 0 && nums[2] == 0 {
			return nil, p.errorf(p.toks[p.i-1].pos, "compare() takes a start and an end in Unix nanoseconds, not 0")
		}
		args.Start, args.End = nums[1], nums[2]
		fallthrough
	case 1:
		if nums[0] < 1 || nums[0] > 1000 {
			return nil, p.errorf(p.tok().pos, "compare() takes a top-N between 1 and 1000, not %d", nums[0])
		}
		args.TopN = int(nums[0])
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	return &MetricsAggregate{Func: MetricsCompare, Compare: args}, nil
}

// metrics parses a metrics function and its by(...).
func (p *parser) metrics(f MetricsFunc) (Stage, error) {
	name := p.advance()
	if err := p.expect("("); err != nil {
		return nil, err
	}
	m := &MetricsAggregate{Func: f}
	switch f {
	case MetricsRate, MetricsCountOverTime:
	default:
		if p.is(")") {
			return nil, p.errorf(p.tok().pos, "%s() needs the field it measures, as in %s(span:duration)", name.text, name.text)
		}
		e, err := p.expr(0, false)
		if err != nil {
			return nil, err
		}
		m.Field = e
		if f == MetricsQuantileOverTime {
			if !p.is(",") {
				return nil, p.expected(`"," and a quantile such as .99`)
			}
			for p.is(",") {
				p.advance()
				v, err := p.literal("a quantile such as .99")
				if err != nil {
					return nil, err
				}
				q := v.Float
				if v.Type == TypeInt {
					q = float64(v.Int)
				} else if v.Type != TypeFloat {
					return nil, p.errorf(p.toks[p.i-1].pos, "a quantile is a number between 0 and 1, not %s", v)
				}
				if q < 0 || q > 1 {
					return nil, p.errorf(p.toks[p.i-1].pos, "a quantile is a number between 0 and 1, not %s", v)
				}
				m.Quantiles = append(m.Quantiles, q)
			}
		}
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	if p.isIdent("by") {
		p.advance()
		by, err := p.fieldList("by")
		if err != nil {
			return nil, err
		}
		m.By = by
	}
	return m, nil
}
