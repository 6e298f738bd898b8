package storagetest

import (
	"fmt"
	"math"
	"time"

	"github.com/scrytrace/scry/model"
)

// fixtures builds the suite's spans. Every builder returns fresh values, so a
// test can build the same spans twice: once to write (WriteSpans may modify
// them) and once to compare with what comes back.
type fixtures struct {
	// base is the time everything is relative to: the minute ten minutes
	// before the run started, in Unix ns.
	base uint64
}

func newFixtures() fixtures {
	return fixtures{base: uint64(time.Now().Truncate(time.Minute).Add(-10 * time.Minute).UnixNano())}
}

// at returns base+d in Unix ns.
func (f fixtures) at(d time.Duration) uint64 { return f.base + uint64(d) }

// rel shows a time as an offset from base, for messages.
func (f fixtures) rel(ns uint64) string {
	if ns < f.base {
		return "base-" + time.Duration(f.base-ns).String()
	}
	return "base+" + time.Duration(ns-f.base).String()
}

// Shorthands for attributes.
func str(k, v string) model.KeyValue { return model.KeyValue{Key: k, Value: model.StringValue(v)} }
func integer(k string, v int64) model.KeyValue {
	return model.KeyValue{Key: k, Value: model.IntValue(v)}
}
func double(k string, v float64) model.KeyValue {
	return model.KeyValue{Key: k, Value: model.DoubleValue(v)}
}
func boolean(k string, v bool) model.KeyValue {
	return model.KeyValue{Key: k, Value: model.BoolValue(v)}
}
func kv(k string, v model.Value) model.KeyValue { return model.KeyValue{Key: k, Value: v} }

// traceID returns a fixed trace ID for fixture group g, number n.
func traceID(g byte, n uint16) model.TraceID {
	return model.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, g, 0, 0, 0, 0, 0, byte(n >> 8), byte(n)}
}

// spanID returns a fixed span ID, unique across the fixtures, for span j of
// trace tr.
func spanID(tr model.TraceID, j uint16) model.SpanID {
	return model.SpanID{0x00, 0xf0, tr[8], tr[14], tr[15], 0x67, byte(j >> 8), byte(j)}
}

// shop is one export's worth of resources and scopes: the spans of one
// fixture trace share these pointers, as spans of one OTLP request do.
type shop struct {
	frontend, checkout, payment, inventory *model.Resource
	http, grpc, sql, kafka, app            *model.Scope
}

const schema = "https://opentelemetry.io/schemas/1.26.0"

func newShop() *shop {
	return &shop{
		frontend: &model.Resource{SchemaURL: schema, Attributes: []model.KeyValue{
			str("service.name", "frontend"), str("service.version", "1.4.2"),
			str("service.instance.id", "frontend-7d9f8-x2k4p"), str("deployment.environment", "prod"),
			str("host.name", "web-1"),
		}},
		checkout: &model.Resource{SchemaURL: schema, DroppedAttributesCount: 1, Attributes: []model.KeyValue{
			str("service.name", "checkout"), str("service.version", "2.0.1"),
			str("deployment.environment", "prod"), str("cloud.region", "eu-west-1"),
			integer("process.pid", 4242),
		}},
		payment: &model.Resource{Attributes: []model.KeyValue{
			str("service.name", "payment"), str("service.namespace", "billing"),
			str("deployment.environment", "prod"), str("payment.provider", "stripe"),
		}},
		inventory: &model.Resource{SchemaURL: schema, Attributes: []model.KeyValue{
			str("service.name", "inventory"), str("deployment.environment", "prod"),
			str("host.name", "db-host-2"), str("inventory.warehouse", "ams-1"),
		}},
		http: &model.Scope{Name: "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", Version: "0.49.0"},
		grpc: &model.Scope{
			Name:       "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc",
			Version:    "0.49.0",
			Attributes: []model.KeyValue{str("instrumentation.mode", "auto")},
		},
		sql: &model.Scope{
			Name: "github.com/XSAM/otelsql", Version: "0.27.0", SchemaURL: schema,
			Attributes: []model.KeyValue{str("db.driver", "pgx")}, DroppedAttributesCount: 1,
		},
		kafka: &model.Scope{Name: "github.com/IBM/sarama/otelsarama", Version: "1.43.0"},
		app:   &model.Scope{Name: "inventory-jobs"},
	}
}

