package storagetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// queryCase is one FindTraceIDs check against the search fixtures.
type queryCase struct {
	name string
	q    storage.Query
	// want lists fixture trace names, newest first.
	want []string
	// starts, when set, are the TraceRef.Start values of want, in order: the
	// start of each trace's newest span that meets the span-level conditions.
	// They are only given where no attribute condition is involved.
	starts []uint64
}

type queryGroup struct {
	name  string
	cases []queryCase
}

// Shorthands for the tables below.
const (
	anyKind = storage.AnyKind
	lim     = 100
)

var (
	all5     = []string{restock, orderSlow, browse, orderDeclined, orderOK}
	orders   = []string{orderSlow, orderDeclined, orderOK}
	goldOnes = []string{orderDeclined, orderOK}
)

func attrs(kv ...string) []storage.Attribute {
	var out []storage.Attribute
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, storage.Attribute{Key: kv[i], Value: kv[i+1]})
	}
	return out
}

// queryGroups is the FindTraceIDs table. Trace k of the fixtures starts at
// traceStart(k): 1 order-ok, 2 order-declined, 3 browse, 4 order-slow,
// 5 restock (see fixtures.go for their spans).
func (f fixtures) queryGroups() []queryGroup {
	ts := f.traceStart
	ms := uint64(time.Millisecond)
	return []queryGroup{
		{"Service", []queryCase{
			{"frontend", storage.Query{Service: "frontend", Kind: anyKind, Limit: lim},
				[]string{orderSlow, browse, orderDeclined, orderOK},
				[]uint64{ts(4) + 10*ms, ts(3) + 5*ms, ts(2) + 5*ms, ts(1) + 10*ms}},
			{"checkout", storage.Query{Service: "checkout", Kind: anyKind, Limit: lim}, orders, nil},
			{"payment", storage.Query{Service: "payment", Kind: anyKind, Limit: lim}, orders,
				[]uint64{ts(4) + 22*ms, ts(2) + 12*ms, ts(1) + 22*ms}},
			{"inventory", storage.Query{Service: "inventory", Kind: anyKind, Limit: lim},
				[]string{restock, orderSlow, browse, orderOK}, nil},
			{"unknown", storage.Query{Service: "shipping", Kind: anyKind, Limit: lim}, nil, nil},
		}},
		{"Operation", []queryCase{
			{"on two services", storage.Query{Operation: "payment.Charge", Kind: anyKind, Limit: lim}, orders, nil},
			{"one trace", storage.Query{Operation: "GET /product/{id}", Kind: anyKind, Limit: lim}, []string{browse}, nil},
			{"with a space", storage.Query{Operation: "UPDATE stock", Kind: anyKind, Limit: lim},
				[]string{restock, orderSlow, orderOK}, nil},
			{"unknown", storage.Query{Operation: "payment.Refund", Kind: anyKind, Limit: lim}, nil, nil},
		}},
		{"ServiceAndOperation", []queryCase{
			{"client side", storage.Query{Service: "checkout", Operation: "payment.Charge", Kind: anyKind, Limit: lim}, orders,
				[]uint64{ts(4) + 20*ms, ts(2) + 10*ms, ts(1) + 20*ms}},
			{"operation of another service", storage.Query{Service: "frontend", Operation: "payment.Charge", Kind: anyKind, Limit: lim}, nil, nil},
			{"two kinds", storage.Query{Service: "inventory", Operation: "inventory.reserve", Kind: anyKind, Limit: lim},
				[]string{restock, orderSlow, orderOK}, nil},
		}},
		{"Kind", []queryCase{
			{"producer", storage.Query{Kind: model.SpanKindProducer, Limit: lim}, []string{restock, orderSlow, orderOK}, nil},
			{"internal", storage.Query{Kind: model.SpanKindInternal, Limit: lim}, []string{restock}, nil},
			{"consumer", storage.Query{Kind: model.SpanKindConsumer, Limit: lim}, []string{orderSlow, orderOK}, nil},
			{"server of a service", storage.Query{Service: "inventory", Kind: model.SpanKindServer, Limit: lim}, []string{browse}, nil},
			{"client of a service without clients", storage.Query{Service: "payment", Kind: model.SpanKindClient, Limit: lim}, nil, nil},
			{"service operation and kind", storage.Query{Service: "checkout", Operation: "payment.Charge", Kind: model.SpanKindClient, Limit: lim}, orders, nil},
			{"service operation and wrong kind", storage.Query{Service: "checkout", Operation: "payment.Charge", Kind: model.SpanKindServer, Limit: lim}, nil, nil},
			// payment has a payment.Charge span and checkout a client span of
			// that name, but no one span has all three.
			{"conditions on one span", storage.Query{Service: "payment", Operation: "payment.Charge", Kind: model.SpanKindClient, Limit: lim}, nil, nil},
			{"operation of two kinds", storage.Query{Service: "inventory", Operation: "inventory.reserve", Kind: model.SpanKindProducer, Limit: lim},
				[]string{restock}, nil},
		}},
		{"Attribute", []queryCase{
			{"span string", storage.Query{Attributes: attrs("user.tier", "gold"), Kind: anyKind, Limit: lim}, goldOnes, nil},
			{"span int", storage.Query{Attributes: attrs("http.response.status_code", "502"), Kind: anyKind, Limit: lim}, []string{orderDeclined}, nil},
			{"span int on two traces", storage.Query{Attributes: attrs("http.response.status_code", "200"), Kind: anyKind, Limit: lim}, []string{orderSlow, orderOK}, nil},
			{"span bool", storage.Query{Attributes: attrs("error", "true"), Kind: anyKind, Limit: lim}, []string{orderDeclined}, nil},
			{"span double", storage.Query{Attributes: attrs("payment.amount", "42.5"), Kind: anyKind, Limit: lim}, []string{orderOK}, nil},
			{"span double with decimals", storage.Query{Attributes: attrs("payment.amount", "1999.99"), Kind: anyKind, Limit: lim}, []string{orderSlow}, nil},
			{"span array as JSON", storage.Query{Attributes: attrs("product.tags", `["sale","new"]`), Kind: anyKind, Limit: lim}, []string{browse}, nil},
			{"resource string", storage.Query{Attributes: attrs("payment.provider", "stripe"), Kind: anyKind, Limit: lim}, orders, nil},
			{"resource of one service", storage.Query{Attributes: attrs("cloud.region", "eu-west-1"), Kind: anyKind, Limit: lim}, orders, nil},
			{"resource int", storage.Query{Attributes: attrs("process.pid", "4242"), Kind: anyKind, Limit: lim}, orders, nil},
			{"resource service.name", storage.Query{Attributes: attrs("service.name", "inventory"), Kind: anyKind, Limit: lim},
				[]string{restock, orderSlow, browse, orderOK}, nil},
			{"event string", storage.Query{Attributes: attrs("exception.type", "CardDeclinedError"), Kind: anyKind, Limit: lim}, []string{orderDeclined}, nil},
			{"event string on one trace", storage.Query{Attributes: attrs("auth.code", "A1"), Kind: anyKind, Limit: lim}, []string{orderOK}, nil},
			{"event int", storage.Query{Attributes: attrs("attempt", "1"), Kind: anyKind, Limit: lim}, []string{orderSlow, orderOK}, nil},
			{"event bool", storage.Query{Attributes: attrs("exception.escaped", "false"), Kind: anyKind, Limit: lim}, []string{orderDeclined}, nil},
			{"value not found", storage.Query{Attributes: attrs("user.tier", "platinum"), Kind: anyKind, Limit: lim}, nil, nil},
			{"value compared exactly", storage.Query{Attributes: attrs("user.tier", "Gold"), Kind: anyKind, Limit: lim}, nil, nil},
			{"key not found", storage.Query{Attributes: attrs("customer.tier", "gold"), Kind: anyKind, Limit: lim}, nil, nil},
		}},
		{"TwoAttributes", []queryCase{
			{"span and event on different spans", storage.Query{Attributes: attrs("user.tier", "gold", "exception.type", "CardDeclinedError"), Kind: anyKind, Limit: lim},
				[]string{orderDeclined}, nil},
			{"span and event, other trace", storage.Query{Attributes: attrs("user.tier", "gold", "auth.code", "A1"), Kind: anyKind, Limit: lim},
				[]string{orderOK}, nil},
			{"span and resource on different spans", storage.Query{Attributes: attrs("user.tier", "gold", "payment.provider", "stripe"), Kind: anyKind, Limit: lim},
				goldOnes, nil},
			{"on the same span", storage.Query{Attributes: attrs("payment.currency", "EUR", "error", "true"), Kind: anyKind, Limit: lim},
				[]string{orderDeclined}, nil},
			{"each on a different trace", storage.Query{Attributes: attrs("user.tier", "silver", "exception.type", "CardDeclinedError"), Kind: anyKind, Limit: lim},
				nil, nil},
		}},
		{"AttributeOfService", []queryCase{
			{"resource of another service", storage.Query{Service: "frontend", Attributes: attrs("payment.provider", "stripe"), Kind: anyKind, Limit: lim}, nil, nil},
			{"resource of the service", storage.Query{Service: "payment", Attributes: attrs("payment.provider", "stripe"), Kind: anyKind, Limit: lim}, orders, nil},
			{"span of the service", storage.Query{Service: "frontend", Attributes: attrs("user.tier", "gold"), Kind: anyKind, Limit: lim}, goldOnes, nil},
			{"span of another service", storage.Query{Service: "checkout", Attributes: attrs("user.tier", "gold"), Kind: anyKind, Limit: lim}, nil, nil},
			{"event of the service", storage.Query{Service: "payment", Attributes: attrs("auth.code", "A1"), Kind: anyKind, Limit: lim}, []string{orderOK}, nil},
			{"event of another service", storage.Query{Service: "checkout", Attributes: attrs("auth.code", "A1"), Kind: anyKind, Limit: lim}, nil, nil},
			{"two attributes of the service", storage.Query{Service: "payment", Attributes: attrs("payment.provider", "stripe", "error", "true"), Kind: anyKind, Limit: lim},
				[]string{orderDeclined}, nil},
			{"one of two attributes on another service", storage.Query{Service: "payment", Attributes: attrs("payment.provider", "stripe", "user.tier", "gold"), Kind: anyKind, Limit: lim},
				nil, nil},
			{"on both services", storage.Query{Service: "inventory", Attributes: attrs("product.id", "p-77"), Kind: anyKind, Limit: lim}, []string{browse}, nil},
		}},
		{"AttributeWithSpanConditions", []queryCase{
			{"operation", storage.Query{Operation: "checkout.PlaceOrder", Attributes: attrs("user.tier", "gold"), Kind: anyKind, Limit: lim}, goldOnes, nil},
			{"kind", storage.Query{Kind: model.SpanKindProducer, Attributes: attrs("user.tier", "silver"), Limit: lim}, []string{orderSlow}, nil},
			{"duration", storage.Query{DurationMin: uint64(2 * time.Second), Attributes: attrs("auth.code", "A4"), Kind: anyKind, Limit: lim}, []string{orderSlow}, nil},
			{"duration no trace has", storage.Query{DurationMin: uint64(2 * time.Second), Attributes: attrs("user.tier", "gold"), Kind: anyKind, Limit: lim}, nil, nil},
			{"window", storage.Query{StartMin: ts(2), Attributes: attrs("payment.provider", "stripe"), Kind: anyKind, Limit: lim},
				[]string{orderSlow, orderDeclined}, nil},
		}},
		{"Duration", []queryCase{
			{"min", storage.Query{Service: "payment", DurationMin: uint64(time.Second), Kind: anyKind, Limit: lim}, []string{orderSlow}, nil},
			{"max", storage.Query{Service: "payment", DurationMax: 200 * ms, Kind: anyKind, Limit: lim}, goldOnes, nil},
			{"min and max", storage.Query{Service: "payment", DurationMin: 50 * ms, DurationMax: 200 * ms, Kind: anyKind, Limit: lim}, []string{orderOK}, nil},
			{"min inclusive", storage.Query{Service: "payment", DurationMin: 96 * ms, Kind: anyKind, Limit: lim}, []string{orderSlow, orderOK}, nil},
			{"max inclusive", storage.Query{Service: "payment", DurationMax: 30 * ms, Kind: anyKind, Limit: lim}, []string{orderDeclined}, nil},
			{"min equals max", storage.Query{Service: "payment", DurationMin: 96 * ms, DurationMax: 96 * ms, Kind: anyKind, Limit: lim}, []string{orderOK}, nil},
			{"min without service", storage.Query{DurationMin: uint64(2 * time.Second), Kind: anyKind, Limit: lim}, []string{restock, orderSlow}, nil},
			{"long min without service", storage.Query{DurationMin: uint64(4 * time.Second), Kind: anyKind, Limit: lim}, []string{restock},
				[]uint64{ts(5) + 100*ms}},
			{"max without service", storage.Query{DurationMax: 5 * ms, Kind: anyKind, Limit: lim}, []string{orderSlow, orderOK}, nil},
			// order-slow has long spans and inventory spans, but none is both.
			{"on a span of the service", storage.Query{Service: "inventory", DurationMin: uint64(2 * time.Second), Kind: anyKind, Limit: lim}, []string{restock}, nil},
			{"root of the slow order", storage.Query{Service: "frontend", DurationMin: uint64(2 * time.Second), Kind: anyKind, Limit: lim}, []string{orderSlow}, nil},
		}},
		{"TimeWindow", []queryCase{
			{"start min", storage.Query{StartMin: ts(3), Kind: anyKind, Limit: lim}, []string{restock, orderSlow, browse}, nil},
			{"start max", storage.Query{StartMax: ts(2) + uint64(time.Second), Kind: anyKind, Limit: lim}, goldOnes,
				[]uint64{ts(2) + 12*ms, ts(1) + 145*ms}},
			{"both, inclusive", storage.Query{StartMin: ts(2), StartMax: ts(3), Kind: anyKind, Limit: lim}, []string{browse, orderDeclined},
				[]uint64{ts(3), ts(2) + 12*ms}},
			{"one instant", storage.Query{StartMin: ts(3), StartMax: ts(3), Kind: anyKind, Limit: lim}, []string{browse}, []uint64{ts(3)}},
			{"instant without a span of the service", storage.Query{Service: "inventory", StartMin: ts(3), StartMax: ts(3), Kind: anyKind, Limit: lim}, nil, nil},
			{"with service", storage.Query{Service: "inventory", StartMin: ts(3), StartMax: ts(3) + 8*ms, Kind: anyKind, Limit: lim},
				[]string{browse}, []uint64{ts(3) + 8*ms}},
			{"excludes a trace's first span", storage.Query{StartMin: ts(5) + 1, Kind: anyKind, Limit: lim}, []string{restock}, []uint64{ts(5) + 4950*ms}},
			{"in the future", storage.Query{StartMin: ts(5) + uint64(time.Hour), Kind: anyKind, Limit: lim}, nil, nil},
			{"before everything", storage.Query{StartMin: f.base - uint64(time.Hour), StartMax: f.base, Kind: anyKind, Limit: lim}, nil, nil},
			{"with limit", storage.Query{StartMin: ts(2), Kind: anyKind, Limit: 2}, []string{restock, orderSlow}, nil},
		}},
		{"Limit", []queryCase{
			{"service limit 2", storage.Query{Service: "frontend", Kind: anyKind, Limit: 2}, []string{orderSlow, browse}, nil},
			{"service limit 1", storage.Query{Service: "frontend", Kind: anyKind, Limit: 1}, []string{orderSlow}, nil},
			{"limit 3", storage.Query{Kind: anyKind, Limit: 3}, []string{restock, orderSlow, browse}, nil},
			{"limit equal to matches", storage.Query{Kind: anyKind, Limit: 5}, all5, nil},
			{"limit above matches", storage.Query{Kind: anyKind, Limit: 1000}, all5, nil},
		}},
		{"NoConditions", []queryCase{
			{"every trace", storage.Query{Kind: anyKind, Limit: lim}, all5,
				[]uint64{ts(5) + 4950*ms, ts(4) + 2545*ms, ts(3) + 8*ms, ts(2) + 12*ms, ts(1) + 145*ms}},
		}},
	}
}

