package e2e

// The harness: building binaries, starting and stopping them, and the
// clients the tests talk to them with.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/scrytrace/scry/internal/testbin"
)

// Time limits of the harness. They are generous: the machine running the
// tests may be busy with other builds.
const (
	readyTimeout = 30 * time.Second // from exec to /readyz answering 200
	httpTimeout  = 15 * time.Second // one HTTP request
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// buildBinary builds the main package pkg (a path relative to the module
// root, such as "./cmd/scry") once per test run and returns the binary's
// path.
func buildBinary(t testing.TB, pkg string) string {
	t.Helper()
	return testbin.Build(t, pkg)
}

// Address flags of scry that the harness fills with free ports.
const (
	flagOTLPGRPC   = "otlp-grpc-addr"
	flagOTLPHTTP   = "otlp-http-addr"
	flagHTTP       = "http-addr"
	flagAdmin      = "admin-addr"
	flagJaegerHTTP = "jaeger-http-addr"
	flagZipkin     = "zipkin-addr"
	flagUDPCompact = "udp-compact-addr"
	flagUDPBinary  = "udp-binary-addr"
	flagDataDir    = "data-dir"
	flagTempo      = "tempo-http-addr"
)

// addrFlags are filled with free TCP ports, udpAddrFlags with free UDP
// ports, so that no two processes of a run share a default port.
var (
	addrFlags    = []string{flagOTLPGRPC, flagOTLPHTTP, flagHTTP, flagAdmin, flagJaegerHTTP, flagZipkin}
	udpAddrFlags = []string{flagUDPCompact, flagUDPBinary}
)

// scryOptions say how to start scry beyond the harness's defaults.
type scryOptions struct {
	// Flags are passed after the harness's own. An address flag or
	// --data-dir given here replaces the harness's choice.
	Flags []string
	// Env is added to the environment (KEY=VALUE). SCRY_* variables of the
	// test's own environment are never passed on.
	Env []string
	// External gives the address of a listener configured some other way
	// (environment or config file): the harness passes no flag for it and
	// uses this address. Keys are flag names.
	External map[string]string
	// TLS, when set, is the client TLS the harness speaks to the query
	// API and the admin port (readiness, /metrics), which then serve TLS.
	TLS *tls.Config
	// Authorization, when set, is sent by the harness to the query API
	// and the admin port (an --auth-file credential with scopes read and
	// admin), unless a request has its own.
	Authorization string
	// Tempo turns on the Tempo API listener (--tempo-http-addr) on a free
	// port.
	Tempo bool
}

// Scry is one running scry process.
type Scry struct {
	*testbin.Proc
	DataDir string
	// Listen addresses (host:port), "" for a listener turned off; the admin
	// address is Proc.Admin.
	OTLPGRPC, OTLPHTTP, Query string
	JaegerHTTP, Zipkin        string
	Tempo                     string // --tempo-http-addr, "" when off
	UDPCompact, UDPBinary     string

	http   *http.Client
	scheme string // of the query API and the admin port: "https://", or "http://" (also when empty)
}

// startScry starts the scry binary with free loopback ports, its own data
// folder (a fresh t.TempDir() unless extraFlags has --data-dir) and
// extraFlags, waits until its admin /readyz answers 200, and stops it with
// SIGTERM when the test ends.
func startScry(t testing.TB, extraFlags ...string) *Scry {
	t.Helper()
	return startScryWith(t, scryOptions{Flags: extraFlags})
}

// startScryWith is startScry with environment and externally configured
// addresses.
func startScryWith(t testing.TB, opts scryOptions) *Scry {
	t.Helper()
	bin := buildBinary(t, "./cmd/scry")
	given := givenFlags(opts.Flags)
	dataDir, ok := given[flagDataDir]
	var args []string
	if !ok {
		dataDir = t.TempDir() // before testbin.Start's Cleanup, so removed after the process stops
		args = append(args, "--"+flagDataDir+"="+dataDir)
	}
	var need, needUDP []string // address flags the harness fills
	for _, f := range addrFlags {
		if _, ok := given[f]; !ok && opts.External[f] == "" {
			need = append(need, f)
		}
	}
	for _, f := range udpAddrFlags {
		if _, ok := given[f]; !ok && opts.External[f] == "" {
			needUDP = append(needUDP, f)
		}
	}
	if opts.Tempo {
		need = append(need, flagTempo)
	}
	return testbin.WithFreePorts(t, len(need), func(ports []string) (*Scry, error) {
		addrs := maps.Clone(opts.External)
		if addrs == nil {
			addrs = map[string]string{}
		}
		args := slices.Clone(args)
		for i, f := range need {
			addrs[f] = ports[i]
			args = append(args, "--"+f+"="+ports[i])
		}
		for i, a := range testbin.FreeUDPAddrs(t, len(needUDP)) {
			addrs[needUDP[i]] = a
			args = append(args, "--"+needUDP[i]+"="+a)
		}
		for _, f := range slices.Concat(addrFlags, udpAddrFlags) {
			if a, ok := given[f]; ok {
				addrs[f] = a
			}
		}
		args = append(args, opts.Flags...)
		p, err := testbin.Cmd{Bin: bin, Args: args, Env: opts.Env, Admin: addrs[flagAdmin], ReadyTLS: opts.TLS}.Run(t)
		if err != nil {
			return nil, err
		}
		client, scheme := &http.Client{Timeout: httpTimeout}, "http://"
		if opts.TLS != nil {
			client.Transport, scheme = &http.Transport{TLSClientConfig: opts.TLS}, "https://"
		}
		if opts.Authorization != "" {
			client.Transport = withAuthorization{base: client.Transport, value: opts.Authorization}
		}
		return &Scry{
			Proc: p, DataDir: dataDir,
			OTLPGRPC: addrs[flagOTLPGRPC], OTLPHTTP: addrs[flagOTLPHTTP], Query: addrs[flagHTTP],
			JaegerHTTP: addrs[flagJaegerHTTP], Zipkin: addrs[flagZipkin], Tempo: addrs[flagTempo],
			UDPCompact: addrs[flagUDPCompact], UDPBinary: addrs[flagUDPBinary],
			http: client, scheme: scheme,
		}, nil
	})
}

// withAuthorization sends an Authorization header with every request that
// has none.
type withAuthorization struct {
	base  http.RoundTripper // nil: http.DefaultTransport
	value string
}

func (w withAuthorization) RoundTrip(r *http.Request) (*http.Response, error) {
	base := w.base
	if base == nil {
		base = http.DefaultTransport
	}
	if r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", w.value)
	}
	return base.RoundTrip(r)
}

