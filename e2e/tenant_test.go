package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/internal/auth/authtest"
	"github.com/scrytrace/scry/internal/testbin"
)

// The credentials of the tenant tests: a writer and a reader of any
// tenant (the reader also scrapes /metrics), and tokens bound to team-a.
var (
	tenantWriter = authtest.Entry{Token: "tenant-writer-9d1", Scopes: []string{"write"}}
	tenantReader = authtest.Entry{Token: "tenant-reader-4b7", Scopes: []string{"read", "admin"}}
	tenantAppA   = authtest.Entry{Token: "tenant-app-a-2c5", Tenants: []string{"team-a"}, Scopes: []string{"write"}}
	tenantViewA  = authtest.Entry{Token: "tenant-view-a-6e3", Tenants: []string{"team-a"}, Scopes: []string{"read"}}
)

// tget sends GET base+path with headers (name, value pairs) and returns
// the status and body.
func tget(t *testing.T, base, path string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := (&http.Client{Timeout: httpTimeout}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sdkExport sends one span of trace tid, named name, of service, through
// the OpenTelemetry SDK's OTLP/gRPC exporter with headers, and returns
// the export's error.
func sdkExport(t *testing.T, addr string, headers map[string]string, tid trace.TraceID, service, name string) error {
	t.Helper()
	exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithHeaders(headers), otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{SpanExporter: exp}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(rec),
		sdktrace.WithResource(sdkresource.NewSchemaless(attribute.String("service.name", service))))
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID(newSpanID()), TraceFlags: trace.FlagsSampled, Remote: true})
	_, sp := tp.Tracer("e2e/tenants").Start(trace.ContextWithRemoteSpanContext(context.Background(), parent), name)
	sp.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// WithSyncer exported on End; the exporter's error is the recorder's.
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.spans) != 1 && len(rec.errs) == 0 {
		t.Fatalf("the SDK exported %d spans, want 1", len(rec.spans))
	}
	if len(rec.errs) > 0 {
		return rec.errs[0]
	}
	return nil
}

