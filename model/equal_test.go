package model

import (
	"math"
	"testing"
)

// richSpan has every field set, NaN and infinite doubles, and nested
// arrays and maps, in its attributes and in those of its resource, scope,
// events and links.
func richSpan() *Span {
	nested := func() Value {
		return MapValue(
			KeyValue{Key: "list", Value: ArrayValue(
				DoubleValue(math.NaN()), StringValue("s"), BytesValue([]byte{1, 2}),
				ArrayValue(IntValue(7), MapValue(KeyValue{Key: "deep", Value: DoubleValue(math.NaN())})),
			)},
			KeyValue{Key: "none", Value: Value{}},
		)
	}
	return &Span{
		Resource: &Resource{
			Attributes:             []KeyValue{{Key: "service.name", Value: StringValue("svc")}, {Key: "r.nan", Value: DoubleValue(math.NaN())}},
			DroppedAttributesCount: 1,
			SchemaURL:              "https://opentelemetry.io/schemas/1.24.0",
		},
		Scope: &Scope{
			Name: "lib", Version: "1.2",
			Attributes:             []KeyValue{{Key: "s.nested", Value: nested()}},
			DroppedAttributesCount: 2,
			SchemaURL:              "scope-schema",
		},
		TraceID:      TraceID{1, 2, 3},
		SpanID:       SpanID{4, 5},
		ParentSpanID: SpanID{6},
		TraceState:   "k=v",
		Flags:        0x301,
		Name:         "op",
		Kind:         SpanKindServer,
		StartTime:    100,
		EndTime:      200,
		Attributes: []KeyValue{
			{Key: "nan", Value: DoubleValue(math.NaN())},
			{Key: "inf", Value: DoubleValue(math.Inf(-1))},
			{Key: "int", Value: IntValue(-3)},
			{Key: "bool", Value: BoolValue(true)},
			{Key: "bytes", Value: BytesValue([]byte{0, 0xff})},
			{Key: "nested", Value: nested()},
		},
		DroppedAttributesCount: 3,
		Events: []Event{
			{Time: 150, Name: "ev", DroppedAttributesCount: 4, Attributes: []KeyValue{{Key: "e.nan", Value: DoubleValue(math.NaN())}}},
			{Time: 160, Name: "empty"},
		},
		DroppedEventsCount: 5,
		Links: []Link{{
			TraceID: TraceID{9}, SpanID: SpanID{8}, TraceState: "l=1", Flags: 1, DroppedAttributesCount: 6,
			Attributes: []KeyValue{{Key: "l.nested", Value: nested()}},
		}},
		DroppedLinksCount: 7,
		Status:            Status{Code: StatusError, Message: "boom"},
		Warnings:          []string{"clock skew adjusted"},
	}
}

