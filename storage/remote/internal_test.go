package remote

import (
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	storagepb "github.com/scrytrace/scry/storage/remote/proto"
)

func testSpan(n byte, service string) *model.Span {
	return &model.Span{
		Resource: &model.Resource{Attributes: []model.KeyValue{
			{Key: model.ServiceNameKey, Value: model.StringValue(service)},
			{Key: "host", Value: model.StringValue("h1")},
		}},
		Scope:     &model.Scope{Name: "lib", Version: "1"},
		TraceID:   model.TraceID{1},
		SpanID:    model.SpanID{n},
		StartTime: uint64(n),
		EndTime:   uint64(n) + 1,
	}
}

// Resources and scopes equal in content but not in pointer are sent once.
func TestEncodeChunkSharesEqualResources(t *testing.T) {
	spans := []*model.Span{testSpan(1, "a"), testSpan(2, "b"), testSpan(3, "a"), testSpan(4, "a"), testSpan(5, "b")}
	spans[3].Scope.Version = "2"
	spans[4].Warnings = []string{"w"}
	var msgs int
	var got []*model.Span
	err := encodeTrace(spans, func(m *storagepb.GetTraceResponse) error {
		msgs++
		if len(m.ResourceSpans) != 2 {
			t.Errorf("chunk has %d resource spans, want 2 (services a and b)", len(m.ResourceSpans))
		}
		scopes := 0
		for _, rs := range m.ResourceSpans {
			scopes += len(rs.ScopeSpans)
		}
		if scopes != 3 {
			t.Errorf("chunk has %d scope spans, want 3", scopes)
		}
		chunk, err := decodeChunk(m, model.TraceID{1})
		if err != nil {
			t.Fatalf("decodeChunk: %v", err)
		}
		got = append(got, chunk...)
		return nil
	})
	if err != nil || msgs != 1 {
		t.Fatalf("encodeTrace: %v, %d messages", err, msgs)
	}
	got = mergeSpans([][]*model.Span{got})
	want := []*model.Span{testSpan(1, "a"), testSpan(2, "b"), testSpan(3, "a"), testSpan(4, "a"), testSpan(5, "b")}
	want[3].Scope.Version = "2"
	want[4].Warnings = []string{"w"}
	if !slices.EqualFunc(got, want, (*model.Span).Equal) {
		t.Errorf("round trip changed spans:\n got %+v\nwant %+v", got, want)
	}
}

func TestDecodeChunkRejectsOtherTraces(t *testing.T) {
	msg, err := encodeChunk([]*model.Span{testSpan(1, "a")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeChunk(msg, model.TraceID{2}); err == nil {
		t.Errorf("decodeChunk accepted a span of another trace")
	}
	msg.SpanWarnings = append(msg.SpanWarnings, &storagepb.SpanWarnings{SpanIndex: 1, Warnings: []string{"x"}})
	if _, err := decodeChunk(msg, model.TraceID{1}); err == nil {
		t.Errorf("decodeChunk accepted warnings of a span that is not there")
	}
}

func TestQueryRoundTrip(t *testing.T) {
	queries := []storage.Query{
		{Kind: storage.AnyKind, Limit: 1},
		{Service: "s", Operation: "o", Kind: model.SpanKindUnspecified, Limit: 20,
			Attributes: []storage.Attribute{{Key: "k", Value: "v"}, {Key: "k2", Value: ""}},
			StartMin:   1, StartMax: 2, DurationMin: 3, DurationMax: 4},
		{Kind: model.SpanKindConsumer, Limit: 5},
	}
	for _, q := range queries {
		if got := queryFromProto(queryToProto(q)); !equalQuery(got, q) {
			t.Errorf("query %+v came back as %+v", q, got)
		}
	}
	if got := queryToProto(storage.Query{Limit: math.MaxInt32 + 10}).Limit; got != math.MaxInt32 {
		t.Errorf("a limit beyond int32 became %d, want MaxInt32", got)
	}
}

func equalQuery(a, b storage.Query) bool {
	if !slices.Equal(a.Attributes, b.Attributes) {
		return false
	}
	a.Attributes, b.Attributes = nil, nil
	return reflect.DeepEqual(a, b)
}

func TestMergeDeps(t *testing.T) {
	got := mergeDeps([][]storage.DependencyLink{
		{{Parent: "a", Child: "b", CallCount: 1}, {Parent: "b", Child: "c", CallCount: 2}},
		nil,
		{{Parent: "a", Child: "b", CallCount: 5}, {Parent: "a", Child: "c", CallCount: 1}},
	})
	want := []storage.DependencyLink{{Parent: "a", Child: "b", CallCount: 6}, {Parent: "a", Child: "c", CallCount: 1}, {Parent: "b", Child: "c", CallCount: 2}}
	if !slices.Equal(got, want) {
		t.Errorf("mergeDeps: got %v, want %v", got, want)
	}
	if got := mergeDeps(nil); len(got) != 0 {
		t.Errorf("mergeDeps(nil): got %v", got)
	}
}

// TestMergeSpansDropsEqualSpans merges the answers of two backends that
// both stored a span with a NaN attribute (a retry sent to another
// collector) and each hold one half of a Zipkin shared span.
func TestMergeSpansDropsEqualSpans(t *testing.T) {
	withNaN := func() *model.Span {
		s := testSpan(1, "a")
		s.Attributes = []model.KeyValue{{Key: "nan", Value: model.DoubleValue(math.NaN())}}
		return s
	}
	client, server := testSpan(2, "a"), testSpan(2, "b")
	got := mergeSpans([][]*model.Span{{withNaN(), client}, {server, withNaN()}})
	want := []*model.Span{withNaN(), client, server}
	if !slices.EqualFunc(got, want, (*model.Span).Equal) {
		t.Errorf("merged %d spans %v, want the NaN span once and both halves", len(got), got)
	}
}