func (h *harness) testQuery(t *testing.T) {
	s := h.store(t)
	traces := h.writeSearchFixtures(t, s)
	names := make(map[model.TraceID]string, len(traces))
	for name, tr := range traces {
		names[tr.id] = name
	}
	label := func(id model.TraceID) string {
		if n, ok := names[id]; ok {
			return n
		}
		return id.String()
	}
	for _, g := range h.fx.queryGroups() {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					refs, err := s.FindTraceIDs(t.Context(), c.q)
					if err != nil {
						t.Fatalf("FindTraceIDs(%+v): %v", c.q, err)
					}
					got := make([]string, len(refs))
					for i, r := range refs {
						got[i] = label(r.TraceID)
					}
					if !slices.Equal(got, c.want) {
						t.Fatalf("FindTraceIDs(%+v):\n got %q\nwant %q (newest first)", c.q, got, c.want)
					}
					for i, want := range c.starts {
						if refs[i].Start != want {
							t.Errorf("result %d (%s): Start is %s, want %s (when the trace met every condition)",
								i, got[i], h.fx.rel(refs[i].Start), h.fx.rel(want))
						}
					}
				})
			}
		})
	}
	t.Run("Invalid", func(t *testing.T) {
		bad := map[string]storage.Query{
			"limit 0":                {Kind: anyKind},
			"negative limit":         {Kind: anyKind, Limit: -1},
			"window ends before":     {Kind: anyKind, Limit: lim, StartMin: h.fx.traceStart(3), StartMax: h.fx.traceStart(2)},
			"min duration above max": {Kind: anyKind, Limit: lim, DurationMin: 2, DurationMax: 1},
			"unknown kind":           {Kind: model.SpanKindConsumer + 1, Limit: lim},
			"kind below AnyKind":     {Kind: anyKind - 1, Limit: lim},
			"empty attribute key":    {Kind: anyKind, Limit: lim, Attributes: attrs("", "x")},
		}
		for name, q := range bad {
			if refs, err := s.FindTraceIDs(t.Context(), q); err == nil {
				t.Errorf("FindTraceIDs with %s (%+v): got %d results and no error, want an error", name, q, len(refs))
			}
		}
	})
}