// fixtureTrace is one trace of the search fixtures.
type fixtureTrace struct {
	name  string
	id    model.TraceID
	spans []*model.Span
}

// builder adds spans to one trace whose start is start.
type builder struct {
	t     *fixtureTrace
	start uint64
}

// span adds span j (parent p, 0 for none) running from start+from to
// start+to.
func (b builder) span(j, p uint16, r *model.Resource, sc *model.Scope, kind model.SpanKind, name string, from, to time.Duration, attrs ...model.KeyValue) *model.Span {
	s := &model.Span{
		Resource: r, Scope: sc,
		TraceID: b.t.id, SpanID: spanID(b.t.id, j),
		Flags: 1, Name: name, Kind: kind,
		StartTime: b.start + uint64(from), EndTime: b.start + uint64(to),
		Attributes: attrs,
	}
	if p != 0 {
		s.ParentSpanID = spanID(b.t.id, p)
	}
	b.t.spans = append(b.t.spans, s)
	return s
}

// Fixture trace names, in the order they start; each starts 30s after the one
// before (see traceStart).
const (
	orderOK       = "order-ok"       // checkout of a gold customer, paid
	orderDeclined = "order-declined" // gold customer, card declined (errors)
	browse        = "browse"         // product page, stock lookup
	orderSlow     = "order-slow"     // silver customer, payment takes 2.5s
	restock       = "restock"        // inventory's nightly job, 5s long
)

// traceStart returns the start of the k-th search fixture trace (1-based).
func (f fixtures) traceStart(k int) uint64 { return f.at(time.Duration(k) * 30 * time.Second) }

// searchTraces returns the five traces that the query, services, operations
// and dependencies tests search. Every span of trace k starts within 5s of
// traceStart(k), so the traces' order by time is the same whichever of their
// spans is counted.
func (f fixtures) searchTraces() []*fixtureTrace {
	return []*fixtureTrace{
		f.checkoutTrace(1, orderOK, "gold", "ord-1001", 42.5, "A1", 0),
		f.declinedTrace(2),
		f.browseTrace(3),
		f.checkoutTrace(4, orderSlow, "silver", "ord-1004", 1999.99, "A4", 2400*time.Millisecond),
		f.restockTrace(5),
	}
}

// checkoutTrace is a successful order through all four services. Everything
// from the payment's end on is delayed by slow.
//
//	1 frontend  server   POST /cart/checkout
//	2 frontend  client   checkout.PlaceOrder
//	3 checkout  server   checkout.PlaceOrder
//	4 checkout  client   payment.Charge
//	5 payment   server   payment.Charge (96ms + slow), event charge.authorized
//	6 checkout  producer inventory.reserve
//	7 inventory consumer inventory.reserve
//	8 inventory client   UPDATE stock
func (f fixtures) checkoutTrace(k int, name, tier, order string, amount float64, auth string, slow time.Duration) *fixtureTrace {
	t := &fixtureTrace{name: name, id: traceID(1, uint16(k))}
	b := builder{t: t, start: f.traceStart(k)}
	sh := newShop()
	ms := time.Millisecond
	root := b.span(1, 0, sh.frontend, sh.http, model.SpanKindServer, "POST /cart/checkout", 0, 250*ms+slow,
		str("http.request.method", "POST"), str("http.route", "/cart/checkout"),
		integer("http.response.status_code", 200), str("user.tier", tier))
	root.Status = model.Status{Code: model.StatusOK}
	b.span(2, 1, sh.frontend, sh.grpc, model.SpanKindClient, "checkout.PlaceOrder", 10*ms, 240*ms+slow,
		str("rpc.system", "grpc"), str("rpc.service", "checkout.Checkout"))
	b.span(3, 2, sh.checkout, sh.grpc, model.SpanKindServer, "checkout.PlaceOrder", 12*ms, 238*ms+slow,
		str("rpc.system", "grpc"), str("order.id", order), integer("order.items", 3))
	b.span(4, 3, sh.checkout, sh.grpc, model.SpanKindClient, "payment.Charge", 20*ms, 120*ms+slow,
		str("rpc.system", "grpc"))
	pay := b.span(5, 4, sh.payment, sh.grpc, model.SpanKindServer, "payment.Charge", 22*ms, 118*ms+slow,
		double("payment.amount", amount), str("payment.currency", "EUR"))
	pay.Events = []model.Event{{
		Time: b.start + uint64(100*ms+slow), Name: "charge.authorized",
		Attributes: []model.KeyValue{str("auth.code", auth), integer("attempt", 1)},
	}}
	b.span(6, 3, sh.checkout, sh.kafka, model.SpanKindProducer, "inventory.reserve", 130*ms+slow, 135*ms+slow,
		str("messaging.system", "kafka"), str("messaging.destination.name", "reservations"))
	cons := b.span(7, 6, sh.inventory, sh.kafka, model.SpanKindConsumer, "inventory.reserve", 140*ms+slow, 180*ms+slow,
		str("messaging.system", "kafka"))
	cons.Links = []model.Link{{TraceID: t.id, SpanID: spanID(t.id, 6), Attributes: []model.KeyValue{str("messaging.operation", "receive")}}}
	b.span(8, 7, sh.inventory, sh.sql, model.SpanKindClient, "UPDATE stock", 145*ms+slow, 175*ms+slow,
		str("db.system", "postgresql"), str("db.statement", "UPDATE stock SET reserved = reserved + $1 WHERE sku = $2"))
	return t
}

