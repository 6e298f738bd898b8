package scaleout

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/scrytrace/scry/model"
)

func testSpans(n int) []*model.Span {
	res := &model.Resource{Attributes: []model.KeyValue{{Key: model.ServiceNameKey, Value: model.StringValue("checkout")}}}
	out := make([]*model.Span, n)
	for i := range out {
		s := &model.Span{Resource: res, Scope: &model.Scope{Name: "lib"}, Name: "GET /cart", Kind: model.SpanKindServer,
			StartTime: 1_700_000_000_000_000_000 + uint64(i), EndTime: 1_700_000_000_000_500_000 + uint64(i),
			Attributes: []model.KeyValue{{Key: "i", Value: model.IntValue(int64(i))}}}
		s.TraceID[0], s.TraceID[15] = 1, byte(i)
		s.SpanID[7] = byte(i + 1)
		out[i] = s
	}
	return out
}

// TestCodecRoundTrip: a message holds the tenant and every span as sent,
// and the same batch gets the same message ID (JetStream de-duplicates a
// retried publish by it) while another tenant's gets another.
func TestCodecRoundTrip(t *testing.T) {
	c, err := NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	spans := testSpans(20)
	m, err := c.Encode(3, "team-a", spans)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != Subject(3) {
		t.Errorf("subject %q, want %q", m.Subject, Subject(3))
	}
	tenant, got, err := c.Decode(m.Header, m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if tenant != "team-a" {
		t.Errorf("tenant %q, want team-a", tenant)
	}
	if len(got) != len(spans) {
		t.Fatalf("%d spans, want %d", len(got), len(spans))
	}
	for i := range spans {
		if got[i].TraceID != spans[i].TraceID || got[i].SpanID != spans[i].SpanID || got[i].Name != spans[i].Name ||
			got[i].StartTime != spans[i].StartTime || !reflect.DeepEqual(got[i].Attributes, spans[i].Attributes) ||
			!reflect.DeepEqual(got[i].Resource.Attributes, spans[i].Resource.Attributes) {
			t.Errorf("span %d: got %+v, want %+v", i, got[i], spans[i])
		}
	}
	again, _ := c.Encode(3, "team-a", spans)
	other, _ := c.Encode(3, "team-b", spans)
	id := m.Header.Get(nats.MsgIdHdr)
	if id == "" || again.Header.Get(nats.MsgIdHdr) != id {
		t.Errorf("the same batch got message IDs %q and %q", id, again.Header.Get(nats.MsgIdHdr))
	}
	if other.Header.Get(nats.MsgIdHdr) == id {
		t.Errorf("two tenants' batches share message ID %q", id)
	}
}

// TestDecodeRefuses: a message of an unknown format, a bad tenant or a
// damaged payload is an error that says which, not spans.
func TestDecodeRefuses(t *testing.T) {
	c, err := NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := c.Encode(0, "", testSpans(2))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		header nats.Header
		data   []byte
		want   string
	}{
		{"no format", nats.Header{}, m.Data, "unknown message format"},
		{"future format", nats.Header{headerFormat: {"otlp-zstd-9"}}, m.Data, "unknown message format"},
		{"bad tenant", nats.Header{headerFormat: {formatV1}, headerTenant: {"a/b"}}, m.Data, "tenant"},
		{"damaged", m.Header, m.Data[:len(m.Data)/2], "cannot decompress"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, spans, err := c.Decode(tc.header, tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %d spans and error %v, want an error mentioning %q", len(spans), err, tc.want)
			}
		})
	}
}

// TestPartitionOf: every partition gets a share of random-looking trace
// IDs, and a trace's partition depends only on its ID.
func TestPartitionOf(t *testing.T) {
	const n = 8
	counts := make([]int, n)
	for i := range 8000 {
		var id model.TraceID
		id[3], id[9], id[15] = byte(i), byte(i>>8), byte(i*7)
		p := PartitionOf(id, n)
		if p != PartitionOf(id, n) {
			t.Fatal("PartitionOf is not a function of the ID")
		}
		counts[p]++
	}
	for p, c := range counts {
		if c < 700 || c > 1300 {
			t.Errorf("partition %d got %d of 8000 traces, want about 1000: %v", p, c, counts)
		}
	}
}

func TestTopologyValidate(t *testing.T) {
	if err := DefaultTopology().Validate(); err != nil {
		t.Errorf("default topology: %v", err)
	}
	bad := Topology{Partitions: 0, Replicas: 7, MaxBytes: 10, MaxAge: 0}
	err := bad.Validate()
	for _, want := range []string{"partitions 0", "replicas 7", "max bytes", "max age"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(%+v) = %v, want it to mention %q", bad, err, want)
		}
	}
}
