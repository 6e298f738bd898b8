package zipkin_test

import (
	"bytes"
	"encoding/binary"
	"log"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	zipkingo "github.com/openzipkin/zipkin-go"
	zipkinmodel "github.com/openzipkin/zipkin-go/model"
	"github.com/openzipkin/zipkin-go/proto/zipkin_proto3"
	"github.com/openzipkin/zipkin-go/reporter"
	zipkinhttp "github.com/openzipkin/zipkin-go/reporter/http"

	"github.com/scrytrace/scry/collector/queue"
	"github.com/scrytrace/scry/model"
	zipkinconv "github.com/scrytrace/scry/model/zipkin"
)

func attr(kvs []model.KeyValue, key string) (model.Value, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return model.Value{}, false
}

// TestZipkinGo sends a trace from zipkin-go through its HTTP reporter, in
// JSON (its default) and in protobuf.
func TestZipkinGo(t *testing.T) {
	for name, serializer := range map[string]reporter.SpanSerializer{
		"json":     reporter.JSONSerializer{},
		"protobuf": zipkin_proto3.SpanSerializer{},
	} {
		t.Run(name, func(t *testing.T) {
			e := setup(t, queue.DefaultConfig(), nil)
			var logs bytes.Buffer
			rep := zipkinhttp.NewReporter(e.URL, zipkinhttp.Serializer(serializer), zipkinhttp.Logger(log.New(&logs, "", 0)))
			ep, err := zipkingo.NewEndpoint("checkout", "10.0.0.1:8080")
			if err != nil {
				t.Fatal(err)
			}
			tracer, err := zipkingo.NewTracer(rep, zipkingo.WithLocalEndpoint(ep), zipkingo.WithTraceID128Bit(true))
			if err != nil {
				t.Fatal(err)
			}
			parent := tracer.StartSpan("GET /cart", zipkingo.Kind(zipkinmodel.Server))
			parent.Tag("http.method", "GET")
			child := tracer.StartSpan("SELECT cart", zipkingo.Parent(parent.Context()), zipkingo.Kind(zipkinmodel.Client),
				zipkingo.RemoteEndpoint(&zipkinmodel.Endpoint{ServiceName: "postgres", IPv4: net.ParseIP("10.0.0.2"), Port: 5432}))
			annotated := time.Now()
			child.Annotate(annotated, "retry")
			child.Tag("db.statement", "SELECT * FROM cart")
			child.Tag("error", "deadlock")
			child.Finish()
			parent.Finish()
			// Close sends what is left and returns after the answer.
			if err := rep.Close(); err != nil {
				t.Fatal(err)
			}
			if logs.Len() > 0 {
				t.Fatalf("reporter logged: %s", logs.String())
			}

			pc, cc := parent.Context(), child.Context()
			spans := e.trace(t, pc.TraceID.String())
			if len(spans) != 2 {
				t.Fatalf("stored %d spans, want 2", len(spans))
			}
			var ps, cs *model.Span
			for _, s := range spans {
				switch binary.BigEndian.Uint64(s.SpanID[:]) {
				case uint64(pc.ID):
					ps = s
				case uint64(cc.ID):
					cs = s
				}
			}
			if ps == nil || cs == nil {
				t.Fatalf("stored span IDs %s, %s; want %s, %s", spans[0].SpanID, spans[1].SpanID, pc.ID, cc.ID)
			}
			for _, s := range spans {
				if s.ServiceName() != "checkout" {
					t.Errorf("%s: service %q", s.Name, s.ServiceName())
				}
				if v, ok := attr(s.Resource.Attributes, zipkinconv.LocalAddressKey); !ok || v.Str != "10.0.0.1" {
					t.Errorf("%s: local address %v", s.Name, v)
				}
				if s.StartTime == 0 || s.EndTime < s.StartTime {
					t.Errorf("%s: times %d..%d", s.Name, s.StartTime, s.EndTime)
				}
			}
			// zipkin-go's JSON writes names in lower case, as Zipkin's do.
			if !strings.EqualFold(ps.Name, "GET /cart") || ps.Kind != model.SpanKindServer || !ps.ParentSpanID.IsZero() {
				t.Errorf("parent: name %q kind %v parent %s", ps.Name, ps.Kind, ps.ParentSpanID)
			}
			if v, ok := attr(ps.Attributes, "http.method"); !ok || v.Str != "GET" {
				t.Errorf("parent tag http.method %v", v)
			}
			if !strings.EqualFold(cs.Name, "SELECT cart") || cs.Kind != model.SpanKindClient || cs.ParentSpanID != ps.SpanID {
				t.Errorf("child: name %q kind %v parent %s (want %s)", cs.Name, cs.Kind, cs.ParentSpanID, ps.SpanID)
			}
			for k, want := range map[string]model.Value{
				"db.statement":            model.StringValue("SELECT * FROM cart"),
				zipkinconv.PeerServiceKey: model.StringValue("postgres"),
				zipkinconv.PeerAddressKey: model.StringValue("10.0.0.2"),
				zipkinconv.PeerPortKey:    model.IntValue(5432),
			} {
				if got, ok := attr(cs.Attributes, k); !ok || !reflect.DeepEqual(got, want) {
					t.Errorf("child attribute %s = %#v, want %#v", k, got, want)
				}
			}
			if cs.Status != (model.Status{Code: model.StatusError, Message: "deadlock"}) {
				t.Errorf("child status %+v", cs.Status)
			}
			// Zipkin has µs (zipkin-go's JSON rounds, its protobuf truncates).
			if len(cs.Events) != 1 || cs.Events[0].Name != "retry" {
				t.Fatalf("child events %+v, want retry", cs.Events)
			}
			if d := time.Duration(int64(cs.Events[0].Time) - annotated.UnixNano()); d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("event at %d, want %d", cs.Events[0].Time, annotated.UnixNano())
			}
		})
	}
}