// declinedTrace is an order whose payment fails (30ms payment span with an
// error status, error=true and an exception event).
//
//	1 frontend server POST /cart/checkout (502)
//	2 frontend client checkout.PlaceOrder
//	3 checkout server checkout.PlaceOrder
//	4 checkout client payment.Charge
//	5 payment  server payment.Charge (30ms)
func (f fixtures) declinedTrace(k int) *fixtureTrace {
	t := &fixtureTrace{name: orderDeclined, id: traceID(1, uint16(k))}
	b := builder{t: t, start: f.traceStart(k)}
	sh := newShop()
	ms := time.Millisecond
	errStatus := model.Status{Code: model.StatusError, Message: "card declined"}
	b.span(1, 0, sh.frontend, sh.http, model.SpanKindServer, "POST /cart/checkout", 0, 90*ms,
		str("http.request.method", "POST"), str("http.route", "/cart/checkout"),
		integer("http.response.status_code", 502), str("user.tier", "gold")).Status = model.Status{Code: model.StatusError}
	b.span(2, 1, sh.frontend, sh.grpc, model.SpanKindClient, "checkout.PlaceOrder", 5*ms, 85*ms,
		str("rpc.system", "grpc")).Status = model.Status{Code: model.StatusError}
	b.span(3, 2, sh.checkout, sh.grpc, model.SpanKindServer, "checkout.PlaceOrder", 7*ms, 83*ms,
		str("rpc.system", "grpc"), str("order.id", "ord-1002"), integer("order.items", 1)).Status = errStatus
	b.span(4, 3, sh.checkout, sh.grpc, model.SpanKindClient, "payment.Charge", 10*ms, 50*ms,
		str("rpc.system", "grpc")).Status = errStatus
	pay := b.span(5, 4, sh.payment, sh.grpc, model.SpanKindServer, "payment.Charge", 12*ms, 42*ms,
		double("payment.amount", 310), str("payment.currency", "EUR"), boolean("error", true))
	pay.Status = errStatus
	pay.Events = []model.Event{{
		Time: b.start + uint64(40*ms), Name: "exception", DroppedAttributesCount: 1,
		Attributes: []model.KeyValue{
			str("exception.type", "CardDeclinedError"), str("exception.message", "card declined"),
			boolean("exception.escaped", false),
		},
	}}
	return t
}

// browseTrace is a product page that looks up stock.
//
//	1 frontend  server GET /product/{id}
//	2 frontend  client inventory.GetStock
//	3 inventory server inventory.GetStock (starts 8ms in)
func (f fixtures) browseTrace(k int) *fixtureTrace {
	t := &fixtureTrace{name: browse, id: traceID(1, uint16(k))}
	b := builder{t: t, start: f.traceStart(k)}
	sh := newShop()
	ms := time.Millisecond
	b.span(1, 0, sh.frontend, sh.http, model.SpanKindServer, "GET /product/{id}", 0, 40*ms,
		str("http.request.method", "GET"), str("http.route", "/product/{id}"), str("product.id", "p-77"),
		kv("product.tags", model.ArrayValue(model.StringValue("sale"), model.StringValue("new"))))
	b.span(2, 1, sh.frontend, sh.grpc, model.SpanKindClient, "inventory.GetStock", 5*ms, 35*ms,
		str("rpc.system", "grpc"))
	b.span(3, 2, sh.inventory, sh.grpc, model.SpanKindServer, "inventory.GetStock", 8*ms, 33*ms,
		str("rpc.system", "grpc"), str("product.id", "p-77"), integer("stock.available", 12))
	return t
}

