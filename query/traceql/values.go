package traceql

import (
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/scrytrace/scry/model"
)

// env is what an expression is evaluated against: one span (span >= 0)
// with one of its events and links (or none), or a spanset (for
// aggregates in scalar filters).
type env struct {
	span  int
	event *model.Event
	link  *model.Link
	set   []int
}

// val is a value during evaluation: a Static, an array of them (from an
// array attribute), or a hex ID (compared without leading zeros).
type val struct {
	Static
	arr   []Static
	isArr bool
	isID  bool
}

var nilVal = val{}

func boolVal(b bool) val { return val{Static: Static{Type: TypeBool, Bool: b}} }

func (v val) isNil() bool  { return v.Type == TypeNil && !v.isArr }
func (v val) isTrue() bool { return !v.isArr && v.Type == TypeBool && v.Bool }

// static returns the value as one Static: arrays as their JSON text.
func (v val) static() Static {
	if !v.isArr {
		return v.Static
	}
	parts := make([]string, len(v.arr))
	for i, e := range v.arr {
		parts[i] = e.String()
	}
	return Static{Type: TypeString, Str: "[" + strings.Join(parts, ",") + "]"}
}

// scopeSet says which per-event and per-link fields an expression reads.
type scopeSet struct{ event, link bool }

func scopesOf(e Expr) scopeSet {
	var s scopeSet
	var walk func(Expr)
	walk = func(e Expr) {
		switch e := e.(type) {
		case Attribute:
			switch e.Scope {
			case ScopeEvent:
				s.event = true
			case ScopeLink:
				s.link = true
			}
		case *BinaryOperation:
			walk(e.Left)
			walk(e.Right)
		case *UnaryOperation:
			walk(e.Expr)
		case *Aggregate:
			if e.Field != nil {
				walk(e.Field)
			}
		}
	}
	walk(e)
	return s
}

// matchSpan reports whether the filter expression holds for span i, for
// one of its events and links if it reads their fields.
func (t *traceCtx) matchSpan(e Expr, i int, scopes scopeSet) bool {
	sp := t.spans[i]
	events := []*model.Event{nil}
	if scopes.event && len(sp.Events) > 0 {
		events = make([]*model.Event, len(sp.Events))
		for k := range sp.Events {
			events[k] = &sp.Events[k]
		}
	}
	links := []*model.Link{nil}
	if scopes.link && len(sp.Links) > 0 {
		links = make([]*model.Link, len(sp.Links))
		for k := range sp.Links {
			links[k] = &sp.Links[k]
		}
	}
	for _, ev := range events {
		for _, lk := range links {
			if t.eval(e, env{span: i, event: ev, link: lk}).isTrue() {
				return true
			}
		}
	}
	return false
}

// firstEnv is span i with its first event and link, for by(...).
func (t *traceCtx) firstEnv(i int) env {
	e := env{span: i}
	sp := t.spans[i]
	if len(sp.Events) > 0 {
		e.event = &sp.Events[0]
	}
	if len(sp.Links) > 0 {
		e.link = &sp.Links[0]
	}
	return e
}

// eval evaluates an expression; anything that cannot be computed (a
// missing attribute, a type mismatch, division by zero) is nil.
func (t *traceCtx) eval(e Expr, en env) val {
	switch e := e.(type) {
	case Static:
		return val{Static: e}
	case Attribute:
		if en.span < 0 {
			return nilVal
		}
		return t.attribute(e, en)
	case *Aggregate:
		if en.set == nil {
			return nilVal
		}
		return t.aggregate(e, en.set)
	case *UnaryOperation:
		v := t.eval(e.Expr, en)
		if v.isArr {
			return nilVal
		}
		switch {
		case e.Op == OpNot && v.Type == TypeBool:
			return boolVal(!v.Bool)
		case e.Op == OpSub && v.Type == TypeInt:
			return val{Static: Static{Type: TypeInt, Int: -v.Int}}
		case e.Op == OpSub && v.Type == TypeFloat:
			return val{Static: Static{Type: TypeFloat, Float: -v.Float}}
		case e.Op == OpSub && v.Type == TypeDuration:
			return val{Static: Static{Type: TypeDuration, Duration: -v.Duration}}
		}
		return nilVal
	case *BinaryOperation:
		switch e.Op {
		case OpAnd:
			return boolVal(t.eval(e.Left, en).isTrue() && t.eval(e.Right, en).isTrue())
		case OpOr:
			return boolVal(t.eval(e.Left, en).isTrue() || t.eval(e.Right, en).isTrue())
		}
		l, r := t.eval(e.Left, en), t.eval(e.Right, en)
		if exprPrec(e.Op) == 3 {
			if isNilLiteral(e.Left) || isNilLiteral(e.Right) {
				switch e.Op {
				case OpEq:
					return boolVal(l.isNil() && r.isNil())
				case OpNeq:
					return boolVal(l.isNil() != r.isNil())
				}
				return boolVal(false)
			}
			return boolVal(t.compare(e.Op, l, r))
		}
		if l.isArr || r.isArr {
			return nilVal
		}
		if s, ok := arithmetic(e.Op, l.Static, r.Static); ok {
			return val{Static: s}
		}
		return nilVal
	}
	return nilVal
}

