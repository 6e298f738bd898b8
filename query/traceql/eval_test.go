package traceql

import (
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/model"
)

// checkout is a hand-built trace:
//
//	GET /checkout   frontend server  0-100ms  http.status_code=200 http.method=GET
//	├── SELECT      frontend client 10-30ms   db.system=postgresql, status ok
//	└── charge      payment  server 30-90ms   http.status_code=500 tags=[x,y], error "card declined"
//	    ├── db insert   payment client 40-50ms  error, event "exception" at 45ms
//	    └── cache get   payment internal 50-55ms  a link to another trace
func checkout() []*model.Span {
	ms := func(n int) uint64 { return uint64(1_700_000_000_000_000_000 + n*int(time.Millisecond)) }
	frontend := &model.Resource{Attributes: []model.KeyValue{{Key: "service.name", Value: model.StringValue("frontend")}}}
	payment := &model.Resource{Attributes: []model.KeyValue{{Key: "service.name", Value: model.StringValue("payment")}, {Key: "http.method", Value: model.StringValue("POST")}}}
	scope := &model.Scope{Name: "otelhttp", Version: "0.5"}
	tid := model.TraceID{15: 0xab}
	sid := func(n byte) model.SpanID { return model.SpanID{7: n} }
	span := func(id, parent byte, name string, res *model.Resource, kind model.SpanKind, from, to int) *model.Span {
		return &model.Span{Resource: res, Scope: scope, TraceID: tid, SpanID: sid(id), ParentSpanID: sid(parent),
			Name: name, Kind: kind, StartTime: ms(from), EndTime: ms(to)}
	}
	root := span(1, 0, "GET /checkout", frontend, model.SpanKindServer, 0, 100)
	root.Attributes = []model.KeyValue{{Key: "http.status_code", Value: model.IntValue(200)}, {Key: "http.method", Value: model.StringValue("GET")}}
	sel := span(2, 1, "SELECT", frontend, model.SpanKindClient, 10, 30)
	sel.Attributes = []model.KeyValue{{Key: "db.system", Value: model.StringValue("postgresql")}}
	sel.Status.Code = model.StatusOK
	charge := span(3, 1, "charge", payment, model.SpanKindServer, 30, 90)
	charge.Attributes = []model.KeyValue{{Key: "http.status_code", Value: model.IntValue(500)},
		{Key: "tags", Value: model.ArrayValue(model.StringValue("x"), model.StringValue("y"))}, {Key: "ratio", Value: model.DoubleValue(0.25)}}
	charge.Status = model.Status{Code: model.StatusError, Message: "card declined"}
	insert := span(4, 3, "db insert", payment, model.SpanKindClient, 40, 50)
	insert.Status.Code = model.StatusError
	insert.Events = []model.Event{
		{Time: ms(42), Name: "retry", Attributes: []model.KeyValue{{Key: "exception.message", Value: model.StringValue("other")}}},
		{Time: ms(45), Name: "exception", Attributes: []model.KeyValue{{Key: "exception.message", Value: model.StringValue("boom")}}},
	}
	cache := span(5, 3, "cache get", payment, model.SpanKindInternal, 50, 55)
	cache.Links = []model.Link{{TraceID: model.TraceID{15: 0xcd}, SpanID: sid(9), Attributes: []model.KeyValue{{Key: "opentracing.ref_type", Value: model.StringValue("follows_from")}}}}
	return []*model.Span{root, sel, charge, insert, cache}
}

const everySpan = "GET /checkout, SELECT, charge, db insert, cache get"