// restockTrace is inventory's nightly job. Its root's parent (the scheduler's
// span) is not stored, so it adds no dependency.
//
//	1 inventory internal inventory.restock (5s)
//	2 inventory client   UPDATE stock (4.8s)
//	3 inventory producer inventory.reserve
func (f fixtures) restockTrace(k int) *fixtureTrace {
	t := &fixtureTrace{name: restock, id: traceID(1, uint16(k))}
	b := builder{t: t, start: f.traceStart(k)}
	sh := newShop()
	ms := time.Millisecond
	b.span(1, 99, sh.inventory, sh.app, model.SpanKindInternal, "inventory.restock", 0, 5000*ms,
		str("job.name", "nightly-restock"))
	b.span(2, 1, sh.inventory, sh.sql, model.SpanKindClient, "UPDATE stock", 100*ms, 4900*ms,
		str("db.system", "postgresql"), integer("db.rows_affected", 1842))
	b.span(3, 1, sh.inventory, sh.kafka, model.SpanKindProducer, "inventory.reserve", 4950*ms, 4960*ms,
		str("messaging.system", "kafka"))
	return t
}

// fullSpan returns a span with every field of the model set, including every
// attribute value type, nested arrays and maps, and values that encoders get
// wrong (extreme numbers, empty and non-ASCII strings, zero bytes).
func (f fixtures) fullSpan() *model.Span {
	tr := traceID(2, 1)
	start := f.at(7 * time.Minute)
	ms := uint64(time.Millisecond)
	return &model.Span{
		Resource: &model.Resource{
			Attributes: []model.KeyValue{
				str("service.name", "checkout"), str("service.version", "2.0.1"),
				integer("process.pid", 4242), str("k8s.pod.name", "checkout-5c9f7b-abcde"),
				kv("host.ip", model.ArrayValue(model.StringValue("10.0.0.7"), model.StringValue("fe80::1"))),
			},
			DroppedAttributesCount: 2,
			SchemaURL:              schema,
		},
		Scope: &model.Scope{
			Name: "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc", Version: "0.49.0",
			Attributes:             []model.KeyValue{str("instrumentation.mode", "auto"), boolean("scope.flag", true)},
			DroppedAttributesCount: 1,
			SchemaURL:              "https://opentelemetry.io/schemas/1.24.0",
		},
		TraceID:      tr,
		SpanID:       spanID(tr, 1),
		ParentSpanID: spanID(tr, 7),
		TraceState:   "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
		Flags:        0x301,
		Name:         "checkout.PlaceOrder",
		Kind:         model.SpanKindServer,
		StartTime:    start,
		EndTime:      start + 1234567891,
		// Keys deliberately out of order: order is kept as sent.
		Attributes: []model.KeyValue{
			str("z.string", "héllo, 世界 \"quoted\"\n"),
			integer("a.int.min", math.MinInt64),
			integer("a.int.max", math.MaxInt64),
			double("m.double", 3.14159),
			double("m.double.neg.inf", math.Inf(-1)),
			double("m.double.tiny", 5e-324),
			double("m.double.max", math.MaxFloat64),
			boolean("b.true", true),
			boolean("b.false", false),
			kv("bytes", model.BytesValue([]byte{0x00, 0xff, 0x10, 0x80, 0x00})),
			str("empty.string", ""),
			kv("empty.value", model.Value{}),
			kv("array.mixed", model.ArrayValue(
				model.StringValue("a"), model.IntValue(-1), model.DoubleValue(2.5), model.BoolValue(false),
				model.BytesValue([]byte{1, 2}),
				model.ArrayValue(model.StringValue("nested"), model.ArrayValue(model.IntValue(7))),
				model.MapValue(str("k", "v")),
				model.Value{},
			)),
			kv("array.empty", model.ArrayValue()),
			kv("map.nested", model.MapValue(
				kv("inner", model.MapValue(integer("deep", 42), kv("list", model.ArrayValue(model.BoolValue(true))))),
				str("s", "x"),
				kv("b", model.BytesValue([]byte{0})),
				kv("none", model.Value{}),
			)),
			kv("map.empty", model.MapValue()),
		},
		DroppedAttributesCount: 3,
		Events: []model.Event{
			{
				Time: start + 10*ms, Name: "cache.miss", DroppedAttributesCount: 2,
				Attributes: []model.KeyValue{str("cache.key", "cart:42"), integer("cache.ttl_ms", 3000)},
			},
			{
				Time: start + 20*ms, Name: "exception",
				Attributes: []model.KeyValue{
					str("exception.type", "TimeoutError"), str("exception.message", "payment provider timed out"),
					str("exception.stacktrace", "goroutine 1 [running]:\nmain.main()\n\t/app/main.go:42 +0x1d"),
					kv("exception.bytes", model.BytesValue([]byte("raw"))),
				},
			},
			{Time: start + 1234567891, Name: "empty"},
		},
		DroppedEventsCount: 4,
		Links: []model.Link{
			{
				TraceID: traceID(2, 2), SpanID: spanID(traceID(2, 2), 3),
				TraceState: "vendor=abc", Flags: 1, DroppedAttributesCount: 1,
				Attributes: []model.KeyValue{str("link.reason", "batch"), integer("batch.index", 5)},
			},
			{TraceID: tr, SpanID: spanID(tr, 2), Flags: 0x301},
		},
		DroppedLinksCount: 5,
		Status:            model.Status{Code: model.StatusError, Message: "payment provider timed out"},
		Warnings:          []string{"clock skew adjusted by 3ms"},
	}
}

