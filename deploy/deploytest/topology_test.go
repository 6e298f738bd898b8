package deploytest

// The production topology as processes: the collectors, scry-query and the
// agent run with the arguments of the production and sidecar overlays, and
// an app using the OpenTelemetry Go SDK (this test) sends traces.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"

	"github.com/scrytrace/scry/internal/testkit"
)

// Pod addresses: the two collectors on 127.0.0.1 and 127.0.0.2, so that
// both listen on the same ports, as two pods do.
var (
	collectorIPs = []string{"127.0.0.1", "127.0.0.2"}
	queryIP      = "127.0.0.3"
	appIP        = "127.0.0.4"
)

const traceTimeout = 45 * time.Second // from the app's flush to whole traces in scry-query

// startBackend starts the production overlay's collectors (two) and one
// scry-query. It returns the address of scry-query's HTTP listener.
func startBackend(cl *cluster) (string, error) {
	for _, p := range cl.podsOf("scry-collector") {
		if _, err := cl.start(p, "scry-collector"); err != nil {
			return "", err
		}
	}
	q := cl.podsOf("scry-query")[0]
	if _, err := cl.start(q, "scry-query"); err != nil {
		return "", err
	}
	h, err := cl.hostPort(scryContainer(q.W, "scry-query"), "http", corev1.ProtocolTCP)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s:%d", q.IP, h), nil
}

// TestTopologySidecar runs app -> scry-agent (the sidecar overlay's
// container) -> two scry-collectors behind the headless Service -> one
// scry-query over both stores, and checks that every trace comes back
// whole, that both collectors took part, and that the agent serves the
// sampling strategies of the ConfigMap that the collectors mount.
func TestTopologySidecar(t *testing.T) {
	binary(t, "scry-agent") // skips while ./cmd/scry-agent does not exist
	objs := append(renderOverlay(t, "production"), renderOverlay(t, "sidecar")...)
	var queryAddr string
	cl := runTopology(t, objs, map[string][]string{
		"scry-collector": collectorIPs,
		"scry-query":     {queryIP},
		"example-app":    {appIP},
	}, func(cl *cluster) (err error) {
		if queryAddr, err = startBackend(cl); err != nil {
			return err
		}
		// Smaller batches than the default 500 (a test-only setting), so
		// that a few hundred spans make several batches for the agent's
		// round robin over the collectors.
		_, err = cl.start(cl.podsOf("example-app")[0], "scry-agent", "--batch-spans=25")
		return err
	})

	// The app: its container's environment says where to send.
	appPod := cl.podsOf("example-app")[0]
	app := appContainer(appPod)
	if app == nil {
		t.Fatal("no app container in the sidecar overlay")
	}
	endpoint, _ := envValue(app, "OTEL_EXPORTER_OTLP_ENDPOINT")
	protocol, _ := envValue(app, "OTEL_EXPORTER_OTLP_PROTOCOL")
	url, err := cl.endpointFor(appPod, endpoint.Value)
	if err != nil {
		t.Fatal(err)
	}
	exp := newExporter(t, protocol.Value, url)
	tp := newProvider(exp, "example-app")
	defer exp.check(t)
	tracer := tp.Tracer("deploytest")
	want := map[string][]string{}
	ctx := context.Background()
	for i := range 40 {
		rctx, root := tracer.Start(ctx, "GET /dispatch", trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attribute.Int("request", i)))
		spans := []string{root.SpanContext().SpanID().String()}
		for j := range 4 {
			_, child := tracer.Start(rctx, fmt.Sprintf("step %d", j), trace.WithSpanKind(trace.SpanKindClient))
			spans = append(spans, child.SpanContext().SpanID().String())
			child.End()
		}
		root.End()
		want[root.SpanContext().TraceID().String()] = spans
	}
	flush(t, tp)

	waitWhole(t, queryAddr, want, map[string]bool{"example-app": true})

	// Both collectors took spans (the agent spreads batches over every
	// address of the headless Service).
	var accepted []float64
	for _, p := range cl.podsOf("scry-collector") {
		accepted = append(accepted, adminMetric(t, cl, p, "scry-collector", "scry_receiver_spans_accepted_total"))
	}
	t.Logf("spans accepted by the collectors: %v", accepted)
	if slices.Contains(accepted, 0) {
		t.Errorf("spans accepted per collector %v: the agent did not reach both collectors behind the name", accepted)
	}
	if got, sent := accepted[0]+accepted[1], float64(len(want)*5); got < sent {
		t.Errorf("collectors accepted %v spans, the app sent %v", got, sent)
	}

	checkSampling(t, cl, appPod)
}

