package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// TestSDKExport sends a trace through the OpenTelemetry SDK over OTLP/gRPC
// (plain and gzip) and over OTLP/HTTP (gzip) and reads it back through the Jaeger API and /api/v3:
// every span, attribute, event, link, status, resource and scope arrives.
func TestSDKExport(t *testing.T) {
	t.Parallel()
	s := startScry(t)
	exporters := []struct {
		name string
		new  func() (sdktrace.SpanExporter, error)
	}{
		{"grpc", func() (sdktrace.SpanExporter, error) {
			return otlptracegrpc.New(context.Background(),
				otlptracegrpc.WithEndpoint(s.OTLPGRPC), otlptracegrpc.WithInsecure())
		}},
		{"grpc-gzip", func() (sdktrace.SpanExporter, error) {
			return otlptracegrpc.New(context.Background(),
				otlptracegrpc.WithEndpoint(s.OTLPGRPC), otlptracegrpc.WithInsecure(), otlptracegrpc.WithCompressor("gzip"))
		}},
		{"http", func() (sdktrace.SpanExporter, error) {
			return otlptracehttp.New(context.Background(),
				otlptracehttp.WithEndpoint(s.OTLPHTTP), otlptracehttp.WithInsecure(),
				otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
		}},
	}
	for _, e := range exporters {
		t.Run(e.name, func(t *testing.T) {
			exp, err := e.new()
			if err != nil {
				t.Fatal(err)
			}
			service := "checkout-" + e.name
			sent := emitSDKTrace(t, exp, service)
			checkJaegerTrace(t, s, service, sent)
			checkV3Trace(t, s, sent)
		})
	}
}

// recorder is a span exporter that remembers what its inner exporter
// acknowledged, and the errors it returned.
type recorder struct {
	sdktrace.SpanExporter
	mu    sync.Mutex
	spans []sdktrace.ReadOnlySpan
	errs  []error
}

func (r *recorder) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := r.SpanExporter.ExportSpans(ctx, spans)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errs = append(r.errs, err)
	} else {
		r.spans = append(r.spans, spans...)
	}
	return err
}

// everyType has an attribute of every type the SDK can send.
var everyType = []attribute.KeyValue{
	attribute.String("http.route", "/checkout/{id}"),
	attribute.Int("http.response.status_code", 201),
	attribute.Int64("order.id", 1<<60), // beyond a JavaScript number's exact range
	attribute.Int64("balance", -42),
	attribute.Float64("discount", 0.125),
	attribute.Bool("cart.empty", false),
	attribute.StringSlice("cart.skus", []string{"sku-1", "sku-2"}),
	attribute.IntSlice("cart.quantities", []int{3, 1}),
	attribute.Int64Slice("cart.prices", []int64{1999, 250}),
	attribute.Float64Slice("cart.weights", []float64{0.5, 1.25}),
	attribute.BoolSlice("cart.gift", []bool{true, false}),
	attribute.ByteSlice("session.token", []byte{0x00, 0xff, 0x10}),
	attribute.Map("customer", attribute.String("tier", "gold"), attribute.Int("age", 42)),
	attribute.Slice("mixed", attribute.StringValue("x"), attribute.IntValue(7), attribute.BoolValue(true)),
}

