package badger

import (
	"reflect"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/workload"
	"github.com/scrytrace/scry/model"
)

func TestGroupCodecRoundTrip(t *testing.T) {
	g := workload.New(workload.Config{Seed: 1})
	spans := g.Trace(time.Unix(1700000000, 0))
	spans[3].Events = []model.Event{{Time: spans[3].StartTime - 5, Name: "before start", Attributes: []model.KeyValue{{Key: "k", Value: model.ArrayValue(model.IntValue(-3), model.MapValue(model.KeyValue{Key: "m", Value: model.BytesValue([]byte{0, 1})}))}}, DroppedAttributesCount: 2}}
	spans[4].Links = []model.Link{{TraceID: model.TraceID{9}, SpanID: model.SpanID{8}, TraceState: "a=b", Flags: 1, DroppedAttributesCount: 3, Attributes: []model.KeyValue{{Key: "d", Value: model.DoubleValue(1.5)}}}}
	spans[5].Warnings = []string{"w1"}
	spans[5].DroppedLinksCount = 7
	spans[6].Status = model.Status{Code: model.StatusError, Message: "boom"}
	spans[6].TraceState = "x=y"
	spans[6].Flags = 0x301
	enc := newEncoder()
	raw := enc.encodeGroup(spans)
	got, err := decodeGroup(spans[0].TraceID, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(spans) {
		t.Fatalf("got %d spans, want %d", len(got), len(spans))
	}
	for i := range spans {
		if !reflect.DeepEqual(got[i], spans[i]) {
			t.Errorf("span %d differs:\n got %+v\nwant %+v", i, got[i], spans[i])
		}
	}
	// Every truncation is an error, never a panic.
	for n := 0; n < len(raw); n++ {
		if _, err := decodeGroup(spans[0].TraceID, raw[:n], nil); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(raw))
		}
	}
}

func FuzzDecodeGroup(f *testing.F) {
	g := workload.New(workload.Config{Seed: 3, SpansPerTrace: 3})
	enc := newEncoder()
	f.Add(append([]byte(nil), enc.encodeGroup(g.Trace(time.Unix(1, 0)))...))
	f.Add([]byte{groupCodecVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		spans, err := decodeGroup(model.TraceID{1}, b, nil)
		if err != nil || len(spans) == 0 {
			return
		}
		// What decodes must encode and decode to the same encoding.
		first := append([]byte(nil), newEncoder().encodeGroup(spans)...)
		again, err := decodeGroup(model.TraceID{1}, first, nil)
		if err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		if second := newEncoder().encodeGroup(again); string(first) != string(second) {
			t.Fatalf("round trip differs")
		}
	})
}
