package zipkin

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/scrytrace/scry/model"
)

func kv(k string, v model.Value) model.KeyValue { return model.KeyValue{Key: k, Value: v} }
func str(k, v string) model.KeyValue            { return kv(k, model.StringValue(v)) }

// one converts a JSON list holding one span object with the given fields
// added to a valid base, and requires it to be converted.
func one(t *testing.T, fields string) *model.Span {
	t.Helper()
	body := `[{"traceId":"0102030405060708090a0b0c0d0e0f10","id":"0000000000000011","name":"get /","timestamp":1700000000000000,"duration":1500` + fields + `}]`
	spans, rejected, err := SpansFromJSON([]byte(body))
	if err != nil || len(rejected) != 0 || len(spans) != 1 {
		t.Fatalf("%s: %d spans, rejected %v, err %v", body, len(spans), rejected, err)
	}
	return spans[0]
}

func TestJSONBase(t *testing.T) {
	s := one(t, "")
	if s.TraceID.String() != "0102030405060708090a0b0c0d0e0f10" || s.SpanID.String() != "0000000000000011" || !s.ParentSpanID.IsZero() {
		t.Errorf("ids %s %s %s", s.TraceID, s.SpanID, s.ParentSpanID)
	}
	if s.Name != "get /" || s.StartTime != 1_700_000_000_000_000_000 || s.EndTime != 1_700_000_000_001_500_000 {
		t.Errorf("name %q times %d..%d", s.Name, s.StartTime, s.EndTime)
	}
	if s.Kind != model.SpanKindUnspecified || s.Status != (model.Status{}) || s.Attributes != nil || s.Events != nil || s.Warnings != nil {
		t.Errorf("unexpected fields %+v", s)
	}
	if s.Resource == nil || len(s.Resource.Attributes) != 0 || s.ServiceName() != model.UnknownService {
		t.Errorf("resource without a local endpoint: %+v", s.Resource)
	}
	if s.Scope == nil || s.Scope.Name != "" {
		t.Errorf("scope %+v", s.Scope)
	}
}

func TestJSONIDs(t *testing.T) {
	for _, tc := range []struct {
		name, fields     string
		trace, span, par string
	}{
		{"64-bit trace id padded", `,"traceId":"a1b2c3d4e5f60718"`, "0000000000000000a1b2c3d4e5f60718", "0000000000000011", "0000000000000000"},
		{"short ids padded", `,"traceId":"abc","id":"1"`, "00000000000000000000000000000abc", "0000000000000001", "0000000000000000"},
		{"parent", `,"parentId":"00000000000000aa"`, "0102030405060708090a0b0c0d0e0f10", "0000000000000011", "00000000000000aa"},
		{"zero parent is none", `,"parentId":"0000000000000000"`, "0102030405060708090a0b0c0d0e0f10", "0000000000000011", "0000000000000000"},
		{"parent equal to id is none", `,"parentId":"0000000000000011"`, "0102030405060708090a0b0c0d0e0f10", "0000000000000011", "0000000000000000"},
		{"null parent", `,"parentId":null`, "0102030405060708090a0b0c0d0e0f10", "0000000000000011", "0000000000000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := one(t, tc.fields)
			if s.TraceID.String() != tc.trace || s.SpanID.String() != tc.span || s.ParentSpanID.String() != tc.par {
				t.Errorf("ids %s %s %s", s.TraceID, s.SpanID, s.ParentSpanID)
			}
		})
	}
}

func TestJSONKinds(t *testing.T) {
	for _, tc := range []struct {
		kind string
		want model.SpanKind
		warn bool
	}{
		{"CLIENT", model.SpanKindClient, false},
		{"SERVER", model.SpanKindServer, false},
		{"PRODUCER", model.SpanKindProducer, false},
		{"CONSUMER", model.SpanKindConsumer, false},
		{"server", model.SpanKindServer, false},
		{"BROKER", model.SpanKindUnspecified, true},
	} {
		s := one(t, `,"kind":"`+tc.kind+`"`)
		if s.Kind != tc.want || (len(s.Warnings) > 0) != tc.warn {
			t.Errorf("%s: kind %v, warnings %q", tc.kind, s.Kind, s.Warnings)
		}
	}
	// span.kind says "internal", which Zipkin cannot, only without a kind.
	if s := one(t, `,"tags":{"span.kind":"internal"}`); s.Kind != model.SpanKindInternal || s.Attributes != nil {
		t.Errorf("span.kind tag: %v %+v", s.Kind, s.Attributes)
	}
	if s := one(t, `,"kind":"CLIENT","tags":{"span.kind":"internal"}`); s.Kind != model.SpanKindClient || len(s.Attributes) != 1 {
		t.Errorf("span.kind tag beside kind: %v %+v", s.Kind, s.Attributes)
	}
}