// givenFlags returns the values of the address flags and --data-dir in
// flags (as --name=value or --name value).
func givenFlags(flags []string) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(flags); i++ {
		name, value, hasValue := strings.Cut(strings.TrimLeft(flags[i], "-"), "=")
		if !strings.HasPrefix(flags[i], "-") || (!slices.Contains(addrFlags, name) && !slices.Contains(udpAddrFlags, name) && name != flagDataDir) {
			continue
		}
		if !hasValue && i+1 < len(flags) {
			i++
			value = flags[i]
		}
		out[name] = value
	}
	return out
}

// cleanEnv is the test's environment without SCRY_ variables.
func cleanEnv() []string { return testbin.CleanEnv() }

// freeAddrs returns n distinct loopback addresses that were free a moment
// ago.
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	return testbin.FreeAddrs(t, n)
}

// ---- query API clients ----

// base returns the URL of hostPort, one of s's HTTP listeners.
func (s *Scry) base(hostPort string) string {
	if s.scheme == "" {
		return "http://" + hostPort
	}
	return s.scheme + hostPort
}

// get sends GET path (with query) to the query API and returns the status
// and body.
func (s *Scry) get(t testing.TB, pathAndQuery string) (int, []byte, http.Header) {
	t.Helper()
	resp, err := s.http.Get(s.base(s.Query) + pathAndQuery)
	if err != nil {
		t.Fatalf("GET %s: %v", pathAndQuery, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", pathAndQuery, err)
	}
	return resp.StatusCode, body, resp.Header
}

// getJSON GETs pathAndQuery, requires status want, and decodes the body
// into out (numbers as json.Number).
func (s *Scry) getJSON(t testing.TB, pathAndQuery string, want int, out any) {
	t.Helper()
	code, body, hdr := s.get(t, pathAndQuery)
	if code != want {
		t.Fatalf("GET %s: status %d, want %d: %s", pathAndQuery, code, want, body)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET %s: Content-Type %q, want application/json", pathAndQuery, ct)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		t.Fatalf("GET %s: cannot decode %s: %v", pathAndQuery, body, err)
	}
}

// jaegerEnvelope is the envelope of every Jaeger /api answer.
type jaegerEnvelope[T any] struct {
	Data   T   `json:"data"`
	Total  int `json:"total"`
	Errors []struct {
		Code    int    `json:"code"`
		Msg     string `json:"msg"`
		TraceID string `json:"traceID"`
	} `json:"errors"`
}

// Jaeger UI JSON, as the test reads it.
type jTrace struct {
	TraceID   string              `json:"traceID"`
	Spans     []jSpan             `json:"spans"`
	Processes map[string]jProcess `json:"processes"`
}

type jSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Flags     uint32   `json:"flags"`
	StartTime uint64   `json:"startTime"`
	Duration  uint64   `json:"duration"`
	Tags      []jKV    `json:"tags"`
	Logs      []jLog   `json:"logs"`
	ProcessID string   `json:"processID"`
	Warnings  []string `json:"warnings"`
}