// attribute reads an attribute or intrinsic of the span in en.
func (t *traceCtx) attribute(a Attribute, en env) val {
	sp := t.spans[en.span]
	if a.Intrinsic != IntrinsicNone {
		return t.intrinsic(a.Intrinsic, sp, en)
	}
	switch a.Scope {
	case ScopeSpan:
		return lookup(sp.Attributes, a.Name)
	case ScopeResource:
		if sp.Resource != nil {
			return lookup(sp.Resource.Attributes, a.Name)
		}
	case ScopeInstrumentation:
		if sp.Scope != nil {
			return lookup(sp.Scope.Attributes, a.Name)
		}
	case ScopeEvent:
		if en.event != nil {
			return lookup(en.event.Attributes, a.Name)
		}
	case ScopeLink:
		if en.link != nil {
			return lookup(en.link.Attributes, a.Name)
		}
	case ScopeNone:
		if v := lookup(sp.Attributes, a.Name); !v.isNil() {
			return v
		}
		if sp.Resource != nil {
			return lookup(sp.Resource.Attributes, a.Name)
		}
	}
	return nilVal
}

func (t *traceCtx) intrinsic(in Intrinsic, sp *model.Span, en env) val {
	str := func(s string) val { return val{Static: Static{Type: TypeString, Str: s}} }
	id := func(s string) val { return val{Static: Static{Type: TypeString, Str: s}, isID: true} }
	dur := func(d int64) val { return val{Static: Static{Type: TypeDuration, Duration: time.Duration(d)}} }
	switch in {
	case IntrinsicName:
		return str(sp.Name)
	case IntrinsicStatus:
		return val{Static: Static{Type: TypeStatus, Status: sp.Status.Code}}
	case IntrinsicStatusMessage:
		return str(sp.Status.Message)
	case IntrinsicKind:
		return val{Static: Static{Type: TypeKind, Kind: sp.Kind}}
	case IntrinsicDuration:
		return dur(int64(min(sp.Duration(), math.MaxInt64)))
	case IntrinsicSpanID:
		return id(sp.SpanID.String())
	case IntrinsicParentID:
		if sp.ParentSpanID.IsZero() {
			return nilVal
		}
		return id(sp.ParentSpanID.String())
	case IntrinsicChildCount:
		t.structure()
		return val{Static: Static{Type: TypeInt, Int: int64(t.children[en.span])}}
	case IntrinsicTraceID:
		return id(sp.TraceID.String())
	case IntrinsicTraceDuration:
		t.summary()
		if t.traceEnd < t.traceStart {
			return dur(0)
		}
		return dur(int64(min(t.traceEnd-t.traceStart, math.MaxInt64)))
	case IntrinsicTraceRootName, IntrinsicTraceRootService:
		t.summary()
		if t.root < 0 {
			return nilVal
		}
		if in == IntrinsicTraceRootName {
			return str(t.spans[t.root].Name)
		}
		return str(t.spans[t.root].ServiceName())
	case IntrinsicEventName:
		if en.event != nil {
			return str(en.event.Name)
		}
	case IntrinsicEventTimeSinceStart:
		if en.event != nil {
			return dur(int64(en.event.Time) - int64(sp.StartTime))
		}
	case IntrinsicLinkTraceID:
		if en.link != nil {
			return id(en.link.TraceID.String())
		}
	case IntrinsicLinkSpanID:
		if en.link != nil {
			return id(en.link.SpanID.String())
		}
	case IntrinsicInstrumentationName:
		if sp.Scope != nil {
			return str(sp.Scope.Name)
		}
	case IntrinsicInstrumentationVersion:
		if sp.Scope != nil {
			return str(sp.Scope.Version)
		}
	}
	return nilVal
}