func TestJSONEndpoints(t *testing.T) {
	for _, tc := range []struct {
		name, fields string
		res          []model.KeyValue
		attrs        []model.KeyValue
		warn         bool
	}{
		{name: "service only", fields: `,"localEndpoint":{"serviceName":"frontend"}`, res: []model.KeyValue{str("service.name", "frontend")}},
		{
			name:   "ipv4 and port",
			fields: `,"localEndpoint":{"serviceName":"frontend","ipv4":"10.0.0.1","port":8080}`,
			res:    []model.KeyValue{str("service.name", "frontend"), str(LocalAddressKey, "10.0.0.1"), kv(LocalPortKey, model.IntValue(8080))},
		},
		{name: "ipv6", fields: `,"localEndpoint":{"ipv6":"::1"}`, res: []model.KeyValue{str(LocalAddressKey, "::1")}},
		{
			name:   "both addresses",
			fields: `,"localEndpoint":{"ipv4":"10.0.0.1","ipv6":"::1"}`,
			res:    []model.KeyValue{str(LocalAddressKey, "10.0.0.1"), str(LocalIPv6Key, "::1")},
		},
		{name: "bad port", fields: `,"localEndpoint":{"port":70000}`, warn: true},
		{
			name:   "remote",
			fields: `,"remoteEndpoint":{"serviceName":"db","ipv4":"10.0.0.2","ipv6":"fe80::2","port":5432}`,
			attrs: []model.KeyValue{str(PeerServiceKey, "db"), str(PeerAddressKey, "10.0.0.2"), str(PeerIPv6Key, "fe80::2"),
				kv(PeerPortKey, model.IntValue(5432))},
		},
		{name: "remote ipv6 only", fields: `,"remoteEndpoint":{"ipv6":"::2"}`, attrs: []model.KeyValue{str(PeerAddressKey, "::2")}},
		{name: "empty endpoints", fields: `,"localEndpoint":{},"remoteEndpoint":null`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := one(t, tc.fields)
			if !reflect.DeepEqual(s.Resource.Attributes, tc.res) {
				t.Errorf("resource\n got %+v\nwant %+v", s.Resource.Attributes, tc.res)
			}
			if !reflect.DeepEqual(s.Attributes, tc.attrs) {
				t.Errorf("attributes\n got %+v\nwant %+v", s.Attributes, tc.attrs)
			}
			if (len(s.Warnings) > 0) != tc.warn {
				t.Errorf("warnings %q", s.Warnings)
			}
		})
	}
}

func TestJSONTags(t *testing.T) {
	for _, tc := range []struct {
		name, fields string
		attrs        []model.KeyValue
		status       model.Status
		scope        [2]string
		state        string
	}{
		{
			name:   "sorted strings, other JSON kept as text",
			fields: `,"tags":{"z":"last","a":"first","n":42,"b":true,"nul":null}`,
			attrs:  []model.KeyValue{str("a", "first"), str("b", "true"), str("n", "42"), str("nul", "null"), str("z", "last")},
		},
		{name: "error message", fields: `,"tags":{"error":"connection refused"}`, status: model.Status{Code: model.StatusError, Message: "connection refused"}},
		{name: "error true", fields: `,"tags":{"error":"true"}`, status: model.Status{Code: model.StatusError}},
		{name: "error empty", fields: `,"tags":{"error":""}`, status: model.Status{Code: model.StatusError}},
		{
			name:   "otel exporter error",
			fields: `,"tags":{"otel.status_code":"ERROR","error":"timeout"}`,
			status: model.Status{Code: model.StatusError, Message: "timeout"},
		},
		{
			name:   "otel description differing from error keeps both",
			fields: `,"tags":{"otel.status_code":"ERROR","otel.status_description":"d","error":"e"}`,
			attrs:  []model.KeyValue{str("error", "e")},
			status: model.Status{Code: model.StatusError, Message: "d"},
		},
		{name: "otel ok", fields: `,"tags":{"otel.status_code":"OK"}`, status: model.Status{Code: model.StatusOK}},
		{
			name:   "scope",
			fields: `,"tags":{"otel.scope.name":"io.opentelemetry.http","otel.scope.version":"2.0"}`,
			scope:  [2]string{"io.opentelemetry.http", "2.0"},
		},
		{name: "library", fields: `,"tags":{"otel.library.name":"lib","otel.library.version":"1"}`, scope: [2]string{"lib", "1"}},
		{name: "trace state", fields: `,"tags":{"w3c.tracestate":"a=1"}`, state: "a=1"},
		{name: "shared and debug", fields: `,"shared":true,"debug":true`, attrs: []model.KeyValue{kv(SharedKey, model.BoolValue(true)), kv(DebugKey, model.BoolValue(true))}},
		{name: "false flags left out", fields: `,"shared":false,"debug":false`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := one(t, tc.fields)
			if !reflect.DeepEqual(s.Attributes, tc.attrs) {
				t.Errorf("attributes\n got %+v\nwant %+v", s.Attributes, tc.attrs)
			}
			if s.Status != tc.status || [2]string{s.Scope.Name, s.Scope.Version} != tc.scope || s.TraceState != tc.state {
				t.Errorf("status %+v scope %+v state %q", s.Status, s.Scope, s.TraceState)
			}
		})
	}
}