// largeTrace returns a trace of n spans of one service. Groups of four spans
// share a start time, and span IDs are scrambled, so ordering by start time
// then span ID is tested.
func (f fixtures) largeTrace(n int) []*model.Span {
	tr := traceID(3, 1)
	res := &model.Resource{Attributes: []model.KeyValue{str("service.name", "bulk")}}
	sc := &model.Scope{Name: "bulk"}
	ids := make([]model.SpanID, n)
	for i := range ids {
		ids[i] = scrambledSpanID(uint64(i))
	}
	spans := make([]*model.Span, n)
	for i := range spans {
		start := f.at(6*time.Minute + time.Duration(i/4)*time.Microsecond)
		s := &model.Span{
			Resource: res, Scope: sc, TraceID: tr, SpanID: ids[i],
			Name: fmt.Sprintf("step-%d", i%10), Kind: model.SpanKindInternal,
			StartTime: start, EndTime: start + uint64(i%7)*1000,
			Attributes: []model.KeyValue{integer("step", int64(i))},
		}
		if i > 0 {
			s.ParentSpanID = ids[(i-1)/2]
		}
		spans[i] = s
	}
	return spans
}

// scrambledSpanID maps i to a distinct non-zero span ID (splitmix64 is a
// bijection on uint64).
func scrambledSpanID(i uint64) model.SpanID {
	x := i + 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	x ^= x >> 31
	if x == 0 {
		x = 1 << 63
	}
	var id model.SpanID
	for j := range id {
		id[j] = byte(x >> (56 - 8*j))
	}
	return id
}

// concService is the service of writer w in the concurrency test.
func concService(w int) string { return fmt.Sprintf("conc-%d", w) }

// concTraceID is trace i of writer w in the concurrency test.
func concTraceID(w, i int) model.TraceID { return traceID(byte(0x10+w), uint16(i)) }

// concTrace returns trace i of writer w in the concurrency test: two spans of
// concService(w) calling two spans of conc-db, so one dependency.
func (f fixtures) concTrace(w, i int) []*model.Span {
	t := &fixtureTrace{id: concTraceID(w, i)}
	b := builder{t: t, start: f.at(time.Duration(w)*time.Second + time.Duration(i)*10*time.Millisecond)}
	front := &model.Resource{Attributes: []model.KeyValue{str("service.name", concService(w))}}
	db := &model.Resource{Attributes: []model.KeyValue{str("service.name", "conc-db")}}
	sc := &model.Scope{Name: "conc"}
	ms := time.Millisecond
	b.span(1, 0, front, sc, model.SpanKindServer, "GET /items", 0, 9*ms, integer("writer", int64(w)), integer("i", int64(i)))
	b.span(2, 1, front, sc, model.SpanKindClient, "items.List", 1*ms, 8*ms)
	b.span(3, 2, db, sc, model.SpanKindServer, "items.List", 2*ms, 7*ms)
	b.span(4, 3, db, sc, model.SpanKindClient, "SELECT items", 3*ms, 6*ms)
	return t.spans
}
