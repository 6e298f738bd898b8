package model

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// jaegerJSON renders spans and decodes the JSON generically, as a UI would.
func jaegerJSON(t *testing.T, spans []*Span) map[string]any {
	t.Helper()
	b, err := json.Marshal(TraceToJaegerJSON(spans))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func spanByID(t *testing.T, trace map[string]any, id string) map[string]any {
	t.Helper()
	for _, s := range trace["spans"].([]any) {
		if s.(map[string]any)["spanID"] == id {
			return s.(map[string]any)
		}
	}
	t.Fatalf("no span %s", id)
	return nil
}

// tagMap indexes a tag list by key, failing on a repeated key.
func tagMap(t *testing.T, tags any) map[string]map[string]any {
	t.Helper()
	m := map[string]map[string]any{}
	for _, x := range tags.([]any) {
		kv := x.(map[string]any)
		k := kv["key"].(string)
		if _, dup := m[k]; dup {
			t.Errorf("tag %q appears twice", k)
		}
		m[k] = kv
	}
	return m
}

func tagKeys(tags any) []string {
	var keys []string
	for _, x := range tags.([]any) {
		keys = append(keys, x.(map[string]any)["key"].(string))
	}
	return keys
}

func testTrace() []*Span {
	frontend := &Resource{Attributes: []KeyValue{
		{Key: "host.name", Value: StringValue("h1")},
		{Key: "service.name", Value: StringValue("frontend")},
		{Key: "pid", Value: IntValue(12)},
	}}
	// Same content, different pointer and attribute order: one process.
	frontend2 := &Resource{Attributes: []KeyValue{
		{Key: "pid", Value: IntValue(12)},
		{Key: "service.name", Value: StringValue("frontend")},
		{Key: "host.name", Value: StringValue("h1")},
	}}
	// Same service, another host: another process.
	frontendH2 := &Resource{Attributes: []KeyValue{
		{Key: "service.name", Value: StringValue("frontend")},
		{Key: "host.name", Value: StringValue("h2")},
		{Key: "pid", Value: IntValue(12)},
	}}
	// pid as a string is a different tag from pid as an int.
	frontendStrPid := &Resource{Attributes: []KeyValue{
		{Key: "service.name", Value: StringValue("frontend")},
		{Key: "host.name", Value: StringValue("h1")},
		{Key: "pid", Value: StringValue("12")},
	}}
	scope := &Scope{Name: "io.otel.http", Version: "0.9"}
	tid := TraceID{0: 0xab, 15: 0xcd}
	root := &Span{
		Resource: frontend, Scope: scope, TraceID: tid, SpanID: SpanID{7: 1},
		Name: "GET /", Kind: SpanKindServer, Flags: 0x301, TraceState: "k=v",
		StartTime: 1_700_000_000_000_001_999, EndTime: 1_700_000_000_000_501_999,
		Attributes: []KeyValue{
			{Key: "http.method", Value: StringValue("GET")},
			{Key: "big", Value: IntValue(1<<53 + 1)},
			{Key: "edge", Value: IntValue(1 << 53)},
			{Key: "neg.big", Value: IntValue(math.MinInt64)},
			{Key: "neg", Value: IntValue(-5)},
			{Key: "ratio", Value: DoubleValue(0.5)},
			{Key: "nan", Value: DoubleValue(math.NaN())},
			{Key: "inf", Value: DoubleValue(math.Inf(1))},
			{Key: "ok", Value: BoolValue(true)},
			{Key: "raw", Value: BytesValue([]byte{0xff, 0x00, 0x10})},
			{Key: "list", Value: ArrayValue(StringValue("a"), IntValue(2), ArrayValue(BoolValue(false)))},
			{Key: "obj", Value: MapValue(KeyValue{Key: "k", Value: MapValue(KeyValue{Key: "j", Value: DoubleValue(1.5)})})},
			{Key: "nothing"},
		},
		Status: Status{Code: StatusError, Message: "it broke"},
		Events: []Event{
			{Time: 1_700_000_000_000_100_999, Name: "exception", Attributes: []KeyValue{{Key: "exception.type", Value: StringValue("E")}}},
			{Time: 1_700_000_000_000_200_000},
		},
		Warnings: []string{"clock skew adjusted"},
	}
	child := &Span{
		Resource: frontend2, Scope: &Scope{}, TraceID: tid, SpanID: SpanID{7: 2}, ParentSpanID: SpanID{7: 1},
		Name: "child", Kind: SpanKindClient, StartTime: 1_700_000_000_000_100_000, EndTime: 1_700_000_000_000_100_000,
		Status: Status{Code: StatusOK},
		Links: []Link{
			{TraceID: TraceID{15: 0x77}, SpanID: SpanID{0: 0x10}, Attributes: []KeyValue{{Key: "lost", Value: StringValue("x")}}},
			{}, // invalid span context: no reference
			{TraceID: TraceID{0: 0x11}, SpanID: SpanID{0: 0x20}},
		},
	}
	other := &Span{Resource: frontendH2, Scope: scope, TraceID: tid, SpanID: SpanID{7: 3}, StartTime: 1_700_000_000_000_300_000, EndTime: 1_700_000_000_000_400_000}
	strPid := &Span{Resource: frontendStrPid, Scope: scope, TraceID: tid, SpanID: SpanID{7: 4}, StartTime: 1_700_000_000_000_400_000, EndTime: 1_700_000_000_000_400_000}
	noRes := &Span{TraceID: tid, SpanID: SpanID{7: 5}, StartTime: 1_700_000_000_000_500_000, EndTime: 1_700_000_000_000_400_000}
	// Deliberately out of order.
	return []*Span{strPid, child, nil, noRes, other, root}
}

func TestTraceToJaegerJSON(t *testing.T) {
	in := testTrace()
	before := append([]*Span(nil), in...)
	tr := jaegerJSON(t, in)
	if !reflect.DeepEqual(in, before) {
		t.Error("the caller's slice was reordered")
	}

	if tr["traceID"] != "ab0000000000000000000000000000cd" {
		t.Errorf("traceID = %v", tr["traceID"])
	}
	if v, ok := tr["warnings"]; !ok || v != nil {
		t.Errorf("trace warnings = %v (present %v), want null", v, ok)
	}

	// Spans sorted by start time.
	var order []string
	for _, s := range tr["spans"].([]any) {
		order = append(order, s.(map[string]any)["spanID"].(string))
	}
	want := []string{"0000000000000001", "0000000000000002", "0000000000000003", "0000000000000004", "0000000000000005"}
	if !reflect.DeepEqual(order, want) {
		t.Errorf("span order = %v", order)
	}

	root := spanByID(t, tr, "0000000000000001")
	if root["traceID"] != "ab0000000000000000000000000000cd" || root["operationName"] != "GET /" {
		t.Errorf("root = %v", root)
	}
	// Microseconds, truncated; the duration from nanoseconds.
	if root["startTime"] != float64(1_700_000_000_000_001) || root["duration"] != float64(500) {
		t.Errorf("startTime=%v duration=%v", root["startTime"], root["duration"])
	}
	if root["flags"] != float64(1) {
		t.Errorf("flags = %v, want the W3C trace flags only", root["flags"])
	}
	if refs := root["references"].([]any); len(refs) != 0 {
		t.Errorf("root references = %v, want []", refs)
	}
	if !reflect.DeepEqual(root["warnings"], []any{"clock skew adjusted"}) {
		t.Errorf("warnings = %v", root["warnings"])
	}

	// Attributes first in order, then the synthesized tags.
	wantKeys := []string{"http.method", "big", "edge", "neg.big", "neg", "ratio", "nan", "inf", "ok", "raw", "list", "obj", "nothing",
		"span.kind", "otel.status_code", "otel.status_description", "error", "otel.scope.name", "otel.scope.version", "w3c.tracestate"}
	if got := tagKeys(root["tags"]); !reflect.DeepEqual(got, wantKeys) {
		t.Errorf("tag keys = %q\nwant %q", got, wantKeys)
	}
	tags := tagMap(t, root["tags"])
	tagTests := []struct {
		key, typ string
		value    any
	}{
		{"http.method", "string", "GET"},
		{"big", "int64", "9007199254740993"},
		{"edge", "int64", float64(1 << 53)},
		{"neg.big", "int64", "-9223372036854775808"},
		{"neg", "int64", float64(-5)},
		{"ratio", "float64", 0.5},
		{"nan", "float64", "NaN"},
		{"inf", "float64", "+Inf"},
		{"ok", "bool", true},
		{"raw", "binary", "/wAQ"},
		{"list", "string", `["a",2,[false]]`},
		{"obj", "string", `{"k":{"j":1.5}}`},
		{"nothing", "string", ""},
		{"span.kind", "string", "server"},
		{"otel.status_code", "string", "ERROR"},
		{"otel.status_description", "string", "it broke"},
		{"error", "bool", true},
		{"otel.scope.name", "string", "io.otel.http"},
		{"otel.scope.version", "string", "0.9"},
		{"w3c.tracestate", "string", "k=v"},
	}
	for _, tt := range tagTests {
		got := tags[tt.key]
		if got["type"] != tt.typ || got["value"] != tt.value {
			t.Errorf("tag %s = %v, want type %s value %#v", tt.key, got, tt.typ, tt.value)
		}
	}

	// Events become logs.
	logs := root["logs"].([]any)
	if len(logs) != 2 {
		t.Fatalf("logs = %v", logs)
	}
	l0 := logs[0].(map[string]any)
	if l0["timestamp"] != float64(1_700_000_000_000_100) {
		t.Errorf("log timestamp = %v", l0["timestamp"])
	}
	wantFields := []any{
		map[string]any{"key": "event", "type": "string", "value": "exception"},
		map[string]any{"key": "exception.type", "type": "string", "value": "E"},
	}
	if !reflect.DeepEqual(l0["fields"], wantFields) {
		t.Errorf("log fields = %v", l0["fields"])
	}
	if f := logs[1].(map[string]any)["fields"].([]any); len(f) != 0 {
		t.Errorf("unnamed event without attributes gave fields %v, want []", f)
	}

	// References: parent CHILD_OF first, then links FOLLOWS_FROM.
	child := spanByID(t, tr, "0000000000000002")
	wantRefs := []any{
		map[string]any{"refType": "CHILD_OF", "traceID": "ab0000000000000000000000000000cd", "spanID": "0000000000000001"},
		map[string]any{"refType": "FOLLOWS_FROM", "traceID": "0000000000000077", "spanID": "1000000000000000"},
		map[string]any{"refType": "FOLLOWS_FROM", "traceID": "11000000000000000000000000000000", "spanID": "2000000000000000"},
	}
	if !reflect.DeepEqual(child["references"], wantRefs) {
		t.Errorf("references = %v", child["references"])
	}
	if v, ok := child["warnings"]; !ok || v != nil {
		t.Errorf("span warnings = %v (present %v), want null", v, ok)
	}
	if ct := tagMap(t, child["tags"]); ct["otel.status_code"]["value"] != "OK" || ct["error"] != nil || ct["otel.scope.name"] != nil || ct["span.kind"]["value"] != "client" {
		t.Errorf("child tags = %v", child["tags"])
	}
	if child["duration"] != float64(0) || len(child["logs"].([]any)) != 0 {
		t.Errorf("child = %v", child)
	}

	// Processes: deduplicated by content, numbered in span order.
	procs := tr["processes"].(map[string]any)
	if len(procs) != 4 {
		t.Fatalf("processes = %v", procs)
	}
	pidOf := func(id string) string { return spanByID(t, tr, id)["processID"].(string) }
	if pidOf("0000000000000001") != "p1" || pidOf("0000000000000002") != "p1" || pidOf("0000000000000003") != "p2" ||
		pidOf("0000000000000004") != "p3" || pidOf("0000000000000005") != "p4" {
		t.Errorf("process ids = %v %v %v %v %v", pidOf("0000000000000001"), pidOf("0000000000000002"),
			pidOf("0000000000000003"), pidOf("0000000000000004"), pidOf("0000000000000005"))
	}
	p1 := procs["p1"].(map[string]any)
	wantP1 := map[string]any{"serviceName": "frontend", "tags": []any{
		map[string]any{"key": "host.name", "type": "string", "value": "h1"},
		map[string]any{"key": "pid", "type": "int64", "value": float64(12)},
	}}
	if !reflect.DeepEqual(p1, wantP1) {
		t.Errorf("p1 = %v", p1)
	}
	if p4 := procs["p4"].(map[string]any); p4["serviceName"] != UnknownService || len(p4["tags"].([]any)) != 0 {
		t.Errorf("p4 = %v", p4)
	}
}

func TestTraceToJaegerJSONEmpty(t *testing.T) {
	b, err := json.Marshal(TraceToJaegerJSON(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"traceID":"","spans":[],"processes":{},"warnings":null}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestTraceToJaegerJSONSpanShape(t *testing.T) {
	s := &Span{TraceID: TraceID{15: 1}, SpanID: SpanID{7: 2}, Name: "x", StartTime: 3000, EndTime: 5000}
	b, err := json.Marshal(TraceToJaegerJSON([]*Span{s}).Spans[0])
	if err != nil {
		t.Fatal(err)
	}
	want := `{"traceID":"0000000000000001","spanID":"0000000000000002","operationName":"x","references":[],"flags":0,` +
		`"startTime":3,"duration":2,"tags":[],"logs":[],"processID":"p1","warnings":null}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestJaegerSynthesizedTagsDoNotDuplicate(t *testing.T) {
	s := &Span{
		TraceID: TraceID{1}, SpanID: SpanID{1}, Kind: SpanKindConsumer, Status: Status{Code: StatusError},
		Attributes: []KeyValue{{Key: "error", Value: StringValue("custom")}, {Key: "span.kind", Value: StringValue("mine")}},
		Events:     []Event{{Name: "named", Attributes: []KeyValue{{Key: "event", Value: StringValue("from attrs")}}}},
	}
	js := TraceToJaegerJSON([]*Span{s}).Spans[0]
	want := []JaegerKeyValue{
		{Key: "error", Type: "string", Value: "custom"},
		{Key: "span.kind", Type: "string", Value: "mine"},
		{Key: "otel.status_code", Type: "string", Value: "ERROR"},
	}
	if !reflect.DeepEqual(js.Tags, want) {
		t.Errorf("tags = %+v", js.Tags)
	}
	if f := js.Logs[0].Fields; len(f) != 1 || f[0].Value != "from attrs" {
		t.Errorf("log fields = %+v", f)
	}
}

func TestJaegerTraceID(t *testing.T) {
	tests := []struct {
		id   TraceID
		want string
	}{
		{TraceID{15: 1}, "0000000000000001"},
		{TraceID{8: 0xf0, 15: 1}, "f000000000000001"},
		{TraceID{7: 1}, "00000000000000010000000000000000"},
		{TraceID{0: 0xab, 15: 0xcd}, "ab0000000000000000000000000000cd"},
	}
	for _, tt := range tests {
		if got := JaegerTraceID(tt.id); got != tt.want {
			t.Errorf("JaegerTraceID(%s) = %s, want %s", tt.id, got, tt.want)
		}
		// Both forms parse back to the same ID.
		if back, err := ParseTraceID(tt.want); err != nil || back != tt.id {
			t.Errorf("ParseTraceID(%s) = %s, %v", tt.want, back, err)
		}
	}
}

func TestJaegerKV(t *testing.T) {
	tests := []struct {
		v     Value
		typ   string
		value any
	}{
		{IntValue(1<<53 - 1), "int64", int64(1<<53 - 1)},
		{IntValue(-(1 << 53)), "int64", int64(-(1 << 53))},
		{IntValue(-(1<<53 + 1)), "int64", "-9007199254740993"},
		{IntValue(math.MaxInt64), "int64", "9223372036854775807"},
		{DoubleValue(math.Inf(-1)), "float64", "-Inf"},
		{DoubleValue(-2.5e300), "float64", -2.5e300},
		{BytesValue(nil), "binary", ""},
		{ArrayValue(), "string", "[]"},
		{MapValue(), "string", "{}"},
		{Value{Type: 99}, "string", ""},
	}
	for _, tt := range tests {
		got := JaegerKV("k", tt.v)
		if got.Key != "k" || got.Type != tt.typ || got.Value != tt.value {
			t.Errorf("JaegerKV(%+v) = %+v, want %s %#v", tt.v, got, tt.typ, tt.value)
		}
	}
}