// lookup finds an attribute by key and converts its value.
func lookup(kvs []model.KeyValue, key string) val {
	for i := range kvs {
		if kvs[i].Key == key {
			return fromModel(kvs[i].Value)
		}
	}
	return nilVal
}

func fromModel(v model.Value) val {
	if v.Type == model.ValueArray {
		out := val{isArr: true}
		for _, e := range v.Array {
			if s, ok := scalarFromModel(e); ok {
				out.arr = append(out.arr, s)
			}
		}
		return out
	}
	if s, ok := scalarFromModel(v); ok {
		return val{Static: s}
	}
	return nilVal
}

func scalarFromModel(v model.Value) (Static, bool) {
	switch v.Type {
	case model.ValueString:
		return Static{Type: TypeString, Str: v.Str}, true
	case model.ValueInt:
		return Static{Type: TypeInt, Int: v.Int}, true
	case model.ValueDouble:
		return Static{Type: TypeFloat, Float: v.Double}, true
	case model.ValueBool:
		return Static{Type: TypeBool, Bool: v.Bool}, true
	}
	return Static{}, false
}

func isNilLiteral(e Expr) bool {
	s, ok := e.(Static)
	return ok && s.Type == TypeNil
}

// compare applies a comparison of two values that are not the literal
// nil: nothing holds for a missing value; an array matches when an
// element does, and != / !~ when no element equals or matches.
func (t *traceCtx) compare(op Op, l, r val) bool {
	if l.isNil() || r.isNil() {
		return false
	}
	if l.isArr || r.isArr {
		pos := op
		switch op {
		case OpNeq:
			pos = OpEq
		case OpNotRegex:
			pos = OpRegex
		}
		found := false
		for _, a := range expand(l) {
			for _, b := range expand(r) {
				found = found || t.compareScalar(pos, a, b)
			}
		}
		if pos != op {
			return !found
		}
		return found
	}
	return t.compareScalar(op, l, r)
}

func expand(v val) []val {
	if !v.isArr {
		return []val{v}
	}
	out := make([]val, len(v.arr))
	for i, s := range v.arr {
		out[i] = val{Static: s}
	}
	return out
}

func (t *traceCtx) compareScalar(op Op, l, r val) bool {
	switch op {
	case OpRegex, OpNotRegex:
		if l.Type != TypeString || r.Type != TypeString {
			return false
		}
		re := t.q.regexps[r.Str]
		if re == nil {
			var err error
			if re, err = regexp.Compile(anchor(r.Str)); err != nil {
				return false
			}
		}
		return re.MatchString(l.Str) == (op == OpRegex)
	}
	c, ok := order(l, r)
	if !ok {
		return false
	}
	switch op {
	case OpEq:
		return c == 0
	case OpNeq:
		return c != 0
	case OpGt:
		return c > 0
	case OpGte:
		return c >= 0
	case OpLt:
		return c < 0
	case OpLte:
		return c <= 0
	}
	return false
}

// order compares two values of comparable types: numbers (ints, floats and
// durations in nanoseconds) with numbers, strings with strings (hex IDs
// without their leading zeros), bools, statuses and kinds with their own
// type (bools, statuses and kinds only for = and !=, where order's sign
// is all that is read).
func order(l, r val) (int, bool) {
	switch {
	case l.isNumber() && r.isNumber():
		if l.Type != TypeFloat && r.Type != TypeFloat {
			a, b := intOf(l.Static), intOf(r.Static)
			return cmp3(a < b, a > b), true
		}
		a, b := floatOf(l.Static), floatOf(r.Static)
		if math.IsNaN(a) || math.IsNaN(b) {
			return 0, false
		}
		return cmp3(a < b, a > b), true
	case l.Type == TypeString && r.Type == TypeString:
		a, b := l.Str, r.Str
		if l.isID || r.isID {
			a, b = normID(a), normID(b)
		}
		return strings.Compare(a, b), true
	case l.Type == TypeBool && r.Type == TypeBool:
		return cmp3(false, l.Bool != r.Bool), true
	case l.Type == TypeStatus && r.Type == TypeStatus:
		return cmp3(false, l.Status != r.Status), true
	case l.Type == TypeKind && r.Type == TypeKind:
		return cmp3(false, l.Kind != r.Kind), true
	}
	return 0, false
}

func cmp3(less, greater bool) int {
	switch {
	case less:
		return -1
	case greater:
		return 1
	}
	return 0
}