// TestTenants runs scry with --multi-tenancy.enabled and an auth file:
// two tenants write the same trace ID with different spans through the
// OpenTelemetry SDK and each reads only its own, through every query
// API; another tenant's trace is 404; no tenant is 401, a hostile one 400
// (and no file is made for it), a token bound to team-a naming team-b 403.
func TestTenants(t *testing.T) {
	t.Parallel()
	file := authtest.Write(t, tenantWriter, tenantReader, tenantAppA, tenantViewA)
	s := startScryWith(t, scryOptions{
		Flags:         []string{"--auth-file=" + file, "--multi-tenancy.enabled"},
		Env:           []string{"SCRY_MULTI_TENANCY_HEADER=x-tenant"},
		Authorization: authtest.Bearer(tenantReader.Token),
		Tempo:         true,
	})
	writer := func(tenant string) map[string]string {
		return map[string]string{"authorization": "Bearer " + tenantWriter.Token, "x-tenant": tenant}
	}
	reader := authtest.Bearer(tenantReader.Token)

	shared := trace.TraceID(newTraceID())
	onlyA := trace.TraceID(newTraceID())
	for _, w := range []struct {
		tenant, service, span string
		tid                   trace.TraceID
	}{
		{"team-a", "svc-a", "op-of-a", shared},
		{"team-b", "svc-b", "op-of-b", shared},
		{"team-a", "svc-a", "only-a", onlyA},
	} {
		if err := sdkExport(t, s.OTLPGRPC, writer(w.tenant), w.tid, w.service, w.span); err != nil {
			t.Fatalf("export for %s: %v", w.tenant, err)
		}
	}

	for _, c := range []struct{ tenant, own, other, svc, otherSvc string }{
		{"team-a", "op-of-a", "op-of-b", "svc-a", "svc-b"},
		{"team-b", "op-of-b", "op-of-a", "svc-b", "svc-a"},
	} {
		as := []string{"Authorization", reader, "x-tenant", c.tenant}
		for _, q := range []struct{ base, path string }{
			{s.Query, "/api/traces/" + shared.String()},
			{s.Query, "/api/v3/traces/" + shared.String()},
			{s.Query, "/api/traces?service=" + c.svc + "&lookback=1h"},
			{s.Tempo, "/api/traces/" + shared.String()},
		} {
			code, body := tget(t, q.base, q.path, as...)
			if code != 200 || !strings.Contains(body, c.own) || strings.Contains(body, c.other) {
				t.Errorf("%s: GET %s: %d, want 200 with %s and without %s: %.300s", c.tenant, q.path, code, c.own, c.other, body)
			}
		}
		// Tempo's header, on the Tempo port.
		code, body := tget(t, s.Tempo, "/api/traces/"+shared.String(), "Authorization", reader, "X-Scope-OrgID", c.tenant)
		if code != 200 || !strings.Contains(body, c.own) || strings.Contains(body, c.other) {
			t.Errorf("%s: Tempo GET /api/traces/{id} with X-Scope-OrgID: %d %.300s", c.tenant, code, body)
		}
		code, body = tget(t, s.Query, "/api/services", as...)
		var svcs jaegerEnvelope[[]string]
		if err := json.Unmarshal([]byte(body), &svcs); code != 200 || err != nil || len(svcs.Data) != 1 || svcs.Data[0] != c.svc {
			t.Errorf("%s: /api/services: %d %s, want [%s] only", c.tenant, code, body, c.svc)
		}
		code, body = tget(t, s.Query, "/api/traces?service="+c.otherSvc+"&lookback=1h", as...)
		if code != 200 || strings.Contains(body, c.other) {
			t.Errorf("%s: search in the other tenant's service: %d %.300s, want no trace", c.tenant, code, body)
		}
	}

	t.Run("another tenant's trace is 404", func(t *testing.T) {
		as := []string{"Authorization", reader, "x-tenant", "team-b"}
		for _, q := range []struct{ base, path string }{
			{s.Query, "/api/traces/" + onlyA.String()},
			{s.Query, "/api/v3/traces/" + onlyA.String()},
			{s.Tempo, "/api/traces/" + onlyA.String()},
		} {
			if code, body := tget(t, q.base, q.path, as...); code != 404 {
				t.Errorf("team-b: GET %s of team-a's trace: %d %.200s, want 404", q.path, code, body)
			}
		}
		if code, _ := tget(t, s.Query, "/api/traces/"+onlyA.String(), "Authorization", reader, "x-tenant", "team-a"); code != 200 {
			t.Errorf("team-a reads its own trace: %d", code)
		}
	})

	t.Run("no tenant is 401", func(t *testing.T) {
		for _, base := range []string{s.Query, s.Tempo} {
			if code, body := tget(t, base, "/api/traces/"+shared.String(), "Authorization", reader); code != 401 || !strings.Contains(body, "tenant is required") {
				t.Errorf("GET on %s without a tenant: %d %q, want 401", base, code, body)
			}
		}
		err := sdkExport(t, s.OTLPGRPC, map[string]string{"authorization": "Bearer " + tenantWriter.Token}, trace.TraceID(newTraceID()), "svc-x", "x")
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("OTLP/gRPC export without a tenant: %v, want UNAUTHENTICATED", err)
		}
		for _, in := range []struct{ name, url, contentType, body string }{
			{"OTLP/HTTP", "http://" + s.OTLPHTTP + "/v1/traces", "application/json", "{}"},
			{"Jaeger HTTP", "http://" + s.JaegerHTTP + "/api/traces", "application/x-thrift", ""},
			{"Zipkin", "http://" + s.Zipkin + "/api/v2/spans", "application/json", "[]"},
		} {
			req, _ := http.NewRequest(http.MethodPost, in.url, strings.NewReader(in.body))
			req.Header.Set("Content-Type", in.contentType)
			req.Header.Set("Authorization", "Bearer "+tenantWriter.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Errorf("%s intake without a tenant: %d, want 401", in.name, resp.StatusCode)
			}
		}
		// The UI's files and the sampling strategies are not per tenant.
		if code, _ := tget(t, s.Query, "/", "Authorization", reader); code != 200 {
			t.Errorf("GET / (the UI) without a tenant: %d, want 200", code)
		}
		if code, _ := tget(t, s.JaegerHTTP, "/api/sampling?service=x", "Authorization", "Bearer "+tenantWriter.Token); code != 200 {
			t.Errorf("GET /api/sampling without a tenant: %d, want 200", code)
		}
	})

	t.Run("Zipkin intake", func(t *testing.T) {
		tid := hexID(newTraceID())
		body := fmt.Sprintf(`[{"traceId":%q,"id":%q,"name":"zipkin-b","timestamp":%d,"duration":1000,"localEndpoint":{"serviceName":"zip"}}]`,
			tid, hexID(newSpanID()), time.Now().UnixMicro())
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.Zipkin+"/api/v2/spans", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tenantWriter.Token)
		req.Header.Set("X-Scope-OrgID", "team-b")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("Zipkin POST for team-b: %d, want 202", resp.StatusCode)
		}
		if code, body := tget(t, s.Query, "/api/traces/"+tid, "Authorization", reader, "x-tenant", "team-b"); code != 200 || !strings.Contains(body, "zipkin-b") {
			t.Errorf("team-b reads its Zipkin trace: %d %.200s", code, body)
		}
		if code, _ := tget(t, s.Query, "/api/traces/"+tid, "Authorization", reader, "x-tenant", "team-a"); code != 404 {
			t.Errorf("team-a reads team-b's Zipkin trace: %d, want 404", code)
		}
	})

	t.Run("token bound to team-a", func(t *testing.T) {
		tid := trace.TraceID(newTraceID())
		err := sdkExport(t, s.OTLPGRPC, map[string]string{"authorization": "Bearer " + tenantAppA.Token, "x-tenant": "team-b"}, tid, "svc-a", "claims-b")
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("team-a's token naming team-b: %v, want PERMISSION_DENIED", err)
		}
		if code, body := tget(t, s.Query, "/api/services", "Authorization", "Bearer "+tenantViewA.Token, "X-Scope-OrgID", "team-b"); code != 403 {
			t.Errorf("team-a's read token reading team-b: %d %q, want 403", code, body)
		}
		// Without a header its own tenant is used.
		if err := sdkExport(t, s.OTLPGRPC, map[string]string{"authorization": "Bearer " + tenantAppA.Token}, tid, "svc-a", "bound-a"); err != nil {
			t.Fatalf("team-a's token without a header: %v", err)
		}
		if code, body := tget(t, s.Query, "/api/traces/"+tid.String(), "Authorization", "Bearer "+tenantViewA.Token); code != 200 || !strings.Contains(body, "bound-a") || strings.Contains(body, "claims-b") {
			t.Errorf("team-a's read token, no header, reads what team-a's write token wrote: %d %.300s", code, body)
		}
		if code, _ := tget(t, s.Query, "/api/traces/"+tid.String(), "Authorization", reader, "x-tenant", "team-b"); code != 404 {
			t.Errorf("team-b reads what team-a's token wrote: %d, want 404", code)
		}
	})

	t.Run("hostile tenant names", func(t *testing.T) {
		before := listFiles(t, s.DataDir)
		body, _ := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
			resourceSpans("hostile", nil, span(newTraceID(), newSpanID(), nil, "x", tracepb.Span_SPAN_KIND_SERVER, time.Now(), time.Millisecond)),
		}})
		hostile := []string{"../x", "a/b", "..", strings.Repeat("t", 200), "a\tb", ""}
		for _, name := range hostile {
			req, _ := http.NewRequest(http.MethodPost, "http://"+s.OTLPHTTP+"/v1/traces", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/x-protobuf")
			req.Header.Set("Authorization", "Bearer "+tenantWriter.Token)
			req.Header.Set("x-tenant", name)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || !strings.Contains(string(msg), "invalid tenant") {
				t.Errorf("OTLP/HTTP with x-tenant %q: %d %q, want 400", name, resp.StatusCode, msg)
			}
		}
		// A control character other than tab, which Go's client will not
		// send: written by hand.
		conn, err := net.Dial("tcp", s.Query)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET /api/services HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nx-tenant: a\x01b\r\nConnection: close\r\n\r\n", reader)
		line, _ := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if !strings.Contains(line, " 400 ") {
			t.Errorf("x-tenant with \\x01: %q, want 400", line)
		}
		c, err := grpc.NewClient(s.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, name := range []string{"../x", "a/b", strings.Repeat("g", 151)} {
			ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tenantWriter.Token, "x-tenant", name)
			_, err := coltracepb.NewTraceServiceClient(c).Export(ctx, &coltracepb.ExportTraceServiceRequest{})
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("OTLP/gRPC with x-tenant %q: %v, want INVALID_ARGUMENT", name, err)
			}
		}
		// Two headers naming different tenants.
		if code, _ := tget(t, s.Query, "/api/services", "Authorization", reader, "x-tenant", "team-a", "X-Scope-OrgID", "team-b"); code != 400 {
			t.Errorf("x-tenant and X-Scope-OrgID differing: %d, want 400", code)
		}
		for f := range listFiles(t, s.DataDir) {
			if !before[f] && (strings.Contains(f, "x") || strings.Contains(f, "ttt") || strings.Contains(f, "a/b")) {
				t.Errorf("a file named after a hostile tenant: %s", f)
			}
		}
		if _, err := os.Stat(filepath.Join(s.DataDir, "..", "x")); !os.IsNotExist(err) {
			t.Errorf("../x beside the data folder: %v", err)
		}
		if got := s.metric(t, "scry_tenant_refusals_total", map[string]string{"listener": "otlp-http", "reason": "malformed"}); got != float64(len(hostile)) {
			t.Errorf("malformed refusals on otlp-http: %v, want %d", got, len(hostile))
		}
	})
}