// emitSDKTrace sends one trace of three nested spans (server, internal,
// client) through a batching tracer provider and flushes it; every span has
// been acknowledged when it returns. It returns what the SDK exported.
func emitSDKTrace(t *testing.T, exp sdktrace.SpanExporter, service string) []sdktrace.ReadOnlySpan {
	t.Helper()
	rec := &recorder{SpanExporter: exp}
	res := sdkresource.NewSchemaless(
		attribute.String("service.name", service),
		attribute.String("service.version", "2.3.4"),
		attribute.String("host.name", "node-7"),
		attribute.Int("process.pid", 4242),
		attribute.StringSlice("process.command_args", []string{"checkout", "--fast"}),
	)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(rec), sdktrace.WithResource(res))
	defer func() {
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Errorf("cannot shut down tracer provider: %v", err)
		}
	}()
	tr := tp.Tracer("e2e/checkout",
		trace.WithInstrumentationVersion("1.4.2"),
		trace.WithInstrumentationAttributes(attribute.String("scope.owner", "payments"), attribute.Int("scope.rev", 9)))

	ts, err := trace.ParseTraceState("vendor=abc,other=1")
	if err != nil {
		t.Fatal(err)
	}
	upstream := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID(newTraceID()), SpanID: trace.SpanID(newSpanID()),
		TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true,
	})

	ctx, root := tr.Start(context.Background(), "POST /checkout",
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(everyType...))
	ctx, mid := tr.Start(ctx, "process order", trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String("order.state", "new")))
	mid.AddEvent("cart loaded", trace.WithAttributes(
		attribute.Int("items", 3), attribute.Bool("cached", true), attribute.Float64("ratio", 0.75),
		attribute.StringSlice("skus", []string{"sku-1", "sku-2"})))
	mid.AddEvent("validated")
	_, leaf := tr.Start(ctx, "INSERT orders", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system", "postgresql")),
		trace.WithLinks(trace.Link{SpanContext: upstream, Attributes: []attribute.KeyValue{
			attribute.String("link.reason", "batch"), attribute.Int("link.index", 2),
		}}))
	leaf.RecordError(errors.New("deadlock detected"))
	leaf.SetStatus(otelcodes.Error, "deadlock detected")
	leaf.End()
	mid.End()
	root.SetStatus(otelcodes.Ok, "")
	root.End()

	ctx, cancel := context.WithTimeout(context.Background(), httpTimeout)
	defer cancel()
	if err := tp.ForceFlush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.errs) > 0 {
		t.Fatalf("export failed: %v", rec.errs)
	}
	if len(rec.spans) != 3 {
		t.Fatalf("the SDK exported %d spans, want 3", len(rec.spans))
	}
	return slices.Clone(rec.spans)
}

