package traceql

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/scrytrace/scry/model"
)

// Query is one parsed TraceQL query: a pipeline and its hints
// (`with (most_recent=true)`).
type Query struct {
	// Pipeline is the query, unless it is arithmetic between metrics
	// queries: then Pipeline is nil and Math is the query.
	Pipeline *Pipeline
	Math     *MetricsMath
	Hints    []Hint

	// regexps holds the regular expressions of the query compiled (and
	// anchored) by Parse, by their source; Match compiles any other.
	regexps map[string]*regexp.Regexp
}

// String prints the query in canonical TraceQL.
func (q *Query) String() string {
	var s string
	if q.Math != nil {
		s = q.Math.String()
	} else {
		s = q.Pipeline.String()
	}
	if len(q.Hints) > 0 {
		parts := make([]string, len(q.Hints))
		for i, h := range q.Hints {
			parts[i] = h.String()
		}
		s += " with (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

// IsMetrics reports whether the query ends in a metrics function (rate(),
// count_over_time(), ...), so that it answers time series, not traces.
func (q *Query) IsMetrics() bool {
	return q.Math != nil || isMetricsPipeline(q.Pipeline)
}

// Pipelines returns the query's pipeline, or the metrics queries that
// its arithmetic combines, left to right.
func (q *Query) Pipelines() []*Pipeline {
	if q.Math == nil {
		return []*Pipeline{q.Pipeline}
	}
	var out []*Pipeline
	var walk func(MetricsExpr)
	walk = func(e MetricsExpr) {
		switch e := e.(type) {
		case *MetricsQuery:
			out = append(out, e.Pipeline)
		case *MetricsBinary:
			walk(e.Left)
			walk(e.Right)
		}
	}
	walk(q.Math.Expr)
	return out
}

// Hint is one `name=value` of a query's with (...).
type Hint struct {
	Name  string
	Value Static
}

func (h Hint) String() string { return h.Name + "=" + h.Value.String() }

// Pipeline is stages separated by `|`; each takes the spansets the one
// before it produced. The first stage is a SpansetExpr, or a ScalarFilter
// over all the spans of the trace (`count() > 10`).
type Pipeline struct {
	Stages []Stage
}

// String prints the stages joined by " | "; a MetricsFilter follows the
// stage before it without a pipe, as TraceQL writes it.
func (p *Pipeline) String() string {
	var b strings.Builder
	for i, st := range p.Stages {
		if i > 0 {
			if _, ok := st.(*MetricsFilter); ok {
				b.WriteByte(' ')
			} else {
				b.WriteString(" | ")
			}
		}
		if sub, ok := st.(*Pipeline); ok {
			b.WriteString("(" + sub.String() + ")")
		} else {
			b.WriteString(st.String())
		}
	}
	return b.String()
}

// Stage is one step of a pipeline: a SpansetExpr, *ScalarFilter, *GroupBy,
// *Select, *Coalesce, *MetricsAggregate, *TopK or *MetricsFilter.
type Stage interface {
	String() string
	stage()
}

// SpansetExpr selects spans: a *SpansetFilter, a *SpansetOperation of two
// spanset expressions, or a parenthesised *Pipeline.
type SpansetExpr interface {
	Stage
	spansetExpr()
}

// SpansetFilter is `{ expr }`: the spans for which Expr is true. Expr is
// nil for `{ }`, which selects every span.
type SpansetFilter struct {
	Expr Expr
}

func (f *SpansetFilter) String() string {
	if f.Expr == nil {
		return "{ }"
	}
	return "{ " + f.Expr.String() + " }"
}

// SpansetOperation combines two spanset expressions: && || and the
// structural operators.
type SpansetOperation struct {
	Op    Op
	Left  SpansetExpr
	Right SpansetExpr
}

func (o *SpansetOperation) String() string {
	return wrapSpanset(o.Left, o.Op, false) + " " + o.Op.String() + " " + wrapSpanset(o.Right, o.Op, true)
}

func wrapSpanset(e SpansetExpr, parent Op, right bool) string {
	switch c := e.(type) {
	case *SpansetOperation:
		p, cp := spansetPrec(parent), spansetPrec(c.Op)
		if cp < p || (right && cp == p) {
			return "(" + c.String() + ")"
		}
	case *Pipeline:
		return "(" + c.String() + ")"
	}
	return e.String()
}

// ScalarFilter keeps the spansets for which Expr, a comparison of
// aggregates (count(), avg(duration)) and values, is true.
type ScalarFilter struct {
	Expr Expr
}

func (f *ScalarFilter) String() string { return f.Expr.String() }

// GroupBy is by(...): it splits each spanset into one per distinct value
// of its fields.
type GroupBy struct {
	Fields []Expr
}

func (g *GroupBy) String() string { return "by(" + joinExprs(g.Fields) + ")" }

// Select is select(...): it keeps every spanset and asks for the fields to
// be returned with its spans.
type Select struct {
	Fields []Expr
}

func (s *Select) String() string { return "select(" + joinExprs(s.Fields) + ")" }

// Coalesce is coalesce(): it merges all spansets into one.
type Coalesce struct{}

func (*Coalesce) String() string { return "coalesce()" }

func (*SpansetFilter) stage()    {}
func (*SpansetOperation) stage() {}
func (*Pipeline) stage()         {}
func (*ScalarFilter) stage()     {}
func (*GroupBy) stage()          {}
func (*Select) stage()           {}
func (*Coalesce) stage()         {}
func (*MetricsAggregate) stage() {}
func (*TopK) stage()             {}
func (*MetricsFilter) stage()    {}

func (*SpansetFilter) spansetExpr()    {}
func (*SpansetOperation) spansetExpr() {}
func (*Pipeline) spansetExpr()         {}

// Expr is an expression inside a spanset filter or a scalar filter: an
// Attribute, a Static, a *BinaryOperation, a *UnaryOperation or (in scalar
// filters) an *Aggregate.
type Expr interface {
	String() string
	expr()
}

// BinaryOperation is Left Op Right: a comparison, && or ||, or arithmetic.
type BinaryOperation struct {
	Op    Op
	Left  Expr
	Right Expr
}

func (o *BinaryOperation) String() string {
	p := exprPrec(o.Op)
	return wrapExpr(o.Left, p, o.Op == OpPow) + " " + o.Op.String() + " " + wrapExpr(o.Right, p, o.Op != OpPow)
}

// wrapExpr prints a child of an operator of precedence p, in parentheses
// when it binds less tightly (or as tightly on the side that the operator
// does not associate to).
func wrapExpr(e Expr, p int, strict bool) string {
	if c, ok := e.(*BinaryOperation); ok {
		cp := exprPrec(c.Op)
		if cp < p || (strict && cp == p) {
			return "(" + c.String() + ")"
		}
	}
	return e.String()
}

// UnaryOperation is !x or -x.
type UnaryOperation struct {
	Op   Op // OpNot or OpSub
	Expr Expr
}

func (o *UnaryOperation) String() string {
	switch c := o.Expr.(type) {
	case *BinaryOperation:
		return o.Op.String() + "(" + c.String() + ")"
	case Static:
		// -(5) must not print as -5, which is the literal minus five.
		if o.Op == OpSub && c.isNumber() && !strings.HasPrefix(c.String(), "-") {
			return "-(" + c.String() + ")"
		}
	}
	return o.Op.String() + o.Expr.String()
}

// Aggregate is count() or avg/min/max/sum(field) over a spanset.
type Aggregate struct {
	Func  AggregateFunc
	Field Expr // nil for count()
}

func (a *Aggregate) String() string {
	if a.Field == nil {
		return a.Func.String() + "()"
	}
	return a.Func.String() + "(" + a.Field.String() + ")"
}

// AggregateFunc names an aggregate.
type AggregateFunc int

const (
	AggregateCount AggregateFunc = iota
	AggregateAvg
	AggregateMin
	AggregateMax
	AggregateSum
)

var aggregateNames = [...]string{"count", "avg", "min", "max", "sum"}

func (f AggregateFunc) String() string { return aggregateNames[f] }

func (*BinaryOperation) expr() {}
func (*UnaryOperation) expr()  {}
func (*Aggregate) expr()       {}
func (Attribute) expr()        {}
func (Static) expr()           {}

// Op is an operator.
type Op int

const (
	OpNone Op = iota
	// Comparisons.
	OpEq
	OpNeq
	OpGt
	OpGte
	OpLt
	OpLte
	OpRegex
	OpNotRegex
	// Boolean, in filters and between spansets.
	OpAnd
	OpOr
	OpNot
	// Arithmetic.
	OpAdd
	OpSub
	OpMul
	OpDiv
	OpMod
	OpPow
	// Structural, between spansets.
	OpDescendant
	OpChild
	OpAncestor
	OpParent
	OpSibling
	OpNotDescendant
	OpNotChild
	OpNotAncestor
	OpNotParent
	OpNotSibling
	OpUnionDescendant
	OpUnionChild
	OpUnionAncestor
	OpUnionParent
	OpUnionSibling
)

var opText = map[Op]string{
	OpEq: "=", OpNeq: "!=", OpGt: ">", OpGte: ">=", OpLt: "<", OpLte: "<=", OpRegex: "=~", OpNotRegex: "!~",
	OpAnd: "&&", OpOr: "||", OpNot: "!",
	OpAdd: "+", OpSub: "-", OpMul: "*", OpDiv: "/", OpMod: "%", OpPow: "^",
	OpDescendant: ">>", OpChild: ">", OpAncestor: "<<", OpParent: "<", OpSibling: "~",
	OpNotDescendant: "!>>", OpNotChild: "!>", OpNotAncestor: "!<<", OpNotParent: "!<", OpNotSibling: "!~",
	OpUnionDescendant: "&>>", OpUnionChild: "&>", OpUnionAncestor: "&<<", OpUnionParent: "&<", OpUnionSibling: "&~",
}

func (o Op) String() string { return opText[o] }

// exprPrec is the binding power of an operator inside filters: || < && <
// comparisons < + - < * / % < ^.
func exprPrec(o Op) int {
	switch o {
	case OpOr:
		return 1
	case OpAnd:
		return 2
	case OpEq, OpNeq, OpGt, OpGte, OpLt, OpLte, OpRegex, OpNotRegex:
		return 3
	case OpAdd, OpSub:
		return 4
	case OpMul, OpDiv, OpMod:
		return 5
	case OpPow:
		return 6
	}
	return 0
}

// spansetPrec is the binding power of an operator between spansets: || <
// && < the structural operators.
func spansetPrec(o Op) int {
	switch o {
	case OpOr:
		return 1
	case OpAnd:
		return 2
	}
	return 3
}

// Scope is where an attribute lives.
type Scope int

const (
	ScopeNone Scope = iota // unscoped .x: the span's attribute, else the resource's
	ScopeSpan
	ScopeResource
	ScopeEvent
	ScopeLink
	ScopeInstrumentation
	ScopeTrace // intrinsics only
)

var scopeNames = [...]string{"", "span", "resource", "event", "link", "instrumentation", "trace"}

func (s Scope) String() string { return scopeNames[s] }

// Intrinsic is a field every span has (name, duration, ...), as against
// an attribute a sender chose.
type Intrinsic int

const (
	IntrinsicNone Intrinsic = iota
	IntrinsicName
	IntrinsicStatus
	IntrinsicStatusMessage
	IntrinsicKind
	IntrinsicDuration
	IntrinsicSpanID
	IntrinsicParentID
	IntrinsicChildCount
	IntrinsicTraceID
	IntrinsicTraceDuration
	IntrinsicTraceRootName
	IntrinsicTraceRootService
	IntrinsicEventName
	IntrinsicEventTimeSinceStart
	IntrinsicLinkTraceID
	IntrinsicLinkSpanID
	IntrinsicInstrumentationName
	IntrinsicInstrumentationVersion
)

// intrinsicInfo is an intrinsic's canonical spelling, scope and bare name.
type intrinsicInfo struct {
	in    Intrinsic
	text  string // canonical form
	scope Scope
	name  string
}

var intrinsics = []intrinsicInfo{
	{IntrinsicName, "name", ScopeSpan, "name"},
	{IntrinsicStatus, "status", ScopeSpan, "status"},
	{IntrinsicStatusMessage, "statusMessage", ScopeSpan, "statusMessage"},
	{IntrinsicKind, "kind", ScopeSpan, "kind"},
	{IntrinsicDuration, "duration", ScopeSpan, "duration"},
	{IntrinsicSpanID, "span:id", ScopeSpan, "id"},
	{IntrinsicParentID, "span:parentID", ScopeSpan, "parentID"},
	{IntrinsicChildCount, "span:childCount", ScopeSpan, "childCount"},
	{IntrinsicTraceID, "trace:id", ScopeTrace, "id"},
	{IntrinsicTraceDuration, "trace:duration", ScopeTrace, "duration"},
	{IntrinsicTraceRootName, "trace:rootName", ScopeTrace, "rootName"},
	{IntrinsicTraceRootService, "trace:rootService", ScopeTrace, "rootService"},
	{IntrinsicEventName, "event:name", ScopeEvent, "name"},
	{IntrinsicEventTimeSinceStart, "event:timeSinceStart", ScopeEvent, "timeSinceStart"},
	{IntrinsicLinkTraceID, "link:traceID", ScopeLink, "traceID"},
	{IntrinsicLinkSpanID, "link:spanID", ScopeLink, "spanID"},
	{IntrinsicInstrumentationName, "instrumentation:name", ScopeInstrumentation, "name"},
	{IntrinsicInstrumentationVersion, "instrumentation:version", ScopeInstrumentation, "version"},
}

// intrinsicByName maps every accepted spelling to its intrinsic: the
// scoped forms (span:name), the bare ones (name, status, ...) and Tempo's
// older bare names (rootName, rootServiceName, traceDuration).
var intrinsicByName = func() map[string]intrinsicInfo {
	m := map[string]intrinsicInfo{}
	for _, in := range intrinsics {
		m[in.text] = in
		m[in.scope.String()+":"+in.name] = in
	}
	m["rootName"] = m["trace:rootName"]
	m["rootServiceName"] = m["trace:rootService"]
	m["traceDuration"] = m["trace:duration"]
	return m
}()

// bareIntrinsics are the intrinsics written without a scope.
var bareIntrinsics = map[string]bool{
	"name": true, "status": true, "statusMessage": true, "kind": true, "duration": true,
	"rootName": true, "rootServiceName": true, "traceDuration": true,
}

func (in intrinsicInfo) attribute() Attribute {
	return Attribute{Scope: in.scope, Name: in.name, Intrinsic: in.in}
}

// scopedIntrinsics lists the intrinsics of one scope for an error message.
func scopedIntrinsics(scope string) string {
	var names []string
	for _, in := range intrinsics {
		if in.scope.String() == scope {
			names = append(names, scope+":"+in.name)
		}
	}
	return strings.Join(names, ", ")
}

// Attribute is a field of a span: an intrinsic (Intrinsic is set; Scope
// and Name are its scope and bare name) or an attribute in Scope by Name.
type Attribute struct {
	Scope     Scope
	Name      string
	Intrinsic Intrinsic
}

func (a Attribute) String() string {
	if a.Intrinsic != IntrinsicNone {
		for _, in := range intrinsics {
			if in.in == a.Intrinsic {
				return in.text
			}
		}
	}
	name := a.Name
	plain := name != ""
	for i := 0; i < len(name); i++ {
		if !isNameChar(name[i]) {
			plain = false
			break
		}
	}
	if name != "" && (name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, "..") || (a.Scope == ScopeNone && isDigit(name[0]))) {
		plain = false
	}
	if !plain {
		name = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
	}
	return a.Scope.String() + "." + name
}

// StaticType is the type of a literal.
type StaticType int

const (
	TypeNil StaticType = iota
	TypeInt
	TypeFloat
	TypeString
	TypeBool
	TypeDuration
	TypeStatus
	TypeKind
)

// Static is a literal: nil, an int, a float, a string, a bool, a duration,
// a status (error, ok, unset) or a span kind (server, client, ...).
type Static struct {
	Type     StaticType
	Int      int64
	Float    float64
	Str      string
	Bool     bool
	Duration time.Duration
	Status   model.StatusCode
	Kind     model.SpanKind
}

var (
	statusKeywords = map[string]model.StatusCode{"error": model.StatusError, "ok": model.StatusOK, "unset": model.StatusUnset}
	kindKeywords   = map[string]model.SpanKind{
		"unspecified": model.SpanKindUnspecified, "internal": model.SpanKindInternal, "server": model.SpanKindServer,
		"client": model.SpanKindClient, "producer": model.SpanKindProducer, "consumer": model.SpanKindConsumer,
	}
)

func (s Static) String() string {
	switch s.Type {
	case TypeNil:
		return "nil"
	case TypeInt:
		return strconv.FormatInt(s.Int, 10)
	case TypeFloat:
		return formatFloat(s.Float)
	case TypeString:
		return strconv.Quote(s.Str)
	case TypeBool:
		return strconv.FormatBool(s.Bool)
	case TypeDuration:
		return formatDuration(s.Duration)
	case TypeStatus:
		for k, v := range statusKeywords {
			if v == s.Status {
				return k
			}
		}
	case TypeKind:
		if s.Kind == model.SpanKindUnspecified {
			return "unspecified"
		}
		return s.Kind.String()
	}
	return "nil"
}

func (s Static) isNumber() bool {
	return s.Type == TypeInt || s.Type == TypeFloat || s.Type == TypeDuration
}

// formatFloat prints a float so that it reads back as a float: 1.0, 0.5,
// 1e+21.
func formatFloat(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return s
	}
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// formatDuration prints a duration in the largest unit that holds it
// exactly: 2h, 1500ms, 10us.
func formatDuration(d time.Duration) string {
	units := []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "us"}}
	if d == 0 {
		return "0s"
	}
	for _, u := range units {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

func joinExprs(es []Expr) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.String()
	}
	return strings.Join(parts, ", ")
}