func TestJSONAnnotations(t *testing.T) {
	s := one(t, `,"annotations":[{"timestamp":1700000000000100,"value":"ws"},{"timestamp":1700000000000200,"value":"wr"}]`)
	want := []model.Event{{Time: 1_700_000_000_000_100_000, Name: "ws"}, {Time: 1_700_000_000_000_200_000, Name: "wr"}}
	if !reflect.DeepEqual(s.Events, want) {
		t.Errorf("events %+v", s.Events)
	}
}

func TestJSONSharing(t *testing.T) {
	body := `[
	{"traceId":"1","id":"1","localEndpoint":{"serviceName":"a","ipv4":"10.0.0.1"}},
	{"traceId":"1","id":"2","localEndpoint":{"serviceName":"a","ipv4":"10.0.0.1"},"tags":{"otel.scope.name":"s"}},
	{"traceId":"1","id":"3","localEndpoint":{"serviceName":"a","ipv4":"10.0.0.2"}},
	{"traceId":"1","id":"4","localEndpoint":{"serviceName":"b"},"tags":{"otel.scope.name":"s"}}
	]`
	spans, rej, err := SpansFromJSON([]byte(body))
	if err != nil || len(rej) != 0 || len(spans) != 4 {
		t.Fatalf("%d spans, %v, %v", len(spans), rej, err)
	}
	if spans[0].Resource != spans[1].Resource || spans[0].Resource == spans[2].Resource || spans[0].Resource == spans[3].Resource {
		t.Error("resources are not shared per local endpoint")
	}
	if spans[0].Scope != spans[2].Scope || spans[1].Scope != spans[3].Scope || spans[0].Scope == spans[1].Scope {
		t.Error("scopes are not shared per name and version")
	}
}

func TestJSONRejects(t *testing.T) {
	body := `[
	{"traceId":"xyz","id":"1","name":"bad-hex","localEndpoint":{"serviceName":"svc"}},
	{"traceId":"1","id":"2","name":"good"},
	{"traceId":"00000000000000000000000000000000","id":"1","name":"zero-trace"},
	{"traceId":"1","id":"0000000000000000","name":"zero-span"},
	{"id":"1","name":"no-trace"},
	{"traceId":"1","name":"no-id"},
	{"traceId":"1","id":"11111111111111111","name":"long-id"},
	{"traceId":"123456789012345678901234567890123","id":"1","name":"long-trace"},
	{"traceId":"1","id":"1","parentId":"nothex","name":"bad-parent"},
	{"traceId":"1","id":"1","name":"bad-type","timestamp":"yesterday"},
	{"traceId":"1","id":"1","name":"neg-time","timestamp":-1},
	{"traceId":"1","id":"3","name":"good-too"}
	]`
	spans, rejected, err := SpansFromJSON([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 2 || spans[0].Name != "good" || spans[1].Name != "good-too" {
		t.Fatalf("kept %d spans", len(spans))
	}
	names := []string{"bad-hex", "zero-trace", "zero-span", "no-trace", "no-id", "long-id", "long-trace", "bad-parent", "bad-type", "neg-time"}
	if len(rejected) != len(names) {
		t.Fatalf("rejected %d: %v", len(rejected), rejected)
	}
	for i, name := range names {
		err := rejected[i]
		if !strings.Contains(err.Error(), `"`+name+`"`) {
			t.Errorf("rejection %v does not name %q", err, name)
		}
		wantMalformed := name == "bad-type" || name == "neg-time"
		if errors.Is(err, ErrMalformed) != wantMalformed || errors.Is(err, model.ErrInvalidID) == wantMalformed {
			t.Errorf("rejection %v: wrong kind", err)
		}
	}
	if !strings.Contains(rejected[0].Error(), `service "svc"`) || !strings.Contains(rejected[1].Error(), `service "unknown_service"`) {
		t.Errorf("rejections do not name the service: %v", rejected[:2])
	}
}

func TestJSONMalformedBody(t *testing.T) {
	for _, body := range []string{"", "{}", `{"traceId":"1"}`, "[", "[{]", "garbage", `[{"traceId":"1","id":"1"}] trailing`, "\x00\xff",
		`[{"traceId":"1","id":"1"},1]`, "[null]", `["span"]`, "[[]]", "null x", `[{"traceId":"1","id":"1"} {}]`, "[{}"} {
		spans, rej, err := SpansFromJSON([]byte(body))
		if err == nil || !errors.Is(err, ErrMalformed) || spans != nil || rej != nil {
			t.Errorf("%q: err %v", body, err)
		}
	}
	for _, body := range []string{"[]", "null"} {
		if spans, rej, err := SpansFromJSON([]byte(body)); err != nil || spans != nil || rej != nil {
			t.Errorf("%q: %v %v %v", body, spans, rej, err)
		}
	}
	// Nesting is bounded by encoding/json: deep arrays are an error, not a crash.
	deep := "[" + strings.Repeat(`{"tags":{"a":`, 20000) + "1" + strings.Repeat("}}", 20000) + "]"
	if _, rej, err := SpansFromJSON([]byte(deep)); err == nil && len(rej) == 0 {
		t.Error("deep nesting accepted")
	}
}
