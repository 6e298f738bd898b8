package traceql

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/scrytrace/scry/model"
)

func attr(scope Scope, name string) Attribute { return Attribute{Scope: scope, Name: name} }
func intr(name string) Attribute              { return intrinsicByName[name].attribute() }
func str(s string) Static                     { return Static{Type: TypeString, Str: s} }
func num(n int64) Static                      { return Static{Type: TypeInt, Int: n} }
func bin(op Op, l, r Expr) *BinaryOperation   { return &BinaryOperation{Op: op, Left: l, Right: r} }
func filter(e Expr) *SpansetFilter            { return &SpansetFilter{Expr: e} }

// TestParseModel checks the model of queries that exercise each part of the
// language, and that each prints as the canonical form given.
func TestParseModel(t *testing.T) {
	tests := []struct {
		src, canonical string
		want           []Stage
	}{
		{`{}`, `{ }`, []Stage{&SpansetFilter{}}},
		{`{ span.http.status_code>=500 }`, `{ span.http.status_code >= 500 }`,
			[]Stage{filter(bin(OpGte, attr(ScopeSpan, "http.status_code"), num(500)))}},
		{`{ .a = 1 && resource.b = "x" || !event.c }`, `{ .a = 1 && resource.b = "x" || !event.c }`,
			[]Stage{filter(bin(OpOr, bin(OpAnd, bin(OpEq, attr(ScopeNone, "a"), num(1)), bin(OpEq, attr(ScopeResource, "b"), str("x"))),
				&UnaryOperation{Op: OpNot, Expr: attr(ScopeEvent, "c")}))}},
		{`{ .a = 1 && (resource.b = "x" || link.c != nil) }`, `{ .a = 1 && (resource.b = "x" || link.c != nil) }`,
			[]Stage{filter(bin(OpAnd, bin(OpEq, attr(ScopeNone, "a"), num(1)),
				bin(OpOr, bin(OpEq, attr(ScopeResource, "b"), str("x")), bin(OpNeq, attr(ScopeLink, "c"), Static{Type: TypeNil}))))}},
		{`{ span."a b" = "x\"y\n" && instrumentation.lib-name = true }`, `{ span."a b" = "x\"y\n" && instrumentation.lib-name = true }`,
			[]Stage{filter(bin(OpAnd, bin(OpEq, attr(ScopeSpan, "a b"), str("x\"y\n")), bin(OpEq, attr(ScopeInstrumentation, "lib-name"), Static{Type: TypeBool, Bool: true})))}},
		{`{ span:name = "x" && name = "y" }`, `{ name = "x" && name = "y" }`,
			[]Stage{filter(bin(OpAnd, bin(OpEq, intr("name"), str("x")), bin(OpEq, intr("name"), str("y"))))}},
		{`{ span:status = error && kind != unspecified }`, `{ status = error && kind != unspecified }`,
			[]Stage{filter(bin(OpAnd, bin(OpEq, intr("status"), Static{Type: TypeStatus, Status: model.StatusError}),
				bin(OpNeq, intr("kind"), Static{Type: TypeKind, Kind: model.SpanKindUnspecified})))}},
		{`{ duration > 1.5s && trace:duration < 2h && span:duration >= 300ms && duration != 10us && duration != 5ns }`,
			`{ duration > 1500ms && trace:duration < 2h && duration >= 300ms && duration != 10us && duration != 5ns }`,
			[]Stage{filter(bin(OpAnd, bin(OpAnd, bin(OpAnd, bin(OpAnd,
				bin(OpGt, intr("duration"), Static{Type: TypeDuration, Duration: 1500 * time.Millisecond}),
				bin(OpLt, intr("trace:duration"), Static{Type: TypeDuration, Duration: 2 * time.Hour})),
				bin(OpGte, intr("duration"), Static{Type: TypeDuration, Duration: 300 * time.Millisecond})),
				bin(OpNeq, intr("duration"), Static{Type: TypeDuration, Duration: 10 * time.Microsecond})),
				bin(OpNeq, intr("duration"), Static{Type: TypeDuration, Duration: 5})))}},
		{`{ span.a > -1 && span.b < -2.5 && span.c = minInt }`, `{ span.a > -1 && span.b < -2.5 && span.c = -9223372036854775808 }`,
			[]Stage{filter(bin(OpAnd, bin(OpAnd, bin(OpGt, attr(ScopeSpan, "a"), num(-1)), bin(OpLt, attr(ScopeSpan, "b"), Static{Type: TypeFloat, Float: -2.5})),
				bin(OpEq, attr(ScopeSpan, "c"), num(math.MinInt64))))}},
		{`{ span.a = 1 + 2 * 3 ^ 2 ^ 2 - (4 - 5) }`, `{ span.a = 1 + 2 * 3 ^ 2 ^ 2 - (4 - 5) }`,
			[]Stage{filter(bin(OpEq, attr(ScopeSpan, "a"),
				bin(OpSub, bin(OpAdd, num(1), bin(OpMul, num(2), bin(OpPow, num(3), bin(OpPow, num(2), num(2))))), bin(OpSub, num(4), num(5)))))}},
		{"{ duration > 10µs || duration < 1h30m || span.a = `C:\\x` }", `{ duration > 10us || duration < 90m || span.a = "C:\\x" }`,
			[]Stage{filter(bin(OpOr, bin(OpOr,
				bin(OpGt, intr("duration"), Static{Type: TypeDuration, Duration: 10 * time.Microsecond}),
				bin(OpLt, intr("duration"), Static{Type: TypeDuration, Duration: 90 * time.Minute})),
				bin(OpEq, attr(ScopeSpan, "a"), str(`C:\x`))))}},
		{`{ span.a = -(5) }`, `{ span.a = -(5) }`,
			[]Stage{filter(bin(OpEq, attr(ScopeSpan, "a"), &UnaryOperation{Op: OpSub, Expr: num(5)}))}},
		{`{ } >> { } && { } ~ { } || { } !< { }`, `{ } >> { } && { } ~ { } || { } !< { }`,
			[]Stage{&SpansetOperation{Op: OpOr,
				Left:  &SpansetOperation{Op: OpAnd, Left: &SpansetOperation{Op: OpDescendant, Left: &SpansetFilter{}, Right: &SpansetFilter{}}, Right: &SpansetOperation{Op: OpSibling, Left: &SpansetFilter{}, Right: &SpansetFilter{}}},
				Right: &SpansetOperation{Op: OpNotParent, Left: &SpansetFilter{}, Right: &SpansetFilter{}}}}},
		{`{ } &> ({ } || { })`, `{ } &> ({ } || { })`,
			[]Stage{&SpansetOperation{Op: OpUnionChild, Left: &SpansetFilter{}, Right: &SpansetOperation{Op: OpOr, Left: &SpansetFilter{}, Right: &SpansetFilter{}}}}},
		{`{ } | by(resource.service.name) | count() > 1 | avg(duration) >= 2 * min(duration) | select(span.a, .b) | coalesce()`,
			`{ } | by(resource.service.name) | count() > 1 | avg(duration) >= 2 * min(duration) | select(span.a, .b) | coalesce()`,
			[]Stage{&SpansetFilter{}, &GroupBy{Fields: []Expr{attr(ScopeResource, "service.name")}},
				&ScalarFilter{Expr: bin(OpGt, &Aggregate{Func: AggregateCount}, num(1))},
				&ScalarFilter{Expr: bin(OpGte, &Aggregate{Func: AggregateAvg, Field: intr("duration")}, bin(OpMul, num(2), &Aggregate{Func: AggregateMin, Field: intr("duration")}))},
				&Select{Fields: []Expr{attr(ScopeSpan, "a"), attr(ScopeNone, "b")}}, &Coalesce{}}},
		{`({ } | count() > 1) && { }`, `({ } | count() > 1) && { }`,
			[]Stage{&SpansetOperation{Op: OpAnd, Left: &Pipeline{Stages: []Stage{&SpansetFilter{}, &ScalarFilter{Expr: bin(OpGt, &Aggregate{Func: AggregateCount}, num(1))}}}, Right: &SpansetFilter{}}}},
		{`{ } | compare({ status = error }, 5, 1700000000000000000, 1700000300000000000)`, `{ } | compare({ status = error }, 5, 1700000000000000000, 1700000300000000000)`,
			[]Stage{&SpansetFilter{}, &MetricsAggregate{Func: MetricsCompare, Compare: &CompareArgs{
				Filter: filter(bin(OpEq, intr("status"), Static{Type: TypeStatus, Status: model.StatusError})), TopN: 5, Start: 1700000000000000000, End: 1700000300000000000}}}},
		{`({ } | rate())`, `{ } | rate()`, []Stage{&SpansetFilter{}, &MetricsAggregate{Func: MetricsRate}}},
		{`{ } | quantile_over_time(duration, .5, .9) by (resource.service.name) | topk(3) > 1s`,
			`{ } | quantile_over_time(duration, 0.5, 0.9) by (resource.service.name) | topk(3) > 1s`,
			[]Stage{&SpansetFilter{}, &MetricsAggregate{Func: MetricsQuantileOverTime, Field: intr("duration"), Quantiles: []float64{.5, .9}, By: []Expr{attr(ScopeResource, "service.name")}},
				&TopK{K: 3}, &MetricsFilter{Op: OpGt, Value: Static{Type: TypeDuration, Duration: time.Second}}}},
	}
	for _, tt := range tests {
		q, err := Parse(tt.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.src, err)
			continue
		}
		if q.Pipeline == nil || !reflect.DeepEqual(q.Pipeline.Stages, tt.want) {
			t.Errorf("Parse(%q) = %s, want %s", tt.src, q, (&Pipeline{Stages: tt.want}))
		}
		if s := q.String(); s != tt.canonical {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.src, s, tt.canonical)
		}
		checkRoundTrip(t, tt.src, q)
	}
}