func normID(s string) string {
	s = strings.TrimLeft(strings.ToLower(s), "0")
	return s
}

func intOf(s Static) int64 {
	if s.Type == TypeDuration {
		return int64(s.Duration)
	}
	return s.Int
}

func floatOf(s Static) float64 {
	switch s.Type {
	case TypeDuration:
		return float64(s.Duration)
	case TypeInt:
		return float64(s.Int)
	}
	return s.Float
}

// arithmetic applies + - * / % ^ to numbers: ints stay ints, a float makes
// a float, a duration makes a duration. Division by zero has no value.
func arithmetic(op Op, l, r Static) (Static, bool) {
	if !l.isNumber() || !r.isNumber() {
		return Static{}, false
	}
	typ := TypeInt
	if l.Type == TypeFloat || r.Type == TypeFloat {
		typ = TypeFloat
	}
	if l.Type == TypeDuration || r.Type == TypeDuration {
		typ = TypeDuration
	}
	if typ == TypeFloat || (typ == TypeDuration && (l.Type == TypeFloat || r.Type == TypeFloat)) || op == OpPow {
		a, b := floatOf(l), floatOf(r)
		var f float64
		switch op {
		case OpAdd:
			f = a + b
		case OpSub:
			f = a - b
		case OpMul:
			f = a * b
		case OpDiv:
			if b == 0 {
				return Static{}, false
			}
			f = a / b
		case OpMod:
			if b == 0 {
				return Static{}, false
			}
			f = math.Mod(a, b)
		case OpPow:
			f = math.Pow(a, b)
		}
		switch {
		case typ == TypeFloat:
			return Static{Type: TypeFloat, Float: f}, true
		case math.IsNaN(f) || f >= math.MaxInt64 || f <= math.MinInt64:
			return Static{}, false
		case typ == TypeDuration:
			return Static{Type: TypeDuration, Duration: time.Duration(f)}, true
		}
		return Static{Type: TypeInt, Int: int64(f)}, true
	}
	a, b := intOf(l), intOf(r)
	var n int64
	switch op {
	case OpAdd:
		n = a + b
	case OpSub:
		n = a - b
	case OpMul:
		n = a * b
	case OpDiv, OpMod:
		if b == 0 || (a == math.MinInt64 && b == -1) {
			return Static{}, false
		}
		if op == OpDiv {
			n = a / b
		} else {
			n = a % b
		}
	}
	if typ == TypeDuration {
		return Static{Type: TypeDuration, Duration: time.Duration(n)}, true
	}
	return Static{Type: TypeInt, Int: n}, true
}

// aggregate computes count() or avg/min/max/sum(field) over a spanset;
// avg/min/max/sum read the numeric values of the field and have no value
// when no span has one. avg of ints is a float; durations stay durations.
func (t *traceCtx) aggregate(a *Aggregate, set []int) val {
	if a.Func == AggregateCount {
		return val{Static: Static{Type: TypeInt, Int: int64(len(set))}}
	}
	var n int
	var sum, lo, hi float64
	var isum int64
	typ := TypeNil
	for _, i := range set {
		v := t.eval(a.Field, t.firstEnv(i))
		if v.isArr || !v.isNumber() {
			continue
		}
		f := floatOf(v.Static)
		if n == 0 {
			lo, hi, typ = f, f, v.Type
		} else if typ != v.Type {
			typ = TypeFloat
		}
		n++
		sum += f
		isum += intOf(v.Static)
		lo, hi = min(lo, f), max(hi, f)
	}
	if n == 0 {
		return nilVal
	}
	out := func(f float64) val {
		switch typ {
		case TypeDuration:
			return val{Static: Static{Type: TypeDuration, Duration: time.Duration(f)}}
		case TypeInt:
			return val{Static: Static{Type: TypeInt, Int: int64(f)}}
		}
		return val{Static: Static{Type: TypeFloat, Float: f}}
	}
	switch a.Func {
	case AggregateAvg:
		if typ == TypeInt {
			return val{Static: Static{Type: TypeFloat, Float: sum / float64(n)}}
		}
		return out(sum / float64(n))
	case AggregateMin:
		return out(lo)
	case AggregateMax:
		return out(hi)
	case AggregateSum:
		switch typ {
		case TypeInt:
			return val{Static: Static{Type: TypeInt, Int: isum}}
		case TypeDuration:
			return val{Static: Static{Type: TypeDuration, Duration: time.Duration(isum)}}
		}
		return out(sum)
	}
	return nilVal
}