// listFiles returns the paths under dir, relative to it.
func listFiles(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			rel, _ := filepath.Rel(dir, p)
			out[rel] = true
		}
		return nil
	})
	return out
}

// TestTenantsSplit runs two tenants through scry-collector and
// scry-query, both with --multi-tenancy.enabled: the tenant travels from
// the query API over the storage API to the collector's store.
func TestTenantsSplit(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t, "./cmd/scry-collector")
	dir := t.TempDir()
	col := testbin.WithFreePorts(t, 3, func(a []string) (*collectorProc, error) {
		p, err := testbin.Start(t, bin, []string{"--data-dir=" + dir, "--otlp-grpc-addr=" + a[0], "--otlp-http-addr=",
			"--jaeger-http-addr=", "--zipkin-addr=", "--udp-compact-addr=", "--udp-binary-addr=",
			"--storage-addr=" + a[1], "--admin-addr=" + a[2], "--multi-tenancy.enabled"}, nil, a[2])
		if err != nil {
			return nil, err
		}
		return &collectorProc{Proc: p, OTLPGRPC: a[0], Storage: a[1]}, nil
	})
	qbin := buildBinary(t, "./cmd/scry-query")
	q := testbin.WithFreePorts(t, 2, func(a []string) (*Scry, error) {
		p, err := testbin.Start(t, qbin, []string{"--storage=" + col.Storage, "--http-addr=" + a[0], "--admin-addr=" + a[1]},
			[]string{"SCRY_MULTI_TENANCY_ENABLED=true"}, a[1])
		if err != nil {
			return nil, err
		}
		return &Scry{Proc: p, Query: a[0], http: &http.Client{Timeout: httpTimeout}}, nil
	})

	tid := trace.TraceID(newTraceID())
	for _, w := range []struct{ tenant, span string }{{"team-a", "split-a"}, {"team-b", "split-b"}} {
		if err := sdkExport(t, col.OTLPGRPC, map[string]string{"x-tenant": w.tenant}, tid, "svc", w.span); err != nil {
			t.Fatalf("export for %s: %v", w.tenant, err)
		}
	}
	for _, c := range []struct{ tenant, own, other string }{{"team-a", "split-a", "split-b"}, {"team-b", "split-b", "split-a"}} {
		code, body := tget(t, q.Query, "/api/traces/"+tid.String(), "x-tenant", c.tenant)
		if code != 200 || !strings.Contains(body, c.own) || strings.Contains(body, c.other) {
			t.Errorf("%s through scry-query: %d %.300s, want only %s", c.tenant, code, body, c.own)
		}
	}
	if code, _ := tget(t, q.Query, "/api/traces/"+tid.String(), "x-tenant", "team-c"); code != 404 {
		t.Errorf("team-c through scry-query: %d, want 404", code)
	}
	if code, _ := tget(t, q.Query, "/api/traces/"+tid.String()); code != 401 {
		t.Errorf("no tenant through scry-query: %d, want 401", code)
	}
}

