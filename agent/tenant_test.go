package agent

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/collector/otlpgrpc"
	"github.com/scrytrace/scry/internal/auth/authtest"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/internal/tlsconf"
	"github.com/scrytrace/scry/model"
)

// tenantCollector is a real OTLP/gRPC receiver standing in for a
// collector: it records, for each export, the tenant metadata it came with
// (header, x-tenant by default) and its spans.
type tenantCollector struct {
	Addr   string
	header string

	mu      sync.Mutex
	exports []tenantExport
}

type tenantExport struct {
	tenants []string // the x-tenant values, none without the header
	spans   []model.SpanID
}

func (c *tenantCollector) ConsumeSpans(ctx context.Context, spans []*model.Span, _ int) error {
	md, _ := metadata.FromIncomingContext(ctx)
	e := tenantExport{tenants: md.Get(c.header)}
	for _, s := range spans {
		e.spans = append(e.spans, s.SpanID)
	}
	c.mu.Lock()
	c.exports = append(c.exports, e)
	c.mu.Unlock()
	return nil
}

func startTenantCollector(t testing.TB, addr string) *tenantCollector {
	return startTenantCollectorWith(t, addr, DefaultTenantHeader)
}

func startTenantCollectorWith(t testing.TB, addr, header string) *tenantCollector {
	t.Helper()
	c := &tenantCollector{header: header}
	cfg := otlpgrpc.DefaultConfig()
	cfg.Addr = addr
	m, err := collector.NewMetrics(prometheus.NewRegistry(), "scry_receiver", "committed")
	if err != nil {
		t.Fatal(err)
	}
	r, err := otlpgrpc.New(cfg, c, m, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	testkit.Poll(5*time.Second, func() bool { err = r.Start(context.Background()); return err == nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	c.Addr = r.Addr().String()
	return c
}

// noTenant names spans forwarded without the tenant header.
const noTenant = "(none)"

// byTenant returns the tenant each span was forwarded with, failing the
// test if an export carried more than one tenant value.
func (c *tenantCollector) byTenant(t testing.TB) map[model.SpanID]string {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	got := map[model.SpanID]string{}
	for _, e := range c.exports {
		tenant := noTenant
		switch len(e.tenants) {
		case 0:
		case 1:
			tenant = e.tenants[0]
		default:
			t.Fatalf("an export came with x-tenant %q: a batch must be of one tenant, sent once", e.tenants)
		}
		for _, id := range e.spans {
			got[id] = tenant
		}
	}
	return got
}

// arrivedIn waits until every span in want arrived, then checks each
// arrived in its tenant.
func (c *tenantCollector) arrivedIn(t testing.TB, want map[string][]sentSpan) {
	t.Helper()
	n := 0
	for _, s := range want {
		n += len(s)
	}
	testkit.Eventually(t, "every span at the collector", func() bool {
		got := c.byTenant(t)
		for _, spans := range want {
			for _, s := range spans {
				if _, ok := got[s.span]; !ok {
					return false
				}
			}
		}
		return true
	})
	got := c.byTenant(t)
	for tenant, spans := range want {
		for _, s := range spans {
			if got[s.span] != tenant {
				t.Fatalf("span %s arrived in tenant %q, want %q", s.span, got[s.span], tenant)
			}
		}
	}
}

// postOTLP sends an OTLP/HTTP export with the headers given and returns
// the status code.
func postOTLP(t testing.TB, a *Agent, body []byte, headers ...string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+a.Addrs().OTLPHTTP.String()+"/v1/traces", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// exportWith sends an OTLP/gRPC export with the metadata kv (key, value,
// ...).
func exportWith(t testing.TB, a *Agent, req *coltracepb.ExportTraceServiceRequest, kv ...string) error {
	t.Helper()
	ctx := metadata.AppendToOutgoingContext(context.Background(), kv...)
	_, err := otlpClient(t, a.Addrs().OTLPGRPC).Export(ctx, req)
	return err
}

func TestTenantsAreForwardedApart(t *testing.T) {
	col := startTenantCollector(t, "127.0.0.1:0")
	cfg := testConfig(col.Addr)
	cfg.Tenant = "team-u"
	cfg.BatchSpans = 50
	a := startAgent(t, cfg)
	want := map[string][]sentSpan{}

	// Exports of three tenants and of none, interleaved and at once: each
	// batch still holds one tenant's spans.
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range 4 {
		for _, tenant := range []string{"team-a", "team-b", ""} {
			wg.Go(func() {
				req, sent := otlpRequest("svc", 30+i)
				var err error
				if tenant == "" {
					err = exportWith(t, a, req)
				} else {
					err = exportWith(t, a, req, "x-tenant", tenant)
				}
				if err != nil {
					t.Error(err)
					return
				}
				if tenant == "" {
					tenant = "team-u" // --tenant: the export named none
				}
				mu.Lock()
				want[tenant] = append(want[tenant], sent...)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	// Tempo's header over OTLP/HTTP.
	req, sent := otlpRequest("http", 20)
	body, _ := proto.Marshal(req)
	if code := postOTLP(t, a, body, "X-Scope-OrgID", "team-c"); code != http.StatusOK {
		t.Fatalf("OTLP/HTTP export with X-Scope-OrgID: %d", code)
	}
	want["team-c"] = sent
	// The collectors' header over OTLP/HTTP, in another case.
	req, sent = otlpRequest("http", 20)
	body, _ = proto.Marshal(req)
	if code := postOTLP(t, a, body, "X-Tenant", "team-a"); code != http.StatusOK {
		t.Fatalf("OTLP/HTTP export with X-Tenant: %d", code)
	}
	want["team-a"] = append(want["team-a"], sent...)
	// UDP spans are --tenant's.
	for _, compact := range []bool{true, false} {
		batch, sent := jaegerBatch("udp", 5)
		addr := a.Addrs().UDPBinary
		if compact {
			addr = a.Addrs().UDPCompact
		}
		if _, err := udpSender(t, addr).Write(emitBatchPacket(t, batch, compact)); err != nil {
			t.Fatal(err)
		}
		want["team-u"] = append(want["team-u"], sent...)
	}
	col.arrivedIn(t, want)
}

func TestNoTenantSendsNoHeader(t *testing.T) {
	col := startTenantCollector(t, "127.0.0.1:0")
	a := startAgent(t, testConfig(col.Addr)) // no --tenant
	req, viaGRPC := otlpRequest("svc", 10)
	if err := exportWith(t, a, req); err != nil {
		t.Fatal(err)
	}
	batch, viaUDP := jaegerBatch("udp", 3)
	if _, err := udpSender(t, a.Addrs().UDPCompact).Write(emitBatchPacket(t, batch, true)); err != nil {
		t.Fatal(err)
	}
	req, named := otlpRequest("svc", 10)
	if err := exportWith(t, a, req, "x-scope-orgid", "team-a"); err != nil {
		t.Fatal(err)
	}
	col.arrivedIn(t, map[string][]sentSpan{noTenant: append(viaGRPC, viaUDP...), "team-a": named})
}

func TestTenantHeaderIsConfigurable(t *testing.T) {
	col := startTenantCollectorWith(t, "127.0.0.1:0", "x-org") // a collector with --multi-tenancy.header=x-org
	cfg := testConfig(col.Addr)
	cfg.TenantHeader = "X-Org"
	a := startAgent(t, cfg)
	req, viaHeader := otlpRequest("svc", 10)
	if err := exportWith(t, a, req, "x-org", "team-a"); err != nil {
		t.Fatal(err)
	}
	req, viaOrgID := otlpRequest("svc", 10)
	if err := exportWith(t, a, req, "x-scope-orgid", "team-b"); err != nil {
		t.Fatal(err)
	}
	req, viaOther := otlpRequest("svc", 10)
	if err := exportWith(t, a, req, "x-tenant", "team-c"); err != nil { // not the header now: no tenant
		t.Fatal(err)
	}
	col.arrivedIn(t, map[string][]sentSpan{"team-a": viaHeader, "team-b": viaOrgID, noTenant: viaOther})
}

func TestMalformedTenantHeaderIsRefused(t *testing.T) {
	col := startTenantCollector(t, "127.0.0.1:0")
	a := startAgent(t, testConfig(col.Addr))
	for _, tc := range []struct {
		name string
		kv   []string
	}{
		{"dot dot", []string{"x-tenant", ".."}},
		{"slash", []string{"x-tenant", "team/a"}},
		{"empty", []string{"x-tenant", ""}},
		{"too long", []string{"x-tenant", strings.Repeat("a", 151)}},
		{"two different", []string{"x-tenant", "team-a", "x-scope-orgid", "team-b"}},
		{"two different of one header", []string{"x-tenant", "team-a", "x-tenant", "team-b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := otlpRequest("svc", 5)
			err := exportWith(t, a, req, tc.kv...)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "tenant") {
				t.Fatalf("OTLP/gRPC export: %v, want INVALID_ARGUMENT naming the tenant", err)
			}
			body, _ := proto.Marshal(req)
			var hdr []string
			for i := 0; i < len(tc.kv); i += 2 {
				hdr = append(hdr, tc.kv[i], tc.kv[i+1])
			}
			if tc.name == "empty" {
				return // an empty HTTP header value is no header to Go's client
			}
			if code := postOTLP(t, a, body, hdr...); code != http.StatusBadRequest {
				t.Fatalf("OTLP/HTTP export: %d, want 400", code)
			}
		})
	}
	// The same header, twice with one value, is one tenant.
	req, sent := otlpRequest("svc", 5)
	if err := exportWith(t, a, req, "x-tenant", "team-a", "x-scope-orgid", "team-a"); err != nil {
		t.Fatal(err)
	}
	col.arrivedIn(t, map[string][]sentSpan{"team-a": sent})
	col.mu.Lock()
	n := len(col.exports)
	col.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d exports reached the collector, want only the good one", n)
	}
	if st := a.buf.stats(); st.Queued != 0 {
		t.Fatalf("%d spans left waiting", st.Queued)
	}
}

func TestSpoolKeepsTenantsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	away := startTenantCollector(t, "127.0.0.1:0")
	addr := away.Addr
	cfg := testConfig(addr)
	cfg.SpoolDir = dir
	cfg.Tenant = "team-u"
	// A record of an agent before tenants: a version 1 segment.
	v1req, v1sent := otlpRequest("v1", 7)
	writeV1Segment(t, dir, v1req.GetResourceSpans())

	// The collector is away while the agent takes spans.
	cfg.Collectors = []string{"127.0.0.1:1"}
	a := startAgent(t, cfg)
	want := map[string][]sentSpan{}
	for _, tenant := range []string{"team-a", "team-b", "team-a"} {
		req, sent := otlpRequest("spooled", 20)
		if err := exportWith(t, a, req, "x-tenant", tenant); err != nil {
			t.Fatal(err)
		}
		want[tenant] = append(want[tenant], sent...)
	}
	batch, udpSent := jaegerBatch("udp-spooled", 4) // spooled at shutdown
	if _, err := udpSender(t, a.Addrs().UDPCompact).Write(emitBatchPacket(t, batch, true)); err != nil {
		t.Fatal(err)
	}
	want["team-u"] = udpSent
	testkit.Eventually(t, "every span in the buffer", func() bool { return a.buf.stats().Spans == 60+4+7 })
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a spool: %v", err)
	}

	// Restarted towards the collector: every span arrives in its tenant,
	// the version 1 record's without one.
	cfg.Collectors = []string{addr}
	cfg.Tenant = "team-other" // the spool's tenants, not today's --tenant
	startAgent(t, cfg)
	want[noTenant] = v1sent
	away.arrivedIn(t, want)
}

// writeV1Segment writes spans as a version 1 spool segment (SPOOL.md).
func writeV1Segment(t testing.TB, dir string, rs []*tracepb.ResourceSpans) {
	t.Helper()
	writeSegment(t, dir, "0000000000000001.seg", "SCRYSPL1", nil, rs)
}

// writeSegment writes spans as one record of a spool segment with magic,
// the record's body starting with prefix (a version 2 record's tenant).
func writeSegment(t testing.TB, dir, name, magic string, prefix []byte, rs []*tracepb.ResourceSpans) {
	t.Helper()
	p, err := proto.Marshal(&tracepb.TracesData{ResourceSpans: rs})
	if err != nil {
		t.Fatal(err)
	}
	p = append(prefix, p...)
	b := []byte(magic)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(p, crc32.MakeTable(crc32.Castagnoli)))
	b = append(b, p...)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestSpoolRecordOfInvalidTenantIsDropped(t *testing.T) {
	dir := t.TempDir()
	bad, badSent := otlpRequest("bad", 6)
	writeSegment(t, dir, "0000000000000001.seg", "SCRYSPL2", append([]byte{4}, "../x"...), bad.GetResourceSpans())
	good, goodSent := otlpRequest("good", 3)
	writeSegment(t, dir, "0000000000000002.seg", "SCRYSPL2", append([]byte{6}, "team-a"...), good.GetResourceSpans())
	col := startTenantCollector(t, "127.0.0.1:0")
	cfg := testConfig(col.Addr)
	cfg.SpoolDir = dir
	a := startAgent(t, cfg)
	col.arrivedIn(t, map[string][]sentSpan{"team-a": goodSent})
	testkit.Eventually(t, "the bad record's spans counted dropped", func() bool {
		return counter(a.m.dropped.WithLabelValues(dropSpoolBad)) == float64(len(badSent))
	})
	for id := range col.byTenant(t) {
		for _, s := range badSent {
			if s.span == id {
				t.Fatalf("span %s of a record naming an invalid tenant was forwarded", id)
			}
		}
	}
	testkit.Eventually(t, "the spool emptied", func() bool {
		segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
		return len(segs) == 0
	})
}

func TestConfigValidateTenant(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Collectors = []string{"c:4317"}
	for _, tenant := range []string{"team-a", "A.b_c(1)", strings.Repeat("x", 150)} {
		cfg.Tenant = tenant
		if err := cfg.Validate(); err != nil {
			t.Errorf("tenant %q: %v", tenant, err)
		}
	}
	for _, tenant := range []string{"..", "a/b", "a b", "é", strings.Repeat("x", 151), "a\n"} {
		cfg.Tenant = tenant
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "invalid tenant name") {
			t.Errorf("tenant %q: %v, want it refused", tenant, err)
		}
	}
	cfg.Tenant = ""
	for _, h := range []string{"", "x tenant", "grpc-tenant", "x-tenant-bin", "x:y"} {
		cfg.TenantHeader = h
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "tenant header") {
			t.Errorf("tenant header %q: %v, want it refused", h, err)
		}
	}
	cfg.TenantHeader = "X-Scope-OrgID"
	if err := cfg.Validate(); err != nil {
		t.Errorf("tenant header X-Scope-OrgID: %v", err)
	}
}

func TestCredentialBoundToTenantsDecides(t *testing.T) {
	col := startTenantCollector(t, "127.0.0.1:0")
	cfg := testConfig(col.Addr)
	cfg.Tenant = "team-u"
	sf := tlsconf.NewServerFlags(tlsconf.OTLPGRPC, tlsconf.OTLPHTTP, tlsconf.Sampling)
	sf.Auth.File = authtest.Write(t,
		authtest.Entry{Token: "tok-a", Tenants: []string{"team-a"}, Scopes: []string{"write"}},
		authtest.Entry{Token: "tok-ab", Tenants: []string{"team-a", "team-b"}, Scopes: []string{"write"}},
		authtest.Entry{Token: "tok-any", Scopes: []string{"write"}},
	)
	srv, err := sf.Build(telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ListenTLS = srv
	a := startAgent(t, cfg)
	want := map[string][]sentSpan{}
	for _, tc := range []struct {
		token, header string
		tenant        string // "" : refused as not the credential's
	}{
		{"tok-a", "", "team-a"},        // its one tenant, not --tenant
		{"tok-a", "team-a", "team-a"},  // its own, named
		{"tok-a", "team-b", ""},        // another: refused, not believed
		{"tok-ab", "team-b", "team-b"}, // one of its own
		{"tok-ab", "", ""},             // which of them? --tenant is not one
		{"tok-any", "", "team-u"},      // any tenant: --tenant
		{"tok-any", "team-c", "team-c"},
	} {
		name := fmt.Sprintf("%s %q", tc.token, tc.header)
		kv := []string{"authorization", "Bearer " + tc.token}
		hdr := slices.Clone(kv)
		if tc.header != "" {
			kv = append(kv, "x-tenant", tc.header)
			hdr = append(hdr, "X-Tenant", tc.header)
		}
		req, sent := otlpRequest("svc", 3)
		err := exportWith(t, a, req, kv...)
		req2, sent2 := otlpRequest("svc", 3)
		body, _ := proto.Marshal(req2)
		code := postOTLP(t, a, body, hdr...)
		if tc.tenant == "" {
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "tenant") {
				t.Errorf("%s over gRPC: %v, want INVALID_ARGUMENT naming the tenant", name, err)
			}
			if code != http.StatusForbidden {
				t.Errorf("%s over HTTP: %d, want 403", name, code)
			}
			continue
		}
		if err != nil || code != http.StatusOK {
			t.Errorf("%s: gRPC %v, HTTP %d; want both taken", name, err, code)
			continue
		}
		want[tc.tenant] = append(want[tc.tenant], append(sent, sent2...)...)
	}
	col.arrivedIn(t, want)
}
