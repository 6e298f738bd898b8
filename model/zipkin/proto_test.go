package zipkin

import (
	"encoding/json"
	"errors"
	"net"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	zipkinmodel "github.com/openzipkin/zipkin-go/model"
	zipkinpb "github.com/openzipkin/zipkin-go/proto/zipkin_proto3"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/model"
)

// clientSpans are spans as zipkin-go's tracer reports them: a server span
// and its client child, with every field zipkin-go sets.
func clientSpans() []*zipkinmodel.SpanModel {
	parent := zipkinmodel.ID(0x11)
	start := time.Unix(1_700_000_000, 123_456_000)
	return []*zipkinmodel.SpanModel{
		{
			SpanContext:    zipkinmodel.SpanContext{TraceID: zipkinmodel.TraceID{High: 0x0102030405060708, Low: 0x090a0b0c0d0e0f10}, ID: 0x11, Debug: true},
			Name:           "get /",
			Kind:           zipkinmodel.Server,
			Timestamp:      start,
			Duration:       1500 * time.Microsecond,
			Shared:         true,
			LocalEndpoint:  &zipkinmodel.Endpoint{ServiceName: "frontend", IPv4: net.ParseIP("10.0.0.1").To4(), Port: 8080},
			RemoteEndpoint: &zipkinmodel.Endpoint{IPv6: net.ParseIP("fe80::1"), Port: 51000},
			Annotations:    []zipkinmodel.Annotation{{Timestamp: start.Add(time.Millisecond), Value: "ws"}},
			Tags:           map[string]string{"http.method": "GET", "error": "500 from backend", "otel.scope.name": "lib"},
		},
		{
			SpanContext:    zipkinmodel.SpanContext{TraceID: zipkinmodel.TraceID{Low: 0x090a0b0c0d0e0f10}, ID: 0x12, ParentID: &parent},
			Name:           "query",
			Kind:           zipkinmodel.Client,
			Timestamp:      start.Add(100 * time.Microsecond),
			Duration:       time.Millisecond,
			LocalEndpoint:  &zipkinmodel.Endpoint{ServiceName: "frontend", IPv4: net.ParseIP("10.0.0.1").To4(), Port: 8080},
			RemoteEndpoint: &zipkinmodel.Endpoint{ServiceName: "db", IPv4: net.ParseIP("10.0.0.2"), Port: 5432},
		},
	}
}

func TestClientEncodersRoundTrip(t *testing.T) {
	jsonBody, err := json.Marshal(clientSpans())
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, rej, err := SpansFromJSON(jsonBody)
	if err != nil || len(rej) != 0 || len(fromJSON) != 2 {
		t.Fatalf("JSON: %d spans, %v, %v", len(fromJSON), rej, err)
	}
	protoBody, err := zipkinpb.SpanSerializer{}.Serialize(clientSpans())
	if err != nil {
		t.Fatal(err)
	}
	fromProto, rej, err := SpansFromProto(protoBody)
	if err != nil || len(rej) != 0 || len(fromProto) != 2 {
		t.Fatalf("proto: %d spans, %v, %v", len(fromProto), rej, err)
	}
	if !reflect.DeepEqual(fromJSON, fromProto) {
		t.Errorf("JSON and protobuf differ\njson  %+v\nproto %+v", fromJSON, fromProto)
	}

	srv := fromProto[0]
	wantSrv := model.Span{
		Resource: &model.Resource{Attributes: []model.KeyValue{
			str("service.name", "frontend"), str(LocalAddressKey, "10.0.0.1"), kv(LocalPortKey, model.IntValue(8080)),
		}},
		Scope:     &model.Scope{Name: "lib"},
		TraceID:   model.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:    model.SpanID{7: 0x11},
		Name:      "get /",
		Kind:      model.SpanKindServer,
		StartTime: 1_700_000_000_123_456_000,
		EndTime:   1_700_000_000_124_956_000,
		Attributes: []model.KeyValue{
			str("http.method", "GET"), str(PeerAddressKey, "fe80::1"), kv(PeerPortKey, model.IntValue(51000)),
			kv(SharedKey, model.BoolValue(true)), kv(DebugKey, model.BoolValue(true)),
		},
		Events: []model.Event{{Time: 1_700_000_000_124_456_000, Name: "ws"}},
		Status: model.Status{Code: model.StatusError, Message: "500 from backend"},
	}
	if !reflect.DeepEqual(*srv, wantSrv) {
		t.Errorf("server span\n got %+v\nwant %+v", *srv, wantSrv)
	}
	cli := fromProto[1]
	if cli.TraceID.String() != "0000000000000000090a0b0c0d0e0f10" || cli.ParentSpanID != srv.SpanID || cli.Kind != model.SpanKindClient {
		t.Errorf("client span ids/kind: %+v", cli)
	}
	wantCli := []model.KeyValue{str(PeerServiceKey, "db"), str(PeerAddressKey, "10.0.0.2"), kv(PeerPortKey, model.IntValue(5432))}
	if !reflect.DeepEqual(cli.Attributes, wantCli) || cli.Resource != srv.Resource || cli.Scope == srv.Scope {
		t.Errorf("client span attributes/sharing: %+v", cli)
	}
}