// TestParseMetricsMath checks the model of arithmetic between metrics
// queries: precedence, numbers on either side, and what follows it.
func TestParseMetricsMath(t *testing.T) {
	rate := func(e Expr) *MetricsQuery {
		return &MetricsQuery{Pipeline: &Pipeline{Stages: []Stage{filter(e), &MetricsAggregate{Func: MetricsRate}}}}
	}
	errs := bin(OpEq, intr("status"), Static{Type: TypeStatus, Status: model.StatusError})
	src := `100 * ({status=error} | rate()) / ({} | rate()) - (2 - -1.5) | topk(5) > 10 with (sample=true)`
	want := &MetricsMath{
		Expr: &MetricsBinary{Op: OpSub,
			Left: &MetricsBinary{Op: OpDiv,
				Left:  &MetricsBinary{Op: OpMul, Left: num(100), Right: rate(errs)},
				Right: &MetricsQuery{Pipeline: &Pipeline{Stages: []Stage{&SpansetFilter{}, &MetricsAggregate{Func: MetricsRate}}}}},
			Right: &MetricsBinary{Op: OpSub, Left: num(2), Right: Static{Type: TypeFloat, Float: -1.5}}},
		Then: []Stage{&TopK{K: 5}, &MetricsFilter{Op: OpGt, Value: num(10)}},
	}
	q, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	if q.Pipeline != nil || !reflect.DeepEqual(q.Math, want) {
		t.Errorf("Parse(%q) = %s, want %s", src, q, want)
	}
	if s, w := q.String(), `100 * ({ status = error } | rate()) / ({ } | rate()) - (2 - -1.5) | topk(5) > 10 with (sample=true)`; s != w {
		t.Errorf("String() = %q, want %q", s, w)
	}
	if !q.IsMetrics() || len(q.Pipelines()) != 2 {
		t.Errorf("IsMetrics() = %v, Pipelines() = %v; want true and two", q.IsMetrics(), q.Pipelines())
	}
	checkRoundTrip(t, src, q)
}

