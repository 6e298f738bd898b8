package uitest

import (
	"fmt"
	"time"

	"github.com/scrytrace/scry/internal/workload"
	"github.com/scrytrace/scry/model"
)

// fixtures names the hand-made traces that tests open.
type fixtures struct {
	checkoutA, checkoutB string // two traces of one request, compared
	payA                 string // the payment span of checkoutA
	hostile              string // names and values that are HTML and script
	big                  string // 10,000 spans
	bigSpans             int
	mesh                 string // 50 services calling each other
}

// builder makes the spans of one trace by hand.
type builder struct {
	trace model.TraceID
	next  byte
	spans []*model.Span
	res   map[string]*model.Resource
	scope *model.Scope
	n     uint64
}

func newBuilder(id byte) *builder {
	var tid model.TraceID
	tid[0], tid[15] = 0xab, id
	return &builder{trace: tid, res: make(map[string]*model.Resource),
		scope: &model.Scope{Name: "uitest", Version: "1.0.0"}}
}

func (b *builder) resource(service string, attrs ...model.KeyValue) *model.Resource {
	if r, ok := b.res[service]; ok {
		return r
	}
	r := &model.Resource{Attributes: append([]model.KeyValue{
		{Key: "service.name", Value: model.StringValue(service)},
		{Key: "host.name", Value: model.StringValue("node-1")},
	}, attrs...)}
	b.res[service] = r
	return r
}

// span adds a span that starts at start and lasts dur, under parent (nil for
// the root).
func (b *builder) span(parent *model.Span, service, name string, start time.Time, dur time.Duration) *model.Span {
	b.n++
	s := &model.Span{
		Resource: b.resource(service), Scope: b.scope, TraceID: b.trace,
		Name: name, Kind: model.SpanKindServer,
		StartTime: uint64(start.UnixNano()), EndTime: uint64(start.Add(dur).UnixNano()),
	}
	putU64(s.SpanID[:], b.n<<8|uint64(b.trace[15]))
	if parent != nil {
		s.ParentSpanID = parent.SpanID
		s.Kind = model.SpanKindClient
	}
	b.spans = append(b.spans, s)
	return s
}

func putU64(dst []byte, v uint64) {
	for i := range 8 {
		dst[i] = byte(v >> (56 - 8*i))
	}
}

func kv(k string, v model.Value) model.KeyValue { return model.KeyValue{Key: k, Value: v} }
func str(k, v string) model.KeyValue            { return kv(k, model.StringValue(v)) }

// fixtureSpans makes synthetic traces (the workload generator) and the
// hand-made ones, all within the last half hour before now, as groups of
// spans to send in one export each: the workload, then each hand-made trace
// whole, so every parent arrives with its children and scry counts the
// calls between services.
func fixtureSpans(now time.Time) (*fixtures, [][]*model.Span) {
	fx := &fixtures{}
	gen := workload.New(workload.Config{Services: 8, SpansPerTrace: 12, Seed: 7})
	groups := [][]*model.Span{gen.Batch(12*60, now.Add(-30*time.Minute), 25*time.Second)}
	a, payA := checkout(0x01, now.Add(-10*time.Minute), false)
	b, _ := checkout(0x02, now.Add(-9*time.Minute), true)
	fx.checkoutA, fx.checkoutB = a.trace.String(), b.trace.String()
	fx.payA = payA.SpanID.String()
	// The first trace's payment span links to the second trace's root.
	payA.Links = []model.Link{{TraceID: b.trace, SpanID: b.spans[0].SpanID,
		Attributes: []model.KeyValue{str("link.reason", "retry of the same order")}}}
	h := hostile(0x03, now.Add(-8*time.Minute))
	fx.hostile = h.trace.String()
	big := bigTrace(0x04, now.Add(-7*time.Minute), 10000)
	fx.big, fx.bigSpans = big.trace.String(), len(big.spans)
	m := mesh(0x05, now.Add(-6*time.Minute))
	fx.mesh = m.trace.String()
	for _, t := range []*builder{a, b, h, big, m} {
		groups = append(groups, t.spans)
	}
	return fx, groups
}

