package traceql

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// maxDepth bounds how deeply parentheses, braces and unary operators may
// nest, so that no query can exhaust the parser's stack.
const maxDepth = 100

// Parse parses one TraceQL query. A query it cannot read is a *ParseError
// with the position and what was expected there.
func Parse(query string) (*Query, error) {
	p := &parser{src: query}
	lx := lexer{src: query}
	for {
		t, err := lx.next()
		if err != nil {
			return nil, err
		}
		p.toks = append(p.toks, t)
		if t.kind == tokEOF {
			break
		}
	}
	q, err := p.query()
	if err != nil {
		return nil, err
	}
	q.regexps = p.regexps
	return q, nil
}

// parser is a recursive-descent parser over the whole token list.
type parser struct {
	src     string
	regexps map[string]*regexp.Regexp
	toks    []token
	i       int
	depth   int
}

func (p *parser) tok() token  { return p.toks[p.i] }
func (p *parser) peek() token { return p.toks[min(p.i+1, len(p.toks)-1)] }
func (p *parser) advance() token {
	t := p.toks[p.i]
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

func (p *parser) is(text string) bool { t := p.tok(); return t.kind == tokOp && t.text == text }
func (p *parser) isIdent(w string) bool {
	t := p.tok()
	return t.kind == tokIdent && t.text == w
}

func (p *parser) errorf(pos int, format string, args ...any) error {
	return newParseError(p.src, pos, fmt.Sprintf(format, args...))
}

// expected reports what the parser wanted at the current token.
func (p *parser) expected(what string) error {
	return p.errorf(p.tok().pos, "expected %s but found %s", what, p.tok().describe())
}

func (p *parser) expect(op string) error {
	if !p.is(op) {
		return p.expected(strconv.Quote(op))
	}
	p.advance()
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errorf(p.tok().pos, "query nests more than %d levels deep", maxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) query() (*Query, error) {
	q := &Query{}
	var err error
	if p.is("(") || p.is("-") || p.tok().kind == tokInt || p.tok().kind == tokFloat || p.tok().kind == tokDuration {
		// Metrics arithmetic, or a pipeline that starts with a number or
		// a parenthesised spanset: try the one, then the other, and report
		// the error that got further.
		q.Math, err = p.metricsMath()
		if err == nil && p.tok().kind != tokEOF && !p.isIdent("with") {
			err = p.expected(`an operator, "|" or end of query`)
		}
		if err != nil {
			mathErr := err
			p.i = 0
			q.Math = nil
			if q.Pipeline, err = p.pipeline(false); err == nil {
				err = p.queryEnd()
			}
			if err != nil && errOffset(mathErr) > errOffset(err) {
				return nil, mathErr
			}
		} else if mq, ok := q.Math.Expr.(*MetricsQuery); ok && len(q.Math.Then) == 0 {
			q.Pipeline, q.Math = mq.Pipeline, nil // just a metrics query in parentheses
		}
	} else {
		if q.Pipeline, err = p.pipeline(false); err == nil {
			err = p.queryEnd()
		}
	}
	if err != nil {
		return nil, err
	}
	if p.isIdent("with") {
		if q.Hints, err = p.hints(); err != nil {
			return nil, err
		}
	}
	if p.tok().kind != tokEOF {
		return nil, p.expected("end of query")
	}
	return q, nil
}

// queryEnd checks what may follow a pipeline at the top of a query.
func (p *parser) queryEnd() error {
	if p.tok().kind == tokEOF || p.isIdent("with") {
		return nil
	}
	if p.is("+") || p.is("-") || p.is("*") || p.is("/") {
		return p.errorf(p.tok().pos, "metrics arithmetic needs each metrics query in parentheses, as in ({ } | rate()) / 2")
	}
	return p.expected(`"|", an operator or end of query`)
}

// pipeline parses stages separated by "|". Nested pipelines (in
// parentheses) may not hold metrics functions.
func (p *parser) pipeline(nested bool) (*Pipeline, error) {
	first, err := p.firstStage()
	if err != nil {
		return nil, err
	}
	pl := &Pipeline{Stages: []Stage{first}}
	metrics := false
	for {
		switch {
		case p.is("|"):
			p.advance()
			at := p.tok()
			st, err := p.stage()
			if err != nil {
				return nil, err
			}
			switch st.(type) {
			case *MetricsAggregate:
				if nested {
					return nil, p.errorf(at.pos, "a metrics query cannot be an operand of a spanset operator")
				}
				if metrics {
					return nil, p.errorf(at.pos, "a query has one metrics function; after %s only topk(), bottomk() or a comparison may follow", metricsName(pl))
				}
				metrics = true
			case *TopK:
				if isCompare(pl) {
					return nil, p.errorf(at.pos, "compare() cannot be followed by %s()", at.text)
				}
				if !metrics {
					return nil, p.errorf(at.pos, "%s() follows a metrics function such as rate()", at.text)
				}
			default:
				if metrics {
					return nil, p.errorf(at.pos, "after %s only topk(), bottomk() or a comparison may follow", metricsName(pl))
				}
			}
			pl.Stages = append(pl.Stages, st)
		case metrics && comparisonOps[p.tok().text] != OpNone && p.tok().kind == tokOp:
			if isCompare(pl) {
				return nil, p.errorf(p.tok().pos, "compare() cannot be followed by a comparison")
			}
			st, err := p.metricsFilter()
			if err != nil {
				return nil, err
			}
			pl.Stages = append(pl.Stages, st)
		default:
			return pl, nil
		}
	}
}

var aggregateFuncs = map[string]AggregateFunc{"count": AggregateCount, "avg": AggregateAvg, "min": AggregateMin, "max": AggregateMax, "sum": AggregateSum}

var metricsFuncs = func() map[string]MetricsFunc {
	m := map[string]MetricsFunc{}
	for i, n := range metricsFuncNames {
		m[n] = MetricsFunc(i)
	}
	return m
}()

// firstStage is a spanset expression, or a scalar filter over the whole
// trace (count() > 10).
func (p *parser) firstStage() (Stage, error) {
	t := p.tok()
	if t.kind == tokIdent {
		if _, ok := aggregateFuncs[t.text]; ok {
			return p.scalarFilter()
		}
	}
	if p.is("{") || p.is("(") {
		return p.spansetExpr(0)
	}
	if t.kind == tokInt || t.kind == tokFloat || t.kind == tokDuration {
		return p.scalarFilter()
	}
	return nil, p.expected(`a spanset filter "{"`)
}

// stage parses what may follow a "|".
func (p *parser) stage() (Stage, error) {
	t := p.tok()
	if p.is("{") || p.is("(") {
		return p.spansetExpr(0)
	}
	if t.kind == tokInt || t.kind == tokFloat || t.kind == tokDuration || p.is("-") {
		return p.scalarFilter()
	}
	if t.kind == tokIdent {
		if _, ok := aggregateFuncs[t.text]; ok {
			return p.scalarFilter()
		}
		if f, ok := metricsFuncs[t.text]; ok && f != MetricsCompare {
			return p.metrics(f)
		}
		switch t.text {
		case "by":
			p.advance()
			fields, err := p.fieldList("by")
			return &GroupBy{Fields: fields}, err
		case "select":
			p.advance()
			fields, err := p.fieldList("select")
			return &Select{Fields: fields}, err
		case "coalesce":
			p.advance()
			if err := p.expect("("); err != nil {
				return nil, err
			}
			return &Coalesce{}, p.expect(")")
		case "topk", "bottomk":
			p.advance()
			if err := p.expect("("); err != nil {
				return nil, err
			}
			k := p.tok()
			n, err := strconv.Atoi(k.text)
			if k.kind != tokInt || err != nil || n <= 0 {
				return nil, p.errorf(k.pos, "%s() takes a whole number greater than zero, not %s", t.text, k.describe())
			}
			p.advance()
			return &TopK{Bottom: t.text == "bottomk", K: n}, p.expect(")")
		case "compare":
			return p.compare()
		}
	}
	return nil, p.expected(`a spanset filter "{", an aggregate (count(), avg(), ...), by(), select(), coalesce() or a metrics function`)
}

// scalarFilter parses a comparison of aggregates and values: count() > 2.
func (p *parser) scalarFilter() (Stage, error) {
	start := p.tok()
	e, err := p.expr(0, true)
	if err != nil {
		return nil, err
	}
	if b, ok := e.(*BinaryOperation); !ok || exprPrec(b.Op) != 3 {
		return nil, p.errorf(start.pos, "expected a comparison such as count() > 2, but %s compares nothing", e)
	}
	return &ScalarFilter{Expr: e}, nil
}

// fieldList parses (field, ...) after by or select.
func (p *parser) fieldList(fn string) ([]Expr, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	var fields []Expr
	for {
		if p.is(")") && len(fields) == 0 {
			return nil, p.errorf(p.tok().pos, "%s() needs at least one attribute", fn)
		}
		e, err := p.expr(0, false)
		if err != nil {
			return nil, err
		}
		fields = append(fields, e)
		if p.is(",") {
			p.advance()
			continue
		}
		return fields, p.expect(")")
	}
}

// hints parses with (name=value, ...).
func (p *parser) hints() ([]Hint, error) {
	p.advance()
	if err := p.expect("("); err != nil {
		return nil, err
	}
	var hs []Hint
	for {
		t := p.tok()
		if t.kind != tokIdent {
			return nil, p.expected("a hint name such as most_recent")
		}
		p.advance()
		if err := p.expect("="); err != nil {
			return nil, err
		}
		v, err := p.literal("a hint value")
		if err != nil {
			return nil, err
		}
		hs = append(hs, Hint{Name: t.text, Value: v})
		if p.is(",") {
			p.advance()
			continue
		}
		return hs, p.expect(")")
	}
}

// literal parses one literal value, with an optional minus sign.
func (p *parser) literal(what string) (Static, error) {
	neg := false
	if p.is("-") {
		if k := p.peek().kind; k == tokInt || k == tokFloat || k == tokDuration {
			neg = true
			p.advance()
		}
	}
	t := p.tok()
	switch t.kind {
	case tokInt, tokFloat, tokDuration, tokString:
		p.advance()
		return p.number(t, neg)
	case tokIdent:
		if v, ok := keywordStatic(t.text); ok {
			p.advance()
			return v, nil
		}
	}
	return Static{}, p.expected(what)
}

var comparisonOps = map[string]Op{"=": OpEq, "!=": OpNeq, ">": OpGt, ">=": OpGte, "<": OpLt, "<=": OpLte, "=~": OpRegex, "!~": OpNotRegex}

var fieldOps = map[string]Op{
	"&&": OpAnd, "||": OpOr,
	"+": OpAdd, "-": OpSub, "*": OpMul, "/": OpDiv, "%": OpMod, "^": OpPow,
}

var spansetOps = map[string]Op{
	"&&": OpAnd, "||": OpOr,
	">>": OpDescendant, ">": OpChild, "<<": OpAncestor, "<": OpParent, "~": OpSibling,
	"!>>": OpNotDescendant, "!>": OpNotChild, "!<<": OpNotAncestor, "!<": OpNotParent, "!~": OpNotSibling,
	"&>>": OpUnionDescendant, "&>": OpUnionChild, "&<<": OpUnionAncestor, "&<": OpUnionParent, "&~": OpUnionSibling,
}

// spansetExpr parses spanset filters joined by spanset operators, by
// precedence climbing.
func (p *parser) spansetExpr(minPrec int) (SpansetExpr, error) {
	left, err := p.spansetPrimary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.tok()
		op, ok := spansetOps[t.text]
		if t.kind != tokOp || !ok || spansetPrec(op) < minPrec {
			return left, nil
		}
		p.advance()
		right, err := p.spansetExpr(spansetPrec(op) + 1)
		if err != nil {
			return nil, err
		}
		left = &SpansetOperation{Op: op, Left: left, Right: right}
	}
}

func (p *parser) spansetPrimary() (SpansetExpr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	switch {
	case p.is("{"):
		p.advance()
		if p.is("}") {
			p.advance()
			return &SpansetFilter{}, nil
		}
		e, err := p.expr(0, false)
		if err != nil {
			return nil, err
		}
		if err := p.expect("}"); err != nil {
			return nil, err
		}
		return &SpansetFilter{Expr: e}, nil
	case p.is("("):
		p.advance()
		pl, err := p.pipeline(true)
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		if len(pl.Stages) == 1 {
			if se, ok := pl.Stages[0].(SpansetExpr); ok {
				return se, nil
			}
		}
		return pl, nil
	}
	return nil, p.expected(`a spanset filter "{"`)
}

// expr parses an expression by precedence climbing. In a scalar filter
// (scalar is true) the operands are aggregates and values and && || do
// not apply; in a spanset filter they are attributes and values.
func (p *parser) expr(minPrec int, scalar bool) (Expr, error) {
	left, err := p.unary(scalar)
	if err != nil {
		return nil, err
	}
	for {
		t := p.tok()
		if t.kind != tokOp {
			return left, nil
		}
		op, ok := comparisonOps[t.text]
		if !ok {
			op, ok = fieldOps[t.text]
		}
		if !ok || exprPrec(op) < minPrec || (scalar && (op == OpAnd || op == OpOr)) {
			return left, nil
		}
		p.advance()
		next := exprPrec(op) + 1
		if op == OpPow {
			next = exprPrec(op)
		}
		rt := p.tok()
		right, err := p.expr(next, scalar)
		if err != nil {
			return nil, err
		}
		if err := p.check(op, left, right, rt); err != nil {
			return nil, err
		}
		left = &BinaryOperation{Op: op, Left: left, Right: right}
	}
}

// check refuses comparisons that can never be true: a regular expression
// that is not a valid string, status or kind compared with anything but
// their keywords.
func (p *parser) check(op Op, left, right Expr, rt token) error {
	if op == OpRegex || op == OpNotRegex {
		s, ok := right.(Static)
		if !ok || s.Type != TypeString {
			return p.errorf(rt.pos, "%s takes a regular expression in a string, not %s", op, right)
		}
		if _, err := regexp.Compile(s.Str); err != nil {
			return p.errorf(rt.pos, "invalid regular expression %s: %v", strconv.Quote(s.Str), strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		re, err := regexp.Compile(anchor(s.Str))
		if err != nil {
			return p.errorf(rt.pos, "invalid regular expression %s: %v", strconv.Quote(s.Str), err)
		}
		if p.regexps == nil {
			p.regexps = map[string]*regexp.Regexp{}
		}
		p.regexps[s.Str] = re
		return nil
	}
	if exprPrec(op) != 3 {
		return nil
	}
	for _, pair := range [2][2]Expr{{left, right}, {right, left}} {
		a, ok1 := pair[0].(Attribute)
		s, ok2 := pair[1].(Static)
		if !ok1 || !ok2 || s.Type == TypeNil {
			continue
		}
		switch {
		case a.Intrinsic == IntrinsicStatus && s.Type != TypeStatus:
			return p.errorf(rt.pos, "status compares with error, ok or unset, not %s", s)
		case a.Intrinsic == IntrinsicKind && s.Type != TypeKind:
			return p.errorf(rt.pos, "kind compares with server, client, producer, consumer, internal or unspecified, not %s", s)
		case (s.Type == TypeStatus || s.Type == TypeKind) && op != OpEq && op != OpNeq:
			return p.errorf(rt.pos, "%s compares only with = and !=", s)
		}
	}
	return nil
}

// anchor makes a regular expression match whole values, as TraceQL's do.
func anchor(re string) string { return "^(?:" + re + ")$" }

func (p *parser) unary(scalar bool) (Expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	switch {
	case p.is("!"):
		p.advance()
		e, err := p.unary(scalar)
		if err != nil {
			return nil, err
		}
		return &UnaryOperation{Op: OpNot, Expr: e}, nil
	case p.is("-"):
		if k := p.peek().kind; k == tokInt || k == tokFloat || k == tokDuration {
			p.advance()
			return p.number(p.advance(), true)
		}
		p.advance()
		e, err := p.unary(scalar)
		if err != nil {
			return nil, err
		}
		return &UnaryOperation{Op: OpSub, Expr: e}, nil
	}
	return p.primary(scalar)
}

func (p *parser) primary(scalar bool) (Expr, error) {
	t := p.tok()
	switch t.kind {
	case tokOp:
		if t.text == "(" {
			if scalar && p.peek().kind == tokOp && p.peek().text == "{" {
				return nil, p.errorf(t.pos, "arithmetic between metrics queries is not supported")
			}
			p.advance()
			e, err := p.expr(0, scalar)
			if err != nil {
				return nil, err
			}
			return e, p.expect(")")
		}
	case tokInt, tokFloat, tokDuration, tokString:
		p.advance()
		return p.number(t, false)
	case tokAttr:
		if !scalar {
			p.advance()
			return t.attr, nil
		}
		return nil, p.errorf(t.pos, "%s is outside an aggregate; write it inside one, as in avg(%s)", t.attr, t.attr)
	case tokIdent:
		if v, ok := keywordStatic(t.text); ok {
			p.advance()
			return v, nil
		}
		if f, ok := aggregateFuncs[t.text]; ok && scalar {
			return p.aggregate(f)
		}
		if bareIntrinsics[t.text] && !scalar {
			p.advance()
			return intrinsicByName[t.text].attribute(), nil
		}
		if scalar {
			return nil, p.expected("an aggregate such as count() or avg(duration), or a value")
		}
		return nil, p.errorf(t.pos, "unknown name %q: write a string in double quotes (%q), an attribute as span.%s, resource.%s or .%s", t.text, t.text, t.text, t.text, t.text)
	}
	if scalar {
		return nil, p.expected("an aggregate such as count() or avg(duration), or a value")
	}
	return nil, p.expected("an attribute, an intrinsic or a value")
}

func (p *parser) aggregate(f AggregateFunc) (Expr, error) {
	name := p.advance()
	if err := p.expect("("); err != nil {
		return nil, err
	}
	a := &Aggregate{Func: f}
	if f == AggregateCount {
		return a, p.expect(")")
	}
	if p.is(")") {
		return nil, p.errorf(p.tok().pos, "%s() needs a field, as in %s(duration)", name.text, name.text)
	}
	e, err := p.expr(0, false)
	if err != nil {
		return nil, err
	}
	a.Field = e
	return a, p.expect(")")
}

// keywordStatic returns the literal a keyword stands for.
func keywordStatic(w string) (Static, bool) {
	switch w {
	case "true", "false":
		return Static{Type: TypeBool, Bool: w == "true"}, true
	case "nil":
		return Static{Type: TypeNil}, true
	case "minInt":
		return Static{Type: TypeInt, Int: math.MinInt64}, true
	case "maxInt":
		return Static{Type: TypeInt, Int: math.MaxInt64}, true
	}
	if s, ok := statusKeywords[w]; ok {
		return Static{Type: TypeStatus, Status: s}, true
	}
	if k, ok := kindKeywords[w]; ok {
		return Static{Type: TypeKind, Kind: k}, true
	}
	return Static{}, false
}

// number converts a number, duration or string token, negated if neg.
func (p *parser) number(t token, neg bool) (Static, error) {
	text := t.text
	if neg {
		text = "-" + text
	}
	switch t.kind {
	case tokString:
		return Static{Type: TypeString, Str: t.text}, nil
	case tokInt:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return Static{}, p.errorf(t.pos, "integer %s is out of range (minInt to maxInt)", text)
		}
		return Static{Type: TypeInt, Int: n}, nil
	case tokFloat:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return Static{}, p.errorf(t.pos, "number %s is out of range", text)
		}
		return Static{Type: TypeFloat, Float: f}, nil
	case tokDuration:
		d, err := time.ParseDuration(text)
		if err != nil {
			return Static{}, p.errorf(t.pos, "invalid duration %s", text)
		}
		return Static{Type: TypeDuration, Duration: d}, nil
	}
	return Static{}, p.errorf(t.pos, "expected a value but found %s", t.describe())
}