// refIDs returns the trace IDs of refs, in order.
func refIDs(refs []storage.TraceRef) []model.TraceID {
	out := make([]model.TraceID, len(refs))
	for i, r := range refs {
		out[i] = r.TraceID
	}
	return out
}

func (h *harness) testServices(t *testing.T) {
	s := h.store(t)
	svcs, err := s.Services(t.Context())
	if err != nil {
		t.Fatalf("Services of an empty store: %v", err)
	}
	if len(svcs) != 0 {
		t.Errorf("Services of an empty store: got %q, want none", svcs)
	}
	h.writeSearchFixtures(t, s)
	svcs, err = s.Services(t.Context())
	if err != nil {
		t.Fatalf("Services: %v", err)
	}
	if want := []string{"checkout", "frontend", "inventory", "payment"}; !slices.Equal(svcs, want) {
		t.Errorf("Services: got %q, want %q (sorted)", svcs, want)
	}
}

func (h *harness) testOperations(t *testing.T) {
	s := h.store(t)
	h.writeSearchFixtures(t, s)
	type op = storage.Operation
	o := func(name string, kind model.SpanKind) op { return op{Name: name, Kind: kind} }
	const (
		server   = model.SpanKindServer
		client   = model.SpanKindClient
		internal = model.SpanKindInternal
		producer = model.SpanKindProducer
		consumer = model.SpanKindConsumer
	)
	cases := []struct {
		service string
		kind    model.SpanKind
		want    []op
	}{
		{"frontend", anyKind, []op{o("GET /product/{id}", server), o("POST /cart/checkout", server), o("checkout.PlaceOrder", client), o("inventory.GetStock", client)}},
		{"frontend", server, []op{o("GET /product/{id}", server), o("POST /cart/checkout", server)}},
		{"frontend", client, []op{o("checkout.PlaceOrder", client), o("inventory.GetStock", client)}},
		{"checkout", anyKind, []op{o("checkout.PlaceOrder", server), o("inventory.reserve", producer), o("payment.Charge", client)}},
		{"inventory", anyKind, []op{o("UPDATE stock", client), o("inventory.GetStock", server), o("inventory.reserve", producer), o("inventory.reserve", consumer), o("inventory.restock", internal)}},
		{"inventory", consumer, []op{o("inventory.reserve", consumer)}},
		{"inventory", internal, []op{o("inventory.restock", internal)}},
		{"payment", anyKind, []op{o("payment.Charge", server)}},
		{"payment", client, nil},
		{"payment", model.SpanKindUnspecified, nil},
		{"shipping", anyKind, nil},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%s", c.service, kindName(c.kind)), func(t *testing.T) {
			got, err := s.Operations(t.Context(), c.service, c.kind)
			if err != nil {
				t.Fatalf("Operations(%q, %s): %v", c.service, kindName(c.kind), err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("Operations(%q, %s):\n got %v\nwant %v (sorted by name, then kind)", c.service, kindName(c.kind), got, c.want)
			}
		})
	}
}