// checkJaegerTrace checks GET /api/traces/{id} against what the SDK sent.
func checkJaegerTrace(t *testing.T, s *Scry, service string, sent []sdktrace.ReadOnlySpan) {
	t.Helper()
	traceID := sent[0].SpanContext().TraceID().String()
	got := s.trace(t, traceID)
	if got.TraceID != traceID {
		t.Errorf("traceID %q, want %q", got.TraceID, traceID)
	}
	if len(got.Spans) != len(sent) {
		t.Fatalf("%d spans, want %d", len(got.Spans), len(sent))
	}
	byID := map[string]jSpan{}
	for _, sp := range got.Spans {
		byID[sp.SpanID] = sp
	}
	for _, want := range sent {
		id := want.SpanContext().SpanID().String()
		sp, ok := byID[id]
		if !ok {
			t.Errorf("span %s (%s) missing", id, want.Name())
			continue
		}
		name := want.Name()
		if sp.TraceID != traceID || sp.OperationName != name || sp.Flags != 1 {
			t.Errorf("%s: traceID %s, operation %q, flags %d", name, sp.TraceID, sp.OperationName, sp.Flags)
		}
		start, end := want.StartTime().UnixNano(), want.EndTime().UnixNano()
		if sp.StartTime != uint64(start/1000) || sp.Duration != uint64((end-start)/1000) {
			t.Errorf("%s: start %d duration %d, want %d %d", name, sp.StartTime, sp.Duration, start/1000, (end-start)/1000)
		}

		var wantRefs []string
		if p := want.Parent(); p.IsValid() {
			wantRefs = append(wantRefs, "CHILD_OF "+traceID+" "+p.SpanID().String())
		}
		for _, l := range want.Links() {
			wantRefs = append(wantRefs, "FOLLOWS_FROM "+l.SpanContext.TraceID().String()+" "+l.SpanContext.SpanID().String())
		}
		var gotRefs []string
		for _, r := range sp.References {
			gotRefs = append(gotRefs, r.RefType+" "+r.TraceID+" "+r.SpanID)
		}
		if !slices.Equal(gotRefs, wantRefs) {
			t.Errorf("%s: references %q, want %q", name, gotRefs, wantRefs)
		}

		wantTags := slices.Clone(want.Attributes())
		wantTags = append(wantTags,
			attribute.String("span.kind", want.SpanKind().String()),
			attribute.String("otel.scope.name", "e2e/checkout"),
			attribute.String("otel.scope.version", "1.4.2"))
		switch want.Status().Code {
		case otelcodes.Ok:
			wantTags = append(wantTags, attribute.String("otel.status_code", "OK"))
		case otelcodes.Error:
			wantTags = append(wantTags, attribute.String("otel.status_code", "ERROR"),
				attribute.String("otel.status_description", want.Status().Description),
				attribute.Bool("error", true))
		}
		checkJaegerKVs(t, name+" tags", sp.Tags, wantTags)

		if len(sp.Logs) != len(want.Events()) {
			t.Errorf("%s: %d logs, want %d", name, len(sp.Logs), len(want.Events()))
		} else {
			for i, ev := range want.Events() {
				lg := sp.Logs[i]
				if lg.Timestamp != uint64(ev.Time.UnixNano()/1000) {
					t.Errorf("%s log %d: timestamp %d, want %d", name, i, lg.Timestamp, ev.Time.UnixNano()/1000)
				}
				fields := append([]attribute.KeyValue{attribute.String("event", ev.Name)}, ev.Attributes...)
				checkJaegerKVs(t, fmt.Sprintf("%s log %d", name, i), lg.Fields, fields)
			}
		}

		proc, ok := got.Processes[sp.ProcessID]
		if !ok {
			t.Errorf("%s: process %q missing from %v", name, sp.ProcessID, got.Processes)
			continue
		}
		if proc.ServiceName != service {
			t.Errorf("%s: process service %q, want %q", name, proc.ServiceName, service)
		}
		var resTags []attribute.KeyValue
		for _, kv := range want.Resource().Attributes() {
			if kv.Key != "service.name" {
				resTags = append(resTags, kv)
			}
		}
		checkJaegerKVs(t, name+" process tags", proc.Tags, resTags)
	}
	if len(got.Processes) != 1 {
		t.Errorf("%d processes, want 1 (one resource): %v", len(got.Processes), got.Processes)
	}
}

// checkJaegerKVs checks that got holds exactly the keys of want, each once,
// with Jaeger's type and value for it.
func checkJaegerKVs(t *testing.T, what string, got []jKV, want []attribute.KeyValue) {
	t.Helper()
	seen := map[string]jKV{}
	for _, kv := range got {
		if _, dup := seen[kv.Key]; dup {
			t.Errorf("%s: key %q appears twice", what, kv.Key)
		}
		seen[kv.Key] = kv
	}
	for _, w := range want {
		g, ok := seen[string(w.Key)]
		if !ok {
			t.Errorf("%s: %q missing", what, w.Key)
			continue
		}
		delete(seen, string(w.Key))
		if err := jaegerValueMatches(g, w.Value); err != nil {
			t.Errorf("%s: %q: %v", what, w.Key, err)
		}
	}
	for k, kv := range seen {
		t.Errorf("%s: unexpected %q = %v", what, k, kv.Value)
	}
}