func TestMatch(t *testing.T) {
	tests := []struct {
		query string
		want  string // names of the matched spans, in trace order; "" for no match
		sets  int    // number of spansets, when it is not 1
	}{
		{`{ }`, everySpan, 1},
		{`{ resource.service.name = "payment" }`, "charge, db insert, cache get", 1},
		{`{ .service.name = "payment" && .http.method = "POST" }`, "charge, db insert, cache get", 1},
		{`{ .http.method = "GET" }`, "GET /checkout", 1},
		{`{ status = error }`, "charge, db insert", 1},
		{`{ span:status = ok }`, "SELECT", 1},
		{`{ status = unset }`, "GET /checkout, cache get", 1},
		{`{ statusMessage = "card declined" }`, "charge", 1},
		{`{ span.http.status_code >= 500 }`, "charge", 1},
		{`{ span.http.status_code != 500 }`, "GET /checkout", 1}, // a missing attribute is never != a value
		{`{ span.http.status_code > 10 * 10 + 99 }`, "GET /checkout, charge", 1},
		{`{ span.http.status_code / 100 = 5 }`, "charge", 1},
		{`{ span.ratio < 0.5 && span.ratio > -1 }`, "charge", 1},
		{`{ span.http.status_code = "500" }`, "", 0}, // an int is not a string
		{`{ span.db.system = nil }`, "GET /checkout, charge, db insert, cache get", 1},
		{`{ span.db.system != nil }`, "SELECT", 1},
		{`{ nil = span.db.system }`, "GET /checkout, charge, db insert, cache get", 1},
		{`{ span.db.system = span.missing }`, "", 0}, // nil is only equal to the literal nil
		{`{ name =~ "GET.*" }`, "GET /checkout", 1},
		{`{ name =~ "GET" }`, "", 0}, // regular expressions are anchored
		{`{ name !~ ".*e.*" }`, "SELECT", 1},
		{`{ span.db.system =~ "postgresql|mysql" }`, "SELECT", 1},
		{`{ duration > 50ms }`, "GET /checkout, charge", 1},
		{`{ duration >= 20ms && duration < 1s }`, "GET /checkout, SELECT, charge", 1},
		{`{ span:duration = 5000us }`, "cache get", 1},
		{`{ kind = server }`, "GET /checkout, charge", 1},
		{`{ kind = client || kind = internal }`, "SELECT, db insert, cache get", 1},
		{`{ !(kind = server) }`, "SELECT, db insert, cache get", 1},
		{`{ span.tags = "y" }`, "charge", 1},
		{`{ span.tags != "y" }`, "", 0},
		{`{ span.tags != "z" }`, "charge", 1},
		{`{ span.tags =~ "[xz]" }`, "charge", 1},
		{`{ span:childCount = 0 }`, "SELECT, db insert, cache get", 1},
		{`{ span:childCount > 1 }`, "GET /checkout, charge", 1},
		{`{ trace:rootName = "GET /checkout" && trace:rootService = "frontend" && trace:duration = 100ms }`, everySpan, 1},
		{`{ trace:id = "ab" && span:id = "0000000000000003" }`, "charge", 1},
		{`{ span:id = "3" }`, "charge", 1},
		{`{ span:parentID = nil }`, "GET /checkout", 1},
		{`{ span:parentID = "03" }`, "db insert, cache get", 1},
		{`{ event:name = "exception" && event.exception.message = "boom" }`, "db insert", 1},
		{`{ event:name = "retry" && event.exception.message = "boom" }`, "", 0}, // two fields of one event
		{`{ event:timeSinceStart = 5ms }`, "db insert", 1},
		{`{ event.exception.message = nil }`, "GET /checkout, SELECT, charge, cache get", 1},
		{`{ link:traceID = "cd" && link.opentracing.ref_type = "follows_from" && link:spanID = "9" }`, "cache get", 1},
		{`{ instrumentation:name = "otelhttp" && instrumentation:version = "0.5" }`, everySpan, 1},

		{`{ resource.service.name = "frontend" } >> { status = error }`, "charge, db insert", 1},
		{`{ name = "charge" } > { }`, "db insert, cache get", 1},
		{`{ name = "db insert" } < { }`, "charge", 1},
		{`{ name = "db insert" } << { }`, "GET /checkout, charge", 1},
		{`{ name = "db insert" } ~ { }`, "cache get", 1},
		{`{ } ~ { name = "GET /checkout" }`, "", 0},
		{`{ } !< { resource.service.name = "payment" }`, "db insert, cache get", 1},
		{`{ status = error } !< { status = error }`, "db insert", 1},
		{`{ name = "charge" } !> { }`, "GET /checkout, SELECT, charge", 1},
		{`{ name = "SELECT" } !~ { }`, "GET /checkout, SELECT, db insert, cache get", 1},
		{`{ name = "charge" } !>> { }`, "GET /checkout, SELECT, charge", 1},
		{`{ name = "charge" } !<< { }`, "SELECT, charge, db insert, cache get", 1},
		{`{ name = "charge" } &> { }`, "charge, db insert, cache get", 1},
		{`{ name = "GET /checkout" } &>> { status = error }`, "GET /checkout, charge, db insert", 1},
		{`{ name = "db insert" } &<< { kind = server }`, "GET /checkout, charge, db insert", 1},
		{`{ name = "db insert" } &< { }`, "charge, db insert", 1},
		{`{ name = "db insert" } &~ { }`, "db insert, cache get", 1},
		{`{ kind = server } > { kind = server } > { status = error }`, "db insert", 1},
		{`{ name = "SELECT" } && { status = error }`, "SELECT, charge, db insert", 1},
		{`{ name = "SELECT" } && { name = "nope" }`, "", 0},
		{`{ name = "SELECT" } || { name = "nope" }`, "SELECT", 1},

		{`{ } | count() > 4`, everySpan, 1},
		{`{ } | count() > 5`, "", 0},
		{`count() = 5`, everySpan, 1},
		{`{ resource.service.name = "payment" } | avg(duration) > 20ms`, "charge, db insert, cache get", 1},
		{`{ resource.service.name = "payment" } | avg(duration) > 30ms`, "", 0},
		{`{ resource.service.name = "payment" } | min(duration) = 5ms | sum(duration) = 75ms`, "charge, db insert, cache get", 1},
		{`{ } | sum(span.http.status_code) = 700 | avg(span.http.status_code) = 350`, everySpan, 1},
		{`{ } | max(span.missing) > 0`, "", 0},
		{`{ } | by(resource.service.name) | count() > 2`, "charge, db insert, cache get", 1},
		{`{ } | by(resource.service.name)`, everySpan, 2},
		{`{ status = error } | by(resource.service.name) | count() > 1`, "charge, db insert", 1},
		{`{ } | by(resource.service.name) | coalesce()`, everySpan, 1},
		{`({ } | count() > 4) && { name = "SELECT" }`, everySpan, 1},
		{`{ } | { status = error }`, "charge, db insert", 1},
		{`{ status = error } | rate() by (resource.service.name)`, "charge, db insert", 1},
		{`({ status = error } | rate()) / ({ kind = server } | rate())`, "GET /checkout, charge, db insert", 2},
	}
	trace := checkout()
	for _, tt := range tests {
		q, err := Parse(tt.query)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.query, err)
			continue
		}
		sets, ok := q.Match(trace)
		if got := names(sets); got != tt.want || ok != (tt.want != "") || len(sets) != tt.sets {
			t.Errorf("%s\n got %d spansets (ok %v): %s\nwant %d: %s", tt.query, len(sets), ok, got, tt.sets, tt.want)
		}
	}
}