// TestParseErrors checks that a bad query is a *ParseError at the place
// that is wrong, saying what was expected there.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		src    string
		offset int
		msg    string
	}{
		{`{ span.a = 1`, 12, `1:13: expected "}" but found end of query`},
		{`{ status = error`, 16, `1:17: expected "}" but found end of query`},
		{`{ span.a = }`, 11, `1:12: expected an attribute, an intrinsic or a value but found "}"`},
		{`{ span.a =~ "(" }`, 12, "1:13: invalid regular expression \"(\": missing closing ): `(`"},
		{`{ span.a =~ 5 }`, 12, `1:13: =~ takes a regular expression in a string, not 5`},
		{`{ status = 200 }`, 11, `1:12: status compares with error, ok or unset, not 200`},
		{`{ kind = "server" }`, 9, `1:10: kind compares with server, client, producer, consumer, internal or unspecified, not "server"`},
		{`{ span.a > error }`, 11, `1:12: error compares only with = and !=`},
		{`{ foo = 1 }`, 2, `1:3: unknown name "foo": write a string in double quotes ("foo"), an attribute as span.foo, resource.foo or .foo`},
		{`{ resource.service.name = frontend }`, 26, `1:27: unknown name "frontend": write a string in double quotes ("frontend"), an attribute as span.frontend, resource.frontend or .frontend`},
		{`{ span.a = 'x' }`, 11, `1:12: strings are written in double quotes or backquotes, not single quotes`},
		{`{ span:foo = 1 }`, 2, `1:3: unknown intrinsic "span:foo"; the span: intrinsics are span:name, span:status, span:statusMessage, span:kind, span:duration, span:id, span:parentID, span:childCount`},
		{`{ span. = 1 }`, 7, `1:8: expected an attribute name after "span."`},
		{`{ span.a..b = 1 }`, 9, `1:10: attribute name "span.a.." has an empty part between dots (quote a name with odd dots: span."a..b")`},
		{`{ ... }`, 3, `1:4: attribute name ".." has an empty part between dots (quote a name with odd dots: span."a..b")`},
		{`{ span.a. = 1 }`, 8, `1:9: attribute name "span.a." has an empty part between dots (quote a name with odd dots: span."a..b")`},
		{`{ span."a = 1 }`, 7, `1:8: unterminated quoted attribute name`},
		{`{ "abc }`, 2, `1:3: unterminated string`},
		{`{ "a\qb" }`, 2, `1:3: invalid string "a\qb": bad escape sequence`},
		{`{ span.a = 1 } | count()`, 17, `1:18: expected a comparison such as count() > 2, but count() compares nothing`},
		{`{ } | rate() | count() > 1`, 15, `1:16: after rate() only topk(), bottomk() or a comparison may follow`},
		{`{ } | rate() | rate()`, 15, `1:16: a query has one metrics function; after rate() only topk(), bottomk() or a comparison may follow`},
		{`{ } | topk(5)`, 6, `1:7: topk() follows a metrics function such as rate()`},
		{`{ } | rate() | topk(0)`, 20, `1:21: topk() takes a whole number greater than zero, not number 0`},
		{`{ } | rate() > "x"`, 15, `1:16: a metrics query compares with a number or a duration, not "x"`},
		{`{ } | quantile_over_time(duration)`, 33, `1:34: expected "," and a quantile such as .99 but found ")"`},
		{`{ } | quantile_over_time(duration, 2)`, 35, `1:36: a quantile is a number between 0 and 1, not 2`},
		{`{ } | avg_over_time()`, 20, `1:21: avg_over_time() needs the field it measures, as in avg_over_time(span:duration)`},
		{`{ } | by()`, 9, `1:10: by() needs at least one attribute`},
		{`{ } | avg()`, 10, `1:11: avg() needs a field, as in avg(duration)`},
		{`{ } | frobnicate()`, 6, `1:7: expected a spanset filter "{", an aggregate (count(), avg(), ...), by(), select(), coalesce() or a metrics function but found "frobnicate"`},
		{`{ 99999999999999999999 }`, 2, `1:3: integer 99999999999999999999 is out of range (minInt to maxInt)`},
		{`{ duration > 5q }`, 13, `1:14: invalid duration "5q" (units are ns, us, ms, s, m, h)`},
		{`{ } >`, 5, `1:6: expected a spanset filter "{" but found end of query`},
		{`{} {}`, 3, `1:4: expected "|", an operator or end of query but found "{"`},
		{`{ } with (x)`, 11, `1:12: expected "=" but found ")"`},
		{`span.a = 1`, 0, `1:1: expected a spanset filter "{" but found attribute span.a`},
		{"{\n  span.a = 1 &&\n  }", 20, `3:3: expected an attribute, an intrinsic or a value but found "}"`},
		{"{ span.ü = \"ü\" # }", 17, `1:16: unexpected character '#'`},
		{`({ } | rate()) && { }`, 15, `1:16: expected an operator, "|" or end of query but found "&&"`},
		{`{ } | rate() / 2`, 13, `1:14: metrics arithmetic needs each metrics query in parentheses, as in ({ } | rate()) / 2`},
		{`({ } | rate()) / 2s`, 17, `1:18: a duration cannot be an operand of metrics arithmetic`},
		{`(1 + 2) * 3`, 11, `1:12: arithmetic needs a metrics query in parentheses, as in ({ } | rate()) * 2`},
		{`({ } | count() > 1) / 2`, 20, `1:21: metrics arithmetic needs each metrics query in parentheses, as in ({ } | rate()) / 2`},
		{`({ } | rate()) / ({ } | rate()) | by(x)`, 34, `1:35: expected topk() or bottomk() but found "by"`},
		{`{ } | compare(status = error)`, 14, `1:15: expected a spanset filter "{" that picks the selection but found "status"`},
		{`{ } | compare({ status = error }, 0)`, 35, `1:36: compare() takes a top-N between 1 and 1000, not 0`},
		{`{ } | compare({ status = error }, 10, 5)`, 39, `1:40: compare() takes a start and an end, or neither`},
		{`{ } | compare({ status = error }) | topk(2)`, 36, `1:37: compare() cannot be followed by topk()`},
		{`{ } | compare({ status = error }) > 2`, 34, `1:35: compare() cannot be followed by a comparison`},
		{`{ span.a = avg(duration) }`, 11, `1:12: unknown name "avg": write a string in double quotes ("avg"), an attribute as span.avg, resource.avg or .avg`},
		{`{ } | count() > span.a`, 16, `1:17: span.a is outside an aggregate; write it inside one, as in avg(span.a)`},
		{`{ span.a = ` + deep(200) + ` }`, 110, `1:111: query nests more than 100 levels deep`},
	}
	for _, tt := range tests {
		q, err := Parse(tt.src)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) = %v, %v; want a *ParseError", tt.src, q, err)
			continue
		}
		if pe.Offset != tt.offset || err.Error() != tt.msg {
			t.Errorf("Parse(%q):\n got offset %d: %s\nwant offset %d: %s", tt.src, pe.Offset, err, tt.offset, tt.msg)
		}
	}
}

func deep(n int) string {
	s := "1"
	for range n {
		s = "(" + s + ")"
	}
	return s
}