// jaegerValueMatches checks a Jaeger tag against the attribute value it
// came from: strings, bools, int64 and float64 keep their type (an int64
// beyond ±2^53 is a string), bytes are "binary" in base64, and arrays and
// maps are a string of JSON.
func jaegerValueMatches(g jKV, v attribute.Value) error {
	wantType, wantValue := "", ""
	switch v.Type() {
	case attribute.STRING:
		wantType, wantValue = "string", strconv.Quote(v.AsString())
	case attribute.BOOL:
		wantType, wantValue = "bool", strconv.FormatBool(v.AsBool())
	case attribute.INT64:
		wantType, wantValue = "int64", strconv.FormatInt(v.AsInt64(), 10)
		if n := v.AsInt64(); n > 1<<53 || n < -(1<<53) {
			wantValue = strconv.Quote(wantValue)
		}
	case attribute.FLOAT64:
		wantType = "float64"
		n, ok := g.Value.(json.Number)
		f, err := n.Float64()
		if g.Type != wantType || !ok || err != nil || f != v.AsFloat64() {
			return fmt.Errorf("got %s %v, want float64 %v", g.Type, g.Value, v.AsFloat64())
		}
		return nil
	case attribute.BYTESLICE:
		wantType, wantValue = "binary", strconv.Quote(base64.StdEncoding.EncodeToString(v.AsByteSlice()))
	default: // arrays and maps: JSON text in a string
		s, ok := g.Value.(string)
		if g.Type != "string" || !ok {
			return fmt.Errorf("got %s %#v, want a string of JSON", g.Type, g.Value)
		}
		wantJSON, err := json.Marshal(attrAny(v))
		if err != nil {
			return err
		}
		if !jsonEqual(s, string(wantJSON)) {
			return fmt.Errorf("got %s, want %s", s, wantJSON)
		}
		return nil
	}
	gotValue, err := json.Marshal(g.Value)
	if err != nil {
		return err
	}
	if g.Type != wantType || string(gotValue) != wantValue {
		return fmt.Errorf("got %s %s, want %s %s", g.Type, gotValue, wantType, wantValue)
	}
	return nil
}

// attrAny is v as a Go value whose JSON is v's JSON form.
func attrAny(v attribute.Value) any {
	switch v.Type() {
	case attribute.SLICE:
		var out []any
		for _, e := range v.AsSlice() {
			out = append(out, attrAny(e))
		}
		return out
	case attribute.MAP:
		out := map[string]any{}
		for _, kv := range v.AsMap() {
			out[string(kv.Key)] = attrAny(kv.Value)
		}
		return out
	case attribute.BYTESLICE:
		return v.AsByteSlice() // base64 in JSON
	}
	return v.AsInterface()
}

