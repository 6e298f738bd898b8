package e2e

// The harness: building binaries, starting and stopping them, and the
// clients the tests talk to them with.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Time limits of the harness. They are generous: the machine running the
// tests may be busy with other builds.
const (
	readyTimeout = 30 * time.Second // from exec to /readyz answering 200
	stopTimeout  = 30 * time.Second // from SIGTERM to exit
	httpTimeout  = 15 * time.Second // one HTTP request
	startRetries = 3                // starts retried when a picked port was taken meanwhile
)

var (
	binDir string // where buildBinary puts binaries; removed after the run

	buildMu sync.Mutex
	built   = map[string]buildResult{}
)

type buildResult struct {
	path string
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scry-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot create binary folder:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinary builds the main package pkg (a path relative to the module
// root, such as "./cmd/scry") with `go build` once per test run and returns
// the binary's path.
func buildBinary(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if r, ok := built[pkg]; ok {
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.path
	}
	st := time.Now()
	r := build(pkg)
	t.Logf("built %s in %s", pkg, time.Since(st).Round(time.Millisecond))
	built[pkg] = r
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.path
}

func build(pkg string) buildResult {
	root, err := moduleRoot()
	if err != nil {
		return buildResult{err: err}
	}
	out := filepath.Join(binDir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return buildResult{err: fmt.Errorf("cannot build %s: %v\n%s", pkg, err, b)}
	}
	return buildResult{path: out}
}

func moduleRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("cannot find the module root: %w", err)
	}
	gomod := strings.TrimSpace(string(b))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("cannot find the module root: not inside a module")
	}
	return filepath.Dir(gomod), nil
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
}

// Scry is one running scry process.
type Scry struct {
	*Proc
	DataDir string
	// Listen addresses (host:port), "" for a listener turned off; the admin
	// address is Proc.Admin.
	OTLPGRPC, OTLPHTTP, Query string
	JaegerHTTP, Zipkin        string
	UDPCompact, UDPBinary     string

	http *http.Client
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
		dataDir = t.TempDir() // before startProc's Cleanup, so removed after the process stops
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
	return withFreePorts(t, len(need), func(ports []string) (*Scry, error) {
		addrs := maps.Clone(opts.External)
		if addrs == nil {
			addrs = map[string]string{}
		}
		args := slices.Clone(args)
		for i, f := range need {
			addrs[f] = ports[i]
			args = append(args, "--"+f+"="+ports[i])
		}
		for i, a := range freeUDPAddrs(t, len(needUDP)) {
			addrs[needUDP[i]] = a
			args = append(args, "--"+needUDP[i]+"="+a)
		}
		for _, f := range slices.Concat(addrFlags, udpAddrFlags) {
			if a, ok := given[f]; ok {
				addrs[f] = a
			}
		}
		args = append(args, opts.Flags...)
		p, err := startProc(t, bin, args, opts.Env, addrs[flagAdmin])
		if err != nil {
			return nil, err
		}
		return &Scry{
			Proc: p, DataDir: dataDir,
			OTLPGRPC: addrs[flagOTLPGRPC], OTLPHTTP: addrs[flagOTLPHTTP], Query: addrs[flagHTTP],
			JaegerHTTP: addrs[flagJaegerHTTP], Zipkin: addrs[flagZipkin],
			UDPCompact: addrs[flagUDPCompact], UDPBinary: addrs[flagUDPBinary],
			http: &http.Client{Timeout: httpTimeout},
		}, nil
	})
}

// errPortTaken is startProc's error when the process could not bind a port
// picked for it (another process took it meanwhile).
var errPortTaken = errors.New("a picked port was taken before the process bound it")

// withFreePorts calls start with n loopback addresses that were free a
// moment ago, and again with new ones when start fails with errPortTaken.
func withFreePorts[T any](t testing.TB, n int, start func(addrs []string) (T, error)) T {
	t.Helper()
	for attempt := 1; ; attempt++ {
		v, err := start(freeAddrs(t, n))
		if err == nil {
			return v
		}
		if attempt < startRetries && errors.Is(err, errPortTaken) {
			t.Logf("retrying start: %v", err)
			continue
		}
		t.Fatal(err)
	}
}

// Proc is one running binary.
type Proc struct {
	t     testing.TB
	name  string
	Admin string // admin address: /readyz, /healthz, /metrics

	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{} // closed when the process has exited
	err    error         // of Wait, once exited is closed
}

// startProc starts bin with args, with env added to the test's environment
// (less its SCRY_ variables), and waits until GET /readyz on admin answers
// 200. When the test ends the process is stopped with SIGTERM if still
// running, and its output is logged if the test failed.
func startProc(t testing.TB, bin string, args, env []string, admin string) (*Proc, error) {
	t.Helper()
	p := &Proc{t: t, name: filepath.Base(bin), Admin: admin, out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	setChildAttrs(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if !p.Exited() {
			if err := p.Stop(); err != nil {
				t.Errorf("%s did not stop cleanly: %v", p.name, err)
			}
		}
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", p.name, strings.Join(args, " "), p.Output())
		}
	})
	if err := p.waitReady(); err != nil {
		if p.Exited() && strings.Contains(p.Output(), "address already in use") {
			return nil, fmt.Errorf("%w: %s", errPortTaken, lastLines(p.Output(), 3))
		}
		return nil, err
	}
	return p, nil
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
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SCRY_") {
			env = append(env, kv)
		}
	}
	return env
}

// freeAddrs returns n distinct loopback addresses that were free a moment
// ago.
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	out := make([]string, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("cannot find a free port: %v", err)
		}
		lns = append(lns, ln)
		out[i] = ln.Addr().String()
	}
	return out
}

// freeUDPAddrs returns n distinct loopback UDP addresses that were free a
// moment ago.
func freeUDPAddrs(t testing.TB, n int) []string {
	t.Helper()
	var cs []net.PacketConn
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	out := make([]string, n)
	for i := range n {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("cannot find a free udp port: %v", err)
		}
		cs = append(cs, c)
		out[i] = c.LocalAddr().String()
	}
	return out
}

// waitReady polls /readyz on the admin port until it answers 200.
func (p *Proc) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get("http://" + p.Admin + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before it was ready (%v): %s", p.name, p.err, lastLines(p.Output(), 5))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s was not ready within %s (last: %v)", p.name, readyTimeout, err)
		}
	}
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits for the process to exit, killing it if it
// takes longer than stopTimeout. It returns the exit error (nil for a clean
// exit with status 0).
func (p *Proc) Stop() error {
	if !p.Exited() {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("cannot send SIGTERM: %w", err)
		}
	}
	select {
	case <-p.exited:
		return p.err
	case <-time.After(stopTimeout):
		p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("did not exit within %s of SIGTERM; killed", stopTimeout)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("cannot kill %s: %v", p.name, err)
	}
	<-p.exited
}

// Output returns what the process wrote to stdout and stderr so far.
func (p *Proc) Output() string { return p.out.String() }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// ---- query API clients ----

// get sends GET path (with query) to the query API and returns the status
// and body.
func (s *Scry) get(t testing.TB, pathAndQuery string) (int, []byte, http.Header) {
	t.Helper()
	resp, err := s.http.Get("http://" + s.Query + pathAndQuery)
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
	resp, err := s.http.Get("http://" + s.Admin + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
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
		if !maps.Equal(got, labels) {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			t.Fatalf("/metrics: %q: %v", line, err)
		}
		return v
	}
	return 0
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

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