// changes lists one change to each field of richSpan, nested ones included.
var changes = map[string]func(s *Span){
	"trace id":                     func(s *Span) { s.TraceID[15] = 1 },
	"span id":                      func(s *Span) { s.SpanID[7] = 1 },
	"parent":                       func(s *Span) { s.ParentSpanID = SpanID{} },
	"trace state":                  func(s *Span) { s.TraceState = "k=w" },
	"flags":                        func(s *Span) { s.Flags = 1 },
	"name":                         func(s *Span) { s.Name = "other" },
	"kind":                         func(s *Span) { s.Kind = SpanKindClient },
	"start":                        func(s *Span) { s.StartTime++ },
	"end":                          func(s *Span) { s.EndTime++ },
	"dropped attributes":           func(s *Span) { s.DroppedAttributesCount++ },
	"dropped events":               func(s *Span) { s.DroppedEventsCount++ },
	"dropped links":                func(s *Span) { s.DroppedLinksCount++ },
	"status code":                  func(s *Span) { s.Status.Code = StatusOK },
	"status message":               func(s *Span) { s.Status.Message = "" },
	"warning":                      func(s *Span) { s.Warnings[0] = "other" },
	"one more warning":             func(s *Span) { s.Warnings = append(s.Warnings, "x") },
	"attribute key":                func(s *Span) { s.Attributes[2].Key = "int2" },
	"attribute order":              func(s *Span) { s.Attributes[2], s.Attributes[3] = s.Attributes[3], s.Attributes[2] },
	"attribute removed":            func(s *Span) { s.Attributes = s.Attributes[:5] },
	"NaN to another NaN":           func(s *Span) { s.Attributes[0].Value.Double = math.Float64frombits(math.Float64bits(math.NaN()) ^ 1) },
	"NaN to zero":                  func(s *Span) { s.Attributes[0].Value.Double = 0 },
	"infinity's sign":              func(s *Span) { s.Attributes[1].Value.Double = math.Inf(1) },
	"int":                          func(s *Span) { s.Attributes[2].Value.Int = 3 },
	"int to double":                func(s *Span) { s.Attributes[2].Value = DoubleValue(-3) },
	"bool":                         func(s *Span) { s.Attributes[3].Value.Bool = false },
	"bytes":                        func(s *Span) { s.Attributes[4].Value.Bytes[1] = 0xfe },
	"nested NaN":                   func(s *Span) { s.Attributes[5].Value.Map[0].Value.Array[0].Double = 1 },
	"deeply nested NaN":            func(s *Span) { s.Attributes[5].Value.Map[0].Value.Array[3].Array[1].Map[0].Value.Double = 1 },
	"nested map key":               func(s *Span) { s.Attributes[5].Value.Map[1].Key = "some" },
	"nested array shorter":         func(s *Span) { s.Attributes[5].Value.Map[0].Value.Array = s.Attributes[5].Value.Map[0].Value.Array[:3] },
	"nested empty value to string": func(s *Span) { s.Attributes[5].Value.Map[1].Value = StringValue("") },
	"resource attribute":           func(s *Span) { s.Resource.Attributes[0].Value.Str = "other" },
	"resource NaN":                 func(s *Span) { s.Resource.Attributes[1].Value.Double = 0 },
	"resource dropped":             func(s *Span) { s.Resource.DroppedAttributesCount = 0 },
	"resource schema":              func(s *Span) { s.Resource.SchemaURL = "" },
	"no resource":                  func(s *Span) { s.Resource = nil },
	"scope name":                   func(s *Span) { s.Scope.Name = "other" },
	"scope version":                func(s *Span) { s.Scope.Version = "1.3" },
	"scope schema":                 func(s *Span) { s.Scope.SchemaURL = "" },
	"scope dropped":                func(s *Span) { s.Scope.DroppedAttributesCount = 0 },
	"scope nested attribute":       func(s *Span) { s.Scope.Attributes[0].Value.Map[0].Value.Array[1].Str = "t" },
	"no scope":                     func(s *Span) { s.Scope = nil },
	"event time":                   func(s *Span) { s.Events[0].Time++ },
	"event name":                   func(s *Span) { s.Events[1].Name = "full" },
	"event dropped":                func(s *Span) { s.Events[0].DroppedAttributesCount = 0 },
	"event NaN":                    func(s *Span) { s.Events[0].Attributes[0].Value.Double = 1 },
	"event removed":                func(s *Span) { s.Events = s.Events[:1] },
	"link trace id":                func(s *Span) { s.Links[0].TraceID[0] = 0 },
	"link span id":                 func(s *Span) { s.Links[0].SpanID[0] = 0 },
	"link trace state":             func(s *Span) { s.Links[0].TraceState = "" },
	"link flags":                   func(s *Span) { s.Links[0].Flags = 0 },
	"link dropped":                 func(s *Span) { s.Links[0].DroppedAttributesCount = 0 },
	"link nested attribute":        func(s *Span) { s.Links[0].Attributes[0].Value.Map[0].Value.Array[2].Bytes[0] = 9 },
	"no links":                     func(s *Span) { s.Links = nil },
}

func TestEqualNaN(t *testing.T) {
	a, b := richSpan(), richSpan()
	if !a.Equal(b) || !b.Equal(a) {
		t.Fatal("two spans built alike, with NaN doubles in every place, are not equal")
	}
	if !a.Equal(a) {
		t.Fatal("a span with NaN doubles is not equal to itself")
	}
	if !DoubleValue(math.NaN()).Equal(DoubleValue(math.NaN())) {
		t.Error("NaN value is not equal to NaN")
	}
	if DoubleValue(0).Equal(DoubleValue(math.Copysign(0, -1))) {
		t.Error("0 and -0 are equal; doubles must compare by their bits")
	}
}

func TestEqualSeesEveryField(t *testing.T) {
	for name, change := range changes {
		a, b := richSpan(), richSpan()
		change(b)
		if a.Equal(b) || b.Equal(a) {
			t.Errorf("%s: spans that differ are equal", name)
		}
	}
}