func jsonEqual(a, b string) bool {
	var x, y any
	da, db := json.NewDecoder(strings.NewReader(a)), json.NewDecoder(strings.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

var (
	hexTraceID = regexp.MustCompile(`^[0-9a-f]{32}$`)
	hexSpanID  = regexp.MustCompile(`^[0-9a-f]{16}$`)
)

// checkV3Trace checks GET /api/v3/traces/{id} against what the SDK sent:
// OTLP JSON with hex IDs and every field.
func checkV3Trace(t *testing.T, s *Scry, sent []sdktrace.ReadOnlySpan) {
	t.Helper()
	traceID := sent[0].SpanContext().TraceID().String()
	var body struct {
		Result json.RawMessage `json:"result"`
	}
	s.getJSON(t, "/api/v3/traces/"+traceID, http.StatusOK, &body)
	td := decodeOTLPJSON(t, body.Result)

	type located struct {
		span  *tracepb.Span
		res   []*commonpb.KeyValue
		scope *commonpb.InstrumentationScope
	}
	got := map[string]located{}
	for _, rs := range td.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				got[hex.EncodeToString(sp.GetSpanId())] = located{sp, rs.GetResource().GetAttributes(), ss.GetScope()}
			}
		}
	}
	if len(got) != len(sent) {
		t.Fatalf("/api/v3 has %d spans, want %d", len(got), len(sent))
	}
	for _, want := range sent {
		name := want.Name()
		g, ok := got[want.SpanContext().SpanID().String()]
		if !ok {
			t.Errorf("/api/v3: span %s missing", name)
			continue
		}
		sp := g.span
		var wantParent []byte
		if p := want.Parent(); p.IsValid() {
			id := p.SpanID()
			wantParent = id[:]
		}
		tid := want.SpanContext().TraceID()
		if !bytes.Equal(sp.GetTraceId(), tid[:]) || !bytes.Equal(sp.GetParentSpanId(), wantParent) ||
			sp.GetName() != name || int(sp.GetKind()) != int(want.SpanKind()) ||
			sp.GetStartTimeUnixNano() != uint64(want.StartTime().UnixNano()) ||
			sp.GetEndTimeUnixNano() != uint64(want.EndTime().UnixNano()) {
			t.Errorf("/api/v3 %s: got trace %x parent %x name %q kind %v times %d..%d", name,
				sp.GetTraceId(), sp.GetParentSpanId(), sp.GetName(), sp.GetKind(), sp.GetStartTimeUnixNano(), sp.GetEndTimeUnixNano())
		}
		if want, got := uint32(want.SpanContext().TraceFlags())|0x100, sp.GetFlags(); got != want {
			t.Errorf("/api/v3 %s: flags %#x, want %#x", name, got, want)
		}
		checkKVs(t, name+" attributes", sp.GetAttributes(), want.Attributes())

		wantStatus := &tracepb.Status{}
		switch want.Status().Code {
		case otelcodes.Ok:
			wantStatus.Code = tracepb.Status_STATUS_CODE_OK
		case otelcodes.Error:
			wantStatus.Code, wantStatus.Message = tracepb.Status_STATUS_CODE_ERROR, want.Status().Description
		}
		if !proto.Equal(sp.GetStatus(), wantStatus) && !(want.Status().Code == otelcodes.Unset && sp.GetStatus() == nil) {
			t.Errorf("/api/v3 %s: status %v, want %v", name, sp.GetStatus(), wantStatus)
		}

		if len(sp.GetEvents()) != len(want.Events()) {
			t.Errorf("/api/v3 %s: %d events, want %d", name, len(sp.GetEvents()), len(want.Events()))
		} else {
			for i, ev := range want.Events() {
				ge := sp.GetEvents()[i]
				if ge.GetName() != ev.Name || ge.GetTimeUnixNano() != uint64(ev.Time.UnixNano()) {
					t.Errorf("/api/v3 %s event %d: %q at %d, want %q at %d", name, i, ge.GetName(), ge.GetTimeUnixNano(), ev.Name, ev.Time.UnixNano())
				}
				checkKVs(t, fmt.Sprintf("%s event %d attributes", name, i), ge.GetAttributes(), ev.Attributes)
			}
		}

		if len(sp.GetLinks()) != len(want.Links()) {
			t.Errorf("/api/v3 %s: %d links, want %d", name, len(sp.GetLinks()), len(want.Links()))
		} else {
			for i, l := range want.Links() {
				gl := sp.GetLinks()[i]
				ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
				// The SDK's exporter does not send a link's trace state
				// (TestOTLPRoundTrip covers it), so it is not compared.
				if !bytes.Equal(gl.GetTraceId(), ltid[:]) || !bytes.Equal(gl.GetSpanId(), lsid[:]) {
					t.Errorf("/api/v3 %s link %d: %x/%x, want %s/%s", name, i, gl.GetTraceId(), gl.GetSpanId(), ltid, lsid)
				}
				if want := uint32(l.SpanContext.TraceFlags()) | 0x300; gl.GetFlags() != want {
					t.Errorf("/api/v3 %s link %d: flags %#x, want %#x", name, i, gl.GetFlags(), want)
				}
				checkKVs(t, fmt.Sprintf("%s link %d attributes", name, i), gl.GetAttributes(), l.Attributes)
			}
		}

		checkKVs(t, name+" resource", g.res, want.Resource().Attributes())
		scope := want.InstrumentationScope()
		if g.scope.GetName() != scope.Name || g.scope.GetVersion() != scope.Version {
			t.Errorf("/api/v3 %s: scope %q %q, want %q %q", name, g.scope.GetName(), g.scope.GetVersion(), scope.Name, scope.Version)
		}
		checkKVs(t, name+" scope attributes", g.scope.GetAttributes(), scope.Attributes.ToSlice())
	}
}