// TestTopologyDirect runs the production overlay without an agent: two apps
// send straight to the scry-collector Service, whose virtual IP puts their
// connections on different collectors (one over OTLP/gRPC, one over
// OTLP/HTTP), each trace spans both apps, so each trace is split across
// both stores, and scry-query must merge it whole.
func TestTopologyDirect(t *testing.T) {
	objs := renderOverlay(t, "production")
	var queryAddr string
	cl := runTopology(t, objs, map[string][]string{
		"scry-collector": collectorIPs,
		"scry-query":     {queryIP},
	}, func(cl *cluster) (err error) {
		queryAddr, err = startBackend(cl)
		return err
	})

	// The intake Service's OTLP ports, as they land on each collector.
	col := cl.podsOf("scry-collector")
	intake := "scry-collector." + col[0].W.Namespace + ".svc.cluster.local"
	if _, err := cl.serviceAddrs(intake+":4317", col[0].W.Namespace); err != nil {
		t.Fatalf("the intake Service: %v", err)
	}
	c := scryContainer(col[0].W, "scry-collector")
	grpcPort, err := cl.hostPort(c, "otlp-grpc", corev1.ProtocolTCP)
	if err != nil {
		t.Fatal(err)
	}
	httpPort, err := cl.hostPort(c, "otlp-http", corev1.ProtocolTCP)
	if err != nil {
		t.Fatal(err)
	}
	frontExp := newExporter(t, "grpc", fmt.Sprintf("http://%s:%d", col[0].IP, grpcPort))
	backExp := newExporter(t, "http/protobuf", fmt.Sprintf("http://%s:%d", col[1].IP, httpPort))
	defer frontExp.check(t)
	defer backExp.check(t)
	front := newProvider(frontExp, "frontend")
	back := newProvider(backExp, "checkout")

	want := map[string][]string{}
	ctx := context.Background()
	for i := range 30 {
		rctx, root := front.Tracer("frontend").Start(ctx, "POST /checkout", trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attribute.Int("order", i)))
		_, call := front.Tracer("frontend").Start(rctx, "checkout.Place", trace.WithSpanKind(trace.SpanKindClient))
		// The call crosses to the other service: its span context is
		// what an HTTP header would carry.
		remote := trace.ContextWithRemoteSpanContext(ctx, call.SpanContext())
		sctx, server := back.Tracer("checkout").Start(remote, "Place", trace.WithSpanKind(trace.SpanKindServer))
		_, db := back.Tracer("checkout").Start(sctx, "INSERT orders", trace.WithSpanKind(trace.SpanKindClient))
		db.End()
		server.End()
		call.End()
		root.End()
		want[root.SpanContext().TraceID().String()] = []string{
			root.SpanContext().SpanID().String(), call.SpanContext().SpanID().String(),
			server.SpanContext().SpanID().String(), db.SpanContext().SpanID().String(),
		}
	}
	flush(t, front)
	flush(t, back)

	waitWhole(t, queryAddr, want, map[string]bool{"frontend": true, "checkout": true})
	for _, p := range col {
		if n := adminMetric(t, cl, p, "scry-collector", "scry_receiver_spans_accepted_total"); n < float64(len(want)*2) {
			t.Errorf("%s accepted %v spans, want %d (half of every trace)", p, n, len(want)*2)
		}
	}
}