func kindName(k model.SpanKind) string {
	switch k {
	case anyKind:
		return "any"
	case model.SpanKindUnspecified:
		return "unspecified"
	}
	return k.String()
}

// allDependencies is what Dependencies returns over all the search fixtures.
func allDependencies() []storage.DependencyLink {
	return []storage.DependencyLink{
		{Parent: "checkout", Child: "inventory", CallCount: 2},
		{Parent: "checkout", Child: "payment", CallCount: 3},
		{Parent: "frontend", Child: "checkout", CallCount: 3},
		{Parent: "frontend", Child: "inventory", CallCount: 1},
	}
}

func (h *harness) testDependencies(t *testing.T) {
	s := h.store(t)
	h.writeSearchFixtures(t, s)
	ts := h.fx.traceStart
	sec := uint64(time.Second)
	type link = storage.DependencyLink
	cases := []struct {
		name       string
		start, end uint64
		want       []link
	}{
		// Same-service parents (frontend server -> frontend client, ...) and
		// restock's root, whose parent is not stored, add nothing.
		{"everything", h.fx.base, h.fx.at(time.Hour), allDependencies()},
		{"first two traces", ts(1), ts(3), []link{
			{Parent: "checkout", Child: "inventory", CallCount: 1},
			{Parent: "checkout", Child: "payment", CallCount: 2},
			{Parent: "frontend", Child: "checkout", CallCount: 2},
		}},
		{"last three traces", ts(3), h.fx.at(time.Hour), []link{
			{Parent: "checkout", Child: "inventory", CallCount: 1},
			{Parent: "checkout", Child: "payment", CallCount: 1},
			{Parent: "frontend", Child: "checkout", CallCount: 1},
			{Parent: "frontend", Child: "inventory", CallCount: 1},
		}},
		// Backends may count at one-second resolution (see
		// storage.Reader.Dependencies), so windows are whole seconds:
		// browse's spans all start in the second at ts(3).
		{"end exclusive", ts(3) - 2*sec, ts(3), nil},
		{"start inclusive", ts(3), ts(3) + sec, []link{{Parent: "frontend", Child: "inventory", CallCount: 1}}},
		{"before everything", h.fx.base - uint64(time.Hour), h.fx.base, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.Dependencies(t.Context(), c.start, c.end)
			if err != nil {
				t.Fatalf("Dependencies: %v", err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("Dependencies(%s, %s):\n got %s\nwant %s", h.fx.rel(c.start), h.fx.rel(c.end),
					showLinks(got), showLinks(c.want))
			}
		})
	}
}