// decodeOTLPJSON checks that the trace and span IDs of OTLP JSON are hex of
// the right length and decodes it.
func decodeOTLPJSON(t *testing.T, raw []byte) *tracepb.TracesData {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		t.Fatalf("cannot decode OTLP JSON: %v", err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				re := map[string]*regexp.Regexp{"traceId": hexTraceID, "spanId": hexSpanID, "parentSpanId": hexSpanID}[k]
				if re == nil {
					walk(e)
					continue
				}
				s, _ := e.(string)
				if !re.MatchString(s) {
					t.Errorf("OTLP JSON %s is %#v, want lower-case hex", k, e)
					continue
				}
				b, _ := hex.DecodeString(s)
				v[k] = base64.StdEncoding.EncodeToString(b) // as protojson reads bytes
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(tree)
	b, err := json.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	var td tracepb.TracesData
	if err := protojson.Unmarshal(b, &td); err != nil {
		t.Fatalf("/api/v3 answer is not OTLP JSON: %v\n%s", err, raw)
	}
	return &td
}

// checkKVs compares OTLP attributes with the SDK attributes they came from,
// in any order.
func checkKVs(t *testing.T, what string, got []*commonpb.KeyValue, want []attribute.KeyValue) {
	t.Helper()
	g := map[string]*commonpb.AnyValue{}
	for _, kv := range got {
		g[kv.GetKey()] = kv.GetValue()
	}
	if len(g) != len(got) || len(got) != len(want) {
		t.Errorf("%s: %d attributes (%d keys), want %d: %v", what, len(got), len(g), len(want), got)
	}
	for _, w := range want {
		wv := otlpValue(w.Value)
		if gv, ok := g[string(w.Key)]; !ok || !proto.Equal(gv, wv) {
			t.Errorf("%s: %s = %v, want %v", what, w.Key, gv, wv)
		}
	}
}

// otlpValue is an SDK attribute value as OTLP carries it.
func otlpValue(v attribute.Value) *commonpb.AnyValue {
	arr := func(n int, f func(i int) *commonpb.AnyValue) *commonpb.AnyValue {
		vs := make([]*commonpb.AnyValue, n)
		for i := range vs {
			vs[i] = f(i)
		}
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: vs}}}
	}
	str := func(s string) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
	}
	boolean := func(b bool) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: b}}
	}
	integer := func(n int64) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: n}}
	}
	double := func(f float64) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
	}
	switch v.Type() {
	case attribute.STRING:
		return str(v.AsString())
	case attribute.BOOL:
		return boolean(v.AsBool())
	case attribute.INT64:
		return integer(v.AsInt64())
	case attribute.FLOAT64:
		return double(v.AsFloat64())
	case attribute.BYTESLICE:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: v.AsByteSlice()}}
	case attribute.STRINGSLICE:
		s := v.AsStringSlice()
		return arr(len(s), func(i int) *commonpb.AnyValue { return str(s[i]) })
	case attribute.BOOLSLICE:
		s := v.AsBoolSlice()
		return arr(len(s), func(i int) *commonpb.AnyValue { return boolean(s[i]) })
	case attribute.INT64SLICE:
		s := v.AsInt64Slice()
		return arr(len(s), func(i int) *commonpb.AnyValue { return integer(s[i]) })
	case attribute.FLOAT64SLICE:
		s := v.AsFloat64Slice()
		return arr(len(s), func(i int) *commonpb.AnyValue { return double(s[i]) })
	case attribute.SLICE:
		s := v.AsSlice()
		return arr(len(s), func(i int) *commonpb.AnyValue { return otlpValue(s[i]) })
	case attribute.MAP:
		m := v.AsMap()
		kvs := make([]*commonpb.KeyValue, len(m))
		for i, kv := range m {
			kvs[i] = &commonpb.KeyValue{Key: string(kv.Key), Value: otlpValue(kv.Value)}
		}
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: kvs}}}
	}
	return &commonpb.AnyValue{}
}