// checkout is a shop request: frontend → checkout → (cart, payment → bank,
// db). The variant b has no cart call, a fraud check, two db calls and a
// slower payment, whose span is of kind server rather than client.
func checkout(id byte, t0 time.Time, variantB bool) (*builder, *model.Span) {
	b := newBuilder(id)
	ms := time.Millisecond
	total := 120 * ms
	if variantB {
		total = 150 * ms
	}
	root := b.span(nil, "frontend", "GET /checkout", t0, total)
	root.Attributes = []model.KeyValue{str("http.request.method", "GET"), kv("http.response.status_code", model.IntValue(200)),
		str("url.path", "/checkout"), str("user.id", "user-42")}
	co := b.span(root, "checkout", "PlaceOrder", t0.Add(5*ms), 105*ms)
	co.Events = []model.Event{{Time: uint64(t0.Add(6 * ms).UnixNano()), Name: "order validated",
		Attributes: []model.KeyValue{str("order.id", "o-1001"), kv("order.items", model.IntValue(3))}}}
	pay := b.span(co, "payment", "Charge", t0.Add(30*ms), 60*ms)
	if !variantB {
		b.span(co, "cart", "GetCart", t0.Add(8*ms), 15*ms)
	} else {
		b.span(co, "fraud", "Score", t0.Add(8*ms), 18*ms)
		pay.EndTime += uint64(25 * ms)
		// Here payment reports its own server span, so its operation
		// Charge comes in two kinds (a search by kind tells the two
		// traces apart).
		pay.Kind = model.SpanKindServer
	}
	pay.Status = model.Status{Code: model.StatusError, Message: "card declined"}
	pay.Attributes = []model.KeyValue{str("payment.method", "card"), kv("payment.amount", model.DoubleValue(42.5))}
	pay.Events = []model.Event{{Time: uint64(t0.Add(70 * ms).UnixNano()), Name: "exception",
		Attributes: []model.KeyValue{str("exception.type", "CardDeclined"), str("exception.message", "insufficient funds")}}}
	b.span(pay, "bank", "POST /authorize", t0.Add(35*ms), 40*ms)
	db := 1
	if variantB {
		db = 2
	}
	for i := range db {
		s := b.span(co, "postgres", "INSERT orders", t0.Add(time.Duration(92+i*5)*ms), 4*ms)
		s.Attributes = []model.KeyValue{str("db.system", "postgresql"), str("db.statement", "INSERT INTO orders VALUES ($1, $2)")}
	}
	return b, pay
}

// Hostile strings: each would set window.__pwned if it were ever parsed as
// markup or script.
const (
	xssImg    = `<img src=x onerror="window.__pwned='img'">`
	xssScript = `<script>window.__pwned='script'</script>`
	xssAttr   = `"><svg onload="window.__pwned='svg'">`
	xssKey    = `<b onmouseover="window.__pwned='key'">key</b>`
)

func hostile(id byte, t0 time.Time) *builder {
	b := newBuilder(id)
	ms := time.Millisecond
	b.res[xssImg] = &model.Resource{Attributes: []model.KeyValue{
		str("service.name", xssImg), str("host.name", xssAttr), str(xssKey, xssScript)}}
	root := b.span(nil, xssImg, xssScript, t0, 50*ms)
	root.Attributes = []model.KeyValue{
		str(xssKey, xssAttr),
		str("html.value", xssImg),
		str("url.full", "javascript:window.__pwned='href'"),
		kv("json.map", model.MapValue(kv(xssImg, model.StringValue(xssScript)), kv(`{"</script><script>window.__pwned='json'</script>":1}`, model.IntValue(1)))),
		kv("json.array", model.ArrayValue(model.StringValue(xssAttr), model.StringValue(xssScript))),
	}
	root.Status = model.Status{Code: model.StatusError, Message: xssImg}
	root.Events = []model.Event{{Time: uint64(t0.Add(10 * ms).UnixNano()), Name: xssScript,
		Attributes: []model.KeyValue{str(xssKey, xssImg)}}}
	child := b.span(root, "plain-service", xssAttr, t0.Add(5*ms), 20*ms)
	child.Attributes = []model.KeyValue{str("note", "a sibling with an ordinary service name")}
	return b
}

// bigTrace has n spans: a root and a four-way tree below it, over ten
// services, each child within its parent's time.
func bigTrace(id byte, t0 time.Time, n int) *builder {
	b := newBuilder(id)
	total := 4 * time.Second
	root := b.span(nil, "gateway", "GET /report", t0, total)
	spans := []*model.Span{root}
	for i := 1; i < n; i++ {
		p := spans[(i-1)/4]
		pd := time.Duration(p.EndTime - p.StartTime)
		k := (i - 1) % 4
		start := time.Unix(0, int64(p.StartTime)).Add(pd * time.Duration(k) / 4)
		dur := max(pd/5, 2*time.Microsecond)
		s := b.span(p, fmt.Sprintf("svc-%d", i%10), fmt.Sprintf("op-%d step %d", i%37, k), start, dur)
		if i%997 == 0 {
			s.Status = model.Status{Code: model.StatusError, Message: "failed"}
		}
		spans = append(spans, s)
	}
	return b
}

// mesh calls through 50 services: an edge tier, a middle tier, backends and
// data stores, each service one span.
func mesh(id byte, t0 time.Time) *builder {
	b := newBuilder(id)
	ms := time.Millisecond
	root := b.span(nil, "edge-gateway", "GET /", t0, 400*ms)
	var mids, backs []*model.Span
	for i := range 7 {
		mids = append(mids, b.span(root, fmt.Sprintf("api-%s", []string{"users", "orders", "catalog", "search", "billing", "reviews", "shipping"}[i]), "handle", t0.Add(time.Duration(5+i)*ms), 300*ms))
	}
	for i := range 22 {
		backs = append(backs, b.span(mids[i%7], fmt.Sprintf("backend-%02d", i), "rpc", t0.Add(time.Duration(20+i)*ms), 200*ms))
	}
	for i := range 20 {
		p := backs[(i*3)%22]
		b.span(p, fmt.Sprintf("store-%02d", i), "query", t0.Add(time.Duration(40+i)*ms), 100*ms)
		if i%4 == 0 { // shared stores called from a second backend too
			b.span(backs[(i*3+5)%22], fmt.Sprintf("store-%02d", i), "query", t0.Add(time.Duration(60+i)*ms), 50*ms)
		}
	}
	return b
}