func showLinks(links []storage.DependencyLink) string {
	parts := make([]string, len(links))
	for i, l := range links {
		parts[i] = fmt.Sprintf("%s->%s:%d", l.Parent, l.Child, l.CallCount)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// testRankWithAttributes checks that a trace is ranked by when it met every
// condition: a trace whose newest span of the service is newer than the
// other results, but whose wanted attribute is on an older span, ranks at
// that older span. Written in three calls, oldest spans first, the way a
// store that scans newest first meets them last.
func (h *harness) testRankWithAttributes(t *testing.T) {
	s := h.store(t)
	sh := newShop()
	late := &fixtureTrace{name: "late", id: traceID(0x51, 1)}
	lb := builder{t: late, start: h.fx.at(0)}
	lb.span(1, 0, sh.checkout, sh.http, model.SpanKindServer, "old", 0, time.Millisecond, str("customer.tier", "gold"))
	lb.span(2, 1, sh.checkout, sh.http, model.SpanKindServer, "new", 20*time.Second, 20*time.Second+time.Millisecond)
	var fillers []*fixtureTrace
	var fillerSpans []*model.Span
	for i := range 5 {
		f := &fixtureTrace{name: fmt.Sprintf("filler-%d", i), id: traceID(0x52, uint16(i+1))}
		b := builder{t: f, start: h.fx.at(time.Duration(10+i) * time.Second)}
		b.span(1, 0, sh.checkout, sh.http, model.SpanKindServer, "fill", 0, time.Millisecond, str("customer.tier", "gold"))
		fillers = append(fillers, f)
		fillerSpans = append(fillerSpans, f.spans...)
	}
	for _, batch := range [][]*model.Span{late.spans[:1], fillerSpans, late.spans[1:]} {
		if err := s.WriteSpans(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
	}
	q := storage.Query{Service: "checkout", Attributes: attrs("customer.tier", "gold"), Kind: anyKind, Limit: 3,
		StartMin: h.fx.at(-time.Minute), StartMax: h.fx.at(time.Hour)}
	refs, err := s.FindTraceIDs(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	want := []model.TraceID{fillers[4].id, fillers[3].id, fillers[2].id}
	if got := refIDs(refs); !slices.Equal(got, want) {
		t.Fatalf("got %v, want the three newest fillers %v", got, want)
	}
	q.Limit = lim
	refs, err = s.FindTraceIDs(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(refs); n != 6 || refs[5].TraceID != late.id || refs[5].Start != h.fx.at(0) {
		t.Fatalf("with a large limit: %d results, last %v at %s; want 6, the last %v at %s (its attribute's span)",
			n, refs[n-1].TraceID, h.fx.rel(refs[n-1].Start), late.id, h.fx.rel(h.fx.at(0)))
	}
}