type jProcess struct {
	ServiceName string `json:"serviceName"`
	Tags        []jKV  `json:"tags"`
}

type jLog struct {
	Timestamp uint64 `json:"timestamp"`
	Fields    []jKV  `json:"fields"`
}

type jKV struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// jaeger GETs a Jaeger /api path that must answer 200 with no errors and
// returns its data.
func jaeger[T any](t testing.TB, s *Scry, pathAndQuery string) jaegerEnvelope[T] {
	t.Helper()
	var env jaegerEnvelope[T]
	s.getJSON(t, pathAndQuery, http.StatusOK, &env)
	if len(env.Errors) > 0 {
		t.Fatalf("GET %s: errors %+v", pathAndQuery, env.Errors)
	}
	return env
}

// trace fetches one trace with GET /api/traces/{id}.
func (s *Scry) trace(t testing.TB, id string) jTrace {
	t.Helper()
	env := jaeger[[]jTrace](t, s, "/api/traces/"+id)
	if len(env.Data) != 1 {
		t.Fatalf("GET /api/traces/%s: %d traces, want 1", id, len(env.Data))
	}
	return env.Data[0]
}

// checkStored fails the test unless every trace in want (trace ID in hex to
// the hex IDs of its spans) is stored with exactly those spans. It fetches
// them in batches with GET /api/traces?traceID=...
func (s *Scry) checkStored(t testing.TB, want map[string][]string) {
	t.Helper()
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	missing := 0
	for len(ids) > 0 {
		n := min(len(ids), 100)
		batch := ids[:n]
		ids = ids[n:]
		v := url.Values{"traceID": batch}
		var env jaegerEnvelope[[]jTrace]
		s.getJSON(t, "/api/traces?"+v.Encode(), http.StatusOK, &env)
		for _, e := range env.Errors {
			if missing++; missing <= 10 {
				t.Errorf("acknowledged trace %s: %d %s", e.TraceID, e.Code, e.Msg)
			}
		}
		for _, tr := range env.Data {
			var got []string
			for _, sp := range tr.Spans {
				got = append(got, sp.SpanID)
				if tr.Processes[sp.ProcessID].ServiceName == "" {
					t.Errorf("trace %s span %s: process %q has no service name", tr.TraceID, sp.SpanID, sp.ProcessID)
				}
			}
			slices.Sort(got)
			exp := slices.Sorted(slices.Values(want[tr.TraceID]))
			if !slices.Equal(got, exp) {
				if missing++; missing <= 10 {
					t.Errorf("acknowledged trace %s: spans %v, want %v", tr.TraceID, got, exp)
				}
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged traces missing or incomplete", missing, len(want))
	}
}

// metric returns the value of the series name{labels} on the admin
// port's /metrics, or 0 if it is absent (counters are created on first
// use).
func (s *Scry) metric(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	for _, sv := range s.series(t, name) {
		if maps.Equal(sv.labels, labels) {
			return sv.value
		}
	}
	return 0
}

// metricSum returns the sum of every series of name on the admin port's
// /metrics (0 if there is none).
func (s *Scry) metricSum(t testing.TB, name string) float64 {
	t.Helper()
	var sum float64
	for _, sv := range s.series(t, name) {
		sum += sv.value
	}
	return sum
}

type seriesValue struct {
	labels map[string]string
	value  float64
}

// series returns every series of name on the admin port's /metrics.
func (s *Scry) series(t testing.TB, name string) []seriesValue {
	t.Helper()
	resp, err := s.http.Get(s.base(s.Admin) + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	var out []seriesValue
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, rest, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		got := map[string]string{}
		for _, m := range labelRE.FindAllStringSubmatch(strings.TrimSuffix(rest, "}"), -1) {
			got[m[1]] = m[2]
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			t.Fatalf("/metrics: %q: %v", line, err)
		}
		out = append(out, seriesValue{labels: got, value: v})
	}
	return out
}

var labelRE = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// ---- OTLP clients ----

// grpcConn dials the OTLP/gRPC receiver; the connection is closed when the
// test ends.
func (s *Scry) grpcConn(t testing.TB) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(s.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// traceClient returns a raw OTLP trace service client.
func (s *Scry) traceClient(t testing.TB) coltracepb.TraceServiceClient {
	return coltracepb.NewTraceServiceClient(s.grpcConn(t))
}

// exportOK sends rss over OTLP/gRPC and fails the test unless every span
// was accepted.
func (s *Scry) exportOK(t testing.TB, c coltracepb.TraceServiceClient, rss ...*tracepb.ResourceSpans) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), httpTimeout)
	defer cancel()
	resp, err := c.Export(ctx, &coltracepb.ExportTraceServiceRequest{ResourceSpans: rss})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	if ps := resp.GetPartialSuccess(); ps.GetRejectedSpans() != 0 || ps.GetErrorMessage() != "" {
		t.Fatalf("export: partial success %v", ps)
	}
}