// TestTopologyAllInOne runs the all-in-one overlay's scry with its own
// arguments; an app sends OTLP to the scry Service and reads the traces
// back through the same Service, and Jaeger clients get the ConfigMap's
// sampling strategies there.
func TestTopologyAllInOne(t *testing.T) {
	objs := renderOverlay(t, "all-in-one")
	cl := runTopology(t, objs, map[string][]string{"scry": {"127.0.0.5"}}, func(cl *cluster) error {
		_, err := cl.start(cl.podsOf("scry")[0], "scry")
		return err
	})
	p := cl.podsOf("scry")[0]
	svc := "scry." + p.W.Namespace + ".svc.cluster.local"
	otlp, err := cl.endpointFor(p, "http://"+svc+":4317")
	if err != nil {
		t.Fatal(err)
	}
	ui, err := cl.endpointFor(p, "http://"+svc+":16686")
	if err != nil {
		t.Fatal(err)
	}
	exp := newExporter(t, "grpc", otlp)
	defer exp.check(t)
	tp := newProvider(exp, "checkout")
	want := map[string][]string{}
	for range 10 {
		ctx, root := tp.Tracer("deploytest").Start(context.Background(), "GET /cart", trace.WithSpanKind(trace.SpanKindServer))
		_, child := tp.Tracer("deploytest").Start(ctx, "SELECT cart")
		child.End()
		root.End()
		want[root.SpanContext().TraceID().String()] = []string{root.SpanContext().SpanID().String(), child.SpanContext().SpanID().String()}
	}
	flush(t, tp)
	waitWhole(t, strings.TrimPrefix(ui, "http://"), want, map[string]bool{"checkout": true})

	if _, ok := flagsOf(t, "scry")["sampling-strategies-file"]; !ok {
		t.Log("scry has no --sampling-strategies-file yet: not checking the strategies served")
		return
	}
	sampling, err := cl.endpointFor(p, "http://"+svc+":14268/api/sampling")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(sampling + "?service=checkout")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1}`) {
		t.Errorf("GET /api/sampling?service=checkout: %d %s; want checkout's probabilistic 1 from the ConfigMap", resp.StatusCode, body)
	}
}

// newExporter makes the SDK's OTLP exporter for protocol (the values of
// OTEL_EXPORTER_OTLP_PROTOCOL) and endpoint URL.
func newExporter(t *testing.T, protocol, endpoint string) *failCounter {
	t.Helper()
	var exp sdktrace.SpanExporter
	var err error
	switch protocol {
	case "grpc":
		exp, err = otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpointURL(endpoint))
	case "http/protobuf", "":
		exp, err = otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(endpoint+"/v1/traces"))
	default:
		t.Fatalf("OTEL_EXPORTER_OTLP_PROTOCOL %q", protocol)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &failCounter{SpanExporter: exp}
}

// failCounter keeps the errors of the exports its exporter failed (after
// the exporter's own retries).
type failCounter struct {
	sdktrace.SpanExporter
	mu     sync.Mutex
	failed []error
}

func (f *failCounter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := f.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		f.mu.Lock()
		f.failed = append(f.failed, err)
		f.mu.Unlock()
	}
	return err
}

// check fails the test if an export failed: the app's spans were refused.
func (f *failCounter) check(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.failed) > 0 {
		t.Errorf("%d exports failed, first: %v", len(f.failed), f.failed[0])
	}
}

func newProvider(exp sdktrace.SpanExporter, service string) *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithMaxExportBatchSize(20), sdktrace.WithBatchTimeout(50*time.Millisecond)),
		sdktrace.WithResource(sdkresource.NewSchemaless(attribute.String("service.name", service))),
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
	)
}

// flush exports what the provider holds and shuts it down; every export
// must have been acknowledged.
func flush(t *testing.T, tp *sdktrace.TracerProvider) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tp.ForceFlush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// jaegerTraces is the answer of GET /api/traces?traceID=...
type jaegerTraces struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			SpanID    string `json:"spanID"`
			ProcessID string `json:"processID"`
		} `json:"spans"`
		Processes map[string]struct {
			ServiceName string `json:"serviceName"`
		} `json:"processes"`
	} `json:"data"`
	Errors []struct {
		Msg     string `json:"msg"`
		TraceID string `json:"traceID"`
	} `json:"errors"`
}

// waitWhole polls scry-query until every trace of want (trace ID to span
// IDs) comes back with exactly those spans, from the given services.
func waitWhole(t *testing.T, queryAddr string, want map[string][]string, services map[string]bool) {
	t.Helper()
	waitWholeWith(t, &http.Client{Timeout: 10 * time.Second}, "http://"+queryAddr, want, services)
}

// waitWholeWith is waitWhole with the client c (its TLS, its credential)
// and scry-query at base (scheme://host:port).
func waitWholeWith(t *testing.T, c *http.Client, base string, want map[string][]string, services map[string]bool) {
	t.Helper()
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var problems []string
	whole := testkit.Poll(traceTimeout, func() bool {
		problems = problems[:0]
		resp, err := c.Get(base + "/api/traces?" + url.Values{"traceID": ids}.Encode())
		if err != nil {
			t.Fatalf("scry-query: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("scry-query: status %d: %s", resp.StatusCode, body)
		}
		var got jaegerTraces
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("scry-query: %v: %s", err, body)
		}
		seen := map[string]bool{}
		for _, tr := range got.Data {
			seen[tr.TraceID] = true
			var spans []string
			for _, s := range tr.Spans {
				spans = append(spans, s.SpanID)
				if svc := tr.Processes[s.ProcessID].ServiceName; !services[svc] {
					problems = append(problems, fmt.Sprintf("trace %s span %s: service %q", tr.TraceID, s.SpanID, svc))
				}
			}
			slices.Sort(spans)
			exp := slices.Sorted(slices.Values(want[tr.TraceID]))
			if !slices.Equal(spans, exp) {
				problems = append(problems, fmt.Sprintf("trace %s: spans %v, want %v", tr.TraceID, spans, exp))
			}
		}
		for _, id := range ids {
			if !seen[id] {
				problems = append(problems, "trace "+id+" missing")
			}
		}
		return len(problems) == 0
	})
	if whole {
		return
	}
	if len(problems) > 10 {
		problems = append(problems[:10], fmt.Sprintf("... %d more", len(problems)-10))
	}
	t.Errorf("traces not whole in scry-query after %s:\n%s", traceTimeout, strings.Join(problems, "\n"))
}

// adminMetric sums the series of a counter on the admin port of pod p's
// container running bin.
func adminMetric(t *testing.T, cl *cluster, p *pod, bin, name string) float64 {
	t.Helper()
	h, err := cl.hostPort(scryContainer(p.W, bin), "admin", corev1.ProtocolTCP)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(fmt.Sprintf("http://%s:%d/metrics", p.IP, h))
	if err != nil {
		t.Fatalf("%s /metrics: %v", p, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		series, value, ok := strings.Cut(line, " ")
		if !ok || (series != name && !strings.HasPrefix(series, name+"{")) {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("%s /metrics: %q: %v", p, line, err)
		}
		sum += v
	}
	return sum
}

// checkSampling: the agent's sampling endpoint (where the app's
// JAEGER_SAMPLING_ENDPOINT points) answers with the strategies of the
// ConfigMap the collectors mount.
func checkSampling(t *testing.T, cl *cluster, appPod *pod) {
	t.Helper()
	flags := flagsOf(t, "scry-collector")
	if _, ok := flags["sampling-strategies-file"]; !ok {
		t.Log("scry-collector has no --sampling-strategies-file yet: not checking the strategies served")
		return
	}
	var cm *corev1.ConfigMap
	for _, o := range cl.objs {
		if x, ok := o.Obj.(*corev1.ConfigMap); ok && strings.HasPrefix(o.Name, "scry-sampling") {
			cm = x
		}
	}
	if cm == nil {
		t.Fatal("no sampling ConfigMap")
	}
	var file struct {
		Default struct {
			Type  string  `json:"type"`
			Param float64 `json:"param"`
		} `json:"default_strategy"`
		Services []struct {
			Service string  `json:"service"`
			Type    string  `json:"type"`
			Param   float64 `json:"param"`
		} `json:"service_strategies"`
	}
	if err := json.Unmarshal([]byte(cm.Data["strategies.json"]), &file); err != nil {
		t.Fatal(err)
	}
	type expectation struct {
		service string
		typ     string
		param   float64
	}
	exps := []expectation{{"no-such-service", file.Default.Type, file.Default.Param}}
	for _, s := range file.Services {
		exps = append(exps, expectation{s.Service, s.Type, s.Param})
	}
	env, _ := envValue(appContainer(appPod), "JAEGER_SAMPLING_ENDPOINT")
	base, err := cl.endpointFor(appPod, env.Value)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	for _, e := range exps {
		var got struct {
			StrategyType          string `json:"strategyType"`
			ProbabilisticSampling *struct {
				SamplingRate float64 `json:"samplingRate"`
			} `json:"probabilisticSampling"`
			RateLimitingSampling *struct {
				MaxTracesPerSecond float64 `json:"maxTracesPerSecond"`
			} `json:"rateLimitingSampling"`
		}
		resp, err := c.Get(base + "?service=" + url.QueryEscape(e.service))
		if err != nil {
			t.Fatalf("sampling for %s: %v", e.service, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &got) != nil {
			t.Errorf("sampling for %s: %d %s", e.service, resp.StatusCode, body)
			continue
		}
		switch e.typ {
		case "probabilistic":
			if got.StrategyType != "PROBABILISTIC" || got.ProbabilisticSampling == nil || got.ProbabilisticSampling.SamplingRate != e.param {
				t.Errorf("sampling for %s: %s, want probabilistic %v", e.service, body, e.param)
			}
		case "ratelimiting":
			if got.StrategyType != "RATE_LIMITING" || got.RateLimitingSampling == nil || got.RateLimitingSampling.MaxTracesPerSecond != e.param {
				t.Errorf("sampling for %s: %s, want rate limiting %v", e.service, body, e.param)
			}
		}
	}
}

// appContainer returns the app container of a pod (the one that is not a
// Scry binary), or nil.
func appContainer(p *pod) *corev1.Container {
	for i, c := range p.W.Template.Spec.Containers {
		if scryBinary(&c) == "" {
			return &p.W.Template.Spec.Containers[i]
		}
	}
	return nil
}