func TestEqualIgnoresRepresentation(t *testing.T) {
	a, b := richSpan(), richSpan()
	// Content, not pointers.
	if a.Resource == b.Resource || a.Scope == b.Scope {
		t.Fatal("richSpan shares its resource")
	}
	// Nil and empty slices, and fields a value's type does not use.
	a.Events[1].Attributes = []KeyValue{}
	b.Links[0].Attributes[0].Value.Map[0].Value.Array[1].Int = 42 // a string value
	b.Attributes[2].Value.Str = "stray"                           // an int value
	b.Scope.Attributes[0].Value.Map[1].Value.Double = 1           // an empty value
	if !a.Equal(b) {
		t.Error("spans that differ only in representation are not equal")
	}
	var empty, zero Span
	empty.Attributes, empty.Events, empty.Links, empty.Warnings = []KeyValue{}, []Event{}, []Link{}, []string{}
	if !empty.Equal(&zero) {
		t.Error("empty slices are not equal to nil ones")
	}
}

func TestEqualNil(t *testing.T) {
	var a, b *Span
	if !a.Equal(b) {
		t.Error("nil is not equal to nil")
	}
	if a.Equal(richSpan()) || richSpan().Equal(nil) {
		t.Error("nil is equal to a span")
	}
	var r *Resource
	var sc *Scope
	if !r.Equal(nil) || r.Equal(&Resource{}) || !sc.Equal(nil) || sc.Equal(&Scope{}) {
		t.Error("a nil resource or scope compares wrongly")
	}
}

func TestCloneIsDeep(t *testing.T) {
	for name, change := range changes {
		orig := richSpan()
		cp := orig.Clone()
		if !cp.Equal(orig) {
			t.Fatalf("%s: clone is not equal to the original", name)
		}
		change(cp)
		if !orig.Equal(richSpan()) {
			t.Errorf("%s: changing the clone changed the original", name)
		}
		cp = orig.Clone()
		change(orig)
		if !cp.Equal(richSpan()) {
			t.Errorf("%s: changing the original changed the clone", name)
		}
	}
	if (*Span)(nil).Clone() != nil {
		t.Error("Clone of nil is not nil")
	}
}

func TestCloneIsCanonical(t *testing.T) {
	s := &Span{
		Resource:   &Resource{Attributes: []KeyValue{}},
		Attributes: []KeyValue{{Key: "s", Value: Value{Type: ValueString, Str: "x", Int: 5, Bytes: []byte{1}}}, {Key: "b", Value: BytesValue([]byte{})}},
		Events:     []Event{},
		Links:      []Link{{Attributes: []KeyValue{}}},
		Warnings:   []string{},
	}
	cp := s.Clone()
	if cp.Resource.Attributes != nil || cp.Events != nil || cp.Warnings != nil || cp.Links[0].Attributes != nil {
		t.Errorf("empty slices were kept: %+v", cp)
	}
	if v := cp.Attributes[0].Value; v.Type != ValueString || v.Str != "x" || v.Int != 0 || v.Bytes != nil {
		t.Errorf("string value kept unused fields: %+v", v)
	}
	if cp.Attributes[1].Value.Bytes != nil {
		t.Errorf("empty bytes kept: %+v", cp.Attributes[1].Value)
	}
	if cp.Scope != nil {
		t.Errorf("nil scope became %+v", cp.Scope)
	}
}

func TestCloneSpansKeepsSharing(t *testing.T) {
	a, b, c := richSpan(), richSpan(), richSpan()
	b.Resource, b.Scope = a.Resource, a.Scope // a and b from one export
	spans := []*Span{a, b, nil, c}
	cp := CloneSpans(spans)
	if len(cp) != 4 || cp[2] != nil {
		t.Fatalf("CloneSpans returned %d spans, third %v", len(cp), cp[2])
	}
	for i, s := range spans {
		if !cp[i].Equal(s) {
			t.Errorf("span %d: clone differs", i)
		}
	}
	if cp[0].Resource != cp[1].Resource || cp[0].Scope != cp[1].Scope {
		t.Error("spans that shared a resource and scope no longer share them")
	}
	if cp[0].Resource == a.Resource || cp[0].Scope == a.Scope {
		t.Error("the copies share the original resource or scope")
	}
	if cp[3].Resource == cp[0].Resource || cp[3].Scope == cp[0].Scope {
		t.Error("spans that did not share a resource share one")
	}
	if CloneSpans(nil) != nil {
		t.Error("CloneSpans(nil) is not nil")
	}
	// Span.Clone of a span alone copies its resource too.
	if one := b.Clone(); one.Resource == a.Resource || !one.Resource.Equal(a.Resource) {
		t.Error("Clone did not copy the resource")
	}
}