// TestMatchSpansets checks what the spansets carry: by() values, select()
// fields, and the spans of each.
func TestMatchSpansets(t *testing.T) {
	q, err := Parse(`{ } | by(resource.service.name, span.db.system) | select(.http.method)`)
	if err != nil {
		t.Fatal(err)
	}
	sets, _ := q.Match(checkout())
	var got []string
	for _, s := range sets {
		var by []string
		for _, g := range s.By {
			by = append(by, g.Field.String()+"="+g.Value.String())
		}
		var sel []string
		for _, vs := range s.Selected {
			for _, v := range vs {
				sel = append(sel, v.String())
			}
		}
		got = append(got, strings.Join(by, " ")+": "+names([]Spanset{s})+" select "+joinExprs(s.Select)+" "+strings.Join(sel, ","))
	}
	want := []string{
		`resource.service.name="frontend" span.db.system=nil: GET /checkout select .http.method "GET"`,
		`resource.service.name="frontend" span.db.system="postgresql": SELECT select .http.method nil`,
		`resource.service.name="payment" span.db.system=nil: charge, db insert, cache get select .http.method "POST","POST","POST"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("spansets:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestMatchBrokenTrees checks traces that are not trees: a missing parent,
// a cycle, two spans with one ID, and no spans at all.
func TestMatchBrokenTrees(t *testing.T) {
	trace := checkout()
	trace = append(trace[:2:2], trace[3:]...) // charge is gone: its children are orphans
	for query, want := range map[string]string{
		`{ } >> { resource.service.name = "payment" }`: "",
		`{ } !< { }`:                   "SELECT, db insert, cache get",
		`{ } !~ { }`:                   "GET /checkout, SELECT, db insert, cache get",
		`{ name = "db insert" } ~ { }`: "", // no parent, no siblings
		`{ span:childCount = 0 && trace:duration = 100ms }`: "SELECT, db insert, cache get",
	} {
		q, err := Parse(query)
		if err != nil {
			t.Fatal(err)
		}
		if sets, _ := q.Match(trace); names(sets) != want {
			t.Errorf("%s on a trace without its middle span: %s, want %s", query, names(sets), want)
		}
	}

	cycle := checkout()
	cycle[0].ParentSpanID = cycle[4].SpanID // the root's parent is its own grandchild
	q, _ := Parse(`{ name = "charge" } >> { name = "GET /checkout" }`)
	if sets, _ := q.Match(cycle); names(sets) != "GET /checkout" {
		t.Errorf("in a cycle: %s", names(sets))
	}
	q, _ = Parse(`{ } << { trace:rootName = nil }`)
	if sets, _ := q.Match(cycle); names(sets) != "GET /checkout, charge, cache get" {
		t.Errorf("in a cycle, the spans on it are the ancestors: %s", names(sets))
	}

	// The client and server halves of a Zipkin shared span have one span
	// ID; the first in the trace is the parent of the spans under it.
	shared := checkout()
	half := *shared[2]
	half.Kind = model.SpanKindClient
	shared = append(shared[:3], append([]*model.Span{&half}, shared[3:]...)...)
	q, _ = Parse(`{ name = "charge" && kind = server } > { }`)
	if sets, _ := q.Match(shared); names(sets) != "db insert, cache get" {
		t.Errorf("children of the first half of a shared span: %s", names(sets))
	}
	q, _ = Parse(`{ name = "charge" } | count() = 2`)
	if sets, _ := q.Match(shared); names(sets) != "charge, charge" {
		t.Errorf("both halves of a shared span: %v", sets)
	}

	if sets, ok := q.Match(nil); ok || len(sets) != 0 {
		t.Errorf("an empty trace matched: %v", sets)
	}
}

func names(sets []Spanset) string {
	seen := map[*model.Span]bool{}
	var order []*model.Span
	for _, s := range sets {
		for _, sp := range s.Spans {
			if !seen[sp] {
				seen[sp] = true
				order = append(order, sp)
			}
		}
	}
	// the trace's order: by start time, as checkout() builds it
	for i := 1; i < len(order); i++ {
		for j := i; j > 0 && order[j].StartTime < order[j-1].StartTime; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	var out []string
	for _, sp := range order {
		out = append(out, sp.Name)
	}
	return strings.Join(out, ", ")
}

// TestMatchConcurrent checks that one Query serves many traces at once
// (run under -race).
func TestMatchConcurrent(t *testing.T) {
	q, err := Parse(`{ name =~ "c.*" } | by(resource.service.name) | count() > 0`)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	for range 4 {
		go func() {
			sets, _ := q.Match(checkout())
			done <- names(sets)
		}()
	}
	for range 4 {
		if got := <-done; got != "charge, cache get" {
			t.Errorf("concurrent Match: %s", got)
		}
	}
}