// TestTenantsSplitAuth: with an auth file, a collector believes the
// tenant scry-query relays only when scry-query's storage token may use
// it: a token of any tenant reads both tenants, one bound to team-a reads
// team-a's and is refused team-b's.
func TestTenantsSplitAuth(t *testing.T) {
	t.Parallel()
	appA := authtest.Entry{Token: "split-app-a-11", Tenants: []string{"team-a"}, Scopes: []string{"write"}}
	appB := authtest.Entry{Token: "split-app-b-22", Tenants: []string{"team-b"}, Scopes: []string{"write"}}
	storeAny := authtest.Entry{Token: "split-store-any-33", Scopes: []string{"read"}}
	storeA := authtest.Entry{Token: "split-store-a-44", Tenants: []string{"team-a"}, Scopes: []string{"read"}}
	file := authtest.Write(t, appA, appB, storeAny, storeA, authScraper)
	col := startAuthCollector(t, file, "--multi-tenancy.enabled")

	tid := trace.TraceID(newTraceID())
	// The apps' tokens are bound to one tenant each: no header needed.
	for _, w := range []struct{ token, span string }{{appA.Token, "auth-split-a"}, {appB.Token, "auth-split-b"}} {
		if err := sdkExport(t, col.OTLPGRPC, map[string]string{"authorization": "Bearer " + w.token}, tid, "svc", w.span); err != nil {
			t.Fatalf("export: %v", err)
		}
	}
	tokenFile := func(tok string) string {
		p := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	qAny := startAuthQuery(t, col.Storage, "--storage-auth-token-file="+tokenFile(storeAny.Token), "--multi-tenancy.enabled")
	qA := startAuthQuery(t, col.Storage, "--storage-auth-token-file="+tokenFile(storeA.Token), "--multi-tenancy.enabled")
	for _, c := range []struct{ tenant, own, other string }{{"team-a", "auth-split-a", "auth-split-b"}, {"team-b", "auth-split-b", "auth-split-a"}} {
		code, body := tget(t, qAny.Query, "/api/traces/"+tid.String(), "x-tenant", c.tenant)
		if code != 200 || !strings.Contains(body, c.own) || strings.Contains(body, c.other) {
			t.Errorf("%s through scry-query with a token of any tenant: %d %.300s, want only %s", c.tenant, code, body, c.own)
		}
	}
	if code, body := tget(t, qA.Query, "/api/traces/"+tid.String(), "x-tenant", "team-a"); code != 200 || !strings.Contains(body, "auth-split-a") || strings.Contains(body, "auth-split-b") {
		t.Errorf("team-a through scry-query with a team-a token: %d %.300s", code, body)
	}
	if code, body := tget(t, qA.Query, "/api/traces/"+tid.String(), "x-tenant", "team-b"); code == 200 || strings.Contains(body, "auth-split-b") {
		t.Errorf("team-b through scry-query with a team-a token: %d %.300s, want refused", code, body)
	}
	if v := col.metricValue(t, "scry_tenant_refusals_total", map[string]string{"listener": "storage", "reason": "forbidden"}); v < 1 {
		t.Errorf("the relayed team-b is not counted as forbidden on the storage listener: %v", v)
	}
}