func TestProtoIDsAndEndpoints(t *testing.T) {
	good := func() *zipkinpb.Span {
		return &zipkinpb.Span{TraceId: []byte{8: 1, 15: 2}, Id: []byte{7: 3}, Name: "ok"}
	}
	mk := func(name string, f func(s *zipkinpb.Span)) *zipkinpb.Span {
		s := good()
		s.Name = name
		f(s)
		return s
	}
	list := &zipkinpb.ListOfSpans{Spans: []*zipkinpb.Span{
		mk("short-trace", func(s *zipkinpb.Span) { s.TraceId = []byte{1, 2, 3} }),
		mk("zero-trace", func(s *zipkinpb.Span) { s.TraceId = make([]byte, 16) }),
		mk("no-id", func(s *zipkinpb.Span) { s.Id = nil }),
		mk("zero-id", func(s *zipkinpb.Span) { s.Id = make([]byte, 8) }),
		mk("bad-parent", func(s *zipkinpb.Span) { s.ParentId = []byte{1} }),
		mk("64-bit", func(s *zipkinpb.Span) { s.TraceId = []byte{7: 5}; s.ParentId = make([]byte, 8) }),
		mk("bad-endpoints", func(s *zipkinpb.Span) {
			s.LocalEndpoint = &zipkinpb.Endpoint{Ipv4: []byte{1, 2, 3}, Ipv6: []byte{1}, Port: -1}
			s.Kind = 9
		}),
		mk("mapped", func(s *zipkinpb.Span) { s.LocalEndpoint = &zipkinpb.Endpoint{Ipv4: net.ParseIP("192.0.2.1")} }),
	}}
	body, err := proto.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	spans, rejected, err := SpansFromProto(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(rejected) != 5 {
		t.Fatalf("rejected %v", rejected)
	}
	for i, name := range []string{"short-trace", "zero-trace", "no-id", "zero-id", "bad-parent"} {
		if !errors.Is(rejected[i], model.ErrInvalidID) || !strings.Contains(rejected[i].Error(), `"`+name+`"`) {
			t.Errorf("rejection %v, want one naming %q", rejected[i], name)
		}
	}
	if len(spans) != 3 {
		t.Fatalf("kept %d spans", len(spans))
	}
	if s := spans[0]; s.TraceID.String() != "00000000000000000000000000000005" || !s.ParentSpanID.IsZero() {
		t.Errorf("64-bit: %s parent %s", s.TraceID, s.ParentSpanID)
	}
	if s := spans[1]; len(s.Warnings) != 4 || len(s.Resource.Attributes) != 0 || s.Kind != model.SpanKindUnspecified {
		t.Errorf("bad endpoints: warnings %q resource %+v", s.Warnings, s.Resource)
	}
	if s := spans[2]; !reflect.DeepEqual(s.Resource.Attributes, []model.KeyValue{str(LocalAddressKey, "192.0.2.1")}) {
		t.Errorf("4-in-6 ipv4: %+v", s.Resource.Attributes)
	}
}

func TestProtoMalformed(t *testing.T) {
	body, err := zipkinpb.SpanSerializer{}.Serialize(clientSpans())
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(body) {
		// A truncation may still parse (protobuf has no end marker), but
		// must never panic, and what parses must be valid.
		spans, _, err := SpansFromProto(body[:n])
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
		for _, s := range spans {
			if s.ValidateIDs() != nil {
				t.Fatalf("truncated to %d: invalid span out", n)
			}
		}
	}
	for _, b := range [][]byte{[]byte("garbage!"), {0xff, 0xff, 0xff}, []byte(`[{"traceId":"1","id":"1"}]`)} {
		if _, _, err := SpansFromProto(b); err == nil || !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: err %v", b, err)
		}
	}
	if spans, rej, err := SpansFromProto(nil); spans != nil || rej != nil || err != nil {
		t.Errorf("empty body: %v %v %v", spans, rej, err)
	}
}

// TestProtoBoundsAllocation sends 100 bytes whose first span declares a
// length of 2^31-1: an error, with a small allocation.
func TestProtoBoundsAllocation(t *testing.T) {
	body := append([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x07}, make([]byte, 94)...)
	if _, _, err := SpansFromProto(body); err == nil {
		t.Fatal("no error")
	}
	const runs = 50
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		_, _, _ = SpansFromProto(body)
	}
	runtime.ReadMemStats(&after)
	if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 16<<10 {
		t.Errorf("%d bytes per decode of a 100-byte body", perRun)
	}
}