func newTraceID() []byte { return randBytes(16) }
func newSpanID() []byte  { return randBytes(8) }

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func hexID(b []byte) string { return hex.EncodeToString(b) }

// resourceSpans is one service's spans under one scope.
func resourceSpans(service string, resAttrs []*commonpb.KeyValue, spans ...*tracepb.Span) *tracepb.ResourceSpans {
	return &tracepb.ResourceSpans{
		Resource: &resourcepb.Resource{Attributes: append([]*commonpb.KeyValue{kvStr("service.name", service)}, resAttrs...)},
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{Name: "scry-e2e", Version: "0.1"},
			Spans: spans,
		}},
	}
}

// span returns a span of the given trace starting at start.
func span(traceID, spanID, parent []byte, name string, kind tracepb.Span_SpanKind, start time.Time, d time.Duration, attrs ...*commonpb.KeyValue) *tracepb.Span {
	return &tracepb.Span{
		TraceId: traceID, SpanId: spanID, ParentSpanId: parent, Name: name, Kind: kind,
		StartTimeUnixNano: uint64(start.UnixNano()), EndTimeUnixNano: uint64(start.Add(d).UnixNano()),
		Attributes: attrs,
	}
}

func kvStr(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func kvInt(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}

// smallBatch returns nTraces traces of spansPerTrace spans of one service,
// and the hex span IDs of each trace by hex trace ID.
func smallBatch(service string, nTraces, spansPerTrace int, pad string) (*tracepb.ResourceSpans, map[string][]string) {
	now := time.Now()
	ids := map[string][]string{}
	var spans []*tracepb.Span
	for range nTraces {
		tid := newTraceID()
		var root []byte
		for j := range spansPerTrace {
			sid := newSpanID()
			attrs := []*commonpb.KeyValue{kvInt("i", int64(j))}
			if pad != "" {
				attrs = append(attrs, kvStr("pad", pad))
			}
			spans = append(spans, span(tid, sid, root, fmt.Sprintf("op-%d", j), tracepb.Span_SPAN_KIND_INTERNAL,
				now.Add(time.Duration(j)*time.Millisecond), time.Millisecond, attrs...))
			if root == nil {
				root = sid
			}
			ids[hexID(tid)] = append(ids[hexID(tid)], hexID(sid))
		}
	}
	return resourceSpans(service, nil, spans...), ids
}
